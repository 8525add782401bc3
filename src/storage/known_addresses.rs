//! The addresses each user has signed in from (`known_login_addresses`), so the per-account
//! login limit can spare them (`accounts::login_attempts`).

use diesel::prelude::*;

use super::schema::known_login_addresses as known;
use super::{DbConnection, StorageError};

/// Whether `user_id` signed in from `ip` at or after `since`.
pub fn is_known(
    conn: &mut DbConnection,
    user_id: &str,
    ip: &str,
    since: i64,
) -> Result<bool, StorageError> {
    let found: Option<i64> = known::table
        .find((user_id, ip))
        .select(known::last_login_at)
        .first(conn)
        .optional()?;
    Ok(found.is_some_and(|at| at >= since))
}

/// Remembers a successful login of `user_id` from `ip`.
pub fn remember(
    conn: &mut DbConnection,
    user_id: &str,
    ip: &str,
    now: i64,
) -> Result<(), StorageError> {
    let updated = diesel::update(known::table.find((user_id, ip)))
        .set(known::last_login_at.eq(now))
        .execute(conn)?;
    if updated > 0 {
        return Ok(());
    }
    let inserted = diesel::insert_into(known::table)
        .values((
            known::user_id.eq(user_id),
            known::ip.eq(ip),
            known::last_login_at.eq(now),
        ))
        .execute(conn)
        .map_err(StorageError::from);
    match inserted {
        // A login from the same address at the same moment remembered it first.
        Err(e) if super::accounts::is_unique_violation(&e) => Ok(()),
        other => other.map(|_| ()),
    }
}
