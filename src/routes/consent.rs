//! `POST /consent`: the user's answer to the consent page. `allow` remembers the approval and
//! redirects with a code; `deny` redirects with `error=access_denied` (RFC 6749 §4.1.2.1).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::oauth::authorization::Decision;
use crate::oauth::authorization_service::AuthorizationService;
use crate::oauth::request::FormRequest;
use crate::oauth::OAuthError;
use crate::startup::AppState;
use crate::web::csrf::Posted;
use crate::web::flow::show;
use crate::web::pages::{self, ScopeDescriptions};

pub async fn consent(
    req: HttpRequest,
    state: web::Data<AppState>,
    service: web::Data<AuthorizationService>,
    descriptions: web::Data<ScopeDescriptions>,
    form: Result<FormRequest, OAuthError>,
) -> HttpResponse {
    let Posted { form, session, now } = match Posted::read(&req, &state, form).await {
        Ok(posted) => posted,
        Err(refused) => return refused.page(),
    };
    let decision = match form.param("decision") {
        Some("allow") => Decision::Allow,
        Some("deny") => Decision::Deny,
        _ => return pages::error(StatusCode::BAD_REQUEST, "The answer must be allow or deny."),
    };
    let Some(sealed) = form.param("authorization") else {
        return pages::error(
            StatusCode::BAD_REQUEST,
            "The form did not say which request it answers. Go back to the application and start again.",
        );
    };
    let next = service
        .decide(sealed, session.visitor(), decision, now)
        .await;
    show(next, &session, &descriptions)
}
