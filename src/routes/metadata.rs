//! RFC 8414 authorization server metadata.

use actix_web::{web, HttpResponse};
use serde::Serialize;

use super::{AUTHORIZE_PATH, INTROSPECTION_PATH, JWKS_PATH, REVOCATION_PATH, TOKEN_PATH};

const AUTH_METHODS: &[&str] = &["client_secret_basic", "client_secret_post"];
/// Public clients authenticate with their `client_id` alone (RFC 8414 §2: "none").
const TOKEN_AUTH_METHODS: &[&str] = &["client_secret_basic", "client_secret_post", "none"];
use crate::domain::OAuthError;
use crate::oauth::discovery::Discovery;

#[derive(Serialize)]
struct Metadata<'a> {
    issuer: &'a str,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    introspection_endpoint: String,
    revocation_endpoint: String,
    introspection_endpoint_auth_methods_supported: &'a [&'a str],
    revocation_endpoint_auth_methods_supported: &'a [&'a str],
    grant_types_supported: &'a [&'a str],
    response_types_supported: &'a [&'a str],
    token_endpoint_auth_methods_supported: &'a [&'a str],
    code_challenge_methods_supported: &'a [&'a str],
    scopes_supported: Vec<String>,
}

pub async fn metadata(discovery: web::Data<Discovery>) -> Result<HttpResponse, OAuthError> {
    let scopes = discovery.scopes_supported().await?;
    let issuer = discovery.issuer();
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "public, max-age=60"))
        .json(Metadata {
            issuer,
            authorization_endpoint: format!("{issuer}{AUTHORIZE_PATH}"),
            token_endpoint: format!("{issuer}{TOKEN_PATH}"),
            jwks_uri: format!("{issuer}{JWKS_PATH}"),
            introspection_endpoint: format!("{issuer}{INTROSPECTION_PATH}"),
            revocation_endpoint: format!("{issuer}{REVOCATION_PATH}"),
            introspection_endpoint_auth_methods_supported: AUTH_METHODS,
            revocation_endpoint_auth_methods_supported: AUTH_METHODS,
            grant_types_supported: &[
                "authorization_code",
                "client_credentials",
                "password",
                "refresh_token",
            ],
            response_types_supported: &["code"],
            token_endpoint_auth_methods_supported: TOKEN_AUTH_METHODS,
            code_challenge_methods_supported: &["S256"],
            scopes_supported: scopes.iter().map(str::to_owned).collect(),
        }))
}
