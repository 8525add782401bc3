//! Refresh-token families and their rotation.
//!
//! Rotation is one conditional UPDATE (`… WHERE used_at IS NULL`), so of N concurrent
//! exchanges of the same token exactly one wins, on SQLite and PostgreSQL alike.

use diesel::prelude::*;

use super::connection::on_backend;
use super::schema::{clients, refresh_families, refresh_tokens, revoked_access_tokens, users};
use super::{DbConnection, StorageError};
use crate::domain::secret::SecretHash;
use crate::domain::Authentication;

/// A stored refresh token with its family's state.
#[derive(Debug, Clone)]
pub struct StoredRefresh {
    pub family_id: String,
    pub user_id: String,
    pub client_id: String,
    pub scope: String,
    pub issued_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub replaced_by: Option<Vec<u8>>,
    pub family_revoked_at: Option<i64>,
    pub absolute_expires_at: i64,
    /// The login the family started with, when it was granted `openid` (JSON).
    pub openid: Option<String>,
}

impl StoredRefresh {
    /// The login an id_token of this family describes, if the family has one.
    pub fn authentication(&self) -> Option<Authentication> {
        self.openid
            .as_deref()
            .and_then(|a| serde_json::from_str(a).ok())
    }

    /// Whether this token could still be exchanged at `now`.
    pub fn is_active(&self, now: i64) -> bool {
        self.used_at.is_none()
            && self.family_revoked_at.is_none()
            && self.expires_at > now
            && self.absolute_expires_at > now
    }
}

/// The first token of a new family (a login).
pub struct NewSession<'a> {
    pub family_id: &'a str,
    pub user_id: &'a str,
    pub client_id: &'a str,
    pub scope: &'a str,
    pub token: &'a SecretHash,
    pub now: i64,
    pub idle_ttl: i64,
    pub absolute_ttl: i64,
    /// The login, when the grant included `openid` (kept without the nonce).
    pub authentication: Option<&'a Authentication>,
}

/// Inserts the family and its first token together: in the caller's transaction when there is
/// one (a code exchange), in a transaction of its own otherwise.
pub fn start_family(conn: &mut DbConnection, s: &NewSession<'_>) -> Result<(), StorageError> {
    if in_transaction(conn) {
        insert_family(conn, s)
    } else {
        conn.transaction(|conn| insert_family(conn, s))
    }
}

/// Whether `conn` is inside a transaction: a nested `transaction` would cost a savepoint and
/// its release, two more round trips.
fn in_transaction(conn: &mut DbConnection) -> bool {
    use diesel::connection::{TransactionManager, TransactionManagerStatus};
    type Manager = <DbConnection as Connection>::TransactionManager;
    match Manager::transaction_manager_status_mut(conn) {
        TransactionManagerStatus::Valid(status) => status.transaction_depth().is_some(),
        TransactionManagerStatus::InError => true,
    }
}

fn insert_family(conn: &mut DbConnection, s: &NewSession<'_>) -> Result<(), StorageError> {
    let absolute = s.now + s.absolute_ttl;
    {
        diesel::insert_into(refresh_families::table)
            .values((
                refresh_families::id.eq(s.family_id),
                refresh_families::user_id.eq(s.user_id),
                refresh_families::client_id.eq(s.client_id),
                refresh_families::created_at.eq(s.now),
                refresh_families::absolute_expires_at.eq(absolute),
                refresh_families::openid.eq(s
                    .authentication
                    .and_then(|a| serde_json::to_string(&a.without_nonce()).ok())),
            ))
            .execute(conn)?;
        insert_token(
            conn,
            s.token,
            s.family_id,
            s.user_id,
            s.client_id,
            s.scope,
            s.now,
            (s.now + s.idle_ttl).min(absolute),
        )
    }
}

#[allow(clippy::too_many_arguments)]
fn insert_token(
    conn: &mut DbConnection,
    hash: &SecretHash,
    family_id: &str,
    user_id: &str,
    client_id: &str,
    scope: &str,
    now: i64,
    expires_at: i64,
) -> Result<(), StorageError> {
    diesel::insert_into(refresh_tokens::table)
        .values((
            refresh_tokens::token_hash.eq(hash.as_bytes().to_vec()),
            refresh_tokens::family_id.eq(family_id),
            refresh_tokens::user_id.eq(user_id),
            refresh_tokens::client_id.eq(client_id),
            refresh_tokens::scope.eq(scope),
            refresh_tokens::issued_at.eq(now),
            refresh_tokens::expires_at.eq(expires_at),
        ))
        .execute(conn)?;
    Ok(())
}

type Row = (
    String,
    String,
    String,
    String,
    i64,
    i64,
    Option<i64>,
    Option<Vec<u8>>,
    Option<i64>,
    i64,
    Option<String>,
);

/// A refresh token by its hash. A token whose client was deleted, or whose user was
/// deleted or disabled, is no token (in the same query: a disable racing a refresh cannot
/// slip a new token through).
pub fn find(
    conn: &mut DbConnection,
    hash: &SecretHash,
) -> Result<Option<StoredRefresh>, StorageError> {
    let client_exists =
        diesel::dsl::exists(clients::table.filter(clients::id.eq(refresh_tokens::client_id)));
    let user_enabled = diesel::dsl::exists(
        users::table
            .filter(users::id.eq(refresh_tokens::user_id))
            .filter(users::disabled_at.is_null()),
    );
    let row: Option<Row> = refresh_tokens::table
        .inner_join(refresh_families::table)
        .filter(refresh_tokens::token_hash.eq(hash.as_bytes().to_vec()))
        .filter(client_exists)
        .filter(user_enabled)
        .select((
            refresh_tokens::family_id,
            refresh_tokens::user_id,
            refresh_tokens::client_id,
            refresh_tokens::scope,
            refresh_tokens::issued_at,
            refresh_tokens::expires_at,
            refresh_tokens::used_at,
            refresh_tokens::replaced_by,
            refresh_families::revoked_at,
            refresh_families::absolute_expires_at,
            refresh_families::openid,
        ))
        .first(conn)
        .optional()?;
    Ok(row.map(|r| StoredRefresh {
        family_id: r.0,
        user_id: r.1,
        client_id: r.2,
        scope: r.3,
        issued_at: r.4,
        expires_at: r.5,
        used_at: r.6,
        replaced_by: r.7,
        family_revoked_at: r.8,
        absolute_expires_at: r.9,
        openid: r.10,
    }))
}

/// What became of a presented refresh token.
#[derive(Debug)]
pub enum Rotation {
    /// Exchanged for `new`; the caller hands `new` to the client.
    Rotated(StoredRefresh),
    /// Already used (outside the grace window): its whole family is now revoked.
    Reused { family_id: String },
    /// Unknown, expired, revoked, or another client's.
    Invalid,
}

/// The rules of one exchange.
pub struct RotationPolicy {
    pub idle_ttl: i64,
    pub grace: i64,
}

/// Exchanges `presented` for `new`, atomically.
pub fn rotate(
    conn: &mut DbConnection,
    presented: &SecretHash,
    client_id: &str,
    new: &SecretHash,
    now: i64,
    policy: &RotationPolicy,
) -> Result<Rotation, StorageError> {
    conn.transaction(|conn| {
        // The write comes first, so SQLite takes its write lock before anything is read.
        let won = mark_used(conn, presented, client_id, new, now)?;
        let Some(token) = find(conn, presented)? else {
            return Ok(Rotation::Invalid);
        };
        let live = token.client_id == client_id
            && token.family_revoked_at.is_none()
            && token.expires_at > now
            && token.absolute_expires_at > now;
        if !live {
            return Ok(Rotation::Invalid);
        }
        if won {
            issue_successor(conn, &token, new, now, policy)?;
            return Ok(Rotation::Rotated(token));
        }
        // Presented again. Within the grace window, and if the token it was exchanged for was
        // never used, the client most likely lost our answer: exchange again.
        let within_grace =
            token.used_at.is_some_and(|used| now - used <= policy.grace) && policy.grace > 0;
        if within_grace {
            if let Some(child) = token
                .replaced_by
                .as_deref()
                .and_then(SecretHash::from_bytes)
            {
                if mark_used(conn, &child, client_id, new, now)? {
                    issue_successor(conn, &token, new, now, policy)?;
                    return Ok(Rotation::Rotated(token));
                }
            }
        }
        revoke_family(conn, &token.family_id, now)?;
        Ok(Rotation::Reused {
            family_id: token.family_id,
        })
    })
}

/// Marks an unused, unexpired token of a live family as exchanged for `new`; answers
/// whether this call was the one that did it.
fn mark_used(
    conn: &mut DbConnection,
    hash: &SecretHash,
    client_id: &str,
    new: &SecretHash,
    now: i64,
) -> Result<bool, StorageError> {
    let live_families = refresh_families::table
        .select(refresh_families::id)
        .filter(refresh_families::revoked_at.is_null())
        .filter(refresh_families::absolute_expires_at.gt(now));
    let updated = diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::token_hash.eq(hash.as_bytes().to_vec()))
            .filter(refresh_tokens::client_id.eq(client_id))
            .filter(refresh_tokens::used_at.is_null())
            .filter(refresh_tokens::expires_at.gt(now))
            .filter(refresh_tokens::family_id.eq_any(live_families)),
    )
    .set((
        refresh_tokens::used_at.eq(now),
        refresh_tokens::replaced_by.eq(new.as_bytes().to_vec()),
    ))
    .execute(conn)?;
    Ok(updated == 1)
}

/// The next token of the family: sliding expiry, capped by the family's absolute limit.
fn issue_successor(
    conn: &mut DbConnection,
    of: &StoredRefresh,
    new: &SecretHash,
    now: i64,
    policy: &RotationPolicy,
) -> Result<(), StorageError> {
    let expires_at = (now + policy.idle_ttl).min(of.absolute_expires_at);
    insert_token(
        conn,
        new,
        &of.family_id,
        &of.user_id,
        &of.client_id,
        &of.scope,
        now,
        expires_at,
    )
}

pub fn revoke_family(
    conn: &mut DbConnection,
    family_id: &str,
    now: i64,
) -> Result<(), StorageError> {
    diesel::update(
        refresh_families::table
            .find(family_id)
            .filter(refresh_families::revoked_at.is_null()),
    )
    .set(refresh_families::revoked_at.eq(now))
    .execute(conn)?;
    Ok(())
}

/// Revokes every refresh family of a client (it is being deleted), and with them the
/// access tokens they issued; answers how many were live.
pub fn revoke_client_families(
    conn: &mut DbConnection,
    client_id: &str,
    now: i64,
) -> Result<usize, StorageError> {
    Ok(diesel::update(
        refresh_families::table
            .filter(refresh_families::client_id.eq(client_id))
            .filter(refresh_families::revoked_at.is_null()),
    )
    .set(refresh_families::revoked_at.eq(now))
    .execute(conn)?)
}

/// Revokes every live refresh family of a user (disabled, deleted, signed out everywhere),
/// or only those with one client (its consent withdrawn); answers how many were live.
pub fn revoke_user_families(
    conn: &mut DbConnection,
    user_id: &str,
    client_id: Option<&str>,
    now: i64,
) -> Result<usize, StorageError> {
    let mut families = diesel::update(refresh_families::table)
        .filter(refresh_families::user_id.eq(user_id))
        .filter(refresh_families::revoked_at.is_null())
        .into_boxed();
    if let Some(client_id) = client_id {
        families = families.filter(refresh_families::client_id.eq(client_id));
    }
    Ok(families
        .set(refresh_families::revoked_at.eq(now))
        .execute(conn)?)
}

/// Records a revoked access token until it would have expired anyway. Revoking it twice,
/// even concurrently, is not an error.
pub fn revoke_access_token(
    conn: &mut DbConnection,
    jti: &str,
    expires_at: i64,
) -> Result<(), StorageError> {
    // Already revoked is fine. `ON CONFLICT DO NOTHING`, not a caught unique violation: on
    // PostgreSQL a violation inside a transaction (a code replay's revocations) aborts the
    // whole transaction, so what follows it would fail and the family would stay live.
    on_backend!(conn, |conn| diesel::insert_into(
        revoked_access_tokens::table
    )
    .values((
        revoked_access_tokens::jti.eq(jti),
        revoked_access_tokens::expires_at.eq(expires_at),
    ))
    .on_conflict_do_nothing()
    .execute(conn))?;
    Ok(())
}
