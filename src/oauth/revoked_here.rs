//! A signal that this instance just revoked tokens: a counter that every revocation (at
//! `/revoke`, by a reused refresh token or a replayed code) moves on. What remembers token
//! checks in memory (userinfo's answers) forgets everything remembered before the move, so
//! a revocation is seen at once on the instance that made it; other instances see it when
//! their memory expires (a second).

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct RevokedHere(AtomicU64);

impl RevokedHere {
    /// The count now: remembered with what was checked.
    pub fn epoch(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }

    /// Something was (or may have been) revoked here.
    pub fn moved(&self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }
}
