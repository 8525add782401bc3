//! Keys for session cookies, shared through the database so every instance reads every
//! instance's cookies.

use diesel::prelude::*;

use super::schema::cookie_keys;
use super::{DbConnection, StorageError};

#[derive(Debug, Clone, Queryable)]
pub struct StoredCookieKey {
    pub id: String,
    pub secret: Vec<u8>,
    pub created_at: i64,
}

/// Every key, newest first: the first seals new cookies, all open them.
pub fn all(conn: &mut DbConnection) -> Result<Vec<StoredCookieKey>, StorageError> {
    Ok(cookie_keys::table
        .order((cookie_keys::created_at.desc(), cookie_keys::id.desc()))
        .load(conn)?)
}

pub fn insert(
    conn: &mut DbConnection,
    id: &str,
    secret: &[u8],
    now: i64,
) -> Result<(), StorageError> {
    diesel::insert_into(cookie_keys::table)
        .values((
            cookie_keys::id.eq(id),
            cookie_keys::secret.eq(secret),
            cookie_keys::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}
