//! Keys for session cookies and TOTP secrets, shared through the database so every
//! instance reads every instance's cookies. Each is stored wrapped under the
//! key-encryption key (`tokens::kek`), never in the clear.

use diesel::prelude::*;

use super::schema::sealing_keys;
use super::{DbConnection, StorageError};

#[derive(Debug, Clone, Queryable)]
pub struct StoredSealingKey {
    pub id: String,
    /// The key wrapped by the key-encryption key `wrapped_by`; the bare key when
    /// `wrapped_by` is `None` (a row written before keys were wrapped).
    pub secret: Vec<u8>,
    pub created_at: i64,
    pub wrapped_by: Option<String>,
}

/// Every key, newest first: the first seals new cookies, all open them.
pub fn all(conn: &mut DbConnection) -> Result<Vec<StoredSealingKey>, StorageError> {
    Ok(sealing_keys::table
        .order((sealing_keys::created_at.desc(), sealing_keys::id.desc()))
        .load(conn)?)
}

/// Stores a key already wrapped by the key-encryption key `wrapped_by`.
pub fn insert(
    conn: &mut DbConnection,
    id: &str,
    wrapped: &[u8],
    wrapped_by: &str,
    now: i64,
) -> Result<(), StorageError> {
    diesel::insert_into(sealing_keys::table)
        .values((
            sealing_keys::id.eq(id),
            sealing_keys::secret.eq(wrapped),
            sealing_keys::created_at.eq(now),
            sealing_keys::wrapped_by.eq(wrapped_by),
        ))
        .execute(conn)?;
    Ok(())
}

/// Replaces the stored form of key `id`, if it is still wrapped by `was` (`None`: in the
/// clear), so two instances upgrading at once do not wrap a key twice. Answers whether
/// the row changed.
pub fn rewrap(
    conn: &mut DbConnection,
    id: &str,
    was: Option<&str>,
    wrapped: &[u8],
    wrapped_by: &str,
) -> Result<bool, StorageError> {
    let target = sealing_keys::table.filter(sealing_keys::id.eq(id));
    let set = (
        sealing_keys::secret.eq(wrapped),
        sealing_keys::wrapped_by.eq(wrapped_by),
    );
    let changed = match was {
        Some(was) => diesel::update(target.filter(sealing_keys::wrapped_by.eq(was)))
            .set(set)
            .execute(conn)?,
        None => diesel::update(target.filter(sealing_keys::wrapped_by.is_null()))
            .set(set)
            .execute(conn)?,
    };
    Ok(changed == 1)
}
