//! The authorization endpoint's rules (RFC 6749 §4.1.1–4.1.2), run once per request:
//! [`validate`] drives oxide-auth's authorization state machine over the request when it
//! arrives; what it accepted travels on sealed (`pending`), and [`issue`] or [`deny`] answers
//! it from that value, without parsing the request again. The code [`issue`] sends is sealed
//! too (`code`): issuing it writes nothing; its one use is enforced at the exchange.
//!
//! ```text
//!  GET /authorize ──▶ client and exact redirect URI   (DbRegistrar::bound_redirect)  ✗ error page
//!                 ──▶ response_type, PKCE challenge    (oxide-auth, PkceChallenge)    ✗ redirect
//!                 ──▶ scope within the client's        (DbRegistrar::negotiate)       ✗ redirect
//!  a user known   ──▶ scope within the user's roles    (narrow)                       ✗ redirect
//!  consent allow  ──▶ code, sealed, no write           (issue, oauth::code)           ✓ redirect
//! ```

use std::cell::RefCell;

use oxide_auth::code_grant::authorization::{
    authorization_code, Endpoint, Error as FlowError, ErrorUrl, Extension,
};
use oxide_auth::code_grant::error::AuthorizationErrorType;
use oxide_auth::primitives::authorizer::Authorizer;
use oxide_auth::primitives::grant::Grant;
use oxide_auth::primitives::registrar::Registrar;
use url::Url;

use super::code::{AuthorizationCode, Login};
use super::pending::{PendingAuthorization, PromptRules, Validated};
use super::pkce::{PkceChallenge, PkcePolicy};
use super::registrar::{DbRegistrar, Rejection};
use super::request::FormRequest;
use super::{GrantType, ScopeSet};
use crate::domain::OPENID;
use crate::storage::clients;
use crate::storage::login_sessions::Standing;
use crate::storage::{DbConnection, StorageError};
use crate::tokens::sealing::SealingKeys;

/// Why an authorization request goes no further.
#[derive(Debug)]
pub enum Refusal {
    /// The client or redirect URI cannot be trusted, or the request is not this browser's:
    /// tell the user, never redirect (RFC 6749 §4.1.2.1).
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

struct AuthorizeEndpoint<'a> {
    registrar: DbRegistrar<'a>,
    /// oxide-auth's flow ends in a `Pending` that is never authorized: codes are issued from
    /// the sealed value instead. It still wants an authorizer.
    authorizer: NoCodes,
    pkce: PkcePolicy,
    extension: PkceChallenge,
}

/// The authorizer of a flow that only validates.
struct NoCodes;

impl Authorizer for NoCodes {
    fn authorize(&mut self, _: Grant) -> Result<String, ()> {
        Err(())
    }

    fn extract(&mut self, _: &str) -> Result<Option<Grant>, ()> {
        Err(())
    }
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

/// Checks an authorization request against the client's registration: client, exact redirect
/// URI, response type, PKCE challenge, scope.
pub fn validate(
    conn: &mut DbConnection,
    request: &FormRequest,
    pkce: PkcePolicy,
) -> Result<Validated, Refusal> {
    let conn = RefCell::new(conn);
    let mut endpoint = AuthorizeEndpoint {
        registrar: DbRegistrar::new(&conn, GrantType::AuthorizationCode),
        authorizer: NoCodes,
        pkce,
        extension: PkceChallenge::default(),
    };
    let pending =
        authorization_code(&mut endpoint, request).map_err(|e| refusal(&mut endpoint, e))?;
    let client = endpoint
        .registrar
        .client()
        .ok_or(Refusal::Page("the client could not be loaded"))?;
    let solicitation = pending.as_solicitation();
    let grant = solicitation.pre_grant();
    let scope = ScopeSet::try_from(&grant.scope)
        .map_err(|_| Refusal::Page("the negotiated scope is malformed"))?;
    let validated = Validated {
        client_id: client.id.to_string(),
        client_name: client.name,
        redirect_uri: grant.redirect_uri.as_str().to_owned(),
        scope: scope.to_string(),
        state: solicitation.state().map(str::to_owned),
        pkce: endpoint.extension.take_recorded(),
        nonce: None,
        prompt: PromptRules::default(),
        max_age: None,
        login_hint: None,
    };
    openid_parameters(request, validated)
}

/// The longest `nonce` kept: far more than any client library sends (they send 128 to 256
/// bits, encoded), little enough that the sealed request and the code stay small.
const MAX_NONCE_LEN: usize = 512;
/// The longest `login_hint`: a username or an email address fits.
const MAX_LOGIN_HINT_LEN: usize = 256;

/// OpenID Connect's request parameters (Core 1.0 §3.1.2.1), read once the client and its
/// redirect URI are known, so that a bad one is told to the client at its redirect URI.
fn openid_parameters(
    request: &FormRequest,
    mut validated: Validated,
) -> Result<Validated, Refusal> {
    let refuse = |validated: &Validated, why: &str| Err(to_client(validated, INVALID_REQUEST, why));
    if request.param("request").is_some() || request.param("request_uri").is_some() {
        // SPEC: `invalid_request`, not Core 1.0 §3.1.2.6's `request_not_supported`, which is
        // for providers that do not know the parameter at all.
        return refuse(
            &validated,
            "request objects (request, request_uri) are not supported",
        );
    }
    if let Some(nonce) = request.param("nonce") {
        if nonce.is_empty() || nonce.len() > MAX_NONCE_LEN {
            return refuse(&validated, "nonce must be 1 to 512 characters");
        }
        validated.nonce = Some(nonce.to_owned());
    }
    if let Some(prompt) = request.param("prompt") {
        match parse_prompt(prompt) {
            Ok(rules) => validated.prompt = rules,
            Err(why) => return refuse(&validated, &why),
        }
    }
    if let Some(max_age) = request.param("max_age") {
        match max_age.parse::<u32>() {
            Ok(secs) => validated.max_age = Some(i64::from(secs)),
            Err(_) => return refuse(&validated, "max_age must be a number of seconds"),
        }
    }
    if let Some(hint) = request.param("login_hint") {
        if hint.chars().count() > MAX_LOGIN_HINT_LEN || hint.chars().any(char::is_control) {
            return refuse(
                &validated,
                "login_hint must be at most 256 printable characters",
            );
        }
        validated.login_hint = Some(hint.to_owned()).filter(|h| !h.is_empty());
    }
    Ok(validated)
}

/// `prompt`: space-separated values; `none` stands alone (Core 1.0 §3.1.2.1).
fn parse_prompt(prompt: &str) -> Result<PromptRules, String> {
    let mut rules = PromptRules::default();
    for value in prompt.split(' ') {
        match value {
            "none" => rules.none = true,
            "login" | "select_account" => rules.login = true,
            "consent" => rules.consent = true,
            other => {
                let shown: String = other.chars().take(32).collect();
                return Err(format!(
                    "unsupported prompt value `{shown}`: use none, login, consent or select_account"
                ));
            }
        }
    }
    if rules.none && (rules.login || rules.consent) {
        return Err("prompt=none cannot be combined with other values".into());
    }
    Ok(rules)
}

/// What a user sees when the client's registration changed under a pending request.
const REGISTRATION_CHANGED: &str = "This application's registration has changed since you started. Go back to the application and start again.";

/// A request sealed earlier still holds against the client's registration as it is now: the
/// client exists, may use the code flow, still has the redirect URI and the scope, and the
/// PKCE rule is still met. Between `/authorize` and the answer an admin may have removed any
/// of these; a code must not go to a redirect URI that is no longer registered.
pub fn still_holds(
    conn: &mut DbConnection,
    pending: &PendingAuthorization,
    pkce: PkcePolicy,
) -> Result<(), Refusal> {
    let request = &pending.request;
    let client = clients::find(conn, &request.client_id)?;
    let holds = client.is_some_and(|client| {
        client.allows_grant(GrantType::AuthorizationCode)
            && client.has_redirect_uri(&request.redirect_uri)
            && pending.scope().is_subset(&client.scopes)
            && (request.pkce.is_some() || !pkce.requires_challenge(&client))
    });
    if holds {
        Ok(())
    } else {
        Err(Refusal::Page(REGISTRATION_CHANGED))
    }
}

/// The request's scope within what the user's roles allow; none at all is `invalid_scope` at
/// the client's redirect URI (SPEC "Scopes and roles").
pub fn narrow(pending: &PendingAuthorization, allowed: &ScopeSet) -> Result<ScopeSet, Refusal> {
    let granted = pending.scope().within_roles(allowed);
    if granted.is_empty() {
        return Err(to_client(
            &pending.request,
            "invalid_scope",
            "none of the requested scopes is allowed to this user",
        ));
    }
    Ok(granted)
}

/// Issues a code for the pending request and the signed-in user, granting `scope` under the
/// consent whose identity is `consent_grant`: the redirect URI with `code` and `state`. The
/// code is sealed and written nowhere. Posting the same answer twice seals a second code for
/// the same request; the exchange takes one of them (`storage::spent_codes`) and treats the
/// other as a replay.
pub fn issue(
    keys: &SealingKeys,
    pending: &PendingAuthorization,
    user: &Standing,
    consent_grant: &str,
    scope: &ScopeSet,
    rules: Rules,
    now: i64,
) -> Result<Url, Refusal> {
    let request = &pending.request;
    let mut url = redirect_uri(request)?;
    let login = scope.contains(OPENID).then(|| Login {
        auth_time: user.auth_time,
        amr: user.amr.as_stored().to_owned(),
        nonce: request.nonce.clone(),
    });
    let code = AuthorizationCode {
        request_id: pending.id.clone(),
        client_id: request.client_id.clone(),
        redirect_uri: request.redirect_uri.clone(),
        scope: scope.to_string(),
        pkce: request.pkce.clone(),
        user_id: user.user_id.clone(),
        roles: user.roles.clone(),
        login_session: pending.sid.clone(),
        consent_grant: consent_grant.to_owned(),
        login,
        issued_at: now,
        expires_at: now + rules.code_ttl,
    };
    url.query_pairs_mut()
        .append_pair("code", &code.seal(keys))
        .extend_pairs(request.state.as_deref().map(|v| ("state", v)));
    Ok(url)
}

/// The user said no: `access_denied` at the redirect URI (RFC 6749 §4.1.2.1).
pub fn deny(pending: &PendingAuthorization) -> Result<Url, Refusal> {
    let why = default_description(AuthorizationErrorType::AccessDenied);
    match to_client(&pending.request, "access_denied", why) {
        Refusal::Redirect(url) => Ok(url),
        other => Err(other),
    }
}

fn redirect_uri(request: &Validated) -> Result<Url, Refusal> {
    // Validated against the registration before it was sealed; only a value this server made
    // opens, so a failure here is a bug, not an attack.
    Url::parse(&request.redirect_uri)
        .map_err(|_| Refusal::Page("The registered redirect_uri is not a URL."))
}

pub const INVALID_REQUEST: &str = "invalid_request";

/// An error told to the client at the request's validated redirect URI: `error`,
/// `error_description` and `state` (RFC 6749 §4.1.2.1; Core 1.0 §3.1.2.6 adds codes such as
/// `login_required`).
pub fn to_client(request: &Validated, error: &str, why: &str) -> Refusal {
    let mut url = match redirect_uri(request) {
        Ok(url) => url,
        Err(refusal) => return refusal,
    };
    url.query_pairs_mut()
        .append_pair("error", error)
        .append_pair("error_description", why)
        .extend_pairs(request.state.as_deref().map(|v| ("state", v)));
    Refusal::Redirect(url)
}

/// Turns oxide-auth's error and the primitives' recorded reasons into what the user or the
/// client is told.
fn refusal(endpoint: &mut AuthorizeEndpoint<'_>, error: FlowError) -> Refusal {
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
