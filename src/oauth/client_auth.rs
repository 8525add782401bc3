//! Client authentication (RFC 6749 §2.3), one function for every endpoint that needs it.

use super::registrar::{DbRegistrar, Rejection};
use super::request::FormRequest;
use super::{GrantType, OAuthError};
use crate::storage::clients::Client;
use crate::storage::DbConnection;

/// The credentials a request presents: exactly one method, or a bare `client_id` for a
/// public client.
pub struct Credentials<'r> {
    pub client_id: &'r str,
    pub secret: Option<&'r str>,
}

pub fn credentials(request: &FormRequest) -> Result<Credentials<'_>, OAuthError> {
    let body_id = request.param("client_id");
    let body_secret = request.param("client_secret");
    match (request.basic(), body_id, body_secret) {
        (Some(_), _, Some(_)) => Err(OAuthError::invalid_request(
            "use one client authentication method, not both Basic and client_secret",
        )),
        (Some(basic), Some(id), None) if id != basic.client_id => Err(OAuthError::invalid_request(
            "client_id differs from the Basic credentials",
        )),
        (Some(basic), _, None) => Ok(Credentials {
            client_id: &basic.client_id,
            secret: Some(&basic.secret),
        }),
        (None, Some(id), secret) => Ok(Credentials {
            client_id: id,
            secret,
        }),
        (None, None, Some(_)) => Err(OAuthError::invalid_request(
            "client_secret given without client_id",
        )),
        (None, None, None) => Err(OAuthError::invalid_client("client authentication required")),
    }
}

/// Authenticates the request's client; public clients pass with their id alone when
/// `allow_public`.
pub fn authenticate(
    conn: &mut DbConnection,
    request: &FormRequest,
    allow_public: bool,
) -> Result<Client, OAuthError> {
    let creds = credentials(request)?;
    if creds.secret.is_none() && !allow_public {
        return Err(OAuthError::invalid_client("client authentication required"));
    }
    let conn = std::cell::RefCell::new(conn);
    let registrar = DbRegistrar::authenticating(&conn);
    use oxide_auth::primitives::registrar::Registrar;
    match registrar.check(creds.client_id, creds.secret.map(str::as_bytes)) {
        Ok(()) => registrar
            .into_client()
            .ok_or_else(|| OAuthError::server_error(&"authenticated client not loaded")),
        Err(_) => Err(match registrar.take_rejection() {
            Some(Rejection::Storage(e)) => e.into(),
            _ => OAuthError::invalid_client("client authentication failed"),
        }),
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
