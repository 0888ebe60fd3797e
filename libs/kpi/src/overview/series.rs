//! Time series: a metric per hour, day or week of the tenant's wall clock.
//!
//! Buckets follow local time, so a day is 23 or 25 hours long when the
//! clocks change, and a week starts on Monday at local midnight. An hour
//! bucket starts where the local clock shows a full hour; the repeated hour
//! of an autumn night is two buckets with the same local label.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeDelta, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::metric::{Sample, Tally, sample};
use super::{GroupBy, Metric, Range, Value};
use crate::fact::TicketFact;

/// How wide each point of a series is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bucket {
    /// One local clock hour.
    Hour,
    /// One local calendar day, midnight to midnight.
    Day,
    /// Monday 00:00 to the next Monday 00:00, local time.
    Week,
}

/// One bucket's value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// The bucket's start (it may lie before the range's start).
    pub start: DateTime<Utc>,
    /// The bucket's end, exclusive (it may lie after the range's end).
    pub end: DateTime<Utc>,
    /// The metric over the part of the bucket inside the range; for
    /// [`Metric::Backlog`], the backlog at the earlier of the bucket's end
    /// and the range's end.
    pub value: Value,
}

/// One line of a chart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// The group-by key; `None` for the ungrouped series, or for the "no
    /// group" / "unassigned" / "untagged" line when grouped.
    pub key: Option<String>,
    /// Every bucket overlapping the range, in order, zeros included.
    pub points: Vec<Point>,
}

/// `metric` per `bucket` of time zone `tz` over `range`, as one series, or
/// one per key of `group_by` (only keys with samples, in key order).
pub fn series<'a>(
    facts: impl IntoIterator<Item = &'a TicketFact>,
    metric: Metric,
    bucket: Bucket,
    tz: Tz,
    range: Range,
    group_by: Option<GroupBy>,
) -> Vec<Series> {
    let bounds = boundaries(bucket, tz, range);
    let buckets = bounds.len().saturating_sub(1);
    let mut lines: BTreeMap<Option<String>, Vec<Tally>> = BTreeMap::new();
    if group_by.is_none() {
        lines.insert(None, Vec::new());
    }
    let keys = |fact: &TicketFact| group_by.map_or(vec![None], |g| g.keys(fact));
    let mut add = |key: Option<String>, index: usize, s: Sample| {
        let line = lines.entry(key).or_default();
        line.resize_with(buckets, Tally::default);
        line[index].add(s);
    };
    for fact in facts {
        if metric == Metric::Backlog {
            for i in 0..buckets {
                if fact.in_backlog_at(bounds[i + 1].min(range.to)) {
                    for key in keys(fact) {
                        add(key, i, Sample::One);
                    }
                }
            }
        } else if let Some((at, s)) = sample(fact, metric).filter(|(at, _)| range.contains(*at)) {
            let i = bounds.partition_point(|b| *b <= at).saturating_sub(1);
            for key in keys(fact) {
                add(key, i, s);
            }
        }
    }
    lines
        .into_iter()
        .map(|(key, mut tallies)| {
            tallies.resize_with(buckets, Tally::default);
            let points = tallies
                .iter()
                .enumerate()
                .map(|(i, t)| Point {
                    start: bounds[i],
                    end: bounds[i + 1],
                    value: t.value(metric),
                })
                .collect();
            Series { key, points }
        })
        .collect()
}

/// Bucket edges from the one holding `range.from` to the first at or after
/// `range.to`; empty for an empty range.
fn boundaries(bucket: Bucket, tz: Tz, range: Range) -> Vec<DateTime<Utc>> {
    if range.to <= range.from {
        return Vec::new();
    }
    let mut edges = Vec::new();
    match bucket {
        Bucket::Hour => {
            let mut at = hour_start(tz, range.from);
            edges.push(at);
            while at < range.to {
                let next = hour_start(tz, at + TimeDelta::hours(1));
                // A zone shifting by a part of an hour could floor back onto
                // the same edge; time must still move on.
                at = if next > at {
                    next
                } else {
                    at + TimeDelta::hours(1)
                };
                edges.push(at);
            }
        }
        Bucket::Day | Bucket::Week => {
            let local = range.from.with_timezone(&tz).date_naive();
            let (mut date, step) = if bucket == Bucket::Day {
                (local, 1)
            } else {
                let back = local.weekday().num_days_from_monday();
                (local - TimeDelta::days(i64::from(back)), 7)
            };
            loop {
                let at = midnight(tz, date);
                // A day the zone skipped entirely adds no edge.
                if edges.last().is_none_or(|last| *last < at) {
                    edges.push(at);
                }
                if at >= range.to {
                    break;
                }
                date += TimeDelta::days(step);
            }
        }
    }
    edges
}

/// The latest instant at or before `at` where the local clock shows a full
/// hour.
fn hour_start(tz: Tz, at: DateTime<Utc>) -> DateTime<Utc> {
    let local = at.with_timezone(&tz);
    let into = i64::from(local.minute() * 60 + local.second());
    DateTime::from_timestamp(at.timestamp() - into, 0).unwrap_or(at)
}

/// When local `date` begins: the earlier midnight if it repeats, else the
/// first quarter hour after a gap that swallowed midnight.
fn midnight(tz: Tz, date: NaiveDate) -> DateTime<Utc> {
    let start = date.and_time(NaiveTime::MIN);
    // Real gaps are quarter-hour multiples of at most a day.
    (0..=4 * 48)
        .find_map(|q| {
            tz.from_local_datetime(&(start + TimeDelta::minutes(15 * q)))
                .earliest()
        })
        .map_or_else(|| start.and_utc(), |t| t.with_timezone(&Utc))
}
