//! Sealing small secrets: AES-256-GCM under keys kept in the database, each stored wrapped
//! with the key-encryption key (`kek`), so the database alone opens nothing. Session cookies,
//! pending authorizations, authorization codes and TOTP secrets at rest are sealed this way,
//! each with its purpose bound in as associated data, so a value sealed for one purpose never
//! opens as another.
//!
//! A sealed value is `KEY_ID.BASE64URL(nonce ‖ ciphertext ‖ tag)`. The key id lets every
//! instance on the database open every other instance's values; a cookie sealed under a key
//! this database never had (another configuration) does not open and counts as no session.
//! Keys are never deleted: a TOTP secret sealed years ago must still open.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::rngs::OsRng;
use rand::TryRngCore;

use crate::domain::secret::random_id;
use crate::storage::sealing_keys::{self, StoredSealingKey};
use crate::storage::{Database, DbConnection, StorageError};
use crate::tokens::kek::{KeyEncryptionKey, KeyKind};

const KEY_LEN: usize = 32;

pub struct SealingKeys {
    /// Wraps the keys in the database.
    kek: Arc<KeyEncryptionKey>,
    /// Newest first; the first one seals.
    keys: RwLock<Vec<(String, LessSafeKey)>>,
    /// When a value under an unknown key last made this instance look in the database.
    last_reload: AtomicI64,
}

/// Why a cookie did not open.
#[derive(Debug, PartialEq, Eq)]
pub enum Unsealed {
    /// Sealed under a key id this instance has not loaded; another instance may just have
    /// made it, so reload once before giving up.
    UnknownKey,
    /// Malformed, tampered with, or sealed for another purpose.
    Invalid,
}

impl SealingKeys {
    /// Loads the keys, creating the first one if the database has none. Instances racing to
    /// create it each insert one; all of them then use the newest.
    pub fn load(
        conn: &mut DbConnection,
        kek: Arc<KeyEncryptionKey>,
        now: i64,
    ) -> Result<Self, StorageError> {
        let keys = SealingKeys {
            kek,
            keys: RwLock::new(Vec::new()),
            last_reload: AtomicI64::new(0),
        };
        keys.reload(conn, now)?;
        Ok(keys)
    }

    pub fn reload(&self, conn: &mut DbConnection, now: i64) -> Result<(), StorageError> {
        let mut stored = sealing_keys::all(conn)?;
        if stored.is_empty() {
            let mut secret = [0u8; KEY_LEN];
            OsRng
                .try_fill_bytes(&mut secret)
                .map_err(|e| StorageError::Corrupt(format!("no OS randomness: {e}")))?;
            let id = random_id(12);
            let wrapped = self.kek.wrap(KeyKind::Sealing, &id, &secret);
            sealing_keys::insert(conn, &id, &wrapped, self.kek.fingerprint(), now)?;
            stored = sealing_keys::all(conn)?;
        }
        self.replace(stored)
    }

    /// Uses `stored` (newest first) from now on.
    pub fn replace(&self, stored: Vec<StoredSealingKey>) -> Result<(), StorageError> {
        let keys = stored
            .into_iter()
            .map(|k| {
                if k.wrapped_by.as_deref() != Some(self.kek.fingerprint()) {
                    return Err(StorageError::Corrupt(format!(
                        "sealing key {} is not wrapped with the configured key-encryption key (restart to check the keys)",
                        k.id
                    )));
                }
                let secret = self
                    .kek
                    .unwrap(KeyKind::Sealing, &k.id, &k.secret)
                    .map_err(|e| StorageError::Corrupt(e.to_string()))?;
                let key = UnboundKey::new(&AES_256_GCM, &secret)
                    .map_err(|_| StorageError::Corrupt(format!("cookie key {}", k.id)))?;
                Ok((k.id, LessSafeKey::new(key)))
            })
            .collect::<Result<Vec<_>, StorageError>>()?;
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = keys;
        Ok(())
    }

    /// After a value did not open for an [`Unsealed::UnknownKey`]: loads the keys again, in
    /// case another instance just made one, at most once a second. Answers whether it did.
    pub async fn reload_if_due(&self, db: &Database, now: i64) -> bool {
        let last = self.last_reload.load(Ordering::Relaxed);
        let due = now > last
            && self
                .last_reload
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok();
        if !due {
            return false;
        }
        match db
            .run(sealing_keys::all)
            .await
            .and_then(|k| self.replace(k))
        {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, "reloading the sealing keys failed");
                false
            }
        }
    }

    /// Encrypts and authenticates `plain`; `purpose` (the cookie name) is bound in as AAD.
    pub fn seal(&self, purpose: &str, plain: &[u8]) -> String {
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        let (id, key) = keys
            .first()
            .expect("SealingKeys::load leaves at least one key");
        let mut nonce = [0u8; NONCE_LEN];
        OsRng
            .try_fill_bytes(&mut nonce)
            .expect("the OS random number generator works");
        let mut sealed = plain.to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad(purpose, id).as_bytes()),
            &mut sealed,
        )
        .expect("AES-GCM seals any cookie-sized input");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("{id}.{}", URL_SAFE_NO_PAD.encode(out))
    }

    /// Whether `value` names a key this instance has loaded (or names none at all, and so
    /// would not open under any key): when not, [`reload_if_due`](Self::reload_if_due) may
    /// find it.
    pub fn knows_key_of(&self, value: &str) -> bool {
        let Some((id, _)) = value.split_once('.') else {
            return true;
        };
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        keys.iter().any(|(k, _)| k == id)
    }

    pub fn open(&self, purpose: &str, value: &str) -> Result<Vec<u8>, Unsealed> {
        let (id, body) = value.split_once('.').ok_or(Unsealed::Invalid)?;
        let mut bytes = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| Unsealed::Invalid)?;
        if bytes.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(Unsealed::Invalid);
        }
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        let (_, key) = keys
            .iter()
            .find(|(k, _)| k == id)
            .ok_or(Unsealed::UnknownKey)?;
        let mut ciphertext = bytes.split_off(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(&bytes).map_err(|_| Unsealed::Invalid)?;
        let plain = key
            .open_in_place(
                nonce,
                Aad::from(aad(purpose, id).as_bytes()),
                &mut ciphertext,
            )
            .map_err(|_| Unsealed::Invalid)?;
        Ok(plain.to_vec())
    }
}

fn aad(purpose: &str, key_id: &str) -> String {
    format!("gatehouse {purpose} {key_id}")
}

#[cfg(test)]
impl SealingKeys {
    /// One in-memory key with id `k`, for unit tests.
    pub(crate) fn with_secret(secret: u8) -> SealingKeys {
        let key = UnboundKey::new(&AES_256_GCM, &[secret; KEY_LEN]).unwrap();
        SealingKeys {
            kek: Arc::new(KeyEncryptionKey::ephemeral()),
            keys: RwLock::new(vec![("k".into(), LessSafeKey::new(key))]),
            last_reload: AtomicI64::new(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(secret: u8) -> SealingKeys {
        SealingKeys::with_secret(secret)
    }

    #[test]
    fn opens_what_it_sealed_and_nothing_else() {
        let (a, b) = (keys(1), keys(2));
        let sealed = a.seal("session", b"hello");
        assert_eq!(a.open("session", &sealed).unwrap(), b"hello");
        assert_eq!(b.open("session", &sealed), Err(Unsealed::Invalid));
        assert_eq!(a.open("other", &sealed), Err(Unsealed::Invalid));
        let mut tampered = sealed.clone().into_bytes();
        let last = tampered.len() - 2;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert!(a
            .open("session", std::str::from_utf8(&tampered).unwrap())
            .is_err());
        assert_eq!(
            a.open("session", &sealed.replacen("k.", "x.", 1)),
            Err(Unsealed::UnknownKey)
        );
        assert_eq!(a.open("session", "garbage"), Err(Unsealed::Invalid));
        assert!(a.knows_key_of(&sealed) && a.knows_key_of("garbage"));
        assert!(!a.knows_key_of(&sealed.replacen("k.", "x.", 1)));
    }
}
