//! Attempt counters with a bounded exponential back-off, kept in the database so that every
//! instance sees the same count.
//!
//! An attempt is counted *before* the expensive check it guards (`reserve`), by a
//! compare-and-swap on the counter's row: each granted reservation is a distinct increment,
//! so however many guesses arrive at once, on however many instances, no more than the
//! threshold are ever evaluated before the key has to wait. A check that then succeeds
//! hands its reservation back (`clear` or `refund`).

use diesel::prelude::*;

use super::schema::throttles;
use super::{DbConnection, StorageError};
use crate::domain::Policy;

/// The answer to a reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// The attempt may go ahead and is counted.
    Granted(Reserved),
    /// The key waits this many more seconds; nothing was counted.
    Blocked(i64),
}

/// A granted reservation: what it wrote over what, so that handing it back can restore
/// the row exactly when nothing else changed it meanwhile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reserved {
    /// `Some(wait)` when this attempt was the one that made the key wait (worth a lockout
    /// event).
    pub blocks_for: Option<i64>,
    before: Option<Counter>,
    after: Counter,
}

/// A row as read, to compare-and-swap against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Queryable)]
struct Counter {
    failures: i64,
    last_failure_at: i64,
    blocked_until: Option<i64>,
}

/// How often a compare-and-swap is retried before the attempt is refused. Each retry means
/// another attempt on the same key won meanwhile, so this only runs out under a flood, and
/// then refusing is the safe answer.
const CAS_ATTEMPTS: usize = 64;

fn read(conn: &mut DbConnection, key: &str) -> Result<Option<Counter>, StorageError> {
    Ok(throttles::table
        .find(key)
        .select((
            throttles::failures,
            throttles::last_failure_at,
            throttles::blocked_until,
        ))
        .first(conn)
        .optional()?)
}

/// Writes `new` over `old` only if nobody changed the row meanwhile.
fn swap(
    conn: &mut DbConnection,
    key: &str,
    old: &Counter,
    new: &Counter,
) -> Result<bool, StorageError> {
    let unchanged = throttles::key
        .eq(key)
        .and(throttles::failures.eq(old.failures))
        .and(throttles::last_failure_at.eq(old.last_failure_at));
    let updated = diesel::update(throttles::table.filter(unchanged))
        .set((
            throttles::failures.eq(new.failures),
            throttles::last_failure_at.eq(new.last_failure_at),
            throttles::blocked_until.eq(new.blocked_until),
        ))
        .execute(conn)?;
    Ok(updated == 1)
}

/// Seconds until the most blocked of `keys` may try again, if any is blocked: one read, so
/// that a flood against a waiting key costs no writes. (`reserve` decides for real.)
pub fn blocked(
    conn: &mut DbConnection,
    keys: &[&str],
    now: i64,
) -> Result<Option<i64>, StorageError> {
    let until: Option<Option<i64>> = throttles::table
        .filter(throttles::key.eq_any(keys))
        .filter(throttles::blocked_until.gt(now))
        .select(diesel::dsl::max(throttles::blocked_until))
        .first(conn)
        .optional()?;
    Ok(until.flatten().map(|until| until - now))
}

/// Counts an attempt on `key` before it is evaluated, unless the key is waiting.
pub fn reserve(
    conn: &mut DbConnection,
    key: &str,
    policy: &Policy,
    now: i64,
) -> Result<Reservation, StorageError> {
    for _ in 0..CAS_ATTEMPTS {
        let row = read(conn, key)?;
        if let Some(until) = row.and_then(|r| r.blocked_until).filter(|u| *u > now) {
            return Ok(Reservation::Blocked(until - now));
        }
        let failures = match row {
            Some(r) if now - r.last_failure_at < policy.forget_after_secs => r.failures + 1,
            _ => 1,
        };
        let blocks_for = policy.delay(failures);
        let new = Counter {
            failures,
            last_failure_at: now,
            blocked_until: blocks_for.map(|w| now + w),
        };
        let won = match &row {
            Some(old) => swap(conn, key, old, &new)?,
            None => {
                let inserted = diesel::insert_into(throttles::table)
                    .values((
                        throttles::key.eq(key),
                        throttles::failures.eq(new.failures),
                        throttles::last_failure_at.eq(new.last_failure_at),
                        throttles::blocked_until.eq(new.blocked_until),
                    ))
                    .execute(conn)
                    .map_err(StorageError::from);
                match inserted {
                    // Another attempt made the row meanwhile: count on top of it.
                    Err(e) if super::accounts::is_unique_violation(&e) => false,
                    other => other.map(|n| n == 1)?,
                }
            }
        };
        if won {
            return Ok(Reservation::Granted(Reserved {
                blocks_for,
                before: row,
                after: new,
            }));
        }
    }
    // Still losing after many rounds: a flood on this key. Make it wait a little.
    Ok(Reservation::Blocked(policy.base_delay_secs))
}

/// Hands back a granted reservation whose attempt succeeded (or was never evaluated), so it
/// does not count as a failure. If nothing changed the row since, it is put back exactly as
/// it was, wait included: a right password must not leave behind a wait that its own
/// reservation started. Otherwise one failure is taken off, and the wait lifted if the
/// failures left would not have started one.
pub fn refund(
    conn: &mut DbConnection,
    key: &str,
    policy: &Policy,
    reserved: &Reserved,
) -> Result<(), StorageError> {
    for _ in 0..CAS_ATTEMPTS {
        let Some(old) = read(conn, key)? else {
            return Ok(());
        };
        if old == reserved.after {
            let restored = match reserved.before {
                Some(before) => swap(conn, key, &old, &before)?,
                None => {
                    let unchanged = throttles::key
                        .eq(key)
                        .and(throttles::failures.eq(old.failures))
                        .and(throttles::last_failure_at.eq(old.last_failure_at));
                    diesel::delete(throttles::table.filter(unchanged)).execute(conn)? == 1
                }
            };
            if restored {
                return Ok(());
            }
            continue;
        }
        if old.failures <= 0 {
            return Ok(());
        }
        let failures = old.failures - 1;
        let new = Counter {
            failures,
            blocked_until: old
                .blocked_until
                .filter(|_| policy.delay(failures).is_some()),
            ..old
        };
        if swap(conn, key, &old, &new)? {
            return Ok(());
        }
    }
    Ok(())
}

/// Forgets the failures of `key` (a successful login forgets its username's).
pub fn clear(conn: &mut DbConnection, key: &str) -> Result<(), StorageError> {
    diesel::delete(throttles::table.find(key)).execute(conn)?;
    Ok(())
}
