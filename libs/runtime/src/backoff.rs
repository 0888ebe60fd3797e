//! The one retry delay every restarting task and retried operation uses:
//! exponential from a base to a cap, with jitter so replicas that failed
//! together do not retry together.

use std::{
    hash::{BuildHasher, RandomState},
    time::Duration,
};

use tokio_util::sync::CancellationToken;

/// Exponential backoff with "equal jitter": each delay is between half and
/// all of the current step, and the step doubles up to `max`.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    step: Duration,
    jitter: RandomState,
    draws: u64,
}

impl Default for Backoff {
    /// 100 ms doubling up to 5 s: what a dependency outage of a few seconds
    /// needs without hammering it.
    fn default() -> Self {
        Self::new(Duration::from_millis(100), Duration::from_secs(5))
    }
}

impl Backoff {
    /// Starts at `base` and doubles up to `max` (a `max` below `base` is `base`).
    pub fn new(base: Duration, max: Duration) -> Self {
        let base = base.max(Duration::from_millis(1));
        Self {
            base,
            max: max.max(base),
            step: base,
            jitter: RandomState::new(),
            draws: 0,
        }
    }

    /// The next delay, then doubles the step.
    pub fn next_delay(&mut self) -> Duration {
        self.draws += 1;
        // A fresh `RandomState` is randomly keyed: hashing a counter with it
        // is a cheap uniform draw without a random-number dependency.
        let draw = self.jitter.hash_one(self.draws) as f64 / u64::MAX as f64;
        let delay = self.step.mul_f64(0.5 + draw / 2.0);
        self.step = (self.step * 2).min(self.max);
        delay
    }

    /// Back to the base delay, after a success.
    pub fn reset(&mut self) {
        self.step = self.base;
    }

    /// Sleeps for [`Backoff::next_delay`]; `false` if `stop` came first.
    pub async fn wait(&mut self, stop: &CancellationToken) -> bool {
        let delay = self.next_delay();
        tokio::select! {
            _ = stop.cancelled() => false,
            _ = tokio::time::sleep(delay) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_within_jitter_up_to_the_cap_and_reset() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(800));
        for step in [100, 200, 400, 800, 800, 800] {
            let d = b.next_delay();
            let step = Duration::from_millis(step);
            assert!(d >= step / 2 && d <= step, "{d:?} within half of {step:?}");
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }

    #[test]
    fn a_cap_below_the_base_is_the_base() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::ZERO);
        for _ in 0..3 {
            assert!(b.next_delay() <= Duration::from_millis(100));
        }
    }

    #[tokio::test]
    async fn waiting_ends_early_on_stop() {
        let stop = CancellationToken::new();
        stop.cancel();
        let mut b = Backoff::new(Duration::from_secs(3600), Duration::from_secs(3600));
        assert!(!b.wait(&stop).await);
    }
}
