//! Running a parsed command: open the database, call the admin operation, print the answer.

use serde::Serialize;

use super::*;
use crate::admin::{self, Actor, AdminError, ClientChange, ClientSpec, PasswordRules};
use crate::console;
use crate::domain::Clock;
use crate::settings::{self, LogSettings, Settings};
use crate::startup::{pool_options, Application};
use crate::storage::{Database, DatabaseUrl, DbConnection};
use crate::telemetry;
use crate::tokens::at_rest;
use crate::tokens::kek::KeyEncryptionKey;

/// `--since`: unix seconds, an RFC 3339 time, or an age (`90s`, `30m`, `12h`, `7d`) before `now`.
/// A stored time (seconds since the epoch) as people read it: RFC 3339, UTC.
pub(super) fn time(at: i64) -> String {
    chrono::DateTime::from_timestamp(at, 0).map_or_else(|| at.to_string(), |t| t.to_rfc3339())
}

/// One line of `keys list`: the key, its state and the times that state depends on.
fn key_line(k: &admin::KeyView) -> String {
    let when = match (k.state, k.published_until) {
        ("signing", _) => match k.retired_at {
            Some(until) => format!("since {}, until {}", time(k.signs_from), time(until)),
            None => format!("since {}", time(k.signs_from)),
        },
        ("next", _) => format!("published, signs from {}", time(k.signs_from)),
        ("expired", Some(until)) => format!("out of the JWKS since {}", time(until)),
        (_, Some(until)) => format!("published until {}", time(until)),
        (_, None) => String::new(),
    };
    format!("{}  {:<7}  {when}", k.kid, k.state)
}

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
    let out = Output { json: cli.json };
    if let Command::Backup { path, force } = &cli.command {
        // Before `connect_once`: a backup reads the live database and changes nothing in it
        // (no migrations, no new empty file for a mistyped path).
        let done = super::backup::backup(&settings, path, *force)?;
        return out.print(&done.json, || done.text);
    }
    let mut conn = Database::connect_once(&settings.database.url, &pool_options(&settings))?;
    let conn = &mut conn;
    let now = Clock::default().now();
    match cli.command {
        Command::Serve | Command::Backup { .. } => unreachable!("handled above"),
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
                keys.iter().map(key_line).collect::<Vec<_>>().join("\n")
            })?;
        }
        Command::Role(command) => people::role_command(conn, &out, command, now)?,
        Command::Consent(command) => people::consent_command(conn, &out, command, now)?,
        Command::User(UserCommand::Totp(command)) => {
            let kek = key_encryption_key(conn, &settings)?;
            people::totp_command(conn, &out, kek, command, now)?
        }
        Command::User(command) => {
            let rules = PasswordRules {
                bcrypt_cost: settings.accounts.bcrypt_cost,
                min_length: settings.accounts.min_password_length,
            };
            people::user_command(conn, &out, &rules, command, now)?
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
                        let at = time(e.at);
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
        Command::Keys(KeysCommand::Rotate) => {
            let ttl = settings.tokens.access_token_ttl_secs;
            let kek = key_encryption_key(conn, &settings)?;
            let key = admin::rotate_keys(conn, &Actor::cli(), &kek, ttl, now)?;
            out.print(&key, || {
                format!(
                    "new signing key, signing now: {} (the others stay published until their tokens expire)",
                    key.kid
                )
            })?;
        }
        Command::Keys(KeysCommand::Rewrap { new_key_file }) => {
            let kek = key_encryption_key(conn, &settings)?;
            let done = admin::rewrap_keys(conn, &Actor::cli(), &kek, &new_key_file, now)?;
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
            post_logout_redirect_uris,
            grant_types,
            scopes,
            public,
            introspect,
        } => {
            let spec = ClientSpec {
                name,
                redirect_uris,
                post_logout_redirect_uris,
                grant_types,
                scopes,
                public,
                introspect,
            };
            let created = admin::create_client(conn, &Actor::cli(), spec, now)?;
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
            admin::delete_client(conn, &Actor::cli(), &id, now)?;
            until_every_instance_has_seen_it();
            out.print(&serde_json::json!({ "deleted": id }), || {
                format!("deleted client {id}")
            })?;
        }
        ClientCommand::RotateSecret { id } => {
            let secret = admin::rotate_client_secret(conn, &Actor::cli(), &id, now)?;
            until_every_instance_has_seen_it();
            out.print(
                &serde_json::json!({ "client_id": id, "client_secret": secret }),
                || {
                    format!(
                        "client_secret: {secret}\n(shown only now: the old secret no longer works)"
                    )
                },
            )?;
        }
        ClientCommand::Update {
            id,
            name,
            redirect_uris,
            post_logout_redirect_uris,
            clear_post_logout_redirect_uris,
            grant_types,
            scopes,
            introspect,
        } => {
            let change = ClientChange {
                name,
                redirect_uris,
                post_logout_redirect_uris: if clear_post_logout_redirect_uris {
                    Some(Vec::new())
                } else {
                    post_logout_redirect_uris
                },
                grant_types,
                scopes,
                introspect,
            };
            let client = admin::update_client(conn, &Actor::cli(), &id, change, now)?;
            until_every_instance_has_seen_it();
            out.print(&client, || describe(&client))?;
        }
    }
    Ok(())
}

/// Running servers serve clients from memory, each read from the database at most
/// `client_cache::MAX_AGE` ago: once that much time has passed since the change committed,
/// none of them accepts the deleted client or the old secret. The command reports success
/// only then, so "the old secret no longer works" is true when it is printed.
fn until_every_instance_has_seen_it() {
    std::thread::sleep(crate::oauth::client_cache::MAX_AGE);
}

/// `user create`'s password: typed twice without echo at a terminal, or one line from a pipe
/// (SPEC.md: "reads the password as one line from stdin").
pub(super) fn read_password(username: &str) -> Result<String, CliError> {
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
    let mut text = format!(
        "{}  {}{}{}  grants: {}  scopes: {}  redirect URIs: {}",
        c.client_id,
        c.name,
        if c.public { " (public)" } else { "" },
        if c.introspect { " (introspects)" } else { "" },
        c.grant_types.join(","),
        c.scopes.join(" "),
        c.redirect_uris.join(" ")
    );
    if !c.post_logout_redirect_uris.is_empty() {
        text.push_str("  after sign-out: ");
        text.push_str(&c.post_logout_redirect_uris.join(" "));
    }
    text
}

pub(super) struct Output {
    pub(super) json: bool,
}

impl Output {
    pub(super) fn print<T: Serialize>(
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
