//! Roles and users.

use serde::Serialize;

use crate::accounts::password;
use crate::domain::secret::random_id;
use crate::domain::{ScopeSet, Username};
use crate::storage::accounts::{self, RoleRow, User};
use crate::storage::DbConnection;

use super::{invalid, AdminError};

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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// What `user create` needs besides the connection.
pub struct NewUser<'a> {
    pub username: &'a str,
    pub password: &'a str,
    pub roles: &'a [String],
    /// OpenID Connect's `email` and `name` claims.
    pub email: Option<&'a str>,
    pub name: Option<&'a str>,
    pub bcrypt_cost: u32,
    pub min_password_length: usize,
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

pub fn create_user(
    conn: &mut DbConnection,
    new: NewUser<'_>,
    now: i64,
) -> Result<UserView, AdminError> {
    let name = Username::parse(new.username).map_err(|e| AdminError::Invalid(e.to_string()))?;
    let email = new.email.map(validate_email).transpose()?;
    let display_name = new.name.map(validate_display_name).transpose()?;
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
        email,
        name: display_name,
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
        email: user.email,
        name: user.name,
    })
}
