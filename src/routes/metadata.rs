//! RFC 8414 authorization server metadata.

use actix_web::{web, HttpResponse};
use serde::Serialize;

use super::{INTROSPECTION_PATH, JWKS_PATH, REVOCATION_PATH, TOKEN_PATH};

const AUTH_METHODS: &[&str] = &["client_secret_basic", "client_secret_post"];
use crate::oauth::OAuthError;
use crate::startup::AppState;
use crate::storage::clients;

#[derive(Serialize)]
struct Metadata<'a> {
    issuer: &'a str,
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

pub async fn metadata(state: web::Data<AppState>) -> Result<HttpResponse, OAuthError> {
    let scopes = state.db.run(clients::all_scopes).await?;
    let issuer = &state.minter.issuer;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "public, max-age=60"))
        .json(Metadata {
            issuer,
            token_endpoint: format!("{issuer}{TOKEN_PATH}"),
            jwks_uri: format!("{issuer}{JWKS_PATH}"),
            introspection_endpoint: format!("{issuer}{INTROSPECTION_PATH}"),
            revocation_endpoint: format!("{issuer}{REVOCATION_PATH}"),
            introspection_endpoint_auth_methods_supported: AUTH_METHODS,
            revocation_endpoint_auth_methods_supported: AUTH_METHODS,
            grant_types_supported: &["client_credentials", "password", "refresh_token"],
            // The authorization endpoint (and with it `code` and PKCE) is not served yet.
            response_types_supported: &[],
            token_endpoint_auth_methods_supported: AUTH_METHODS,
            code_challenge_methods_supported: &[],
            scopes_supported: scopes.iter().map(str::to_owned).collect(),
        }))
}
