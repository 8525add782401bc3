//! An access token of ours checked against the database, as introspection checks it: the
//! signature, then revocation, its refresh family and its client, in one query. Userinfo
//! and the admin API take a bearer token this way, so a revoked token stops working there
//! at once, not when it expires.

use gatehouse_resource::AuthError;

use super::issuer::Minter;
use crate::domain::Client;
use crate::storage::clients::{self, TokenRef};
use crate::storage::{DbConnection, StorageError};
use crate::tokens::jwt::{self, AccessTokenClaims};

/// What is said to a token that is not (or no longer) good.
pub const INVALID: &str = "the access token is invalid, expired or revoked";

/// A live token's claims and the client it was issued to.
pub fn check(
    conn: &mut DbConnection,
    minter: &Minter,
    token: &str,
    now: i64,
) -> Result<(AccessTokenClaims, Client), Refused> {
    let m = minter;
    let verified = jwt::verify(token, &m.keyring, conn, &m.issuer, &m.audience, now)?;
    let claims = verified.ok_or_else(|| Refused::invalid(INVALID))?;
    let token_ref = TokenRef {
        jti: &claims.jti,
        family_id: claims.sid.as_deref(),
        client_id: &claims.client_id,
    };
    // The token's own client, read with the token's state: no row, no client.
    match clients::find_with_token_state(conn, &claims.client_id, &token_ref, now)? {
        Some((client, state)) if !state.revoked && state.family_live => Ok((claims, client)),
        _ => Err(Refused::invalid(INVALID)),
    }
}

/// A refusal, or a storage failure told as one: the token could not be checked.
#[derive(Debug)]
pub struct Refused(pub AuthError);

impl Refused {
    pub fn invalid(why: &str) -> Self {
        Refused(AuthError::InvalidToken(why.into()))
    }
}

impl From<StorageError> for Refused {
    fn from(e: StorageError) -> Self {
        tracing::error!(error = %e, "a bearer token could not be checked");
        Refused(AuthError::Unavailable(
            "the token could not be checked".into(),
        ))
    }
}
