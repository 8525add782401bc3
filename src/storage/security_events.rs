//! The security event log: one row per thing an administrator may need to find later.

use diesel::prelude::*;
use serde::Serialize;

use super::schema::security_events;
use super::{DbConnection, StorageError};

/// What happened. The names are what `gatehouse events` shows and filters on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    LoginSucceeded,
    LoginFailed,
    RefreshTokenReuse,
    RefreshFamilyRevoked,
    AuthorizationCodeReplay,
    ClientRegistered,
    ClientDeleted,
    ClientSecretRotated,
    SigningKeyRotated,
    /// The schedule made the next signing key (published now, signing later).
    SigningKeyScheduled,
    /// A username, IP address or client id has to wait after too many failures.
    Lockout,
    TotpFailed,
    TotpEnabled,
    TotpDisabled,
    /// New recovery codes; the earlier ones stop working.
    RecoveryCodesReplaced,
    /// Every stored key re-wrapped under a new key-encryption key.
    KeysRewrapped,
    ClientUpdated,
    UserCreated,
    UserUpdated,
    UserDisabled,
    UserEnabled,
    UserDeleted,
    /// Set by an admin, or changed by the user on the account page.
    PasswordChanged,
    RoleCreated,
    RoleUpdated,
    RoleDeleted,
    RoleGranted,
    RoleRemoved,
    ConsentRevoked,
    /// Every browser session and refresh family of a user ended.
    SessionsRevoked,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::LoginSucceeded => "login_succeeded",
            EventKind::LoginFailed => "login_failed",
            EventKind::RefreshTokenReuse => "refresh_token_reuse",
            EventKind::RefreshFamilyRevoked => "refresh_family_revoked",
            EventKind::AuthorizationCodeReplay => "authorization_code_replay",
            EventKind::ClientRegistered => "client_registered",
            EventKind::ClientDeleted => "client_deleted",
            EventKind::ClientSecretRotated => "client_secret_rotated",
            EventKind::SigningKeyRotated => "signing_key_rotated",
            EventKind::SigningKeyScheduled => "signing_key_scheduled",
            EventKind::Lockout => "lockout",
            EventKind::TotpFailed => "totp_failed",
            EventKind::TotpEnabled => "totp_enabled",
            EventKind::TotpDisabled => "totp_disabled",
            EventKind::RecoveryCodesReplaced => "recovery_codes_replaced",
            EventKind::KeysRewrapped => "keys_rewrapped",
            EventKind::ClientUpdated => "client_updated",
            EventKind::UserCreated => "user_created",
            EventKind::UserUpdated => "user_updated",
            EventKind::UserDisabled => "user_disabled",
            EventKind::UserEnabled => "user_enabled",
            EventKind::UserDeleted => "user_deleted",
            EventKind::PasswordChanged => "password_changed",
            EventKind::RoleCreated => "role_created",
            EventKind::RoleUpdated => "role_updated",
            EventKind::RoleDeleted => "role_deleted",
            EventKind::RoleGranted => "role_granted",
            EventKind::RoleRemoved => "role_removed",
            EventKind::ConsentRevoked => "consent_revoked",
            EventKind::SessionsRevoked => "sessions_revoked",
        }
    }

    /// The kinds that record something refused or detected, rather than done.
    pub const DETECTIONS: [EventKind; 5] = [
        EventKind::LoginFailed,
        EventKind::RefreshTokenReuse,
        EventKind::AuthorizationCodeReplay,
        EventKind::Lockout,
        EventKind::TotpFailed,
    ];

    fn outcome(self) -> &'static str {
        if Self::DETECTIONS.contains(&self) {
            "failure"
        } else {
            "success"
        }
    }
}

/// An event to record. Every field is for people to read; none may hold a secret.
#[derive(Debug, Clone, Default)]
pub struct Event<'a> {
    pub actor: Option<&'a str>,
    pub client_id: Option<&'a str>,
    pub ip: Option<&'a str>,
    pub detail: Option<&'a str>,
}

/// The actor of admin commands.
pub const ADMIN: &str = "admin";

/// Longest text kept from what a visitor typed (a username field may hold anything).
const MAX_TYPED: usize = 64;

pub fn record(
    conn: &mut DbConnection,
    kind: EventKind,
    event: &Event<'_>,
    at: i64,
) -> Result<(), StorageError> {
    let clip = |s: &str| s.chars().take(MAX_TYPED).collect::<String>();
    diesel::insert_into(security_events::table)
        .values((
            security_events::at.eq(at),
            security_events::kind.eq(kind.as_str()),
            security_events::outcome.eq(kind.outcome()),
            security_events::actor.eq(event.actor.map(clip)),
            security_events::client_id.eq(event.client_id.map(clip)),
            security_events::ip.eq(event.ip),
            security_events::detail.eq(event.detail),
        ))
        .execute(conn)?;
    crate::metrics::Metrics::security_event(kind.as_str());
    Ok(())
}

/// Records an event where failing to record must not fail the request: the failure is logged.
pub fn record_or_log(conn: &mut DbConnection, kind: EventKind, event: &Event<'_>, at: i64) {
    // In a transaction of its own (a savepoint inside the caller's): on PostgreSQL a failed
    // insert would otherwise abort the caller's transaction, and with it what the event is
    // about (a code replay's revocations).
    let recorded = conn.transaction(|conn| record(conn, kind, event, at));
    if let Err(e) = recorded {
        tracing::error!(error = %e, kind = kind.as_str(), "could not record a security event");
    }
}

#[derive(Debug, Clone, Serialize, Queryable, utoipa::ToSchema)]
pub struct StoredEvent {
    pub id: i64,
    pub at: i64,
    pub kind: String,
    pub outcome: String,
    pub actor: Option<String>,
    pub client_id: Option<String>,
    pub ip: Option<String>,
    pub detail: Option<String>,
}

/// The newest `limit` events, oldest first: all, or those whose actor is one of `actors`, at
/// or after `since`.
pub fn list(
    conn: &mut DbConnection,
    actors: Option<&[String]>,
    since: Option<i64>,
    limit: i64,
) -> Result<Vec<StoredEvent>, StorageError> {
    if limit <= 0 {
        return Ok(Vec::new());
    }
    let mut query = security_events::table.into_boxed();
    if let Some(actors) = actors {
        query = query.filter(security_events::actor.eq_any(actors.to_vec()));
    }
    if let Some(since) = since {
        query = query.filter(security_events::at.ge(since));
    }
    let mut newest: Vec<StoredEvent> = query
        .order((security_events::at.desc(), security_events::id.desc()))
        .limit(limit)
        .load(conn)?;
    newest.reverse();
    Ok(newest)
}
