//! oxide-auth's `Registrar`, backed by the client table.
//!
//! oxide-auth reduces every registrar failure to `()`-like errors; the registrar records the
//! real reason first, so the endpoint can answer with the precise RFC 6749 error.

use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::Arc;

use oxide_auth::endpoint::{PreGrant, Scope};
use oxide_auth::primitives::registrar::{
    BoundClient, ClientUrl, RegisteredUrl, Registrar, RegistrarError,
};

use super::{GrantType, ScopeSet, UserScopeError};
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
    /// Nothing the request asks for is allowed by the user's roles.
    NothingToGrant(ScopeSet),
    /// No `redirect_uri`, or one that is not registered for the client.
    RedirectUri,
    Storage(StorageError),
}

/// The placeholder redirect of flows without one, parsed once rather than per token.
static NO_REDIRECT: std::sync::LazyLock<url::Url> = std::sync::LazyLock::new(|| {
    "urn:ietf:params:oauth:no-redirect"
        .parse()
        .expect("valid URN")
});

/// One request's connection, shared by the primitives of its flow.
pub type SharedConn<'a> = &'a RefCell<&'a mut DbConnection>;

/// A registrar for one request: it borrows that request's connection, remembers the
/// client it loaded and the reason for any refusal.
///
/// Started from a client the authenticator already admitted ([`DbRegistrar::for_client`],
/// [`DbRegistrar::with_client`]), it answers oxide-auth's `check` from that client instead
/// of reading the credentials against storage a second time.
pub struct DbRegistrar<'a> {
    /// `None` for a registrar that answers from an authenticated client alone.
    conn: Option<SharedConn<'a>>,
    /// The client `client` holds was authenticated for this request already.
    authenticated: bool,
    /// The grant being asked for.
    grant: GrantType,
    /// For user grants: what the user's roles allow; `negotiate` narrows to it.
    user_scopes: Option<ScopeSet>,
    client: RefCell<Option<Arc<Client>>>,
    rejection: RefCell<Option<Rejection>>,
}

impl<'a> DbRegistrar<'a> {
    pub fn new(conn: SharedConn<'a>, grant: GrantType) -> Self {
        DbRegistrar {
            conn: Some(conn),
            authenticated: false,
            grant,
            user_scopes: None,
            client: RefCell::new(None),
            rejection: RefCell::new(None),
        }
    }

    /// A registrar with no storage at all, for a client already authenticated: what the
    /// client-credentials grant needs, so it can run without a database connection.
    pub fn for_client(client: Arc<Client>, grant: GrantType) -> Self {
        DbRegistrar {
            conn: None,
            authenticated: true,
            grant,
            user_scopes: None,
            client: RefCell::new(Some(client)),
            rejection: RefCell::new(None),
        }
    }

    /// Starts from a client the authenticator already admitted for this request.
    pub fn with_client(mut self, client: Arc<Client>) -> Self {
        self.client = RefCell::new(Some(client));
        self.authenticated = true;
        self
    }

    /// Narrows every negotiated scope to what a user's roles allow (SPEC "Scopes and roles").
    pub fn for_user(mut self, allowed: ScopeSet) -> Self {
        self.user_scopes = Some(allowed);
        self
    }

    /// The client loaded so far, if any.
    pub fn client(&self) -> Option<Client> {
        self.client.borrow().as_deref().cloned()
    }

    pub fn take_rejection(&self) -> Option<Rejection> {
        self.rejection.borrow_mut().take()
    }

    fn reject(&self, why: Rejection, as_error: RegistrarError) -> RegistrarError {
        *self.rejection.borrow_mut() = Some(why);
        as_error
    }

    fn load(&self, client_id: &str) -> Result<Option<Arc<Client>>, RegistrarError> {
        if let Some(client) = self.client.borrow().as_ref().filter(|c| c.id == client_id) {
            return Ok(Some(client.clone()));
        }
        // Authenticated for one client, the registrar knows no other.
        let Some(conn) = self.conn.filter(|_| !self.authenticated) else {
            return Ok(None);
        };
        let found = clients::find(&mut conn.borrow_mut(), client_id)
            .map_err(|e| self.reject(Rejection::Storage(e), RegistrarError::PrimitiveError))?
            .map(Arc::new);
        self.client.replace(found.clone());
        Ok(found)
    }

    fn loaded(&self, client_id: &str) -> Result<Arc<Client>, RegistrarError> {
        self.load(client_id)?
            .ok_or_else(|| self.reject(Rejection::BadCredentials, RegistrarError::Unspecified))
    }
}

impl Registrar for DbRegistrar<'_> {
    fn bound_redirect<'a>(&self, bound: ClientUrl<'a>) -> Result<BoundClient<'a>, RegistrarError> {
        let client = self.loaded(&bound.client_id)?;
        let redirect_uri = match bound.redirect_uri {
            // Exact string comparison against the registration (RFC 9700 §4.1.3).
            Some(uri) if client.has_redirect_uri(uri.as_str()) => {
                RegisteredUrl::Exact(uri.into_owned())
            }
            // Required even with one registered URI: a browser is never sent anywhere the
            // request did not name (RFC 9700 §2.1).
            Some(_) | None if self.grant == GrantType::AuthorizationCode => {
                return Err(self.reject(Rejection::RedirectUri, RegistrarError::Unspecified))
            }
            Some(_) => return Err(RegistrarError::Unspecified),
            // Flows without a redirect (client credentials) still need a placeholder.
            None => RegisteredUrl::Semantic(NO_REDIRECT.clone()),
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
        let not_registered = |extra| {
            self.reject(
                Rejection::ScopeNotAllowed(extra),
                RegistrarError::Unspecified,
            )
        };
        let granted = match &self.user_scopes {
            None => ScopeSet::granted_to_client(requested.as_ref(), &client.scopes)
                .map_err(not_registered)?,
            Some(allowed) => ScopeSet::granted_to_user(requested.as_ref(), &client.scopes, allowed)
                .map_err(|e| match e {
                    UserScopeError::NotRegistered(extra) => not_registered(extra),
                    UserScopeError::NothingAllowed(asked) => self.reject(
                        Rejection::NothingToGrant(asked),
                        RegistrarError::Unspecified,
                    ),
                })?,
        };
        Ok(PreGrant {
            client_id: bound.client_id.into_owned(),
            redirect_uri: bound.redirect_uri.into_owned(),
            scope: Scope::from(&granted),
        })
    }

    fn check(&self, client_id: &str, passphrase: Option<&[u8]>) -> Result<(), RegistrarError> {
        let client = self.load(client_id)?;
        // Already authenticated: oxide-auth read the same request's credentials, so the
        // same client id is the same authentication (`load` knows no other id).
        let admitted = if self.authenticated {
            client.is_some()
        } else {
            crate::domain::client::admits(client.as_deref(), passphrase)
        };
        match client {
            _ if !admitted => {
                Err(self.reject(Rejection::BadCredentials, RegistrarError::Unspecified))
            }
            Some(client) if !client.allows_grant(self.grant) => Err(self.reject(
                Rejection::GrantNotAllowed(self.grant),
                RegistrarError::Unspecified,
            )),
            _ => Ok(()),
        }
    }
}
