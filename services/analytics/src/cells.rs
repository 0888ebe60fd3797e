//! Mergeable aggregates: per measure a count, a sum, and for durations
//! their distribution (histogram buckets in stored rows, the raw seconds
//! when a report is computed exactly). Everything adds and subtracts, so
//! rows can be corrected when a ticket's fact changes.

use switchboard_kpi::overview::Value;
use switchboard_kpi::{Basis, DurationStats, Rate};

use crate::sketch::Hist;

/// What a row keeps numbers of. Each is a count `n` and a `sum`: a rate's
/// `sum` is its hits, a duration's its seconds, a per-solve mean's the
/// replies or hops of the solved tickets, [`Measure::Backlog`]'s `n` the
/// net tickets entering the backlog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[allow(missing_docs)]
pub enum Measure {
    Created,
    Solved,
    Backlog,
    Replies,
    AssigneeHops,
    GroupHops,
    OneTouch,
    Reopened,
    Csat,
    Score,
    SlaFirstReply,
    SlaResolution,
    PublicReplies,
    FirstReplyCalendar,
    FirstReplyBusiness,
    FirstResolutionCalendar,
    FirstResolutionBusiness,
    FullResolutionCalendar,
    FullResolutionBusiness,
    RequesterWaitCalendar,
    RequesterWaitBusiness,
    AgentWaitCalendar,
    AgentWaitBusiness,
}

/// How many measures there are.
pub const MEASURES: usize = 23;

/// The first duration measure; all after it are durations too.
const FIRST_DURATION: usize = Measure::FirstReplyCalendar as usize;

/// A duration a ticket has on both clocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Span {
    FirstReply,
    FirstResolution,
    FullResolution,
    RequesterWait,
    AgentWait,
}

impl Measure {
    /// Every measure, in stored order.
    pub const ALL: [Measure; MEASURES] = {
        use Measure::*;
        [
            Created,
            Solved,
            Backlog,
            Replies,
            AssigneeHops,
            GroupHops,
            OneTouch,
            Reopened,
            Csat,
            Score,
            SlaFirstReply,
            SlaResolution,
            PublicReplies,
            FirstReplyCalendar,
            FirstReplyBusiness,
            FirstResolutionCalendar,
            FirstResolutionBusiness,
            FullResolutionCalendar,
            FullResolutionBusiness,
            RequesterWaitCalendar,
            RequesterWaitBusiness,
            AgentWaitCalendar,
            AgentWaitBusiness,
        ]
    };

    /// `span` on `basis`.
    pub fn of(span: Span, basis: Basis) -> Self {
        let base = FIRST_DURATION + 2 * span as usize;
        Self::ALL[base + usize::from(basis == Basis::Business)]
    }

    /// The measure stored as `code`.
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.get(usize::from(code)).copied()
    }

    /// Whether its distribution is kept.
    pub fn is_duration(self) -> bool {
        self as usize >= FIRST_DURATION
    }
}

/// A set of measures (whose histograms to read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Measures(u32);

impl Measures {
    /// Every measure.
    pub const ALL: Measures = Measures((1 << MEASURES) - 1);
    /// None.
    pub const NONE: Measures = Measures(0);

    /// Just `m`.
    pub fn only(m: Measure) -> Self {
        Measures(1 << m as u32)
    }

    /// This set and `m`.
    pub fn with(self, m: Measure) -> Self {
        Measures(self.0 | Self::only(m).0)
    }

    /// Whether `m` is in the set.
    pub fn contains(self, m: Measure) -> bool {
        self.0 & (1 << m as u32) != 0
    }
}

/// Durations' spread: buckets, or the seconds themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dist {
    /// Histogram buckets.
    Hist(Hist),
    /// Every sample, for exact statistics.
    Raw(Vec<i64>),
}

/// One measure's numbers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cell {
    /// How many samples (net).
    pub n: i64,
    /// Their sum.
    pub sum: i64,
    /// For durations: their spread, once any was added.
    pub dist: Option<Box<Dist>>,
}

/// All measures of one row, line or bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cells {
    /// Indexed by `Measure as usize`.
    pub cells: [Cell; MEASURES],
    /// Keep raw seconds rather than buckets.
    pub raw: bool,
}

impl Default for Cells {
    fn default() -> Self {
        Self::new(false)
    }
}

impl Cells {
    /// Empty; `raw` keeps exact seconds instead of buckets.
    pub fn new(raw: bool) -> Self {
        Self {
            cells: std::array::from_fn(|_| Cell::default()),
            raw,
        }
    }

    /// The cell of `m`.
    pub fn get(&self, m: Measure) -> &Cell {
        &self.cells[m as usize]
    }

    /// Adds `sign` samples worth `value` to `m` (a duration's value is its
    /// seconds and also goes to its spread).
    pub fn add(&mut self, m: Measure, value: i64, sign: i64) {
        let raw = self.raw;
        let cell = &mut self.cells[m as usize];
        cell.n += sign;
        cell.sum += sign * value;
        if m.is_duration() {
            let dist = cell.dist.get_or_insert_with(|| {
                Box::new(if raw {
                    Dist::Raw(Vec::new())
                } else {
                    Dist::Hist(Hist::default())
                })
            });
            match dist.as_mut() {
                Dist::Hist(h) => h.add(value, sign),
                // Raw cells are only ever added to.
                Dist::Raw(v) => v.push(value),
            }
        }
    }

    /// Adds `other` times `sign` (`other` must keep buckets, not raw
    /// seconds, unless this one is raw and `sign` is 1).
    pub fn merge(&mut self, other: &Cells, sign: i64) {
        for (mine, theirs) in self.cells.iter_mut().zip(&other.cells) {
            mine.n += sign * theirs.n;
            mine.sum += sign * theirs.sum;
            let Some(theirs) = theirs.dist.as_deref() else {
                continue;
            };
            let raw = self.raw;
            let dist = mine.dist.get_or_insert_with(|| {
                Box::new(if raw {
                    Dist::Raw(Vec::new())
                } else {
                    Dist::Hist(Hist::default())
                })
            });
            match (dist.as_mut(), theirs) {
                (Dist::Hist(h), Dist::Hist(o)) => h.merge(o, sign),
                (Dist::Hist(h), Dist::Raw(o)) => o.iter().for_each(|&s| h.add(s, sign)),
                (Dist::Raw(v), Dist::Raw(o)) => v.extend_from_slice(o),
                // Rows always hold buckets; a raw total never takes them.
                (Dist::Raw(_), Dist::Hist(_)) => {}
            }
        }
    }

    /// Nothing counted (a row that can be deleted).
    pub fn is_zero(&self) -> bool {
        self.cells.iter().all(|c| {
            c.n == 0
                && c.sum == 0
                && c.dist.as_deref().is_none_or(|d| match d {
                    Dist::Hist(h) => h.is_empty(),
                    Dist::Raw(v) => v.is_empty(),
                })
        })
    }

    /// `m` as a count.
    pub fn count(&self, m: Measure) -> u64 {
        u64::try_from(self.get(m).n).unwrap_or(0)
    }

    /// `m` as a share: hits over samples.
    pub fn rate(&self, m: Measure) -> Rate {
        let c = self.get(m);
        Rate::new(
            u64::try_from(c.sum).unwrap_or(0),
            u64::try_from(c.n).unwrap_or(0),
        )
    }

    /// `m`'s mean per sample; `None` without samples.
    pub fn mean(&self, m: Measure) -> Option<f64> {
        let c = self.get(m);
        (c.n > 0).then(|| c.sum as f64 / c.n as f64)
    }

    /// Duration statistics of `m`: exact from raw seconds, else from the
    /// buckets (see [`crate::sketch`] for the bound).
    pub fn duration(&self, m: Measure) -> Option<DurationStats> {
        let c = self.get(m);
        match c.dist.as_deref()? {
            Dist::Raw(v) => DurationStats::of(v),
            Dist::Hist(h) => h.stats(c.n, i128::from(c.sum)),
        }
    }

    /// `m` as a `switchboard-kpi` value of the kind `value` names.
    pub fn value(&self, m: Measure, kind: Kind) -> Value {
        match kind {
            Kind::Count => Value::Count(self.count(m)),
            Kind::Duration => Value::Duration(self.duration(m)),
            Kind::Rate => Value::Rate(self.rate(m)),
            Kind::Average => Value::Average(self.mean(m)),
        }
    }
}

/// Which kind of value a metric is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Kind {
    Count,
    Duration,
    Rate,
    Average,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_round_trip_through_their_codes() {
        for (i, m) in Measure::ALL.iter().enumerate() {
            assert_eq!(*m as usize, i);
            assert_eq!(Measure::from_code(i as u8), Some(*m));
        }
        assert_eq!(
            Measure::of(Span::AgentWait, Basis::Business),
            Measure::AgentWaitBusiness
        );
        assert!(!Measure::PublicReplies.is_duration());
    }

    #[test]
    fn subtracting_what_was_added_leaves_nothing() {
        let mut a = Cells::default();
        a.add(Measure::FirstReplyCalendar, 5400, 1);
        a.add(Measure::Csat, 1, 1);
        let mut b = Cells::default();
        b.merge(&a, 1);
        b.add(Measure::Csat, 0, 1);
        assert_eq!(b.rate(Measure::Csat), Rate::new(1, 2));
        b.merge(&a, -1);
        b.add(Measure::Csat, 0, -1);
        assert!(b.is_zero());
    }

    #[test]
    fn raw_cells_give_exact_statistics() {
        let mut exact = Cells::new(true);
        let mut approx = Cells::new(false);
        for s in [600, 1800, 5400, 9000] {
            exact.add(Measure::FirstReplyCalendar, s, 1);
            approx.add(Measure::FirstReplyCalendar, s, 1);
        }
        let e = exact.duration(Measure::FirstReplyCalendar).unwrap();
        assert_eq!((e.mean, e.median, e.p90), (4200.0, 3600.0, 9000.0));
        let a = approx.duration(Measure::FirstReplyCalendar).unwrap();
        assert_eq!(a.mean, 4200.0, "means come from sums: exact");
        assert!((a.median - 3600.0).abs() <= 3600.0 / 128.0, "{a:?}");
    }
}
