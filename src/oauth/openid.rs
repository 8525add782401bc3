//! OpenID Connect on top of the code flow (Core 1.0): the id_token a grant of `openid` buys,
//! and the claims the identity scopes release, in the id_token and at userinfo alike.

use super::issuer::{AccessToken, Minter};
use super::{OAuthError, ScopeSet};
use crate::domain::{Authentication, OPENID};
use crate::storage::accounts::{self, User};
use crate::storage::DbConnection;
use crate::tokens::id_token::{at_hash, IdTokenClaims, ProfileClaims};
use crate::tokens::jwt;

/// What `profile` and `email` release about `user` (SPEC "OpenID Connect"). gatehouse never
/// verifies an address, so `email_verified` is `false`: a relying party that links accounts
/// by email must not take it as proof of ownership.
pub fn profile_claims(user: User, scope: &ScopeSet) -> ProfileClaims {
    let mut claims = ProfileClaims::default();
    if scope.contains("profile") {
        claims.preferred_username = Some(user.username);
        claims.name = user.name;
    }
    if scope.contains("email") {
        claims.email_verified = user.email.as_ref().map(|_| false);
        claims.email = user.email;
    }
    claims
}

/// The id_token that goes with `access`, when its scope holds `openid` and the login it
/// describes is known: `sub`, `client_id` and `iat` are the access token's, `exp` too, and
/// `at_hash` binds the two (Core 1.0 §3.1.3.6). The profile claims are read now.
pub fn id_token(
    conn: &mut DbConnection,
    minter: &Minter,
    access: &AccessToken,
    login: Option<&Authentication>,
) -> Result<Option<String>, OAuthError> {
    let scope = ScopeSet::parse(&access.claims.scope).map_err(|e| OAuthError::server_error(&e))?;
    let Some(login) = login.filter(|_| scope.contains(OPENID)) else {
        return Ok(None);
    };
    let claims = &access.claims;
    let user = accounts::find_user(conn, &claims.sub)?.filter(|u| u.disabled_at.is_none());
    let Some(user) = user else {
        return Err(OAuthError::invalid_grant(
            "the user no longer exists or is disabled",
        ));
    };
    let id = IdTokenClaims {
        iss: minter.issuer.clone(),
        sub: claims.sub.clone(),
        aud: claims.client_id.clone(),
        exp: claims.exp,
        iat: claims.iat,
        auth_time: login.auth_time,
        nonce: login.nonce.clone(),
        at_hash: at_hash(&access.token),
        amr: login.amr.clone(),
        sid: login.sid.clone(),
        profile: profile_claims(user, &scope),
    };
    Ok(Some(jwt::sign_id_token(
        &minter.keyring.signing_at(claims.iat),
        &id,
    )?))
}
