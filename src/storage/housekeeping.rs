//! One purge routine for every table whose rows expire.
//!
//! Each expiring table is a line in [`EXPIRING`]: which rows are stale, given the cut-offs of
//! [`Retention`]. [`purge`] deletes up to `batch` of them per line and per run, in one
//! statement each (`DELETE … WHERE key IN (SELECT key … LIMIT batch)`, the same SQL on
//! SQLite and PostgreSQL), so a large backlog drains over several runs without long locks.

use diesel::RunQueryDsl;

use super::{DbConnection, StorageError};

/// The cut-offs one run purges by, all in seconds since the epoch.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub now: i64,
    /// Revoked families stay as long as an access token they bought may be alive (and so
    /// do the codes of the version before sealed codes, so a late replay can still revoke
    /// what they issued).
    pub tokens_alive_until: i64,
    /// Security events older than this go.
    pub events_before: i64,
    /// Attempt counters with no failure since this go (unless still blocking).
    pub throttles_before: i64,
    /// Addresses a user has not signed in from since this go.
    pub addresses_before: i64,
    /// A stored code (of the version before sealed codes) stays while the pending
    /// authorization it answered could still be posted, so its `request_id` still refuses a
    /// second code.
    pub requests_before: i64,
}

/// A table whose rows expire: rows of `table` whose `key` is among the `source_key`s of
/// `source`'s stale rows. `stale` is the SQL condition on `source`, from the cut-offs.
struct Expiring {
    table: &'static str,
    key: &'static str,
    source: &'static str,
    source_key: &'static str,
    stale: fn(&Retention) -> String,
}

const STALE_FAMILY: fn(&Retention) -> String = |r| {
    format!(
        "absolute_expires_at <= {} OR revoked_at <= {}",
        r.now, r.tokens_alive_until
    )
};

/// In order: a family's tokens go before the family (ON DELETE CASCADE does it on
/// PostgreSQL; SQLite connections may run without foreign keys).
const EXPIRING: &[Expiring] = &[
    Expiring {
        table: "refresh_tokens",
        key: "family_id",
        source: "refresh_families",
        source_key: "id",
        stale: STALE_FAMILY,
    },
    Expiring {
        table: "refresh_families",
        key: "id",
        source: "refresh_families",
        source_key: "id",
        stale: STALE_FAMILY,
    },
    Expiring {
        table: "refresh_tokens",
        key: "token_hash",
        source: "refresh_tokens",
        source_key: "token_hash",
        stale: |r| format!("expires_at <= {}", r.now),
    },
    Expiring {
        table: "revoked_access_tokens",
        key: "jti",
        source: "revoked_access_tokens",
        source_key: "jti",
        stale: |r| format!("expires_at <= {}", r.now),
    },
    // A spent code's row goes once no code of its request can be presented any more
    // (`expires_at`, set by `spent_codes::spend`): an expired code is refused before any
    // write, so the row has nothing left to refuse.
    Expiring {
        table: "spent_codes",
        key: "request_id",
        source: "spent_codes",
        source_key: "request_id",
        stale: |r| format!("expires_at <= {}", r.now),
    },
    // No longer written; emptied while instances of the previous version may still write.
    Expiring {
        table: "authorization_codes",
        key: "code_hash",
        source: "authorization_codes",
        source_key: "code_hash",
        stale: |r| {
            format!(
                "expires_at <= {} AND created_at <= {}",
                r.tokens_alive_until, r.requests_before
            )
        },
    },
    Expiring {
        table: "login_sessions",
        key: "id",
        source: "login_sessions",
        source_key: "id",
        stale: |r| format!("expires_at <= {}", r.now),
    },
    Expiring {
        table: "security_events",
        key: "id",
        source: "security_events",
        source_key: "id",
        stale: |r| format!("at < {}", r.events_before),
    },
    Expiring {
        table: "throttles",
        key: "key",
        source: "throttles",
        source_key: "key",
        stale: |r| {
            format!(
                "last_failure_at < {} AND (blocked_until IS NULL OR blocked_until <= {})",
                r.throttles_before, r.now
            )
        },
    },
    Expiring {
        table: "known_login_addresses",
        key: "(user_id, ip)",
        source: "known_login_addresses",
        source_key: "user_id, ip",
        stale: |r| format!("last_login_at < {}", r.addresses_before),
    },
];

/// An arbitrary constant naming the housekeeping run's lock on PostgreSQL.
pub const PG_HOUSEKEEPING_LOCK: i64 = 0x6761_7465_6b65_6570;

#[derive(diesel::QueryableByName)]
struct Claimed {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    claimed: bool,
}

/// Rows deleted by one run, per table (a table may appear more than once).
pub type Purged = Vec<(&'static str, usize)>;

/// Deletes up to `batch` stale rows per line of [`EXPIRING`]; answers how many went from
/// each table, or `None` when another instance's run holds the lock (on PostgreSQL, instances purge one at
/// a time rather than contending for the same rows; SQLite serialises writers itself).
pub fn purge(
    conn: &mut DbConnection,
    retention: &Retention,
    batch: i64,
) -> Result<Option<Purged>, StorageError> {
    let postgres = matches!(conn, DbConnection::Postgres(_));
    // A session lock, not a transaction's: each DELETE commits on its own, so no run holds
    // row locks across tables. It dies with the connection if this one breaks.
    if postgres && !try_lock(conn)? {
        return Ok(None);
    }
    let purged = purge_batches(conn, retention, batch);
    if postgres {
        diesel::sql_query(format!("SELECT pg_advisory_unlock({PG_HOUSEKEEPING_LOCK})"))
            .execute(conn)?;
    }
    purged.map(Some)
}

fn try_lock(conn: &mut DbConnection) -> Result<bool, StorageError> {
    let sql = format!("SELECT pg_try_advisory_lock({PG_HOUSEKEEPING_LOCK}) AS claimed");
    Ok(diesel::sql_query(sql).get_result::<Claimed>(conn)?.claimed)
}

fn purge_batches(
    conn: &mut DbConnection,
    retention: &Retention,
    batch: i64,
) -> Result<Purged, StorageError> {
    let mut purged = Vec::with_capacity(EXPIRING.len());
    for t in EXPIRING {
        // Only integers computed here go into the text: nothing a client sent.
        let sql = format!(
            "DELETE FROM {table} WHERE {key} IN \
             (SELECT {source_key} FROM {source} WHERE {stale} LIMIT {batch})",
            table = t.table,
            key = t.key,
            source = t.source,
            source_key = t.source_key,
            stale = (t.stale)(retention),
        );
        purged.push((t.table, diesel::sql_query(sql).execute(conn)?));
    }
    Ok(purged)
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// [`rows`] counts no further: the figure is there to show a table levelling off, and a
/// count costs a scan of what it counts.
pub const ROWS_COUNTED_UP_TO: i64 = 1_000_000;

/// How many rows each table of [`EXPIRING`] holds now (up to [`ROWS_COUNTED_UP_TO`]), each
/// table once: what shows that housekeeping keeps them bounded (`/metrics`).
pub fn rows(conn: &mut DbConnection) -> Result<Vec<(&'static str, i64)>, StorageError> {
    let mut tables: Vec<&'static str> = EXPIRING.iter().map(|t| t.table).collect();
    tables.sort_unstable();
    tables.dedup();
    tables
        .into_iter()
        .map(|table| {
            let sql = format!(
                "SELECT COUNT(*) AS n FROM (SELECT 1 FROM {table} LIMIT {ROWS_COUNTED_UP_TO}) AS capped"
            );
            Ok((table, diesel::sql_query(sql).get_result::<Count>(conn)?.n))
        })
        .collect()
}
