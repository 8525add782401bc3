//! The JWKS (RFC 7517): every key whose tokens may still be alive.

use actix_web::{web, HttpResponse};
use serde::Serialize;

use crate::oauth::OAuthError;
use crate::startup::AppState;
use crate::storage::{signing_keys, StorageError};
use crate::tokens::keys::PublicJwk;

#[derive(Serialize)]
struct JwkSet {
    keys: Vec<PublicJwk>,
}

pub async fn jwks(state: web::Data<AppState>) -> Result<HttpResponse, OAuthError> {
    let now = state.clock.now();
    let keys = state
        .db
        .run(move |conn| {
            signing_keys::published(conn, now)?
                .iter()
                .map(PublicJwk::of)
                .collect::<Result<Vec<_>, StorageError>>()
        })
        .await?;
    // Short caching: verifiers refetch on an unknown `kid` anyway.
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "public, max-age=60"))
        .json(JwkSet { keys }))
}
