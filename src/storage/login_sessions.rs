//! Logged-in browser sessions. The cookie carries the id; the row makes logout final.

use diesel::prelude::*;

use super::accounts::User;
use super::schema::{login_sessions, users};
use super::{DbConnection, StorageError};

pub fn start(
    conn: &mut DbConnection,
    id: &str,
    user_id: &str,
    now: i64,
    expires_at: i64,
) -> Result<(), StorageError> {
    diesel::insert_into(login_sessions::table)
        .values((
            login_sessions::id.eq(id),
            login_sessions::user_id.eq(user_id),
            login_sessions::created_at.eq(now),
            login_sessions::expires_at.eq(expires_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// The user of a live session.
pub fn find_user(
    conn: &mut DbConnection,
    id: &str,
    now: i64,
) -> Result<Option<User>, StorageError> {
    Ok(login_sessions::table
        .inner_join(users::table)
        .filter(login_sessions::id.eq(id))
        .filter(login_sessions::expires_at.gt(now))
        .select(User::as_select())
        .first(conn)
        .optional()?)
}

pub fn end(conn: &mut DbConnection, id: &str) -> Result<(), StorageError> {
    diesel::delete(login_sessions::table.find(id)).execute(conn)?;
    Ok(())
}
