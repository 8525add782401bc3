//! Authorization codes: stored as SHA-256 only, exchanged once.
//!
//! The exchange is one conditional UPDATE (`… WHERE used_at IS NULL`), so of two clients
//! racing with one code exactly one wins. The winner records what it issued on the row, so a
//! later replay can revoke exactly that (RFC 6749 §4.1.2).

use diesel::prelude::*;

use super::refresh_tokens;
use super::schema::authorization_codes;
use super::{DbConnection, StorageError};
use crate::domain::secret::SecretHash;

/// A code as issued at the authorization endpoint.
#[derive(Debug, Clone)]
pub struct NewCode<'a> {
    pub hash: &'a SecretHash,
    pub client_id: &'a str,
    pub user_id: &'a str,
    pub redirect_uri: &'a str,
    pub scope: &'a str,
    pub pkce: Option<&'a str>,
    pub now: i64,
    pub expires_at: i64,
    /// The pending authorization it answers; unique, so each issues one code.
    pub request_id: Option<&'a str>,
}

/// Stores a code. `false` when its request already issued one.
pub fn insert(conn: &mut DbConnection, code: &NewCode<'_>) -> Result<bool, StorageError> {
    use diesel::result::{DatabaseErrorKind, Error};
    let inserted = diesel::insert_into(authorization_codes::table)
        .values((
            authorization_codes::code_hash.eq(code.hash.as_bytes().to_vec()),
            authorization_codes::client_id.eq(code.client_id),
            authorization_codes::user_id.eq(code.user_id),
            authorization_codes::redirect_uri.eq(code.redirect_uri),
            authorization_codes::scope.eq(code.scope),
            authorization_codes::pkce.eq(code.pkce),
            authorization_codes::created_at.eq(code.now),
            authorization_codes::expires_at.eq(code.expires_at),
            authorization_codes::request_id.eq(code.request_id),
        ))
        .execute(conn);
    match inserted {
        Ok(_) => Ok(true),
        Err(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _))
            if code.request_id.is_some() =>
        {
            Ok(false)
        }
        Err(e) => Err(e.into()),
    }
}

/// The grant a code stands for.
#[derive(Debug, Clone, Queryable)]
pub struct StoredCode {
    pub client_id: String,
    pub user_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub pkce: Option<String>,
    pub expires_at: i64,
}

/// What became of a presented code.
#[derive(Debug)]
pub enum Exchange {
    /// This exchange won the code.
    Won(StoredCode),
    /// The code was exchanged before; whatever that exchange issued is now revoked.
    Replayed {
        user_id: String,
    },
    /// Past its expiry.
    Expired,
    Unknown,
}

/// Starts an exchange's transaction with a write to the code's row, before anything is
/// read. A deferred SQLite transaction that reads first cannot later upgrade to a writer once
/// another writer has committed (`database is locked`, no waiting); writing first takes the
/// write lock up front, and the busy timeout queues concurrent exchanges instead. On
/// PostgreSQL it row-locks the code, so a replay waits for the exchange it races.
pub fn lock_for_exchange(conn: &mut DbConnection, hash: &SecretHash) -> Result<(), StorageError> {
    diesel::update(authorization_codes::table.find(hash.as_bytes().to_vec()))
        .set(authorization_codes::used_at.eq(authorization_codes::used_at))
        .execute(conn)?;
    Ok(())
}

/// Claims the code for one exchange by `client_id`. Call inside the transaction that issues
/// the tokens, and record them with [`record_issued`] before it commits. Another client's code
/// is `Unknown` to this one and stays unused.
pub fn exchange(
    conn: &mut DbConnection,
    hash: &SecretHash,
    client_id: &str,
    now: i64,
) -> Result<Exchange, StorageError> {
    let key = hash.as_bytes().to_vec();
    // The write comes first, so SQLite takes its write lock before anything is read.
    let won = diesel::update(
        authorization_codes::table
            .find(&key)
            .filter(authorization_codes::client_id.eq(client_id))
            .filter(authorization_codes::used_at.is_null())
            .filter(authorization_codes::expires_at.gt(now)),
    )
    .set(authorization_codes::used_at.eq(now))
    .execute(conn)?
        == 1;
    let row: Option<(StoredCode, Option<i64>)> = authorization_codes::table
        .find(&key)
        .select((
            (
                authorization_codes::client_id,
                authorization_codes::user_id,
                authorization_codes::redirect_uri,
                authorization_codes::scope,
                authorization_codes::pkce,
                authorization_codes::expires_at,
            ),
            authorization_codes::used_at,
        ))
        .first(conn)
        .optional()?;
    Ok(match row {
        Some((code, _)) if code.client_id != client_id => Exchange::Unknown,
        None => Exchange::Unknown,
        Some((code, _)) if won => Exchange::Won(code),
        Some((code, Some(_))) => {
            revoke_issued(conn, &key, now)?;
            Exchange::Replayed {
                user_id: code.user_id,
            }
        }
        Some((_, None)) => Exchange::Expired,
    })
}

/// Notes on the code's row what its exchange issued.
pub fn record_issued(
    conn: &mut DbConnection,
    hash: &SecretHash,
    family_id: Option<&str>,
    access_jti: &str,
    access_expires_at: i64,
) -> Result<(), StorageError> {
    diesel::update(authorization_codes::table.find(hash.as_bytes().to_vec()))
        .set((
            authorization_codes::family_id.eq(family_id),
            authorization_codes::access_jti.eq(access_jti),
            authorization_codes::access_expires_at.eq(access_expires_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Revokes what the code's first exchange issued, once: the row forgets the access token as it
/// is revoked, so concurrent replays never insert the same `jti` twice.
fn revoke_issued(conn: &mut DbConnection, key: &[u8], now: i64) -> Result<(), StorageError> {
    let issued: Option<(Option<String>, Option<String>, Option<i64>)> = authorization_codes::table
        .find(key)
        .select((
            authorization_codes::family_id,
            authorization_codes::access_jti,
            authorization_codes::access_expires_at,
        ))
        .first(conn)
        .optional()?;
    let Some((family_id, Some(jti), Some(expires_at))) = issued else {
        return Ok(());
    };
    let claimed = diesel::update(
        authorization_codes::table
            .find(key)
            .filter(authorization_codes::access_jti.eq(&jti)),
    )
    .set(authorization_codes::access_jti.eq(None::<String>))
    .execute(conn)?
        == 1;
    if claimed {
        refresh_tokens::revoke_access_token(conn, &jti, expires_at)?;
        if let Some(family_id) = family_id {
            refresh_tokens::revoke_family(conn, &family_id, now)?;
        }
    }
    Ok(())
}
