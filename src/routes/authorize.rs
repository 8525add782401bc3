//! `GET /authorize` (RFC 6749 §4.1.1): the authorization service validates the request and
//! says what comes next: the login page, the consent page, or, when consent is remembered,
//! straight back with a code. `GET /authorize/resume` is where a login sends the browser on
//! with the sealed request.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::oauth::authorization_service::AuthorizationService;
use crate::oauth::request::FormRequest;
use crate::web::csrf::FormRefused;
use crate::web::flow::show;
use crate::web::pages::{self, ScopeDescriptions};
use crate::web::session::BrowserSessions;

pub async fn authorize(
    req: HttpRequest,
    browser: web::Data<BrowserSessions>,
    service: web::Data<AuthorizationService>,
    descriptions: web::Data<ScopeDescriptions>,
) -> HttpResponse {
    let now = browser.now();
    let request = match FormRequest::parse(req.query_string().as_bytes(), None) {
        Ok(request) => request,
        Err(e) => return pages::error(StatusCode::BAD_REQUEST, &e.description),
    };
    let existing = browser.read(&req, now).await;
    let session = existing.clone().unwrap_or_else(|| browser.anonymous(now));
    let next = service.begin(request, session.visitor(), now).await;
    let mut response = show(next, &session, &descriptions);
    if existing.is_none() {
        // A sealed value is always a valid header value; were it ever not, the browser would
        // have no session and its forms would be refused: say why in the log.
        if let Err(e) = response.add_cookie(&browser.cookie(&session, now)) {
            tracing::error!(error = %e, "the session cookie could not be set");
        }
    }
    response
}

/// After a login: `?authorization=` the sealed request, for this browser's new session.
pub async fn resume(
    req: HttpRequest,
    browser: web::Data<BrowserSessions>,
    service: web::Data<AuthorizationService>,
    descriptions: web::Data<ScopeDescriptions>,
) -> HttpResponse {
    let now = browser.now();
    let query = match FormRequest::parse(req.query_string().as_bytes(), None) {
        Ok(query) => query,
        Err(e) => return pages::error(StatusCode::BAD_REQUEST, &e.description),
    };
    let Some(sealed) = query.param("authorization") else {
        return pages::error(
            StatusCode::BAD_REQUEST,
            "There is no sign-in request to continue. Go back to the application and start again.",
        );
    };
    let Some(session) = browser.read(&req, now).await else {
        return FormRefused::NoSession.page();
    };
    let next = service.after_login(sealed, session.visitor(), now).await;
    show(next, &session, &descriptions)
}
