//! `GET` and `POST /end_session` (RP-Initiated Logout 1.0) and the answer to its question,
//! `POST /end_session/confirm`. The end-session service says where the browser goes; this
//! module ends the browser's session and renders.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::oauth::end_session::{Afterwards, EndSession, LogoutRequest, Plan, Refused};
use crate::oauth::request::FormRequest;
use crate::web::csrf::CsrfForm;
use crate::web::flow::storage_failed;
use crate::web::pages::{self, EndSessionPage, SignedOutPage};
use crate::web::paths::{ACCOUNT_PATH, END_SESSION_CONFIRM_PATH};
use crate::web::session::{BrowserSessions, Session};

/// `GET`: the parameters in the query.
pub async fn asked(
    req: HttpRequest,
    browser: web::Data<BrowserSessions>,
    service: web::Data<EndSession>,
) -> HttpResponse {
    match FormRequest::parse(req.query_string().as_bytes(), None) {
        Ok(form) => answer(&req, &form, &browser, &service).await,
        Err(e) => pages::error(StatusCode::BAD_REQUEST, &e.description),
    }
}

/// `POST`: the parameters in a form body.
pub async fn posted(
    req: HttpRequest,
    form: FormRequest,
    browser: web::Data<BrowserSessions>,
    service: web::Data<EndSession>,
) -> HttpResponse {
    answer(&req, &form, &browser, &service).await
}

async fn answer(
    req: &HttpRequest,
    form: &FormRequest,
    browser: &BrowserSessions,
    service: &EndSession,
) -> HttpResponse {
    let now = browser.now();
    let request = LogoutRequest::from_form(form);
    let plan = match service.plan(request.clone(), now).await {
        Ok(plan) => plan,
        Err(refused) => return refusal(refused),
    };
    match browser.read(req, now).await {
        Some(session) if session.uid.is_some() && !plan.proven_for(&session.sid) => {
            let client_name = match &plan.afterwards {
                Afterwards::Page { client_name } => client_name.as_deref(),
                Afterwards::Redirect(_) => None,
            };
            pages::render(
                StatusCode::OK,
                &EndSessionPage {
                    client_name,
                    action: END_SESSION_CONFIRM_PATH,
                    csrf_token: &session.csrf,
                    client_id: plan.client_id.as_deref(),
                    post_logout_redirect_uri: request.post_logout_redirect_uri.as_deref(),
                    state: request.state.as_deref(),
                    stay: ACCOUNT_PATH,
                },
            )
        }
        session => sign_out(browser, session, plan).await,
    }
}

/// The user said yes: the carried parameters are checked again, as if sent anew.
pub async fn confirmed(
    posted: CsrfForm,
    browser: web::Data<BrowserSessions>,
    service: web::Data<EndSession>,
) -> HttpResponse {
    let mut request = LogoutRequest::from_form(&posted.form);
    request.id_token_hint = None;
    match service.plan(request, posted.now).await {
        Ok(plan) => sign_out(&browser, Some(posted.session), plan).await,
        Err(refused) => refusal(refused),
    }
}

/// Ends the browser's session, if it has one, and sends it where the plan says.
async fn sign_out(browser: &BrowserSessions, session: Option<Session>, plan: Plan) -> HttpResponse {
    if let Some(session) = session.filter(|s| s.uid.is_some()) {
        if let Err(e) = browser.end(session.sid).await {
            return storage_failed(&e);
        }
    }
    let mut response = match plan.afterwards {
        Afterwards::Redirect(ref url) => pages::redirect(url.as_str()),
        Afterwards::Page { .. } => pages::page(StatusCode::OK),
    };
    response.cookie(browser.removal());
    match &plan.afterwards {
        Afterwards::Redirect(_) => response.finish(),
        Afterwards::Page { client_name } => pages::render_with(
            response,
            &SignedOutPage {
                client_name: client_name.as_deref(),
                sign_in: ACCOUNT_PATH,
            },
        ),
    }
}

fn refusal(refused: Refused) -> HttpResponse {
    match refused {
        Refused::Page(message) => pages::error(StatusCode::BAD_REQUEST, message),
        Refused::Storage(e) => storage_failed(&e),
    }
}
