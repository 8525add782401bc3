//! `POST /consent`: the user's answer to the consent page. `allow` remembers the approval and
//! redirects with a code; `deny` redirects with `error=access_denied` (RFC 6749 §4.1.2.1).

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

use crate::oauth::authorization::Decision;
use crate::oauth::authorization_service::AuthorizationService;
use crate::web::csrf::CsrfForm;
use crate::web::flow::show;
use crate::web::pages::{self, ScopeDescriptions};

pub async fn consent(
    service: web::Data<AuthorizationService>,
    descriptions: web::Data<ScopeDescriptions>,
    posted: CsrfForm,
) -> HttpResponse {
    let CsrfForm { form, session, now } = posted;
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
