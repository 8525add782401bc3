//! Remembered consent: the scopes each user approved for each client.

use diesel::prelude::*;

use super::schema::consents;
use super::{DbConnection, StorageError};
use crate::domain::ScopeSet;

/// The scopes `user_id` has approved for `client_id`, if any.
pub fn find(
    conn: &mut DbConnection,
    user_id: &str,
    client_id: &str,
) -> Result<Option<ScopeSet>, StorageError> {
    let scope: Option<String> = consents::table
        .find((user_id, client_id))
        .select(consents::scope)
        .first(conn)
        .optional()?;
    scope
        .map(|s| ScopeSet::parse(&s).map_err(|_| StorageError::Corrupt("consent scope".into())))
        .transpose()
}

/// Adds `approved` to what the user has approved for the client. Not run inside a
/// transaction: on PostgreSQL the unique violation of a concurrent first approval would abort it.
pub fn remember(
    conn: &mut DbConnection,
    user_id: &str,
    client_id: &str,
    approved: &ScopeSet,
    now: i64,
) -> Result<(), StorageError> {
    for _ in 0..2 {
        let Some(mut all) = find(conn, user_id, client_id)? else {
            let inserted = diesel::insert_into(consents::table)
                .values((
                    consents::user_id.eq(user_id),
                    consents::client_id.eq(client_id),
                    consents::scope.eq(approved.to_string()),
                    consents::granted_at.eq(now),
                ))
                .execute(conn)
                .map_err(StorageError::from);
            match inserted {
                // Another approval wrote the first row meanwhile: add to it.
                Err(e) if super::accounts::is_unique_violation(&e) => continue,
                other => return other.map(|_| ()),
            }
        };
        all.extend(approved.clone());
        diesel::update(consents::table.find((user_id, client_id)))
            .set((
                consents::scope.eq(all.to_string()),
                consents::granted_at.eq(now),
            ))
            .execute(conn)?;
        return Ok(());
    }
    Err(StorageError::Corrupt(
        "consent row vanished while being written".into(),
    ))
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

/// Forgets a user's consent for a client; answers whether there was one.
pub fn remove(
    conn: &mut DbConnection,
    user_id: &str,
    client_id: &str,
) -> Result<bool, StorageError> {
    Ok(diesel::delete(consents::table.find((user_id, client_id))).execute(conn)? == 1)
}
