//! Summaries of samples: duration statistics and rates.

use serde::{Deserialize, Serialize};

/// Count, mean, median and 90th percentile of durations in seconds.
///
/// The median is the middle value, or the mean of the two middle values for
/// an even count, as people expect of "median". The p90 uses the
/// nearest-rank method (see [`nearest_rank`]), so it is always one of the
/// samples: with 10 samples it is the 9th smallest.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DurationStats {
    /// How many samples; at least one.
    pub count: u64,
    /// Arithmetic mean, in seconds.
    pub mean: f64,
    /// Median, in seconds.
    pub median: f64,
    /// 90th percentile by nearest rank, in seconds.
    pub p90: f64,
}

impl DurationStats {
    /// The statistics of `seconds`, in any order; `None` when empty.
    pub fn of(seconds: &[i64]) -> Option<Self> {
        let mut sorted = seconds.to_vec();
        sorted.sort_unstable();
        let n = sorted.len();
        let p90 = nearest_rank(&sorted, 90)?;
        // i128 so a long history of long durations cannot overflow.
        let sum: i128 = sorted.iter().map(|&s| i128::from(s)).sum();
        let median = if n % 2 == 1 {
            sorted[n / 2] as f64
        } else {
            (sorted[n / 2 - 1] as f64 + sorted[n / 2] as f64) / 2.0
        };
        Some(Self {
            count: n as u64,
            mean: sum as f64 / n as f64,
            median,
            p90: p90 as f64,
        })
    }
}

/// The `percent`-th percentile of ascending `sorted` by nearest rank: the
/// value at 1-based rank ⌈percent/100 × n⌉ (at least rank 1; percents over
/// 100 count as 100). `None` when empty.
pub fn nearest_rank(sorted: &[i64], percent: u32) -> Option<i64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    // Integer arithmetic: 0.9 × 10 must be rank 9, never 9.000…1 → 10.
    let rank = (percent.min(100) as usize * n).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

/// A share: how many of a population meet a condition (CSAT is good ratings
/// over ratings, one-touch is one-touch solves over solves, SLA achievement
/// is targets met over targets decided).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Rate {
    /// How many meet the condition.
    pub numerator: u64,
    /// How many were considered.
    pub denominator: u64,
}

impl Rate {
    /// A share of `numerator` out of `denominator`.
    pub fn new(numerator: u64, denominator: u64) -> Self {
        Self {
            numerator,
            denominator,
        }
    }

    /// Counts one more case, meeting the condition or not.
    pub fn record(&mut self, hit: bool) {
        self.denominator += 1;
        self.numerator += u64::from(hit);
    }

    /// The share from 0 to 1; `None` with nothing considered, which is not
    /// the same as 0%.
    pub fn value(&self) -> Option<f64> {
        (self.denominator > 0).then(|| self.numerator as f64 / self.denominator as f64)
    }
}
