//! TOTP credentials and recovery codes.

use diesel::prelude::*;

use super::schema::{recovery_codes, totp_credentials};
use super::{DbConnection, StorageError};
use crate::domain::secret::SecretHash;

#[derive(Debug, Clone, Queryable)]
pub struct StoredTotp {
    pub user_id: String,
    pub secret_sealed: String,
    pub created_at: i64,
    pub confirmed_at: Option<i64>,
    pub last_step: Option<i64>,
}

/// Replaces the user's TOTP credential and recovery codes, in one transaction.
pub fn replace(
    conn: &mut DbConnection,
    user_id: &str,
    secret_sealed: &str,
    confirmed_at: Option<i64>,
    recovery: &[SecretHash],
    now: i64,
) -> Result<(), StorageError> {
    conn.transaction(|conn| {
        // Deletes first: SQLite takes its write lock before any read.
        remove(conn, user_id)?;
        diesel::insert_into(totp_credentials::table)
            .values((
                totp_credentials::user_id.eq(user_id),
                totp_credentials::secret_sealed.eq(secret_sealed),
                totp_credentials::created_at.eq(now),
                totp_credentials::confirmed_at.eq(confirmed_at),
            ))
            .execute(conn)?;
        insert_recovery_codes(conn, user_id, recovery, now)
    })
}

pub fn find(conn: &mut DbConnection, user_id: &str) -> Result<Option<StoredTotp>, StorageError> {
    Ok(totp_credentials::table
        .find(user_id)
        .first(conn)
        .optional()?)
}

/// Whether the user has a confirmed second factor.
pub fn is_on(conn: &mut DbConnection, user_id: &str) -> Result<bool, StorageError> {
    Ok(find(conn, user_id)?.is_some_and(|t| t.confirmed_at.is_some()))
}

/// Which of `user_ids` have two-step verification on, in one query.
pub fn on_for(
    conn: &mut DbConnection,
    user_ids: &[&str],
) -> Result<std::collections::HashSet<String>, StorageError> {
    let on: Vec<String> = totp_credentials::table
        .filter(totp_credentials::user_id.eq_any(user_ids))
        .filter(totp_credentials::confirmed_at.is_not_null())
        .select(totp_credentials::user_id)
        .load(conn)?;
    Ok(on.into_iter().collect())
}

/// Switches a pending credential on.
pub fn confirm(conn: &mut DbConnection, user_id: &str, now: i64) -> Result<bool, StorageError> {
    Ok(diesel::update(
        totp_credentials::table
            .find(user_id)
            .filter(totp_credentials::confirmed_at.is_null()),
    )
    .set(totp_credentials::confirmed_at.eq(now))
    .execute(conn)?
        == 1)
}

/// Accepts the code of time step `step` once: only a step later than the last accepted one
/// passes, in one conditional UPDATE, so a replayed code loses even against a concurrent try.
pub fn use_step(conn: &mut DbConnection, user_id: &str, step: i64) -> Result<bool, StorageError> {
    Ok(diesel::update(
        totp_credentials::table.find(user_id).filter(
            totp_credentials::last_step
                .is_null()
                .or(totp_credentials::last_step.lt(step)),
        ),
    )
    .set(totp_credentials::last_step.eq(step))
    .execute(conn)?
        == 1)
}

/// Replaces the user's recovery codes.
pub fn replace_recovery_codes(
    conn: &mut DbConnection,
    user_id: &str,
    recovery: &[SecretHash],
    now: i64,
) -> Result<(), StorageError> {
    conn.transaction(|conn| {
        diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id)))
            .execute(conn)?;
        insert_recovery_codes(conn, user_id, recovery, now)
    })
}

fn insert_recovery_codes(
    conn: &mut DbConnection,
    user_id: &str,
    recovery: &[SecretHash],
    now: i64,
) -> Result<(), StorageError> {
    for hash in recovery {
        diesel::insert_into(recovery_codes::table)
            .values((
                recovery_codes::code_hash.eq(hash.as_bytes().to_vec()),
                recovery_codes::user_id.eq(user_id),
                recovery_codes::created_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Spends a recovery code of the user's, once.
pub fn use_recovery_code(
    conn: &mut DbConnection,
    user_id: &str,
    hash: &SecretHash,
    now: i64,
) -> Result<bool, StorageError> {
    Ok(diesel::update(
        recovery_codes::table
            .find(hash.as_bytes().to_vec())
            .filter(recovery_codes::user_id.eq(user_id))
            .filter(recovery_codes::used_at.is_null()),
    )
    .set(recovery_codes::used_at.eq(now))
    .execute(conn)?
        == 1)
}

/// Turns the second factor off: credential and recovery codes go.
pub fn remove(conn: &mut DbConnection, user_id: &str) -> Result<bool, StorageError> {
    diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id)))
        .execute(conn)?;
    Ok(diesel::delete(totp_credentials::table.find(user_id)).execute(conn)? == 1)
}
