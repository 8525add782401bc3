//! Spent authorization codes: one row per pending authorization whose code was exchanged.
//!
//! A code is a sealed value (`oauth::code`), so issuing one writes nothing. Its single use is
//! this table's primary key, the id of the pending authorization it answered: the exchange
//! inserts the row as the first statement of its transaction, recording what it will issue,
//! so of two exchanges racing with one code exactly one inserts, and two codes sealed for one
//! consent answer buy one exchange. The same statement checks that the code is still live
//! (its user enabled, its browser session not ended, its consent not withdrawn), so no code
//! ever has to be found and thrown away when an admin acts. Only when it inserts nothing is
//! the row read, to tell a replay from a withdrawn code; a replay, however soon, revokes
//! exactly what the first exchange issued (RFC 6749 §4.1.2).

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};

use super::schema::spent_codes;
use super::{accounts, refresh_tokens};
use super::{DbConnection, StorageError};

/// What a winning exchange issues, recorded on the row that spends the code, so a replay,
/// however soon, finds what to revoke.
#[derive(Debug, Clone, Copy)]
pub struct Issuing<'a> {
    pub family_id: Option<&'a str>,
    pub access_jti: &'a str,
    pub access_expires_at: i64,
}

/// A code presented for exchange, as its seal vouches for it.
#[derive(Clone, Copy)]
pub struct Presented<'a> {
    /// The pending authorization it answered: the key of its one use.
    pub request_id: &'a str,
    pub client_id: &'a str,
    pub user_id: &'a str,
    /// The browser session it was issued in: ended, the code is worthless.
    pub login_session: &'a str,
    /// The identity of the consent it was issued under (`consents::grant_id`): withdrawn or
    /// renewed since, the code is worthless.
    pub consent_grant: &'a str,
    /// Until when any code of its request may still be presented: the row is kept as long.
    pub keep_until: i64,
}

/// What became of a presented code.
#[derive(Debug, PartialEq, Eq)]
pub enum Spend {
    /// This exchange spent the code.
    Won,
    /// A code of this request was exchanged before; whatever that exchange issued is now
    /// revoked.
    Replayed { user_id: String },
    /// Not spent before, but no longer live: the user is disabled or gone, the browser
    /// session ended, or the consent was withdrawn or renewed.
    Withdrawn,
}

/// The one statement that spends a code, the same SQL on both backends (`$n` is `?n` on
/// SQLite). `ON CONFLICT … DO NOTHING`: a second exchange of the request inserts nothing,
/// and on PostgreSQL waits for the first's transaction, so it sees what that one recorded.
const SPEND: &str = "\
INSERT INTO spent_codes \
    (request_id, client_id, user_id, spent_at, expires_at, family_id, access_jti, access_expires_at) \
SELECT $1, $2, $3, $4, $5, $6, $7, $8 \
WHERE EXISTS (SELECT 1 FROM login_sessions s JOIN users u ON u.id = s.user_id \
              WHERE s.id = $9 AND s.user_id = $3 AND s.expires_at > $4 \
                AND u.disabled_at IS NULL) \
  AND EXISTS (SELECT 1 FROM consents c \
              WHERE c.user_id = $3 AND c.client_id = $2 AND c.grant_id = $10) \
ON CONFLICT (request_id) DO NOTHING";

/// Spends `code` for one exchange and records what it `issues`. Call first in the
/// transaction that issues the tokens: on SQLite the write takes the write lock before
/// anything is read (a deferred transaction that read first could not upgrade once another
/// writer committed); on PostgreSQL the primary key makes a racing exchange wait for this
/// one. Only a code whose seal was checked, for the authenticated client, unexpired, may be
/// presented here: anything else is refused before any write.
pub fn spend(
    conn: &mut DbConnection,
    code: &Presented<'_>,
    issues: &Issuing<'_>,
    now: i64,
) -> Result<Spend, StorageError> {
    let query = |sql: String| {
        diesel::sql_query(sql)
            .bind::<Text, _>(code.request_id)
            .bind::<Text, _>(code.client_id)
            .bind::<Text, _>(code.user_id)
            .bind::<BigInt, _>(now)
            .bind::<BigInt, _>(code.keep_until)
            .bind::<Nullable<Text>, _>(issues.family_id)
            .bind::<Text, _>(issues.access_jti)
            .bind::<BigInt, _>(issues.access_expires_at)
            .bind::<Text, _>(code.login_session)
            .bind::<Text, _>(code.consent_grant)
    };
    // On PostgreSQL, first wait for an end of the user's access in flight (`accounts::Hold`),
    // so the checks below see it; on SQLite the INSERT's write lock orders them already.
    accounts::hold(conn, code.user_id, accounts::Hold::Shared)?;
    let inserted = match conn {
        DbConnection::Sqlite(conn) => query(SPEND.replace('$', "?")).execute(conn)?,
        DbConnection::Postgres(conn) => query(SPEND.to_owned()).execute(conn)?,
    };
    if inserted == 1 {
        return Ok(Spend::Won);
    }
    Ok(match revoke_spent(conn, code.request_id, now)? {
        Some(user_id) => Spend::Replayed { user_id },
        None => Spend::Withdrawn,
    })
}

/// A code of request `request_id` presented again: if one was exchanged, what that exchange
/// issued is revoked (once), and its user answered. Also for a replay that comes after the
/// code expired, as long as the row is kept.
pub fn revoke_spent(
    conn: &mut DbConnection,
    request_id: &str,
    now: i64,
) -> Result<Option<String>, StorageError> {
    // A write first, so that on SQLite the transaction holds the write lock before it reads
    // (a deferred transaction that read first could not write once another writer
    // committed); on PostgreSQL it row-locks the spent code against a concurrent replay.
    diesel::update(spent_codes::table.find(request_id))
        .set(spent_codes::spent_at.eq(spent_codes::spent_at))
        .execute(conn)?;
    let spent: Option<Issued> = spent_codes::table
        .find(request_id)
        .select((
            spent_codes::user_id,
            spent_codes::family_id,
            spent_codes::access_jti,
            spent_codes::access_expires_at,
        ))
        .first(conn)
        .optional()?;
    let Some(spent) = spent else {
        return Ok(None);
    };
    revoke_issued(conn, request_id, &spent, now)?;
    Ok(Some(spent.0))
}

/// The user, family, access token and its expiry a spent code's row names.
type Issued = (String, Option<String>, Option<String>, Option<i64>);

/// Revokes what the first exchange issued, once: the row forgets the access token as it is
/// revoked, so concurrent replays never insert the same `jti` twice.
fn revoke_issued(
    conn: &mut DbConnection,
    request_id: &str,
    (_, family_id, jti, expires_at): &Issued,
    now: i64,
) -> Result<(), StorageError> {
    let (Some(jti), Some(expires_at)) = (jti, expires_at) else {
        return Ok(());
    };
    let claimed = diesel::update(
        spent_codes::table
            .find(request_id)
            .filter(spent_codes::access_jti.eq(jti)),
    )
    .set(spent_codes::access_jti.eq(None::<String>))
    .execute(conn)?
        == 1;
    if claimed {
        refresh_tokens::revoke_access_token(conn, jti, *expires_at)?;
        if let Some(family_id) = family_id {
            refresh_tokens::revoke_family(conn, family_id, now)?;
        }
    }
    Ok(())
}
