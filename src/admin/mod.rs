//! The admin operations behind the CLI (and, later, the admin API): validate input once,
//! then write, so a bad argument never leaves a half-written record. One module per thing
//! administered.

mod clients;
mod events;
mod keys;
mod people;
mod totp;

pub use clients::*;
pub use events::*;
pub use keys::*;
pub use people::*;
pub use totp::*;

use crate::storage::security_events::{self, Event, EventKind};
use crate::storage::{DbConnection, StorageError};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    Invalid(String),
    #[error("no client with id `{0}`")]
    NoSuchClient(String),
    #[error("no user named `{0}`")]
    NoSuchUser(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

pub(crate) fn invalid<T>(message: impl Into<String>) -> Result<T, AdminError> {
    Err(AdminError::Invalid(message.into()))
}

/// Records what an administrator changed, with the CLI as the actor.
pub(crate) fn admin_event(
    conn: &mut DbConnection,
    kind: EventKind,
    client_id: Option<&str>,
    now: i64,
) {
    let event = Event {
        actor: Some(security_events::ADMIN),
        client_id,
        ..Event::default()
    };
    security_events::record_or_log(conn, kind, &event, now);
}
