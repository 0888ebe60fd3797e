//! The grid the aggregates are kept on: UTC hours, and the days of the
//! tenant's time zone (so the usual daily series lines up with whole
//! rows). A range is read as its whole days, then whole hours, then the
//! slivers left at its edges, which come from per-ticket samples.

use chrono::{DateTime, DurationRound, NaiveDate, NaiveTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use switchboard_kpi::Range;

/// One hour.
pub const HOUR: TimeDelta = TimeDelta::hours(1);

/// How long a row's period is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Grain {
    /// A UTC hour.
    Hour,
    /// A day of the tenant's time zone.
    Day,
}

impl Grain {
    /// The stored number.
    pub fn code(self) -> i16 {
        match self {
            Grain::Hour => 0,
            Grain::Day => 1,
        }
    }
}

/// The UTC hour holding `at`.
pub fn hour_of(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(HOUR).unwrap_or(at)
}

/// When local `date` begins: the earlier midnight if it repeats, else the
/// first quarter hour after a gap that swallowed midnight (as the series
/// buckets of `switchboard-kpi` begin).
pub fn midnight(tz: Tz, date: NaiveDate) -> DateTime<Utc> {
    let start = date.and_time(NaiveTime::MIN);
    (0..=4 * 48)
        .find_map(|q| {
            tz.from_local_datetime(&(start + TimeDelta::minutes(15 * q)))
                .earliest()
        })
        .map_or_else(|| start.and_utc(), |t| t.with_timezone(&Utc))
}

/// The start of the day of `tz` holding `at`.
pub fn day_of(tz: Tz, at: DateTime<Utc>) -> DateTime<Utc> {
    midnight(tz, at.with_timezone(&tz).date_naive())
}

/// [`day_of`], remembered per zone and UTC hour when the whole hour lies
/// in one local day (zone lookups cost more than the rest of placing a
/// sample).
#[derive(Debug, Default)]
pub struct Days(std::collections::HashMap<(Tz, i64), Option<DateTime<Utc>>>);

impl Days {
    /// The start of the day of `tz` holding `at`.
    pub fn of(&mut self, tz: Tz, at: DateTime<Utc>) -> DateTime<Utc> {
        let hour = hour_of(at);
        let whole = *self.0.entry((tz, hour.timestamp())).or_insert_with(|| {
            let first = day_of(tz, hour);
            (day_of(tz, hour + HOUR - TimeDelta::nanoseconds(1)) == first).then_some(first)
        });
        whole.unwrap_or_else(|| day_of(tz, at))
    }
}

/// A range split for reading.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cover {
    /// Starts of the whole local days inside the range.
    pub days: Vec<DateTime<Utc>>,
    /// Starts of the whole UTC hours inside the range, outside those days.
    pub hours: Vec<DateTime<Utc>>,
    /// The rest: at most two slivers per gap, each inside one UTC hour
    /// unless no whole hour fits.
    pub rest: Vec<Range>,
}

impl Cover {
    /// `range` as whole days of `tz`, whole hours and the rest.
    pub fn of(tz: Tz, range: Range) -> Self {
        let mut cover = Self::default();
        if range.to <= range.from {
            return cover;
        }
        let mut date = range.from.with_timezone(&tz).date_naive();
        let mut start = midnight(tz, date);
        let mut inner: Option<(DateTime<Utc>, DateTime<Utc>)> = None;
        while let Some(next_date) = date.succ_opt() {
            let end = midnight(tz, next_date);
            if end > range.to {
                break;
            }
            // A day the zone skipped entirely has no length and no row.
            if start >= range.from && end > start {
                cover.days.push(start);
                inner = Some((inner.map_or(start, |(first, _)| first), end));
            }
            date = next_date;
            start = end;
        }
        match inner {
            Some((first, end)) => {
                cover.hours_between(range.from, first);
                cover.hours_between(end, range.to);
            }
            None => cover.hours_between(range.from, range.to),
        }
        cover
    }

    /// `[from, to)` without days: the whole hours of `[from, to)`, then the
    /// slivers around them. Used for the part of a backlog's history after
    /// its last whole day.
    pub fn hours_only(range: Range) -> Self {
        let mut cover = Self::default();
        cover.hours_between(range.from, range.to);
        cover
    }

    fn hours_between(&mut self, from: DateTime<Utc>, to: DateTime<Utc>) {
        if from >= to {
            return;
        }
        let mut h = hour_of(from);
        if h < from {
            h += HOUR;
        }
        if h + HOUR > to {
            self.rest.push(Range::new(from, to));
            return;
        }
        if from < h {
            self.rest.push(Range::new(from, h));
        }
        while h + HOUR <= to {
            self.hours.push(h);
            h += HOUR;
        }
        if h < to {
            self.rest.push(Range::new(h, to));
        }
    }
}

/// The UTC hours that `ranges` touch, ascending, each once.
pub fn hours_touched(ranges: &[Range]) -> Vec<DateTime<Utc>> {
    let mut hours = Vec::new();
    for r in ranges.iter().filter(|r| r.from < r.to) {
        let mut h = hour_of(r.from);
        while h < r.to {
            hours.push(h);
            h += HOUR;
        }
    }
    hours.sort_unstable();
    hours.dedup();
    hours
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(d: u32, h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, d, h, m, 0).unwrap()
    }

    #[test]
    fn a_range_is_whole_days_then_whole_hours_then_slivers() {
        let c = Cover::of(chrono_tz::UTC, Range::new(utc(1, 22, 30), utc(4, 1, 15)));
        assert_eq!(c.days, [utc(2, 0, 0), utc(3, 0, 0)]);
        assert_eq!(c.hours, [utc(1, 23, 0), utc(4, 0, 0)]);
        assert_eq!(
            c.rest,
            [
                Range::new(utc(1, 22, 30), utc(1, 23, 0)),
                Range::new(utc(4, 1, 0), utc(4, 1, 15))
            ]
        );
        // No whole hour: one sliver; an empty range: nothing.
        let short = Cover::of(chrono_tz::UTC, Range::new(utc(1, 10, 10), utc(1, 11, 5)));
        assert_eq!(short.rest, [Range::new(utc(1, 10, 10), utc(1, 11, 5))]);
        assert!(short.days.is_empty() && short.hours.is_empty());
        assert_eq!(
            Cover::of(chrono_tz::UTC, Range::new(utc(2, 0, 0), utc(2, 0, 0))),
            Cover::default()
        );
        assert_eq!(hours_touched(&short.rest), [utc(1, 10, 0), utc(1, 11, 0)]);
    }

    #[test]
    fn days_follow_the_tenant_zone_across_a_clock_change() {
        // Berlin moves to summer time on 29 March 2026: that day is 23 h.
        let tz = chrono_tz::Europe::Berlin;
        let c = Cover::of(tz, Range::new(utc(28, 23, 0), utc(30, 22, 0)));
        assert_eq!(c.days, [utc(28, 23, 0), utc(29, 22, 0)]);
        assert!(c.hours.is_empty() && c.rest.is_empty());
        assert_eq!(day_of(tz, utc(29, 21, 59)), utc(28, 23, 0));
        let mut days = Days::default();
        for at in [utc(29, 21, 59), utc(29, 22, 0), utc(29, 21, 0)] {
            assert_eq!(days.of(tz, at), day_of(tz, at), "{at}");
        }
        // Kolkata's midnight is half past a UTC hour: half-hour slivers.
        let kolkata = chrono_tz::Asia::Kolkata;
        let c = Cover::of(kolkata, Range::new(utc(1, 18, 30), utc(3, 18, 30)));
        assert_eq!(c.days.len(), 2);
        let c = Cover::of(kolkata, Range::new(utc(1, 18, 0), utc(2, 20, 0)));
        assert_eq!(c.days, [utc(1, 18, 30)]);
        assert_eq!(
            c.rest,
            [
                Range::new(utc(1, 18, 0), utc(1, 18, 30)),
                Range::new(utc(2, 18, 30), utc(2, 19, 0))
            ]
        );
        assert_eq!(c.hours, [utc(2, 19, 0)]);
        let mut days = Days::default();
        for at in [utc(2, 18, 29), utc(2, 18, 30), utc(2, 18, 0)] {
            assert_eq!(days.of(kolkata, at), day_of(kolkata, at), "{at}");
        }
    }
}
