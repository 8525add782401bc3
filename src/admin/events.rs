//! The security event log.

use crate::storage::security_events;
/// An event as the log keeps it (never a secret).
pub use crate::storage::security_events::StoredEvent;
use crate::storage::DbConnection;

use super::AdminError;

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
) -> Result<Vec<StoredEvent>, AdminError> {
    let actors = match user {
        None => None,
        Some(given) => {
            let mut actors = vec![given.to_owned()];
            if let Ok(user) = super::find_user(conn, given) {
                let key = crate::domain::username::key_of(&user.username);
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
