//! The resource owner password credentials grant (RFC 6749 §4.3), for first-party apps.
//! oxide-auth has no such flow; this one shares client authentication, the scope rules and
//! the minter with the others, and the login service (limits, password line, events) with
//! the login form.

use std::sync::Arc;

use diesel::Connection;

use super::client_auth::{self, Presented};
use super::issuer::{Minter, TokenResponse};
use super::request::FormRequest;
use super::sessions::{self, NewUserSession, Planned, SessionPolicy};
use super::{GrantType, OAuthError, ScopeSet};
use crate::accounts::login::{LoginContext, LoginService, PasswordOutcome};
use crate::domain::Client;
use crate::storage::{accounts, Database, DbConnection};

/// What the request asks for, read before the client is authenticated.
pub struct Asked {
    username: String,
    password: String,
    scope: Option<ScopeSet>,
    ip: Option<String>,
}

impl Asked {
    pub fn from_request(request: &FormRequest) -> Result<Asked, OAuthError> {
        Ok(Asked {
            username: request.required("username")?.to_owned(),
            password: request.required("password")?.to_owned(),
            scope: request.scope()?,
            ip: request.ip().map(str::to_owned),
        })
    }
}

/// The client, authenticated and allowed this grant.
pub fn authenticate(
    conn: &mut DbConnection,
    presented: &Presented<'_>,
) -> Result<Arc<Client>, OAuthError> {
    let client = presented.authenticate(conn, true)?;
    client_auth::require_grant(&client, GrantType::Password)?;
    Ok(client)
}

/// The user's password checked by the login service, then the tokens.
pub async fn grant(
    db: &Database,
    login: &Arc<LoginService>,
    minter: Arc<Minter>,
    policy: SessionPolicy,
    client: Arc<Client>,
    asked: Asked,
    now: i64,
) -> Result<TokenResponse, OAuthError> {
    // The scope must be within the client's registration before any password is checked.
    ScopeSet::granted_to_client(asked.scope.as_ref(), &client.scopes).map_err(|extra| {
        OAuthError::invalid_scope(format!("scope not registered for this client: {extra}"))
    })?;

    let context = LoginContext {
        ip: asked.ip,
        client_id: Some(client.id.to_string()),
        detail: Some("password grant"),
    };
    let (user, keys) = match login
        .check_password(&asked.username, asked.password, &context, now)
        .await?
    {
        PasswordOutcome::Right {
            second_factor: true,
            ..
        } => {
            // Told only to someone who knew the password.
            return Err(OAuthError::invalid_grant(
                "this user signs in with a second factor, which the password grant cannot carry: use the authorization-code flow",
            ));
        }
        PasswordOutcome::Right { user, keys, .. } => (user, keys),
        PasswordOutcome::Wrong => {
            return Err(OAuthError::invalid_grant("invalid username or password"))
        }
        PasswordOutcome::Wait(wait) => return Err(OAuthError::too_many_failures(wait)),
        PasswordOutcome::Busy(busy) => return Err(OAuthError::from(busy)),
    };

    let login = login.clone();
    // One transaction from the check that the password still stands to the family it
    // issues, the user's row held shared on PostgreSQL (`accounts::hold`): a grant racing a
    // reset or a disable is refused, or finishes first and has its family revoked by it.
    db.run(move |conn| {
        conn.transaction(|conn| {
            accounts::hold(conn, &user.id, accounts::Hold::Shared)?;
            if !login.complete_grant(conn, &keys, &user, &context, now)? {
                // Reset or disabled while the password was checked: the login's writes roll back.
                return Err(OAuthError::invalid_grant("invalid username or password"));
            }
            let allowed = accounts::scopes_allowed_to(conn, &user.id)?;
            let granted = ScopeSet::granted_to_user(asked.scope.as_ref(), &client.scopes, &allowed)
                .map_err(|e| OAuthError::invalid_scope(e.to_string()))?;
            let session = NewUserSession {
                // No browser login: the password grant is OAuth's, and gets no id_token.
                authentication: None,
                client: &client,
                user_id: &user.id,
                scope: &granted,
                roles: None,
                planned: Planned::for_client(&client),
            };
            sessions::start(conn, &minter, session, &policy, now).map(|started| started.response)
        })
    })
    .await
}
