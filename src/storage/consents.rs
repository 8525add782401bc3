//! Remembered consent: the scopes each user approved for each client.
//!
//! Each consent has an identity, `grant_id`, that the authorization codes issued under it
//! name (`oauth::code`): a fresh random value when the row is first written (so again after
//! a revocation) and whenever the user's access is ended ([`renew_grants`]). A code whose
//! consent is gone or renewed is not exchanged (`spent_codes::spend`), so withdrawing
//! consent needs no list of the codes it issued, and a code issued in the same second as a
//! revocation fails while one issued after a new approval works.

use diesel::prelude::*;

use super::schema::consents;
use super::{DbConnection, StorageError};
use crate::domain::secret::random_id;
use crate::domain::ScopeSet;

/// The scopes `user_id` has approved for `client_id`, if any, with the consent's identity.
pub fn find(
    conn: &mut DbConnection,
    user_id: &str,
    client_id: &str,
) -> Result<Option<(ScopeSet, String)>, StorageError> {
    let row: Option<(String, String)> = consents::table
        .find((user_id, client_id))
        .select((consents::scope, consents::grant_id))
        .first(conn)
        .optional()?;
    row.map(|(s, grant_id)| {
        ScopeSet::parse(&s)
            .map(|scope| (scope, grant_id))
            .map_err(|_| StorageError::Corrupt("consent scope".into()))
    })
    .transpose()
}

/// Adds `approved` to what the user has approved for the client; answers the consent's
/// identity, for the code issued under it. Not run inside a transaction: on PostgreSQL the
/// unique violation of a concurrent first approval would abort it.
pub fn remember(
    conn: &mut DbConnection,
    user_id: &str,
    client_id: &str,
    approved: &ScopeSet,
    now: i64,
) -> Result<String, StorageError> {
    for _ in 0..2 {
        let Some((mut all, grant_id)) = find(conn, user_id, client_id)? else {
            let grant_id = random_id(16);
            let inserted = diesel::insert_into(consents::table)
                .values((
                    consents::user_id.eq(user_id),
                    consents::client_id.eq(client_id),
                    consents::scope.eq(approved.to_string()),
                    consents::granted_at.eq(now),
                    consents::grant_id.eq(&grant_id),
                ))
                .execute(conn)
                .map_err(StorageError::from);
            match inserted {
                // Another approval wrote the first row meanwhile: add to it.
                Err(e) if super::accounts::is_unique_violation(&e) => continue,
                other => return other.map(|_| grant_id),
            }
        };
        all.extend(approved.clone());
        // Keeps the identity: codes issued under the narrower approval stay good.
        diesel::update(consents::table.find((user_id, client_id)))
            .set((
                consents::scope.eq(all.to_string()),
                consents::granted_at.eq(now),
            ))
            .execute(conn)?;
        return Ok(grant_id);
    }
    Err(StorageError::Corrupt(
        "consent row vanished while being written".into(),
    ))
}

/// Gives every consent of a user a new identity, in one statement: the codes issued under
/// them and not yet exchanged stop working, while the approvals stay remembered. For when
/// the user's access is ended (a new password, signing out everywhere, disabling).
pub fn renew_grants(conn: &mut DbConnection, user_id: &str) -> Result<usize, StorageError> {
    Ok(
        diesel::update(consents::table.filter(consents::user_id.eq(user_id)))
            .set(consents::grant_id.eq(random_id(16)))
            .execute(conn)?,
    )
}

/// One remembered consent, with the client's name.
#[derive(Debug, Clone)]
pub struct ConsentSummary {
    pub client_id: String,
    pub client_name: String,
    pub scope: ScopeSet,
    pub granted_at: i64,
}

/// What a user has approved, by client name.
pub fn of_user(
    conn: &mut DbConnection,
    user_id: &str,
) -> Result<Vec<ConsentSummary>, StorageError> {
    use super::schema::clients;
    let rows: Vec<(String, String, String, i64)> = consents::table
        .inner_join(clients::table)
        .filter(consents::user_id.eq(user_id))
        .order((clients::name.asc(), clients::id.asc()))
        .select((
            consents::client_id,
            clients::name,
            consents::scope,
            consents::granted_at,
        ))
        .load(conn)?;
    rows.into_iter()
        .map(|(client_id, client_name, scope, granted_at)| {
            Ok(ConsentSummary {
                scope: ScopeSet::parse(&scope)
                    .map_err(|_| StorageError::Corrupt("consent scope".into()))?,
                client_id,
                client_name,
                granted_at,
            })
        })
        .collect()
}

/// Forgets a user's consent for a client; answers whether there was one. The codes issued
/// under it die with it: a new approval has a new identity.
pub fn remove(
    conn: &mut DbConnection,
    user_id: &str,
    client_id: &str,
) -> Result<bool, StorageError> {
    Ok(diesel::delete(consents::table.find((user_id, client_id))).execute(conn)? == 1)
}
