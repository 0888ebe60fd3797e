//! Reading what reports add up: aggregate rows for the whole days and
//! hours of a range, and per-ticket samples for the slivers at its edges
//! (or for all of it, when a report is computed exactly). Nothing here
//! keeps facts in memory.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;
use futures::TryStreamExt;
use sqlx::{PgPool, Postgres, QueryBuilder};
use switchboard_kpi::Range;

use crate::cells::{Cells, Measure, Measures};
use crate::codec::{Malformed, decode_samples};
use crate::packed::{add_cells, unpack};
use crate::period::{Cover, Grain, hours_touched};
use crate::query::Filter;
use crate::sample::{Dim, Part, Samples, key_of};

/// SQL instants are microseconds; ours may have nanoseconds. Row
/// selections widen by this and the exact test happens here.
pub(crate) const SLACK: TimeDelta = TimeDelta::milliseconds(1);

/// A report line: one dimension, all its keys or only some.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The dimension.
    pub dim: Dim,
    /// Only these keys; `None`: every key.
    pub keys: Option<BTreeSet<Option<String>>>,
}

impl Line {
    /// Every key of `dim`.
    pub fn all(dim: Dim) -> Self {
        Self { dim, keys: None }
    }

    pub(crate) fn wants(&self, key: Option<&str>) -> bool {
        self.keys
            .as_ref()
            .is_none_or(|keys| keys.contains(&key.map(str::to_owned)))
    }
}

/// A line's dimension and key.
pub type LineKey = (Dim, Option<String>);

/// Cells per line key.
pub type Totals = BTreeMap<LineKey, Cells>;

/// Where the numbers come from.
#[derive(Debug, Clone, Copy)]
pub enum Mode<'a> {
    /// Aggregate rows, samples only at the edges; histograms of these
    /// measures are read for the lines of these dimensions. The lines'
    /// keys are the only filter.
    Rows(&'a [Dim], Measures),
    /// Every sample of the range, of tickets passing the filter only;
    /// with `true` exact seconds are kept (short ranges), else buckets (so
    /// a long range costs bounded memory).
    Samples(&'a Filter, bool),
}

/// The totals of `lines` over each of `buckets` (sorted, disjoint).
pub async fn gather(
    pool: &PgPool,
    tenant: &str,
    zone: Tz,
    buckets: &[Range],
    lines: &[Line],
    mode: Mode<'_>,
) -> Result<Vec<Totals>, sqlx::Error> {
    let mut out = vec![Totals::new(); buckets.len()];
    let mut rest: Vec<(Range, usize)> = Vec::new();
    let filter = match mode {
        Mode::Rows(hist, measures) => {
            let mut at: HashMap<(Grain, DateTime<Utc>), usize> = HashMap::new();
            for (i, b) in buckets.iter().enumerate() {
                let cover = Cover::of(zone, *b);
                at.extend(cover.days.iter().map(|d| ((Grain::Day, *d), i)));
                at.extend(cover.hours.iter().map(|h| ((Grain::Hour, *h), i)));
                rest.extend(cover.rest.into_iter().map(|r| (r, i)));
            }
            let dims: Vec<i16> = lines.iter().map(|l| l.dim.code()).collect();
            let hist: Vec<i16> = hist.iter().map(|d| d.code()).collect();
            for grain in [Grain::Day, Grain::Hour] {
                let starts: Vec<DateTime<Utc>> = at
                    .keys()
                    .filter(|(g, _)| *g == grain)
                    .map(|(_, s)| *s)
                    .collect();
                if starts.is_empty() {
                    continue;
                }
                let mut rows = sqlx::query_as::<_, (i16, DateTime<Utc>, Vec<u8>, Vec<u8>)>(
                    "SELECT dim, start, nums, CASE WHEN dim = ANY($5) THEN hist ELSE ''::bytea END \
                     FROM aggregates WHERE tenant_id = $1 AND grain = $2 AND dim = ANY($3) AND start = ANY($4)",
                )
                .bind(tenant)
                .bind(grain.code())
                .bind(&dims)
                .bind(&starts)
                .bind(&hist)
                .fetch(pool);
                while let Some((dim, start, nums, hist)) = rows.try_next().await? {
                    let (Some(dim), Some(&i)) = (Dim::from_code(dim), at.get(&(grain, start)))
                    else {
                        continue;
                    };
                    let added = add_packed(&mut out[i], dim, lines, &nums, None)
                        .and_then(|()| add_packed(&mut out[i], dim, lines, &hist, Some(measures)));
                    if let Err(e) = added {
                        tracing::error!(error = %e, "aggregate row unreadable; skipped");
                    }
                }
            }
            None
        }
        Mode::Samples(filter, raw) => {
            rest.extend(buckets.iter().enumerate().map(|(i, b)| (*b, i)));
            Some((filter, raw))
        }
    };
    if rest.is_empty() {
        return Ok(out);
    }
    rest.sort_by_key(|(r, _)| r.from);
    let ranges: Vec<Range> = rest.iter().map(|(r, _)| *r).collect();
    let empty = Filter::default();
    let (filter, raw) = filter.unwrap_or((&empty, false));
    let query = by_hours(tenant, &hours_touched(&ranges), filter);
    each_sample(pool, query, |s| {
        let mut keys = Vec::new();
        if !filter.matches_dims(&s.dims) {
            return;
        }
        let mut parts: BTreeMap<usize, Part> = BTreeMap::new();
        for item in &s.items {
            let i = ranges.partition_point(|r| r.from <= item.at);
            if i > 0 && ranges[i - 1].contains(item.at) {
                let bucket = rest[i - 1].1;
                parts
                    .entry(bucket)
                    .or_insert_with(|| Part::new(raw))
                    .add(&item.what, 1);
            }
        }
        for (i, part) in parts {
            for line in lines {
                if line.dim == Dim::Replier {
                    for (agent, n) in &part.replies {
                        if line.wants(Some(agent)) {
                            let cells = out[i]
                                .entry((Dim::Replier, Some(agent.clone())))
                                .or_insert_with(|| Cells::new(raw));
                            cells.add(Measure::PublicReplies, 0, *n);
                        }
                    }
                    continue;
                }
                if part.cells.is_zero() {
                    continue;
                }
                s.dims.ticket_keys(line.dim, &mut keys);
                for key in keys.iter().filter(|k| line.wants(**k)) {
                    out[i]
                        .entry((line.dim, key.map(str::to_owned)))
                        .or_insert_with(|| Cells::new(raw))
                        .merge(&part.cells, 1);
                }
            }
        }
    })
    .await?;
    Ok(out)
}

/// Adds the keys of a packed row of `dim` that `lines` want to `totals`:
/// its numbers, or with `hist` its histograms of those measures.
fn add_packed(
    totals: &mut Totals,
    dim: Dim,
    lines: &[Line],
    blob: &[u8],
    hist: Option<Measures>,
) -> Result<(), Malformed> {
    for (key, part) in unpack(blob)? {
        let key = key_of(&key);
        if !lines
            .iter()
            .any(|l| l.dim == dim && l.wants(key.as_deref()))
        {
            continue;
        }
        let cells = totals.entry((dim, key)).or_default();
        match hist {
            Some(measures) => add_cells(cells, &[], part, 1, measures)?,
            None => add_cells(cells, part, &[], 1, Measures::NONE)?,
        }
    }
    Ok(())
}

/// Selects the samples of every ticket with some in `hours` (and passing
/// `filter` by its columns).
pub(crate) fn by_hours(
    tenant: &str,
    hours: &[DateTime<Utc>],
    filter: &Filter,
) -> QueryBuilder<'static, Postgres> {
    let mut q = QueryBuilder::new(
        "SELECT f.samples FROM ticket_facts f WHERE f.samples IS NOT NULL AND f.tenant_id = ",
    );
    q.push_bind(tenant.to_owned());
    q.push(" AND f.ticket_id IN (SELECT h.ticket_id FROM fact_hours h WHERE h.tenant_id = ");
    q.push_bind(tenant.to_owned());
    q.push(" AND h.hour = ANY(");
    q.push_bind(hours.to_vec());
    q.push("))");
    push_filter(&mut q, filter);
    q
}

/// Runs `q`, which selects one `samples` column, and hands each decoded
/// row to `each` as it arrives.
pub(crate) async fn each_sample(
    pool: &PgPool,
    mut q: QueryBuilder<'static, Postgres>,
    mut each: impl FnMut(Samples),
) -> Result<(), sqlx::Error> {
    let mut rows = q.build_query_scalar::<Vec<u8>>().fetch(pool);
    while let Some(bytes) = rows.try_next().await? {
        match decode_samples(&bytes) {
            Ok(s) => each(s),
            Err(e) => tracing::error!(error = %e, "stored samples unreadable; skipped"),
        }
    }
    Ok(())
}

/// Narrows a query over `ticket_facts f` to tickets passing `filter` by
/// their current values (the same test as [`Filter::matches`]).
pub fn push_filter(q: &mut QueryBuilder<'static, Postgres>, filter: &Filter) {
    let names = |v: Vec<&'static str>| v.into_iter().map(str::to_owned).collect::<Vec<_>>();
    if !filter.channels.is_empty() {
        q.push(" AND f.channel = ANY(");
        q.push_bind(names(filter.channels.iter().map(|c| c.as_str()).collect()));
        q.push(")");
    }
    if !filter.priorities.is_empty() {
        q.push(" AND f.priority = ANY(");
        q.push_bind(names(
            filter.priorities.iter().map(|p| p.as_str()).collect(),
        ));
        q.push(")");
    }
    for (column, values) in [
        ("f.group_id", &filter.groups),
        ("f.assignee", &filter.assignees),
    ] {
        if values.is_empty() {
            continue;
        }
        let some: Vec<String> = values.iter().flatten().cloned().collect();
        q.push(format_args!(" AND ({column} = ANY("));
        q.push_bind(some);
        q.push(")");
        if values.contains(&None) {
            q.push(format_args!(" OR {column} IS NULL"));
        }
        q.push(")");
    }
    if !filter.tags.is_empty() {
        q.push(" AND f.tags && ");
        q.push_bind(filter.tags.iter().cloned().collect::<Vec<_>>());
    }
}
