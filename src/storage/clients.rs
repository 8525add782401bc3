//! The client registry.

use diesel::prelude::*;

use super::schema::clients;
use super::{DbConnection, StorageError};
pub use crate::domain::Client;
use crate::domain::{ClientId, RedirectUri, ScopeSet, SecretHash};

/// A client's row, without what RFC 7591 registered besides (see
/// [`find_by_registration_token`]): flows never need it.
#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = clients)]
struct ClientRow {
    id: String,
    name: String,
    secret_hash: Option<Vec<u8>>,
    redirect_uris: String,
    grant_types: String,
    scopes: String,
    created_at: i64,
    updated_at: i64,
    introspect: bool,
    post_logout_redirect_uris: String,
}

impl From<&Client> for ClientRow {
    fn from(c: &Client) -> Self {
        ClientRow {
            id: c.id.to_string(),
            name: c.name.clone(),
            secret_hash: c.secret_hash.as_ref().map(|h| h.as_bytes().to_vec()),
            redirect_uris: joined(&c.redirect_uris),
            post_logout_redirect_uris: joined(&c.post_logout_redirect_uris),
            grant_types: c
                .grant_types
                .iter()
                .map(|g| g.as_str())
                .collect::<Vec<_>>()
                .join(" "),
            scopes: c.scopes.to_string(),
            created_at: c.created_at,
            updated_at: c.updated_at,
            introspect: c.introspect,
        }
    }
}

/// Stored URIs are separated by spaces: a registered URI has none.
fn joined(uris: &[RedirectUri]) -> String {
    uris.iter()
        .map(RedirectUri::as_str)
        .collect::<Vec<_>>()
        .join(" ")
}

fn split(stored: &str) -> Vec<RedirectUri> {
    stored
        .split_whitespace()
        .map(|uri| RedirectUri::from_stored(uri.to_owned()))
        .collect()
}

impl TryFrom<ClientRow> for Client {
    type Error = StorageError;

    fn try_from(row: ClientRow) -> Result<Self, StorageError> {
        let corrupt = |what: &str| StorageError::Corrupt(format!("client {}: {what}", row.id));
        let secret_hash = match &row.secret_hash {
            None => None,
            Some(bytes) => {
                Some(SecretHash::from_bytes(bytes).ok_or_else(|| corrupt("secret hash"))?)
            }
        };
        let grant_types = row
            .grant_types
            .split_whitespace()
            .map(|g| g.parse().map_err(|_| corrupt("grant type")))
            .collect::<Result<_, _>>()?;
        let scopes = ScopeSet::parse(&row.scopes).map_err(|_| corrupt("scopes"))?;
        Ok(Client {
            secret_hash,
            grant_types,
            scopes,
            redirect_uris: split(&row.redirect_uris),
            post_logout_redirect_uris: split(&row.post_logout_redirect_uris),
            id: ClientId::from_stored(row.id),
            name: row.name,
            created_at: row.created_at,
            updated_at: row.updated_at,
            introspect: row.introspect,
        })
    }
}

pub fn insert(conn: &mut DbConnection, client: &Client) -> Result<(), StorageError> {
    diesel::insert_into(clients::table)
        .values(ClientRow::from(client))
        .execute(conn)?;
    Ok(())
}

pub fn find(conn: &mut DbConnection, id: &str) -> Result<Option<Client>, StorageError> {
    clients::table
        .find(id)
        .select(ClientRow::as_select())
        .first(conn)
        .optional()?
        .map(Client::try_from)
        .transpose()
}

/// What one query tells about an access token next to the client asking about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenState {
    /// Its `jti` was revoked (RFC 7009).
    pub revoked: bool,
    /// Its refresh-token family is neither revoked nor past its absolute expiry.
    pub family_live: bool,
    /// The client it was issued to is still registered: a deleted client's tokens are
    /// inactive, whatever their expiry.
    pub client_exists: bool,
}

/// The access token whose state [`find_with_token_state`] reads.
pub struct TokenRef<'a> {
    pub jti: &'a str,
    /// Its refresh-token family (the `sid` claim), if it came from a user's login.
    pub family_id: Option<&'a str>,
    /// The client it was issued to.
    pub client_id: &'a str,
}

/// Loads a client together with the state of one access token, in one round trip:
/// introspection, the hottest read path, needs no more queries than a token grant.
pub fn find_with_token_state(
    conn: &mut DbConnection,
    id: &str,
    token: &TokenRef<'_>,
    now: i64,
) -> Result<Option<(Client, TokenState)>, StorageError> {
    let (jti, family_id) = (token.jti, token.family_id);
    use super::schema::{refresh_families, revoked_access_tokens};
    use diesel::dsl::exists;
    let revoked = exists(revoked_access_tokens::table.filter(revoked_access_tokens::jti.eq(jti)));
    let family_live = exists(
        refresh_families::table
            .filter(refresh_families::id.eq(family_id.unwrap_or_default()))
            .filter(refresh_families::revoked_at.is_null())
            .filter(refresh_families::absolute_expires_at.gt(now)),
    );
    let token_clients = diesel::alias!(clients as token_clients);
    let client_exists = exists(
        token_clients
            .filter(token_clients.field(clients::id).eq(token.client_id))
            .select(token_clients.field(clients::id)),
    );
    let row: Option<(ClientRow, bool, bool, bool)> = clients::table
        .find(id)
        .select((ClientRow::as_select(), revoked, family_live, client_exists))
        .first(conn)
        .optional()?;
    row.map(|(client, revoked, family_live, client_exists)| {
        // A token outside any family has no family to lose.
        let family_live = family_live || family_id.is_none();
        Client::try_from(client).map(|c| {
            (
                c,
                TokenState {
                    revoked,
                    family_live,
                    client_exists,
                },
            )
        })
    })
    .transpose()
}

pub fn list(conn: &mut DbConnection) -> Result<Vec<Client>, StorageError> {
    clients::table
        .order((clients::created_at.asc(), clients::id.asc()))
        .select(ClientRow::as_select())
        .load(conn)?
        .into_iter()
        .map(Client::try_from)
        .collect()
}

/// Deletes a client and revokes its refresh families, so neither its refresh tokens nor
/// the access tokens they issued stay active (introspection also refuses any token whose
/// client is gone, which covers client-credentials tokens); answers whether it existed.
/// Codes and consents go with it (ON DELETE CASCADE).
pub fn delete(conn: &mut DbConnection, id: &str, now: i64) -> Result<bool, StorageError> {
    conn.transaction(|conn| {
        super::refresh_tokens::revoke_client_families(conn, id, now)?;
        Ok(diesel::delete(clients::table.find(id)).execute(conn)? == 1)
    })
}

/// Replaces a confidential client's secret hash; answers whether such a client existed.
pub fn set_secret(
    conn: &mut DbConnection,
    id: &str,
    hash: &SecretHash,
    now: i64,
) -> Result<bool, StorageError> {
    let updated = diesel::update(
        clients::table
            .find(id)
            .filter(clients::secret_hash.is_not_null()),
    )
    .set((
        clients::secret_hash.eq(hash.as_bytes().to_vec()),
        clients::updated_at.eq(now),
    ))
    .execute(conn)?;
    Ok(updated == 1)
}

/// Every registered redirect URI of every client (each row's, space-separated), for the
/// origins CORS admits.
pub fn all_redirect_uris(conn: &mut DbConnection) -> Result<Vec<RedirectUri>, StorageError> {
    let rows: Vec<String> = clients::table.select(clients::redirect_uris).load(conn)?;
    Ok(rows.iter().flat_map(|row| split(row)).collect())
}

/// Every scope any client may request, for the metadata document's `scopes_supported`.
pub fn all_scopes(conn: &mut DbConnection) -> Result<ScopeSet, StorageError> {
    let rows: Vec<String> = clients::table
        .select(clients::scopes)
        .distinct()
        .load(conn)?;
    let mut all = ScopeSet::default();
    for row in rows {
        all.extend(
            ScopeSet::parse(&row).map_err(|_| StorageError::Corrupt("client scopes".into()))?,
        );
    }
    Ok(all)
}

/// Up to `limit` clients in id order, after the id `after` (keyset pagination: every page
/// is one index range, however many clients there are).
pub fn page(
    conn: &mut DbConnection,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Client>, StorageError> {
    let mut query = clients::table
        .select(ClientRow::as_select())
        .order(clients::id.asc())
        .limit(limit)
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(clients::id.gt(after.to_owned()));
    }
    query
        .load(conn)?
        .into_iter()
        .map(Client::try_from)
        .collect()
}

/// Replaces what an admin may edit of a client (everything but its id, secret and
/// creation time); answers whether it existed.
pub fn update(conn: &mut DbConnection, client: &Client, now: i64) -> Result<bool, StorageError> {
    let row = ClientRow::from(client);
    let updated = diesel::update(clients::table.find(&row.id))
        .set((
            clients::name.eq(&row.name),
            clients::redirect_uris.eq(&row.redirect_uris),
            clients::post_logout_redirect_uris.eq(&row.post_logout_redirect_uris),
            clients::grant_types.eq(&row.grant_types),
            clients::scopes.eq(&row.scopes),
            clients::introspect.eq(row.introspect),
            clients::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(updated == 1)
}

/// How many clients are registered.
pub fn count(conn: &mut DbConnection) -> Result<i64, StorageError> {
    Ok(clients::table.count().get_result(conn)?)
}

/// What RFC 7591 registered besides the client itself: the hash of its registration
/// access token, and the `token_endpoint_auth_method` it asked for.
pub fn set_registration(
    conn: &mut DbConnection,
    id: &str,
    token_hash: &SecretHash,
    auth_method: &str,
) -> Result<bool, StorageError> {
    let updated = diesel::update(clients::table.find(id))
        .set((
            clients::registration_token_hash.eq(token_hash.as_bytes().to_vec()),
            clients::token_endpoint_auth_method.eq(auth_method),
        ))
        .execute(conn)?;
    Ok(updated == 1)
}

/// Replaces the `token_endpoint_auth_method` registered for a client (RFC 7592 `PUT`).
pub fn set_auth_method(
    conn: &mut DbConnection,
    id: &str,
    auth_method: &str,
) -> Result<bool, StorageError> {
    let updated = diesel::update(clients::table.find(id))
        .set(clients::token_endpoint_auth_method.eq(auth_method))
        .execute(conn)?;
    Ok(updated == 1)
}

/// The client `id` and its registered auth method, if `presented` is its registration
/// access token (its hash compared in constant time); `None` for an unknown client, a
/// client registered without one (by the CLI) and a wrong token alike.
pub fn find_by_registration_token(
    conn: &mut DbConnection,
    id: &str,
    presented: &str,
) -> Result<Option<(Client, Option<String>)>, StorageError> {
    type Row = (ClientRow, Option<Vec<u8>>, Option<String>);
    let found: Option<Row> = clients::table
        .find(id)
        .select((
            ClientRow::as_select(),
            clients::registration_token_hash,
            clients::token_endpoint_auth_method,
        ))
        .first(conn)
        .optional()?;
    let Some((row, Some(stored), auth_method)) = found else {
        return Ok(None);
    };
    match SecretHash::from_bytes(&stored) {
        Some(stored) if stored.verify(presented.as_bytes()) => {
            Ok(Some((Client::try_from(row)?, auth_method)))
        }
        _ => Ok(None),
    }
}
