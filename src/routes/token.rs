//! The token endpoint (RFC 6749 §3.2): dispatch on `grant_type`, run the grant's flow on the
//! blocking pool, answer with `no-store`.

use actix_web::http::header;
use actix_web::{web, HttpResponse};

use crate::oauth::issuer::TokenResponse;
use crate::oauth::request::FormRequest;
use crate::oauth::{client_credentials, ErrorCode, GrantType, OAuthError};
use crate::startup::AppState;
use crate::storage::unix_now;

pub async fn token(
    state: web::Data<AppState>,
    request: FormRequest,
) -> Result<HttpResponse, OAuthError> {
    let grant_type = request
        .param("grant_type")
        .ok_or_else(|| OAuthError::invalid_request("grant_type is required"))?;
    let unsupported = || {
        OAuthError::new(
            ErrorCode::UnsupportedGrantType,
            format!(
                "unsupported grant_type `{}`",
                grant_type.chars().take(40).collect::<String>()
            ),
        )
    };
    let response = match grant_type.parse::<GrantType>().map_err(|_| unsupported())? {
        GrantType::ClientCredentials => web::block(move || {
            let mut conn = state.db.connection()?;
            client_credentials::grant(&state.minter, &mut conn, &request, unix_now())
        })
        .await
        .map_err(|e| OAuthError::server_error(&e))??,
        // Added with users (password, refresh) and the login pages (authorization code).
        GrantType::AuthorizationCode | GrantType::Password | GrantType::RefreshToken => {
            return Err(unsupported())
        }
    };
    Ok(token_response(&response))
}

/// A successful token response: never cached (RFC 6749 §5.1).
pub fn token_response(body: &TokenResponse) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(body)
}
