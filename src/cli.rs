//! The command line of SPEC.md: each command a thin call into the library.
//!
//! With `--json` a command prints exactly one JSON value on stdout; errors go to stderr and
//! the exit status is non-zero.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use serde::Serialize;

use crate::admin::{self, AdminError, ClientSpec};
use crate::console;
use crate::settings::{self, LogSettings, Settings, SettingsError};
use crate::startup::{pool_options, Application, StartupError};
use crate::domain::Clock;
use crate::storage::{Database, DatabaseUrl, DbConnection, StorageError};
use crate::telemetry;
use crate::tokens::at_rest;
use crate::tokens::kek::{KekError, KeyEncryptionKey};

#[derive(Debug, Parser)]
#[command(
    name = "gatehouse",
    version,
    about = "A standalone OAuth 2.0 authorization server"
)]
pub struct Cli {
    /// A TOML file overriding config/default.toml (environment variables override both).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print exactly one JSON object or array on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Register and manage OAuth clients.
    #[command(subcommand)]
    Client(ClientCommand),
    /// List and rotate signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Roles and the scopes they allow.
    #[command(subcommand)]
    Role(RoleCommand),
    /// User accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// The security event log, oldest first (at most the newest --limit events).
    Events {
        /// Only events of this user: a username or a user id (both find the user's own
        /// successes, stored under the id, and failures, stored under the name typed), or
        /// "admin" for the CLI.
        #[arg(long, value_name = "U")]
        user: Option<String>,
        /// Only events at or after T: unix seconds, RFC 3339 (2026-11-23T10:00:00Z), or an
        /// age such as 30m, 12h or 7d.
        #[arg(long, value_name = "T")]
        since: Option<String>,
        /// At most this many events, the newest (0 prints none).
        #[arg(
            long,
            value_name = "N",
            default_value_t = 1000,
            allow_negative_numbers = true
        )]
        limit: i64,
    },
}

#[derive(Debug, Subcommand)]
pub enum RoleCommand {
    /// Create a role that allows the given scopes.
    Create {
        name: String,
        /// A scope this role allows (repeat the flag for more).
        #[arg(long = "scope", value_name = "S")]
        scopes: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; reads the password as one line from stdin (at a terminal: asks twice,
    /// without echo).
    Create {
        username: String,
        /// A role the user holds (repeat the flag for more).
        #[arg(long = "role", value_name = "ROLE")]
        roles: Vec<String>,
    },
    /// The TOTP second factor.
    #[command(subcommand)]
    Totp(TotpCommand),
}

#[derive(Debug, Subcommand)]
pub enum TotpCommand {
    /// Turn TOTP on for a user; prints `secret` (base32), `otpauth_uri` and recovery codes, once.
    Enable {
        username: String,
        /// Replace the secret and recovery codes of a user who already has TOTP on (their
        /// authenticator app stops working).
        #[arg(long)]
        force: bool,
    },
    /// Turn TOTP off for a user (a lost phone, with the recovery codes gone too).
    Disable { username: String },
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client; prints its id and, for confidential clients, its secret (once).
    Create {
        #[arg(long)]
        name: String,
        #[arg(long = "redirect-uri", value_name = "URI")]
        redirect_uris: Vec<String>,
        /// authorization_code, client_credentials, password or refresh_token
        /// (default: authorization_code and refresh_token).
        #[arg(long = "grant-type", value_name = "GT")]
        grant_types: Vec<String>,
        /// A scope the client may request (repeat the flag for more).
        #[arg(long = "scope", value_name = "S")]
        scopes: Vec<String>,
        /// A public client: no secret, PKCE required.
        #[arg(long)]
        public: bool,
        /// Let the client (an API) introspect every client's tokens, not only its own.
        #[arg(long)]
        introspect: bool,
    },
    /// List registered clients.
    List,
    /// Show one client.
    Show { id: String },
    /// Delete a client.
    Delete { id: String },
    /// Replace a client's secret; prints the new one (once).
    RotateSecret { id: String },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List signing keys and whether each is current, published or expired.
    List,
    /// Make a new current key; the old one stays published until its tokens expire.
    Rotate,
    /// Re-wrap every stored key under a new key-encryption key, in one transaction; then
    /// point every instance's configuration at the new key and restart them all.
    Rewrap {
        /// The new key's file: used if it holds a key, made (0600, a fresh random key) if
        /// it does not exist.
        #[arg(long, value_name = "PATH")]
        new_key_file: PathBuf,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    Startup(#[from] StartupError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Admin(#[from] AdminError),
    #[error(transparent)]
    Keys(#[from] KekError),
    #[error("--since {0}: expected unix seconds, an RFC 3339 time or an age like 30m, 12h, 7d")]
    BadSince(String),
    #[error("--limit {0}: expected 0 or more events")]
    BadLimit(i64),
    #[error("the two passwords typed differ; nothing was created")]
    PasswordMismatch,
    /// Writing the answer failed; a closed pipe ([`CliError::is_closed_pipe`]) is not shown.
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
}

impl CliError {
    /// Whether the command only failed because stdout's reader went away (`| head`): the
    /// command ends quietly then, with success, like other Unix tools.
    pub fn is_closed_pipe(&self) -> bool {
        matches!(self, CliError::Output(e) if console::is_closed_pipe(e))
    }
}

/// `--since`: unix seconds, an RFC 3339 time, or an age (`90s`, `30m`, `12h`, `7d`) before `now`.
fn parse_since(text: &str, now: i64) -> Result<i64, CliError> {
    let bad = || CliError::BadSince(text.to_owned());
    if let Ok(secs) = text.parse::<i64>() {
        return Ok(secs);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t.timestamp());
    }
    let split = text.len().checked_sub(1).ok_or_else(bad)?;
    let (amount, unit) = text.split_at(split);
    let amount: i64 = amount.parse().map_err(|_| bad())?;
    let unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(bad()),
    };
    amount
        .checked_mul(unit)
        .filter(|age| *age >= 0)
        .map(|age| now - age)
        .ok_or_else(bad)
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<(), CliError> {
    let settings = Settings::load(cli.config.as_deref())?;
    let unknown_vars = settings::unknown_env_vars(std::env::vars());
    if let Command::Serve = cli.command {
        let _guard = telemetry::init(&settings.log);
        warn_unknown_vars(&unknown_vars);
        return actix_web::rt::System::new()
            .block_on(async move {
                Application::build(settings)
                    .await?
                    .run_until_stopped()
                    .await
            })
            .map_err(CliError::from);
    }
    // Admin commands only log problems, so their stdout stays the answer.
    let _guard = telemetry::init(&LogSettings {
        level: "warn".into(),
        ..settings.log.clone()
    });
    warn_unknown_vars(&unknown_vars);
    let mut conn = Database::connect_once(&settings.database.url, &pool_options(&settings))?;
    let conn = &mut conn;
    let out = Output { json: cli.json };
    let now = Clock::default().now();
    match cli.command {
        Command::Serve => unreachable!("handled above"),
        Command::Migrate => {
            // Opening the database applied them; report the state.
            out.print(&serde_json::json!({ "status": "up to date" }), || {
                "migrations: up to date".into()
            })?;
        }
        Command::Client(command) => client_command(conn, &out, command, now)?,
        Command::Keys(KeysCommand::List) => {
            let keys = admin::list_keys(conn, now)?;
            out.print(&keys, || {
                if keys.is_empty() {
                    return "no signing keys yet (one is created when the server first starts)"
                        .into();
                }
                keys.iter()
                    .map(|k| {
                        format!(
                            "{}  {:<9}  created {}{}",
                            k.kid,
                            k.state,
                            k.created_at,
                            k.published_until
                                .map(|t| format!(", published until {t}"))
                                .unwrap_or_default()
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })?;
        }
        Command::Role(RoleCommand::Create { name, scopes }) => {
            let role = admin::create_role(conn, &name, &scopes, now)?;
            out.print(&role, || {
                format!("role {} allows: {}", role.name, role.scopes.join(" "))
            })?;
        }
        Command::User(UserCommand::Create { username, roles }) => {
            let password = read_password(&username)?;
            let new = admin::NewUser {
                username: &username,
                password: &password,
                roles: &roles,
                bcrypt_cost: settings.accounts.bcrypt_cost,
                min_password_length: settings.accounts.min_password_length,
            };
            let user = admin::create_user(conn, new, now)?;
            out.print(&user, || {
                format!("id: {}\nusername: {}", user.id, user.username)
            })?;
        }
        Command::Events { user, since, limit } => {
            let since = since.map(|t| parse_since(&t, now)).transpose()?;
            if limit < 0 {
                return Err(CliError::BadLimit(limit));
            }
            let events = admin::list_events(conn, user.as_deref(), since, limit)?;
            out.print(&events, || {
                events
                    .iter()
                    .map(|e| {
                        let at = chrono::DateTime::from_timestamp(e.at, 0)
                            .map_or_else(|| e.at.to_string(), |t| t.to_rfc3339());
                        let field = |name: &str, v: &Option<String>| {
                            v.as_ref()
                                .map(|v| format!(" {name}={v}"))
                                .unwrap_or_default()
                        };
                        format!(
                            "{at} {} {}{}{}{}{}",
                            e.kind,
                            e.outcome,
                            field("actor", &e.actor),
                            field("client", &e.client_id),
                            field("ip", &e.ip),
                            field("detail", &e.detail.as_ref().map(|d| format!("{d:?}"))),
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })?;
        }
        Command::User(UserCommand::Totp(TotpCommand::Enable { username, force })) => {
            let kek = key_encryption_key(conn, &settings)?;
            let enrolled = admin::enable_totp(conn, kek, &username, force, now)?;
            out.print(&enrolled, || {
                format!(
                    "secret: {}\notpauth_uri: {}\nrecovery codes (each works once; shown only now):\n  {}",
                    enrolled.secret,
                    enrolled.otpauth_uri,
                    enrolled.recovery_codes.join("\n  ")
                )
            })?;
        }
        Command::User(UserCommand::Totp(TotpCommand::Disable { username })) => {
            let removed = admin::disable_totp(conn, &username, now)?;
            out.print(
                &serde_json::json!({ "username": username, "totp": "off", "was_on": removed }),
                || format!("TOTP is off for {username}"),
            )?;
        }
        Command::Keys(KeysCommand::Rotate) => {
            let ttl = settings.tokens.access_token_ttl_secs;
            let kek = key_encryption_key(conn, &settings)?;
            let key = admin::rotate_keys(conn, &kek, ttl, now)?;
            out.print(&key, || format!("new current key: {}", key.kid))?;
        }
        Command::Keys(KeysCommand::Rewrap { new_key_file }) => {
            let kek = key_encryption_key(conn, &settings)?;
            let done = admin::rewrap_keys(conn, &kek, &new_key_file, now)?;
            let next = format!(
                "now set keys.encryption_key_file = \"{0}\" (or GATEHOUSE_KEYS_ENCRYPTION_KEY_FILE={0}, with keys.encryption_key empty) for every instance and every admin command, and restart every instance: the old key no longer opens this database",
                done.new_key_file
            );
            out.print(
                &serde_json::json!({ "rewrapped": &done, "restart_required": true, "next": next }),
                || {
                    format!(
                        "re-wrapped {} signing and {} sealing keys under the key-encryption key in {} (fingerprint {}{})\n{next}",
                        done.signing_keys,
                        done.sealing_keys,
                        done.new_key_file,
                        done.fingerprint,
                        if done.created_key_file { ", made now" } else { "" },
                    )
                },
            )?;
        }
    }
    Ok(())
}

/// The key-encryption key, found exactly as `serve` finds it and checked against the
/// database (keys still in the clear are wrapped now), for the commands that read or write
/// stored keys.
fn key_encryption_key(
    conn: &mut DbConnection,
    settings: &Settings,
) -> Result<std::sync::Arc<KeyEncryptionKey>, CliError> {
    let url = DatabaseUrl::parse(&settings.database.url)?;
    let opened = at_rest::open(conn, &settings.keys, &url)?;
    opened.log();
    Ok(opened.kek)
}

fn client_command(
    conn: &mut DbConnection,
    out: &Output,
    command: ClientCommand,
    now: i64,
) -> Result<(), CliError> {
    match command {
        ClientCommand::Create {
            name,
            redirect_uris,
            grant_types,
            scopes,
            public,
            introspect,
        } => {
            let spec = ClientSpec {
                name,
                redirect_uris,
                grant_types,
                scopes,
                public,
                introspect,
            };
            let created = admin::create_client(conn, spec, now)?;
            out.print(&created, || {
                let mut text = format!("client_id: {}", created.client.client_id);
                if let Some(secret) = &created.client_secret {
                    text.push_str(&format!(
                        "\nclient_secret: {secret}\n(shown only now: store it safely)"
                    ));
                }
                text
            })?;
        }
        ClientCommand::List => {
            let clients = admin::list_clients(conn)?;
            out.print(&clients, || {
                clients.iter().map(describe).collect::<Vec<_>>().join("\n")
            })?;
        }
        ClientCommand::Show { id } => {
            let client = admin::show_client(conn, &id)?;
            out.print(&client, || describe(&client))?;
        }
        ClientCommand::Delete { id } => {
            admin::delete_client(conn, &id, now)?;
            out.print(&serde_json::json!({ "deleted": id }), || {
                format!("deleted client {id}")
            })?;
        }
        ClientCommand::RotateSecret { id } => {
            let secret = admin::rotate_client_secret(conn, &id, now)?;
            out.print(
                &serde_json::json!({ "client_id": id, "client_secret": secret }),
                || {
                    format!(
                        "client_secret: {secret}\n(shown only now: the old secret no longer works)"
                    )
                },
            )?;
        }
    }
    Ok(())
}

/// `user create`'s password: typed twice without echo at a terminal, or one line from a pipe
/// (SPEC.md: "reads the password as one line from stdin").
fn read_password(username: &str) -> Result<String, CliError> {
    let cannot = |e: std::io::Error| {
        CliError::from(AdminError::Invalid(format!(
            "cannot read the password: {e}"
        )))
    };
    let password = if console::stdin_is_terminal() {
        let first =
            console::read_hidden_line(&format!("Password for {username}: ")).map_err(cannot)?;
        if !first.is_empty() {
            let second = console::read_hidden_line("The same password again: ").map_err(cannot)?;
            if second != first {
                return Err(CliError::PasswordMismatch);
            }
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map_err(cannot)?;
        console::without_line_end(&line).to_owned()
    };
    if password.is_empty() {
        return Err(AdminError::Invalid("no password: give it as one line on stdin".into()).into());
    }
    Ok(password)
}

/// Warns about `GATEHOUSE_*` variables that set nothing (a typo would otherwise be silent).
fn warn_unknown_vars(unknown: &[settings::UnknownEnvVar]) {
    for var in unknown {
        tracing::warn!(variable = %var.name, closest = var.closest.as_deref(), "{var}");
    }
}

fn describe(c: &admin::ClientView) -> String {
    format!(
        "{}  {}{}{}  grants: {}  scopes: {}  redirect URIs: {}",
        c.client_id,
        c.name,
        if c.public { " (public)" } else { "" },
        if c.introspect { " (introspects)" } else { "" },
        c.grant_types.join(","),
        c.scopes.join(" "),
        c.redirect_uris.join(" ")
    )
}

struct Output {
    json: bool,
}

impl Output {
    fn print<T: Serialize>(
        &self,
        value: &T,
        text: impl FnOnce() -> String,
    ) -> Result<(), CliError> {
        let text = if self.json {
            serde_json::to_string_pretty(value).expect("CLI output serialises")
        } else {
            text()
        };
        Ok(console::print_line(&text)?)
    }
}
