//! Backlog levels at instants: the sum of every ticket's backlog steps
//! before each instant, from the day and hour rows up to its last whole
//! hour and the samples after it, or, for a filter the rows cannot
//! answer, from every ticket that can be in the backlog then.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use futures::TryStreamExt;
use sqlx::{PgPool, QueryBuilder};
use switchboard_kpi::Range;

use crate::cells::Measure;
use crate::packed::{count_in, unpack};
use crate::period::{Cover, Grain, day_of, hours_touched};
use crate::query::Filter;
use crate::read::{Line, LineKey, SLACK, by_hours, each_sample, push_filter};
use crate::sample::{Dim, Samples, What, key_of};

/// Backlog levels per line at each of `instants`: from rows and the
/// samples after the last whole hour when `exact` is `None` (the lines'
/// keys are the only filter), else exactly from every ticket that can be
/// in the backlog then and passes the filter.
pub async fn levels(
    pool: &PgPool,
    tenant: &str,
    zone: Tz,
    instants: &[DateTime<Utc>],
    lines: &[Line],
    exact: Option<&Filter>,
) -> Result<Vec<BTreeMap<LineKey, i64>>, sqlx::Error> {
    let mut out = vec![BTreeMap::<LineKey, i64>::new(); instants.len()];
    let (Some(first), Some(last)) = (instants.iter().min(), instants.iter().max()) else {
        return Ok(out);
    };
    let add_ticket = |s: &Samples, rests: &[(Range, usize)], out: &mut [BTreeMap<LineKey, i64>]| {
        let mut keys = Vec::new();
        for (range, i) in rests {
            let level: i64 = s
                .items
                .iter()
                .filter(|item| range.contains(item.at))
                .map(|item| match item.what {
                    What::Backlog(step) => i64::from(step),
                    _ => 0,
                })
                .sum();
            if level == 0 {
                continue;
            }
            for line in lines {
                s.dims.ticket_keys(line.dim, &mut keys);
                for key in keys.iter().filter(|k| line.wants(**k)) {
                    *out[*i]
                        .entry((line.dim, key.map(str::to_owned)))
                        .or_default() += level;
                }
            }
        }
    };
    if let Some(filter) = exact {
        // In the backlog at t: created before t, and unsolved now or last
        // changed at or after t (a ticket solved for good before t is not).
        let mut q = QueryBuilder::new(
            "SELECT f.samples FROM ticket_facts f WHERE f.samples IS NOT NULL AND f.tenant_id = ",
        );
        q.push_bind(tenant.to_owned());
        q.push(" AND f.created_at < ");
        q.push_bind(*last + SLACK);
        q.push(" AND (f.unsolved OR f.as_of >= ");
        q.push_bind(*first - SLACK);
        q.push(")");
        push_filter(&mut q, filter);
        let everything: Vec<(Range, usize)> = instants
            .iter()
            .enumerate()
            .map(|(i, t)| (Range::new(DateTime::<Utc>::MIN_UTC, *t), i))
            .collect();
        each_sample(pool, q, |s| {
            if filter.matches_dims(&s.dims) {
                add_ticket(&s, &everything, &mut out);
            }
        })
        .await?;
        return Ok(out);
    }
    // Whole days before each instant's day, then its whole hours, then the
    // samples of its last, partial hour.
    let days: Vec<DateTime<Utc>> = instants.iter().map(|t| day_of(zone, *t)).collect();
    let dims: Vec<i16> = lines.iter().map(|l| l.dim.code()).collect();
    let until = days.iter().max().copied().unwrap_or(*last);
    let mut rows = sqlx::query_as::<_, (i16, DateTime<Utc>, Vec<u8>)>(
        "SELECT dim, start, nums FROM aggregates \
         WHERE tenant_id = $1 AND grain = $2 AND dim = ANY($3) AND start < $4",
    )
    .bind(tenant)
    .bind(Grain::Day.code())
    .bind(&dims)
    .bind(until)
    .fetch(pool);
    let mut hour_of_instants: HashMap<DateTime<Utc>, Vec<usize>> = HashMap::new();
    let mut rests = Vec::new();
    for (i, (t, d)) in instants.iter().zip(&days).enumerate() {
        let cover = Cover::hours_only(Range::new(*d, *t));
        for h in cover.hours {
            hour_of_instants.entry(h).or_default().push(i);
        }
        rests.extend(cover.rest.into_iter().map(|r| (r, i)));
    }
    while let Some((dim, start, nums)) = rows.try_next().await? {
        for (key, n) in backlog_steps(dim, lines, &nums) {
            for (i, d) in days.iter().enumerate() {
                if start < *d {
                    *out[i].entry(key.clone()).or_default() += n;
                }
            }
        }
    }
    drop(rows);
    let hours: Vec<DateTime<Utc>> = hour_of_instants.keys().copied().collect();
    let mut rows = sqlx::query_as::<_, (i16, DateTime<Utc>, Vec<u8>)>(
        "SELECT dim, start, nums FROM aggregates \
         WHERE tenant_id = $1 AND grain = $2 AND dim = ANY($3) AND start = ANY($4)",
    )
    .bind(tenant)
    .bind(Grain::Hour.code())
    .bind(&dims)
    .bind(&hours)
    .fetch(pool);
    while let Some((dim, start, nums)) = rows.try_next().await? {
        for (key, n) in backlog_steps(dim, lines, &nums) {
            for i in hour_of_instants.get(&start).into_iter().flatten() {
                *out[*i].entry(key.clone()).or_default() += n;
            }
        }
    }
    drop(rows);
    if !rests.is_empty() {
        let ranges: Vec<Range> = rests.iter().map(|(r, _)| *r).collect();
        let q = by_hours(tenant, &hours_touched(&ranges), &Filter::default());
        each_sample(pool, q, |s| add_ticket(&s, &rests, &mut out)).await?;
    }
    Ok(out)
}

/// The net backlog steps per wanted key of a packed row of `dim`.
fn backlog_steps(dim: i16, lines: &[Line], nums: &[u8]) -> Vec<(LineKey, i64)> {
    let Some(dim) = Dim::from_code(dim) else {
        return Vec::new();
    };
    let parts = match unpack(nums) {
        Ok(parts) => parts,
        Err(e) => {
            tracing::error!(error = %e, "aggregate row unreadable; skipped");
            return Vec::new();
        }
    };
    parts
        .into_iter()
        .filter_map(|(key, part)| {
            let key = key_of(&key);
            lines
                .iter()
                .any(|l| l.dim == dim && l.wants(key.as_deref()))
                .then(|| ((dim, key), count_in(part, Measure::Backlog).unwrap_or(0)))
        })
        .collect()
}
