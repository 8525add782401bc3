//! OAuth errors (RFC 6749 §5.2) as values: the `error` code, the description the client
//! reads, the HTTP status and, for server errors, the cause the operator reads. The web layer
//! turns them into responses (`web::errors`) and logs the cause once, at the request
//! boundary (`telemetry::log_request`).

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

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
    /// Dynamic registration (RFC 7591 §3.2.2): a redirect URI is missing or not allowed.
    InvalidRedirectUri,
    /// Dynamic registration: some other client metadata is invalid.
    InvalidClientMetadata,
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
            ErrorCode::InvalidRedirectUri => "invalid_redirect_uri",
            ErrorCode::InvalidClientMetadata => "invalid_client_metadata",
        }
    }

    fn status(self) -> u16 {
        match self {
            ErrorCode::InvalidClient => 401,
            ErrorCode::ServerError => 500,
            ErrorCode::TemporarilyUnavailable => 429,
            _ => 400,
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
    status: u16,
    /// Seconds for `Retry-After`.
    retry_after: Option<i64>,
    /// Why a server error happened, for the log; never shown to the client.
    cause: Option<Arc<str>>,
}

impl OAuthError {
    pub fn new(code: ErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        OAuthError {
            code,
            description: description.into(),
            status: code.status(),
            retry_after: None,
            cause: None,
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
            status: 413,
            ..Self::invalid_request(format!("request body is larger than {limit} bytes"))
        }
    }

    /// A body that did not arrive in full within `timeout`: `invalid_request` with 408.
    pub fn body_timeout(timeout: std::time::Duration) -> Self {
        OAuthError {
            status: 408,
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
        self.status == 408
    }

    /// A request with the wrong method: `invalid_request` with 405.
    pub fn method_not_allowed(allowed: &'static str) -> Self {
        OAuthError {
            status: 405,
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

    /// Busy (503, `Retry-After`) or rate-limited (429): `temporarily_unavailable` with
    /// this description.
    pub fn unavailable(status: u16, retry_after: i64, description: String) -> Self {
        OAuthError {
            status,
            retry_after: Some(retry_after.max(1)),
            ..Self::new(ErrorCode::TemporarilyUnavailable, description)
        }
    }

    /// The database is down, restarting or fully busy: 503 `temporarily_unavailable` with
    /// `Retry-After`, so clients retry instead of treating it as a bug. The cause is kept for
    /// the request's log line, as a server error's is.
    pub fn database_unavailable(retry_after: i64, cause: &dyn fmt::Display) -> Self {
        OAuthError {
            cause: Some(cause.to_string().into()),
            ..Self::unavailable(
                503,
                retry_after,
                "the service is unavailable for a moment; retry shortly".to_owned(),
            )
        }
    }

    /// An unexpected failure. The cause is kept for the request's log line; the client
    /// learns nothing of it.
    pub fn server_error(cause: &dyn fmt::Display) -> Self {
        OAuthError {
            cause: Some(cause.to_string().into()),
            ..Self::new(
                ErrorCode::ServerError,
                "the server could not complete the request",
            )
        }
    }

    pub fn status(&self) -> u16 {
        self.status
    }

    pub fn retry_after(&self) -> Option<i64> {
        self.retry_after
    }

    /// The cause of a server error, for the log.
    pub fn cause(&self) -> Option<&str> {
        self.cause.as_deref()
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.description)
    }
}
