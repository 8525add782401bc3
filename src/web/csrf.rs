//! The guard in front of every form the browser pages post: a well-formed body, a session
//! cookie that opens, and that session's CSRF token. Shared by the login, second-factor,
//! consent, logout and account routes, so it lives below them.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError};

use crate::oauth::request::FormRequest;
use crate::oauth::OAuthError;
use crate::startup::AppState;
use crate::web::pages;
use crate::web::session::Session;

/// Why a posted form is not acted on.
#[derive(Debug)]
pub enum FormRefused {
    /// Not a well-formed form post.
    Malformed(OAuthError),
    /// No session cookie that opens: expired, blocked, or from elsewhere.
    NoSession,
    /// The CSRF token is missing or is not this session's.
    Csrf,
}

impl FormRefused {
    pub fn page(self) -> HttpResponse {
        match self {
            FormRefused::Malformed(e) => {
                let mut page = pages::error(e.status_code(), &e.description);
                if e.closes_connection() {
                    page.head_mut()
                        .set_connection_type(actix_web::http::ConnectionType::Close);
                }
                page
            }
            FormRefused::NoSession => pages::error(
                StatusCode::FORBIDDEN,
                "Your session has expired or cookies are blocked. Go back to the application and start again.",
            ),
            FormRefused::Csrf => pages::error(
                StatusCode::FORBIDDEN,
                "This form has expired or did not come from this site. Go back to the application and start again.",
            ),
        }
    }
}

/// A posted form with its session and a matching CSRF token.
pub async fn form_session(
    req: &HttpRequest,
    state: &AppState,
    form: Result<FormRequest, OAuthError>,
    now: i64,
) -> Result<(FormRequest, Session), FormRefused> {
    let form = form.map_err(FormRefused::Malformed)?;
    let session = state
        .browser
        .read(req, &state.db, now)
        .await
        .ok_or(FormRefused::NoSession)?;
    if !session.csrf_matches(form.param("csrf_token")) {
        return Err(FormRefused::Csrf);
    }
    Ok((form, session))
}

/// A form posted from a page of the flow, checked: its session and its CSRF token.
pub struct Posted {
    pub form: FormRequest,
    pub session: Session,
    pub now: i64,
}

impl Posted {
    pub async fn read(
        req: &HttpRequest,
        state: &AppState,
        form: Result<FormRequest, OAuthError>,
    ) -> Result<Posted, FormRefused> {
        let now = state.clock.now();
        let (form, session) = form_session(req, state, form, now).await?;
        Ok(Posted { form, session, now })
    }
}
