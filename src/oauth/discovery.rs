//! What the server publishes about itself: the RFC 8414 metadata's scopes, the JWKS
//! (RFC 7517) of every key whose tokens may still be alive, and whether the database
//! answers (for `/readyz`).

use std::time::Duration;

use crate::domain::{Clock, OAuthError, ScopeSet};
use crate::storage::{clients, signing_keys, Database, StorageError};
use crate::tokens::keys::PublicJwk;

pub struct Discovery {
    db: Database,
    clock: Clock,
    issuer: String,
}

impl Discovery {
    pub fn new(db: Database, clock: Clock, issuer: String) -> Self {
        Discovery { db, clock, issuer }
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Every scope some client is registered for.
    pub async fn scopes_supported(&self) -> Result<ScopeSet, OAuthError> {
        Ok(self.db.run(clients::all_scopes).await?)
    }

    /// The public half of every signing key whose tokens may still be alive.
    pub async fn published_keys(&self) -> Result<Vec<PublicJwk>, OAuthError> {
        let now = self.clock.now();
        Ok(self
            .db
            .run(move |conn| {
                signing_keys::published(conn, now)?
                    .iter()
                    .map(PublicJwk::of)
                    .collect::<Result<Vec<_>, StorageError>>()
            })
            .await?)
    }

    /// Whether the database answers within two seconds; the cause when it does not.
    pub async fn database_answers(&self) -> Result<(), String> {
        let db = self.db.clone();
        match actix_web::rt::task::spawn_blocking(move || db.ping(Duration::from_secs(2))).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("shutting down".into()),
        }
    }
}
