//! Token revocation (RFC 7009): a client ends one of its own tokens.

use super::client_auth::Presented;
use super::introspection::looks_like_jwt;
use super::issuer::Minter;
use super::request::FormRequest;
use super::{ErrorCode, OAuthError};
use crate::domain::secret::SecretHash;
use crate::storage::refresh_tokens;
use crate::storage::security_events::{self, Event, EventKind};
use crate::storage::DbConnection;
use crate::tokens::jwt;

fn not_yours() -> OAuthError {
    OAuthError::new(
        ErrorCode::UnauthorizedClient,
        "this token was not issued to this client",
    )
}

/// Runs one revocation. Synchronous: call it on the blocking pool. Unknown, expired and
/// already revoked tokens succeed quietly (RFC 7009 §2.2).
pub fn revoke(
    conn: &mut DbConnection,
    minter: &Minter,
    presented: &Presented<'_>,
    request: &FormRequest,
    now: i64,
) -> Result<(), OAuthError> {
    let client = presented.authenticate(conn, true)?;
    let token = request.required("token")?;
    if looks_like_jwt(token) {
        // A verified, unexpired token of ours; revoking one already revoked is a no-op.
        let verified = jwt::verify(
            token,
            &minter.keyring,
            conn,
            &minter.issuer,
            &minter.audience,
            now,
        )?;
        if let Some(claims) = verified {
            if claims.client_id != client.id {
                return Err(not_yours());
            }
            // Kept until the token would have expired, so introspection reports it inactive.
            refresh_tokens::revoke_access_token(conn, &claims.jti, claims.exp)?;
        }
        return Ok(());
    }
    if let Some(stored) = refresh_tokens::find(conn, &SecretHash::of(token.as_bytes()))? {
        if stored.client_id != client.id {
            return Err(not_yours());
        }
        refresh_tokens::revoke_family(conn, &stored.family_id, now)?;
        let event = Event {
            actor: Some(&stored.user_id),
            client_id: Some(&client.id),
            ip: request.ip(),
            detail: Some("revoked by the client (RFC 7009)"),
        };
        security_events::record_or_log(conn, EventKind::RefreshFamilyRevoked, &event, now);
    }
    Ok(())
}
