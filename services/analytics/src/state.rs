//! The present state, from the fact columns and the latest samples: the
//! queue, agent load, agents active now; and the facts themselves for
//! export.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::{PgPool, QueryBuilder};
use switchboard_kpi::Range;

use crate::period::hours_touched;
use crate::query::Filter;
use crate::read::{SLACK, by_hours, each_sample, push_filter};
use crate::sample::What;

/// Agents with a public reply in the `window` before `now` (inclusive).
pub async fn active_agents(
    pool: &PgPool,
    tenant: &str,
    now: DateTime<Utc>,
    window: TimeDelta,
) -> Result<u64, sqlx::Error> {
    let hours = hours_touched(&[Range::new(now - window, now + TimeDelta::nanoseconds(1))]);
    let mut active = BTreeSet::new();
    each_sample(pool, by_hours(tenant, &hours, &Filter::default()), |s| {
        for item in s.items {
            if let What::Reply(agent) = item.what
                && item.at <= now
                && now - item.at <= window
            {
                active.insert(agent);
            }
        }
    })
    .await?;
    Ok(active.len() as u64)
}

/// Unsolved tickets per assignee, of those passing `filter`.
pub async fn load(
    pool: &PgPool,
    tenant: &str,
    filter: &Filter,
) -> Result<BTreeMap<String, u64>, sqlx::Error> {
    let mut q =
        QueryBuilder::new("SELECT f.assignee, count(*) FROM ticket_facts f WHERE f.tenant_id = ");
    q.push_bind(tenant.to_owned());
    q.push(" AND f.unsolved AND f.assignee IS NOT NULL");
    push_filter(&mut q, filter);
    q.push(" GROUP BY f.assignee");
    let rows: Vec<(String, i64)> = q.build_query_as().fetch_all(pool).await?;
    Ok(rows
        .into_iter()
        .map(|(a, n)| (a, u64::try_from(n).unwrap_or(0)))
        .collect())
}

/// The unsolved queue: size, unassigned, waiting on the desk, and the
/// creation of the oldest ticket still without a first reply. Merged
/// tickets are out of it.
pub async fn queue(
    pool: &PgPool,
    tenant: &str,
) -> Result<(u64, u64, u64, Option<DateTime<Utc>>), sqlx::Error> {
    let (size, unassigned, desk): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE assignee IS NULL), \
           count(*) FILTER (WHERE status <> 'pending') \
         FROM ticket_facts WHERE tenant_id = $1 AND unsolved AND NOT merged",
    )
    .bind(tenant)
    .fetch_one(pool)
    .await?;
    // The exact instant from the fact (the column holds microseconds).
    let oldest: Option<String> = sqlx::query_scalar(
        "SELECT fact->>'created_at' FROM ticket_facts \
         WHERE tenant_id = $1 AND unsolved AND NOT merged AND first_reply_at IS NULL \
         ORDER BY created_at LIMIT 1",
    )
    .bind(tenant)
    .fetch_optional(pool)
    .await?;
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    let oldest = oldest.and_then(|s| DateTime::parse_from_rfc3339(&s).ok().map(|t| t.to_utc()));
    Ok((n(size), n(unassigned), n(desk), oldest))
}

/// Up to `limit` facts created in `range` and passing `filter`, in
/// creation order after `after` (the last row of the previous page, as
/// stored), with each row's stored creation instant.
pub async fn export_page(
    pool: &PgPool,
    tenant: &str,
    range: Range,
    filter: &Filter,
    after: Option<(DateTime<Utc>, uuid::Uuid)>,
    limit: i64,
) -> Result<Vec<(DateTime<Utc>, uuid::Uuid, String)>, sqlx::Error> {
    let mut q = QueryBuilder::new(
        "SELECT f.created_at, f.ticket_id, f.fact::text FROM ticket_facts f WHERE f.tenant_id = ",
    );
    q.push_bind(tenant.to_owned());
    q.push(" AND f.created_at >= ");
    q.push_bind(range.from - SLACK);
    q.push(" AND f.created_at < ");
    q.push_bind(range.to + SLACK);
    if let Some((at, id)) = after {
        q.push(" AND (f.created_at, f.ticket_id) > (");
        q.push_bind(at);
        q.push(", ");
        q.push_bind(id);
        q.push(")");
    }
    push_filter(&mut q, filter);
    q.push(" ORDER BY f.created_at, f.ticket_id LIMIT ");
    q.push_bind(limit);
    q.build_query_as().fetch_all(pool).await
}

/// `tenant`'s business calendar.
pub async fn calendar(
    pool: &PgPool,
    tenant: &str,
) -> Result<switchboard_sla::Calendar, sqlx::Error> {
    let raw: Option<Option<Vec<u8>>> =
        sqlx::query_scalar("SELECT business_hours FROM tenants WHERE tenant_id = $1")
            .bind(tenant)
            .fetch_optional(pool)
            .await?;
    Ok(crate::decode_calendar(raw.flatten().as_deref()))
}
