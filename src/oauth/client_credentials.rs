//! The client-credentials grant (RFC 6749 §4.4), driven through oxide-auth's flow:
//!
//! ```text
//!  client ── POST /token grant_type=client_credentials ──▶ precheck      (form, credentials parsed once)
//!                                                        ▶ authenticate  (ClientAuthenticator: memory, else database)
//!                                                        ▶ grant type and scope (DbRegistrar::negotiate, from the client)
//!         ◀── access token (no refresh token, §4.4.3) ── issue      (JwtIssuer::issue)
//! ```
//!
//! Once the client is authenticated nothing here touches storage: with the client in
//! memory the whole grant runs on the HTTP worker (one ES256 signature, about 20 µs).

use oxide_auth::code_grant::client_credentials::{
    client_credentials, Endpoint, Error as FlowError, Extension,
};
use oxide_auth::primitives::issuer::Issuer;
use oxide_auth::primitives::registrar::Registrar;

use std::sync::Arc;

use super::client_auth::{self, ClientCredentials};
use super::issuer::{JwtIssuer, Minter, TokenResponse};
use super::registrar::{DbRegistrar, Rejection};
use super::request::FormRequest;
use super::{GrantType, OAuthError};
use crate::domain::Client;

struct FlowEndpoint<'a> {
    registrar: DbRegistrar<'static>,
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

/// The request's form and credentials, before any client is looked up: precise errors, and
/// the grant is for confidential clients only (RFC 6749 §4.4).
pub fn precheck(request: &FormRequest) -> Result<ClientCredentials, OAuthError> {
    request.scope()?;
    let creds = ClientCredentials::from_request(request)?;
    if !creds.has_secret() {
        return Err(OAuthError::invalid_client(
            "client authentication required: the client credentials grant is for confidential clients",
        ));
    }
    Ok(creds)
}

/// Runs the grant for `client`, already authenticated by the request's credentials. No
/// I/O: it may run on the HTTP worker.
pub fn grant(
    minter: &Minter,
    client: Arc<Client>,
    request: &FormRequest,
    now: i64,
) -> Result<TokenResponse, OAuthError> {
    // oxide-auth reads the credentials again; its `check` is answered from `client`.
    let mut endpoint = FlowEndpoint {
        registrar: DbRegistrar::for_client(client, GrantType::ClientCredentials),
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
