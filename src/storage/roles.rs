//! Roles and the scopes each allows.

use diesel::prelude::*;

use super::schema::{roles, user_roles};
use super::{DbConnection, StorageError};
use crate::domain::ScopeSet;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = roles)]
pub struct RoleRow {
    pub name: String,
    pub scopes: String,
    pub created_at: i64,
}

impl RoleRow {
    pub fn scope_set(&self) -> Result<ScopeSet, StorageError> {
        ScopeSet::parse(&self.scopes)
            .map_err(|_| StorageError::Corrupt(format!("role {}: scopes", self.name)))
    }
}

pub fn insert(conn: &mut DbConnection, role: &RoleRow) -> Result<(), StorageError> {
    diesel::insert_into(roles::table)
        .values(role)
        .execute(conn)?;
    Ok(())
}

/// The names among `names` that are not roles.
pub fn missing(conn: &mut DbConnection, names: &[String]) -> Result<Vec<String>, StorageError> {
    let found: Vec<String> = roles::table
        .select(roles::name)
        .filter(roles::name.eq_any(names))
        .load(conn)?;
    Ok(names
        .iter()
        .filter(|n| !found.contains(n))
        .cloned()
        .collect())
}

pub fn find(conn: &mut DbConnection, name: &str) -> Result<Option<RoleRow>, StorageError> {
    Ok(roles::table
        .find(name)
        .select(RoleRow::as_select())
        .first(conn)
        .optional()?)
}

/// Every role, by name.
pub fn list(conn: &mut DbConnection) -> Result<Vec<RoleRow>, StorageError> {
    Ok(roles::table
        .select(RoleRow::as_select())
        .order(roles::name.asc())
        .load(conn)?)
}

/// Every role with how many users hold it, in two queries whatever the number of roles.
pub fn list_with_members(conn: &mut DbConnection) -> Result<Vec<(RoleRow, i64)>, StorageError> {
    let roles = list(conn)?;
    let counts: std::collections::HashMap<String, i64> = user_roles::table
        .group_by(user_roles::role)
        .select((user_roles::role, diesel::dsl::count_star()))
        .load::<(String, i64)>(conn)?
        .into_iter()
        .collect();
    Ok(roles
        .into_iter()
        .map(|row| {
            let members = counts.get(&row.name).copied().unwrap_or(0);
            (row, members)
        })
        .collect())
}

/// How many users hold the role.
pub fn member_count(conn: &mut DbConnection, name: &str) -> Result<i64, StorageError> {
    Ok(user_roles::table
        .filter(user_roles::role.eq(name))
        .count()
        .get_result(conn)?)
}

pub fn set_scopes(
    conn: &mut DbConnection,
    name: &str,
    scopes: &ScopeSet,
) -> Result<bool, StorageError> {
    let updated = diesel::update(roles::table.find(name))
        .set(roles::scopes.eq(scopes.to_string()))
        .execute(conn)?;
    Ok(updated == 1)
}

/// Deletes a role; the users holding it lose it (ON DELETE CASCADE).
pub fn delete(conn: &mut DbConnection, name: &str) -> Result<bool, StorageError> {
    Ok(diesel::delete(roles::table.find(name)).execute(conn)? == 1)
}
