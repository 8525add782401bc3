//! The guard in front of every form the browser pages post: a well-formed body, a session
//! cookie that opens, and that session's CSRF token. [`CsrfForm`] is the extractor the login,
//! second-factor, consent, logout and account routes take, so a handler only ever sees a
//! form that passed; a refusal is answered with the page that explains it.

use std::fmt;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse, ResponseError};
use futures_util::future::LocalBoxFuture;

use crate::oauth::request::FormRequest;
use crate::oauth::OAuthError;
use crate::web::pages;
use crate::web::session::{BrowserSessions, Session};

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
    pub fn page(&self) -> HttpResponse {
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

impl fmt::Display for FormRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FormRefused::Malformed(_) => "malformed form",
            FormRefused::NoSession => "no session",
            FormRefused::Csrf => "CSRF token mismatch",
        })
    }
}

impl ResponseError for FormRefused {
    fn status_code(&self) -> StatusCode {
        match self {
            FormRefused::Malformed(e) => e.status_code(),
            _ => StatusCode::FORBIDDEN,
        }
    }

    fn error_response(&self) -> HttpResponse {
        self.page()
    }
}

/// A form posted from one of gatehouse's pages, checked: its session and its CSRF token.
pub struct CsrfForm {
    pub form: FormRequest,
    pub session: Session,
    /// When it was read, for every expiry the handler judges.
    pub now: i64,
}

impl FromRequest for CsrfForm {
    type Error = FormRefused;
    type Future = LocalBoxFuture<'static, Result<Self, FormRefused>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = FormRequest::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            let form = body.await.map_err(FormRefused::Malformed)?;
            let sessions = req
                .app_data::<web::Data<BrowserSessions>>()
                .expect("startup registers the browser sessions");
            let now = sessions.now();
            let session = sessions
                .read(&req, now)
                .await
                .ok_or(FormRefused::NoSession)?;
            if !session.csrf_matches(form.param("csrf_token")) {
                return Err(FormRefused::Csrf);
            }
            Ok(CsrfForm { form, session, now })
        })
    }
}
