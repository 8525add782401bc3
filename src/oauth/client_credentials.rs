//! The client-credentials grant (RFC 6749 §4.4), driven through oxide-auth's flow:
//!
//! ```text
//!  client ── POST /token grant_type=client_credentials ──▶ authenticate  (DbRegistrar::check)
//!                                                        ▶ grant type and scope (DbRegistrar::negotiate)
//!         ◀── access token (no refresh token, §4.4.3) ── issue      (JwtIssuer::issue)
//! ```

use oxide_auth::code_grant::client_credentials::{
    client_credentials, Endpoint, Error as FlowError, Extension,
};
use oxide_auth::primitives::issuer::Issuer;
use oxide_auth::primitives::registrar::Registrar;

use super::client_auth;
use super::issuer::{JwtIssuer, Minter, TokenResponse};
use super::registrar::{DbRegistrar, Rejection};
use super::request::FormRequest;
use super::{GrantType, OAuthError};
use crate::storage::DbConnection;

struct FlowEndpoint<'a> {
    registrar: DbRegistrar<'a>,
    issuer: JwtIssuer<'a>,
    extension: (),
}

impl Endpoint for FlowEndpoint<'_> {
    fn registrar(&self) -> &dyn Registrar {
        &self.registrar
    }

    fn issuer(&mut self) -> &mut dyn Issuer {
        &mut self.issuer
    }

    fn extension(&mut self) -> &mut dyn Extension {
        &mut self.extension
    }
}

/// Runs the grant for one request. Synchronous: call it on the blocking pool.
pub fn grant(
    minter: &Minter,
    conn: &mut DbConnection,
    request: &FormRequest,
    now: i64,
) -> Result<TokenResponse, OAuthError> {
    request.scope()?;
    // oxide-auth reads the credentials itself; checking them here first gives precise
    // errors, and the grant is for confidential clients only (RFC 6749 §4.4).
    if client_auth::credentials(request)?.secret.is_none() {
        return Err(OAuthError::invalid_client(
            "client authentication required: the client credentials grant is for confidential clients",
        ));
    }

    let conn = std::cell::RefCell::new(conn);
    let mut endpoint = FlowEndpoint {
        registrar: DbRegistrar::new(&conn, GrantType::ClientCredentials),
        issuer: JwtIssuer::new(minter, now),
        extension: (),
    };
    let outcome = client_credentials(&mut endpoint, request).and_then(|pending| {
        // The client acts on its own behalf: it is the token's subject (RFC 9068 §2.2).
        let client_id = pending.as_solicitation().pre_grant().client_id.clone();
        pending.issue(&mut endpoint, client_id, false)
    });
    match outcome {
        Ok(_) => endpoint
            .issuer
            .take_issued()
            .map(|access| TokenResponse::bearer(access, None))
            .ok_or_else(|| {
                OAuthError::server_error(&"the issuer reported success without a token")
            }),
        Err(flow_error) => Err(explain(&mut endpoint, flow_error)),
    }
}

/// Turns oxide-auth's coarse error and our recorded reason into the RFC 6749 answer.
fn explain(endpoint: &mut FlowEndpoint<'_>, flow_error: FlowError) -> OAuthError {
    if let Some(failure) = endpoint.issuer.take_failure() {
        return OAuthError::server_error(&failure);
    }
    match endpoint.registrar.take_rejection() {
        Some(Rejection::BadCredentials) => {
            OAuthError::invalid_client("client authentication failed")
        }
        Some(Rejection::GrantNotAllowed(grant)) => client_auth::grant_not_allowed(grant),
        Some(Rejection::ScopeNotAllowed(extra)) => {
            OAuthError::invalid_scope(format!("scope not registered for this client: {extra}"))
        }
        Some(Rejection::MalformedScope) => OAuthError::invalid_scope("malformed scope"),
        Some(Rejection::NothingToGrant(_) | Rejection::RedirectUri) => {
            OAuthError::server_error(&"a user-grant refusal in the client credentials flow")
        }
        Some(Rejection::Storage(e)) => OAuthError::from(e),
        None => match flow_error {
            FlowError::Invalid(_) => {
                OAuthError::invalid_request("malformed client credentials request")
            }
            FlowError::Unauthorized(..) => {
                OAuthError::invalid_client("client authentication failed")
            }
            FlowError::Ignore | FlowError::Primitive(_) => {
                OAuthError::server_error(&"the client credentials flow failed without a reason")
            }
        },
    }
}
