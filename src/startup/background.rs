//! The server's background tasks: housekeeping, the WAL checkpoints of a SQLite file, and
//! the signing keys' schedule. Each runs on the server's runtime, its database work on the
//! blocking pool.

use std::sync::Arc;
use std::time::Duration;

use crate::domain::Clock;
use crate::metrics::{HousekeepingRun, Metrics};
use crate::oauth::pending::PENDING_TTL_SECS;
use crate::settings::Settings;
use crate::storage::connection::{checkpoint_wal, CHECKPOINT_EVERY};
use crate::storage::{
    housekeeping::{self, Retention},
    Database, DbConnection, StorageError,
};
use crate::tokens::keys::{Keyring, Schedule};

/// Purges every expiring table in bounded batches (`storage::housekeeping`), then counts
/// what the tables hold, for `/metrics`.
pub(super) fn spawn_housekeeping(
    db: Database,
    clock: Clock,
    settings: &Settings,
    metrics: Arc<Metrics>,
) {
    let every = Duration::from_secs(settings.housekeeping.interval_secs.max(1));
    let batch = settings.housekeeping.batch_size;
    let event_retention = settings.housekeeping.event_retention_days * 86400;
    let forget = settings.limits.forget_after_secs;
    let known_for = settings.limits.known_address_days * 86400;
    // A revoked family matters only while access tokens that name it may be alive.
    let retention =
        settings.tokens.access_token_ttl_secs + crate::tokens::keys::PUBLISH_LEEWAY_SECS;
    actix_web::rt::spawn(async move {
        let mut ticks = actix_web::rt::time::interval(every);
        loop {
            ticks.tick().await;
            let now = clock.now();
            let retention = Retention {
                now,
                tokens_alive_until: now - retention,
                events_before: now - event_retention,
                throttles_before: now - forget,
                addresses_before: now - known_for,
                requests_before: now - PENDING_TTL_SECS,
            };
            // The instance that purged counts what is left, on the same connection; the
            // others stop reporting, so each table has one current figure.
            let tick = move |conn: &mut DbConnection| {
                let Some(purged) = housekeeping::purge(conn, &retention, batch)? else {
                    return Ok::<_, StorageError>(None);
                };
                Ok(Some((purged, housekeeping::rows(conn))))
            };
            let run = match db.run(tick).await {
                Ok(None) => {
                    tracing::debug!("housekeeping: another instance's run is under way");
                    metrics.forget_table_rows();
                    HousekeepingRun::Skipped
                }
                Ok(Some((purged, rows))) => {
                    purged.iter().for_each(|(t, n)| metrics.purged(t, *n));
                    let total: usize = purged.iter().map(|(_, n)| n).sum();
                    if total > 0 {
                        tracing::info!(purged = total, "expired rows purged");
                    }
                    match rows {
                        Ok(rows) => rows.iter().for_each(|(t, n)| metrics.table_rows(t, *n)),
                        Err(e) => {
                            tracing::warn!(error = %e, "could not count the rows housekeeping owns")
                        }
                    }
                    HousekeepingRun::Purged
                }
                Err(e) => {
                    tracing::warn!(error = %e, "housekeeping failed");
                    HousekeepingRun::Failed
                }
            };
            metrics.housekeeping_ran(run, now);
        }
    });
}

/// Checkpoints a SQLite database's write-ahead log off the request path (SQLite's own
/// automatic checkpoint is only a safety net: `storage::connection`).
pub(super) fn spawn_wal_checkpoints(db: Database) {
    actix_web::rt::spawn(async move {
        let mut ticks = actix_web::rt::time::interval(CHECKPOINT_EVERY);
        loop {
            ticks.tick().await;
            if let Err(e) = db.run(checkpoint_wal).await {
                tracing::warn!(error = %e, "could not checkpoint the write-ahead log");
            }
        }
    });
}

/// Every `tokens.key_refresh_secs`, from the start: makes the next signing key when the
/// schedule says it is due (one instance does, `tokens::keys::schedule_next`), and re-reads
/// the keys, so a key scheduled or rotated by the CLI or another instance on the same
/// database takes effect here without a restart.
pub(super) fn spawn_key_refresh(
    db: Database,
    clock: Clock,
    keyring: Arc<Keyring>,
    schedule: Schedule,
) {
    let every = Duration::from_secs(schedule.refresh_secs.max(1) as u64);
    actix_web::rt::spawn(async move {
        let mut ticks = actix_web::rt::time::interval(every);
        let mut signing = None;
        loop {
            ticks.tick().await;
            let refreshing = keyring.clone();
            let clock = clock.clone();
            match db
                .run(move |conn| refreshing.refresh(conn, &schedule, clock.now()))
                .await
            {
                Ok(refreshed) => {
                    if let Some(next) = &refreshed.scheduled {
                        tracing::info!(kid = %next.kid, signs_from = next.starts(), "scheduled the next signing key (published now)");
                    }
                    if signing
                        .as_ref()
                        .is_some_and(|kid| *kid != refreshed.signing_kid)
                    {
                        tracing::info!(kid = %refreshed.signing_kid, "now signing with a new key");
                    }
                    signing = Some(refreshed.signing_kid);
                }
                Err(e) => tracing::warn!(error = %e, "could not refresh the signing keys"),
            }
        }
    });
}
