//! What the server publishes about itself: the RFC 8414 metadata's scopes, the JWKS
//! (RFC 7517) of every key whose tokens may still be alive, and whether the database
//! answers (for `/readyz`).

use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::domain::{Clock, OAuthError, ScopeSet};
use crate::storage::{clients, signing_keys, Database, StorageError};
use crate::tokens::keys::PublicJwk;

pub struct Discovery {
    db: Database,
    clock: Clock,
    issuer: String,
    /// How long relying parties may cache the JWKS and these documents.
    max_age_secs: i64,
    origins: RwLock<Option<Origins>>,
}

/// The web origins of every registered redirect URI, as read at `read_at`.
struct Origins {
    read_at: Instant,
    allowed: Arc<HashSet<String>>,
}

/// How long the origins CORS admits are kept before they are read again: a client registered
/// or deleted is seen by every instance within this.
pub const ORIGINS_MAX_AGE: Duration = Duration::from_secs(5);

impl Discovery {
    pub fn new(db: Database, clock: Clock, issuer: String, max_age_secs: i64) -> Self {
        Discovery {
            db,
            clock,
            issuer,
            max_age_secs,
            origins: RwLock::new(None),
        }
    }

    /// Whether a browser app at `origin` may read the public endpoints' answers (CORS): it is
    /// the origin (`scheme://host[:port]`, RFC 6454) of some client's registered redirect
    /// URI. Read from a copy at most [`ORIGINS_MAX_AGE`] old.
    pub async fn admits_origin(&self, origin: &str) -> Result<bool, StorageError> {
        let fresh = |o: &Origins| o.read_at.elapsed() < ORIGINS_MAX_AGE;
        let cached = self
            .origins
            .read()
            .ok()
            .and_then(|o| o.as_ref().filter(|o| fresh(o)).map(|o| o.allowed.clone()));
        let allowed = match cached {
            Some(allowed) => allowed,
            None => {
                let uris = self.db.run(clients::all_redirect_uris).await?;
                let allowed: Arc<HashSet<String>> = Arc::new(
                    uris.iter()
                        .filter_map(|uri| url::Url::parse(uri.as_str()).ok())
                        .map(|url| url.origin())
                        .filter(url::Origin::is_tuple)
                        .map(|origin| origin.ascii_serialization())
                        .collect(),
                );
                if let Ok(mut slot) = self.origins.write() {
                    *slot = Some(Origins {
                        read_at: Instant::now(),
                        allowed: allowed.clone(),
                    });
                }
                allowed
            }
        };
        Ok(allowed.contains(origin))
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The `Cache-Control` of the JWKS and the discovery documents: cacheable by anyone
    /// for `tokens.jwks_max_age_secs`, which the key schedule's lead counts on.
    pub fn cache_control(&self) -> String {
        format!("public, max-age={}", self.max_age_secs)
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
