//! How the browser routes show where the authorization flow stands, how they answer when it
//! goes no further, and who a session is logged in as: shared by the authorize, login,
//! consent and account routes.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;

use crate::oauth::authorization::Refusal;
use crate::oauth::authorization_service::Next;
use crate::storage::StorageError;
use crate::web::pages::{self, ConsentPage, LoginPage, ScopeDescriptions, TotpPage};
use crate::web::paths::{CONSENT_PATH, LOGIN_PATH, SECOND_FACTOR_PATH};
use crate::web::session::Session;

/// The page (or redirect) for where the authorization service says the browser goes next.
pub fn show(
    next: Result<Next, Refusal>,
    session: &Session,
    descriptions: &ScopeDescriptions,
) -> HttpResponse {
    let csrf_token = &session.csrf;
    let response = pages::page(StatusCode::OK);
    match next {
        Ok(Next::Back(url)) => pages::redirect(url.as_str()).finish(),
        Ok(Next::LogIn(prompt)) => pages::render_with(
            response,
            &LoginPage {
                client_name: &prompt.client_name,
                action: LOGIN_PATH,
                csrf_token,
                authorization: Some(&prompt.sealed),
                next: None,
                username: prompt.login_hint.as_deref().unwrap_or(""),
                error: None,
            },
        ),
        Ok(Next::SecondFactor(prompt)) => pages::render_with(
            response,
            &TotpPage {
                client_name: &prompt.client_name,
                action: SECOND_FACTOR_PATH,
                csrf_token,
                authorization: Some(&prompt.sealed),
                next: None,
                error: None,
            },
        ),
        Ok(Next::Consent {
            prompt,
            username,
            scope,
        }) => pages::render_with(
            response,
            &ConsentPage {
                client_name: &prompt.client_name,
                username: &username,
                scopes: descriptions.lines(&scope),
                action: CONSENT_PATH,
                csrf_token,
                authorization: &prompt.sealed,
            },
        ),
        Err(refusal) => refused(refusal),
    }
}

/// What the user or the client is told when the request goes no further.
pub fn refused(refusal: Refusal) -> HttpResponse {
    match refusal {
        Refusal::Page(message) => pages::error(StatusCode::BAD_REQUEST, message),
        Refusal::Redirect(url) => pages::redirect(url.as_str()).finish(),
        Refusal::Storage(e) => storage_failed(&e),
    }
}

pub fn storage_failed(e: &StorageError) -> HttpResponse {
    tracing::error!(error = %e, "storage failed during a browser flow");
    let mut page = pages::error(
        StatusCode::SERVICE_UNAVAILABLE,
        "The service is having trouble right now. Please try again in a moment.",
    );
    if e.is_unavailable() {
        page.headers_mut().insert(
            actix_web::http::header::RETRY_AFTER,
            crate::storage::UNAVAILABLE_RETRY_AFTER_SECS.into(),
        );
    }
    page
}
