//! Time series from aggregate rows and samples: the same buckets, lines
//! and values as `switchboard_kpi::overview::series` over the matching
//! facts (see [`crate::report`] for which source answers).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use switchboard_kpi::Range;
use switchboard_kpi::overview::{self as kpi, Bucket, GroupBy, Metric, Series, Value};

use crate::backlog::levels;
use crate::cells::{Cells, Measures};
use crate::query::Filter;
use crate::read::{Line, Mode, gather};
use crate::report::{Desk, EMPTY, Scope, dim_of, measure_of, scope, short};
use crate::sample::Dim;

/// A time series request.
#[derive(Debug, Clone)]
pub struct SeriesAsk {
    /// The metric.
    pub metric: Metric,
    /// Bucket width.
    pub bucket: Bucket,
    /// The zone buckets follow.
    pub tz: Tz,
    /// The range.
    pub range: Range,
    /// One line per key of this, or one line.
    pub group: Option<GroupBy>,
    /// Which tickets.
    pub filter: Filter,
}

/// `ask`'s series: the same buckets, lines and values as
/// `switchboard_kpi::overview::series` over the matching facts.
pub async fn series(d: Desk<'_>, ask: &SeriesAsk) -> Result<Vec<Series>, sqlx::Error> {
    let points = kpi::series(
        std::iter::empty(),
        ask.metric,
        ask.bucket,
        ask.tz,
        ask.range,
        None,
    )
    .pop()
    .map(|s| s.points)
    .unwrap_or_default();
    let group = ask.group.map(dim_of);
    // Rows answer when the filter's keys are the lines (or are summed
    // into the one line); otherwise each ticket is tested.
    let rows = match (scope(&ask.filter), group) {
        (Scope::All, g) => Some(Line::all(g.unwrap_or(Dim::All))),
        (Scope::Keys(line), None) => Some(line),
        // A tag filter grouped by tag still shows the tickets' other tags.
        (Scope::Keys(line), Some(g)) if line.dim == g && g != Dim::Tag => Some(line),
        _ => None,
    };
    let exact_lines = [Line::all(group.unwrap_or(Dim::All))];
    let per_bucket: Vec<BTreeMap<Option<String>, Value>> = match measure_of(ask.metric) {
        None => {
            let instants: Vec<DateTime<Utc>> =
                points.iter().map(|p| p.end.min(ask.range.to)).collect();
            let (lines, exact) = match &rows {
                Some(line) => (std::slice::from_ref(line), None),
                None => (&exact_lines[..], Some(&ask.filter)),
            };
            levels(d.pool, d.tenant, d.zone, &instants, lines, exact)
                .await?
                .into_iter()
                .map(|at| {
                    let mut by: BTreeMap<Option<String>, i64> = BTreeMap::new();
                    for ((_, key), n) in at {
                        *by.entry(if group.is_some() { key } else { None })
                            .or_default() += n;
                    }
                    by.into_iter()
                        .map(|(k, n)| (k, Value::Count(u64::try_from(n).unwrap_or(0))))
                        .collect()
                })
                .collect()
        }
        Some((m, kind)) => {
            let buckets: Vec<Range> = points
                .iter()
                .map(|p| Range::new(p.start.max(ask.range.from), p.end.min(ask.range.to)))
                .collect();
            let hist = [rows.as_ref().map_or(Dim::All, |l| l.dim)];
            let (lines, mode) = match &rows {
                Some(line) if !short(ask.range) => (
                    std::slice::from_ref(line),
                    Mode::Rows(&hist, Measures::only(m)),
                ),
                _ => (
                    &exact_lines[..],
                    Mode::Samples(&ask.filter, short(ask.range)),
                ),
            };
            gather(d.pool, d.tenant, d.zone, &buckets, lines, mode)
                .await?
                .into_iter()
                .map(|totals| {
                    let mut by: BTreeMap<Option<String>, Cells> = BTreeMap::new();
                    for ((_, key), cells) in totals {
                        let key = if group.is_some() { key } else { None };
                        by.entry(key)
                            .or_insert_with(|| Cells::new(cells.raw))
                            .merge(&cells, 1);
                    }
                    by.into_iter()
                        // Lines exist for keys with samples only.
                        .filter(|(_, c)| c.get(m).n > 0)
                        .map(|(k, c)| (k, c.value(m, kind)))
                        .collect()
                })
                .collect()
        }
    };
    let empty = match measure_of(ask.metric) {
        Some((m, kind)) => EMPTY.value(m, kind),
        None => Value::Count(0),
    };
    let mut keys: BTreeSet<Option<String>> = per_bucket
        .iter()
        .flat_map(|b| {
            b.iter()
                .filter(|(_, v)| **v != Value::Count(0))
                .map(|(k, _)| k.clone())
        })
        .collect();
    if group.is_none() {
        keys = [None].into();
    }
    Ok(keys
        .into_iter()
        .map(|key| Series {
            points: points
                .iter()
                .zip(&per_bucket)
                .map(|(p, values)| kpi::Point {
                    start: p.start,
                    end: p.end,
                    value: values.get(&key).copied().unwrap_or(empty),
                })
                .collect(),
            key,
        })
        .collect())
}
