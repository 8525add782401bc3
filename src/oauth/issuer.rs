//! Access-token minting, and oxide-auth's `Issuer` around it.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use oxide_auth::primitives::grant::Grant;
use oxide_auth::primitives::issuer::{IssuedToken, Issuer, RefreshedToken, TokenType};
use serde::Serialize;

use super::ScopeSet;
use crate::domain::secret::random_id;
use crate::tokens::jwt::{self, AccessTokenClaims, SigningError};
use crate::tokens::keys::Keyring;

/// Everything needed to mint access tokens; shared by every request.
pub struct Minter {
    /// `iss`: the public base URL.
    pub issuer: String,
    /// `aud`: the configured audience.
    pub audience: String,
    pub access_token_ttl_secs: i64,
    pub keyring: Arc<Keyring>,
}

/// The user a token is for: the `sub` and the roles it carries.
#[derive(Debug, Clone, Copy)]
pub struct UserGrant<'a> {
    pub id: &'a str,
    pub roles: &'a [String],
}

/// An access token as handed to the client.
#[derive(Debug, Clone)]
pub struct AccessToken {
    pub token: String,
    pub claims: AccessTokenClaims,
}

impl Minter {
    /// Mints a signed RFC 9068 access token for `sub`.
    pub fn mint(
        &self,
        sub: &str,
        client_id: &str,
        scope: &ScopeSet,
        now: i64,
    ) -> Result<AccessToken, SigningError> {
        self.mint_claims(random_id(16), sub, client_id, scope, None, None, now)
    }

    /// Mints an access token for a user with `roles`, belonging to the refresh-token family
    /// `sid` if there is one.
    pub fn mint_for_user(
        &self,
        user: &UserGrant<'_>,
        client_id: &str,
        scope: &ScopeSet,
        sid: Option<&str>,
        now: i64,
    ) -> Result<AccessToken, SigningError> {
        self.mint_for_user_as(random_id(16), user, client_id, scope, sid, now)
    }

    /// As [`mint_for_user`](Self::mint_for_user), with the `jti` chosen beforehand (an
    /// authorization code records it as it is claimed).
    pub fn mint_for_user_as(
        &self,
        jti: String,
        user: &UserGrant<'_>,
        client_id: &str,
        scope: &ScopeSet,
        sid: Option<&str>,
        now: i64,
    ) -> Result<AccessToken, SigningError> {
        self.mint_claims(jti, user.id, client_id, scope, Some(user.roles), sid, now)
    }

    #[allow(clippy::too_many_arguments)]
    fn mint_claims(
        &self,
        jti: String,
        sub: &str,
        client_id: &str,
        scope: &ScopeSet,
        roles: Option<&[String]>,
        sid: Option<&str>,
        now: i64,
    ) -> Result<AccessToken, SigningError> {
        let claims = AccessTokenClaims {
            iss: self.issuer.clone(),
            sub: sub.to_owned(),
            aud: self.audience.clone(),
            client_id: client_id.to_owned(),
            scope: scope.to_string(),
            jti,
            iat: now,
            exp: now + self.access_token_ttl_secs,
            sid: sid.map(str::to_owned),
            roles: roles.map(<[String]>::to_vec),
        };
        let token = jwt::sign(&self.keyring.signing_at(now), &claims)?;
        Ok(AccessToken { token, claims })
    }
}

/// The body of a successful token response (RFC 6749 §5.1).
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// OpenID Connect's, when `openid` was granted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

impl TokenResponse {
    pub fn bearer(access: AccessToken, refresh_token: Option<String>) -> Self {
        TokenResponse {
            expires_in: access.claims.exp - access.claims.iat,
            scope: access.claims.scope,
            access_token: access.token,
            token_type: "Bearer",
            refresh_token,
            id_token: None,
        }
    }

    pub fn with_id_token(self, id_token: Option<String>) -> Self {
        TokenResponse { id_token, ..self }
    }
}

/// oxide-auth's `Issuer` for one request: mints JWTs and keeps what it minted, since
/// oxide-auth's own response type is not ours to shape.
pub struct JwtIssuer<'m> {
    minter: &'m Minter,
    now: i64,
    issued: Option<AccessToken>,
    failure: Option<SigningError>,
}

impl<'m> JwtIssuer<'m> {
    pub fn new(minter: &'m Minter, now: i64) -> Self {
        JwtIssuer {
            minter,
            now,
            issued: None,
            failure: None,
        }
    }

    pub fn take_issued(&mut self) -> Option<AccessToken> {
        self.issued.take()
    }

    pub fn take_failure(&mut self) -> Option<SigningError> {
        self.failure.take()
    }
}

impl Issuer for JwtIssuer<'_> {
    fn issue(&mut self, grant: Grant) -> Result<IssuedToken, ()> {
        let scope = ScopeSet::try_from(&grant.scope).map_err(|_| ())?;
        let access = self
            .minter
            .mint(&grant.owner_id, &grant.client_id, &scope, self.now)
            .map_err(|e| self.failure = Some(e))?;
        let until = Utc.timestamp_opt(access.claims.exp, 0).single().ok_or(())?;
        let issued = IssuedToken {
            token: access.token.clone(),
            refresh: None,
            until,
            token_type: TokenType::Bearer,
        };
        self.issued = Some(access);
        Ok(issued)
    }

    // Refresh tokens are opaque and stored apart from this issuer (issue #3); JWT access
    // tokens are verified with the JWKS, not recovered.
    fn refresh(&mut self, _: &str, _: Grant) -> Result<RefreshedToken, ()> {
        Err(())
    }

    fn recover_token<'a>(&'a self, _: &'a str) -> Result<Option<Grant>, ()> {
        Ok(None)
    }

    fn recover_refresh<'a>(&'a self, _: &'a str) -> Result<Option<Grant>, ()> {
        Ok(None)
    }
}
