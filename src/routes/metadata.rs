//! RFC 8414 authorization server metadata, and the OpenID Connect Discovery 1.0 document:
//! the same endpoints, plus what a relying party needs.

use actix_web::{web, HttpResponse};
use serde::Serialize;

use super::{
    AUTHORIZE_PATH, END_SESSION_PATH, INTROSPECTION_PATH, JWKS_PATH, REGISTRATION_PATH,
    REVOCATION_PATH, TOKEN_PATH, USERINFO_PATH,
};
use crate::domain::{OAuthError, IDENTITY_SCOPES};
use crate::oauth::discovery::Discovery;

const AUTH_METHODS: &[&str] = &["client_secret_basic", "client_secret_post"];
/// Public clients authenticate with their `client_id` alone (RFC 8414 §2: "none").
const TOKEN_AUTH_METHODS: &[&str] = &["client_secret_basic", "client_secret_post", "none"];
/// Every claim an id_token or userinfo may carry (SPEC "OpenID Connect").
const CLAIMS: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "at_hash",
    "amr",
    "sid",
    "preferred_username",
    "name",
    "email",
    "email_verified",
];

#[derive(Serialize)]
struct Metadata<'a> {
    issuer: &'a str,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    introspection_endpoint: String,
    revocation_endpoint: String,
    /// RFC 7591, with an admin token (SPEC "Administration over HTTP").
    registration_endpoint: String,
    introspection_endpoint_auth_methods_supported: &'a [&'a str],
    revocation_endpoint_auth_methods_supported: &'a [&'a str],
    grant_types_supported: &'a [&'a str],
    response_types_supported: &'a [&'a str],
    response_modes_supported: &'a [&'a str],
    token_endpoint_auth_methods_supported: &'a [&'a str],
    code_challenge_methods_supported: &'a [&'a str],
    scopes_supported: Vec<String>,
    /// RFC 9207: every authorization response names the issuer.
    authorization_response_iss_parameter_supported: bool,
}

/// Discovery 1.0 §3: the RFC 8414 fields, and these.
#[derive(Serialize)]
struct OpenIdConfiguration<'a> {
    #[serde(flatten)]
    oauth: Metadata<'a>,
    userinfo_endpoint: String,
    end_session_endpoint: String,
    subject_types_supported: &'a [&'a str],
    id_token_signing_alg_values_supported: &'a [&'a str],
    claims_supported: &'a [&'a str],
    claims_parameter_supported: bool,
    request_parameter_supported: bool,
    request_uri_parameter_supported: bool,
    prompt_values_supported: &'a [&'a str],
}

/// The RFC 8414 document; its `scopes_supported` are the scopes some client is registered
/// for, and with `identity` the OpenID Connect scopes too (Discovery 1.0 §3 asks for
/// `openid`, and every user may share their identity).
async fn metadata_of(discovery: &Discovery, identity: bool) -> Result<Metadata<'_>, OAuthError> {
    let mut scopes = discovery.scopes_supported().await?;
    if identity {
        scopes.extend(IDENTITY_SCOPES.iter().map(|s| (*s).to_owned()).collect());
    }
    let issuer = discovery.issuer();
    Ok(Metadata {
        issuer,
        authorization_endpoint: format!("{issuer}{AUTHORIZE_PATH}"),
        token_endpoint: format!("{issuer}{TOKEN_PATH}"),
        jwks_uri: format!("{issuer}{JWKS_PATH}"),
        introspection_endpoint: format!("{issuer}{INTROSPECTION_PATH}"),
        revocation_endpoint: format!("{issuer}{REVOCATION_PATH}"),
        registration_endpoint: format!("{issuer}{REGISTRATION_PATH}"),
        introspection_endpoint_auth_methods_supported: AUTH_METHODS,
        revocation_endpoint_auth_methods_supported: AUTH_METHODS,
        grant_types_supported: &[
            "authorization_code",
            "client_credentials",
            "password",
            "refresh_token",
        ],
        response_types_supported: &["code"],
        response_modes_supported: &["query"],
        token_endpoint_auth_methods_supported: TOKEN_AUTH_METHODS,
        code_challenge_methods_supported: &["S256"],
        scopes_supported: scopes.iter().map(str::to_owned).collect(),
        authorization_response_iss_parameter_supported: true,
    })
}

fn published(discovery: &Discovery, body: impl Serialize) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", discovery.cache_control()))
        .json(body)
}

pub async fn metadata(discovery: web::Data<Discovery>) -> Result<HttpResponse, OAuthError> {
    Ok(published(&discovery, metadata_of(&discovery, false).await?))
}

pub async fn openid_configuration(
    discovery: web::Data<Discovery>,
) -> Result<HttpResponse, OAuthError> {
    let oauth = metadata_of(&discovery, true).await?;
    let issuer = discovery.issuer();
    Ok(published(
        &discovery,
        OpenIdConfiguration {
            userinfo_endpoint: format!("{issuer}{USERINFO_PATH}"),
            end_session_endpoint: format!("{issuer}{END_SESSION_PATH}"),
            subject_types_supported: &["public"],
            id_token_signing_alg_values_supported: &["ES256"],
            claims_supported: CLAIMS,
            claims_parameter_supported: false,
            request_parameter_supported: false,
            request_uri_parameter_supported: false,
            prompt_values_supported: &["none", "login", "consent", "select_account"],
            oauth,
        },
    ))
}
