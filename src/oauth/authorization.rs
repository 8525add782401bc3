//! The authorization endpoint's flow (RFC 6749 §4.1.1–4.1.2), through oxide-auth's
//! authorization state machine. The request is checked again at every step (the login and
//! consent forms carry it in their `action` URL), so nothing about it is kept between them.
//!
//! ```text
//!  GET /authorize ──▶ client and exact redirect URI   (DbRegistrar::bound_redirect)  ✗ error page
//!                 ──▶ response_type, PKCE challenge    (oxide-auth, PkceChallenge)    ✗ redirect
//!                 ──▶ scope: client, then user's roles (DbRegistrar::negotiate)       ✗ redirect
//!  consent allow  ──▶ code                             (DbAuthorizer::authorize)      ✓ redirect
//! ```

use std::cell::RefCell;

use oxide_auth::code_grant::authorization::{
    authorization_code, Endpoint, Error as FlowError, ErrorUrl, Extension, Pending,
};
use oxide_auth::code_grant::error::AuthorizationErrorType;
use oxide_auth::primitives::authorizer::Authorizer;
use oxide_auth::primitives::registrar::Registrar;
use url::Url;

use super::authorizer::{CodeRejection, DbAuthorizer};
use super::pkce::{PkceChallenge, PkcePolicy};
use super::registrar::{DbRegistrar, Rejection};
use super::request::FormRequest;
use super::{GrantType, ScopeSet};
use crate::storage::clients::Client;
use crate::storage::{DbConnection, StorageError};

/// A valid authorization request, as the consent page shows it.
#[derive(Debug, Clone)]
pub struct Asked {
    pub client: Client,
    /// Narrowed to the user's roles once a user is known.
    pub scope: ScopeSet,
}

/// Why an authorization request goes no further.
#[derive(Debug)]
pub enum Refusal {
    /// The client or redirect URI cannot be trusted: tell the user, never redirect
    /// (RFC 6749 §4.1.2.1).
    Page(&'static str),
    /// Tell the client at its (validated) redirect URI, with `error` and `state`.
    Redirect(Url),
    Storage(StorageError),
}

impl From<StorageError> for Refusal {
    fn from(e: StorageError) -> Self {
        Refusal::Storage(e)
    }
}

/// The user's answer on the consent page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny,
}

/// The configured rules a code is issued under.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// Lifetime of authorization codes, in seconds.
    pub code_ttl: i64,
    pub pkce: PkcePolicy,
}

/// Who answers, and what their roles allow.
pub struct Owner<'u> {
    pub user_id: &'u str,
    pub allowed: ScopeSet,
}

struct AuthorizeEndpoint<'a> {
    registrar: DbRegistrar<'a>,
    authorizer: DbAuthorizer<'a>,
    pkce: PkcePolicy,
    extension: PkceChallenge,
}

impl Endpoint for AuthorizeEndpoint<'_> {
    fn registrar(&self) -> &dyn Registrar {
        &self.registrar
    }

    fn authorizer(&mut self) -> &mut dyn Authorizer {
        &mut self.authorizer
    }

    fn extension(&mut self) -> &mut dyn Extension {
        // Asked after the client is bound, so it is known by now.
        let pkce = self.pkce;
        self.extension.required = self
            .registrar
            .client()
            .is_none_or(|c| pkce.requires_challenge(&c));
        &mut self.extension
    }
}

/// Validates the request; with an `owner`, also narrows its scope to the owner's roles.
pub fn check(
    conn: &mut DbConnection,
    request: &FormRequest,
    owner: Option<ScopeSet>,
    pkce: PkcePolicy,
) -> Result<Asked, Refusal> {
    let conn = RefCell::new(conn);
    let mut endpoint = endpoint(&conn, owner, pkce, 0, 0);
    let pending = run(&mut endpoint, request)?;
    let client = endpoint
        .registrar
        .client()
        .ok_or(Refusal::Page("the client could not be loaded"))?;
    let scope = ScopeSet::try_from(&pending.pre_grant().scope)
        .map_err(|_| Refusal::Page("the negotiated scope is malformed"))?;
    Ok(Asked { client, scope })
}

/// Acts on the owner's decision: the redirect URI with a fresh code, or with `access_denied`.
/// Answers also the scope the code grants (empty when denied).
pub fn decide(
    conn: &mut DbConnection,
    request: &FormRequest,
    owner: Owner<'_>,
    decision: Decision,
    rules: Rules,
    now: i64,
) -> Result<(Url, ScopeSet), Refusal> {
    let conn = RefCell::new(conn);
    let mut endpoint = endpoint(&conn, Some(owner.allowed), rules.pkce, now, rules.code_ttl);
    let pending = run(&mut endpoint, request)?;
    let (outcome, granted) = match decision {
        Decision::Deny => (pending.deny(), ScopeSet::default()),
        Decision::Allow => {
            let granted = ScopeSet::try_from(&pending.pre_grant().scope)
                .map_err(|_| Refusal::Page("the negotiated scope is malformed"))?;
            (
                pending.authorize(&mut endpoint, owner.user_id.into()),
                granted,
            )
        }
    };
    let url = outcome.map_err(|e| refusal(&mut endpoint, e))?;
    Ok((url, granted))
}

fn endpoint<'a>(
    conn: &'a RefCell<&'a mut DbConnection>,
    owner: Option<ScopeSet>,
    pkce: PkcePolicy,
    now: i64,
    code_ttl: i64,
) -> AuthorizeEndpoint<'a> {
    let registrar = DbRegistrar::new(conn, GrantType::AuthorizationCode);
    AuthorizeEndpoint {
        registrar: match owner {
            Some(allowed) => registrar.for_user(allowed),
            None => registrar,
        },
        authorizer: DbAuthorizer::issuing(conn, now, code_ttl),
        pkce,
        extension: PkceChallenge::default(),
    }
}

fn run(endpoint: &mut AuthorizeEndpoint<'_>, request: &FormRequest) -> Result<Pending, Refusal> {
    authorization_code(endpoint, request).map_err(|e| refusal(endpoint, e))
}

/// Turns oxide-auth's error and the primitives' recorded reasons into what the user or the
/// client is told.
fn refusal(endpoint: &mut AuthorizeEndpoint<'_>, error: FlowError) -> Refusal {
    if let Some(CodeRejection::Storage(e)) = endpoint.authorizer.take_rejection() {
        return Refusal::Storage(e);
    }
    let rejection = endpoint.registrar.take_rejection();
    let mut error_url =
        match error {
            FlowError::Redirect(url) => url,
            FlowError::PrimitiveError => {
                return match rejection {
                    Some(Rejection::Storage(e)) => Refusal::Storage(e),
                    _ => Refusal::Storage(StorageError::Corrupt(
                        "the authorization flow failed without a reason".into(),
                    )),
                }
            }
            FlowError::Ignore => return Refusal::Page(match rejection {
                Some(Rejection::Storage(e)) => return Refusal::Storage(e),
                Some(Rejection::RedirectUri) => {
                    "The redirect_uri is missing or is not registered for this application."
                }
                Some(Rejection::BadCredentials) => "This application is not registered here.",
                _ => {
                    "The request does not name an application (client_id) and a valid redirect_uri."
                }
            }),
        };
    let description = error_url.description();
    match rejection {
        Some(Rejection::GrantNotAllowed(_)) => {
            description.set_type(AuthorizationErrorType::UnauthorizedClient);
            description.explain("this client is not registered for the authorization_code grant");
        }
        Some(Rejection::ScopeNotAllowed(extra)) => {
            description.explain(format!("scope not registered for this client: {extra}"));
        }
        Some(Rejection::NothingToGrant(_)) => {
            description.explain("none of the requested scopes is allowed to this user");
        }
        Some(Rejection::MalformedScope) => description.explain("malformed scope"),
        Some(Rejection::Storage(e)) => return Refusal::Storage(e),
        _ => {}
    }
    if let Some(why) = endpoint.extension.take_failure() {
        description.explain(why);
    }
    if description.kind() == AuthorizationErrorType::UnsupportedResponseType {
        description.explain("only response_type=code is supported");
    }
    Refusal::Redirect(error_redirect(error_url))
}

/// The redirect of an error response as RFC 6749 §4.1.2.1 spells it: `error`,
/// `error_description` and `state`. oxide-auth names the description `description` and
/// leaves it out when nobody explained the error, so client libraries could not show why.
fn error_redirect(mut error_url: ErrorUrl) -> Url {
    let error = error_url.description();
    if error
        .clone()
        .into_iter()
        .all(|(name, _)| name != "description")
    {
        let kind = error.kind();
        error.explain(default_description(kind));
    }
    let appended: Vec<(&'static str, String)> = error
        .clone()
        .into_iter()
        .map(|(name, value)| (name, value.into_owned()))
        .collect();
    // oxide-auth appends the error's pairs last, after the registered URI's own query and
    // `state`: keep those as they are and rename only what it appended.
    let mut url: Url = error_url.into();
    let mut pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    pairs.truncate(pairs.len().saturating_sub(appended.len()));
    url.query_pairs_mut()
        .clear()
        .extend_pairs(pairs)
        .extend_pairs(appended.iter().map(|(name, value)| match *name {
            "description" => ("error_description", value.as_str()),
            "uri" => ("error_uri", value.as_str()),
            other => (other, value.as_str()),
        }));
    url
}

/// What an error says when nothing more particular was recorded.
fn default_description(kind: AuthorizationErrorType) -> &'static str {
    match kind {
        AuthorizationErrorType::AccessDenied => "the user denied the request",
        AuthorizationErrorType::InvalidScope => "the requested scope is invalid",
        AuthorizationErrorType::UnauthorizedClient => {
            "this client may not use the authorization code flow"
        }
        AuthorizationErrorType::UnsupportedResponseType => "only response_type=code is supported",
        AuthorizationErrorType::ServerError => "the server could not complete the request",
        AuthorizationErrorType::TemporarilyUnavailable => {
            "the server is busy; try again in a moment"
        }
        AuthorizationErrorType::InvalidRequest => "the authorization request is malformed",
    }
}
