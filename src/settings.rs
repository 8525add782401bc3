//! Typed configuration: `config/default.toml` (compiled in) → `--config FILE` →
//! `GATEHOUSE_*` environment variables.

use std::path::Path;

use serde::Deserialize;
use toml::{Table, Value};

const DEFAULTS: &str = include_str!("../config/default.toml");

/// Short environment names that always work, and the keys they set.
const ALIASES: [(&str, &str, &str); 3] = [
    ("GATEHOUSE_DATABASE_URL", "database", "url"),
    ("GATEHOUSE_LISTEN", "server", "listen"),
    ("GATEHOUSE_ISSUER", "server", "issuer"),
];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub tokens: TokenSettings,
    pub accounts: AccountSettings,
    pub limits: LimitSettings,
    pub housekeeping: HousekeepingSettings,
    pub scopes: ScopeSettings,
    pub log: LogSettings,
    pub keys: KeySettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub listen: String,
    pub issuer: String,
    pub body_limit_bytes: usize,
    pub body_read_timeout_ms: u64,
    pub trust_forwarded_for: bool,
    pub workers: usize,
    pub blocking_threads: usize,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: String,
    pub max_connections: u32,
    pub connect_timeout_ms: u64,
    pub sqlite_busy_timeout_ms: u64,
}

impl std::fmt::Debug for DatabaseSettings {
    // The URL may hold a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("max_connections", &self.max_connections)
            .finish_non_exhaustive()
    }
}

/// Where the key-encryption key comes from (`tokens::kek`).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySettings {
    pub encryption_key: String,
    pub encryption_key_file: String,
}

impl std::fmt::Debug for KeySettings {
    // The key itself must never reach a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySettings")
            .field("encryption_key_file", &self.encryption_key_file)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSettings {
    pub access_token_ttl_secs: i64,
    pub audience: String,
    pub key_refresh_secs: u64,
    pub refresh_token_idle_ttl_secs: i64,
    pub refresh_token_absolute_ttl_secs: i64,
    pub refresh_token_grace_secs: i64,
    pub authorization_code_ttl_secs: i64,
    pub pkce_required_for_confidential_clients: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountSettings {
    pub bcrypt_cost: u32,
    pub min_password_length: usize,
    pub password_hash_threads: usize,
    pub password_queue_limit: usize,
    pub login_session_ttl_secs: i64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSettings {
    pub login_failures_per_account: i64,
    pub login_failures_per_ip: i64,
    pub client_auth_failures: i64,
    pub password_checks_per_account: usize,
    pub password_checks_per_address: usize,
    pub known_address_days: i64,
    pub base_delay_secs: i64,
    pub max_delay_secs: i64,
    pub forget_after_secs: i64,
}

impl LimitSettings {
    /// The back-off after `threshold` failures.
    pub fn policy(&self, threshold: i64) -> crate::storage::throttles::Policy {
        crate::storage::throttles::Policy {
            threshold,
            base_delay_secs: self.base_delay_secs,
            max_delay_secs: self.max_delay_secs,
            forget_after_secs: self.forget_after_secs,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeSettings {
    /// Consent-page descriptions by scope name.
    pub descriptions: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HousekeepingSettings {
    pub interval_secs: u64,
    pub batch_size: i64,
    pub event_retention_days: i64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub level: String,
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid TOML: {message}")]
    Parse { path: String, message: String },
    #[error("environment variable {name}: {message}")]
    Env { name: String, message: String },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Settings {
    /// Loads the layers in order; `file` is the `--config` argument.
    pub fn load(file: Option<&Path>) -> Result<Self, SettingsError> {
        Self::load_from(file, std::env::vars())
    }

    pub fn load_from(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, SettingsError> {
        let mut table: Table = DEFAULTS.parse().expect("config/default.toml is valid TOML");
        if let Some(path) = file {
            let shown = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Read {
                path: shown.clone(),
                source,
            })?;
            let overlay: Table =
                text.parse()
                    .map_err(|e: toml::de::Error| SettingsError::Parse {
                        path: shown,
                        message: e.message().to_owned(),
                    })?;
            merge(&mut table, overlay);
        }
        for (name, value) in env {
            if let Some((section, key)) = env_target(&table, &name) {
                set_from_env(&mut table, &name, &section, &key, &value)?;
            }
        }
        let settings: Settings = Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| SettingsError::Invalid(e.message().to_owned()))?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), SettingsError> {
        let invalid = |m: &str| Err(SettingsError::Invalid(m.to_owned()));
        if self.tokens.access_token_ttl_secs <= 0 {
            return invalid("tokens.access_token_ttl_secs must be positive");
        }
        if !(4..=31).contains(&self.accounts.bcrypt_cost) {
            return invalid("accounts.bcrypt_cost must be between 4 and 31");
        }
        let t = &self.tokens;
        if t.refresh_token_idle_ttl_secs <= 0
            || t.refresh_token_absolute_ttl_secs < t.refresh_token_idle_ttl_secs
        {
            return invalid("tokens: refresh token lifetimes must be positive, the absolute one at least the idle one");
        }
        if t.refresh_token_grace_secs < 0 || self.housekeeping.batch_size <= 0 {
            return invalid(
                "tokens.refresh_token_grace_secs and housekeeping.batch_size must not be negative",
            );
        }
        if !(1..=600).contains(&t.authorization_code_ttl_secs) {
            return invalid("tokens.authorization_code_ttl_secs must be between 1 and 600");
        }
        if self.accounts.login_session_ttl_secs <= 0 {
            return invalid("accounts.login_session_ttl_secs must be positive");
        }
        let l = &self.limits;
        if [
            l.login_failures_per_account,
            l.login_failures_per_ip,
            l.client_auth_failures,
        ]
        .iter()
        .any(|n| *n < 1)
            || l.base_delay_secs < 1
            || l.max_delay_secs < l.base_delay_secs
            || l.forget_after_secs < 1
        {
            return invalid("limits: thresholds and delays must be at least 1, max_delay_secs at least base_delay_secs");
        }
        if self.accounts.password_queue_limit == 0
            || l.password_checks_per_account == 0
            || l.password_checks_per_address == 0
            || l.known_address_days < 0
        {
            return invalid("accounts.password_queue_limit, limits.password_checks_per_account and limits.password_checks_per_address must be at least 1, limits.known_address_days not negative");
        }
        if self.housekeeping.event_retention_days <= 0 {
            return invalid("housekeeping.event_retention_days must be positive");
        }
        if self.server.body_limit_bytes < 1024 {
            return invalid("server.body_limit_bytes must be at least 1024");
        }
        if !(100..=300_000).contains(&self.server.body_read_timeout_ms) {
            return invalid("server.body_read_timeout_ms must be between 100 and 300000");
        }
        if self.database.max_connections == 0 {
            return invalid("database.max_connections must be at least 1");
        }
        if !self.server.issuer.is_empty() {
            let url = url::Url::parse(&self.server.issuer)
                .map_err(|e| SettingsError::Invalid(format!("server.issuer: {e}")))?;
            // RFC 8414 §2: an https (here also http) URL without query or fragment.
            if !matches!(url.scheme(), "http" | "https")
                || url.query().is_some()
                || url.fragment().is_some()
            {
                return invalid("server.issuer must be an http(s) URL without query or fragment");
            }
        }
        Ok(())
    }
}

/// Which `[section] key` an environment variable sets, if any.
fn env_target(table: &Table, name: &str) -> Option<(String, String)> {
    if let Some((_, section, key)) = ALIASES.iter().find(|(alias, ..)| *alias == name) {
        return Some((section.to_string(), key.to_string()));
    }
    let rest = name.strip_prefix("GATEHOUSE_")?.to_ascii_lowercase();
    table.iter().find_map(|(section, keys)| {
        let key = rest.strip_prefix(section.as_str())?.strip_prefix('_')?;
        keys.as_table()?
            .contains_key(key)
            .then(|| (section.clone(), key.to_owned()))
    })
}

/// Sets a key from an environment string, typed like the default it replaces.
fn set_from_env(
    table: &mut Table,
    name: &str,
    section: &str,
    key: &str,
    raw: &str,
) -> Result<(), SettingsError> {
    let slot = table
        .get_mut(section)
        .and_then(Value::as_table_mut)
        .and_then(|t| t.get_mut(key))
        .expect("env_target only names existing keys");
    let bad = |what: &str| SettingsError::Env {
        name: name.to_owned(),
        message: format!("expected {what}, got `{raw}`"),
    };
    *slot = match slot {
        Value::Integer(_) => Value::Integer(raw.trim().parse().map_err(|_| bad("an integer"))?),
        Value::Boolean(_) => Value::Boolean(raw.trim().parse().map_err(|_| bad("true or false"))?),
        _ => Value::String(raw.to_owned()),
    };
    Ok(())
}

/// Overlays `overlay` onto `base`, table by table.
fn merge(base: &mut Table, overlay: Table) {
    for (key, value) in overlay {
        match (base.get_mut(&key), value) {
            (Some(Value::Table(base)), Value::Table(overlay)) => merge(base, overlay),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_load() {
        let s = Settings::load_from(None, env(&[])).unwrap();
        assert_eq!(s.server.listen, "127.0.0.1:8080");
        assert_eq!(s.tokens.access_token_ttl_secs, 900);
        assert_eq!(s.database.url, "sqlite://data/gatehouse.db");
    }

    #[test]
    fn the_three_short_variables_and_section_keys_override() {
        let s = Settings::load_from(
            None,
            env(&[
                ("GATEHOUSE_DATABASE_URL", "sqlite::memory:"),
                ("GATEHOUSE_LISTEN", "127.0.0.1:0"),
                ("GATEHOUSE_ISSUER", "https://auth.example"),
                ("GATEHOUSE_TOKENS_ACCESS_TOKEN_TTL_SECS", "60"),
                ("GATEHOUSE_TEST_POSTGRES_URL", "ignored"),
            ]),
        )
        .unwrap();
        assert_eq!(s.database.url, "sqlite::memory:");
        assert_eq!(s.server.listen, "127.0.0.1:0");
        assert_eq!(s.server.issuer, "https://auth.example");
        assert_eq!(s.tokens.access_token_ttl_secs, 60);
    }

    #[test]
    fn a_non_numeric_number_is_a_clear_error() {
        let err = Settings::load_from(
            None,
            env(&[("GATEHOUSE_TOKENS_ACCESS_TOKEN_TTL_SECS", "soon")]),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("GATEHOUSE_TOKENS_ACCESS_TOKEN_TTL_SECS"),
            "{err}"
        );
    }
}
