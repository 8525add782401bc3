//! Typed configuration: `config/default.toml` (compiled in) → `--config FILE` →
//! `GATEHOUSE_*` environment variables.
//!
//! Over 400 lines on purpose: every section's struct sits beside the checks of its values, and
//! the last 140 lines are their tests; where values come from is in `sources.rs`.

mod sources;

use sources::*;
pub use sources::{unknown_env_vars, UnknownEnvVar};

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use toml::{Table, Value};

const DEFAULTS: &str = include_str!("../../config/default.toml");

/// Short environment names that always work, and the keys they set.
const ALIASES: [(&str, &str, &str); 3] = [
    ("GATEHOUSE_DATABASE_URL", "database", "url"),
    ("GATEHOUSE_LISTEN", "server", "listen"),
    ("GATEHOUSE_ISSUER", "server", "issuer"),
];

/// `GATEHOUSE_*` variables that are not settings but exist on purpose: the test suite's
/// (`GATEHOUSE_TEST_POSTGRES_URL`, `GATEHOUSE_TEST_REQUIRE_POSTGRES`,
/// `GATEHOUSE_TEST_REQUIRE_BROWSER`, ...). [`unknown_env_vars`] does not warn about them.
const NOT_SETTINGS_PREFIXES: [&str; 1] = ["GATEHOUSE_TEST_"];

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
    pub ui: UiSettings,
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
    pub shutdown_grace_secs: u64,
    pub metrics_listen: String,
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
    /// 0: no scheduled rotation.
    pub key_rotation_period_secs: i64,
    /// The JWKS's (and the discovery documents') `Cache-Control: max-age`; the key
    /// schedule publishes a next key at least this long before it signs.
    pub jwks_max_age_secs: i64,
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
    pub fn policy(&self, threshold: i64) -> crate::domain::Policy {
        crate::domain::Policy {
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

/// What the pages show of the product (`web::brand`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UiSettings {
    pub product_name: String,
    /// A PNG, JPEG, GIF, WebP or SVG file; empty for none.
    pub logo_file: String,
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
    #[error("environment variable {name} ({key}): {message}")]
    Env {
        name: String,
        key: String,
        message: String,
    },
    /// A value of the wrong type or out of range, named by its key and where it was set.
    #[error("invalid configuration: {key} (set by {origin}): {message}")]
    Value {
        key: String,
        origin: String,
        message: String,
    },
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
        let mut table = defaults();
        // Where each key's value came from, so an error can say which file or variable to fix.
        let mut origins = BTreeMap::new();
        if let Some(path) = file {
            let shown = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Read {
                path: shown.clone(),
                source,
            })?;
            let overlay: Table =
                text.parse()
                    .map_err(|e: toml::de::Error| SettingsError::Parse {
                        path: shown.clone(),
                        message: e.message().to_owned(),
                    })?;
            record_origins(&overlay, "", &format!("config file {shown}"), &mut origins);
            merge(&mut table, overlay);
        }
        for (name, value) in env {
            if let Some((section, key)) = env_target(&table, &name) {
                set_from_env(&mut table, &name, &section, &key, &value)?;
                origins.insert(
                    format!("{section}.{key}"),
                    format!("environment variable {name}"),
                );
            }
        }
        // serde_path_to_error knows which key failed; toml's own message does not say.
        let settings: Settings =
            serde_path_to_error::deserialize(Value::Table(table)).map_err(|e| {
                let key = e.path().to_string();
                SettingsError::Value {
                    origin: origin_of(&origins, &key),
                    message: e.into_inner().message().to_owned(),
                    key,
                }
            })?;
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
        if t.key_rotation_period_secs < 0 {
            return invalid("tokens.key_rotation_period_secs must not be negative (0 turns scheduled rotation off)");
        }
        if !(0..=86_400).contains(&t.jwks_max_age_secs) {
            return invalid("tokens.jwks_max_age_secs must be between 0 and 86400");
        }
        if !(1..=86_400).contains(&t.key_refresh_secs) {
            return invalid("tokens.key_refresh_secs must be between 1 and 86400");
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
        let name = &self.ui.product_name;
        if name.trim().is_empty()
            || name.chars().count() > 64
            || crate::domain::visible::first_hidden(name).is_some()
        {
            return invalid(
                "ui.product_name must be 1 to 64 characters, none of them control, invisible or direction-changing",
            );
        }
        if self.server.shutdown_grace_secs > 3600 {
            return invalid("server.shutdown_grace_secs must be at most 3600");
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

    #[test]
    fn key_schedule_settings_out_of_range_are_refused_by_name() {
        for (name, value, key) in [
            (
                "GATEHOUSE_TOKENS_KEY_ROTATION_PERIOD_SECS",
                "-1",
                "tokens.key_rotation_period_secs",
            ),
            (
                "GATEHOUSE_TOKENS_JWKS_MAX_AGE_SECS",
                "-5",
                "tokens.jwks_max_age_secs",
            ),
            (
                "GATEHOUSE_TOKENS_JWKS_MAX_AGE_SECS",
                "86401",
                "tokens.jwks_max_age_secs",
            ),
            (
                "GATEHOUSE_TOKENS_KEY_REFRESH_SECS",
                "0",
                "tokens.key_refresh_secs",
            ),
        ] {
            let err = Settings::load_from(None, env(&[(name, value)]))
                .unwrap_err()
                .to_string();
            assert!(err.contains(key), "{name}={value}: {err}");
        }
        let s = Settings::load_from(
            None,
            env(&[("GATEHOUSE_TOKENS_KEY_ROTATION_PERIOD_SECS", "0")]),
        )
        .unwrap();
        assert_eq!(s.tokens.key_rotation_period_secs, 0, "0 turns rotation off");
        let defaults = Settings::load_from(None, env(&[])).unwrap();
        assert_eq!(defaults.tokens.key_rotation_period_secs, 30 * 86400);
        assert_eq!(defaults.tokens.jwks_max_age_secs, 60);
    }

    mod finding_14_settings_errors_and_unknown_variables {
        use super::*;

        #[test]
        fn a_wrong_environment_value_names_the_key_and_the_variable() {
            let err = Settings::load_from(
                None,
                env(&[("GATEHOUSE_TOKENS_ACCESS_TOKEN_TTL_SECS", "soon")]),
            )
            .unwrap_err()
            .to_string();
            assert!(err.contains("tokens.access_token_ttl_secs"), "{err}");
            assert!(
                err.contains("GATEHOUSE_TOKENS_ACCESS_TOKEN_TTL_SECS"),
                "{err}"
            );

            let err = Settings::load_from(None, env(&[("GATEHOUSE_LOG_FORMAT", "xml")]))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("log.format") && err.contains("GATEHOUSE_LOG_FORMAT"),
                "{err}"
            );
        }

        #[test]
        fn a_wrong_type_in_a_config_file_names_the_key_and_the_file() {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("gatehouse.toml");
            for (text, key) in [
                (
                    "[tokens]\naccess_token_ttl_secs = \"soon\"\n",
                    "tokens.access_token_ttl_secs",
                ),
                ("[server]\nworkers = -1\n", "server.workers"),
                (
                    "[scopes.descriptions]\n\"a\" = 1\n",
                    "scopes.descriptions.a",
                ),
            ] {
                std::fs::write(&path, text).unwrap();

                let err = Settings::load_from(Some(&path), env(&[]))
                    .unwrap_err()
                    .to_string();

                assert!(err.contains(key), "{text}: {err}");
                assert!(err.contains(&path.display().to_string()), "{text}: {err}");
            }
        }

        #[test]
        fn unknown_gatehouse_variables_are_named_with_the_closest_setting() {
            let unknown = unknown_env_vars(env(&[
                ("GATEHOUSE_TOKENS_ACCESS_TOKEN_TTL", "60"),
                ("GATEHOUSE_DATABSE_URL", "sqlite::memory:"),
                ("GATEHOUSE_FROBNICATE", "1"),
                ("GATEHOUSE_DATABASE_URL", "sqlite::memory:"),
                ("GATEHOUSE_LIMITS_BASE_DELAY_SECS", "2"),
                ("GATEHOUSE_TEST_POSTGRES_URL", "postgres://x"),
                ("GATEHOUSE_TEST_REQUIRE_POSTGRES", "1"),
                ("GATEHOUSE_TEST_REQUIRE_BROWSER", "1"),
                ("HOME", "/root"),
            ]));

            let named = |name: &str| unknown.iter().find(|u| u.name == name).cloned();
            assert_eq!(unknown.len(), 3, "{unknown:?}");
            assert_eq!(
                named("GATEHOUSE_TOKENS_ACCESS_TOKEN_TTL")
                    .unwrap()
                    .closest
                    .as_deref(),
                Some("GATEHOUSE_TOKENS_ACCESS_TOKEN_TTL_SECS")
            );
            assert_eq!(
                named("GATEHOUSE_DATABSE_URL").unwrap().closest.as_deref(),
                Some("GATEHOUSE_DATABASE_URL")
            );
            assert_eq!(named("GATEHOUSE_FROBNICATE").unwrap().closest, None);
            assert_eq!(
                named("GATEHOUSE_DATABSE_URL").unwrap().to_string(),
                "environment variable GATEHOUSE_DATABSE_URL names no setting and is ignored \
                 (did you mean GATEHOUSE_DATABASE_URL?)"
            );
        }
    }
}
