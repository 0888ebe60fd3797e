//! The one retry schedule for reconnects and restarts: doubling, capped,
//! jittered delays that any loop can wait on and stop out of.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use tokio_util::sync::CancellationToken;

/// Doubling delays from `min` up to `max`, each stretched by up to the same
/// again at random so that replicas which failed together do not retry in
/// step. [`Backoff::reset`] after a success starts again from `min`.
#[derive(Debug)]
pub struct Backoff {
    builder: ExponentialBuilder,
    delays: ExponentialBackoff,
}

impl Default for Backoff {
    /// 100 ms doubling up to 5 s: what a dependency outage of a few seconds
    /// needs without hammering it.
    fn default() -> Self {
        Self::new(Duration::from_millis(100), Duration::from_secs(5))
    }
}

impl Backoff {
    /// Delays from `min` doubling up to `max` (before jitter).
    pub fn new(min: Duration, max: Duration) -> Self {
        let builder = ExponentialBuilder::new()
            .with_min_delay(min)
            .with_max_delay(max.max(min))
            .with_factor(2.0)
            .with_jitter()
            .without_max_times();
        Self {
            builder,
            delays: builder.build(),
        }
    }

    /// The delay before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        // Unlimited attempts: the iterator never ends.
        self.delays.next().unwrap_or_default()
    }

    /// Starts again from the shortest delay, after a success.
    pub fn reset(&mut self) {
        self.delays = self.builder.build();
    }

    /// Waits the next delay; `false` (at once) if `stop` is cancelled first.
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
    fn delays_double_within_jitter_then_cap_and_reset() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(1600));
        let bases = [100, 200, 400, 800, 1600, 1600, 1600];
        for base in bases {
            let d = b.next_delay().as_millis() as u64;
            assert!(
                (base..=2 * base).contains(&d),
                "{d} not within {base}..={}",
                2 * base
            );
        }
        b.reset();
        let d = b.next_delay().as_millis() as u64;
        assert!((100..=200).contains(&d), "{d}");
    }

    #[tokio::test]
    async fn waiting_stops_at_once_when_cancelled() {
        let mut b = Backoff::new(Duration::from_secs(60), Duration::from_secs(60));
        let stop = CancellationToken::new();
        stop.cancel();
        let started = std::time::Instant::now();
        assert!(!b.wait(&stop).await);
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}
