//! Stored signing keys: every instance on the database signs with the same key at the same
//! time. A key signs from `signs_from` until `retired_at`, and is in the JWKS until
//! `publish_until`; which key signs when is `tokens::keys`'s to decide from these rows.
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
    /// When the key stops signing: set when a successor is made, to the moment the
    /// successor starts (in the future for a scheduled successor).
    pub retired_at: Option<i64>,
    /// When the key leaves the JWKS: once every token it signed has expired.
    pub publish_until: Option<i64>,
    pub wrapped_by: Option<String>,
    /// When the key starts signing; `None` means from `created_at` (see [`Self::starts`]).
    pub signs_from: Option<i64>,
}

impl StoredKey {
    /// When the key starts signing. Rows from before scheduled keys, and rows an older
    /// gatehouse writes during a rolling upgrade, sign from their creation.
    pub fn starts(&self) -> i64 {
        self.signs_from.unwrap_or(self.created_at)
    }

    /// Whether the key is the one to sign with at `now`, as far as its own row says.
    pub fn signs_at(&self, now: i64) -> bool {
        self.starts() <= now && self.retired_at.is_none_or(|until| until > now)
    }
}

/// Keys that must appear in the JWKS at `now`: the signing one, a scheduled next one, and
/// retired keys whose tokens may still be alive. Every key that may sign at `now` or later
/// is among them.
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

/// Makes `key` sign from its start, at once: every other key that would still sign at or
/// after that moment (the signing one, a scheduled next one) retires then and stays
/// published until `publish_retired_until`. One transaction, so instances racing to create
/// the first key converge on the newest.
pub fn rotate_to(
    conn: &mut DbConnection,
    key: &StoredKey,
    publish_retired_until: i64,
) -> Result<(), StorageError> {
    let at = key.starts();
    conn.transaction(|conn| {
        diesel::update(
            signing_keys::table
                .filter(
                    signing_keys::retired_at
                        .is_null()
                        .or(signing_keys::retired_at.gt(at)),
                )
                .filter(signing_keys::kid.ne(&key.kid)),
        )
        .set((
            signing_keys::retired_at.eq(at),
            signing_keys::publish_until.eq(publish_retired_until),
        ))
        .execute(conn)?;
        diesel::insert_into(signing_keys::table)
            .values(key)
            .execute(conn)?;
        Ok(())
    })
}

/// Schedules `next` to succeed the key `current`: `current` retires when `next` starts
/// and stays published until `publish_current_until`, and `next` is inserted (published at
/// once). Answers false, changing nothing, when `current` already has a successor or was
/// retired meanwhile: instances racing to schedule make exactly one next key.
///
/// The guard is the UPDATE's `retired_at IS NULL`, the transaction's first statement. On
/// PostgreSQL a second UPDATE of the row waits for the first transaction and, under READ
/// COMMITTED, re-checks the condition against the committed row, so it matches nothing; on
/// SQLite the first write takes the database's write lock before it reads, so the second
/// transaction sees the first one's row. A plain `INSERT … WHERE NOT EXISTS (a next key)`
/// would not do on PostgreSQL: two transactions each see no next key and both insert.
pub fn schedule_after(
    conn: &mut DbConnection,
    current: &str,
    next: &StoredKey,
    publish_current_until: i64,
) -> Result<bool, StorageError> {
    conn.transaction(|conn| {
        let claimed = diesel::update(
            signing_keys::table
                .filter(signing_keys::kid.eq(current))
                .filter(signing_keys::retired_at.is_null()),
        )
        .set((
            signing_keys::retired_at.eq(next.starts()),
            signing_keys::publish_until.eq(publish_current_until),
        ))
        .execute(conn)?;
        if claimed == 0 {
            return Ok(false);
        }
        diesel::insert_into(signing_keys::table)
            .values(next)
            .execute(conn)?;
        Ok(true)
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
