//! Signing keys: list, rotate, and re-wrap under a new key-encryption key.

use serde::Serialize;

use crate::storage::security_events::EventKind;
use crate::storage::signing_keys::{self, StoredKey};
use crate::storage::DbConnection;
use crate::tokens::at_rest;
use crate::tokens::kek::{self, KekError, KeyEncryptionKey};
use crate::tokens::keys::{self, Lineup};

use super::{Actor, AdminError};

/// A signing key as `keys list` shows it.
#[derive(Debug, Serialize)]
pub struct KeyView {
    pub kid: String,
    pub algorithm: String,
    /// `signing` (tokens are signed with it now), `next` (published, signs from
    /// `signs_from`), `retired` (no longer signs, still in the JWKS until `published_until`)
    /// or `expired` (out of the JWKS).
    pub state: &'static str,
    pub created_at: i64,
    pub signs_from: i64,
    /// When it stops (or stopped) signing: its successor's `signs_from`.
    pub retired_at: Option<i64>,
    pub published_until: Option<i64>,
}

impl KeyView {
    fn of(key: StoredKey, now: i64, lineup: &Lineup) -> Self {
        let is = |k: &Option<StoredKey>| k.as_ref().is_some_and(|k| k.kid == key.kid);
        let state = match key.publish_until {
            _ if is(&lineup.signing) => "signing",
            _ if is(&lineup.next) => "next",
            Some(until) if until <= now => "expired",
            _ => "retired",
        };
        KeyView {
            state,
            signs_from: key.starts(),
            kid: key.kid,
            algorithm: key.algorithm,
            created_at: key.created_at,
            retired_at: key.retired_at,
            published_until: key.publish_until,
        }
    }
}

pub fn list_keys(conn: &mut DbConnection, now: i64) -> Result<Vec<KeyView>, AdminError> {
    let lineup = Lineup::at(&signing_keys::published(conn, now)?, now);
    Ok(signing_keys::all(conn)?
        .into_iter()
        .map(|k| KeyView::of(k, now, &lineup))
        .collect())
}

/// `keys rotate`, the emergency rotation: the new key signs at once (relying parties
/// that cached the JWKS fetch it again for its unknown `kid`); every other key, a
/// scheduled next one too, stops signing and stays published until its tokens expire.
pub fn rotate_keys(
    conn: &mut DbConnection,
    actor: &Actor,
    kek: &KeyEncryptionKey,
    access_token_ttl_secs: i64,
    now: i64,
) -> Result<KeyView, AdminError> {
    let key = keys::rotate(conn, kek, access_token_ttl_secs, now)?;
    let kid = key.kid.clone();
    let what = format!("signing key {kid}");
    actor.record(conn, EventKind::SigningKeyRotated, None, &what, now);
    let lineup = Lineup {
        signing: Some(key.clone()),
        next: None,
    };
    Ok(KeyView::of(key, now, &lineup))
}

/// `keys rewrap --new-key-file PATH`: every stored key re-wrapped from the key-encryption
/// key in use (`current`) to the one in `path`, made with a fresh random key (0600) if the
/// file does not exist. A file that holds no valid key, or the key already in use, is
/// refused and nothing changes.
pub fn rewrap_keys(
    conn: &mut DbConnection,
    actor: &Actor,
    current: &KeyEncryptionKey,
    path: &std::path::Path,
    now: i64,
) -> Result<KeysRewrapped, KekError> {
    let (new, created) = kek::load_or_create(path)?;
    if new.fingerprint() == current.fingerprint() {
        return Err(KekError::SameKey {
            path: path.to_owned(),
        });
    }
    let done = at_rest::rewrap(conn, current, &new)?;
    let detail = format!(
        "{} signing and {} sealing keys re-wrapped from key-encryption key {} to {}",
        done.signing_keys,
        done.sealing_keys,
        current.fingerprint(),
        new.fingerprint()
    );
    actor.record(conn, EventKind::KeysRewrapped, None, &detail, now);
    Ok(KeysRewrapped {
        signing_keys: done.signing_keys,
        sealing_keys: done.sealing_keys,
        previous_fingerprint: current.fingerprint().to_owned(),
        fingerprint: done.fingerprint,
        new_key_file: path.display().to_string(),
        created_key_file: created,
    })
}

/// What `keys rewrap` reports.
#[derive(Debug, Serialize)]
pub struct KeysRewrapped {
    pub signing_keys: usize,
    pub sealing_keys: usize,
    pub previous_fingerprint: String,
    pub fingerprint: String,
    pub new_key_file: String,
    /// Whether the file was made now, with a fresh random key.
    pub created_key_file: bool,
}
