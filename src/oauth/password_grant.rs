//! The resource owner password credentials grant (RFC 6749 §4.3), for first-party apps.
//! oxide-auth has no such flow; this one shares client authentication, the scope rules and
//! the minter with the others.

use actix_web::web;

use super::issuer::TokenResponse;
use super::request::FormRequest;
use super::{client_auth, sessions, GrantType, OAuthError, ScopeSet};
use crate::startup::AppState;
use std::sync::Arc;

use crate::accounts::login_attempts::LoginKeys;
use crate::storage::security_events::{self, Event, EventKind};
use crate::storage::{accounts, two_factor};

pub async fn grant(
    state: web::Data<AppState>,
    request: FormRequest,
) -> Result<TokenResponse, OAuthError> {
    let username = request.required("username")?.to_owned();
    let password = request.required("password")?.to_owned();
    let requested = request.scope()?;
    // The same per-username and per-address counters as the login form.
    let keys = Arc::new(LoginKeys::new(&username, request.ip()));
    let ip = request.ip().map(str::to_owned);
    let typed_name = username.clone();

    let (limits, for_lookup) = (state.clone(), keys.clone());
    let (client, user) = state
        .db
        .run(move |conn| {
            let now = limits.clock.now();
            limits.client_guard.guarded(conn, &request, now, |conn| {
                let client = client_auth::authenticate(conn, &request, true)?;
                client_auth::require_grant(&client, GrantType::Password)?;
                if let Some(wait) = for_lookup.blocked(conn, now)? {
                    return Err(OAuthError::too_many_failures(wait));
                }
                let user = accounts::find_user_by_name(conn, &username)?;
                Ok((client, user))
            })
        })
        .await?;
    // The scope must be within the client's registration before any password is checked.
    ScopeSet::granted_to_client(requested.as_ref(), &client.scopes).map_err(|extra| {
        OAuthError::invalid_scope(format!("scope not registered for this client: {extra}"))
    })?;

    // Unknown user and wrong password: the same answer after the same bcrypt work.
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    let verified = state.passwords.verify(password, hash).await;
    let now = state.clock.now();
    let Some(user) = user.filter(|_| verified) else {
        let (shared, client_id, typed) = (state.clone(), client.id.clone(), keys.clone());
        state
            .db
            .run(move |conn| {
                let event = Event {
                    actor: Some(&typed_name),
                    client_id: Some(&client_id),
                    ip: ip.as_deref(),
                    detail: Some("password grant"),
                };
                typed.failed(
                    conn,
                    &shared.login_limits,
                    EventKind::LoginFailed,
                    &event,
                    now,
                )
            })
            .await?;
        return Err(OAuthError::invalid_grant("invalid username or password"));
    };

    let shared = state.clone();
    state
        .db
        .run(move |conn| {
            // Told only to someone who knew the password.
            if two_factor::is_on(conn, &user.id)? {
                return Err(OAuthError::invalid_grant(
                    "this user signs in with a second factor, which the password grant cannot carry: use the authorization-code flow",
                ));
            }
            keys.succeeded(conn)?;
            let event = Event {
                actor: Some(&user.id),
                client_id: Some(&client.id),
                ip: ip.as_deref(),
                detail: Some("password grant"),
            };
            security_events::record(conn, EventKind::LoginSucceeded, &event, now)?;
            let allowed = accounts::scopes_allowed_to(conn, &user.id)?;
            let granted = ScopeSet::granted_to_user(requested.as_ref(), &client.scopes, &allowed)
                .map_err(|e| OAuthError::invalid_scope(e.to_string()))?;
            sessions::start(
                conn,
                &shared.minter,
                &client,
                &user.id,
                &granted,
                &shared.sessions,
                now,
            )
            .map(|started| started.response)
        })
        .await
}
