//! Clients: register, list, show, edit, delete, rotate a secret.

use serde::{Deserialize, Serialize};

use crate::domain::secret::PlainSecret;
use crate::domain::{ClientId, GrantType, RedirectUri, ScopeSet};
use crate::storage::clients::{self, Client};
use crate::storage::security_events::EventKind;
use crate::storage::DbConnection;

use super::{invalid, page_size, Actor, AdminError};

/// What `client create` (and `POST /admin/api/clients`) asks for, before validation.
#[derive(Debug, Default, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientSpec {
    pub name: String,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// Default: `authorization_code` and `refresh_token`.
    #[serde(default)]
    pub grant_types: Vec<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
    /// No secret; PKCE required.
    #[serde(default)]
    pub public: bool,
    /// May introspect every client's tokens (an API).
    #[serde(default)]
    pub introspect: bool,
}

/// A client as the CLI shows it: never with a secret hash.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClientView {
    pub client_id: String,
    pub name: String,
    pub public: bool,
    /// May introspect every client's tokens, not only its own.
    pub introspect: bool,
    pub redirect_uris: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub scopes: Vec<String>,
    pub created_at: i64,
}

impl From<&Client> for ClientView {
    fn from(c: &Client) -> Self {
        ClientView {
            client_id: c.id.to_string(),
            name: c.name.clone(),
            public: c.is_public(),
            introspect: c.introspect,
            redirect_uris: c.redirect_uris.iter().map(|r| r.to_string()).collect(),
            post_logout_redirect_uris: c
                .post_logout_redirect_uris
                .iter()
                .map(|r| r.to_string())
                .collect(),
            grant_types: c.grant_types.iter().map(|g| g.to_string()).collect(),
            scopes: c.scopes.iter().map(str::to_owned).collect(),
            created_at: c.created_at,
        }
    }
}

/// A newly registered client; the secret is shown this once.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedClient {
    #[serde(flatten)]
    pub client: ClientView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

/// A client registration that passed every check.
struct ValidSpec {
    name: String,
    redirect_uris: Vec<RedirectUri>,
    post_logout_redirect_uris: Vec<RedirectUri>,
    grant_types: Vec<GrantType>,
    scopes: ScopeSet,
    public: bool,
    introspect: bool,
}

fn validate(spec: ClientSpec) -> Result<ValidSpec, AdminError> {
    let name = spec.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 200 {
        return invalid("client name must be 1 to 200 printable characters");
    }
    // The consent page shows the name: nothing in it may render as something else.
    if let Some(c) = crate::domain::visible::first_hidden(&name) {
        return invalid(format!(
            "client name must not contain control, invisible or direction-changing characters (found U+{:04X})",
            c as u32
        ));
    }
    let mut grant_types = Vec::new();
    for raw in &spec.grant_types {
        let grant: GrantType = raw.parse().or_else(|_| {
            invalid(format!(
                "unknown grant type `{raw}`: use authorization_code, client_credentials, password or refresh_token"
            ))
        })?;
        if !grant_types.contains(&grant) {
            grant_types.push(grant);
        }
    }
    if grant_types.is_empty() {
        grant_types = vec![GrantType::AuthorizationCode, GrantType::RefreshToken];
    }
    grant_types.sort();
    let mut scopes = ScopeSet::default();
    for raw in &spec.scopes {
        scopes.extend(ScopeSet::parse(raw).map_err(|e| AdminError::Invalid(e.to_string()))?);
    }
    let redirect_uris = parse_uris(&spec.redirect_uris)?;
    let post_logout_redirect_uris = parse_uris(&spec.post_logout_redirect_uris)?;
    if grant_types.contains(&GrantType::AuthorizationCode) && redirect_uris.is_empty() {
        return invalid("the authorization_code grant needs at least one --redirect-uri");
    }
    if spec.public && grant_types.contains(&GrantType::ClientCredentials) {
        return invalid(
            "a public client cannot use client_credentials: it has no secret to authenticate with",
        );
    }
    Ok(ValidSpec {
        name,
        redirect_uris,
        post_logout_redirect_uris,
        grant_types,
        scopes,
        public: spec.public,
        introspect: spec.introspect,
    })
}

/// Registered URIs, each validated like a redirect URI (RFC 6749 §3.1.2; RP-Initiated
/// Logout 1.0 §3.1 asks the same of post-logout ones), without repeats.
fn parse_uris(raw: &[String]) -> Result<Vec<RedirectUri>, AdminError> {
    let mut uris = Vec::new();
    for raw in raw {
        let uri = RedirectUri::parse(raw).map_err(|e| AdminError::Invalid(e.to_string()))?;
        if !uris.contains(&uri) {
            uris.push(uri);
        }
    }
    Ok(uris)
}

pub fn create_client(
    conn: &mut DbConnection,
    actor: &Actor,
    spec: ClientSpec,
    now: i64,
) -> Result<CreatedClient, AdminError> {
    let ValidSpec {
        name,
        redirect_uris,
        post_logout_redirect_uris,
        grant_types,
        scopes,
        public,
        introspect,
    } = validate(spec)?;
    let secret = (!public).then(PlainSecret::generate);
    let client = Client {
        id: ClientId::generate(),
        name,
        secret_hash: secret.as_ref().map(PlainSecret::hash),
        redirect_uris,
        post_logout_redirect_uris,
        grant_types,
        scopes,
        created_at: now,
        updated_at: now,
        introspect,
    };
    clients::insert(conn, &client)?;
    let what = format!("client {} ({})", client.id, client.name);
    actor.record(
        conn,
        EventKind::ClientRegistered,
        Some(&client.id),
        &what,
        now,
    );
    Ok(CreatedClient {
        client: ClientView::from(&client),
        client_secret: secret.map(|s| s.expose().to_owned()),
    })
}

pub fn count_clients(conn: &mut DbConnection) -> Result<i64, AdminError> {
    Ok(clients::count(conn)?)
}

pub fn list_clients(conn: &mut DbConnection) -> Result<Vec<ClientView>, AdminError> {
    Ok(clients::list(conn)?.iter().map(ClientView::from).collect())
}

pub fn show_client(conn: &mut DbConnection, id: &str) -> Result<ClientView, AdminError> {
    clients::find(conn, id)?
        .map(|c| ClientView::from(&c))
        .ok_or_else(|| AdminError::NoSuchClient(id.to_owned()))
}

/// Deletes a client and ends its sessions (see `clients::delete`).
pub fn delete_client(
    conn: &mut DbConnection,
    actor: &Actor,
    id: &str,
    now: i64,
) -> Result<(), AdminError> {
    if clients::delete(conn, id, now)? {
        actor.record(
            conn,
            EventKind::ClientDeleted,
            Some(id),
            &format!("client {id}"),
            now,
        );
        Ok(())
    } else {
        Err(AdminError::NoSuchClient(id.to_owned()))
    }
}

/// Replaces a confidential client's secret; the old one stops working at once.
pub fn rotate_client_secret(
    conn: &mut DbConnection,
    actor: &Actor,
    id: &str,
    now: i64,
) -> Result<String, AdminError> {
    let client = clients::find(conn, id)?.ok_or_else(|| AdminError::NoSuchClient(id.to_owned()))?;
    if client.is_public() {
        return invalid(format!(
            "client `{id}` is public and has no secret to rotate"
        ));
    }
    let secret = PlainSecret::generate();
    if !clients::set_secret(conn, id, &secret.hash(), now)? {
        return Err(AdminError::NoSuchClient(id.to_owned()));
    }
    let what = format!("client {id}");
    actor.record(conn, EventKind::ClientSecretRotated, Some(id), &what, now);
    Ok(secret.expose().to_owned())
}

/// One page of clients in id order.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClientPage {
    pub clients: Vec<ClientView>,
    /// Pass as `after` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

pub fn page_clients(
    conn: &mut DbConnection,
    after: Option<&str>,
    limit: Option<i64>,
) -> Result<ClientPage, AdminError> {
    let limit = page_size(limit)?;
    let mut rows = clients::page(conn, after, limit + 1)?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next = more
        .then(|| rows.last().map(|c| c.id.to_string()))
        .flatten();
    Ok(ClientPage {
        clients: rows.iter().map(ClientView::from).collect(),
        next,
    })
}

/// A change to a client: each field given replaces what is registered; the rest stays.
/// Whether it is public cannot change (a secret cannot be added or taken away).
#[derive(Debug, Default, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientChange {
    pub name: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub grant_types: Option<Vec<String>>,
    pub scopes: Option<Vec<String>>,
    pub introspect: Option<bool>,
}

impl ClientChange {
    fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.redirect_uris.is_none()
            && self.post_logout_redirect_uris.is_none()
            && self.grant_types.is_none()
            && self.scopes.is_none()
            && self.introspect.is_none()
    }
}

/// Edits a client; the result is checked by the same rules as a registration.
pub fn update_client(
    conn: &mut DbConnection,
    actor: &Actor,
    id: &str,
    change: ClientChange,
    now: i64,
) -> Result<ClientView, AdminError> {
    if change.is_empty() {
        return invalid("nothing to change");
    }
    let current =
        clients::find(conn, id)?.ok_or_else(|| AdminError::NoSuchClient(id.to_owned()))?;
    let was = ClientView::from(&current);
    let spec = ClientSpec {
        name: change.name.unwrap_or(was.name),
        redirect_uris: change.redirect_uris.unwrap_or(was.redirect_uris),
        post_logout_redirect_uris: change
            .post_logout_redirect_uris
            .unwrap_or(was.post_logout_redirect_uris),
        // An empty list would mean the default grants; a change must name them.
        grant_types: match change.grant_types {
            Some(g) if g.is_empty() => return invalid("a client needs at least one grant type"),
            Some(g) => g,
            None => was.grant_types,
        },
        scopes: change.scopes.unwrap_or(was.scopes),
        public: was.public,
        introspect: change.introspect.unwrap_or(was.introspect),
    };
    let valid = validate(spec)?;
    let client = Client {
        name: valid.name,
        redirect_uris: valid.redirect_uris,
        post_logout_redirect_uris: valid.post_logout_redirect_uris,
        grant_types: valid.grant_types,
        scopes: valid.scopes,
        introspect: valid.introspect,
        updated_at: now,
        ..current
    };
    if !clients::update(conn, &client, now)? {
        return Err(AdminError::NoSuchClient(id.to_owned()));
    }
    let what = format!("client {} ({})", client.id, client.name);
    actor.record(conn, EventKind::ClientUpdated, Some(id), &what, now);
    Ok(ClientView::from(&client))
}
