//! Email and webhook deliveries: queued by the consumer, claimed and
//! finished by the dispatcher, listed and redelivered through the API.

use std::{collections::HashSet, time::Duration};

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use switchboard_events::{Envelope, outbox::OutboxRow};
use uuid::Uuid;

use super::{DISPATCH_CHANNEL, PgStore, StoreError};

mod queue;

pub use queue::{NewDelivery, queue_deliveries, wake_dispatchers};

/// A delivery as listed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeliveryRow {
    /// Delivery id.
    pub id: Uuid,
    /// Subscription, for webhooks.
    pub webhook_id: Option<Uuid>,
    /// Causing event.
    pub event_id: Uuid,
    /// Its type.
    pub event_type: String,
    /// `pending`, `delivered` or `dead`.
    pub status: String,
    /// Attempts so far.
    pub attempts: i32,
    /// Next attempt.
    pub next_attempt_at: DateTime<Utc>,
    /// Last failure.
    pub last_error: String,
    /// Last HTTP status.
    pub last_status: i32,
    /// Queued.
    pub created_at: DateTime<Utc>,
    /// Delivered.
    pub delivered_at: Option<DateTime<Utc>>,
}

const ROW: &str = "id, webhook_id, event_id, event_type, status, attempts, next_attempt_at, \
                   last_error, last_status, created_at, delivered_at";

/// A delivery claimed for one attempt.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Claimed {
    /// Delivery id.
    pub id: Uuid,
    /// Tenant.
    pub tenant_id: String,
    /// `email` or `webhook`.
    pub channel: String,
    /// Subscription.
    pub webhook_id: Option<Uuid>,
    /// Causing event.
    pub event_id: Uuid,
    /// Its type.
    pub event_type: String,
    /// Email address (webhooks use the subscription's current URL).
    pub target: String,
    /// `tickets/{id}` or empty.
    pub ticket: String,
    /// Rendered email or webhook body, as JSON text: a webhook's is sent as
    /// it is.
    pub payload: String,
    /// Attempts before this one.
    pub attempts: i32,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// The subscription's URL now.
    pub url: Option<String>,
    /// The subscription's secret now.
    pub secret: Option<String>,
    /// The end of this claim's lease as stored: the claim's token, which
    /// recording the outcome (or releasing the claim) checks, so a claim
    /// that lost its lease to another dispatcher changes nothing.
    pub leased_until: DateTime<Utc>,
    /// The causing event's W3C `traceparent`: the attempt runs in its trace.
    pub traceparent: Option<String>,
    /// Its `tracestate`.
    pub tracestate: Option<String>,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted.
    Delivered {
        /// HTTP status, 0 for email.
        status: i32,
    },
    /// Failed; try again at `at`.
    Retry {
        /// Why.
        error: String,
        /// HTTP status, 0 when none.
        status: i32,
        /// Next attempt.
        at: DateTime<Utc>,
    },
    /// Failed for good.
    Dead {
        /// Why.
        error: String,
        /// HTTP status, 0 when none.
        status: i32,
    },
}

impl PgStore {
    /// Claims up to `limit` due deliveries, oldest first, for one attempt
    /// each: they are pushed `lease` into the future, so a dispatcher that
    /// dies mid-send leaves them to be retried, and no other dispatcher
    /// takes them meanwhile.
    pub async fn claim_due(&self, limit: i64, lease: Duration) -> Result<Vec<Claimed>, StoreError> {
        let lease_ms = lease.as_millis() as i64;
        let mut tx = self.pool.begin().await?;
        // The due rows must be read in `deliveries_due` order, the scan
        // stopping at `limit`. Left to the statistics, a table that grew
        // since its last analyze (a new one, or a backlog after an outage:
        // when claims matter most) is estimated to hold a few due rows, and
        // the planner reads every due row with a bitmap scan and sorts them
        // all, on every claim: 12 ms to claim 64 of 5,000 due, against 2 ms.
        sqlx::query(
            "SELECT set_config('enable_bitmapscan', 'off', true), \
               set_config('enable_seqscan', 'off', true)",
        )
        .execute(&mut *tx)
        .await?;
        let claimed = sqlx::query_as(
            "WITH due AS ( \
               SELECT id FROM deliveries WHERE status = 'pending' AND next_attempt_at <= now() \
               ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED), \
             claimed AS ( \
               UPDATE deliveries d \
               SET next_attempt_at = now() + make_interval(secs => $2::double precision / 1000) \
               FROM due WHERE d.id = due.id RETURNING d.*) \
             SELECT c.id, c.tenant_id, c.channel, c.webhook_id, c.event_id, c.event_type, c.target, \
               c.ticket, c.payload::text AS payload, c.attempts, c.max_attempts, w.url, w.secret, \
               c.next_attempt_at AS leased_until, c.traceparent, c.tracestate \
             FROM claimed c LEFT JOIN webhooks w ON w.id = c.webhook_id",
        )
        .bind(limit)
        .bind(lease_ms)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(claimed)
    }

    /// Makes claimed deliveries due again at once, each only while its
    /// claim still holds (`leased_until` unchanged), and wakes the
    /// dispatchers: what a stopping dispatcher claimed but never started
    /// goes to another one without waiting out its lease.
    pub async fn release(&self, claims: &[(Uuid, DateTime<Utc>)]) -> Result<(), StoreError> {
        if claims.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "WITH released AS ( \
               UPDATE deliveries d SET next_attempt_at = now() \
               FROM unnest($1::uuid[], $2::timestamptz[]) AS l(id, leased_until) \
               WHERE d.id = l.id AND d.status = 'pending' AND d.next_attempt_at = l.leased_until \
               RETURNING 1) \
             SELECT pg_notify($3, '') WHERE EXISTS (SELECT 1 FROM released)",
        )
        .bind(claims.iter().map(|(id, _)| *id).collect::<Vec<_>>())
        .bind(claims.iter().map(|(_, at)| *at).collect::<Vec<_>>())
        .bind(DISPATCH_CHANNEL)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records attempts' outcomes on their deliveries in one statement,
    /// through `conn` (the transaction that also writes the resulting
    /// events); each is keyed by its claim's `leased_until` and recorded
    /// only while that claim holds. Returns the deliveries it recorded: an
    /// outcome whose delivery was claimed again since (its lease ran out)
    /// or redelivered is left out, and must not be announced.
    pub async fn finish(
        conn: &mut PgConnection,
        outcomes: &[(Uuid, DateTime<Utc>, &Outcome)],
    ) -> Result<HashSet<Uuid>, sqlx::Error> {
        if outcomes.is_empty() {
            return Ok(HashSet::new());
        }
        let n = outcomes.len();
        let (mut ids, mut leases, mut statuses, mut errors, mut codes, mut nexts) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for (id, leased_until, outcome) in outcomes {
            let (status, error, code, next): (&str, &str, i32, Option<DateTime<Utc>>) =
                match outcome {
                    Outcome::Delivered { status } => ("delivered", "", *status, None),
                    Outcome::Retry { error, status, at } => ("pending", error, *status, Some(*at)),
                    Outcome::Dead { error, status } => ("dead", error, *status, None),
                };
            ids.push(*id);
            leases.push(*leased_until);
            statuses.push(status);
            errors.push(error);
            codes.push(code);
            nexts.push(next);
        }
        let recorded: Vec<Uuid> = sqlx::query_scalar(
            "UPDATE deliveries d SET status = o.status, attempts = d.attempts + 1, \
               last_error = o.error, last_status = o.code, \
               next_attempt_at = COALESCE(o.next, d.next_attempt_at), \
               delivered_at = CASE WHEN o.status = 'delivered' THEN now() ELSE d.delivered_at END \
             FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::int4[], \
               $6::timestamptz[]) AS o(id, leased_until, status, error, code, next) \
             WHERE d.id = o.id AND d.status = 'pending' AND d.next_attempt_at = o.leased_until \
             RETURNING d.id",
        )
        .bind(ids)
        .bind(leases)
        .bind(statuses)
        .bind(errors)
        .bind(codes)
        .bind(nexts)
        .fetch_all(conn)
        .await?;
        Ok(recorded.into_iter().collect())
    }

    /// A webhook's deliveries older than `before` (an id), newest first.
    pub async fn list_deliveries(
        &self,
        tenant: &str,
        webhook: Uuid,
        status: Option<&str>,
        before: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<DeliveryRow>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {ROW} FROM deliveries WHERE tenant_id = $1 AND webhook_id = $2 \
               AND ($3::text IS NULL OR status = $3) AND ($4::uuid IS NULL OR id < $4) \
             ORDER BY id DESC LIMIT $5"
        ))
        .bind(tenant)
        .bind(webhook)
        .bind(status)
        .bind(before)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Queues a delivery again, now, with `extra_attempts` more attempts.
    pub async fn redeliver(
        &self,
        tenant: &str,
        webhook: Uuid,
        delivery: Uuid,
        extra_attempts: i32,
    ) -> Result<DeliveryRow, StoreError> {
        let mut tx = self.pool.begin().await?;
        let row: Option<DeliveryRow> = sqlx::query_as(&format!(
            "UPDATE deliveries SET status = 'pending', next_attempt_at = now(), \
               max_attempts = attempts + $4 \
             WHERE tenant_id = $1 AND webhook_id = $2 AND id = $3 RETURNING {ROW}"
        ))
        .bind(tenant)
        .bind(webhook)
        .bind(delivery)
        .bind(extra_attempts)
        .fetch_optional(&mut *tx)
        .await?;
        let row = row.ok_or(StoreError::NotFound)?;
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(DISPATCH_CHANNEL)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(row)
    }
}

/// Appends `events` to the outbox in one statement, through `conn` (the
/// transaction that records the outcomes they announce); `unnest` keeps
/// their order, which becomes the relay's.
pub async fn announce(conn: &mut PgConnection, events: &[Envelope]) -> Result<(), sqlx::Error> {
    if events.is_empty() {
        return Ok(());
    }
    let rows = events
        .iter()
        .map(OutboxRow::new)
        .collect::<Result<Vec<_>, _>>()?;
    sqlx::query(&format!(
        "INSERT INTO outbox ({}) SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], \
           $4::int8[], $5::bytea[], $6::text[], $7::text[])",
        OutboxRow::COLUMNS
    ))
    .bind(rows.iter().map(|r| r.event_id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.subject.as_str()).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| r.aggregate_id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| r.aggregate_version).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| r.payload.as_slice())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| r.traceparent.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| r.tracestate.as_deref())
            .collect::<Vec<_>>(),
    )
    .execute(conn)
    .await?;
    Ok(())
}
