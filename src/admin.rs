//! The admin operations behind the CLI: validate input once, then write, so a bad argument
//! never leaves a half-written record.

use std::sync::Arc;

use serde::Serialize;

use crate::accounts::password;
use crate::accounts::two_factor::{self, Enrollment};
use crate::domain::{ClientId, GrantType, RedirectUri, ScopeSet, Username};
use crate::storage::accounts::{self, RoleRow, User};
use crate::storage::clients::{self, Client};
use crate::storage::security_events::{self, Event, EventKind};
use crate::storage::signing_keys::{self, StoredKey};
use crate::storage::{DbConnection, StorageError};
use crate::tokens::at_rest;
use crate::tokens::kek::{self, KekError, KeyEncryptionKey};
use crate::tokens::keys;
use crate::tokens::sealing::SealingKeys;
use crate::domain::secret::{random_id, PlainSecret};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    Invalid(String),
    #[error("no client with id `{0}`")]
    NoSuchClient(String),
    #[error("no user named `{0}`")]
    NoSuchUser(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

fn invalid<T>(message: impl Into<String>) -> Result<T, AdminError> {
    Err(AdminError::Invalid(message.into()))
}

/// What `client create` asks for, before validation.
#[derive(Debug, Default)]
pub struct ClientSpec {
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub scopes: Vec<String>,
    pub public: bool,
    /// May introspect every client's tokens (an API).
    pub introspect: bool,
}

/// A client as the CLI shows it: never with a secret hash.
#[derive(Debug, Serialize)]
pub struct ClientView {
    pub client_id: String,
    pub name: String,
    pub public: bool,
    /// May introspect every client's tokens, not only its own.
    pub introspect: bool,
    pub redirect_uris: Vec<String>,
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
            grant_types: c.grant_types.iter().map(|g| g.to_string()).collect(),
            scopes: c.scopes.iter().map(str::to_owned).collect(),
            created_at: c.created_at,
        }
    }
}

/// A newly registered client; the secret is shown this once.
#[derive(Serialize)]
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
    grant_types: Vec<GrantType>,
    scopes: ScopeSet,
    public: bool,
    introspect: bool,
}

fn validate(spec: ClientSpec) -> Result<ValidSpec, AdminError> {
    let name = spec.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return invalid("client name must be 1 to 200 printable characters");
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
    let mut redirect_uris = Vec::new();
    for raw in &spec.redirect_uris {
        let uri = RedirectUri::parse(raw).map_err(|e| AdminError::Invalid(e.to_string()))?;
        if !redirect_uris.contains(&uri) {
            redirect_uris.push(uri);
        }
    }
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
        grant_types,
        scopes,
        public: spec.public,
        introspect: spec.introspect,
    })
}

pub fn create_client(
    conn: &mut DbConnection,
    spec: ClientSpec,
    now: i64,
) -> Result<CreatedClient, AdminError> {
    let ValidSpec {
        name,
        redirect_uris,
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
        grant_types,
        scopes,
        created_at: now,
        updated_at: now,
        introspect,
    };
    clients::insert(conn, &client)?;
    admin_event(conn, EventKind::ClientRegistered, Some(&client.id), now);
    Ok(CreatedClient {
        client: ClientView::from(&client),
        client_secret: secret.map(|s| s.expose().to_owned()),
    })
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
pub fn delete_client(conn: &mut DbConnection, id: &str, now: i64) -> Result<(), AdminError> {
    if clients::delete(conn, id, now)? {
        admin_event(conn, EventKind::ClientDeleted, Some(id), now);
        Ok(())
    } else {
        Err(AdminError::NoSuchClient(id.to_owned()))
    }
}

/// Replaces a confidential client's secret; the old one stops working at once.
pub fn rotate_client_secret(
    conn: &mut DbConnection,
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
    admin_event(conn, EventKind::ClientSecretRotated, Some(id), now);
    Ok(secret.expose().to_owned())
}

/// Records what an administrator changed, with the CLI as the actor.
fn admin_event(conn: &mut DbConnection, kind: EventKind, client_id: Option<&str>, now: i64) {
    let event = Event {
        actor: Some(security_events::ADMIN),
        client_id,
        ..Event::default()
    };
    security_events::record_or_log(conn, kind, &event, now);
}

/// A signing key as `keys list` shows it.
#[derive(Debug, Serialize)]
pub struct KeyView {
    pub kid: String,
    pub algorithm: String,
    /// `current`, `published` (retired, still in the JWKS) or `expired`.
    pub state: &'static str,
    pub created_at: i64,
    pub retired_at: Option<i64>,
    pub published_until: Option<i64>,
}

impl KeyView {
    fn of(key: StoredKey, now: i64, current_kid: Option<&str>) -> Self {
        let state = match key.publish_until {
            _ if Some(key.kid.as_str()) == current_kid => "current",
            Some(until) if until <= now => "expired",
            _ => "published",
        };
        KeyView {
            kid: key.kid,
            algorithm: key.algorithm,
            state,
            created_at: key.created_at,
            retired_at: key.retired_at,
            published_until: key.publish_until,
        }
    }
}

pub fn list_keys(conn: &mut DbConnection, now: i64) -> Result<Vec<KeyView>, AdminError> {
    let current = signing_keys::current(conn)?.map(|k| k.kid);
    Ok(signing_keys::all(conn)?
        .into_iter()
        .map(|k| KeyView::of(k, now, current.as_deref()))
        .collect())
}

pub fn rotate_keys(
    conn: &mut DbConnection,
    kek: &KeyEncryptionKey,
    access_token_ttl_secs: i64,
    now: i64,
) -> Result<KeyView, AdminError> {
    let key = keys::rotate(conn, kek, access_token_ttl_secs, now)?;
    let kid = key.kid.clone();
    let event = Event {
        actor: Some(security_events::ADMIN),
        detail: Some(&kid),
        ..Event::default()
    };
    security_events::record_or_log(conn, EventKind::SigningKeyRotated, &event, now);
    Ok(KeyView::of(key, now, Some(&kid)))
}

/// `keys rewrap --new-key-file PATH`: every stored key re-wrapped from the key-encryption
/// key in use (`current`) to the one in `path`, made with a fresh random key (0600) if the
/// file does not exist. A file that holds no valid key, or the key already in use, is
/// refused and nothing changes.
pub fn rewrap_keys(
    conn: &mut DbConnection,
    current: &KeyEncryptionKey,
    path: &std::path::Path,
    now: i64,
) -> Result<KeysRewrapped, KekError> {
    let (new, created) = kek::load_or_create(path)?;
    if new.fingerprint() == current.fingerprint() {
        return Err(KekError::SameKey {
            path: path.to_owned(),
        });
    }
    let done = at_rest::rewrap(conn, current, &new)?;
    let detail = format!(
        "{} signing and {} sealing keys re-wrapped from key-encryption key {} to {}",
        done.signing_keys,
        done.sealing_keys,
        current.fingerprint(),
        new.fingerprint()
    );
    let event = Event {
        actor: Some(security_events::ADMIN),
        detail: Some(&detail),
        ..Event::default()
    };
    security_events::record_or_log(conn, EventKind::KeysRewrapped, &event, now);
    Ok(KeysRewrapped {
        signing_keys: done.signing_keys,
        sealing_keys: done.sealing_keys,
        previous_fingerprint: current.fingerprint().to_owned(),
        fingerprint: done.fingerprint,
        new_key_file: path.display().to_string(),
        created_key_file: created,
    })
}

/// What `keys rewrap` reports.
#[derive(Debug, Serialize)]
pub struct KeysRewrapped {
    pub signing_keys: usize,
    pub sealing_keys: usize,
    pub previous_fingerprint: String,
    pub fingerprint: String,
    pub new_key_file: String,
    /// Whether the file was made now, with a fresh random key.
    pub created_key_file: bool,
}

/// `user totp enable`: a new authenticator secret for the user, on at once; prints the
/// secret, its `otpauth://` URI and ten recovery codes, once. A user who already has TOTP on
/// keeps it unless `force`: replacing it silently would lock them out of their own
/// authenticator app (a pending, unconfirmed enrolment from the account page is replaced).
pub fn enable_totp(
    conn: &mut DbConnection,
    kek: Arc<KeyEncryptionKey>,
    username: &str,
    force: bool,
    now: i64,
) -> Result<Enrollment, AdminError> {
    let user = accounts::find_user_by_name(conn, username)?
        .ok_or_else(|| AdminError::NoSuchUser(username.to_owned()))?;
    let replacing = crate::storage::two_factor::is_on(conn, &user.id)?;
    if replacing && !force {
        return invalid(format!(
            "user `{}` already has TOTP on; `--force` replaces the secret and the recovery \
             codes (the authenticator app set up before stops working)",
            user.username
        ));
    }
    let keys = SealingKeys::load(conn, kek, now)?;
    let enrollment = two_factor::enroll(conn, &keys, &user, now)?;
    let verb = if replacing { "replaced" } else { "enabled" };
    let event = Event {
        actor: Some(security_events::ADMIN),
        detail: Some(&format!("TOTP {verb} for user {}", user.id)),
        ..Event::default()
    };
    security_events::record_or_log(conn, EventKind::TotpEnabled, &event, now);
    Ok(enrollment)
}

/// `events`: the newest `limit` events, oldest first, optionally of one user and since a time.
///
/// `user` is a username (in any case) or a user id, or `admin`. A user's own successes are
/// stored under their id, failures under the name as typed at the login form; both are found,
/// whichever of the two is given (the name as given, as created, and as its key).
pub fn list_events(
    conn: &mut DbConnection,
    user: Option<&str>,
    since: Option<i64>,
    limit: i64,
) -> Result<Vec<security_events::StoredEvent>, AdminError> {
    let actors = match user {
        None => None,
        Some(given) => {
            let mut actors = vec![given.to_owned()];
            let found = match accounts::find_user_by_name(conn, given)? {
                Some(user) => Some(user),
                None => accounts::find_user(conn, given)?,
            };
            if let Some(user) = found {
                let key = crate::accounts::username::key_of(&user.username);
                actors.extend([user.id, user.username, key]);
            }
            actors.sort();
            actors.dedup();
            Some(actors)
        }
    };
    Ok(security_events::list(
        conn,
        actors.as_deref(),
        since,
        limit,
    )?)
}

/// `user totp disable`: the user logs in with the password alone again.
pub fn disable_totp(conn: &mut DbConnection, username: &str, now: i64) -> Result<bool, AdminError> {
    let user = accounts::find_user_by_name(conn, username)?
        .ok_or_else(|| AdminError::NoSuchUser(username.to_owned()))?;
    let removed = crate::storage::two_factor::remove(conn, &user.id)?;
    if removed {
        let event = Event {
            actor: Some(security_events::ADMIN),
            detail: Some(&format!("TOTP disabled for user {}", user.id)),
            ..Event::default()
        };
        security_events::record_or_log(conn, EventKind::TotpDisabled, &event, now);
    }
    Ok(removed)
}

/// A role as the CLI shows it.
#[derive(Debug, Serialize)]
pub struct RoleView {
    pub name: String,
    pub scopes: Vec<String>,
}

/// Role names: 1 to 64 characters, no white space or control characters. (Usernames have
/// their own, stricter type: [`Username`].)
fn validate_name(kind: &str, name: &str) -> Result<(), AdminError> {
    if name.is_empty()
        || name.chars().count() > 64
        || name.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return invalid(format!("{kind} must be 1 to 64 characters without spaces"));
    }
    Ok(())
}

pub fn create_role(
    conn: &mut DbConnection,
    name: &str,
    scopes: &[String],
    now: i64,
) -> Result<RoleView, AdminError> {
    validate_name("a role name", name)?;
    let mut set = ScopeSet::default();
    for raw in scopes {
        set.extend(ScopeSet::parse(raw).map_err(|e| AdminError::Invalid(e.to_string()))?);
    }
    let row = RoleRow {
        name: name.to_owned(),
        scopes: set.to_string(),
        created_at: now,
    };
    match accounts::insert_role(conn, &row) {
        Err(e) if accounts::is_unique_violation(&e) => {
            return invalid(format!("role `{name}` already exists"))
        }
        other => other?,
    }
    Ok(RoleView {
        name: row.name,
        scopes: set.iter().map(str::to_owned).collect(),
    })
}

/// A new user as the CLI shows it: `id` is the `sub` of the user's tokens.
#[derive(Debug, Serialize)]
pub struct UserView {
    pub id: String,
    pub username: String,
    pub roles: Vec<String>,
}

/// What `user create` needs besides the connection.
pub struct NewUser<'a> {
    pub username: &'a str,
    pub password: &'a str,
    pub roles: &'a [String],
    pub bcrypt_cost: u32,
    pub min_password_length: usize,
}

pub fn create_user(
    conn: &mut DbConnection,
    new: NewUser<'_>,
    now: i64,
) -> Result<UserView, AdminError> {
    let name = Username::parse(new.username).map_err(|e| AdminError::Invalid(e.to_string()))?;
    if new.password.chars().count() < new.min_password_length {
        return invalid(format!(
            "the password must have at least {} characters",
            new.min_password_length
        ));
    }
    let mut roles: Vec<String> = Vec::new();
    for role in new.roles {
        if !roles.contains(role) {
            roles.push(role.clone());
        }
    }
    let missing = accounts::missing_roles(conn, &roles)?;
    if !missing.is_empty() {
        return invalid(format!(
            "unknown role: {} (create it with `gatehouse role create`)",
            missing.join(", ")
        ));
    }
    let taken = |existing: &str| {
        invalid(format!(
            "username `{name}` is taken: it is the same as the existing user `{existing}` \
             (usernames are matched without regard to case or width)"
        ))
    };
    if let Some(existing) = accounts::find_user_by_username(conn, &name)? {
        return taken(&existing.username);
    }
    let password_hash = password::hash(new.password, new.bcrypt_cost)
        .map_err(|e| AdminError::Invalid(e.to_string()))?;
    let user = User {
        id: random_id(16),
        username: name.as_typed().to_owned(),
        password_hash,
        created_at: now,
    };
    match accounts::insert_user(conn, &user, &name, &roles) {
        // Another `user create` of the same key won the race since the check above.
        Err(e) if accounts::is_unique_violation(&e) => return taken(name.as_typed()),
        other => other?,
    }
    Ok(UserView {
        id: user.id,
        username: user.username,
        roles,
    })
}
