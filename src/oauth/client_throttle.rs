//! Brute-force protection for client authentication at the token, introspection and
//! revocation endpoints: after too many failures for one client id, requests naming it get
//! 429 with `Retry-After` until the (bounded) back-off has passed.
//!
//! Failures are counted in the database. Which clients are blocked right now is also kept in
//! memory, refreshed from the database every second (`ClientGuard::refresh`), so the check on
//! every token request costs no query: a block made by another instance applies here within
//! a second, one made here at once.

use std::collections::HashMap;
use std::sync::RwLock;

use super::request::FormRequest;
use super::{client_auth, ErrorCode, OAuthError};
use crate::storage::security_events::{self, Event, EventKind};
use crate::storage::throttles::{self, Policy};
use crate::storage::{DbConnection, StorageError};

/// Client ids are short; a longer one is an attack and needs no row of its own.
const MAX_KEY_ID: usize = 128;
const KEY_PREFIX: &str = "client:";

pub struct ClientGuard {
    policy: Policy,
    /// Blocked throttle keys and until when.
    blocked: RwLock<HashMap<String, i64>>,
}

impl ClientGuard {
    pub fn new(policy: Policy) -> Self {
        ClientGuard {
            policy,
            blocked: RwLock::new(HashMap::new()),
        }
    }

    /// Reloads the blocked clients from the database.
    pub fn refresh(&self, conn: &mut DbConnection, now: i64) -> Result<(), StorageError> {
        let blocked = throttles::blocked_with_prefix(conn, KEY_PREFIX, now)?;
        *self.blocked.write().unwrap_or_else(|e| e.into_inner()) = blocked.into_iter().collect();
        Ok(())
    }

    fn wait(&self, key: &str, now: i64) -> Option<i64> {
        let blocked = self.blocked.read().unwrap_or_else(|e| e.into_inner());
        blocked.get(key).map(|until| until - now).filter(|w| *w > 0)
    }

    fn block(&self, key: &str, until: i64) {
        let mut blocked = self.blocked.write().unwrap_or_else(|e| e.into_inner());
        blocked.insert(key.to_owned(), until);
    }

    /// Runs `flow` (which authenticates the client) under the client's failure count.
    pub fn guarded<T>(
        &self,
        conn: &mut DbConnection,
        request: &FormRequest,
        now: i64,
        flow: impl FnOnce(&mut DbConnection) -> Result<T, OAuthError>,
    ) -> Result<T, OAuthError> {
        let client_id = client_auth::credentials(request)
            .ok()
            .map(|c| c.client_id.chars().take(MAX_KEY_ID).collect::<String>());
        let key = client_id.as_ref().map(|id| format!("{KEY_PREFIX}{id}"));
        if let Some(wait) = key.as_deref().and_then(|k| self.wait(k, now)) {
            return Err(OAuthError::too_many_failures(wait));
        }
        let result = flow(conn);
        if let (Err(e), Some(key)) = (&result, &key) {
            if e.code == ErrorCode::InvalidClient {
                if let Some(wait) = throttles::fail(conn, key, &self.policy, now)? {
                    self.block(key, now + wait);
                    let detail = format!("client authentication refused for {wait} s");
                    let event = Event {
                        actor: None,
                        client_id: client_id.as_deref(),
                        ip: request.ip(),
                        detail: Some(&detail),
                    };
                    security_events::record_or_log(conn, EventKind::Lockout, &event, now);
                }
            }
        }
        result
    }
}
