//! Refusals, answered as RFC 6750 §3 challenges.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};

/// What `Retry-After` says when a token could not be checked for now (the keys or the
/// issuer's database out of reach): the caller retries instead of treating it as a refusal.
pub const UNAVAILABLE_RETRY_AFTER_SECS: u32 = 2;

/// Why a request is refused.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthError {
    #[error("no bearer token")]
    Missing,
    #[error("invalid token: {0}")]
    InvalidToken(String),
    #[error("the token lacks the scope {0}")]
    InsufficientScope(String),
    /// 503 with `Retry-After`: the keys, the issuer or its database out of reach for now.
    #[error("the token could not be checked: {0}")]
    Unavailable(String),
}

impl ResponseError for AuthError {
    fn status_code(&self) -> StatusCode {
        match self {
            AuthError::Missing | AuthError::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            AuthError::InsufficientScope(_) => StatusCode::FORBIDDEN,
            AuthError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let quote = |s: &str| s.replace(['"', '\\'], "");
        let challenge = match self {
            AuthError::Missing => "Bearer".to_owned(),
            AuthError::InvalidToken(why) => {
                format!(
                    r#"Bearer error="invalid_token", error_description="{}""#,
                    quote(why)
                )
            }
            AuthError::InsufficientScope(scope) => format!(
                r#"Bearer error="insufficient_scope", scope="{}""#,
                quote(scope)
            ),
            AuthError::Unavailable(_) => "Bearer".to_owned(),
        };
        let mut response = HttpResponse::build(self.status_code());
        if let AuthError::Unavailable(_) = self {
            response.insert_header((header::RETRY_AFTER, UNAVAILABLE_RETRY_AFTER_SECS));
        }
        response
            .insert_header((header::WWW_AUTHENTICATE, challenge))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(
                serde_json::json!({ "error": self.code(), "error_description": self.to_string() }),
            )
    }
}

impl AuthError {
    fn code(&self) -> &'static str {
        match self {
            AuthError::Missing => "missing_token",
            AuthError::InvalidToken(_) => "invalid_token",
            AuthError::InsufficientScope(_) => "insufficient_scope",
            AuthError::Unavailable(_) => "temporarily_unavailable",
        }
    }
}

/// Why jsonwebtoken refused a token, in words for `error_description`.
#[cfg(feature = "client")]
pub(crate) fn rejection(e: &jsonwebtoken::errors::Error) -> &'static str {
    use jsonwebtoken::errors::ErrorKind;
    match e.kind() {
        ErrorKind::InvalidSignature => "bad signature",
        ErrorKind::InvalidIssuer => "wrong issuer",
        ErrorKind::InvalidAudience => "wrong audience",
        ErrorKind::InvalidAlgorithm => "signing algorithm not allowed",
        ErrorKind::MissingRequiredClaim(_) => "a required claim is missing",
        _ => "malformed token",
    }
}

pub fn invalid(why: impl Into<String>) -> AuthError {
    AuthError::InvalidToken(why.into())
}
