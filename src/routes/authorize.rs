//! `GET /authorize` (RFC 6749 §4.1.1): checks the request, then shows the login page, the
//! consent page, or, when consent is remembered, sends the browser straight back with a code.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::oauth::authorization::{self, Asked, Decision, Owner, Refusal};
use crate::oauth::request::FormRequest;
use crate::startup::AppState;
use crate::storage::accounts::User;
use crate::storage::{accounts, consents};
use crate::web::flow::{logged_in_user, refused};
use crate::web::pages::{self, ConsentPage, LoginPage, ScopeLine, TotpPage};
use crate::web::paths::{CONSENT_PATH, LOGIN_PATH, SECOND_FACTOR_PATH};

/// Where the browser stands.
enum Step {
    Login(Asked),
    /// The password was right; the second factor is owed.
    SecondFactor(Asked),
    Consent(Asked, User),
    Back(String),
}

pub async fn authorize(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let now = state.clock.now();
    let query = req.query_string().to_owned();
    let request = match FormRequest::parse(query.as_bytes(), None) {
        Ok(request) => request,
        Err(e) => return pages::error(StatusCode::BAD_REQUEST, &e.description),
    };
    let existing = state.browser.read(&req, &state.db, now).await;
    let session = existing
        .clone()
        .unwrap_or_else(|| state.browser.anonymous(now));

    let shared = state.clone();
    let for_flow = session.clone();
    let step = state
        .db
        .run(move |conn| -> Result<Step, Refusal> {
            let Some(user) = logged_in_user(conn, &for_flow, now)? else {
                let asked = authorization::check(conn, &request, None, shared.pkce)?;
                return Ok(match for_flow.pending {
                    Some(_) => Step::SecondFactor(asked),
                    None => Step::Login(asked),
                });
            };
            let allowed = accounts::scopes_allowed_to(conn, &user.id).map_err(Refusal::Storage)?;
            let asked = authorization::check(conn, &request, Some(allowed.clone()), shared.pkce)?;
            let remembered =
                consents::find(conn, &user.id, &asked.client.id).map_err(Refusal::Storage)?;
            if !remembered.is_some_and(|r| asked.scope.is_subset(&r)) {
                return Ok(Step::Consent(asked, user));
            }
            let owner = Owner {
                user_id: &user.id,
                allowed,
            };
            let rules = shared.authorization_rules();
            let (url, _) =
                authorization::decide(conn, &request, owner, Decision::Allow, rules, now)?;
            Ok(Step::Back(url.into()))
        })
        .await;

    let mut response = match &step {
        Ok(Step::Back(url)) => pages::redirect(url),
        _ => pages::page(StatusCode::OK),
    };
    if existing.is_none() {
        response.cookie(state.browser.cookie(&session, now));
    }
    let action = |path: &str| format!("{path}?{query}");
    match step {
        Ok(Step::Back(_)) => response.finish(),
        Ok(Step::Login(asked)) => pages::render_with(
            response,
            &LoginPage {
                client_name: &asked.client.name,
                action: &action(LOGIN_PATH),
                csrf_token: &session.csrf,
                username: "",
                error: None,
            },
        ),
        Ok(Step::SecondFactor(asked)) => pages::render_with(
            response,
            &TotpPage {
                client_name: &asked.client.name,
                action: &action(SECOND_FACTOR_PATH),
                csrf_token: &session.csrf,
                error: None,
            },
        ),
        Ok(Step::Consent(asked, user)) => pages::render_with(
            response,
            &ConsentPage {
                client_name: &asked.client.name,
                username: &user.username,
                scopes: scope_lines(&state, &asked),
                action: &action(CONSENT_PATH),
                csrf_token: &session.csrf,
            },
        ),
        Err(refusal) => refused(refusal),
    }
}

/// The consent page's lines: each scope that will really be granted, described.
fn scope_lines(state: &AppState, asked: &Asked) -> Vec<ScopeLine> {
    asked
        .scope
        .iter()
        .map(|name| ScopeLine {
            name: name.to_owned(),
            description: state
                .scope_descriptions
                .get(name)
                .cloned()
                .unwrap_or_else(|| name.to_owned()),
        })
        .collect()
}
