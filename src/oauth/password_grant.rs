//! The resource owner password credentials grant (RFC 6749 §4.3), for first-party apps.
//! oxide-auth has no such flow; this one shares client authentication, the scope rules and
//! the minter with the others, and the login service (limits, password line, events) with
//! the login form.

use actix_web::web;

use super::issuer::TokenResponse;
use super::request::FormRequest;
use super::sessions::{self, NewUserSession, Planned};
use super::{client_auth, GrantType, OAuthError, ScopeSet};
use crate::accounts::login::{LoginContext, PasswordOutcome};
use crate::startup::AppState;
use crate::storage::accounts;

pub async fn grant(
    state: web::Data<AppState>,
    request: FormRequest,
) -> Result<TokenResponse, OAuthError> {
    let username = request.required("username")?.to_owned();
    let password = request.required("password")?.to_owned();
    let requested = request.scope()?;
    let ip = request.ip().map(str::to_owned);

    let shared = state.clone();
    let client = state
        .db
        .run(move |conn| {
            let now = shared.clock.now();
            let clients = &shared.tokens.clients;
            let presented = clients.presented(&request);
            let creds = presented.credentials.as_ref().ok();
            clients.guarded(conn, &request, creds, now, |conn| {
                let client = presented.authenticate(conn, true)?;
                client_auth::require_grant(&client, GrantType::Password)?;
                Ok(client)
            })
        })
        .await?;
    // The scope must be within the client's registration before any password is checked.
    ScopeSet::granted_to_client(requested.as_ref(), &client.scopes).map_err(|extra| {
        OAuthError::invalid_scope(format!("scope not registered for this client: {extra}"))
    })?;

    let context = LoginContext {
        ip,
        client_id: Some(client.id.to_string()),
        detail: Some("password grant"),
    };
    let now = state.clock.now();
    let (user, keys) = match state
        .login
        .check_password(&username, password, &context, now)
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

    let shared = state.clone();
    state
        .db
        .run(move |conn| {
            shared
                .login
                .complete(conn, &keys, &user.id, &context, now)?;
            let allowed = accounts::scopes_allowed_to(conn, &user.id)?;
            let granted = ScopeSet::granted_to_user(requested.as_ref(), &client.scopes, &allowed)
                .map_err(|e| OAuthError::invalid_scope(e.to_string()))?;
            let session = NewUserSession {
                client: &client,
                user_id: &user.id,
                scope: &granted,
                roles: None,
                planned: Planned::for_client(&client),
            };
            sessions::start(conn, &shared.minter, session, &shared.sessions, now)
                .map(|started| started.response)
        })
        .await
}
