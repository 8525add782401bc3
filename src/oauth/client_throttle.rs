//! Abuse limits for client authentication at the token, introspection and revocation
//! endpoints.
//!
//! Client secrets are 256 random bits: guessing one is hopeless, so the limit is not there
//! to protect the secret but to keep a noisy source cheap. Hence:
//! - a correct secret is always accepted, however many failures came before it — knowing a
//!   client id (it is in every authorize URL) must not let a stranger lock the client out;
//! - failures are counted per source address (an IPv6 address by its /64), never per client
//!   id, so a stranger makes the server store at most one counter, whatever client ids they
//!   invent;
//! - past the limit, further *failures* from that address are answered 429 with
//!   `Retry-After` instead of 401, until the (bounded) back-off has passed.
//!
//! The count lives in the database (`storage::throttles`) and is only read or written on
//! the failure path: a successful request costs nothing here.

use super::{ErrorCode, OAuthError};
use crate::accounts::login_attempts::address_key;
use crate::domain::Policy;
use crate::storage::security_events::{self, Event, EventKind};
use crate::storage::throttles::{self, Reservation, Reserved};
use crate::storage::{DbConnection, StorageError};

const KEY_PREFIX: &str = "client-auth:ip:";

pub struct ClientGuard {
    policy: Policy,
}

impl ClientGuard {
    pub fn new(policy: Policy) -> Self {
        ClientGuard { policy }
    }

    /// Runs `flow` (which authenticates the client); a failed client authentication is
    /// counted against `ip`, and past the limit answered 429. `client_id` is the one the
    /// request presented, for the lockout event.
    pub fn guarded<T>(
        &self,
        conn: &mut DbConnection,
        ip: Option<&str>,
        client_id: Option<&str>,
        now: i64,
        flow: impl FnOnce(&mut DbConnection) -> Result<T, OAuthError>,
    ) -> Result<T, OAuthError> {
        let result = flow(conn);
        let (Err(e), Some(ip)) = (&result, ip) else {
            return result;
        };
        if e.code != ErrorCode::InvalidClient {
            return result;
        }
        match self.count_failure(conn, client_id, ip, now)? {
            Some(wait) => Err(OAuthError::too_many_failures(wait)),
            None => result,
        }
    }

    /// Counts one failure from `ip`; `Some(wait)` when the address is over its limit.
    fn count_failure(
        &self,
        conn: &mut DbConnection,
        client_id: Option<&str>,
        ip: &str,
        now: i64,
    ) -> Result<Option<i64>, StorageError> {
        let key = format!("{KEY_PREFIX}{}", address_key(ip));
        Ok(match throttles::reserve(conn, &key, &self.policy, now)? {
            Reservation::Blocked(wait) => Some(wait),
            Reservation::Granted(Reserved {
                blocks_for: None, ..
            }) => None,
            Reservation::Granted(Reserved {
                blocks_for: Some(wait),
                ..
            }) => {
                let detail = format!(
                    "failed client authentications from this address answered 429 for {wait} s"
                );
                let client_id = client_id.map(|id| id.chars().take(128).collect::<String>());
                let event = Event {
                    actor: None,
                    client_id: client_id.as_deref(),
                    ip: Some(ip),
                    detail: Some(&detail),
                };
                security_events::record_or_log(conn, EventKind::Lockout, &event, now);
                // This failure itself is still answered as what it is.
                None
            }
        })
    }
}
