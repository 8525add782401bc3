//! Dynamic client registration (RFC 7591) and client configuration (RFC 7592), as SPEC.md
//! "Administration over HTTP" has them.
//!
//! Registering takes an admin token (`admin::token`: the RFC's initial access token); the
//! client then manages itself with its registration access token, a random secret stored
//! only as its SHA-256 and good for that one client at `registration_client_uri`. It is not
//! a JWT, so no other endpoint can take it for an access token. Every change goes through
//! `admin::clients`, validated and logged exactly as the CLI's are.
//!
//! Metadata gatehouse does not know is ignored (RFC 7591 §2); a client secret is shown
//! once, at registration (only its hash is kept, so a read cannot show it again).

use std::sync::Arc;

use diesel::Connection;
use gatehouse_resource::AuthError;
use serde::{Deserialize, Serialize};

use super::token as admin_token;
use super::{Actor, AdminError, ClientChange, ClientSpec, ClientView};
use crate::admin;
use crate::domain::secret::PlainSecret;
use crate::domain::{Clock, ErrorCode, OAuthError, RedirectUri};
use crate::oauth::client_cache;
use crate::oauth::issuer::Minter;
use crate::oauth::live_token::Refused;
use crate::storage::{clients, Database, DbConnection, StorageError};

/// The client metadata of RFC 7591 §2 that gatehouse registers. `client_id` and
/// `client_secret` are read only from an RFC 7592 `PUT`.
#[derive(Default, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct ClientMetadata {
    redirect_uris: Option<Vec<String>>,
    post_logout_redirect_uris: Option<Vec<String>>,
    grant_types: Option<Vec<String>>,
    response_types: Option<Vec<String>>,
    token_endpoint_auth_method: Option<String>,
    client_name: Option<String>,
    scope: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// Shown without the secret a PUT may carry, so no log line or panic message prints it.
impl std::fmt::Debug for ClientMetadata {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientMetadata")
            .field("client_name", &self.client_name)
            .field("redirect_uris", &self.redirect_uris)
            .field("grant_types", &self.grant_types)
            .field("scope", &self.scope)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

/// A registration as answered (RFC 7591 §3.2.1, RFC 7592 §3): never a secret hash.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RegisteredClient {
    pub client_id: String,
    /// Only in the registration response.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    pub client_id_issued_at: i64,
    /// Secrets do not expire.
    pub client_secret_expires_at: i64,
    /// Only in the registration response.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration_access_token: Option<String>,
    pub registration_client_uri: String,
    pub client_name: String,
    pub redirect_uris: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub response_types: Vec<String>,
    pub token_endpoint_auth_method: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub scope: String,
}

/// Shown without the secret and the registration access token it carries once.
impl std::fmt::Debug for RegisteredClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |s: &Option<String>| s.as_ref().map(|_| "<redacted>");
        f.debug_struct("RegisteredClient")
            .field("client_id", &self.client_id)
            .field("client_secret", &redacted(&self.client_secret))
            .field(
                "registration_access_token",
                &redacted(&self.registration_access_token),
            )
            .field("client_name", &self.client_name)
            .field("redirect_uris", &self.redirect_uris)
            .field("grant_types", &self.grant_types)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// Why a registration request is refused: the bearer token (401/403 with an RFC 6750
/// challenge), or the request (400 `invalid_redirect_uri` / `invalid_client_metadata`,
/// 413, 408, 503).
#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    #[error("{0}")]
    Bearer(AuthError),
    #[error("{0}")]
    Request(OAuthError),
}

impl RegistrationError {
    /// A server error's cause, for the request's log line.
    pub fn cause(&self) -> Option<&str> {
        match self {
            RegistrationError::Request(e) => e.cause(),
            RegistrationError::Bearer(_) => None,
        }
    }
}

impl From<Refused> for RegistrationError {
    fn from(Refused(e): Refused) -> Self {
        RegistrationError::Bearer(e)
    }
}

impl From<OAuthError> for RegistrationError {
    fn from(e: OAuthError) -> Self {
        RegistrationError::Request(e)
    }
}

impl From<StorageError> for RegistrationError {
    fn from(e: StorageError) -> Self {
        RegistrationError::Request(e.into())
    }
}

/// A transaction's own failure (begin, commit).
impl From<diesel::result::Error> for RegistrationError {
    fn from(e: diesel::result::Error) -> Self {
        StorageError::from(e).into()
    }
}

impl From<AdminError> for RegistrationError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::Invalid(why) => metadata_error(why).into(),
            // Deleted between the token check and the change.
            AdminError::NoSuchClient(_) => wrong_registration_token(),
            other => OAuthError::server_error(&other).into(),
        }
    }
}

fn metadata_error(why: impl Into<String>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidClientMetadata, why.into())
}

fn redirect_error(why: impl Into<String>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidRedirectUri, why.into())
}

/// RFC 7592 §2: an unknown client and a wrong token are one answer, 401.
fn wrong_registration_token() -> RegistrationError {
    RegistrationError::Bearer(AuthError::InvalidToken(
        "not the registration access token of this client".into(),
    ))
}

/// How a client authenticates at the token endpoint (RFC 7591 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AuthMethod {
    Basic,
    Post,
    None,
}

impl AuthMethod {
    fn parse(raw: Option<&str>) -> Result<Self, OAuthError> {
        match raw {
            None | Some("client_secret_basic") => Ok(AuthMethod::Basic),
            Some("client_secret_post") => Ok(AuthMethod::Post),
            Some("none") => Ok(AuthMethod::None),
            Some(other) => Err(metadata_error(format!(
                "token_endpoint_auth_method `{}` is not supported: use client_secret_basic, client_secret_post or none",
                printable(other)
            ))),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Basic => "client_secret_basic",
            AuthMethod::Post => "client_secret_post",
            AuthMethod::None => "none",
        }
    }

    /// What a client registered by the CLI (with no method stored) is taken to use.
    fn of(view: &ClientView, stored: Option<&str>) -> Self {
        match (view.public, stored) {
            (true, _) => AuthMethod::None,
            (false, Some("client_secret_post")) => AuthMethod::Post,
            (false, _) => AuthMethod::Basic,
        }
    }
}

/// A value safe to quote in an error.
fn printable(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(60).collect()
}

const CODE: &str = "code";
const AUTHORIZATION_CODE: &str = "authorization_code";

/// Metadata checked into what `admin::clients` registers: the RFC's defaults applied
/// (`grant_types` `authorization_code`, `response_types` to match), redirect URIs judged
/// first so that their refusal carries `invalid_redirect_uri`.
struct Checked {
    spec: ClientSpec,
    auth_method: AuthMethod,
}

impl ClientMetadata {
    /// The metadata in a request body, or why the body was refused as it was read.
    fn parse(body: Result<Vec<u8>, OAuthError>) -> Result<Self, OAuthError> {
        let unusable = |e: serde_json::Error| {
            metadata_error(format!("the client metadata is not usable JSON: {e}"))
        };
        let body = body?;
        // Serde would also take an array for the struct; straight from the bytes, it
        // refuses a field given twice.
        if body.trim_ascii_start().first() != Some(&b'{') {
            return Err(metadata_error("the client metadata must be a JSON object"));
        }
        serde_json::from_slice(&body).map_err(unusable)
    }

    fn check(self) -> Result<Checked, OAuthError> {
        let auth_method = AuthMethod::parse(self.token_endpoint_auth_method.as_deref())?;
        let grant_types = match self.grant_types {
            Some(g) if !g.is_empty() => g,
            _ => vec![AUTHORIZATION_CODE.to_owned()],
        };
        let wants_code = grant_types.iter().any(|g| g == AUTHORIZATION_CODE);
        if let Some(types) = &self.response_types {
            if let Some(other) = types.iter().find(|t| *t != CODE) {
                return Err(metadata_error(format!(
                    "response_type `{}` is not supported: only code",
                    printable(other)
                )));
            }
            if types.is_empty() == wants_code {
                return Err(metadata_error(
                    "response_types code goes with grant_types authorization_code, and only with it",
                ));
            }
        }
        let redirect_uris = self.redirect_uris.unwrap_or_default();
        let post_logout_redirect_uris = self.post_logout_redirect_uris.unwrap_or_default();
        for uri in redirect_uris.iter().chain(&post_logout_redirect_uris) {
            RedirectUri::parse(uri).map_err(|e| redirect_error(e.to_string()))?;
        }
        if wants_code && redirect_uris.is_empty() {
            return Err(redirect_error(
                "the authorization_code grant needs at least one redirect URI",
            ));
        }
        let name = match self.client_name {
            Some(name) => name,
            None => default_name(&redirect_uris),
        };
        Ok(Checked {
            spec: ClientSpec {
                name,
                redirect_uris,
                post_logout_redirect_uris,
                grant_types,
                scopes: self.scope.into_iter().collect(),
                public: auth_method == AuthMethod::None,
                introspect: false,
            },
            auth_method,
        })
    }
}

/// A client that gave no name is shown by its first redirect URI's host.
fn default_name(redirect_uris: &[String]) -> String {
    redirect_uris
        .first()
        .and_then(|u| url::Url::parse(u).ok())
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| "unnamed client".to_owned())
}

pub struct Registration {
    db: Database,
    minter: Arc<Minter>,
    clock: Clock,
    /// `registration_client_uri` without the client id: `{issuer}/register/`.
    client_uri_base: String,
}

impl Registration {
    pub fn new(db: Database, minter: Arc<Minter>, clock: Clock, client_uri_base: String) -> Self {
        Registration {
            db,
            minter,
            clock,
            client_uri_base,
        }
    }

    fn answer(&self, view: &ClientView, auth_method: AuthMethod) -> RegisteredClient {
        let response_types = if view.grant_types.iter().any(|g| g == AUTHORIZATION_CODE) {
            vec![CODE.to_owned()]
        } else {
            Vec::new()
        };
        RegisteredClient {
            client_id: view.client_id.clone(),
            client_secret: None,
            client_id_issued_at: view.created_at,
            client_secret_expires_at: 0,
            registration_access_token: None,
            registration_client_uri: format!("{}{}", self.client_uri_base, view.client_id),
            client_name: view.name.clone(),
            redirect_uris: view.redirect_uris.clone(),
            post_logout_redirect_uris: view.post_logout_redirect_uris.clone(),
            grant_types: view.grant_types.clone(),
            response_types,
            token_endpoint_auth_method: auth_method.as_str().to_owned(),
            scope: view.scopes.join(" "),
        }
    }

    /// RFC 7591 §3: registers a client for the holder of an admin token. The token is
    /// judged before the metadata, so a stranger learns nothing from a refusal.
    pub async fn register(
        &self,
        bearer: Option<String>,
        body: Result<Vec<u8>, OAuthError>,
    ) -> Result<RegisteredClient, RegistrationError> {
        let bearer = bearer.ok_or(RegistrationError::Bearer(AuthError::Missing))?;
        let metadata = ClientMetadata::parse(body).and_then(ClientMetadata::check);
        let (minter, now) = (self.minter.clone(), self.clock.now());
        let (created, token, auth_method) = self
            .db
            .run(move |conn| -> Result<_, RegistrationError> {
                let actor = admin_token::admit(conn, &minter, &bearer, now)?;
                let Checked { spec, auth_method } = metadata?;
                let token = PlainSecret::generate();
                let created = conn.transaction(|conn| -> Result<_, RegistrationError> {
                    let created = admin::create_client(conn, &actor, spec, now)?;
                    let id = &created.client.client_id;
                    clients::set_registration(conn, id, &token.hash(), auth_method.as_str())?;
                    Ok(created)
                })?;
                Ok((created, token, auth_method))
            })
            .await?;
        Ok(RegisteredClient {
            client_secret: created.client_secret.clone(),
            registration_access_token: Some(token.expose().to_owned()),
            ..self.answer(&created.client, auth_method)
        })
    }

    /// RFC 7592 §2.1: the client's registration, for its registration access token.
    pub async fn read(
        &self,
        id: String,
        bearer: Option<String>,
    ) -> Result<RegisteredClient, RegistrationError> {
        let bearer = bearer.ok_or(RegistrationError::Bearer(AuthError::Missing))?;
        let (view, method) = self
            .db
            .run(move |conn| registered(conn, &id, &bearer))
            .await?;
        Ok(self.answer(&view, method))
    }

    /// RFC 7592 §2.2: replaces the client's metadata with `body`, which must name the
    /// client; a `client_secret` in it must be the current one. Whether the client is
    /// public cannot change. Returns once every instance serves the new registration.
    pub async fn replace(
        &self,
        id: String,
        bearer: Option<String>,
        body: Result<Vec<u8>, OAuthError>,
    ) -> Result<RegisteredClient, RegistrationError> {
        let bearer = bearer.ok_or(RegistrationError::Bearer(AuthError::Missing))?;
        let metadata = ClientMetadata::parse(body);
        let now = self.clock.now();
        let (view, method) = self
            .db
            .run(move |conn| -> Result<_, RegistrationError> {
                let (current, _) = registered(conn, &id, &bearer)?;
                let metadata = metadata?;
                if metadata.client_id.as_deref() != Some(id.as_str()) {
                    return Err(
                        metadata_error("the metadata must carry this client's client_id").into(),
                    );
                }
                if let Some(secret) = &metadata.client_secret {
                    let stored = clients::find(conn, &id)?.and_then(|c| c.secret_hash);
                    if !stored.is_some_and(|h| h.verify(secret.as_bytes())) {
                        return Err(
                            metadata_error("client_secret is not this client's secret").into()
                        );
                    }
                }
                let Checked { spec, auth_method } = metadata.check()?;
                // The registration token is the client's own: it may narrow what the client
                // may do, never widen it (that takes an admin), and never make it an admin.
                if let Some(g) = spec.grant_types.iter().find(|g| !current.grant_types.contains(g)) {
                    return Err(metadata_error(format!(
                        "grant type `{}` is not registered for this client: a client may drop grant types, not add them",
                        printable(g)
                    ))
                    .into());
                }
                let registered = crate::domain::ScopeSet::parse(&current.scopes.join(" "))
                    .unwrap_or_default();
                let asked = admin::parse_scopes(&spec.scopes)?;
                if let Some(s) = asked.iter().find(|s| !registered.contains(s)) {
                    return Err(metadata_error(format!(
                        "scope `{}` is not registered for this client: a client may drop scopes, not add them",
                        printable(s)
                    ))
                    .into());
                }
                if spec.public != current.public {
                    return Err(metadata_error(
                        "a client cannot change between public (none) and confidential",
                    )
                    .into());
                }
                let change = ClientChange {
                    name: Some(spec.name),
                    redirect_uris: Some(spec.redirect_uris),
                    post_logout_redirect_uris: Some(spec.post_logout_redirect_uris),
                    grant_types: Some(spec.grant_types),
                    scopes: Some(spec.scopes),
                    introspect: None,
                };
                let actor = Actor::registration_token(&id);
                let view = conn.transaction(|conn| -> Result<_, RegistrationError> {
                    let view = admin::update_client(conn, &actor, &id, change, now)?;
                    clients::set_auth_method(conn, &id, auth_method.as_str())?;
                    Ok(view)
                })?;
                Ok((view, auth_method))
            })
            .await?;
        client_cache::settle().await;
        Ok(self.answer(&view, method))
    }

    /// RFC 7592 §2.3: deletes the client; its tokens stop working. Returns once every
    /// instance refuses it.
    pub async fn delete(
        &self,
        id: String,
        bearer: Option<String>,
    ) -> Result<(), RegistrationError> {
        let bearer = bearer.ok_or(RegistrationError::Bearer(AuthError::Missing))?;
        let now = self.clock.now();
        self.db
            .run(move |conn| -> Result<_, RegistrationError> {
                registered(conn, &id, &bearer)?;
                let actor = Actor::registration_token(&id);
                Ok(admin::delete_client(conn, &actor, &id, now)?)
            })
            .await?;
        client_cache::settle().await;
        Ok(())
    }
}

/// The client `id` as registered, if `token` is its registration access token.
fn registered(
    conn: &mut DbConnection,
    id: &str,
    token: &str,
) -> Result<(ClientView, AuthMethod), RegistrationError> {
    let (client, stored) = clients::find_by_registration_token(conn, id, token)?
        .ok_or_else(wrong_registration_token)?;
    let view = ClientView::from(&client);
    let method = AuthMethod::of(&view, stored.as_deref());
    Ok((view, method))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_a_secret_or_a_registration_token() {
        let metadata: ClientMetadata =
            serde_json::from_str(r#"{"client_name":"x","client_secret":"s3cr3t-put"}"#).unwrap();
        let shown = format!("{metadata:?}");
        assert!(
            !shown.contains("s3cr3t-put") && shown.contains("<redacted>"),
            "{shown}"
        );
        let registered = RegisteredClient {
            client_id: "c".into(),
            client_secret: Some("s3cr3t".into()),
            client_id_issued_at: 0,
            client_secret_expires_at: 0,
            registration_access_token: Some("r3g-token".into()),
            registration_client_uri: "http://x/register/c".into(),
            client_name: "x".into(),
            redirect_uris: vec![],
            post_logout_redirect_uris: vec![],
            grant_types: vec![],
            response_types: vec![],
            token_endpoint_auth_method: "none".into(),
            scope: String::new(),
        };
        let shown = format!("{registered:?}");
        assert!(
            !shown.contains("s3cr3t") && !shown.contains("r3g-token"),
            "{shown}"
        );
    }
}
