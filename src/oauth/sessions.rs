//! Starting a user's session: the access token, and a refresh-token family when the client
//! may refresh. Every user grant (password now, authorization code later) ends here.

use super::issuer::{Minter, TokenResponse, UserGrant};
use super::{GrantType, OAuthError, ScopeSet};
use crate::domain::secret::{random_id, PlainSecret};
use crate::storage::accounts;
use crate::storage::clients::Client;
use crate::storage::refresh_tokens::{self, NewSession};
use crate::storage::DbConnection;

/// Refresh-token lifetimes and the reuse grace window, from configuration.
#[derive(Debug, Clone)]
pub struct SessionPolicy {
    pub idle_ttl: i64,
    pub absolute_ttl: i64,
    pub grace: i64,
}

/// A started session: the answer for the client, and what was issued, for a record that
/// may later have to revoke it (an authorization code's).
pub struct Started {
    pub response: TokenResponse,
    pub family_id: Option<String>,
    pub access_jti: String,
    pub access_expires_at: i64,
}

pub fn start(
    conn: &mut DbConnection,
    minter: &Minter,
    client: &Client,
    user_id: &str,
    scope: &ScopeSet,
    policy: &SessionPolicy,
    now: i64,
) -> Result<Started, OAuthError> {
    let roles = accounts::user_role_names(conn, user_id)?;
    let user = UserGrant {
        id: user_id,
        roles: &roles,
    };
    if !client.allows_grant(GrantType::RefreshToken) {
        let access = minter.mint_for_user(&user, &client.id, scope, None, now)?;
        return Ok(Started {
            access_jti: access.claims.jti.clone(),
            access_expires_at: access.claims.exp,
            response: TokenResponse::bearer(access, None),
            family_id: None,
        });
    }
    let family_id = random_id(16);
    let refresh = PlainSecret::generate();
    refresh_tokens::start_family(
        conn,
        &NewSession {
            family_id: &family_id,
            user_id,
            client_id: &client.id,
            scope: &scope.to_string(),
            token: &refresh.hash(),
            now,
            idle_ttl: policy.idle_ttl,
            absolute_ttl: policy.absolute_ttl,
        },
    )?;
    let access = minter.mint_for_user(&user, &client.id, scope, Some(&family_id), now)?;
    Ok(Started {
        access_jti: access.claims.jti.clone(),
        access_expires_at: access.claims.exp,
        response: TokenResponse::bearer(access, Some(refresh.expose().to_owned())),
        family_id: Some(family_id),
    })
}
