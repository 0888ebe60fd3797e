//! Subject terms of created tickets, for top issues: written by the ingest
//! when a ticket's creation is first stored (so redelivery and replay count
//! each ticket once), read per range as whole UTC days and hours of
//! `term_volume` plus the tickets of `ticket_terms` in the slivers left.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use sqlx::{PgConnection, PgPool};
use switchboard_kpi::{Range, TicketEvent};
use uuid::Uuid;

use crate::convert::Mapped;
use crate::period::{Cover, Grain, day_of, hour_of};
use crate::read::SLACK;

/// Tickets created per term.
pub type TermCounts = BTreeMap<String, u64>;

/// Stores the terms of the tickets whose creation is among `fresh` (events
/// stored for the first time) and counts them per UTC hour and day; a
/// ticket whose terms were stored before counts nothing.
pub(crate) async fn record(tx: &mut PgConnection, fresh: &[&Mapped]) -> Result<(), sqlx::Error> {
    // By ticket: a batch holding two creations of one ticket stores the
    // first.
    let mut created: HashMap<(&str, Uuid), &Mapped> = HashMap::new();
    let (mut tenants, mut tickets, mut ats, mut lists) = (vec![], vec![], vec![], vec![]);
    for m in fresh {
        let creation = m
            .events
            .iter()
            .any(|e| matches!(e, TicketEvent::Created { .. }));
        if !creation || m.terms.is_empty() {
            continue;
        }
        let key = (m.tenant.as_str(), m.ticket);
        if created.contains_key(&key) {
            continue;
        }
        created.insert(key, m);
        tenants.push(m.tenant.as_str());
        tickets.push(m.ticket);
        ats.push(m.at);
        // A text array literal would need quoting; JSON arrays do not.
        lists.push(serde_json::to_string(&m.terms).unwrap_or_else(|_| "[]".into()));
    }
    if tickets.is_empty() {
        return Ok(());
    }
    let stored: Vec<(String, Uuid)> = sqlx::query_as(
        "INSERT INTO ticket_terms (tenant_id, ticket_id, created_at, terms) \
         SELECT t, k, a, ARRAY(SELECT jsonb_array_elements_text(j::jsonb)) \
         FROM UNNEST($1::text[], $2::uuid[], $3::timestamptz[], $4::text[]) AS u(t, k, a, j) \
         ON CONFLICT (tenant_id, ticket_id) DO NOTHING RETURNING tenant_id, ticket_id",
    )
    .bind(&tenants)
    .bind(&tickets)
    .bind(&ats)
    .bind(&lists)
    .fetch_all(&mut *tx)
    .await?;
    let mut counts: BTreeMap<(&str, i16, DateTime<Utc>, &str), i64> = BTreeMap::new();
    for (tenant, ticket) in &stored {
        let Some(m) = created.get(&(tenant.as_str(), *ticket)) else {
            continue;
        };
        for term in &m.terms {
            for (grain, start) in [
                (Grain::Hour, hour_of(m.at)),
                (Grain::Day, day_of(chrono_tz::UTC, m.at)),
            ] {
                *counts
                    .entry((&m.tenant, grain.code(), start, term))
                    .or_default() += 1;
            }
        }
    }
    let (mut tenants, mut grains, mut starts, mut terms, mut adds) =
        (vec![], vec![], vec![], vec![], vec![]);
    for ((tenant, grain, start, term), add) in counts {
        tenants.push(tenant);
        grains.push(grain);
        starts.push(start);
        terms.push(term);
        adds.push(add);
    }
    sqlx::query(
        "INSERT INTO term_volume (tenant_id, grain, start, term, count) \
         SELECT * FROM UNNEST($1::text[], $2::smallint[], $3::timestamptz[], $4::text[], $5::bigint[]) \
         ON CONFLICT (tenant_id, grain, start, term) DO UPDATE SET count = term_volume.count + EXCLUDED.count",
    )
    .bind(&tenants)
    .bind(&grains)
    .bind(&starts)
    .bind(&terms)
    .bind(&adds)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Replaces the terms of the tickets whose personal data was erased among
/// `fresh` by their erased subject's (see [`Mapped::reterm`]), moving
/// their counts with them; a ticket with no terms stored has none to move.
pub(crate) async fn reterm(tx: &mut PgConnection, fresh: &[&Mapped]) -> Result<(), sqlx::Error> {
    for m in fresh {
        let Some(new) = &m.reterm else { continue };
        let old: Option<(DateTime<Utc>, Vec<String>)> = sqlx::query_as(
            "SELECT created_at, terms FROM ticket_terms WHERE tenant_id = $1 AND ticket_id = $2 FOR UPDATE",
        )
        .bind(&m.tenant)
        .bind(m.ticket)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((at, old)) = old else { continue };
        if old == *new {
            continue;
        }
        for (terms, add) in [(&old, -1i64), (new, 1)] {
            for term in terms {
                for (grain, start) in [
                    (Grain::Hour, hour_of(at)),
                    (Grain::Day, day_of(chrono_tz::UTC, at)),
                ] {
                    sqlx::query(
                        "INSERT INTO term_volume (tenant_id, grain, start, term, count) \
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, grain, start, term) \
                         DO UPDATE SET count = term_volume.count + EXCLUDED.count",
                    )
                    .bind(&m.tenant)
                    .bind(grain.code())
                    .bind(start)
                    .bind(term)
                    .bind(add)
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        // A term no ticket has any more leaves no row behind.
        sqlx::query(
            "DELETE FROM term_volume WHERE tenant_id = $1 AND term = ANY($2) AND count <= 0",
        )
        .bind(&m.tenant)
        .bind(&old)
        .execute(&mut *tx)
        .await?;
        if new.is_empty() {
            sqlx::query("DELETE FROM ticket_terms WHERE tenant_id = $1 AND ticket_id = $2")
                .bind(&m.tenant)
                .bind(m.ticket)
                .execute(&mut *tx)
                .await?;
        } else {
            sqlx::query(
                "UPDATE ticket_terms SET terms = $3 WHERE tenant_id = $1 AND ticket_id = $2",
            )
            .bind(&m.tenant)
            .bind(m.ticket)
            .bind(new)
            .execute(&mut *tx)
            .await?;
        }
    }
    Ok(())
}

/// Tickets created in `range` per term, of `only` these terms if given.
pub async fn volume(
    pool: &PgPool,
    tenant: &str,
    range: Range,
    only: Option<&[String]>,
) -> Result<TermCounts, sqlx::Error> {
    let mut out = TermCounts::new();
    if only.is_some_and(<[String]>::is_empty) {
        return Ok(out);
    }
    let cover = Cover::of(chrono_tz::UTC, range);
    for (grain, starts) in [(Grain::Day, &cover.days), (Grain::Hour, &cover.hours)] {
        if starts.is_empty() {
            continue;
        }
        let mut rows = sqlx::query_as::<_, (String, i64)>(
            "SELECT term, sum(count)::bigint FROM term_volume \
             WHERE tenant_id = $1 AND grain = $2 AND start = ANY($3) \
               AND ($4::text[] IS NULL OR term = ANY($4)) GROUP BY term",
        )
        .bind(tenant)
        .bind(grain.code())
        .bind(starts)
        .bind(only)
        .fetch(pool);
        while let Some((term, n)) = rows.try_next().await? {
            *out.entry(term).or_default() += u64::try_from(n).unwrap_or(0);
        }
    }
    for sliver in &cover.rest {
        // Widened by the database's microseconds; the exact test is here.
        let mut rows = sqlx::query_as::<_, (DateTime<Utc>, Vec<String>)>(
            "SELECT created_at, terms FROM ticket_terms \
             WHERE tenant_id = $1 AND created_at >= $2 AND created_at < $3",
        )
        .bind(tenant)
        .bind(sliver.from - SLACK)
        .bind(sliver.to + SLACK)
        .fetch(pool);
        while let Some((at, terms)) = rows.try_next().await? {
            if !sliver.contains(at) {
                continue;
            }
            for term in terms {
                if only.is_none_or(|only| only.contains(&term)) {
                    *out.entry(term).or_default() += 1;
                }
            }
        }
    }
    Ok(out)
}
