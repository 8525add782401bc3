//! The key-encryption key (KEK): AES-256-GCM under a key kept outside the database wraps
//! every signing key's private key and every sealing key stored in it, so a copy of the
//! database alone (a backup, a dump, a stolen file) opens no cookie, no TOTP secret and
//! mints no token. Each wrapped value is bound, as associated data, to what it is (kind
//! and id): a wrapped sealing key cannot be passed off as another key or as a signing key.
//!
//! Where the KEK comes from, first match wins (`[keys]` in config/default.toml):
//! `keys.encryption_key`, `keys.encryption_key_file`, else a file made on first start
//! beside the database. The database records only the KEK's fingerprint, so a wrong key
//! is told apart from a damaged value.
//!
//! Over 400 lines on purpose: the key's sources, the wrapping format and the re-wrap belong
//! together (one format, one place), and the last 115 lines are their tests.

use std::path::{Path, PathBuf};

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use rand::rngs::OsRng;
use rand::TryRngCore;
use sha2::{Digest, Sha256};

use crate::settings::KeySettings;
use crate::storage::{files, DatabaseUrl};

const KEY_LEN: usize = 32;

/// The settings to name in errors, so the operator knows what to fix.
pub const SETTINGS_HINT: &str = "keys.encryption_key (GATEHOUSE_KEYS_ENCRYPTION_KEY) or keys.encryption_key_file (GATEHOUSE_KEYS_ENCRYPTION_KEY_FILE)";

/// What a wrapped value is; bound into its associated data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// A signing key's PKCS#8 private key, by `kid`.
    Signing,
    /// A sealing key (session cookies, TOTP secrets), by id.
    Sealing,
}

impl KeyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Signing => "signing key",
            KeyKind::Sealing => "sealing key",
        }
    }
}

/// Where the KEK in use was found, for the start-up log and for errors. Never the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KekSource {
    /// `keys.encryption_key` (or `GATEHOUSE_KEYS_ENCRYPTION_KEY`).
    Setting,
    /// `keys.encryption_key_file`.
    File(PathBuf),
    /// The default file beside the database; `created` when this start made it.
    DefaultFile { path: PathBuf, created: bool },
    /// A random key for an in-memory database, gone with the process.
    Ephemeral,
}

impl std::fmt::Display for KekSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KekSource::Setting => f.write_str("keys.encryption_key"),
            KekSource::File(path) => write!(f, "keys.encryption_key_file {}", path.display()),
            KekSource::DefaultFile { path, .. } => write!(f, "default file {}", path.display()),
            KekSource::Ephemeral => f.write_str("a random key for this in-memory database"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KekError {
    #[error("{setting}: {why}; expected base64url or base64 of 32 random bytes (for example `openssl rand -base64 32`)")]
    Malformed { setting: String, why: String },
    #[error("cannot read the key-encryption key file {path}: {source} (set by keys.encryption_key_file, GATEHOUSE_KEYS_ENCRYPTION_KEY_FILE)")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot create the key-encryption key file {path}: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the signing and sealing keys in this database are wrapped with a key-encryption key, but {path} does not exist: restore that file, or set {SETTINGS_HINT} to the key this database was wrapped with")]
    DefaultFileMissing { path: PathBuf },
    #[error("the signing and sealing keys in this database are wrapped with the key-encryption key {stored}, but the configured one ({from}) is {configured}: set {SETTINGS_HINT} to the key this database was wrapped with")]
    WrongKey {
        stored: String,
        configured: String,
        from: KekSource,
    },
    #[error("the keys in this database are wrapped with several key-encryption keys ({0}); a `gatehouse keys rewrap` was interrupted or two configurations share the database")]
    Mixed(String),
    #[error("{kind} {id} does not unwrap with the key-encryption key it names: the database value is damaged")]
    Damaged { kind: &'static str, id: String },
    #[error("{path} already holds a key-encryption key that is the one in use")]
    SameKey { path: PathBuf },
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
}

/// The key-encryption key. Its `Debug` shows the fingerprint only.
pub struct KeyEncryptionKey {
    key: LessSafeKey,
    fingerprint: String,
    source: KekSource,
}

impl std::fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyEncryptionKey")
            .field("fingerprint", &self.fingerprint)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl KeyEncryptionKey {
    fn from_bytes(bytes: &[u8; KEY_LEN], source: KekSource) -> Self {
        // A one-way, domain-separated digest: naming the key in the database reveals
        // nothing of a 256-bit random key.
        let digest = Sha256::new()
            .chain_update(b"gatehouse key-encryption key fingerprint\0")
            .chain_update(bytes)
            .finalize();
        KeyEncryptionKey {
            key: LessSafeKey::new(
                UnboundKey::new(&AES_256_GCM, bytes).expect("a 32-byte AES-256 key"),
            ),
            fingerprint: URL_SAFE_NO_PAD.encode(&digest[..12]),
            source,
        }
    }

    /// Parses the text form: base64url or base64 of 32 bytes, padding optional, surrounding
    /// white space ignored. `setting` names where the text came from, for the error; the
    /// text itself is never repeated.
    pub fn parse(text: &str, setting: &str, source: KekSource) -> Result<Self, KekError> {
        let text = text.trim();
        let decoded = [&URL_SAFE_NO_PAD, &URL_SAFE, &STANDARD_NO_PAD, &STANDARD]
            .iter()
            .find_map(|engine| engine.decode(text).ok())
            .ok_or_else(|| KekError::Malformed {
                setting: setting.to_owned(),
                why: "not base64url or base64".into(),
            })?;
        let bytes: [u8; KEY_LEN] =
            decoded
                .as_slice()
                .try_into()
                .map_err(|_| KekError::Malformed {
                    setting: setting.to_owned(),
                    why: format!("decodes to {} bytes, not {KEY_LEN}", decoded.len()),
                })?;
        Ok(Self::from_bytes(&bytes, source))
    }

    /// A fresh random key, as its text form (base64url, one line).
    pub fn generate_text() -> Result<String, std::io::Error> {
        let mut bytes = [0u8; KEY_LEN];
        OsRng
            .try_fill_bytes(&mut bytes)
            .map_err(|e| std::io::Error::other(format!("no OS randomness: {e}")))?;
        Ok(format!("{}\n", URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// A random key that lives as long as the process (in-memory databases, tests).
    pub fn ephemeral() -> Self {
        let text = Self::generate_text().expect("the OS random number generator works");
        Self::parse(&text, "a random key", KekSource::Ephemeral).expect("a generated key parses")
    }

    /// What the database records for this key.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    pub fn source(&self) -> &KekSource {
        &self.source
    }

    /// `nonce ‖ ciphertext ‖ tag` of `plain`, bound to `kind` and `id`.
    pub fn wrap(&self, kind: KeyKind, id: &str, plain: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        OsRng
            .try_fill_bytes(&mut nonce)
            .expect("the OS random number generator works");
        let mut sealed = plain.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad(kind, id).as_bytes()),
                &mut sealed,
            )
            .expect("AES-GCM seals a key-sized input");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        out
    }

    /// The plain key of a value [`wrap`](Self::wrap) made for the same `kind` and `id`.
    pub fn unwrap(&self, kind: KeyKind, id: &str, wrapped: &[u8]) -> Result<Vec<u8>, KekError> {
        let damaged = || KekError::Damaged {
            kind: kind.as_str(),
            id: id.to_owned(),
        };
        if wrapped.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(damaged());
        }
        let (nonce, ciphertext) = wrapped.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| damaged())?;
        let mut buffer = ciphertext.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(aad(kind, id).as_bytes()), &mut buffer)
            .map_err(|_| damaged())?;
        Ok(plain.to_vec())
    }
}

fn aad(kind: KeyKind, id: &str) -> String {
    format!("gatehouse wrapped {} {id}", kind.as_str())
}

/// Where the KEK will come from, decided from the settings and the database URL before
/// anything is read or made.
#[derive(Clone, PartialEq, Eq)]
pub enum KekLocation {
    Setting(String),
    File(PathBuf),
    /// Made with a fresh random key if missing, unless the database already holds keys
    /// wrapped with one (then its absence is an error, never a new key).
    DefaultFile(PathBuf),
    Ephemeral,
}

impl std::fmt::Debug for KekLocation {
    // `Setting` holds the key itself: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KekLocation::Setting(_) => f.write_str("Setting(…)"),
            KekLocation::File(path) => write!(f, "File({})", path.display()),
            KekLocation::DefaultFile(path) => write!(f, "DefaultFile({})", path.display()),
            KekLocation::Ephemeral => f.write_str("Ephemeral"),
        }
    }
}

/// The default KEK file for a PostgreSQL database, relative to the working directory.
pub const POSTGRES_DEFAULT_FILE: &str = "data/gatehouse.kek";

impl KekLocation {
    pub fn of(settings: &KeySettings, url: &DatabaseUrl) -> Self {
        if !settings.encryption_key.trim().is_empty() {
            return KekLocation::Setting(settings.encryption_key.clone());
        }
        if !settings.encryption_key_file.trim().is_empty() {
            return KekLocation::File(PathBuf::from(settings.encryption_key_file.trim()));
        }
        match url {
            DatabaseUrl::SqliteFile(path) => KekLocation::DefaultFile(default_file_for(path)),
            DatabaseUrl::SqliteMemory => KekLocation::Ephemeral,
            DatabaseUrl::Postgres(_) => KekLocation::DefaultFile(POSTGRES_DEFAULT_FILE.into()),
        }
    }

    /// Whether this is the default file beside a PostgreSQL database, which each instance
    /// would otherwise make for itself.
    pub fn is_postgres_default(&self) -> bool {
        matches!(self, KekLocation::DefaultFile(p) if p == Path::new(POSTGRES_DEFAULT_FILE))
    }

    /// Reads (or, for a missing default file when `may_create`, makes) the key.
    pub fn load(&self, may_create: bool) -> Result<KeyEncryptionKey, KekError> {
        match self {
            KekLocation::Setting(text) => KeyEncryptionKey::parse(
                text,
                "keys.encryption_key (GATEHOUSE_KEYS_ENCRYPTION_KEY)",
                KekSource::Setting,
            ),
            KekLocation::File(path) => read_file(path, KekSource::File(path.clone())),
            KekLocation::DefaultFile(path) => {
                let created = match path.try_exists() {
                    Ok(true) => false,
                    Ok(false) if may_create => create_key_file(path)?,
                    Ok(false) => return Err(KekError::DefaultFileMissing { path: path.clone() }),
                    Err(source) => {
                        return Err(KekError::Unreadable {
                            path: path.clone(),
                            source,
                        })
                    }
                };
                read_file(
                    path,
                    KekSource::DefaultFile {
                        path: path.clone(),
                        created,
                    },
                )
            }
            KekLocation::Ephemeral => Ok(KeyEncryptionKey::ephemeral()),
        }
    }
}

/// `sqlite://data/gatehouse.db` keeps its KEK in `data/gatehouse.db.kek`.
fn default_file_for(database: &str) -> PathBuf {
    PathBuf::from(format!("{database}.kek"))
}

fn read_file(path: &Path, source: KekSource) -> Result<KeyEncryptionKey, KekError> {
    let text = std::fs::read_to_string(path).map_err(|e| KekError::Unreadable {
        path: path.to_owned(),
        source: e,
    })?;
    if files::restrict_to_owner(path).unwrap_or(false) {
        tracing::warn!(file = %path.display(), "the key-encryption key file was readable by others: now 0600");
    }
    KeyEncryptionKey::parse(&text, &format!("key file {}", path.display()), source)
}

/// Writes a fresh random key to a new 0600 file at `path` (its folder 0700 if made now);
/// answers false if another process made the file first.
pub fn create_key_file(path: &Path) -> Result<bool, KekError> {
    let failed = |source| KekError::Create {
        path: path.to_owned(),
        source,
    };
    files::create_private_parent(path).map_err(failed)?;
    let text = KeyEncryptionKey::generate_text().map_err(failed)?;
    files::create_private_file(path, text.as_bytes()).map_err(failed)
}

/// Reads the key in `path`, making the file with a fresh key first if it does not exist
/// (for `gatehouse keys rewrap --new-key-file`). A file that exists but holds no valid key
/// is refused, never overwritten.
pub fn load_or_create(path: &Path) -> Result<(KeyEncryptionKey, bool), KekError> {
    let created = match path.try_exists() {
        Ok(true) => false,
        Ok(false) => create_key_file(path)?,
        Err(source) => {
            return Err(KekError::Unreadable {
                path: path.to_owned(),
                source,
            })
        }
    };
    let key = read_file(path, KekSource::File(path.to_owned()))?;
    Ok((key, created))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> KeyEncryptionKey {
        KeyEncryptionKey::from_bytes(&[byte; KEY_LEN], KekSource::Setting)
    }

    #[test]
    fn unwraps_only_with_the_same_key_kind_and_id() {
        let (a, b) = (key(1), key(2));
        let wrapped = a.wrap(KeyKind::Sealing, "k1", b"secret key");
        assert_eq!(
            a.unwrap(KeyKind::Sealing, "k1", &wrapped).unwrap(),
            b"secret key"
        );
        assert!(b.unwrap(KeyKind::Sealing, "k1", &wrapped).is_err());
        assert!(a.unwrap(KeyKind::Signing, "k1", &wrapped).is_err());
        assert!(a.unwrap(KeyKind::Sealing, "k2", &wrapped).is_err());
        assert!(a.unwrap(KeyKind::Sealing, "k1", &wrapped[..20]).is_err());
        assert_ne!(a.fingerprint(), b.fingerprint());
    }

    #[test]
    fn parses_base64url_and_base64_of_32_bytes_only() {
        let bytes = [0xfbu8; KEY_LEN];
        let fingerprint = key(0xfb).fingerprint().to_owned();
        for text in [
            URL_SAFE_NO_PAD.encode(bytes),
            URL_SAFE.encode(bytes),
            STANDARD.encode(bytes),
            format!("  {}\n", STANDARD_NO_PAD.encode(bytes)),
        ] {
            let parsed = KeyEncryptionKey::parse(&text, "test", KekSource::Setting).unwrap();
            assert_eq!(parsed.fingerprint(), fingerprint, "{text}");
        }
        let short = KeyEncryptionKey::parse(
            &STANDARD.encode([1u8; 16]),
            "the setting",
            KekSource::Setting,
        )
        .unwrap_err()
        .to_string();
        assert!(
            short.contains("the setting") && short.contains("16 bytes"),
            "{short}"
        );
        let bad =
            KeyEncryptionKey::parse("not base64 at all!", "s", KekSource::Setting).unwrap_err();
        assert!(
            !bad.to_string().contains("at all"),
            "the value is never repeated: {bad}"
        );
    }

    #[test]
    fn the_environment_sets_the_key_and_debug_never_shows_it() {
        let key = URL_SAFE_NO_PAD.encode([9u8; KEY_LEN]);
        let settings = crate::settings::Settings::load_from(
            None,
            [
                ("GATEHOUSE_KEYS_ENCRYPTION_KEY".to_owned(), key.clone()),
                (
                    "GATEHOUSE_KEYS_ENCRYPTION_KEY_FILE".to_owned(),
                    "/run/kek".to_owned(),
                ),
            ],
        )
        .unwrap();
        assert_eq!(settings.keys.encryption_key, key);
        assert_eq!(settings.keys.encryption_key_file, "/run/kek");
        let url = DatabaseUrl::parse("sqlite::memory:").unwrap();
        let location = KekLocation::of(&settings.keys, &url);
        let loaded = location.load(false).unwrap();
        for shown in [
            format!("{settings:?}"),
            format!("{location:?}"),
            format!("{loaded:?}"),
        ] {
            assert!(!shown.contains(&key), "{shown}");
        }
    }

    #[test]
    fn the_default_file_sits_beside_a_sqlite_database() {
        let none = KeySettings {
            encryption_key: String::new(),
            encryption_key_file: String::new(),
        };
        let sqlite = DatabaseUrl::parse("sqlite://data/gatehouse.db").unwrap();
        assert_eq!(
            KekLocation::of(&none, &sqlite),
            KekLocation::DefaultFile("data/gatehouse.db.kek".into())
        );
        let pg = DatabaseUrl::parse("postgres://u:p@h/db").unwrap();
        assert!(KekLocation::of(&none, &pg).is_postgres_default());
        let memory = DatabaseUrl::parse("sqlite::memory:").unwrap();
        assert_eq!(KekLocation::of(&none, &memory), KekLocation::Ephemeral);
        let file = KeySettings {
            encryption_key_file: "/etc/gatehouse/kek".into(),
            ..none.clone()
        };
        assert_eq!(
            KekLocation::of(&file, &sqlite),
            KekLocation::File("/etc/gatehouse/kek".into())
        );
        let both = KeySettings {
            encryption_key: "abc".into(),
            ..file
        };
        assert_eq!(
            KekLocation::of(&both, &sqlite),
            KekLocation::Setting("abc".into())
        );
    }
}
