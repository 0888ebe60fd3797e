//! The generic cell rate algorithm, as pure functions: one number per key
//! (the theoretical arrival time, TAT) says everything about its budget, so a
//! check is a read, a comparison and a write, with no refill task. The Lua
//! script in [`super::shared`] is these same lines on Redis's clock.
//!
//! Times are microseconds on any clock that only goes forward.

use std::time::Duration;

/// A sustained rate with room for a burst, as GCRA counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quota {
    /// Microseconds each call uses up (one over the rate).
    interval: u64,
    /// Calls allowed at once after a quiet spell.
    burst: u32,
}

impl Quota {
    /// `per_second` calls sustained with bursts of `burst`; `None` unless
    /// both are positive (and the rate finite).
    pub fn new(per_second: f64, burst: u32) -> Option<Self> {
        if !(per_second.is_finite() && per_second > 0.0) || burst == 0 {
            return None;
        }
        // At least a microsecond, so a rate of a million or more per second
        // still counts.
        let interval = (1_000_000.0 / per_second).round().max(1.0);
        Some(Self {
            interval: interval as u64,
            burst,
        })
    }

    /// Microseconds one call uses up.
    pub fn interval(&self) -> u64 {
        self.interval
    }

    /// Calls allowed at once.
    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// How far ahead of now the TAT may run: the whole burst's worth.
    pub fn horizon(&self) -> u64 {
        self.interval.saturating_mul(u64::from(self.burst))
    }

    /// Calls per second, sustained.
    pub fn per_second(&self) -> f64 {
        1_000_000.0 / self.interval as f64
    }
}

/// What one limit says of one more call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Allowed; the key's TAT becomes `tat`.
    Allow {
        /// The new theoretical arrival time.
        tat: u64,
    },
    /// Refused; the same call would be allowed `retry_after` microseconds
    /// from now.
    Deny {
        /// Microseconds to wait.
        retry_after: u64,
    },
}

/// The decision for one more call at `now` on a key whose TAT is `tat`
/// (`None` for a key never seen or expired).
pub fn decide(tat: Option<u64>, now: u64, quota: Quota) -> Decision {
    let next = tat.unwrap_or(now).max(now).saturating_add(quota.interval);
    let ahead = next - now;
    if ahead > quota.horizon() {
        Decision::Deny {
            retry_after: ahead - quota.horizon(),
        }
    } else {
        Decision::Allow { tat: next }
    }
}

/// Several limits on one call, all or nothing: the new TAT of every key when
/// all allow, else the index of the limit that makes the caller wait longest
/// and that wait. A refused call uses up nothing.
pub fn decide_all(keys: &[(Option<u64>, Quota)], now: u64) -> Result<Vec<u64>, (usize, u64)> {
    let mut tats = Vec::with_capacity(keys.len());
    let mut worst: Option<(usize, u64)> = None;
    for (i, &(tat, quota)) in keys.iter().enumerate() {
        match decide(tat, now, quota) {
            Decision::Allow { tat } => tats.push(tat),
            Decision::Deny { retry_after } => {
                if worst.is_none_or(|(_, w)| retry_after > w) {
                    worst = Some((i, retry_after));
                }
            }
        }
    }
    match worst {
        Some(denied) => Err(denied),
        None => Ok(tats),
    }
}

/// How long a key must live: until its TAT, after which a fresh key means
/// the same.
pub fn ttl(tat: u64, now: u64) -> Duration {
    Duration::from_micros(tat.saturating_sub(now))
}

/// A wait in microseconds as a duration rounded up to the millisecond, so a
/// client that waits exactly that long is allowed.
pub fn retry_after(micros: u64) -> Duration {
    Duration::from_millis(micros.div_ceil(1000).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000_000;

    fn quota(per_second: f64, burst: u32) -> Quota {
        Quota::new(per_second, burst).unwrap()
    }

    /// Runs `calls` calls at `now` on one key, returning how many passed.
    fn burst(tat: &mut Option<u64>, now: u64, q: Quota, calls: u32) -> u32 {
        let mut allowed = 0;
        for _ in 0..calls {
            if let Decision::Allow { tat: next } = decide(*tat, now, q) {
                *tat = Some(next);
                allowed += 1;
            }
        }
        allowed
    }

    #[test]
    fn a_fresh_key_allows_exactly_the_burst_at_once() {
        let q = quota(10.0, 5);
        let mut tat = None;
        assert_eq!(burst(&mut tat, 1000 * SECOND, q, 20), 5);
        // The sixth waits one interval (100 ms), the seventh two.
        assert_eq!(
            decide(tat, 1000 * SECOND, q),
            Decision::Deny {
                retry_after: SECOND / 10
            }
        );
    }

    #[test]
    fn waiting_the_retry_after_is_enough_and_a_moment_less_is_not() {
        let q = quota(2.0, 3);
        let now = 50 * SECOND;
        let mut tat = None;
        burst(&mut tat, now, q, 3);
        let Decision::Deny { retry_after } = decide(tat, now, q) else {
            panic!("the burst is spent");
        };
        assert!(matches!(
            decide(tat, now + retry_after - 1, q),
            Decision::Deny { .. }
        ));
        assert!(matches!(
            decide(tat, now + retry_after, q),
            Decision::Allow { .. }
        ));
    }

    #[test]
    fn the_sustained_rate_holds_over_time_and_idle_time_refills_only_the_burst() {
        let q = quota(100.0, 10);
        let mut tat = None;
        let mut allowed = 0;
        // One call every millisecond for 10 s: ten times the rate.
        for ms in 0..10_000u64 {
            allowed += burst(&mut tat, ms * 1000, q, 1);
        }
        // 10 s at 100/s plus the first burst.
        assert!((1000..=1011).contains(&allowed), "{allowed}");
        // A long quiet spell gives back the burst, not more.
        assert_eq!(burst(&mut tat, 3600 * SECOND, q, 50), 10);
    }

    #[test]
    fn fractional_and_huge_rates_keep_their_meaning() {
        let slow = quota(0.1, 1);
        assert_eq!(slow.interval(), 10 * SECOND);
        let mut tat = None;
        assert_eq!(burst(&mut tat, 0, slow, 3), 1);
        assert_eq!(
            decide(tat, 0, slow),
            Decision::Deny {
                retry_after: 10 * SECOND
            }
        );
        assert_eq!(quota(5_000_000.0, 1).interval(), 1);
        assert!(Quota::new(0.0, 1).is_none());
        assert!(Quota::new(f64::NAN, 1).is_none());
        assert!(Quota::new(1.0, 0).is_none());
        assert!((quota(50.0, 1).per_second() - 50.0).abs() < 1e-9);
    }

    #[test]
    fn several_limits_commit_only_when_all_allow() {
        let caller = quota(1.0, 2);
        let tenant = quota(1.0, 5);
        let now = 7 * SECOND;
        // The caller's budget is spent, the tenant's is not.
        let spent = Some(now + 2 * SECOND);
        let err = decide_all(&[(spent, caller), (None, tenant)], now).unwrap_err();
        assert_eq!(err, (0, SECOND));
        // Both allow: both advance by their interval.
        let tats = decide_all(&[(None, caller), (Some(now - SECOND), tenant)], now).unwrap();
        assert_eq!(tats, vec![now + SECOND, now + SECOND]);
    }

    #[test]
    fn the_longest_wait_names_the_limit() {
        let short = quota(10.0, 1);
        let long = quota(0.5, 1);
        let now = SECOND;
        let both_spent = [(Some(now + 100_000), short), (Some(now + 2 * SECOND), long)];
        assert_eq!(decide_all(&both_spent, now).unwrap_err(), (1, 2 * SECOND));
    }

    #[test]
    fn waits_round_up_to_the_millisecond_and_keys_live_until_their_tat() {
        assert_eq!(retry_after(1), Duration::from_millis(1));
        assert_eq!(retry_after(1_000), Duration::from_millis(1));
        assert_eq!(retry_after(1_001), Duration::from_millis(2));
        assert_eq!(ttl(5 * SECOND, 2 * SECOND), Duration::from_secs(3));
        assert_eq!(ttl(SECOND, 2 * SECOND), Duration::ZERO);
    }
}
