//! How an [`OAuthError`] becomes an HTTP answer (RFC 6749 §5.2): a JSON body with `error`
//! and `error_description`, `Retry-After` when the client should wait, and `WWW-Authenticate`
//! on `invalid_client`. The cause of a server error is not shown here; the request's log
//! line carries it (`telemetry::log_request`).

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::domain::{ErrorCode, OAuthError};

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    error_description: &'a str,
}

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if let Some(secs) = self.retry_after() {
            response.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        if self.code == ErrorCode::InvalidClient {
            response.insert_header((header::WWW_AUTHENTICATE, r#"Basic realm="gatehouse""#));
        }
        if self.closes_connection() {
            response.force_close();
        }
        response.json(ErrorBody {
            error: self.code.as_str(),
            error_description: &self.description,
        })
    }
}

/// A refused registration request: a bearer-token refusal is an RFC 6750 challenge, any
/// other an RFC 7591 §3.2.2 error body.
impl ResponseError for crate::admin::registration::RegistrationError {
    fn status_code(&self) -> StatusCode {
        use crate::admin::registration::RegistrationError::*;
        match self {
            Bearer(e) => e.status_code(),
            Request(e) => e.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        use crate::admin::registration::RegistrationError::*;
        match self {
            Bearer(e) => e.error_response(),
            Request(e) => e.error_response(),
        }
    }
}

/// A refused admin API call: a bearer-token refusal is an RFC 6750 challenge; a refused
/// operation is 400 `invalid_request`, or 404 `not_found` for what does not exist.
impl ResponseError for crate::admin::api::ApiError {
    fn status_code(&self) -> StatusCode {
        use crate::admin::api::ApiError::*;
        use crate::admin::AdminError;
        match self {
            Bearer(e) => e.status_code(),
            Refused(
                AdminError::NoSuchClient(_) | AdminError::NoSuchUser(_) | AdminError::NoSuchRole(_),
            ) => StatusCode::NOT_FOUND,
            Refused(_) => StatusCode::BAD_REQUEST,
            Request(e) => e.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        use crate::admin::api::ApiError::*;
        match self {
            Bearer(e) => e.error_response(),
            Request(e) => e.error_response(),
            Refused(e) => {
                let status = self.status_code();
                let error = if status == StatusCode::NOT_FOUND {
                    "not_found"
                } else {
                    "invalid_request"
                };
                HttpResponse::build(status).json(ErrorBody {
                    error,
                    error_description: &e.to_string(),
                })
            }
        }
    }
}
