//! Roles and the scopes each allows (Django's groups and their permissions).

use serde::Serialize;

use crate::domain::ScopeSet;
use crate::storage::roles::{self, RoleRow};
use crate::storage::security_events::EventKind;
use crate::storage::{accounts, DbConnection};

use super::{invalid, Actor, AdminError};

/// A role as the admin surfaces show it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RoleView {
    pub name: String,
    pub scopes: Vec<String>,
    /// How many users hold it.
    pub users: i64,
}

impl RoleView {
    fn of(conn: &mut DbConnection, row: RoleRow) -> Result<Self, AdminError> {
        let users = roles::member_count(conn, &row.name)?;
        Self::counted(row, users)
    }

    fn counted(row: RoleRow, users: i64) -> Result<Self, AdminError> {
        let scopes = row.scope_set()?.iter().map(str::to_owned).collect();
        Ok(RoleView {
            name: row.name,
            scopes,
            users,
        })
    }
}

/// Role names: 1 to 64 characters, no white space, nothing invisible, and nothing that a URL
/// path would read differently (`/ ? # %`, or dots alone), since the console and the API
/// name a role in their paths. (Usernames have their own, stricter type: `domain::Username`.)
fn validate_name(name: &str) -> Result<(), AdminError> {
    if name.is_empty()
        || name.chars().count() > 64
        || name.chars().any(char::is_whitespace)
        || crate::domain::visible::first_hidden(name).is_some()
    {
        return invalid("a role name must be 1 to 64 characters without spaces");
    }
    if name.contains(['/', '?', '#', '%']) || name.chars().all(|c| c == '.') {
        return invalid("a role name must not contain / ? # % or be only dots");
    }
    Ok(())
}

/// The scopes given (each may hold several, space-separated), as one set.
pub fn parse_scopes(given: &[String]) -> Result<ScopeSet, AdminError> {
    let mut set = ScopeSet::default();
    for raw in given {
        set.extend(ScopeSet::parse(raw).map_err(|e| AdminError::Invalid(e.to_string()))?);
    }
    Ok(set)
}

pub fn create_role(
    conn: &mut DbConnection,
    actor: &Actor,
    name: &str,
    scopes: &[String],
    now: i64,
) -> Result<RoleView, AdminError> {
    validate_name(name)?;
    let set = parse_scopes(scopes)?;
    let row = RoleRow {
        name: name.to_owned(),
        scopes: set.to_string(),
        created_at: now,
    };
    match roles::insert(conn, &row) {
        Err(e) if accounts::is_unique_violation(&e) => {
            return invalid(format!("role `{name}` already exists"))
        }
        other => other?,
    }
    let what = format!("role {name} allows: {set}");
    actor.record(conn, EventKind::RoleCreated, None, &what, now);
    RoleView::of(conn, row)
}

pub fn list_roles(conn: &mut DbConnection) -> Result<Vec<RoleView>, AdminError> {
    roles::list_with_members(conn)?
        .into_iter()
        .map(|(row, users)| RoleView::counted(row, users))
        .collect()
}

pub fn show_role(conn: &mut DbConnection, name: &str) -> Result<RoleView, AdminError> {
    let row = roles::find(conn, name)?.ok_or_else(|| AdminError::NoSuchRole(name.to_owned()))?;
    RoleView::of(conn, row)
}

/// Adds and removes scopes of a role. Users holding it get the new scopes in their next
/// token; a refresh narrows to what their roles allow now.
pub fn update_role(
    conn: &mut DbConnection,
    actor: &Actor,
    name: &str,
    add: &[String],
    remove: &[String],
    now: i64,
) -> Result<RoleView, AdminError> {
    let (add, remove) = (parse_scopes(add)?, parse_scopes(remove)?);
    if add.is_empty() && remove.is_empty() {
        return invalid("nothing to change: give --add-scope or --remove-scope");
    }
    if let Some(both) = add.iter().find(|s| remove.contains(s)) {
        return invalid(format!("scope `{both}` is both added and removed"));
    }
    let row = roles::find(conn, name)?.ok_or_else(|| AdminError::NoSuchRole(name.to_owned()))?;
    let mut scopes: ScopeSet = row
        .scope_set()?
        .iter()
        .filter(|s| !remove.contains(s))
        .map(str::to_owned)
        .collect();
    scopes.extend(add);
    set_role_scopes(conn, actor, name, &scopes, now)
}

/// Replaces a role's scopes (the console's and the API's edit).
pub fn set_role_scopes(
    conn: &mut DbConnection,
    actor: &Actor,
    name: &str,
    scopes: &ScopeSet,
    now: i64,
) -> Result<RoleView, AdminError> {
    if !roles::set_scopes(conn, name, scopes)? {
        return Err(AdminError::NoSuchRole(name.to_owned()));
    }
    let what = format!("role {name} allows: {scopes}");
    actor.record(conn, EventKind::RoleUpdated, None, &what, now);
    show_role(conn, name)
}

/// Deletes a role; the users who held it lose what it allowed at their next token.
pub fn delete_role(
    conn: &mut DbConnection,
    actor: &Actor,
    name: &str,
    now: i64,
) -> Result<RoleView, AdminError> {
    let shown = show_role(conn, name)?;
    if !roles::delete(conn, name)? {
        return Err(AdminError::NoSuchRole(name.to_owned()));
    }
    let what = format!("role {name} (held by {} users)", shown.users);
    actor.record(conn, EventKind::RoleDeleted, None, &what, now);
    Ok(shown)
}
