//! The token, introspection and revocation endpoints: extract, call the token service
//! (`oauth::token_endpoints`), render; `web::headers` marks every answer `no-store`.

use actix_web::{web, HttpResponse};

use crate::oauth::request::FormRequest;
use crate::oauth::token_endpoints::TokenEndpoints;
use crate::oauth::{ErrorCode, GrantType, OAuthError};

/// RFC 6749 §3.2: dispatch on `grant_type`.
pub async fn token(
    tokens: web::Data<TokenEndpoints>,
    request: FormRequest,
) -> Result<HttpResponse, OAuthError> {
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
    Ok(HttpResponse::Ok().json(response))
}

/// RFC 7662 introspection.
pub async fn introspect(
    tokens: web::Data<TokenEndpoints>,
    request: FormRequest,
) -> Result<HttpResponse, OAuthError> {
    let answer = tokens.into_inner().introspect(request).await?;
    Ok(HttpResponse::Ok().json(answer))
}

/// RFC 7009 revocation: 200 with an empty body.
pub async fn revoke(
    tokens: web::Data<TokenEndpoints>,
    request: FormRequest,
) -> Result<HttpResponse, OAuthError> {
    tokens.into_inner().revoke(request).await?;
    Ok(HttpResponse::Ok().finish())
}
