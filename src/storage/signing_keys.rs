//! Stored signing keys: every instance on the database signs with the same current key.
//! Private keys are stored wrapped under the key-encryption key (`tokens::kek`).

use diesel::prelude::*;

use super::schema::signing_keys;
use super::{DbConnection, StorageError};

#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = signing_keys)]
pub struct StoredKey {
    pub kid: String,
    pub algorithm: String,
    /// The PKCS#8 DER private key wrapped by the key-encryption key `wrapped_by`; the bare
    /// PKCS#8 when `wrapped_by` is `None` (a row written before keys were wrapped).
    pub private_key: Vec<u8>,
    pub public_key: Vec<u8>,
    pub created_at: i64,
    pub retired_at: Option<i64>,
    pub publish_until: Option<i64>,
    pub wrapped_by: Option<String>,
}

/// The key new tokens are signed with: the newest one not retired.
pub fn current(conn: &mut DbConnection) -> Result<Option<StoredKey>, StorageError> {
    Ok(signing_keys::table
        .filter(signing_keys::retired_at.is_null())
        .order((signing_keys::created_at.desc(), signing_keys::kid.desc()))
        .first(conn)
        .optional()?)
}

/// Keys that must appear in the JWKS at `now`: the current ones and retired keys whose
/// tokens may still be alive.
pub fn published(conn: &mut DbConnection, now: i64) -> Result<Vec<StoredKey>, StorageError> {
    Ok(signing_keys::table
        .filter(
            signing_keys::publish_until
                .is_null()
                .or(signing_keys::publish_until.gt(now)),
        )
        .order((signing_keys::created_at.desc(), signing_keys::kid.desc()))
        .load(conn)?)
}

pub fn all(conn: &mut DbConnection) -> Result<Vec<StoredKey>, StorageError> {
    Ok(signing_keys::table
        .order((signing_keys::created_at.desc(), signing_keys::kid.desc()))
        .load(conn)?)
}

/// Makes `key` the current key and retires every other active key, in one transaction, so
/// instances racing to rotate (or to create the first key) converge on the newest.
pub fn rotate_to(
    conn: &mut DbConnection,
    key: &StoredKey,
    publish_retired_until: i64,
) -> Result<(), StorageError> {
    conn.transaction(|conn| {
        diesel::update(
            signing_keys::table
                .filter(signing_keys::retired_at.is_null())
                .filter(signing_keys::kid.ne(&key.kid)),
        )
        .set((
            signing_keys::retired_at.eq(key.created_at),
            signing_keys::publish_until.eq(publish_retired_until),
        ))
        .execute(conn)?;
        diesel::insert_into(signing_keys::table)
            .values(key)
            .execute(conn)?;
        Ok(())
    })
}

/// Replaces the stored private key of `kid`, if it is still wrapped by `was` (`None`: in
/// the clear), so two instances upgrading at once do not wrap a key twice. Answers whether
/// the row changed.
pub fn rewrap(
    conn: &mut DbConnection,
    kid: &str,
    was: Option<&str>,
    wrapped: &[u8],
    wrapped_by: &str,
) -> Result<bool, StorageError> {
    let target = signing_keys::table.filter(signing_keys::kid.eq(kid));
    let set = (
        signing_keys::private_key.eq(wrapped),
        signing_keys::wrapped_by.eq(wrapped_by),
    );
    let changed = match was {
        Some(was) => diesel::update(target.filter(signing_keys::wrapped_by.eq(was)))
            .set(set)
            .execute(conn)?,
        None => diesel::update(target.filter(signing_keys::wrapped_by.is_null()))
            .set(set)
            .execute(conn)?,
    };
    Ok(changed == 1)
}
