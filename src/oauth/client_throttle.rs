//! Brute-force protection for client authentication at the token, introspection and
//! revocation endpoints: after too many failures for one client id, requests naming it get
//! 429 with `Retry-After` until the (bounded) back-off has passed.

use super::request::FormRequest;
use super::{client_auth, ErrorCode, OAuthError};
use crate::storage::security_events::{self, Event, EventKind};
use crate::storage::throttles::{self, Policy};
use crate::storage::DbConnection;

/// Client ids are short; a longer one is an attack and needs no row of its own.
const MAX_KEY_ID: usize = 128;

/// Runs `flow` (which authenticates the client) under the client's failure count.
pub fn guarded<T>(
    conn: &mut DbConnection,
    request: &FormRequest,
    policy: &Policy,
    now: i64,
    flow: impl FnOnce(&mut DbConnection) -> Result<T, OAuthError>,
) -> Result<T, OAuthError> {
    let client_id = client_auth::credentials(request)
        .ok()
        .map(|c| c.client_id.chars().take(MAX_KEY_ID).collect::<String>());
    let key = client_id.as_ref().map(|id| format!("client:{id}"));
    if let Some(key) = &key {
        if let Some(wait) = throttles::blocked(conn, &[key], now)? {
            return Err(OAuthError::too_many_failures(wait));
        }
    }
    let result = flow(conn);
    if let (Err(e), Some(key)) = (&result, &key) {
        if e.code == ErrorCode::InvalidClient {
            if let Some(wait) = throttles::fail(conn, key, policy, now)? {
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
