//! The token endpoint (RFC 6749 §3.2): dispatch on `grant_type`, run the grant's flow on the
//! blocking pool, answer with `no-store`.

use actix_web::http::header;
use actix_web::{web, HttpResponse};

use crate::oauth::issuer::TokenResponse;
use crate::oauth::request::FormRequest;
use crate::oauth::{
    client_credentials, introspection, password_grant, refresh, revocation, ErrorCode, GrantType,
    OAuthError,
};
use crate::startup::AppState;

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
            client_credentials::grant(&state.minter, &mut conn, &request, state.clock.now())
        })
        .await
        .map_err(|e| OAuthError::server_error(&e))??,
        GrantType::Password => password_grant::grant(state, request).await?,
        GrantType::RefreshToken => web::block(move || {
            let mut conn = state.db.connection()?;
            refresh::grant(
                &mut conn,
                &state.minter,
                &state.sessions,
                &request,
                state.clock.now(),
            )
        })
        .await
        .map_err(|e| OAuthError::server_error(&e))??,
        // Comes with the login and consent pages.
        GrantType::AuthorizationCode => return Err(unsupported()),
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

/// RFC 7662 introspection.
pub async fn introspect(
    state: web::Data<AppState>,
    request: FormRequest,
) -> Result<HttpResponse, OAuthError> {
    let answer = web::block(move || {
        let mut conn = state.db.connection()?;
        introspection::introspect(&mut conn, &state.minter, &request, state.clock.now())
    })
    .await
    .map_err(|e| OAuthError::server_error(&e))??;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(answer))
}

/// RFC 7009 revocation: 200 with an empty body.
pub async fn revoke(
    state: web::Data<AppState>,
    request: FormRequest,
) -> Result<HttpResponse, OAuthError> {
    web::block(move || {
        let mut conn = state.db.connection()?;
        revocation::revoke(&mut conn, &state.minter, &request, state.clock.now())
    })
    .await
    .map_err(|e| OAuthError::server_error(&e))??;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}
