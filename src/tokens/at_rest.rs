//! The keys in the database, at rest: on every start (server or admin command) check that
//! they are wrapped with the configured key-encryption key, wrap any that an older
//! gatehouse stored in the clear, and re-wrap them all under a new key on request.

use std::collections::BTreeSet;
use std::sync::Arc;

use diesel::Connection;
use serde::Serialize;

use super::kek::{KekError, KekLocation, KeyEncryptionKey, KeyKind};
use crate::settings::KeySettings;
use crate::storage::{sealing_keys, signing_keys, DatabaseUrl, DbConnection, StorageError};

impl From<diesel::result::Error> for KekError {
    fn from(e: diesel::result::Error) -> Self {
        KekError::Storage(StorageError::from(e))
    }
}

/// The key-encryption key this database's keys are wrapped with, ready to use.
pub struct OpenedKeys {
    pub kek: Arc<KeyEncryptionKey>,
    /// Where the key came from, as decided from the settings.
    pub location: KekLocation,
    /// Keys found in the clear (stored by an older gatehouse) and wrapped now.
    pub upgraded: usize,
}

/// What the database's key rows say about the KEK: the fingerprints they name, and how
/// many are still in the clear.
struct Census {
    fingerprints: BTreeSet<String>,
    in_the_clear: usize,
}

fn census(conn: &mut DbConnection) -> Result<Census, StorageError> {
    let names: Vec<Option<String>> = sealing_keys::all(conn)?
        .into_iter()
        .map(|k| k.wrapped_by)
        .chain(signing_keys::all(conn)?.into_iter().map(|k| k.wrapped_by))
        .collect();
    Ok(Census {
        in_the_clear: names.iter().filter(|n| n.is_none()).count(),
        fingerprints: names.into_iter().flatten().collect(),
    })
}

/// Finds the configured key-encryption key, proves it is the one this database's keys are
/// wrapped with, and wraps any keys still in the clear (in one transaction).
///
/// A database whose keys were wrapped with another key is an error naming the settings to
/// fix; gatehouse never makes new keys over keys it cannot open. The default key file is
/// made only for a database that holds no wrapped key yet.
pub fn open(
    conn: &mut DbConnection,
    settings: &KeySettings,
    url: &DatabaseUrl,
) -> Result<OpenedKeys, KekError> {
    let location = KekLocation::of(settings, url);
    let before = census(conn)?;
    let kek = location.load(before.fingerprints.is_empty())?;
    check(&before, &kek)?;
    let upgraded = if before.in_the_clear > 0 {
        conn.transaction(|conn| wrap_keys_in_the_clear(conn, &kek))?
    } else {
        0
    };
    Ok(OpenedKeys {
        kek: Arc::new(kek),
        location,
        upgraded,
    })
}

fn check(census: &Census, kek: &KeyEncryptionKey) -> Result<(), KekError> {
    let mut names = census.fingerprints.iter();
    match (names.next(), names.next()) {
        (None, _) => Ok(()),
        (Some(stored), None) if stored == kek.fingerprint() => Ok(()),
        (Some(stored), None) => Err(KekError::WrongKey {
            stored: stored.clone(),
            configured: kek.fingerprint().to_owned(),
            from: kek.source().clone(),
        }),
        (Some(_), Some(_)) => Err(KekError::Mixed(
            census
                .fingerprints
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
        )),
    }
}

fn wrap_keys_in_the_clear(
    conn: &mut DbConnection,
    kek: &KeyEncryptionKey,
) -> Result<usize, KekError> {
    let mut wrapped = 0;
    for key in sealing_keys::all(conn)?
        .into_iter()
        .filter(|k| k.wrapped_by.is_none())
    {
        let value = kek.wrap(KeyKind::Sealing, &key.id, &key.secret);
        // Another instance may have wrapped it a moment ago: then the row is left alone.
        if sealing_keys::rewrap(conn, &key.id, None, &value, kek.fingerprint())? {
            wrapped += 1;
        }
    }
    for key in signing_keys::all(conn)?
        .into_iter()
        .filter(|k| k.wrapped_by.is_none())
    {
        let value = kek.wrap(KeyKind::Signing, &key.kid, &key.private_key);
        if signing_keys::rewrap(conn, &key.kid, None, &value, kek.fingerprint())? {
            wrapped += 1;
        }
    }
    Ok(wrapped)
}

/// What `gatehouse keys rewrap` did.
#[derive(Debug, Serialize)]
pub struct Rewrapped {
    pub signing_keys: usize,
    pub sealing_keys: usize,
    /// The fingerprint the database now records.
    pub fingerprint: String,
}

/// Re-wraps every key from `old` to `new`, all or nothing: one transaction, and a row that
/// is not wrapped with `old` (another process changed it meanwhile) rolls it all back.
pub fn rewrap(
    conn: &mut DbConnection,
    old: &KeyEncryptionKey,
    new: &KeyEncryptionKey,
) -> Result<Rewrapped, KekError> {
    let changed_meanwhile = |id: &str| {
        KekError::Storage(StorageError::Corrupt(format!(
            "key {id} changed during the re-wrap; nothing was changed, run it again"
        )))
    };
    conn.transaction(|conn| {
        let mut done = Rewrapped {
            signing_keys: 0,
            sealing_keys: 0,
            fingerprint: new.fingerprint().to_owned(),
        };
        for key in sealing_keys::all(conn)? {
            let plain = old.unwrap(KeyKind::Sealing, &key.id, &key.secret)?;
            let value = new.wrap(KeyKind::Sealing, &key.id, &plain);
            if !sealing_keys::rewrap(
                conn,
                &key.id,
                Some(old.fingerprint()),
                &value,
                new.fingerprint(),
            )? {
                return Err(changed_meanwhile(&key.id));
            }
            done.sealing_keys += 1;
        }
        for key in signing_keys::all(conn)? {
            let plain = old.unwrap(KeyKind::Signing, &key.kid, &key.private_key)?;
            let value = new.wrap(KeyKind::Signing, &key.kid, &plain);
            if !signing_keys::rewrap(
                conn,
                &key.kid,
                Some(old.fingerprint()),
                &value,
                new.fingerprint(),
            )? {
                return Err(changed_meanwhile(&key.kid));
            }
            done.signing_keys += 1;
        }
        Ok(done)
    })
}

impl OpenedKeys {
    /// Tells the operator where the key came from and what start-up did with it; never
    /// the key.
    pub fn log(&self) {
        if self.location.is_postgres_default() {
            tracing::warn!(
                file = super::kek::POSTGRES_DEFAULT_FILE,
                "the key-encryption key is a file in the working directory: every instance on this PostgreSQL database needs the same key, so set GATEHOUSE_KEYS_ENCRYPTION_KEY or keys.encryption_key_file on all of them"
            );
        }
        if let super::kek::KekSource::DefaultFile {
            path,
            created: true,
        } = self.kek.source()
        {
            tracing::info!(file = %path.display(), "made a new key-encryption key (mode 0600): back it up apart from the database");
        }
        if self.upgraded > 0 {
            tracing::info!(
                keys = self.upgraded,
                "keys stored in the clear by an older gatehouse are now wrapped with the key-encryption key"
            );
        }
        tracing::info!(source = %self.kek.source(), fingerprint = self.kek.fingerprint(), "key-encryption key loaded");
    }
}
