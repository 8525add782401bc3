//! oxide-auth's `Registrar`, backed by the client table.
//!
//! oxide-auth reduces every registrar failure to `()`-like errors; the registrar records the
//! real reason first, so the endpoint can answer with the precise RFC 6749 error.

use std::borrow::Cow;
use std::cell::RefCell;

use oxide_auth::endpoint::{PreGrant, Scope};
use oxide_auth::primitives::registrar::{
    BoundClient, ClientUrl, RegisteredUrl, Registrar, RegistrarError,
};

use super::{GrantType, ScopeSet};
use crate::storage::clients::{self, Client};
use crate::storage::{DbConnection, StorageError};

/// Why the registrar said no.
#[derive(Debug)]
pub enum Rejection {
    /// Unknown client, wrong secret, or a secret where none (or none where one) is expected.
    /// One variant on purpose: the answer must not tell which.
    BadCredentials,
    /// The client is not registered for the grant type of this request.
    GrantNotAllowed(GrantType),
    /// The request asked for scopes beyond the client's registration.
    ScopeNotAllowed(ScopeSet),
    /// oxide-auth handed over a scope the client's registration could not hold.
    MalformedScope,
    Storage(StorageError),
}

/// A registrar for one request: it borrows that request's connection, remembers the
/// client it loaded and the reason for any refusal.
pub struct DbRegistrar<'c> {
    conn: RefCell<&'c mut DbConnection>,
    grant: GrantType,
    client: RefCell<Option<Client>>,
    rejection: RefCell<Option<Rejection>>,
}

impl<'c> DbRegistrar<'c> {
    pub fn new(conn: &'c mut DbConnection, grant: GrantType) -> Self {
        DbRegistrar {
            conn: RefCell::new(conn),
            grant,
            client: RefCell::new(None),
            rejection: RefCell::new(None),
        }
    }

    /// The client `check` loaded, once it succeeded.
    pub fn into_client(self) -> Option<Client> {
        self.client.into_inner()
    }

    pub fn take_rejection(&self) -> Option<Rejection> {
        self.rejection.borrow_mut().take()
    }

    fn reject(&self, why: Rejection, as_error: RegistrarError) -> RegistrarError {
        *self.rejection.borrow_mut() = Some(why);
        as_error
    }

    fn load(&self, client_id: &str) -> Result<Option<Client>, RegistrarError> {
        if let Some(client) = self.client.borrow().as_ref().filter(|c| c.id == client_id) {
            return Ok(Some(client.clone()));
        }
        let found = clients::find(&mut self.conn.borrow_mut(), client_id)
            .map_err(|e| self.reject(Rejection::Storage(e), RegistrarError::PrimitiveError))?;
        self.client.replace(found.clone());
        Ok(found)
    }

    fn loaded(&self, client_id: &str) -> Result<Client, RegistrarError> {
        self.load(client_id)?
            .ok_or_else(|| self.reject(Rejection::BadCredentials, RegistrarError::Unspecified))
    }
}

impl Registrar for DbRegistrar<'_> {
    fn bound_redirect<'a>(&self, bound: ClientUrl<'a>) -> Result<BoundClient<'a>, RegistrarError> {
        let client = self.loaded(&bound.client_id)?;
        let redirect_uri = match bound.redirect_uri {
            // Exact string comparison against the registration (RFC 9700 §4.1.3).
            Some(uri) if client.redirect_uris.iter().any(|r| r == uri.as_str()) => {
                RegisteredUrl::Exact(uri.into_owned())
            }
            Some(_) => return Err(RegistrarError::Unspecified),
            // Flows without a redirect (client credentials) still need a placeholder.
            None => RegisteredUrl::Semantic(
                "urn:ietf:params:oauth:no-redirect"
                    .parse()
                    .expect("valid URN"),
            ),
        };
        Ok(BoundClient {
            client_id: bound.client_id,
            redirect_uri: Cow::Owned(redirect_uri),
        })
    }

    fn negotiate(
        &self,
        bound: BoundClient,
        scope: Option<Scope>,
    ) -> Result<PreGrant, RegistrarError> {
        let client = self.loaded(&bound.client_id)?;
        if !client.allows_grant(self.grant) {
            return Err(self.reject(
                Rejection::GrantNotAllowed(self.grant),
                RegistrarError::Unspecified,
            ));
        }
        let requested = scope
            .as_ref()
            .map(ScopeSet::try_from)
            .transpose()
            .map_err(|_| self.reject(Rejection::MalformedScope, RegistrarError::Unspecified))?;
        let granted =
            ScopeSet::granted_to_client(requested.as_ref(), &client.scopes).map_err(|extra| {
                self.reject(
                    Rejection::ScopeNotAllowed(extra),
                    RegistrarError::Unspecified,
                )
            })?;
        Ok(PreGrant {
            client_id: bound.client_id.into_owned(),
            redirect_uri: bound.redirect_uri.into_owned(),
            scope: Scope::from(&granted),
        })
    }

    fn check(&self, client_id: &str, passphrase: Option<&[u8]>) -> Result<(), RegistrarError> {
        let client = self.load(client_id)?;
        if super::client_auth::admits(client.as_ref(), passphrase) {
            Ok(())
        } else {
            Err(self.reject(Rejection::BadCredentials, RegistrarError::Unspecified))
        }
    }
}
