//! Failed logins, counted per username and per IP address in the database, with a bounded
//! back-off (`storage::throttles`). The username key is the name as typed, so an unknown
//! username is throttled exactly like a real one and the answer never tells them apart.

use crate::startup::LoginLimits;
use crate::storage::security_events::{self, Event, EventKind};
use crate::storage::throttles;
use crate::storage::{DbConnection, StorageError};

/// Longest typed username that gets its own counter; longer ones share the clipped key.
const MAX_KEY_NAME: usize = 128;

/// The counters one login attempt touches.
pub struct LoginKeys {
    account: String,
    ip: Option<String>,
}

impl LoginKeys {
    pub fn new(username: &str, ip: Option<&str>) -> Self {
        let name: String = username.to_lowercase().chars().take(MAX_KEY_NAME).collect();
        LoginKeys {
            account: format!("login:user:{name}"),
            ip: ip.map(|ip| format!("login:ip:{ip}")),
        }
    }

    /// Seconds to wait before trying again, if the username or the address is blocked.
    pub fn blocked(&self, conn: &mut DbConnection, now: i64) -> Result<Option<i64>, StorageError> {
        let mut keys = vec![self.account.as_str()];
        keys.extend(self.ip.as_deref());
        throttles::blocked(conn, &keys, now)
    }

    /// Counts a failure (a wrong password, or a wrong second-factor code) against both keys and
    /// records it as `kind`; a key that now has to wait is recorded as a lockout.
    pub fn failed(
        &self,
        conn: &mut DbConnection,
        limits: &LoginLimits,
        kind: EventKind,
        event: &Event<'_>,
        now: i64,
    ) -> Result<(), StorageError> {
        security_events::record(conn, kind, event, now)?;
        let mut waits = vec![(
            "username",
            throttles::fail(conn, &self.account, &limits.account, now)?,
        )];
        if let Some(ip) = &self.ip {
            waits.push(("address", throttles::fail(conn, ip, &limits.ip, now)?));
        }
        for (what, wait) in waits {
            if let Some(wait) = wait {
                let detail = format!("logins for this {what} wait {wait} s");
                let lockout = Event {
                    detail: Some(&detail),
                    ..event.clone()
                };
                security_events::record(conn, EventKind::Lockout, &lockout, now)?;
            }
        }
        Ok(())
    }

    /// A successful login forgets the username's failures (not the address's: one right
    /// password does not vouch for the other names tried from there).
    pub fn succeeded(&self, conn: &mut DbConnection) -> Result<(), StorageError> {
        throttles::clear(conn, &self.account)
    }
}
