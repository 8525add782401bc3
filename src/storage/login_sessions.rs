//! Logged-in browser sessions. The cookie carries the id; the row makes logout final.

use diesel::prelude::*;

use diesel::dsl::sql;
use diesel::sql_types::{BigInt, Text};

use super::accounts::User;
use super::connection::on_backend;
use super::schema::{consents, login_sessions, roles, user_roles, users};
use super::{DbConnection, StorageError};
use crate::domain::{Amr, ScopeSet};

/// Starts a session for a login whose password check read `verified` as the user's hash,
/// only if that is still their password and they are still enabled: one statement, so a reset
/// or a disable committed since the check leaves no session behind. `false` when it did not
/// start.
pub fn start_while_password_stands(
    conn: &mut DbConnection,
    id: &str,
    user_id: &str,
    verified: &str,
    amr: Amr,
    now: i64,
    expires_at: i64,
) -> Result<bool, StorageError> {
    const START: &str = "\
INSERT INTO login_sessions (id, user_id, created_at, expires_at, amr) \
SELECT $1, $2, $3, $4, $5 \
WHERE EXISTS (SELECT 1 FROM users \
              WHERE id = $2 AND password_hash = $6 AND disabled_at IS NULL)";
    let query = |sql: String| {
        diesel::sql_query(sql)
            .bind::<Text, _>(id)
            .bind::<Text, _>(user_id)
            .bind::<BigInt, _>(now)
            .bind::<BigInt, _>(expires_at)
            .bind::<Text, _>(amr.as_stored())
            .bind::<Text, _>(verified)
    };
    let inserted = match conn {
        DbConnection::Sqlite(conn) => query(START.replace('$', "?")).execute(conn)?,
        DbConnection::Postgres(conn) => query(START.to_owned()).execute(conn)?,
    };
    Ok(inserted == 1)
}

/// The user of a live session.
pub fn find_user(
    conn: &mut DbConnection,
    id: &str,
    now: i64,
) -> Result<Option<User>, StorageError> {
    Ok(login_sessions::table
        .inner_join(users::table)
        .filter(login_sessions::id.eq(id))
        .filter(login_sessions::expires_at.gt(now))
        .filter(users::disabled_at.is_null())
        .select(User::as_select())
        .first(conn)
        .optional()?)
}

/// The user a browser session is signed in as: its row must still be there, unexpired, and
/// name `user_id` (the cookie's claim), so a copied cookie dies with logout.
pub fn signed_in(
    conn: &mut DbConnection,
    id: &str,
    user_id: &str,
    now: i64,
) -> Result<Option<User>, StorageError> {
    Ok(find_user(conn, id, now)?.filter(|u| u.id == user_id))
}

/// Where a signed-in user stands with a client: what the authorization endpoint needs to
/// know before it issues a code.
#[derive(Debug, Clone)]
pub struct Standing {
    pub user_id: String,
    pub username: String,
    /// When the session's login happened (OpenID Connect's `auth_time`), and how.
    pub auth_time: i64,
    pub amr: Amr,
    /// The user's roles, by name, sorted.
    pub roles: Vec<String>,
    /// What those roles allow.
    pub allowed: ScopeSet,
    /// What the user approved for the client before, if anything.
    pub consented: Option<Consented>,
}

/// A remembered consent, as a code issued under it names it.
#[derive(Debug, Clone)]
pub struct Consented {
    pub scope: ScopeSet,
    /// The consent's identity (`consents::grant_id`).
    pub grant_id: String,
}

/// The [`Standing`] of the user a browser session is signed in as (`None` when its row is
/// gone, expired, or names another user), in one statement: the session, the user's roles
/// and their consent for `client_id` (with its identity), as one `UNION ALL` of tagged rows.
pub fn standing(
    conn: &mut DbConnection,
    id: &str,
    user_id: &str,
    client_id: &str,
    now: i64,
) -> Result<Option<Standing>, StorageError> {
    let rows = on_backend!(conn, |conn| {
        let session = login_sessions::table
            .inner_join(users::table)
            .filter(login_sessions::id.eq(id))
            .filter(login_sessions::user_id.eq(user_id))
            .filter(login_sessions::expires_at.gt(now))
            .filter(users::disabled_at.is_null())
            .select((
                sql::<Text>("'session'"),
                users::id,
                users::username,
                login_sessions::amr,
                login_sessions::created_at,
            ));
        let roles = user_roles::table
            .inner_join(roles::table)
            .filter(user_roles::user_id.eq(user_id))
            .select((
                sql::<Text>("'role'"),
                roles::name,
                roles::scopes,
                sql::<Text>("''"),
                sql::<BigInt>("0"),
            ));
        let consent = consents::table
            .filter(consents::user_id.eq(user_id))
            .filter(consents::client_id.eq(client_id))
            .select((
                sql::<Text>("'consent'"),
                consents::client_id,
                consents::scope,
                consents::grant_id,
                sql::<BigInt>("0"),
            ));
        session
            .union_all(roles)
            .union_all(consent)
            .load::<(String, String, String, String, i64)>(conn)
    })?;
    let corrupt = |what: &str| StorageError::Corrupt(what.to_owned());
    let mut found: Option<Standing> = None;
    let mut roles = Vec::new();
    let mut allowed = ScopeSet::default();
    let mut consented = None;
    for (kind, name, value, amr, at) in rows {
        match kind.as_str() {
            "session" => {
                found = Some(Standing {
                    user_id: name,
                    username: value,
                    auth_time: at,
                    amr: Amr::from_stored(&amr),
                    roles: Vec::new(),
                    allowed: ScopeSet::default(),
                    consented: None,
                })
            }
            "role" => {
                allowed.extend(ScopeSet::parse(&value).map_err(|_| corrupt("role scopes"))?);
                roles.push(name);
            }
            _ => {
                consented = Some(Consented {
                    scope: ScopeSet::parse(&value).map_err(|_| corrupt("consent scope"))?,
                    grant_id: amr,
                })
            }
        }
    }
    roles.sort();
    Ok(found.map(|s| Standing {
        roles,
        allowed,
        consented,
        ..s
    }))
}

/// A live browser session, as the admin surfaces list it.
#[derive(Debug, Clone)]
pub struct SessionSummary {
    /// The cookie's secret: shown to people only as `domain::identity::public_sid`.
    pub id: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub amr: Amr,
}

/// A user's live sessions, newest first.
pub fn of_user(
    conn: &mut DbConnection,
    user_id: &str,
    now: i64,
) -> Result<Vec<SessionSummary>, StorageError> {
    let rows: Vec<(String, i64, i64, String)> = login_sessions::table
        .filter(login_sessions::user_id.eq(user_id))
        .filter(login_sessions::expires_at.gt(now))
        .order(login_sessions::created_at.desc())
        .select((
            login_sessions::id,
            login_sessions::created_at,
            login_sessions::expires_at,
            login_sessions::amr,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, created_at, expires_at, amr)| SessionSummary {
            id,
            created_at,
            expires_at,
            amr: Amr::from_stored(&amr),
        })
        .collect())
}

/// Ends every session of a user but `keep` (the one asking, on the account page); answers
/// how many ended.
pub fn end_all_of_user(
    conn: &mut DbConnection,
    user_id: &str,
    keep: Option<&str>,
) -> Result<usize, StorageError> {
    let mut sessions = diesel::delete(login_sessions::table)
        .filter(login_sessions::user_id.eq(user_id))
        .into_boxed();
    if let Some(keep) = keep {
        sessions = sessions.filter(login_sessions::id.ne(keep.to_owned()));
    }
    Ok(sessions.execute(conn)?)
}

pub fn end(conn: &mut DbConnection, id: &str) -> Result<(), StorageError> {
    diesel::delete(login_sessions::table.find(id)).execute(conn)?;
    Ok(())
}
