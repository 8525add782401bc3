//! Starting a user's session: the access token, and a refresh-token family when the client
//! may refresh. Every user grant (password now, authorization code later) ends here.

use super::issuer::{Minter, TokenResponse, UserGrant};
use super::openid;
use super::{GrantType, OAuthError, ScopeSet};
use crate::domain::secret::{random_id, PlainSecret};
use crate::domain::Authentication;
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

/// The ids a session is issued under, chosen before anything is written: an authorization
/// code records them in the statement that claims it.
#[derive(Debug, Clone)]
pub struct Planned {
    /// A refresh-token family, when the client may refresh.
    pub family_id: Option<String>,
    pub access_jti: String,
}

impl Planned {
    pub fn for_client(client: &Client) -> Self {
        Planned {
            family_id: client
                .allows_grant(GrantType::RefreshToken)
                .then(|| random_id(16)),
            access_jti: random_id(16),
        }
    }
}

/// Who a session is for.
pub struct NewUserSession<'a> {
    pub client: &'a Client,
    pub user_id: &'a str,
    pub scope: &'a ScopeSet,
    /// The user's role names, when already known (kept with a code); read otherwise.
    pub roles: Option<Vec<String>>,
    /// The browser login, when a code granted `openid`: the session gets an id_token.
    pub authentication: Option<Authentication>,
    pub planned: Planned,
}

pub fn start(
    conn: &mut DbConnection,
    minter: &Minter,
    session: NewUserSession<'_>,
    policy: &SessionPolicy,
    now: i64,
) -> Result<Started, OAuthError> {
    let NewUserSession {
        client,
        user_id,
        scope,
        roles,
        authentication,
        planned,
    } = session;
    let roles = match roles {
        Some(roles) => roles,
        None => accounts::user_role_names(conn, user_id)?,
    };
    let user = UserGrant {
        id: user_id,
        roles: &roles,
    };
    let jti = planned.access_jti;
    let Some(family_id) = planned.family_id else {
        let access = minter.mint_for_user_as(jti, &user, &client.id, scope, None, now)?;
        let id_token = openid::id_token(conn, minter, &access, authentication.as_ref())?;
        return Ok(Started {
            access_jti: access.claims.jti.clone(),
            access_expires_at: access.claims.exp,
            response: TokenResponse::bearer(access, None).with_id_token(id_token),
            family_id: None,
        });
    };
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
            authentication: authentication.as_ref(),
        },
    )?;
    let access = minter.mint_for_user_as(jti, &user, &client.id, scope, Some(&family_id), now)?;
    let id_token = openid::id_token(conn, minter, &access, authentication.as_ref())?;
    Ok(Started {
        access_jti: access.claims.jti.clone(),
        access_expires_at: access.claims.exp,
        response: TokenResponse::bearer(access, Some(refresh.expose().to_owned()))
            .with_id_token(id_token),
        family_id: Some(family_id),
    })
}
