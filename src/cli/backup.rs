//! `gatehouse backup PATH`: a SQLite database copied online (storage::backup), with the
//! reminder that the key-encryption key is not in the copy.

use std::path::{Path, PathBuf};

use super::CliError;
use crate::settings::Settings;
use crate::storage::backup;
use crate::storage::DatabaseUrl;
use crate::tokens::kek::KekLocation;

const POSTGRES: &str = "gatehouse backup copies SQLite databases only: back up PostgreSQL with pg_dump --format=custom and restore with pg_restore into an empty database, then gatehouse migrate (README.md, \"Backups\")";
const MEMORY: &str =
    "sqlite::memory: has nothing to back up: the database lives only inside its server's process";

/// The backup made, as the `--json` answer and as text.
pub(super) struct Done {
    pub(super) json: serde_json::Value,
    pub(super) text: String,
}

pub(super) fn backup(settings: &Settings, dest: &Path, force: bool) -> Result<Done, CliError> {
    let url = DatabaseUrl::parse(&settings.database.url)?;
    let live = match &url {
        DatabaseUrl::SqliteFile(path) => PathBuf::from(path),
        DatabaseUrl::SqliteMemory => return Err(CliError::NoBackup(MEMORY)),
        DatabaseUrl::Postgres(_) => return Err(CliError::NoBackup(POSTGRES)),
    };
    // Never print the key itself: only where it comes from.
    let (kek_from, kek_file) = match KekLocation::of(&settings.keys, &url) {
        KekLocation::DefaultFile(path) => ("the default file beside the database", Some(path)),
        KekLocation::File(path) => ("keys.encryption_key_file", Some(path)),
        KekLocation::Setting(_) => ("keys.encryption_key (GATEHOUSE_KEYS_ENCRYPTION_KEY)", None),
        KekLocation::Ephemeral => ("a random key of the server's process", None),
    };
    let kek_where = match &kek_file {
        Some(path) => format!("in {} ({kek_from})", path.display()),
        None => format!("given by {kek_from}"),
    };
    let keep: Vec<&Path> = kek_file.iter().map(PathBuf::as_path).collect();
    let report = backup::backup_sqlite(
        &live,
        dest,
        force,
        &keep,
        settings.database.sqlite_busy_timeout_ms,
    )?;
    let reminder = format!(
        "the copy's signing keys, session keys and TOTP secrets are wrapped by the key-encryption key {kek_where}, which is not in the backup: back it up apart from the copy (a server restored from it needs that same key)"
    );
    let json = serde_json::json!({
        "backup": &report,
        "key_encryption_key": {
            "from": kek_from,
            "file": kek_file.as_ref().map(|p| p.display().to_string()),
            "in_backup": false,
        },
        "reminder": &reminder,
    });
    let tables = report
        .tables
        .iter()
        .map(|(name, rows)| format!("{name} {rows}"))
        .collect::<Vec<_>>()
        .join(", ");
    let text = format!(
        "backed up {} to {}: {} pages of {} bytes ({} bytes), integrity_check ok\nrows: {tables}\n{reminder}",
        live.display(),
        report.path,
        report.pages,
        report.page_size,
        report.bytes,
    );
    Ok(Done { json, text })
}
