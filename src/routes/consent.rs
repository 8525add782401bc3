//! `POST /consent`: the user's answer to the consent page. `allow` remembers the approval and
//! redirects with a code; `deny` redirects with `error=access_denied` (RFC 6749 §4.1.2.1).

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};

use crate::oauth::authorization::{self, Decision, Owner, Refusal};
use crate::oauth::request::FormRequest;
use crate::oauth::OAuthError;
use crate::startup::AppState;
use crate::storage::{accounts, consents};
use crate::web::csrf::Posted;
use crate::web::flow::{logged_in_user, refused};
use crate::web::pages;
use crate::web::paths::AUTHORIZE_PATH;

enum Answer {
    Back(String),
    /// The session is no longer logged in: start over at the login page.
    LogIn,
}

pub async fn consent(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: Result<FormRequest, OAuthError>,
) -> HttpResponse {
    let Posted {
        form,
        request,
        session,
        query,
        now,
    } = match Posted::read(&req, &state, form).await {
        Ok(posted) => posted,
        Err(refused) => return refused.page(),
    };
    let decision = match form.param("decision") {
        Some("allow") => Decision::Allow,
        Some("deny") => Decision::Deny,
        _ => return pages::error(StatusCode::BAD_REQUEST, "The answer must be allow or deny."),
    };
    let shared = state.clone();
    let answer = state
        .db
        .run(move |conn| -> Result<Answer, Refusal> {
            let Some(user) = logged_in_user(conn, &session, now)? else {
                return Ok(Answer::LogIn);
            };
            let allowed = accounts::scopes_allowed_to(conn, &user.id)?;
            let owner = Owner {
                user_id: &user.id,
                allowed,
            };
            let (url, granted) = authorization::decide(
                conn,
                &request,
                owner,
                decision,
                shared.authorization_rules(),
                now,
            )?;
            if decision == Decision::Allow {
                let client_id = request.param("client_id").unwrap_or_default();
                consents::remember(conn, &user.id, client_id, &granted, now)?;
            }
            Ok(Answer::Back(url.into()))
        })
        .await;
    match answer {
        Ok(Answer::Back(url)) => pages::redirect(&url).finish(),
        Ok(Answer::LogIn) => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, format!("{AUTHORIZE_PATH}?{query}")))
            .finish(),
        Err(refusal) => refused(refusal),
    }
}
