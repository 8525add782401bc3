//! The admin operations behind the CLI, the admin API and the console: validate input
//! once, then write, so a bad argument never leaves a half-written record; and record every
//! change in the security event log with the admin who made it. One module per thing
//! administered.

pub mod account;
pub mod api;
mod clients;
pub mod console;
mod events;
mod keys;
pub mod registration;
mod roles;
mod sessions;
pub mod token;
mod totp;
mod users;

pub use clients::*;
pub use events::*;
pub use keys::*;
pub use roles::*;
pub use sessions::*;
pub use totp::*;
pub use users::*;

use crate::storage::security_events::{self, Event, EventKind};
use crate::storage::{DbConnection, StorageError};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    Invalid(String),
    #[error("no client with id `{0}`")]
    NoSuchClient(String),
    #[error("no user `{0}`")]
    NoSuchUser(String),
    #[error("no role named `{0}`")]
    NoSuchRole(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

pub(crate) fn invalid<T>(message: impl Into<String>) -> Result<T, AdminError> {
    Err(AdminError::Invalid(message.into()))
}

/// Who makes an admin change, as the event log names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// `admin` for the command line; otherwise the `sub` of the admin token or the console
    /// user's id.
    id: String,
    via: &'static str,
}

impl Actor {
    /// The command line, run by someone with access to the server's machine.
    pub fn cli() -> Self {
        Actor {
            id: security_events::ADMIN.to_owned(),
            via: "cli",
        }
    }

    /// The holder of an admin token at the admin API or the registration endpoint.
    pub fn token(sub: &str) -> Self {
        Actor {
            id: sub.to_owned(),
            via: "api",
        }
    }

    /// A client managing its own registration with its registration access token
    /// (RFC 7592).
    pub fn registration_token(client_id: &str) -> Self {
        Actor {
            id: client_id.to_owned(),
            via: "client configuration",
        }
    }

    /// A signed-in admin on the console.
    pub fn console(user_id: &str) -> Self {
        Actor {
            id: user_id.to_owned(),
            via: "console",
        }
    }

    /// A user changing their own account on `/account`.
    pub fn own_account(user_id: &str) -> Self {
        Actor {
            id: user_id.to_owned(),
            via: "account",
        }
    }

    /// Records `kind` about `what` (a sentence for people: never a secret), and the client
    /// concerned if any.
    pub(crate) fn record(
        &self,
        conn: &mut DbConnection,
        kind: EventKind,
        client_id: Option<&str>,
        what: &str,
        now: i64,
    ) {
        let detail = format!("{what} (via {})", self.via);
        let event = Event {
            actor: Some(&self.id),
            client_id,
            detail: Some(&detail),
            ..Event::default()
        };
        security_events::record_or_log(conn, kind, &event, now);
    }
}

/// The most a page of any admin list holds, and what a page holds when the caller does
/// not say.
pub const MAX_PAGE: i64 = 500;
pub const DEFAULT_PAGE: i64 = 50;

/// A page size as asked (`None`: the default), checked.
pub fn page_size(asked: Option<i64>) -> Result<i64, AdminError> {
    match asked {
        None => Ok(DEFAULT_PAGE),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(n) => invalid(format!("a page holds 1 to {MAX_PAGE} entries, not {n}")),
    }
}
