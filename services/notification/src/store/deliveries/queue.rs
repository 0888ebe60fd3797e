//! The consumer's side of deliveries: queueing them, some already claimed
//! for this replica's dispatcher, and waking the dispatchers.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{Claimed, DISPATCH_CHANNEL};
use crate::handoff::{Handed, Handoff, Reserved};

/// A delivery to queue.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    /// The notification it delivers.
    pub notification_id: Uuid,
    /// Tenant.
    pub tenant: String,
    /// `email` or `webhook`.
    pub channel: &'static str,
    /// The subscription, for webhooks.
    pub webhook_id: Option<Uuid>,
    /// Causing event.
    pub event_id: Uuid,
    /// Its type.
    pub event_type: String,
    /// Email address or URL.
    pub target: String,
    /// `tickets/{id}` or empty.
    pub ticket: String,
    /// The rendered email or the webhook body, as JSON text: stored as it
    /// is, and sent as it is when handed over.
    pub payload: String,
    /// Attempts before dead-lettering.
    pub max_attempts: i32,
    /// First attempt (later inside quiet hours).
    pub not_before: DateTime<Utc>,
    /// The causing event's W3C `traceparent`, which every attempt continues.
    pub traceparent: Option<String>,
    /// Its `tracestate`.
    pub tracestate: Option<String>,
}

/// Queues `rows` in one statement, through the consumer's transaction
/// `conn`. Those due at once that `handoff` has room for are queued
/// claimed, for this replica's dispatcher: hand the result to it once
/// `conn` commits. The others wake every replica's dispatcher at commit.
pub async fn queue_deliveries(
    conn: &mut PgConnection,
    mut rows: Vec<NewDelivery>,
    handoff: Option<&Handoff>,
) -> Result<Handed, sqlx::Error> {
    if rows.is_empty() {
        return Ok(Handed::default());
    }
    let now = Utc::now();
    let due = rows.iter().filter(|d| d.not_before <= now).count();
    let mut reserved = handoff.and_then(|h| h.reserve(due));
    let mut room = reserved.as_ref().map_or(0, Reserved::len);
    let claimed: Vec<bool> = rows
        .iter()
        .map(|d| {
            let claim = room > 0 && d.not_before <= now;
            room -= usize::from(claim);
            claim
        })
        .collect();
    let lease_ms = reserved.as_ref().map_or(0, |r| r.lease.as_millis() as i64);
    let ids: Vec<Uuid> = rows.iter().map(|_| Uuid::now_v7()).collect();
    let mut payloads: Vec<String> = rows
        .iter_mut()
        .map(|d| std::mem::take(&mut d.payload))
        .collect();
    let column = |f: fn(&NewDelivery) -> &str| rows.iter().map(f).collect::<Vec<_>>();
    // `clock_timestamp()`: a lease counts from when it is written, after
    // the in-memory expiry was taken (not from the transaction's start).
    let queued: Vec<(Uuid, DateTime<Utc>)> = sqlx::query_as(
        "INSERT INTO deliveries (id, notification_id, tenant_id, channel, webhook_id, event_id, \
           event_type, target, ticket, payload, max_attempts, next_attempt_at, traceparent, \
           tracestate) \
         SELECT id, notification_id, tenant_id, channel, webhook_id, event_id, event_type, target, \
           ticket, payload::json, max_attempts, \
           CASE WHEN claimed THEN clock_timestamp() + make_interval(secs => $14::double precision / 1000) \
             ELSE not_before END, \
           traceparent, tracestate \
         FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::uuid[], $6::uuid[], \
           $7::text[], $8::text[], $9::text[], $10::text[], $11::int4[], $12::timestamptz[], \
           $13::bool[], $15::text[], $16::text[]) \
           AS r(id, notification_id, tenant_id, channel, webhook_id, event_id, event_type, target, \
             ticket, payload, max_attempts, not_before, claimed, traceparent, tracestate) \
         RETURNING id, next_attempt_at",
    )
    .bind(&ids)
    .bind(rows.iter().map(|d| d.notification_id).collect::<Vec<_>>())
    .bind(column(|d| &d.tenant))
    .bind(column(|d| d.channel))
    .bind(rows.iter().map(|d| d.webhook_id).collect::<Vec<_>>())
    .bind(rows.iter().map(|d| d.event_id).collect::<Vec<_>>())
    .bind(column(|d| &d.event_type))
    .bind(column(|d| &d.target))
    .bind(column(|d| &d.ticket))
    .bind(&payloads)
    .bind(rows.iter().map(|d| d.max_attempts).collect::<Vec<_>>())
    .bind(rows.iter().map(|d| d.not_before).collect::<Vec<_>>())
    .bind(&claimed)
    .bind(lease_ms)
    .bind(
        rows.iter()
            .map(|d| d.traceparent.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|d| d.tracestate.as_deref())
            .collect::<Vec<_>>(),
    )
    .fetch_all(&mut *conn)
    .await?;
    if claimed.iter().any(|c| !c) {
        wake_dispatchers(conn).await?;
    }
    let Some(reserved) = reserved.as_mut() else {
        return Ok(Handed::default());
    };
    let leases: HashMap<Uuid, DateTime<Utc>> = queued.into_iter().collect();
    let hooks: Vec<Uuid> = rows
        .iter()
        .zip(&claimed)
        .filter_map(|(d, c)| d.webhook_id.filter(|_| *c))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let secrets: HashMap<Uuid, String> = if hooks.is_empty() {
        HashMap::new()
    } else {
        sqlx::query_as::<_, (Uuid, String)>("SELECT id, secret FROM webhooks WHERE id = ANY($1)")
            .bind(&hooks)
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .collect()
    };
    let mut handed = Handed::default();
    for (((d, id), claim), payload) in rows
        .into_iter()
        .zip(ids)
        .zip(claimed)
        .zip(payloads.iter_mut())
    {
        let Some(leased_until) = leases.get(&id).copied().filter(|_| claim) else {
            continue;
        };
        let is_hook = d.webhook_id.is_some();
        let delivery = Claimed {
            id,
            secret: d.webhook_id.and_then(|w| secrets.get(&w).cloned()),
            url: is_hook.then(|| d.target.clone()),
            tenant_id: d.tenant,
            channel: d.channel.to_owned(),
            webhook_id: d.webhook_id,
            event_id: d.event_id,
            event_type: d.event_type,
            target: d.target,
            ticket: d.ticket,
            payload: std::mem::take(payload),
            attempts: 0,
            max_attempts: d.max_attempts,
            leased_until,
            traceparent: d.traceparent,
            tracestate: d.tracestate,
        };
        handed.0.extend(reserved.take(delivery));
    }
    Ok(handed)
}

/// Wakes every replica's dispatcher when `conn`'s transaction commits.
pub async fn wake_dispatchers(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(DISPATCH_CHANNEL)
        .execute(conn)
        .await?;
    Ok(())
}
