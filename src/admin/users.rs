//! Users: create, find, list, edit, disable, delete, passwords and roles.
//!
//! Every change that takes access away (disable, delete, a new password set by an admin)
//! also ends the user's browser sessions, revokes their refresh families and throws away
//! their unused codes, in the same transaction: when a password leaks, the admin's one
//! command is enough. Access tokens already issued live out their short lifetime.

use diesel::Connection;
use serde::Serialize;

use crate::accounts::password;
use crate::domain::secret::random_id;
use crate::domain::Username;
use crate::storage::accounts::{self, Profile, User, UserFilter};
use crate::storage::security_events::EventKind;
use crate::storage::{consents, login_sessions, refresh_tokens, roles, two_factor};
use crate::storage::{DbConnection, StorageError};

use super::{invalid, page_size, Actor, AdminError};

/// A user as the admin surfaces show them: `id` is the `sub` of the user's tokens.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserView {
    pub id: String,
    pub username: String,
    pub roles: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub created_at: i64,
    /// When an admin disabled the user; absent while the user may sign in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_at: Option<i64>,
    /// Whether the user signs in with a second factor.
    pub totp: bool,
}

/// How passwords are checked and hashed (from `[accounts]` in the settings).
#[derive(Debug, Clone, Copy)]
pub struct PasswordRules {
    pub bcrypt_cost: u32,
    pub min_length: usize,
}

impl PasswordRules {
    /// Whether a new password is acceptable.
    pub fn check(&self, password: &str) -> Result<(), AdminError> {
        if password.chars().count() < self.min_length {
            return invalid(format!(
                "the password must have at least {} characters",
                self.min_length
            ));
        }
        Ok(())
    }

    /// The bcrypt hash of an acceptable new password.
    pub fn hash(&self, password: &str) -> Result<String, AdminError> {
        self.check(password)?;
        password::hash(password, self.bcrypt_cost).map_err(|e| AdminError::Invalid(e.to_string()))
    }
}

/// What `user create` needs besides the connection.
pub struct NewUser<'a> {
    pub username: &'a str,
    pub password: &'a str,
    pub roles: &'a [String],
    /// OpenID Connect's `email` and `name` claims.
    pub email: Option<&'a str>,
    pub name: Option<&'a str>,
}

/// An email address as the `email` claim carries it (RFC 5322's `addr-spec`, loosely: one
/// `@` with something on both sides, no spaces or control characters, at most 254 bytes as
/// RFC 5321 §4.5.3.1.3 allows). Deliverability is not gatehouse's to check.
fn validate_email(email: &str) -> Result<String, AdminError> {
    let well_formed = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && matches!(email.split_once('@'), Some((local, domain))
            if !local.is_empty() && !domain.is_empty() && !domain.contains('@'));
    if !well_formed {
        return invalid(format!(
            "`{}` is not an email address (one `@`, no spaces, at most 254 bytes)",
            email.chars().take(64).collect::<String>()
        ));
    }
    Ok(email.to_owned())
}

/// A person's name as the `name` claim carries it: 1 to 200 characters, no control
/// characters, no leading or trailing spaces.
fn validate_display_name(name: &str) -> Result<String, AdminError> {
    if name.is_empty()
        || name.chars().count() > 200
        || name.chars().any(char::is_control)
        || name.trim() != name
    {
        return invalid(
            "a name must be 1 to 200 characters, without control characters or surrounding spaces",
        );
    }
    Ok(name.to_owned())
}

/// The role names given, without repeats, each an existing role.
fn existing_roles(conn: &mut DbConnection, given: &[String]) -> Result<Vec<String>, AdminError> {
    let mut names: Vec<String> = Vec::new();
    for role in given {
        if !names.contains(role) {
            names.push(role.clone());
        }
    }
    let missing = roles::missing(conn, &names)?;
    if !missing.is_empty() {
        return invalid(format!(
            "unknown role: {} (create it with `gatehouse role create`)",
            missing.join(", ")
        ));
    }
    Ok(names)
}

fn view(conn: &mut DbConnection, user: User) -> Result<UserView, AdminError> {
    let roles = accounts::user_role_names(conn, &user.id)?;
    let totp = two_factor::is_on(conn, &user.id)?;
    Ok(UserView::of(user, roles, totp))
}

impl UserView {
    fn of(user: User, roles: Vec<String>, totp: bool) -> Self {
        UserView {
            id: user.id,
            username: user.username,
            roles,
            email: user.email,
            name: user.name,
            created_at: user.created_at,
            disabled_at: user.disabled_at,
            totp,
        }
    }
}

/// The user `given` names: a username (matched as sign-in matches it) or a user id.
pub fn find_user(conn: &mut DbConnection, given: &str) -> Result<User, AdminError> {
    match accounts::find_user_by_name(conn, given)? {
        Some(user) => Ok(user),
        None => accounts::find_user(conn, given)?
            .ok_or_else(|| AdminError::NoSuchUser(given.to_owned())),
    }
}

pub fn create_user(
    conn: &mut DbConnection,
    actor: &Actor,
    rules: &PasswordRules,
    new: NewUser<'_>,
    now: i64,
) -> Result<UserView, AdminError> {
    let name = Username::parse(new.username).map_err(|e| AdminError::Invalid(e.to_string()))?;
    let email = new.email.map(validate_email).transpose()?;
    let display_name = new.name.map(validate_display_name).transpose()?;
    // The cheap checks first: bcrypt only for a request that will be written.
    rules.check(new.password)?;
    let roles = existing_roles(conn, new.roles)?;
    let taken = |existing: &str| {
        invalid(format!(
            "username `{name}` is taken: it is the same as the existing user `{existing}` \
             (usernames are matched without regard to case or width)"
        ))
    };
    if let Some(existing) = accounts::find_user_by_username(conn, &name)? {
        return taken(&existing.username);
    }
    let user = User {
        id: random_id(16),
        username: name.as_typed().to_owned(),
        password_hash: rules.hash(new.password)?,
        created_at: now,
        email,
        name: display_name,
        disabled_at: None,
    };
    match accounts::insert_user(conn, &user, &name, &roles) {
        // Another `user create` of the same key won the race since the check above.
        Err(e) if accounts::is_unique_violation(&e) => return taken(name.as_typed()),
        other => other?,
    }
    actor.record(conn, EventKind::UserCreated, None, &about(&user), now);
    Ok(UserView {
        id: user.id,
        username: user.username,
        roles,
        email: user.email,
        name: user.name,
        created_at: user.created_at,
        disabled_at: None,
        totp: false,
    })
}

pub fn count_users(conn: &mut DbConnection) -> Result<i64, AdminError> {
    Ok(accounts::count_users(conn)?)
}

/// How the event log names a user.
fn about(user: &User) -> String {
    format!("user {} ({})", user.id, user.username)
}

pub fn show_user(conn: &mut DbConnection, given: &str) -> Result<UserView, AdminError> {
    let user = find_user(conn, given)?;
    view(conn, user)
}

/// One page of users in username order.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserPage {
    pub users: Vec<UserView>,
    /// Pass as `after` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// Users whose name starts with `search` (without regard to case), `limit` at a time
/// (default 50), after the cursor `after`.
pub fn list_users(
    conn: &mut DbConnection,
    search: Option<&str>,
    after: Option<&str>,
    limit: Option<i64>,
) -> Result<UserPage, AdminError> {
    let limit = page_size(limit)?;
    let filter = UserFilter {
        prefix: search.filter(|s| !s.is_empty()),
        after,
        // One more than asked says whether there is a next page.
        limit: limit + 1,
    };
    let mut rows = accounts::page_users(conn, &filter)?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next = more
        .then(|| rows.last().map(|(_, key)| key.clone()))
        .flatten();
    // Two queries for the whole page, not two per user.
    let ids: Vec<&str> = rows.iter().map(|(user, _)| user.id.as_str()).collect();
    let mut roles = accounts::role_names_of(conn, &ids)?;
    let totp = two_factor::on_for(conn, &ids)?;
    let users = rows
        .into_iter()
        .map(|(user, _)| {
            let on = totp.contains(&user.id);
            let held = roles.remove(&user.id).unwrap_or_default();
            UserView::of(user, held, on)
        })
        .collect();
    Ok(UserPage { users, next })
}

/// A change to a user's `email` and `name`: `Some("")` clears one, `None` leaves it.
#[derive(Debug, Default)]
pub struct ProfileChange<'a> {
    pub email: Option<&'a str>,
    pub name: Option<&'a str>,
}

pub fn update_user(
    conn: &mut DbConnection,
    actor: &Actor,
    given: &str,
    change: ProfileChange<'_>,
    now: i64,
) -> Result<UserView, AdminError> {
    let clearable = |value: Option<&str>, check: fn(&str) -> Result<String, AdminError>| {
        value.map(|v| (!v.is_empty()).then(|| check(v)).transpose())
    };
    let email = clearable(change.email, validate_email).transpose()?;
    let name = clearable(change.name, validate_display_name).transpose()?;
    if email.is_none() && name.is_none() {
        return invalid("nothing to change: give --email or --name");
    }
    let user = find_user(conn, given)?;
    let email = email.unwrap_or(user.email.clone());
    let name = name.unwrap_or(user.name.clone());
    let profile = Profile {
        email: email.as_deref(),
        name: name.as_deref(),
    };
    if !accounts::set_profile(conn, &user.id, &profile)? {
        return Err(AdminError::NoSuchUser(given.to_owned()));
    }
    actor.record(conn, EventKind::UserUpdated, None, &about(&user), now);
    show_user(conn, &user.id)
}

/// What ending a user's access took away.
#[derive(Debug, Clone, Copy, Default, Serialize, utoipa::ToSchema)]
pub struct Ended {
    /// Browser sessions ended.
    pub sessions: usize,
    /// Refresh-token families revoked.
    pub refresh_families: usize,
}

/// Ends every browser session of the user, revokes their refresh families and makes their
/// codes not yet exchanged worthless (in the caller's transaction).
pub(super) fn end_access(
    conn: &mut DbConnection,
    user_id: &str,
    now: i64,
) -> Result<Ended, StorageError> {
    end_access_but(conn, user_id, None, now)
}

/// As [`end_access`], keeping the browser session `keep` (the one making the change).
pub(super) fn end_access_but(
    conn: &mut DbConnection,
    user_id: &str,
    keep: Option<&str>,
    now: i64,
) -> Result<Ended, StorageError> {
    // Before anything is revoked: an exchange in flight finishes first, and its family is
    // then seen and revoked below.
    accounts::hold(conn, user_id, accounts::Hold::Exclusive)?;
    let sessions = login_sessions::end_all_of_user(conn, user_id, keep)?;
    let refresh_families = refresh_tokens::revoke_user_families(conn, user_id, None, now)?;
    // A code dies with the session it was issued in; renewing the consents' identities
    // takes those issued in the session kept too.
    consents::renew_grants(conn, user_id)?;
    Ok(Ended {
        sessions,
        refresh_families,
    })
}

/// Disables a user: they cannot sign in, and what they were signed in with ends.
pub fn disable_user(
    conn: &mut DbConnection,
    actor: &Actor,
    given: &str,
    now: i64,
) -> Result<Ended, AdminError> {
    let user = find_user(conn, given)?;
    if user.disabled_at.is_some() {
        return invalid(format!("user `{}` is already disabled", user.username));
    }
    let ended = conn.transaction(|conn| {
        accounts::set_disabled(conn, &user.id, Some(now))?;
        end_access(conn, &user.id, now)
    })?;
    actor.record(conn, EventKind::UserDisabled, None, &about(&user), now);
    Ok(ended)
}

pub fn enable_user(
    conn: &mut DbConnection,
    actor: &Actor,
    given: &str,
    now: i64,
) -> Result<UserView, AdminError> {
    let user = find_user(conn, given)?;
    if user.disabled_at.is_none() {
        return invalid(format!("user `{}` is not disabled", user.username));
    }
    accounts::set_disabled(conn, &user.id, None)?;
    actor.record(conn, EventKind::UserEnabled, None, &about(&user), now);
    show_user(conn, &user.id)
}

/// Deletes a user and everything of theirs; their refresh families are revoked first.
pub fn delete_user(
    conn: &mut DbConnection,
    actor: &Actor,
    given: &str,
    now: i64,
) -> Result<UserView, AdminError> {
    let user = find_user(conn, given)?;
    let shown = view(conn, user.clone())?;
    let deleted = conn.transaction(|conn| {
        refresh_tokens::revoke_user_families(conn, &user.id, None, now)?;
        accounts::delete_user(conn, &user.id)
    })?;
    if !deleted {
        return Err(AdminError::NoSuchUser(given.to_owned()));
    }
    actor.record(conn, EventKind::UserDeleted, None, &about(&user), now);
    Ok(shown)
}

/// Sets a user's password (an admin's reset): the old password stops working, and so does
/// everything signed in with it.
pub fn set_password(
    conn: &mut DbConnection,
    actor: &Actor,
    rules: &PasswordRules,
    given: &str,
    new_password: &str,
    now: i64,
) -> Result<Ended, AdminError> {
    let user = find_user(conn, given)?;
    let hash = rules.hash(new_password)?;
    let ended = conn.transaction(|conn| {
        accounts::set_password_hash(conn, &user.id, &hash)?;
        end_access(conn, &user.id, now)
    })?;
    actor.record(conn, EventKind::PasswordChanged, None, &about(&user), now);
    Ok(ended)
}

/// A user's own new password (`/account`, the old one checked by the caller): every other
/// browser session and every refresh token ends; the session `keep` stays signed in.
pub fn change_own_password(
    conn: &mut DbConnection,
    rules: &PasswordRules,
    user: &User,
    keep: &str,
    new_password: &str,
    now: i64,
) -> Result<Ended, AdminError> {
    let hash = rules.hash(new_password)?;
    let ended = conn.transaction(|conn| {
        accounts::set_password_hash(conn, &user.id, &hash)?;
        end_access_but(conn, &user.id, Some(keep), now)
    })?;
    let actor = Actor::own_account(&user.id);
    actor.record(conn, EventKind::PasswordChanged, None, &about(user), now);
    Ok(ended)
}

/// Gives a user a role. Their next token carries it; a refresh re-reads roles.
pub fn add_role(
    conn: &mut DbConnection,
    actor: &Actor,
    given: &str,
    role: &str,
    now: i64,
) -> Result<UserView, AdminError> {
    let user = find_user(conn, given)?;
    if roles::find(conn, role)?.is_none() {
        return Err(AdminError::NoSuchRole(role.to_owned()));
    }
    if !accounts::add_role(conn, &user.id, role)? {
        return invalid(format!(
            "user `{}` already has role `{role}`",
            user.username
        ));
    }
    let what = format!("role {role} given to {}", about(&user));
    actor.record(conn, EventKind::RoleGranted, None, &what, now);
    view(conn, user)
}

/// Takes a role from a user. Their refresh tokens keep working, narrowed at the next
/// refresh to what their remaining roles allow.
pub fn remove_role(
    conn: &mut DbConnection,
    actor: &Actor,
    given: &str,
    role: &str,
    now: i64,
) -> Result<UserView, AdminError> {
    let user = find_user(conn, given)?;
    if !accounts::remove_role(conn, &user.id, role)? {
        return invalid(format!(
            "user `{}` does not have role `{role}`",
            user.username
        ));
    }
    let what = format!("role {role} taken from {}", about(&user));
    actor.record(conn, EventKind::RoleRemoved, None, &what, now);
    view(conn, user)
}
