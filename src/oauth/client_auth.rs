//! Client authentication (RFC 6749 §2.3): the one authenticator every endpoint uses.
//!
//! A request's credentials are parsed once ([`ClientCredentials::from_request`]) and handed
//! to the flow; the client comes from memory when a recent read of it admits them
//! ([`ClientAuthenticator::from_memory`], no database, callable on an async worker), from
//! the database otherwise ([`ClientAuthenticator::authenticate`], blocking pool). Failures
//! go through the per-address back-off ([`ClientAuthenticator::guarded`]).

use std::sync::Arc;
use std::time::Instant;

use super::client_cache::ClientCache;
use super::client_throttle::ClientGuard;
use super::request::FormRequest;
use super::{GrantType, OAuthError};
use crate::domain::client::admits;
use crate::storage::clients::{self, Client};
use crate::storage::DbConnection;

/// The credentials a request presents: exactly one method, or a bare `client_id` for a
/// public client. Parsed once per request.
#[derive(Clone)]
pub struct ClientCredentials {
    pub client_id: String,
    secret: Option<String>,
}

impl std::fmt::Debug for ClientCredentials {
    // Never print the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client_id", &self.client_id)
            .field("secret", &self.secret.as_ref().map(|_| "…"))
            .finish()
    }
}

impl ClientCredentials {
    /// `client_secret_basic` xor `client_secret_post`, or a bare `client_id`.
    pub fn from_request(request: &FormRequest) -> Result<Self, OAuthError> {
        let body_id = request.param("client_id");
        let body_secret = request.param("client_secret");
        let (client_id, secret) = match (request.basic(), body_id, body_secret) {
            (Some(_), _, Some(_)) => {
                return Err(OAuthError::invalid_request(
                    "use one client authentication method, not both Basic and client_secret",
                ))
            }
            (Some(basic), Some(id), None) if id != basic.client_id => {
                return Err(OAuthError::invalid_request(
                    "client_id differs from the Basic credentials",
                ))
            }
            (Some(basic), _, None) => (basic.client_id.as_str(), Some(basic.secret.as_str())),
            (None, Some(id), secret) => (id, secret),
            (None, None, Some(_)) => {
                return Err(OAuthError::invalid_request(
                    "client_secret given without client_id",
                ))
            }
            (None, None, None) => {
                return Err(OAuthError::invalid_client("client authentication required"))
            }
        };
        Ok(ClientCredentials {
            client_id: client_id.to_owned(),
            secret: secret.map(str::to_owned),
        })
    }

    /// Whether a secret was presented (a confidential client's authentication).
    pub fn has_secret(&self) -> bool {
        self.secret.is_some()
    }

    /// Whether these credentials authenticate `client` (as loaded; `None` if unknown), in
    /// constant time (`domain::client::admits`).
    pub fn admits(&self, client: Option<&Client>) -> bool {
        admits(client, self.secret.as_deref().map(str::as_bytes))
    }
}

/// Authenticates clients for every endpoint; shared by all requests.
pub struct ClientAuthenticator {
    cache: ClientCache,
    guard: ClientGuard,
}

impl ClientAuthenticator {
    pub fn new(guard: ClientGuard) -> Self {
        ClientAuthenticator {
            cache: ClientCache::default(),
            guard,
        }
    }

    /// The client, when a recent read of it admits `creds`; `None` means "ask the database"
    /// (unknown here, stale, or not admitted: a secret rotated moments ago must work at once).
    /// No I/O: safe on an async worker.
    pub fn from_memory(&self, creds: &ClientCredentials) -> Option<Arc<Client>> {
        self.cache
            .get(&creds.client_id)
            .filter(|client| creds.admits(Some(client)))
    }

    /// Authenticates `creds` from memory or the database; public clients pass with their id
    /// alone when `allow_public`. Synchronous: call it on the blocking pool.
    pub fn authenticate(
        &self,
        conn: &mut DbConnection,
        creds: &ClientCredentials,
        allow_public: bool,
    ) -> Result<Arc<Client>, OAuthError> {
        if !creds.has_secret() && !allow_public {
            return Err(OAuthError::invalid_client("client authentication required"));
        }
        if let Some(client) = self.from_memory(creds) {
            return Ok(client);
        }
        let read_at = Instant::now();
        let found = clients::find(conn, &creds.client_id)?;
        if !creds.admits(found.as_ref()) {
            return Err(OAuthError::invalid_client("client authentication failed"));
        }
        let client = Arc::new(found.expect("admits refuses an unknown client"));
        self.cache.put(client.clone(), read_at);
        Ok(client)
    }

    /// Runs `flow`, which authenticates the client; a failed client authentication is
    /// counted against the request's address, and past the limit answered 429.
    pub fn guarded<T>(
        &self,
        conn: &mut DbConnection,
        request: &FormRequest,
        creds: Option<&ClientCredentials>,
        now: i64,
        flow: impl FnOnce(&mut DbConnection) -> Result<T, OAuthError>,
    ) -> Result<T, OAuthError> {
        let client_id = creds.map(|c| c.client_id.as_str());
        self.guard.guarded(conn, request.ip(), client_id, now, flow)
    }

    /// A request's credentials parsed once, to be checked by this authenticator.
    pub fn presented(&self, request: &FormRequest) -> Presented<'_> {
        Presented {
            authenticator: self,
            credentials: ClientCredentials::from_request(request),
        }
    }

    /// Drops a client this process changed or deleted, so the change holds at once here.
    pub fn forget(&self, client_id: &str) {
        self.cache.forget(client_id);
    }
}

/// One request's credentials, parsed once, with the authenticator that checks them. A
/// flow asks for them where its rules put client authentication, so a malformed request
/// gets the same error it always did, whatever else is wrong with it.
pub struct Presented<'a> {
    pub authenticator: &'a ClientAuthenticator,
    pub credentials: Result<ClientCredentials, OAuthError>,
}

impl Presented<'_> {
    /// The credentials, or why the request's form of them is wrong.
    pub fn credentials(&self) -> Result<&ClientCredentials, OAuthError> {
        self.credentials.as_ref().map_err(OAuthError::clone)
    }

    /// See [`ClientAuthenticator::authenticate`].
    pub fn authenticate(
        &self,
        conn: &mut DbConnection,
        allow_public: bool,
    ) -> Result<Arc<Client>, OAuthError> {
        self.authenticator
            .authenticate(conn, self.credentials()?, allow_public)
    }
}

/// The client must be registered for `grant` (`unauthorized_client` otherwise).
pub fn require_grant(client: &Client, grant: GrantType) -> Result<(), OAuthError> {
    if client.allows_grant(grant) {
        Ok(())
    } else {
        Err(grant_not_allowed(grant))
    }
}

/// `unauthorized_client`: the authenticated client may not use `grant` (RFC 6749 §5.2).
pub fn grant_not_allowed(grant: GrantType) -> OAuthError {
    OAuthError::new(
        super::ErrorCode::UnauthorizedClient,
        format!("this client is not registered for the {grant} grant"),
    )
}
