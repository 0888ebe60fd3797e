//! Fixed log-linear histogram buckets of seconds, for medians and p90s
//! over pre-aggregated rows.
//!
//! Durations below 128 s each have their own bucket (exact). From 128 s
//! up, every power of two is split into 64 equal buckets, so a bucket is
//! at most 1/64 of its lower bound wide. A quantile is read as the middle
//! of the bucket holding its rank, which is within **1/128 (0.79 %)** of
//! the true sample there (and exact below 128 s): a median of 4 h is off
//! by at most 112 s. A median of an even count averages two such values,
//! so it too is within 1/128 of the exact median. Counts and means are
//! exact (they come from counts and sums, not from buckets).
//!
//! The buckets are fixed, so histograms merge by adding counts and a
//! ticket's old contribution is taken back by subtracting them: the same
//! samples give the same histogram in any order.

use switchboard_kpi::DurationStats;

/// Durations below this many seconds have a bucket of their own.
pub const EXACT_BELOW: i64 = 128;

/// Buckets per power of two above [`EXACT_BELOW`].
const PER_OCTAVE: i64 = 64;

/// The bucket of `seconds` (negative durations count as 0).
pub fn bucket(seconds: i64) -> u16 {
    let v = seconds.max(0);
    if v < EXACT_BELOW {
        return v as u16;
    }
    let exponent = 63 - i64::from(v.leading_zeros());
    let shift = exponent - 6;
    (PER_OCTAVE * shift + (v >> shift)) as u16
}

/// The smallest and largest duration in `bucket`.
pub fn bounds(bucket: u16) -> (i64, i64) {
    let b = i64::from(bucket);
    if b < EXACT_BELOW {
        return (b, b);
    }
    let shift = b / PER_OCTAVE - 1;
    let m = b - PER_OCTAVE * shift;
    let low = m << shift;
    (low, low + ((1 << shift) - 1))
}

/// The value reported for samples in `bucket`: its middle.
pub fn representative(bucket: u16) -> f64 {
    let (low, high) = bounds(bucket);
    (low as f64 + high as f64) / 2.0
}

/// Sample counts per bucket, ascending by bucket; counts may go through
/// negative values while deltas are summed, empty buckets are dropped. A
/// sorted vector: merging a stored row's buckets is one linear pass.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hist(pub Vec<(u16, i64)>);

impl Hist {
    /// Adds `by` samples of `seconds`.
    pub fn add(&mut self, seconds: i64, by: i64) {
        self.add_bucket(bucket(seconds), by);
    }

    /// Adds `by` to `bucket`'s count.
    pub fn add_bucket(&mut self, bucket: u16, by: i64) {
        if by == 0 {
            return;
        }
        match self.0.binary_search_by_key(&bucket, |(b, _)| *b) {
            Ok(i) => {
                self.0[i].1 += by;
                if self.0[i].1 == 0 {
                    self.0.remove(i);
                }
            }
            Err(i) => self.0.insert(i, (bucket, by)),
        }
    }

    /// Adds every count of `other`, times `sign`.
    pub fn merge(&mut self, other: &Hist, sign: i64) {
        self.merge_sorted(&other.0, sign);
    }

    /// Adds `counts` (ascending by bucket), times `sign`.
    pub fn merge_sorted(&mut self, counts: &[(u16, i64)], sign: i64) {
        // A ticket's own few samples: in place, no new vector.
        if counts.len() <= 4 {
            for &(b, c) in counts {
                self.add_bucket(b, sign * c);
            }
            return;
        }
        let mine = std::mem::take(&mut self.0);
        let mut out = Vec::with_capacity(mine.len().max(counts.len()));
        let (mut a, mut b) = (mine.iter().peekable(), counts.iter().peekable());
        loop {
            let next = match (a.peek(), b.peek()) {
                (Some(x), Some(y)) if x.0 == y.0 => {
                    let (x, y) = (a.next().copied(), b.next().copied());
                    x.zip(y).map(|(x, y)| (x.0, x.1 + sign * y.1))
                }
                (Some(x), Some(y)) if x.0 < y.0 => a.next().copied(),
                (_, Some(_)) => b.next().map(|y| (y.0, sign * y.1)),
                (Some(_), None) => a.next().copied(),
                (None, None) => break,
            };
            if let Some(entry) = next.filter(|e| e.1 != 0) {
                out.push(entry);
            }
        }
        self.0 = out;
    }

    /// No samples.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The representative of the sample at 1-based `rank` in ascending
    /// order (the largest if `rank` is past the end).
    fn at_rank(&self, rank: i64) -> f64 {
        let mut seen = 0;
        let mut last = 0;
        for &(b, c) in &self.0 {
            seen += c;
            last = b;
            if seen >= rank {
                break;
            }
        }
        representative(last)
    }

    /// Statistics of `n` samples summing to `sum` seconds whose buckets
    /// are these: count and mean exact, median and p90 (nearest rank) to
    /// within the bound in the module docs. `None` without samples.
    pub fn stats(&self, n: i64, sum: i128) -> Option<DurationStats> {
        if n <= 0 {
            return None;
        }
        let median = if n % 2 == 1 {
            self.at_rank(n / 2 + 1)
        } else {
            (self.at_rank(n / 2) + self.at_rank(n / 2 + 1)) / 2.0
        };
        // The same integer rank as `switchboard_kpi::stats::nearest_rank`.
        let rank = (90 * n as u64).div_ceil(100).max(1) as i64;
        Some(DurationStats {
            count: n as u64,
            mean: sum as f64 / n as f64,
            median,
            p90: self.at_rank(rank),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_exact_below_128_seconds_then_log_linear() {
        assert_eq!(bucket(-5), 0);
        assert_eq!(bucket(127), 127);
        assert_eq!(bounds(127), (127, 127));
        // 128..=129 is the first two-second bucket.
        assert_eq!((bucket(128), bucket(129), bucket(130)), (128, 128, 129));
        assert_eq!(bounds(128), (128, 129));
        // 5400 s = 90 min: 4096..8191 splits into 64-second buckets.
        assert_eq!(bounds(bucket(5400)), (5376, 5439));
        assert_eq!(representative(bucket(5400)), 5407.5);
        assert_eq!(bounds(bucket(i64::MAX)).1, i64::MAX);
    }

    #[test]
    fn every_value_is_within_a_128th_of_its_representative() {
        let mut v = 0i64;
        while v < 1 << 40 {
            let b = bucket(v);
            let (low, high) = bounds(b);
            assert!(low <= v && v <= high, "{v} in {low}..={high}");
            assert!(
                (representative(b) - v as f64).abs() <= v as f64 / 128.0,
                "{v}"
            );
            v = v * 17 / 16 + 1;
        }
    }

    #[test]
    fn stats_follow_the_exact_definitions_for_small_values() {
        // 10, 30, 60, 100 s: exact buckets, so exact answers.
        let mut h = Hist::default();
        for s in [100, 10, 60, 30] {
            h.add(s, 1);
        }
        let s = h.stats(4, 200).unwrap();
        assert_eq!((s.count, s.mean, s.median, s.p90), (4, 50.0, 45.0, 100.0));
        assert_eq!(s, DurationStats::of(&[10, 30, 60, 100]).unwrap());
        // Taking a sample back is exact too.
        h.add(100, -1);
        assert_eq!(h.stats(3, 100).unwrap().median, 30.0);
        assert!(Hist::default().stats(0, 0).is_none());
    }

    #[test]
    fn merging_keeps_buckets_sorted_and_drops_empty_ones() {
        let mut a = Hist::default();
        for (s, by) in [(300, 1), (5, 2), (9000, 1), (5, -2)] {
            a.add(s, by);
        }
        assert_eq!(a.0, [(bucket(300), 1), (bucket(9000), 1)]);
        a.merge_sorted(
            &[
                (1, 4),
                (bucket(300), 1),
                (bucket(9000), 1),
                (bucket(20_000), 3),
            ],
            -1,
        );
        assert_eq!(a.0, [(1, -4), (bucket(20_000), -3)]);
    }

    #[test]
    fn merged_and_subtracted_histograms_cancel() {
        let mut a = Hist::default();
        a.add(5400, 2);
        let mut b = a.clone();
        b.add(9000, 1);
        b.merge(&a, -1);
        assert_eq!(b.0.len(), 1);
        assert_eq!(
            b.stats(1, 9000).unwrap().median,
            representative(bucket(9000))
        );
    }
}
