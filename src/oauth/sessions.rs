//! Starting a user's session: the access token, and a refresh-token family when the client
//! may refresh. Every user grant (password now, authorization code later) ends here.

use super::issuer::{Minter, TokenResponse};
use super::{GrantType, OAuthError, ScopeSet};
use crate::storage::clients::Client;
use crate::storage::refresh_tokens::{self, NewSession};
use crate::storage::DbConnection;
use crate::tokens::secret::{random_id, PlainSecret};

/// Refresh-token lifetimes and the reuse grace window, from configuration.
#[derive(Debug, Clone)]
pub struct SessionPolicy {
    pub idle_ttl: i64,
    pub absolute_ttl: i64,
    pub grace: i64,
}

pub fn start(
    conn: &mut DbConnection,
    minter: &Minter,
    client: &Client,
    user_id: &str,
    scope: &ScopeSet,
    policy: &SessionPolicy,
    now: i64,
) -> Result<TokenResponse, OAuthError> {
    if !client.allows_grant(GrantType::RefreshToken) {
        return Ok(TokenResponse::bearer(
            minter.mint(user_id, &client.id, scope, now)?,
            None,
        ));
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
    let access = minter.mint_in_session(user_id, &client.id, scope, Some(&family_id), now)?;
    Ok(TokenResponse::bearer(
        access,
        Some(refresh.expose().to_owned()),
    ))
}
