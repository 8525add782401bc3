//! Users, roles, and which roles each user holds.

use diesel::prelude::*;

use super::schema::{roles, user_roles, users};
use super::{DbConnection, StorageError};
use crate::oauth::ScopeSet;

#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: String,
    pub username: String,
    pub password_hash: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = roles)]
pub struct RoleRow {
    pub name: String,
    pub scopes: String,
    pub created_at: i64,
}

/// Whether a write failed only because the row already exists.
pub fn is_unique_violation(e: &StorageError) -> bool {
    matches!(
        e,
        StorageError::Query(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _
        ))
    )
}

pub fn insert_role(conn: &mut DbConnection, role: &RoleRow) -> Result<(), StorageError> {
    diesel::insert_into(roles::table)
        .values(role)
        .execute(conn)?;
    Ok(())
}

/// The names among `names` that are not roles.
pub fn missing_roles(
    conn: &mut DbConnection,
    names: &[String],
) -> Result<Vec<String>, StorageError> {
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

/// Inserts a user and their roles in one transaction.
pub fn insert_user(
    conn: &mut DbConnection,
    user: &User,
    role_names: &[String],
) -> Result<(), StorageError> {
    conn.transaction(|conn| {
        diesel::insert_into(users::table)
            .values(user)
            .execute(conn)?;
        for role in role_names {
            diesel::insert_into(user_roles::table)
                .values((user_roles::user_id.eq(&user.id), user_roles::role.eq(role)))
                .execute(conn)?;
        }
        Ok(())
    })
}

pub fn find_user_by_name(
    conn: &mut DbConnection,
    username: &str,
) -> Result<Option<User>, StorageError> {
    Ok(users::table
        .filter(users::username.eq(username))
        .first(conn)
        .optional()?)
}

pub fn find_user(conn: &mut DbConnection, id: &str) -> Result<Option<User>, StorageError> {
    Ok(users::table.find(id).first(conn).optional()?)
}

/// Every scope the user's roles allow, now.
pub fn scopes_allowed_to(conn: &mut DbConnection, user_id: &str) -> Result<ScopeSet, StorageError> {
    let rows: Vec<String> = user_roles::table
        .inner_join(roles::table)
        .filter(user_roles::user_id.eq(user_id))
        .select(roles::scopes)
        .load(conn)?;
    let mut all = ScopeSet::default();
    for row in rows {
        all.extend(ScopeSet::parse(&row).map_err(|_| StorageError::Corrupt("role scopes".into()))?);
    }
    Ok(all)
}

pub fn user_role_names(
    conn: &mut DbConnection,
    user_id: &str,
) -> Result<Vec<String>, StorageError> {
    Ok(user_roles::table
        .filter(user_roles::user_id.eq(user_id))
        .select(user_roles::role)
        .order(user_roles::role.asc())
        .load(conn)?)
}
