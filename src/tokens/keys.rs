//! ES256 (P-256) signing keys: created on first start, kept in the database so every
//! instance signs with the same key, rotated on a [`Schedule`] (and at once, in an
//! emergency, with `gatehouse keys rotate`). The private key is stored wrapped with the
//! key-encryption key (`kek`), never in the clear.
//!
//! A scheduled next key is published the moment it is made and signs only [`Schedule::lead_secs`]
//! later, so a relying party's cached JWKS always holds the key of any token it is shown; a
//! key that stops signing stays in the JWKS until every token it signed has expired. Each
//! instance switches to the next key on its own clock at the key's `signs_from`, having read
//! it well before (the lead covers its refresh interval).

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
use crate::storage::security_events::{self, Event, EventKind};
use crate::storage::signing_keys::{self, StoredKey};
use crate::storage::{DbConnection, StorageError};
use gatehouse_resource::claims::AccessTokenClaims;

pub const ALGORITHM: &str = "ES256";

/// Clock skew allowed between gatehouse's instances and the verifiers: a retired key stays
/// published this much longer, and a next key is published this much earlier.
pub const PUBLISH_LEEWAY_SECS: i64 = 60;

/// When signing keys rotate, and the times that keep every token verifiable through it
/// (`tokens.*` settings; every instance on one database should share them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// How long a key signs before its successor takes over; 0: never on a schedule.
    pub rotation_period_secs: i64,
    /// How long a relying party may cache the JWKS (its `Cache-Control: max-age`).
    pub jwks_max_age_secs: i64,
    /// How often every instance re-reads the keys.
    pub refresh_secs: i64,
    pub access_token_ttl_secs: i64,
}

impl Schedule {
    pub fn of(tokens: &crate::settings::TokenSettings) -> Self {
        Schedule {
            rotation_period_secs: tokens.key_rotation_period_secs,
            jwks_max_age_secs: tokens.jwks_max_age_secs,
            refresh_secs: tokens.key_refresh_secs as i64,
            access_token_ttl_secs: tokens.access_token_ttl_secs,
        }
    }

    /// How long a next key is in the JWKS before it signs: a JWKS fetched just before the
    /// key appeared is cached `jwks_max_age_secs`; every instance reads the key within
    /// `refresh_secs`, so all of them know it before it signs; and the clocks of the
    /// instance that made it, the ones that switch to it and the verifiers may differ by
    /// [`PUBLISH_LEEWAY_SECS`].
    pub fn lead_secs(&self) -> i64 {
        self.jwks_max_age_secs + self.refresh_secs + PUBLISH_LEEWAY_SECS
    }

    /// Until when a key that stops signing at `stops` stays in the JWKS: its last tokens'
    /// expiry, and the leeway.
    pub fn published_until(&self, stops: i64) -> i64 {
        stops + self.access_token_ttl_secs + PUBLISH_LEEWAY_SECS
    }

    /// When the successor of a key that started signing at `starts` is made and when it
    /// starts, seen at `now`; `None` while it is not due (or rotation is off). It starts a
    /// period after its predecessor, or a full lead after it is made if that is later (a
    /// period shorter than the lead, or an instance that was down when it fell due).
    fn successor(&self, starts: i64, now: i64) -> Option<i64> {
        if self.rotation_period_secs <= 0 {
            return None;
        }
        let takes_over = starts + self.rotation_period_secs;
        (now >= takes_over - self.lead_secs()).then(|| takes_over.max(now + self.lead_secs()))
    }
}

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

/// Creates a fresh key pair that signs from `signs_from`, its private key wrapped with
/// `kek`. Its `kid` is the RFC 7638 JWK thumbprint of the public key (so the wrapping, bound
/// to the `kid`, is bound to the public key too).
pub fn generate(kek: &KeyEncryptionKey, now: i64, signs_from: i64) -> StoredKey {
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
        signs_from: Some(signs_from),
    }
}

/// Makes a new key that signs at once (the emergency rotation, and the first key); the
/// others, a scheduled next key too, stop signing now and stay published until their
/// tokens have expired.
pub fn rotate(
    conn: &mut DbConnection,
    kek: &KeyEncryptionKey,
    access_token_ttl_secs: i64,
    now: i64,
) -> Result<StoredKey, StorageError> {
    let key = generate(kek, now, now);
    signing_keys::rotate_to(
        conn,
        &key,
        now + access_token_ttl_secs + PUBLISH_LEEWAY_SECS,
    )?;
    Ok(key)
}

/// Which of the stored keys signs at a moment, and which is scheduled to sign after it.
#[derive(Debug, Clone, Default)]
pub struct Lineup {
    pub signing: Option<StoredKey>,
    pub next: Option<StoredKey>,
}

impl Lineup {
    /// Among `keys` (the published ones hold every key that may sign at `now` or later):
    /// the latest-starting key whose signing time holds `now`, and the earliest key that
    /// starts later and will sign.
    pub fn at(keys: &[StoredKey], now: i64) -> Self {
        let order = |k: &&StoredKey| (k.starts(), k.created_at, k.kid.clone());
        let signing = keys.iter().filter(|k| k.signs_at(now)).max_by_key(order);
        let next = keys
            .iter()
            .filter(|k| k.starts() > now && k.retired_at.is_none_or(|r| r > k.starts()))
            .min_by_key(order);
        Lineup {
            signing: signing.cloned(),
            next: next.cloned(),
        }
    }
}

/// The published keys and their lineup at `now`, creating the first key on a fresh
/// database. With no key signing yet but a next one (only when clocks differ), the next
/// one signs here now rather than a key being made.
fn read_lineup(
    conn: &mut DbConnection,
    kek: &KeyEncryptionKey,
    access_token_ttl_secs: i64,
    now: i64,
) -> Result<(StoredKey, Option<StoredKey>, Vec<StoredKey>), StorageError> {
    let mut keys = signing_keys::published(conn, now)?;
    let mut lineup = Lineup::at(&keys, now);
    if lineup.signing.is_none() && lineup.next.is_none() {
        rotate(conn, kek, access_token_ttl_secs, now)?;
        keys = signing_keys::published(conn, now)?;
        lineup = Lineup::at(&keys, now);
    }
    match lineup {
        Lineup {
            signing: Some(signing),
            next,
        } => Ok((signing, next, keys)),
        Lineup {
            signing: None,
            next: Some(next),
        } => Ok((next, None, keys)),
        Lineup {
            signing: None,
            next: None,
        } => Err(StorageError::Corrupt(
            "no signing key right after making one".into(),
        )),
    }
}

/// Makes the next key if the signing key's successor is due and none is scheduled yet:
/// published at once, signing from `Schedule::successor`. Any number of instances may
/// call this at once; exactly one makes the key (`signing_keys::schedule_after`), and the
/// others answer `None`.
pub fn schedule_next(
    conn: &mut DbConnection,
    kek: &KeyEncryptionKey,
    schedule: &Schedule,
    now: i64,
) -> Result<Option<StoredKey>, StorageError> {
    if schedule.rotation_period_secs <= 0 {
        return Ok(None);
    }
    let keys = signing_keys::published(conn, now)?;
    let Some(current) = Lineup::at(&keys, now).signing else {
        return Ok(None);
    };
    // A retirement time means a successor is already set (or an emergency rotation is on).
    if current.retired_at.is_some() {
        return Ok(None);
    }
    let Some(signs_from) = schedule.successor(current.starts(), now) else {
        return Ok(None);
    };
    let next = generate(kek, now, signs_from);
    let retire_current_until = schedule.published_until(signs_from);
    if !signing_keys::schedule_after(conn, &current.kid, &next, retire_current_until)? {
        return Ok(None);
    }
    let detail = format!(
        "scheduled rotation: signing key {} signs from {signs_from}, {} until {retire_current_until}",
        next.kid, current.kid
    );
    let event = Event {
        detail: Some(&detail),
        ..Event::default()
    };
    security_events::record_or_log(conn, EventKind::SigningKeyScheduled, &event, now);
    Ok(Some(next))
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

/// The signing keys, re-read from the database now and then so a rotation scheduled or
/// made by another instance or the CLI is picked up without a restart; and the published
/// public keys, for checking tokens without a query.
pub struct Keyring {
    /// Unwraps the private keys read from the database, wraps the ones made here.
    kek: Arc<KeyEncryptionKey>,
    signing: RwLock<Signing>,
    published: RwLock<HashMap<String, DecodingKey>>,
    /// Tokens whose signature already checked out, by SHA-256 of the token. A signature
    /// never changes its verdict, so APIs introspecting the same token again skip the ECDSA
    /// verification; expiry and revocation are still checked on every call.
    verified: Mutex<HashMap<[u8; 32], AccessTokenClaims>>,
    /// When an unknown `kid` last made us re-read the keys: forged tokens with made-up
    /// `kid`s must not turn into one database read each.
    reloaded_at: Mutex<Option<Instant>>,
}

/// The key signing as of the last read, and the next one with the moment it takes over.
struct Signing {
    current: Arc<SigningKey>,
    next: Option<(i64, Arc<SigningKey>)>,
}

impl Signing {
    fn at(&self, now: i64) -> &Arc<SigningKey> {
        match &self.next {
            Some((starts, next)) if now >= *starts => next,
            _ => &self.current,
        }
    }

    /// The parsed key for `stored`, reusing the one held when the `kid` is the same (no
    /// unwrapping on every refresh).
    fn reuse(
        &self,
        stored: StoredKey,
        kek: &KeyEncryptionKey,
    ) -> Result<Arc<SigningKey>, StorageError> {
        let mut held = std::iter::once(&self.current).chain(self.next.as_ref().map(|(_, k)| k));
        match held.find(|k| k.kid == stored.kid) {
            Some(key) => Ok(key.clone()),
            None => Ok(Arc::new(SigningKey::from_stored(stored, kek)?)),
        }
    }
}

/// What one [`Keyring::refresh`] did.
#[derive(Debug)]
pub struct Refreshed {
    /// The next key this call made, when the schedule said so.
    pub scheduled: Option<StoredKey>,
    /// The key this instance signs with at the refresh's `now`.
    pub signing_kid: String,
}

/// An unknown `kid` re-reads the keys at most this often.
const UNKNOWN_KID_RELOAD_INTERVAL: Duration = Duration::from_secs(1);

/// Verified signatures remembered at most; the cache starts over when full.
const VERIFIED_CACHE_ENTRIES: usize = 16_384;

fn decoding_keys(keys: &[StoredKey]) -> Result<HashMap<String, DecodingKey>, StorageError> {
    let mut decoding = HashMap::new();
    for stored in keys {
        let jwk = PublicJwk::of(stored)?;
        let key = DecodingKey::from_ec_components(&jwk.x, &jwk.y)
            .map_err(|e| StorageError::Corrupt(format!("public key of {}: {e}", jwk.kid)))?;
        decoding.insert(jwk.kid, key);
    }
    Ok(decoding)
}

impl Keyring {
    /// Loads the signing key (and a scheduled next one), creating one on a fresh database.
    pub fn load(
        conn: &mut DbConnection,
        kek: Arc<KeyEncryptionKey>,
        access_token_ttl_secs: i64,
        now: i64,
    ) -> Result<Self, StorageError> {
        let (current, next, published) = read_lineup(conn, &kek, access_token_ttl_secs, now)?;
        let next = match next {
            Some(next) => Some((
                next.starts(),
                Arc::new(SigningKey::from_stored(next, &kek)?),
            )),
            None => None,
        };
        Ok(Keyring {
            signing: RwLock::new(Signing {
                current: Arc::new(SigningKey::from_stored(current, &kek)?),
                next,
            }),
            published: RwLock::new(decoding_keys(&published)?),
            kek,
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
        let keys = decoding_keys(&signing_keys::published(conn, now)?)?;
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

    /// The key to sign a token issued at `now` with: the next key from the moment it takes
    /// over, on this instance's clock, without waiting for a refresh.
    pub fn signing_at(&self, now: i64) -> Arc<SigningKey> {
        self.signing
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .at(now)
            .clone()
    }

    /// Makes the next key if the schedule says it is due, then re-reads the signing key, the
    /// next one and the published ones.
    pub fn refresh(
        &self,
        conn: &mut DbConnection,
        schedule: &Schedule,
        now: i64,
    ) -> Result<Refreshed, StorageError> {
        let scheduled = schedule_next(conn, &self.kek, schedule, now)?;
        let (current, next, published) =
            read_lineup(conn, &self.kek, schedule.access_token_ttl_secs, now)?;
        *self.published.write().unwrap_or_else(|e| e.into_inner()) = decoding_keys(&published)?;
        let fresh = {
            let held = self.signing.read().unwrap_or_else(|e| e.into_inner());
            let next = match next {
                Some(next) => Some((next.starts(), held.reuse(next, &self.kek)?)),
                None => None,
            };
            Signing {
                current: held.reuse(current, &self.kek)?,
                next,
            }
        };
        let signing_kid = fresh.at(now).kid.clone();
        *self.signing.write().unwrap_or_else(|e| e.into_inner()) = fresh;
        Ok(Refreshed {
            scheduled,
            signing_kid,
        })
    }
}
