//! What a resource server is configured with, and who a checked token says is calling.

use std::collections::BTreeSet;
use std::time::Duration;

use jsonwebtoken::Algorithm;
use serde_json::Value;

use crate::clock::Clock;

/// How a resource server checks tokens.
#[derive(Debug, Clone)]
pub struct Verification {
    /// gatehouse's issuer URL: where the metadata is, and the expected `iss`.
    pub issuer: String,
    /// The expected `aud`; gatehouse's default audience is its issuer URL.
    pub audience: String,
    pub algorithms: Vec<Algorithm>,
    /// Allowed clock difference for `exp` and `nbf`.
    pub leeway_secs: i64,
    /// Accept `?access_token=` (RFC 6750 §2.3). Off: tokens in URLs end up in logs.
    pub allow_query_token: bool,
    /// The shortest time between two JWKS fetches caused by unknown `kid`s.
    pub jwks_refresh_interval: Duration,
    /// Ask gatehouse whether each token is still active (RFC 7662), with these client
    /// credentials, caching each answer this long.
    pub introspection: Option<IntrospectionClient>,
    /// The clock expiry is checked against (tests move it).
    pub clock: Clock,
}

/// The credentials the resource server introspects with: a client registered with
/// `gatehouse client create --introspect`, or it learns only about its own tokens.
#[derive(Debug, Clone)]
pub struct IntrospectionClient {
    pub client_id: String,
    pub client_secret: String,
    pub cache_for: Duration,
}

impl Verification {
    /// Defaults: audience = issuer, ES256, 30 s leeway, header only, refetch at most every
    /// 10 s, no introspection.
    pub fn new(issuer: impl Into<String>) -> Self {
        let issuer = issuer.into().trim_end_matches('/').to_owned();
        Verification {
            audience: issuer.clone(),
            issuer,
            algorithms: vec![Algorithm::ES256],
            leeway_secs: 30,
            allow_query_token: false,
            jwks_refresh_interval: Duration::from_secs(10),
            introspection: None,
            clock: Clock::default(),
        }
    }
}

/// Who is calling, as the token says.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user's id, or the client id for client credentials.
    pub sub: String,
    pub client_id: String,
    pub scopes: BTreeSet<String>,
    /// The user's roles when the token was issued (none for client credentials).
    pub roles: BTreeSet<String>,
    /// Every claim, for anything else a handler needs.
    pub claims: Value,
}

impl Caller {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.contains(scope)
    }
}
