//! Token introspection (RFC 7662): a client (usually an API) asks whether a token is active.
//!
//! Who learns what (RFC 7662 §4: the server decides which clients may introspect which
//! tokens): a client is told about the tokens issued to it, and a client registered with
//! `--introspect` (an API) about every client's tokens. To any other authenticated client
//! every token is `{"active": false}`, exactly as an unknown one, so asking reveals nothing.
//! The tokens of a deleted client are inactive.

use serde::Serialize;

use super::client_auth::Presented;
use super::issuer::Minter;
use super::request::FormRequest;
use super::OAuthError;
use crate::domain::secret::SecretHash;
use crate::storage::clients::{self, TokenRef};
use crate::storage::refresh_tokens;
use crate::storage::DbConnection;
use crate::tokens::jwt;

/// The answer: only `active: false` for anything not active (RFC 7662 §2.2).
#[derive(Debug, Serialize, Default)]
pub struct Introspection {
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
}

/// Whether a string has the shape of a JWT; refresh tokens are one base64url word.
pub fn looks_like_jwt(token: &str) -> bool {
    token.bytes().filter(|&b| b == b'.').count() == 2
}

/// Runs one introspection. Synchronous: call it on the blocking pool. Only confidential
/// clients (APIs) may ask.
pub fn introspect(
    conn: &mut DbConnection,
    minter: &Minter,
    presented: &Presented<'_>,
    request: &FormRequest,
    now: i64,
) -> Result<Introspection, OAuthError> {
    let token = request.required("token")?;
    // `token_type_hint` only speeds up a search (RFC 7662 §2.1); the shape tells us as well.
    if looks_like_jwt(token) {
        return introspect_access_token(conn, minter, presented, token, now);
    }
    let asking = presented.authenticate(conn, false)?;
    Ok(
        // `find` knows no token of a deleted client.
        match refresh_tokens::find(conn, &SecretHash::of(token.as_bytes()))? {
            Some(r) if r.is_active(now) && asking.may_introspect(&r.client_id) => Introspection {
                active: true,
                scope: Some(r.scope),
                client_id: Some(r.client_id),
                sub: Some(r.user_id),
                exp: Some(r.expires_at.min(r.absolute_expires_at)),
                iat: Some(r.issued_at),
                iss: Some(minter.issuer.clone()),
                token_type: Some("refresh_token"),
                jti: None,
            },
            _ => Introspection::default(),
        },
    )
}

/// An access token: its signature first (usually remembered), then the asking client, the
/// token's revocation state and whether its client still exists in one query — no more
/// round trips than a token grant.
fn introspect_access_token(
    conn: &mut DbConnection,
    minter: &Minter,
    presented: &Presented<'_>,
    token: &str,
    now: i64,
) -> Result<Introspection, OAuthError> {
    let creds = presented.credentials()?;
    if !creds.has_secret() {
        return Err(OAuthError::invalid_client("client authentication required"));
    }
    let verified = jwt::verify(
        token,
        &minter.keyring,
        conn,
        &minter.issuer,
        &minter.audience,
        now,
    )?;
    let Some(claims) = verified else {
        presented.authenticate(conn, false)?;
        return Ok(Introspection::default());
    };
    let token_ref = TokenRef {
        jti: &claims.jti,
        family_id: claims.sid.as_deref(),
        client_id: &claims.client_id,
    };
    // The asking client is read with the token's state in the same query, so it is not
    // taken from the authenticator's memory: that would not save a round trip.
    let found = clients::find_with_token_state(conn, &creds.client_id, &token_ref, now)?;
    let admitted = creds.admits(found.as_ref().map(|(c, _)| c));
    let Some((asking, state)) = found.filter(|_| admitted) else {
        return Err(OAuthError::invalid_client("client authentication failed"));
    };
    let active = !state.revoked && state.family_live && state.client_exists;
    if !active || !asking.may_introspect(&claims.client_id) {
        return Ok(Introspection::default());
    }
    Ok(Introspection {
        active: true,
        scope: Some(claims.scope),
        client_id: Some(claims.client_id),
        sub: Some(claims.sub),
        exp: Some(claims.exp),
        iat: Some(claims.iat),
        iss: Some(claims.iss),
        token_type: Some("Bearer"),
        jti: Some(claims.jti),
    })
}
