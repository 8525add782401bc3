//! What a user is signed in with: browser sessions, refresh families and the consents that
//! let apps get tokens without asking again.

use diesel::Connection;
use serde::Serialize;

use crate::domain::identity::public_sid;
use crate::storage::security_events::EventKind;
use crate::storage::DbConnection;
use crate::storage::{accounts, consents, login_sessions, refresh_tokens};

use super::users::{end_access, find_user, Ended};
use super::{Actor, AdminError};

/// A live browser session. `sid` is the `sid` claim of the id_tokens it led to, never the
/// session's own id (that is the cookie's secret).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SessionView {
    pub sid: String,
    pub created_at: i64,
    pub expires_at: i64,
    /// How the login was made: `pwd`, or `pwd otp` with a second factor.
    pub amr: String,
}

pub fn list_sessions(
    conn: &mut DbConnection,
    user: &str,
    now: i64,
) -> Result<Vec<SessionView>, AdminError> {
    let user = find_user(conn, user)?;
    Ok(login_sessions::of_user(conn, &user.id, now)?
        .into_iter()
        .map(|s| SessionView {
            sid: public_sid(&s.id),
            created_at: s.created_at,
            expires_at: s.expires_at,
            amr: s.amr.as_stored().to_owned(),
        })
        .collect())
}

/// Signs a user out everywhere: every browser session and every refresh family.
pub fn revoke_sessions(
    conn: &mut DbConnection,
    actor: &Actor,
    user: &str,
    now: i64,
) -> Result<Ended, AdminError> {
    let user = find_user(conn, user)?;
    let ended = conn.transaction(|conn| end_access(conn, &user.id, now))?;
    let what = format!(
        "user {} ({}): {} sessions, {} refresh families",
        user.id, user.username, ended.sessions, ended.refresh_families
    );
    actor.record(conn, EventKind::SessionsRevoked, None, &what, now);
    Ok(ended)
}

/// An app the user has approved, and for what.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConsentView {
    pub client_id: String,
    pub client_name: String,
    pub scopes: Vec<String>,
    pub granted_at: i64,
}

pub fn list_consents(conn: &mut DbConnection, user: &str) -> Result<Vec<ConsentView>, AdminError> {
    let user = find_user(conn, user)?;
    Ok(consents::of_user(conn, &user.id)?
        .into_iter()
        .map(|c| ConsentView {
            client_id: c.client_id,
            client_name: c.client_name,
            scopes: c.scope.iter().map(str::to_owned).collect(),
            granted_at: c.granted_at,
        })
        .collect())
}

/// Withdraws a user's consent for a client: the next authorization asks again, and the
/// refresh tokens the app holds for the user stop working (RFC 6749 §10.4: revoking a
/// grant revokes its refresh tokens).
pub fn revoke_consent(
    conn: &mut DbConnection,
    actor: &Actor,
    user: &str,
    client_id: &str,
    now: i64,
) -> Result<Ended, AdminError> {
    let user = find_user(conn, user)?;
    let (removed, families) = conn.transaction(|conn| {
        // As when all access ends (`users::end_access`): exchanges in flight finish first.
        accounts::hold(conn, &user.id, accounts::Hold::Exclusive)?;
        let removed = consents::remove(conn, &user.id, client_id)?;
        // The codes issued under the consent and not yet exchanged die with its row.
        let families = refresh_tokens::revoke_user_families(conn, &user.id, Some(client_id), now)?;
        Ok::<_, crate::storage::StorageError>((removed, families))
    })?;
    if !removed && families == 0 {
        return super::invalid(format!(
            "user `{}` has no consent or tokens for client `{client_id}`",
            user.username
        ));
    }
    let what = format!(
        "user {} ({}): {families} refresh families",
        user.id, user.username
    );
    actor.record(conn, EventKind::ConsentRevoked, Some(client_id), &what, now);
    Ok(Ended {
        sessions: 0,
        refresh_families: families,
    })
}
