//! Authorization codes: stored as SHA-256 only, exchanged once.
//!
//! The exchange is one conditional UPDATE (`… WHERE used_at IS NULL`), so of two clients
//! racing with one code exactly one wins. The winner records what it issued on the row, so a
//! later replay can revoke exactly that (RFC 6749 §4.1.2).

use diesel::prelude::*;

use super::connection::on_backend;
use super::refresh_tokens;
use super::schema::{authorization_codes, users};
use super::{DbConnection, StorageError};
use crate::domain::secret::SecretHash;
use crate::domain::Authentication;

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
    /// The user's roles, for the access token the code buys.
    pub roles: &'a [String],
    /// The login and nonce, when `openid` was granted, for the id_token the code buys.
    pub authentication: Option<&'a Authentication>,
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
            authorization_codes::roles.eq(serde_json::to_string(code.roles).ok()),
            authorization_codes::openid.eq(code
                .authentication
                .and_then(|a| serde_json::to_string(a).ok())),
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
    /// The user's role names when it was issued (JSON); none for codes from before they were
    /// kept.
    pub roles: Option<String>,
    /// The login and nonce (JSON), when the code was granted `openid`.
    pub openid: Option<String>,
}

impl StoredCode {
    /// The role names kept with the code, if it kept them.
    pub fn roles(&self) -> Option<Vec<String>> {
        self.roles
            .as_deref()
            .and_then(|r| serde_json::from_str(r).ok())
    }

    /// The login an id_token for this code describes, if it was granted `openid`.
    pub fn authentication(&self) -> Option<Authentication> {
        self.openid
            .as_deref()
            .and_then(|a| serde_json::from_str(a).ok())
    }
}

/// What a winning exchange issues, recorded on the code's row in the statement that claims
/// it, so a replay, however soon, finds what to revoke (RFC 6749 §4.1.2).
#[derive(Debug, Clone, Copy)]
pub struct Issuing<'a> {
    pub family_id: Option<&'a str>,
    pub access_jti: &'a str,
    pub access_expires_at: i64,
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

/// Claims the code for one exchange by `client_id` and records what it `issues`, in one
/// statement (`UPDATE … RETURNING`); only when that finds nothing is the row read to say why.
/// Call first in the transaction that issues the tokens: on SQLite the write takes the write
/// lock before anything is read (a deferred transaction that read first could not upgrade
/// once another writer committed); on PostgreSQL it row-locks the code, so a replay waits
/// for the exchange it races. Another client's code is `Unknown` to this one and stays unused.
pub fn exchange(
    conn: &mut DbConnection,
    hash: &SecretHash,
    client_id: &str,
    issues: &Issuing<'_>,
    now: i64,
) -> Result<Exchange, StorageError> {
    let key = hash.as_bytes().to_vec();
    let won: Option<StoredCode> = on_backend!(conn, |conn| diesel::update(
        authorization_codes::table
            .find(&key)
            .filter(authorization_codes::client_id.eq(client_id))
            .filter(authorization_codes::used_at.is_null())
            .filter(authorization_codes::expires_at.gt(now))
            // A user disabled since the code was issued gets nothing for it.
            .filter(
                authorization_codes::user_id.eq_any(
                    users::table
                        .filter(users::disabled_at.is_null())
                        .select(users::id),
                ),
            ),
    )
    .set((
        authorization_codes::used_at.eq(now),
        authorization_codes::family_id.eq(issues.family_id),
        authorization_codes::access_jti.eq(issues.access_jti),
        authorization_codes::access_expires_at.eq(issues.access_expires_at),
    ))
    .returning((
        authorization_codes::client_id,
        authorization_codes::user_id,
        authorization_codes::redirect_uri,
        authorization_codes::scope,
        authorization_codes::pkce,
        authorization_codes::expires_at,
        authorization_codes::roles,
        authorization_codes::openid,
    ))
    .get_result(conn)
    .optional())?;
    if let Some(code) = won {
        return Ok(Exchange::Won(code));
    }
    let row: Option<(String, String, Option<i64>)> = authorization_codes::table
        .find(&key)
        .select((
            authorization_codes::client_id,
            authorization_codes::user_id,
            authorization_codes::used_at,
        ))
        .first(conn)
        .optional()?;
    Ok(match row {
        None => Exchange::Unknown,
        Some((owner, _, _)) if owner != client_id => Exchange::Unknown,
        Some((_, user_id, Some(_))) => {
            revoke_issued(conn, &key, now)?;
            Exchange::Replayed { user_id }
        }
        Some((_, _, None)) => Exchange::Expired,
    })
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

/// Throws away a user's codes not yet exchanged (with one client, or all), so a code issued
/// just before an admin acted buys nothing.
pub fn discard_unused(
    conn: &mut DbConnection,
    user_id: &str,
    client_id: Option<&str>,
) -> Result<usize, StorageError> {
    let mut codes = diesel::delete(authorization_codes::table)
        .filter(authorization_codes::user_id.eq(user_id))
        .filter(authorization_codes::used_at.is_null())
        .into_boxed();
    if let Some(client_id) = client_id {
        codes = codes.filter(authorization_codes::client_id.eq(client_id));
    }
    Ok(codes.execute(conn)?)
}
