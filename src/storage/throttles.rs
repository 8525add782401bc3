//! Failure counters with a bounded exponential back-off, kept in the database so that every
//! instance sees the same count.
//!
//! Counting is approximate on purpose: two instances failing the same key at once may count
//! one failure instead of two. A lock per failed login would cost more than it protects.

use diesel::prelude::*;

use super::schema::throttles;
use super::{DbConnection, StorageError};

/// When failures turn into waiting.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Failures allowed before the first wait.
    pub threshold: i64,
    /// The first wait; each further failure doubles it...
    pub base_delay_secs: i64,
    /// ...up to this, so nobody is locked out for long.
    pub max_delay_secs: i64,
    /// A key with no failure for this long starts again from zero.
    pub forget_after_secs: i64,
}

impl Policy {
    fn delay(&self, failures: i64) -> Option<i64> {
        let over = failures - self.threshold;
        (over >= 0).then(|| {
            let doublings = over.min(30) as u32;
            self.base_delay_secs
                .saturating_mul(1i64 << doublings)
                .min(self.max_delay_secs)
        })
    }
}

/// Seconds until the most blocked of `keys` may try again, if any is blocked.
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

/// Every key starting with `prefix` that is blocked at `now`, with its end.
pub fn blocked_with_prefix(
    conn: &mut DbConnection,
    prefix: &str,
    now: i64,
) -> Result<Vec<(String, i64)>, StorageError> {
    let rows: Vec<(String, Option<i64>)> = throttles::table
        .filter(throttles::key.like(format!("{prefix}%")))
        .filter(throttles::blocked_until.gt(now))
        .select((throttles::key, throttles::blocked_until))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(key, until)| until.map(|u| (key, u)))
        .collect())
}

/// Counts a failure for `key`; answers the new wait in seconds if it is now blocked.
pub fn fail(
    conn: &mut DbConnection,
    key: &str,
    policy: &Policy,
    now: i64,
) -> Result<Option<i64>, StorageError> {
    for _ in 0..2 {
        let row: Option<(i64, i64)> = throttles::table
            .find(key)
            .select((throttles::failures, throttles::last_failure_at))
            .first(conn)
            .optional()?;
        let failures = match row {
            Some((failures, last)) if now - last < policy.forget_after_secs => failures + 1,
            _ => 1,
        };
        let wait = policy.delay(failures);
        let blocked_until = wait.map(|w| now + w);
        if row.is_some() {
            diesel::update(throttles::table.find(key))
                .set((
                    throttles::failures.eq(failures),
                    throttles::last_failure_at.eq(now),
                    throttles::blocked_until.eq(blocked_until),
                ))
                .execute(conn)?;
            return Ok(wait);
        }
        let inserted = diesel::insert_into(throttles::table)
            .values((
                throttles::key.eq(key),
                throttles::failures.eq(failures),
                throttles::last_failure_at.eq(now),
                throttles::blocked_until.eq(blocked_until),
            ))
            .execute(conn)
            .map_err(StorageError::from);
        match inserted {
            // Another instance counted the first failure meanwhile: count on top of it.
            Err(e) if super::accounts::is_unique_violation(&e) => continue,
            other => return other.map(|_| wait),
        }
    }
    Ok(None)
}

/// Forgets the failures of `key` (a successful login).
pub fn clear(conn: &mut DbConnection, key: &str) -> Result<(), StorageError> {
    diesel::delete(throttles::table.find(key)).execute(conn)?;
    Ok(())
}

/// Deletes up to `batch` keys whose last failure is older than `before` and that are not
/// blocked any more.
pub fn purge_stale(
    conn: &mut DbConnection,
    before: i64,
    now: i64,
    batch: i64,
) -> Result<usize, StorageError> {
    let stale = throttles::table
        .select(throttles::key)
        .filter(throttles::last_failure_at.lt(before))
        .filter(
            throttles::blocked_until
                .is_null()
                .or(throttles::blocked_until.le(now)),
        )
        .limit(batch)
        .load::<String>(conn)?;
    Ok(diesel::delete(throttles::table.filter(throttles::key.eq_any(&stale))).execute(conn)?)
}

#[cfg(test)]
mod tests {
    use super::Policy;

    #[test]
    fn the_wait_doubles_from_the_threshold_and_stops_at_the_cap() {
        let p = Policy {
            threshold: 5,
            base_delay_secs: 2,
            max_delay_secs: 60,
            forget_after_secs: 900,
        };
        let waits: Vec<Option<i64>> = (3..=12).map(|f| p.delay(f)).collect();
        assert_eq!(
            waits,
            vec![
                None,
                None,
                Some(2),
                Some(4),
                Some(8),
                Some(16),
                Some(32),
                Some(60),
                Some(60),
                Some(60)
            ]
        );
        assert_eq!(p.delay(i64::MAX), Some(60));
    }
}
