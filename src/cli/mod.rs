//! The command line of SPEC.md: each command a thin call into the library.
//!
//! With `--json` a command prints exactly one JSON value on stdout; errors go to stderr and
//! the exit status is non-zero.
mod args;
mod backup;
mod people;
mod run;

pub use args::*;
pub use run::run;

use crate::admin::AdminError;
use crate::console;
use crate::settings::SettingsError;
use crate::startup::StartupError;
use crate::storage::backup::BackupError;
use crate::storage::StorageError;
use crate::tokens::kek::KekError;

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
    #[error(transparent)]
    Backup(#[from] BackupError),
    #[error("{0}")]
    NoBackup(&'static str),
    #[error("--since {0}: expected unix seconds, an RFC 3339 time or an age like 30m, 12h, 7d")]
    BadSince(String),
    #[error("--limit {0}: expected 0 or more events")]
    BadLimit(i64),
    #[error("the two passwords typed differ; nothing was written")]
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
