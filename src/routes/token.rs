//! The token, introspection and revocation endpoints: extract, call the token service
//! (`oauth::token_endpoints`), render; `web::headers` marks every answer `no-store`.
//!
//! oxide-auth-actix at the edge: a successful answer is written through its `OAuthResponse`
//! (oxide-auth's `WebResponse`). The other two ends stay gatehouse's own, for these reasons:
//! - the request is read by the strict guard, `FormRequest`, and by nothing else.
//!   oxide-auth-actix's `OAuthRequest` can only be built by `OAuthRequest::new`, which
//!   drops a body that fails to parse or exceeds its limit, turns a repeated parameter into an
//!   absent one, and decodes invalid UTF-8 lossily. Building it from the bytes the guard
//!   accepted would give a second reading of the same body, which could disagree with the first;
//! - errors are written by `web::errors`, not `OAuthResponse`. That type can only answer 200,
//!   302, 400 or 401, and it sets no other header, so it cannot send the 405, 408 (with
//!   `Connection: close`), 413, 429 and 503 (with `Retry-After`) that SPEC.md requires.
//!   The request log also reads a server error's cause from the error itself;
//! - oxide-auth's flows are driven at the `code_grant` level (`oauth::*`), not through
//!   oxide-auth-actix's `Token`/`ClientCredentials`/`Authorize` operations. Those run the
//!   endpoint flows, which write their own errors and answers and have no place for the
//!   back-off, the client held in memory or the code exchange's one transaction.

use actix_web::web;
use oxide_auth::endpoint::WebResponse;
use oxide_auth_actix::OAuthResponse;
use serde::Serialize;

use crate::metrics::Metrics;
use crate::oauth::request::FormRequest;
use crate::oauth::token_endpoints::TokenEndpoints;
use crate::oauth::{ErrorCode, GrantType, OAuthError};

/// RFC 6749 §3.2: dispatch on `grant_type`.
pub async fn token(
    tokens: web::Data<TokenEndpoints>,
    metrics: web::Data<Metrics>,
    request: FormRequest,
) -> Result<OAuthResponse, OAuthError> {
    let grant_type = request.required("grant_type")?;
    let unsupported = || {
        let shown: String = grant_type.chars().take(40).collect();
        OAuthError::new(
            ErrorCode::UnsupportedGrantType,
            format!("unsupported grant_type `{shown}`"),
        )
    };
    let grant = grant_type.parse::<GrantType>().map_err(|_| unsupported())?;
    let tokens = tokens.into_inner();
    let response = match grant {
        GrantType::Password => tokens.password(request).await?,
        GrantType::ClientCredentials => tokens.client_credentials(request).await?,
        GrantType::RefreshToken => tokens.refresh(request).await?,
        GrantType::AuthorizationCode => tokens.authorization_code(request).await?,
    };
    metrics.token_issued(grant);
    json(&response)
}

/// RFC 7662 introspection.
pub async fn introspect(
    tokens: web::Data<TokenEndpoints>,
    request: FormRequest,
) -> Result<OAuthResponse, OAuthError> {
    let answer = tokens.into_inner().introspect(request).await?;
    json(&answer)
}

/// RFC 7009 revocation: 200 with an empty body.
pub async fn revoke(
    tokens: web::Data<TokenEndpoints>,
    request: FormRequest,
) -> Result<OAuthResponse, OAuthError> {
    tokens.into_inner().revoke(request).await?;
    Ok(OAuthResponse::ok())
}

/// A 200 JSON answer.
fn json(value: &impl Serialize) -> Result<OAuthResponse, OAuthError> {
    let body = serde_json::to_string(value).map_err(|e| OAuthError::server_error(&e))?;
    let mut response = OAuthResponse::ok();
    response
        .body_json(&body)
        .map_err(|e| OAuthError::server_error(&format_args!("{e:?}")))?;
    Ok(response)
}
