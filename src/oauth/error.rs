//! OAuth error responses (RFC 6749 §5.2): the one place where an error becomes HTTP.

use std::borrow::Cow;
use std::fmt;

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::storage::StorageError;

/// The `error` codes of RFC 6749 §5.2; `Display` is the wire string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The request is missing a parameter, repeats one, or is otherwise malformed.
    InvalidRequest,
    /// Client authentication failed (unknown client, wrong secret, no authentication).
    InvalidClient,
    /// The grant (code, refresh token, password) is invalid, expired or revoked.
    InvalidGrant,
    /// The authenticated client may not use this grant type.
    UnauthorizedClient,
    /// The server does not support this grant type.
    UnsupportedGrantType,
    /// The requested scope is invalid, unknown, malformed, or exceeds what may be granted.
    InvalidScope,
    /// Something failed on our side; the request may be retried.
    ServerError,
    /// Too many failed attempts: wait and retry (answered with 429 and `Retry-After`).
    TemporarilyUnavailable,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::ServerError => "server_error",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
        }
    }

    fn status(self) -> StatusCode {
        match self {
            ErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
            ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::TemporarilyUnavailable => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error answer from the token (and later introspection and revocation) endpoints.
#[derive(Debug, Clone)]
pub struct OAuthError {
    pub code: ErrorCode,
    pub description: Cow<'static, str>,
    status: StatusCode,
    /// Seconds for `Retry-After`.
    retry_after: Option<i64>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    error_description: &'a str,
}

impl OAuthError {
    pub fn new(code: ErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        OAuthError {
            code,
            description: description.into(),
            status: code.status(),
            retry_after: None,
        }
    }

    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidRequest, description)
    }

    pub fn invalid_client(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidClient, description)
    }

    pub fn invalid_grant(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidGrant, description)
    }

    pub fn invalid_scope(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidScope, description)
    }

    /// A body over the configured limit: `invalid_request` with 413.
    pub fn too_large(limit: usize) -> Self {
        OAuthError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            ..Self::invalid_request(format!("request body is larger than {limit} bytes"))
        }
    }

    /// A body that did not arrive in full within `timeout`: `invalid_request` with 408.
    pub fn body_timeout(timeout: std::time::Duration) -> Self {
        OAuthError {
            status: StatusCode::REQUEST_TIMEOUT,
            ..Self::invalid_request(format!(
                "the request body did not arrive within {} ms",
                timeout.as_millis()
            ))
        }
    }

    /// Whether the connection must close after this answer: after a 408 the rest of the
    /// body may still be on its way, so the connection cannot carry another request
    /// (RFC 9110 §15.5.9).
    pub fn closes_connection(&self) -> bool {
        self.status == StatusCode::REQUEST_TIMEOUT
    }

    /// A request with the wrong method: `invalid_request` with 405.
    pub fn method_not_allowed(allowed: &'static str) -> Self {
        OAuthError {
            status: StatusCode::METHOD_NOT_ALLOWED,
            ..Self::invalid_request(format!("this endpoint only accepts {allowed}"))
        }
    }

    /// Too many failed client authentications: 429 with `Retry-After`.
    pub fn too_many_failures(retry_after: i64) -> Self {
        OAuthError {
            retry_after: Some(retry_after.max(1)),
            ..Self::new(
                ErrorCode::TemporarilyUnavailable,
                format!(
                    "too many failed attempts; retry after {} seconds",
                    retry_after.max(1)
                ),
            )
        }
    }

    /// No place in the password line: 503 when the whole line is full (the server is busy),
    /// 429 when this username or address already has its share; `Retry-After` either way.
    pub fn password_line_busy(busy: crate::accounts::password::Busy) -> Self {
        use crate::accounts::password::Busy;
        let status = match busy {
            Busy::Full => StatusCode::SERVICE_UNAVAILABLE,
            Busy::TooManyFor(_) => StatusCode::TOO_MANY_REQUESTS,
        };
        OAuthError {
            status,
            retry_after: Some(Busy::RETRY_AFTER_SECS as i64),
            ..Self::new(
                ErrorCode::TemporarilyUnavailable,
                format!("{busy}; retry after {} second", Busy::RETRY_AFTER_SECS),
            )
        }
    }

    /// An unexpected failure. The cause is logged here; the client learns nothing of it.
    pub fn server_error(cause: &dyn fmt::Display) -> Self {
        tracing::error!(error = %cause, "request failed");
        Self::new(
            ErrorCode::ServerError,
            "the server could not complete the request",
        )
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.description)
    }
}

impl From<crate::tokens::jwt::SigningError> for OAuthError {
    fn from(e: crate::tokens::jwt::SigningError) -> Self {
        OAuthError::server_error(&e)
    }
}

impl From<StorageError> for OAuthError {
    fn from(e: StorageError) -> Self {
        OAuthError::server_error(&e)
    }
}

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        response
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::PRAGMA, "no-cache"));
        if let Some(secs) = self.retry_after {
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
