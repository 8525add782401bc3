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
    // A next key is published a full max-age before it signs: a cached copy always holds
    // the key of any token issued while it is fresh.
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", discovery.cache_control()))
        .json(JwkSet { keys }))
}
