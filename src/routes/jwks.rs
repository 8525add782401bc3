//! The JWKS (RFC 7517): every key whose tokens may still be alive.

use actix_web::{web, HttpResponse};
use serde::Serialize;

use crate::domain::OAuthError;
use crate::oauth::discovery::Discovery;
use crate::tokens::keys::PublicJwk;

#[derive(Serialize)]
struct JwkSet {
    keys: Vec<PublicJwk>,
}

pub async fn jwks(discovery: web::Data<Discovery>) -> Result<HttpResponse, OAuthError> {
    let keys = discovery.published_keys().await?;
    // Short caching: verifiers refetch on an unknown `kid` anyway.
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "public, max-age=60"))
        .json(JwkSet { keys }))
}
