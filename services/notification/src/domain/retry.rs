//! When a failed delivery is tried again.

use std::time::Duration;

/// Retry timing: exponential from `base`, capped at `max`, with jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts before a delivery is dead-lettered.
    pub max_attempts: u32,
    /// Delay after the first failure (before jitter).
    pub base: Duration,
    /// Longest delay.
    pub max: Duration,
}

impl RetryPolicy {
    /// The delay after failed attempt number `attempt` (1-based), given a
    /// random `seed`: "equal jitter", half fixed and half random, so
    /// receivers that failed together do not retry in lockstep yet a delay
    /// never collapses to nothing.
    pub fn delay(&self, attempt: u32, seed: u64) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
            .min(self.max);
        let half = exp / 2;
        let span = half.as_millis().max(1) as u64;
        half + Duration::from_millis(seed % span)
    }

    /// Whether a delivery that has failed `attempts` times is finished.
    pub fn exhausted(&self, attempts: u32) -> bool {
        attempts >= self.max_attempts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            base: Duration::from_millis(1000),
            max: Duration::from_millis(5000),
        }
    }

    #[test]
    fn delays_grow_exponentially_within_jitter_and_cap() {
        let p = policy();
        for seed in [0, 1, 499, 12_345, u64::MAX] {
            let d1 = p.delay(1, seed);
            assert!(d1 >= Duration::from_millis(500) && d1 < Duration::from_millis(1000));
            let d2 = p.delay(2, seed);
            assert!(d2 >= Duration::from_millis(1000) && d2 < Duration::from_millis(2000));
            let d9 = p.delay(9, seed);
            assert!(d9 >= Duration::from_millis(2500) && d9 < Duration::from_millis(5000));
        }
        assert_ne!(p.delay(3, 1), p.delay(3, 2), "jitter varies");
    }

    #[test]
    fn exhaustion_counts_attempts() {
        assert!(!policy().exhausted(4));
        assert!(policy().exhausted(5));
    }
}
