//! Users, and which roles each user holds (the roles themselves: `roles.rs`).

use diesel::prelude::*;

use super::connection::on_backend;
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
    /// When an admin disabled the user: they cannot sign in until enabled again.
    pub disabled_at: Option<i64>,
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

/// How a transaction holds a user's row on PostgreSQL until it ends (SQLite's single writer
/// already runs these transactions one after another).
///
/// What ends a user's access (sessions, consents, refresh families) and a code exchange that
/// checks that access is live are two transactions that each read what the other writes: under
/// READ COMMITTED, an exchange whose check ran before the end committed could insert a family
/// that the end's revocation, not seeing it, leaves alive. Holding the row orders them: an end
/// takes it exclusively before it revokes, an exchange shares it before it checks.
#[derive(Debug, Clone, Copy)]
pub enum Hold {
    /// For ending the user's access: waits for every exchange in flight.
    Exclusive,
    /// For a code exchange: waits for an end in flight, never for another exchange.
    Shared,
}

pub fn hold(conn: &mut DbConnection, user_id: &str, how: Hold) -> Result<(), StorageError> {
    let DbConnection::Postgres(conn) = conn else {
        return Ok(());
    };
    let row = users::table.find(user_id).select(users::id);
    let _ = match how {
        Hold::Exclusive => row.for_update().first::<String>(conn).optional()?,
        Hold::Shared => row.for_key_share().first::<String>(conn).optional()?,
    };
    Ok(())
}

/// Whether `user_id` may still sign in with the password whose hash `verified` was checked:
/// enabled, and the password not changed since. A login's last step asks, so a reset or a
/// disable made while bcrypt ran is not undone by the login finishing after it.
pub fn may_still_sign_in(
    conn: &mut DbConnection,
    user_id: &str,
    verified: &str,
) -> Result<bool, StorageError> {
    use diesel::dsl::exists;
    Ok(diesel::select(exists(
        users::table
            .find(user_id)
            .filter(users::password_hash.eq(verified))
            .filter(users::disabled_at.is_null()),
    ))
    .get_result(conn)?)
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

/// The role names of each of `user_ids`, in one query (a page of users).
pub fn role_names_of(
    conn: &mut DbConnection,
    user_ids: &[&str],
) -> Result<std::collections::HashMap<String, Vec<String>>, StorageError> {
    let rows: Vec<(String, String)> = user_roles::table
        .filter(user_roles::user_id.eq_any(user_ids))
        .select((user_roles::user_id, user_roles::role))
        .order((user_roles::user_id.asc(), user_roles::role.asc()))
        .load(conn)?;
    let mut by_user = std::collections::HashMap::<String, Vec<String>>::new();
    for (user, role) in rows {
        by_user.entry(user).or_default().push(role);
    }
    Ok(by_user)
}

/// What a page of users is cut by: a prefix of the username's key (so the search ignores
/// case and width like sign-in does), after the key `after` (keyset pagination: every page
/// is one range of the unique index, however many users there are).
#[derive(Debug, Clone, Default)]
pub struct UserFilter<'a> {
    pub prefix: Option<&'a str>,
    pub after: Option<&'a str>,
    pub limit: i64,
}

/// A user and the matching key the page is ordered by (the next page's cursor).
pub type KeyedUser = (User, String);

pub fn page_users(
    conn: &mut DbConnection,
    filter: &UserFilter<'_>,
) -> Result<Vec<KeyedUser>, StorageError> {
    let mut query = users::table
        .select((User::as_select(), users::username_key.assume_not_null()))
        .order(users::username_key.asc())
        .limit(filter.limit)
        .into_boxed();
    if let Some(prefix) = filter.prefix.map(username::key_of) {
        // A range rather than LIKE: SQLite's LIKE ignores ASCII case and so cannot use the index.
        let end = format!("{prefix}\u{10FFFF}");
        query = query
            .filter(users::username_key.ge(prefix))
            .filter(users::username_key.lt(end));
    }
    if let Some(after) = filter.after {
        query = query.filter(users::username_key.gt(after.to_owned()));
    }
    Ok(query.load(conn)?)
}

/// How many users there are.
pub fn count_users(conn: &mut DbConnection) -> Result<i64, StorageError> {
    Ok(users::table.count().get_result(conn)?)
}

/// A user's OpenID Connect `email` and `name` (`None` clears one).
pub struct Profile<'a> {
    pub email: Option<&'a str>,
    pub name: Option<&'a str>,
}

pub fn set_profile(
    conn: &mut DbConnection,
    id: &str,
    profile: &Profile<'_>,
) -> Result<bool, StorageError> {
    let updated = diesel::update(users::table.find(id))
        .set((users::email.eq(profile.email), users::name.eq(profile.name)))
        .execute(conn)?;
    Ok(updated == 1)
}

pub fn set_password_hash(
    conn: &mut DbConnection,
    id: &str,
    hash: &str,
) -> Result<bool, StorageError> {
    let updated = diesel::update(users::table.find(id))
        .set(users::password_hash.eq(hash))
        .execute(conn)?;
    Ok(updated == 1)
}

/// Disables (`Some(now)`) or enables (`None`) a user; answers whether the user existed.
pub fn set_disabled(
    conn: &mut DbConnection,
    id: &str,
    disabled_at: Option<i64>,
) -> Result<bool, StorageError> {
    let updated = diesel::update(users::table.find(id))
        .set(users::disabled_at.eq(disabled_at))
        .execute(conn)?;
    Ok(updated == 1)
}

/// Deletes a user; their roles, sessions, consents, codes and second factor go with them
/// (ON DELETE CASCADE). Refresh families are not linked by key: revoke them first.
pub fn delete_user(conn: &mut DbConnection, id: &str) -> Result<bool, StorageError> {
    Ok(diesel::delete(users::table.find(id)).execute(conn)? == 1)
}

/// Gives a user a role; answers false when they already held it.
pub fn add_role(conn: &mut DbConnection, user_id: &str, role: &str) -> Result<bool, StorageError> {
    let inserted = on_backend!(conn, |conn| diesel::insert_into(user_roles::table)
        .values((user_roles::user_id.eq(user_id), user_roles::role.eq(role)))
        .on_conflict_do_nothing()
        .execute(conn))?;
    Ok(inserted == 1)
}

/// Takes a role from a user; answers false when they did not hold it.
pub fn remove_role(
    conn: &mut DbConnection,
    user_id: &str,
    role: &str,
) -> Result<bool, StorageError> {
    let deleted = diesel::delete(
        user_roles::table
            .filter(user_roles::user_id.eq(user_id))
            .filter(user_roles::role.eq(role)),
    )
    .execute(conn)?;
    Ok(deleted == 1)
}
