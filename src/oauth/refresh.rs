//! The refresh-token grant (RFC 6749 §6) with rotation, sliding and absolute expiry, reuse
//! detection (RFC 9700 §4.14.2) and an optional grace window.
//!
//! oxide-auth's refresh flow recovers a grant and asks the issuer for a new token; it has no
//! place for an atomic exchange, family revocation or a grace window, so this flow stands
//! beside it, sharing client authentication and the minter.

use super::client_auth::{self, Presented};
use super::issuer::{Minter, TokenResponse, UserGrant};
use super::openid;
use super::request::FormRequest;
use super::sessions::SessionPolicy;
use super::{GrantType, OAuthError, ScopeSet};
use crate::domain::secret::{PlainSecret, SecretHash};
use crate::storage::refresh_tokens::{self, Rotation, RotationPolicy};
use crate::storage::security_events::{self, Event, EventKind};
use crate::storage::{accounts, DbConnection};

fn invalid() -> OAuthError {
    OAuthError::invalid_grant("the refresh token is invalid, expired or revoked")
}

/// Runs the grant for one request. Synchronous: call it on the blocking pool.
pub fn grant(
    conn: &mut DbConnection,
    minter: &Minter,
    policy: &SessionPolicy,
    presented: &Presented<'_>,
    request: &FormRequest,
    now: i64,
) -> Result<TokenResponse, OAuthError> {
    let client = presented.authenticate(conn, true)?;
    client_auth::require_grant(&client, GrantType::RefreshToken)?;
    let presented = SecretHash::of(request.required("refresh_token")?.as_bytes());
    let requested = request.scope()?;

    let stored = refresh_tokens::find(conn, &presented)?.ok_or_else(invalid)?;
    if stored.client_id != client.id {
        return Err(invalid());
    }
    // A refresh may narrow the scope, never widen it (RFC 6749 §6); the refresh token keeps
    // the original grant so a later refresh may ask for all of it again.
    let original = ScopeSet::parse(&stored.scope).map_err(|e| OAuthError::server_error(&e))?;
    let asked = match requested {
        Some(r) if !r.is_subset(&original) => {
            return Err(OAuthError::invalid_scope(
                "a refresh must not ask for more than the original grant",
            ))
        }
        Some(r) => r,
        None => original,
    };
    // Roles may have changed since the login, and so may the client's registration: an
    // admin who takes a scope from a client takes it from its refresh tokens too.
    let granted = asked
        .intersection(&client.scopes)
        .within_roles(&accounts::scopes_allowed_to(conn, &stored.user_id)?);
    let roles = accounts::user_role_names(conn, &stored.user_id)?;
    if granted.is_empty() {
        return Err(OAuthError::invalid_scope(
            "none of the requested scopes is allowed to this user any more",
        ));
    }

    let next = PlainSecret::generate();
    let rotation = RotationPolicy {
        idle_ttl: policy.idle_ttl,
        grace: policy.grace,
    };
    match refresh_tokens::rotate(conn, &presented, &client.id, &next.hash(), now, &rotation)? {
        Rotation::Rotated(token) => {
            let user = UserGrant {
                id: &token.user_id,
                roles: &roles,
            };
            let access =
                minter.mint_for_user(&user, &client.id, &granted, Some(&token.family_id), now)?;
            // The family's login, kept without its nonce: the same `sub` and `auth_time`.
            let login = stored.authentication();
            let id_token = openid::id_token(conn, minter, &access, login.as_ref())?;
            Ok(
                TokenResponse::bearer(access, Some(next.expose().to_owned()))
                    .with_id_token(id_token),
            )
        }
        Rotation::Reused { family_id } => {
            tracing::warn!(
                security_event = "refresh_token_reuse",
                family_id = %family_id,
                client_id = %client.id,
                "a rotated refresh token was presented again; its whole family is revoked"
            );
            let event = Event {
                actor: Some(&stored.user_id),
                client_id: Some(&client.id),
                ip: request.ip(),
                detail: Some("a rotated refresh token was presented again; its family is revoked"),
            };
            security_events::record_or_log(conn, EventKind::RefreshTokenReuse, &event, now);
            Err(invalid())
        }
        Rotation::Invalid => Err(invalid()),
    }
}
