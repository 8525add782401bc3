//! Users, roles, and which roles each user holds.

use diesel::prelude::*;

use super::schema::{roles, user_roles, users};
use super::{DbConnection, StorageError};
use crate::domain::username::{self, Username};
use crate::domain::ScopeSet;

/// A user as the flows see it. `username` is the name as first typed (for display); the
/// matching key lives only in the table (see [`find_user_by_username`]).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: String,
    pub username: String,
    pub password_hash: String,
    pub created_at: i64,
    /// OpenID Connect's `email` and `name`, when set.
    pub email: Option<String>,
    pub name: Option<String>,
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

/// Inserts a user and their roles in one transaction. `name` is the user's parsed name: its
/// key is stored beside `user.username`, and the unique index on it refuses a name that
/// differs from an existing one only by case or width.
pub fn insert_user(
    conn: &mut DbConnection,
    user: &User,
    name: &Username,
    role_names: &[String],
) -> Result<(), StorageError> {
    conn.transaction(|conn| {
        diesel::insert_into(users::table)
            .values((
                users::id.eq(&user.id),
                users::username.eq(&user.username),
                users::username_key.eq(name.key()),
                users::password_hash.eq(&user.password_hash),
                users::created_at.eq(user.created_at),
                users::email.eq(&user.email),
                users::name.eq(&user.name),
            ))
            .execute(conn)?;
        for role in role_names {
            diesel::insert_into(user_roles::table)
                .values((user_roles::user_id.eq(&user.id), user_roles::role.eq(role)))
                .execute(conn)?;
        }
        Ok(())
    })
}

/// The user a typed name means, without regard to case or width (SPEC.md): looked up by the
/// text's matching key. Not parsed first: a name stored before today's rules (with a space,
/// say) still has a key, and its owner must still be able to sign in. For callers holding
/// raw form input; parsed names use [`find_user_by_username`].
pub fn find_user_by_name(
    conn: &mut DbConnection,
    username: &str,
) -> Result<Option<User>, StorageError> {
    Ok(users::table
        .filter(users::username_key.eq(username::key_of(username)))
        .select(User::as_select())
        .first(conn)
        .optional()?)
}

pub fn find_user_by_username(
    conn: &mut DbConnection,
    name: &Username,
) -> Result<Option<User>, StorageError> {
    Ok(users::table
        .filter(users::username_key.eq(name.key()))
        .select(User::as_select())
        .first(conn)
        .optional()?)
}

pub fn find_user(conn: &mut DbConnection, id: &str) -> Result<Option<User>, StorageError> {
    Ok(users::table
        .find(id)
        .select(User::as_select())
        .first(conn)
        .optional()?)
}

/// Two or more existing users whose names share one key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "these users have one username without regard to case (Unicode NFKC, case-folded): {}; \
     rename all but one (UPDATE users SET username = 'NEW' WHERE id = 'ID'), then start again",
    .0.iter().map(|(id, name)| format!("`{name}` (id {id})")).collect::<Vec<_>>().join(", ")
)]
pub struct UsernameCollision(pub Vec<(String, String)>);

/// Gives every user stored before usernames had keys its key (migration
/// 2026-12-02-000003_username_key): SQL cannot compute NFKC, so this runs after the
/// migrations, in one transaction. Nothing is written when two names would collide; the
/// error names them all, so an operator can rename them.
pub fn fill_username_keys(conn: &mut DbConnection) -> Result<usize, StorageError> {
    conn.transaction(|conn| {
        let missing: Vec<(String, String)> = users::table
            .filter(users::username_key.is_null())
            .select((users::id, users::username))
            .load(conn)?;
        if missing.is_empty() {
            return Ok(0);
        }
        let keyed: Vec<(String, String, Option<String>)> = users::table
            .select((users::id, users::username, users::username_key))
            .load(conn)?;
        let mut by_key: std::collections::BTreeMap<String, Vec<(String, String)>> =
            Default::default();
        for (id, name, key) in keyed {
            // A legacy name that is no longer a valid username still gets its key, so its
            // owner can log in; only a collision stops the start.
            let key = key.unwrap_or_else(|| username::key_of(&name));
            by_key.entry(key).or_default().push((id, name));
        }
        let collisions: Vec<(String, String)> = by_key
            .into_values()
            .filter(|users| users.len() > 1)
            .flatten()
            .collect();
        if !collisions.is_empty() {
            return Err(StorageError::Migration(
                UsernameCollision(collisions).to_string(),
            ));
        }
        for (id, name) in &missing {
            diesel::update(users::table.find(id))
                .set(users::username_key.eq(username::key_of(name)))
                .execute(conn)?;
        }
        Ok(missing.len())
    })
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
