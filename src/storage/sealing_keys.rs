//! Keys for session cookies, shared through the database so every instance reads every
//! instance's cookies.

use diesel::prelude::*;

use super::schema::sealing_keys;
use super::{DbConnection, StorageError};

#[derive(Debug, Clone, Queryable)]
pub struct StoredSealingKey {
    pub id: String,
    pub secret: Vec<u8>,
    pub created_at: i64,
}

/// Every key, newest first: the first seals new cookies, all open them.
pub fn all(conn: &mut DbConnection) -> Result<Vec<StoredSealingKey>, StorageError> {
    Ok(sealing_keys::table
        .order((sealing_keys::created_at.desc(), sealing_keys::id.desc()))
        .load(conn)?)
}

pub fn insert(
    conn: &mut DbConnection,
    id: &str,
    secret: &[u8],
    now: i64,
) -> Result<(), StorageError> {
    diesel::insert_into(sealing_keys::table)
        .values((
            sealing_keys::id.eq(id),
            sealing_keys::secret.eq(secret),
            sealing_keys::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}
