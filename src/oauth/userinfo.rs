//! The UserInfo endpoint (OpenID Connect Core 1.0 §5.3): the signed-in user's claims, for an
//! access token granted `openid`, as far as the token's scopes release them.
//!
//! The token is checked as introspection checks it (signature, then revocation, its refresh
//! family and its client, in one query), so a token revoked at `/revoke` or by a reused
//! refresh token stops working here at once, not when it expires.

use std::sync::Arc;

use gatehouse_resource::AuthError;
use serde::Serialize;

use super::issuer::Minter;
use super::openid::profile_claims;
use super::ScopeSet;
use crate::domain::{Clock, OPENID};
use crate::storage::clients::{self, TokenRef};
use crate::storage::{accounts, Database, StorageError};
use crate::tokens::id_token::ProfileClaims;
use crate::tokens::jwt;

/// The answer: `sub` and what the scopes release.
#[derive(Debug, Serialize)]
pub struct UserInfo {
    pub sub: String,
    #[serde(flatten)]
    pub claims: ProfileClaims,
}

pub struct UserInfoEndpoint {
    db: Database,
    minter: Arc<Minter>,
    clock: Clock,
}

/// What is said to a token that is not (or no longer) good.
const INVALID: &str = "the access token is invalid, expired or revoked";

impl UserInfoEndpoint {
    pub fn new(db: Database, minter: Arc<Minter>, clock: Clock) -> Self {
        UserInfoEndpoint { db, minter, clock }
    }

    /// The claims for `token`; 401 for a token that is not live, 403 without `openid`.
    pub async fn answer(&self, token: String) -> Result<UserInfo, AuthError> {
        let (minter, now) = (self.minter.clone(), self.clock.now());
        self.db
            .run(move |conn| -> Result<_, Refused> {
                let m = &minter;
                let verified = jwt::verify(&token, &m.keyring, conn, &m.issuer, &m.audience, now)?;
                let claims = verified.ok_or_else(|| Refused::invalid(INVALID))?;
                let token_ref = TokenRef {
                    jti: &claims.jti,
                    family_id: claims.sid.as_deref(),
                    client_id: &claims.client_id,
                };
                // The token's own client, read with the token's state: no row, no client.
                let found =
                    clients::find_with_token_state(conn, &claims.client_id, &token_ref, now)?;
                let live = found.is_some_and(|(_, s)| !s.revoked && s.family_live);
                if !live {
                    return Err(Refused::invalid(INVALID));
                }
                let scope = ScopeSet::parse(&claims.scope).unwrap_or_default();
                if !scope.contains(OPENID) {
                    return Err(Refused(AuthError::InsufficientScope(OPENID.into())));
                }
                // A client-credentials token's `sub` is its client: no user, no claims.
                let user = accounts::find_user(conn, &claims.sub)?
                    .ok_or_else(|| Refused::invalid("the token names no user"))?;
                Ok(UserInfo {
                    sub: user.id.clone(),
                    claims: profile_claims(user, &scope),
                })
            })
            .await
            .map_err(|Refused(e)| e)
    }
}

/// A refusal, or a storage failure told as one: the endpoint could not check the token.
struct Refused(AuthError);

impl Refused {
    fn invalid(why: &str) -> Self {
        Refused(AuthError::InvalidToken(why.into()))
    }
}

impl From<StorageError> for Refused {
    fn from(e: StorageError) -> Self {
        tracing::error!(error = %e, "userinfo could not check a token");
        Refused(AuthError::Unavailable(
            "the token could not be checked".into(),
        ))
    }
}
