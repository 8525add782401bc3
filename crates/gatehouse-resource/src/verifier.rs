//! Checking one token: its header, signature and claims, the issuer's keys, and introspection.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::RwLock;

use crate::claims::is_access_token_typ;
use crate::clock::Clock;
use crate::config::{Caller, Verification};
use crate::error::{invalid, rejection, AuthError};

#[derive(Deserialize)]
struct Metadata {
    jwks_uri: String,
    introspection_endpoint: Option<String>,
}

/// Checks tokens; share one per API (`web::Data`).
pub struct TokenVerifier {
    pub(crate) config: Verification,
    http: reqwest::Client,
    jwks_uri: String,
    introspection_endpoint: Option<String>,
    keys: RwLock<HashMap<String, DecodingKey>>,
    /// When an unknown `kid` last caused a fetch: such fetches are rate-limited.
    last_miss_fetch: Mutex<Option<Instant>>,
    fetches: std::sync::atomic::AtomicU64,
    /// Introspection answers by SHA-256 of the token: (active, until).
    introspected: Mutex<HashMap<[u8; 32], (bool, Instant)>>,
}
impl TokenVerifier {
    /// Reads the issuer's RFC 8414 metadata and its JWKS.
    pub async fn discover(config: Verification) -> Result<Self, AuthError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| AuthError::Unavailable(e.to_string()))?;
        let url = format!("{}/.well-known/oauth-authorization-server", config.issuer);
        let metadata: Metadata = fetch_json(&http, &url).await?;
        let verifier = TokenVerifier {
            config,
            http,
            jwks_uri: metadata.jwks_uri,
            introspection_endpoint: metadata.introspection_endpoint,
            keys: RwLock::new(HashMap::new()),
            last_miss_fetch: Mutex::new(None),
            fetches: std::sync::atomic::AtomicU64::new(0),
            introspected: Mutex::new(HashMap::new()),
        };
        verifier.fetch_keys().await?;
        Ok(verifier)
    }

    /// The clock expiry is checked against.
    pub fn clock(&self) -> &Clock {
        &self.config.clock
    }

    /// How many times the JWKS has been fetched (for monitoring a flood of bogus `kid`s).
    pub fn jwks_fetches(&self) -> u64 {
        self.fetches.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Checks `token`; answers the caller it speaks for.
    pub async fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid("malformed token"))?;
        if !is_access_token_typ(header.typ.as_deref()) {
            return Err(invalid("not an access token (typ must be at+jwt)"));
        }
        if !self.config.algorithms.contains(&header.alg) {
            return Err(invalid("signing algorithm not allowed"));
        }
        // gatehouse signs ES256 only in the low-`s` form; the other spelling of the same
        // signature is refused so each token has exactly one (crate::ecdsa).
        if header.alg == Algorithm::ES256 && !crate::ecdsa::jws_has_low_s(token) {
            return Err(invalid("signature not in canonical (low-s) form"));
        }
        let kid = header.kid.ok_or_else(|| invalid("no key id"))?;
        let key = match self.key(&kid).await {
            Some(key) => key,
            None => {
                self.refetch_for_unknown_kid().await?;
                self.key(&kid)
                    .await
                    .ok_or_else(|| invalid("unknown signing key"))?
            }
        };
        let mut validation = Validation::new(header.alg);
        validation.algorithms = self.config.algorithms.clone();
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_audience(&[&self.config.audience]);
        // Expiry is checked below against the configured clock.
        validation.validate_exp = false;
        validation.required_spec_claims = ["iss", "aud", "sub", "exp"]
            .iter()
            .map(|c| c.to_string())
            .collect();
        let data = jsonwebtoken::decode::<Value>(token, &key, &validation)
            .map_err(|e| invalid(rejection(&e)))?;
        let claims = data.claims;
        let now = self.config.clock.now();
        let leeway = self.config.leeway_secs;
        let exp = claims["exp"]
            .as_i64()
            .ok_or_else(|| invalid("exp is not a number"))?;
        if exp + leeway <= now {
            return Err(invalid("expired"));
        }
        if claims["nbf"].as_i64().is_some_and(|nbf| nbf - leeway > now) {
            return Err(invalid("not yet valid"));
        }
        if self.config.introspection.is_some() && !self.active(token).await? {
            return Err(invalid("revoked"));
        }
        let text = |name: &str| claims[name].as_str().unwrap_or_default().to_owned();
        Ok(Caller {
            sub: text("sub"),
            client_id: text("client_id"),
            scopes: claims["scope"]
                .as_str()
                .unwrap_or_default()
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            roles: claims["roles"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r.as_str().map(str::to_owned))
                .collect(),
            claims,
        })
    }

    async fn key(&self, kid: &str) -> Option<DecodingKey> {
        self.keys.read().await.get(kid).cloned()
    }

    /// Fetches the JWKS again, unless it was fetched within the refresh interval.
    async fn refetch_for_unknown_kid(&self) -> Result<(), AuthError> {
        {
            let mut last = self
                .last_miss_fetch
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|t| t.elapsed() < self.config.jwks_refresh_interval) {
                return Ok(());
            }
            *last = Some(Instant::now());
        }
        self.fetch_keys().await
    }

    async fn fetch_keys(&self) -> Result<(), AuthError> {
        self.fetches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let set: JwkSet = fetch_json(&self.http, &self.jwks_uri).await?;
        let keys = set
            .keys
            .iter()
            .filter_map(|jwk| {
                let kid = jwk.common.key_id.clone()?;
                DecodingKey::from_jwk(jwk).ok().map(|key| (kid, key))
            })
            .collect();
        *self.keys.write().await = keys;
        Ok(())
    }

    /// Asks gatehouse whether the token is active, remembering the answer briefly.
    async fn active(&self, token: &str) -> Result<bool, AuthError> {
        let Some(client) = &self.config.introspection else {
            return Ok(true);
        };
        let endpoint = self.introspection_endpoint.as_deref().ok_or_else(|| {
            AuthError::Unavailable("the issuer has no introspection endpoint".into())
        })?;
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        {
            let mut cache = self.introspected.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            cache.retain(|_, (_, until)| *until > now);
            if let Some((active, _)) = cache.get(&hash) {
                return Ok(*active);
            }
        }
        let answer: Value = self
            .http
            .post(endpoint)
            .basic_auth(&client.client_id, Some(&client.client_secret))
            .form(&[("token", token)])
            .send()
            .await
            .map_err(|e| AuthError::Unavailable(e.to_string()))?
            .error_for_status()
            .map_err(|e| AuthError::Unavailable(e.to_string()))?
            .json()
            .await
            .map_err(|e| AuthError::Unavailable(e.to_string()))?;
        let active = answer["active"].as_bool().unwrap_or(false);
        let until = Instant::now() + client.cache_for;
        self.introspected
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(hash, (active, until));
        Ok(active)
    }
}

async fn fetch_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
) -> Result<T, AuthError> {
    http.get(url)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| AuthError::Unavailable(format!("{url}: {e}")))?
        .json()
        .await
        .map_err(|e| AuthError::Unavailable(format!("{url}: {e}")))
}
