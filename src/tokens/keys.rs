//! ES256 (P-256) signing keys: created on first start, kept in the database so every
//! instance signs with the same key, rotated with `gatehouse keys rotate`. The private key
//! is stored wrapped with the key-encryption key (`kek`), never in the clear.
//!
//! A rotated-out key stays in the JWKS until every token it signed has expired.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::DecodingKey;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::kek::{KeyEncryptionKey, KeyKind};
use crate::storage::signing_keys::{self, StoredKey};
use crate::storage::{DbConnection, StorageError};
use gatehouse_resource::claims::AccessTokenClaims;

pub const ALGORITHM: &str = "ES256";

/// Clock skew allowed to verifiers: a retired key stays published this much longer.
pub const PUBLISH_LEEWAY_SECS: i64 = 60;

/// A public key as published in the JWKS (RFC 7517, RFC 7518 §6.2).
#[derive(Debug, Clone, Serialize)]
pub struct PublicJwk {
    pub kty: &'static str,
    pub crv: &'static str,
    pub x: String,
    pub y: String,
    pub kid: String,
    #[serde(rename = "use")]
    pub use_: &'static str,
    pub alg: &'static str,
}

/// Splits a SEC1 uncompressed P-256 point (0x04 || x || y) into its coordinates.
fn coordinates(public_key: &[u8]) -> Option<(String, String)> {
    match public_key {
        [0x04, rest @ ..] if rest.len() == 64 => Some((
            URL_SAFE_NO_PAD.encode(&rest[..32]),
            URL_SAFE_NO_PAD.encode(&rest[32..]),
        )),
        _ => None,
    }
}

impl PublicJwk {
    pub fn of(key: &StoredKey) -> Result<Self, StorageError> {
        let (x, y) = coordinates(&key.public_key)
            .ok_or_else(|| StorageError::Corrupt(format!("public key of {}", key.kid)))?;
        Ok(PublicJwk {
            kty: "EC",
            crv: "P-256",
            x,
            y,
            kid: key.kid.clone(),
            use_: "sig",
            alg: ALGORITHM,
        })
    }
}

/// Creates a fresh key pair, its private key wrapped with `kek`. Its `kid` is the RFC 7638
/// JWK thumbprint of the public key (so the wrapping, bound to the `kid`, is bound to the
/// public key too).
pub fn generate(kek: &KeyEncryptionKey, now: i64) -> StoredKey {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .expect("P-256 key generation succeeds");
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
        .expect("a generated key parses");
    let public_key = pair.public_key().as_ref().to_vec();
    let (x, y) = coordinates(&public_key).expect("P-256 public keys are uncompressed points");
    // RFC 7638 §3.2: required members only, in lexicographic order, no white space.
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
    StoredKey {
        private_key: kek.wrap(KeyKind::Signing, &kid, pkcs8.as_ref()),
        wrapped_by: Some(kek.fingerprint().to_owned()),
        kid,
        algorithm: ALGORITHM.to_owned(),
        public_key,
        created_at: now,
        retired_at: None,
        publish_until: None,
    }
}

/// Makes a new current key; the old ones stay published until their tokens have expired.
pub fn rotate(
    conn: &mut DbConnection,
    kek: &KeyEncryptionKey,
    access_token_ttl_secs: i64,
    now: i64,
) -> Result<StoredKey, StorageError> {
    let key = generate(kek, now);
    signing_keys::rotate_to(
        conn,
        &key,
        now + access_token_ttl_secs + PUBLISH_LEEWAY_SECS,
    )?;
    Ok(key)
}

/// The current key, creating the first one on a fresh database.
pub fn ensure_current(
    conn: &mut DbConnection,
    kek: &KeyEncryptionKey,
    access_token_ttl_secs: i64,
    now: i64,
) -> Result<StoredKey, StorageError> {
    match signing_keys::current(conn)? {
        Some(key) => Ok(key),
        None => rotate(conn, kek, access_token_ttl_secs, now),
    }
}

/// The key this process signs with, parsed once and shared by every request.
pub struct SigningKey {
    pub kid: String,
    /// PKCS#8 DER, handed to jsonwebtoken's signer.
    pub(crate) pkcs8: Vec<u8>,
    /// The base64url JOSE header of every access token this key signs (`typ` `at+jwt`).
    pub(crate) encoded_header: String,
    /// The same for id_tokens (`typ` `JWT`, which relying parties expect; RFC 9068 §4 is
    /// why the two never pass for each other).
    pub(crate) encoded_id_header: String,
}

impl SigningKey {
    fn from_stored(key: StoredKey, kek: &KeyEncryptionKey) -> Result<Self, StorageError> {
        if key.algorithm != ALGORITHM {
            return Err(StorageError::Corrupt(format!(
                "key {} uses {}",
                key.kid, key.algorithm
            )));
        }
        if key.wrapped_by.as_deref() != Some(kek.fingerprint()) {
            return Err(StorageError::Corrupt(format!(
                "signing key {} is not wrapped with the configured key-encryption key (restart to check the keys)",
                key.kid
            )));
        }
        let pkcs8 = kek
            .unwrap(KeyKind::Signing, &key.kid, &key.private_key)
            .map_err(|e| StorageError::Corrupt(e.to_string()))?;
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8)
            .map_err(|_| StorageError::Corrupt(format!("private key of {}", key.kid)))?;
        let header = |typ: &str| {
            let header = serde_json::json!({ "alg": ALGORITHM, "typ": typ, "kid": key.kid });
            URL_SAFE_NO_PAD.encode(header.to_string())
        };
        Ok(SigningKey {
            encoded_header: header("at+jwt"),
            encoded_id_header: header("JWT"),
            kid: key.kid,
            pkcs8,
        })
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// The current signing key, re-read from the database now and then so a rotation made by
/// another instance or the CLI is picked up without a restart; and the published public
/// keys, for checking tokens without a query.
pub struct Keyring {
    /// Unwraps the private keys read from the database, wraps the ones made here.
    kek: Arc<KeyEncryptionKey>,
    current: RwLock<Arc<SigningKey>>,
    published: RwLock<HashMap<String, DecodingKey>>,
    /// Tokens whose signature already checked out, by SHA-256 of the token. A signature
    /// never changes its verdict, so APIs introspecting the same token again skip the ECDSA
    /// verification; expiry and revocation are still checked on every call.
    verified: Mutex<HashMap<[u8; 32], AccessTokenClaims>>,
    /// When an unknown `kid` last made us re-read the keys: forged tokens with made-up
    /// `kid`s must not turn into one database read each.
    reloaded_at: Mutex<Option<Instant>>,
}

/// An unknown `kid` re-reads the keys at most this often.
const UNKNOWN_KID_RELOAD_INTERVAL: Duration = Duration::from_secs(1);

/// Verified signatures remembered at most; the cache starts over when full.
const VERIFIED_CACHE_ENTRIES: usize = 16_384;

fn decoding_keys(
    conn: &mut DbConnection,
    now: i64,
) -> Result<HashMap<String, DecodingKey>, StorageError> {
    let mut keys = HashMap::new();
    for stored in signing_keys::published(conn, now)? {
        let jwk = PublicJwk::of(&stored)?;
        let key = DecodingKey::from_ec_components(&jwk.x, &jwk.y)
            .map_err(|e| StorageError::Corrupt(format!("public key of {}: {e}", jwk.kid)))?;
        keys.insert(jwk.kid, key);
    }
    Ok(keys)
}

impl Keyring {
    /// Loads the current key, creating one on a fresh database.
    pub fn load(
        conn: &mut DbConnection,
        kek: Arc<KeyEncryptionKey>,
        access_token_ttl_secs: i64,
        now: i64,
    ) -> Result<Self, StorageError> {
        let stored = ensure_current(conn, &kek, access_token_ttl_secs, now)?;
        let key = SigningKey::from_stored(stored, &kek)?;
        Ok(Keyring {
            kek,
            current: RwLock::new(Arc::new(key)),
            published: RwLock::new(decoding_keys(conn, now)?),
            verified: Mutex::new(HashMap::new()),
            reloaded_at: Mutex::new(None),
        })
    }

    /// The public key published under `kid`; an unknown `kid` re-reads the database, for
    /// keys made by another instance since the last refresh, at most once a second.
    pub fn verifying_key(
        &self,
        conn: &mut DbConnection,
        kid: &str,
        now: i64,
    ) -> Result<Option<DecodingKey>, StorageError> {
        if let Some(key) = self
            .published
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(kid)
        {
            return Ok(Some(key.clone()));
        }
        {
            let mut at = self.reloaded_at.lock().unwrap_or_else(|e| e.into_inner());
            if at.is_some_and(|t| t.elapsed() < UNKNOWN_KID_RELOAD_INTERVAL) {
                return Ok(None);
            }
            *at = Some(Instant::now());
        }
        let keys = decoding_keys(conn, now)?;
        let found = keys.get(kid).cloned();
        *self.published.write().unwrap_or_else(|e| e.into_inner()) = keys;
        Ok(found)
    }

    /// The claims of a token whose signature was verified before.
    pub fn remembered(&self, token_hash: &[u8; 32]) -> Option<AccessTokenClaims> {
        self.verified
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(token_hash)
            .cloned()
    }

    pub fn remember(&self, token_hash: [u8; 32], claims: &AccessTokenClaims) {
        let mut cache = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= VERIFIED_CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(token_hash, claims.clone());
    }

    pub fn current(&self) -> Arc<SigningKey> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Re-reads the current key; answers whether it changed.
    pub fn refresh(
        &self,
        conn: &mut DbConnection,
        access_token_ttl_secs: i64,
        now: i64,
    ) -> Result<bool, StorageError> {
        let stored = ensure_current(conn, &self.kek, access_token_ttl_secs, now)?;
        *self.published.write().unwrap_or_else(|e| e.into_inner()) = decoding_keys(conn, now)?;
        if stored.kid == self.current().kid {
            return Ok(false);
        }
        let key = Arc::new(SigningKey::from_stored(stored, &self.kek)?);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = key;
        Ok(true)
    }
}
