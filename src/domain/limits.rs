//! Attempt policies: how many failures a key may have before it waits, and how long.

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
    /// The wait after `failures` counted failures, if any.
    pub fn delay(&self, failures: i64) -> Option<i64> {
        let over = failures - self.threshold;
        (over >= 0).then(|| {
            let doublings = over.min(30) as u32;
            self.base_delay_secs
                .saturating_mul(1i64 << doublings)
                .min(self.max_delay_secs)
        })
    }
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
