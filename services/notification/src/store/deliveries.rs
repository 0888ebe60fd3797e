//! Email and webhook deliveries: queued by the consumer, claimed and
//! finished by the dispatcher, listed and redelivered through the API.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use switchboard_events::{Envelope, outbox::OutboxRow};
use uuid::Uuid;

use super::{DISPATCH_CHANNEL, PgStore, StoreError};

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
    /// The rendered email or the webhook body.
    pub payload: serde_json::Value,
    /// Attempts before dead-lettering.
    pub max_attempts: i32,
    /// First attempt (later inside quiet hours).
    pub not_before: DateTime<Utc>,
}

/// Queues `rows` in one statement; the caller wakes the dispatchers (once
/// per transaction, see [`wake_dispatchers`]).
pub async fn insert_deliveries(
    conn: &mut PgConnection,
    rows: &[NewDelivery],
) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let column = |f: fn(&NewDelivery) -> &str| rows.iter().map(f).collect::<Vec<_>>();
    sqlx::query(
        "INSERT INTO deliveries (id, notification_id, tenant_id, channel, webhook_id, event_id, \
           event_type, target, ticket, payload, max_attempts, next_attempt_at) \
         SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::uuid[], $6::uuid[], \
           $7::text[], $8::text[], $9::text[], $10::jsonb[], $11::int4[], $12::timestamptz[])",
    )
    .bind(rows.iter().map(|_| Uuid::now_v7()).collect::<Vec<_>>())
    .bind(rows.iter().map(|d| d.notification_id).collect::<Vec<_>>())
    .bind(column(|d| &d.tenant))
    .bind(column(|d| d.channel))
    .bind(rows.iter().map(|d| d.webhook_id).collect::<Vec<_>>())
    .bind(rows.iter().map(|d| d.event_id).collect::<Vec<_>>())
    .bind(column(|d| &d.event_type))
    .bind(column(|d| &d.target))
    .bind(column(|d| &d.ticket))
    .bind(rows.iter().map(|d| &d.payload).collect::<Vec<_>>())
    .bind(rows.iter().map(|d| d.max_attempts).collect::<Vec<_>>())
    .bind(rows.iter().map(|d| d.not_before).collect::<Vec<_>>())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Wakes every replica's dispatcher when `conn`'s transaction commits.
pub async fn wake_dispatchers(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(DISPATCH_CHANNEL)
        .execute(conn)
        .await?;
    Ok(())
}

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
    /// Rendered email or webhook body.
    pub payload: serde_json::Value,
    /// Attempts before this one.
    pub attempts: i32,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// The subscription's URL now.
    pub url: Option<String>,
    /// The subscription's secret now.
    pub secret: Option<String>,
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
    /// Claims up to `limit` due deliveries for one attempt each: they are
    /// pushed `lease` into the future, so a dispatcher that dies mid-send
    /// leaves them to be retried, and no other dispatcher takes them meanwhile.
    pub async fn claim_due(&self, limit: i64, lease: Duration) -> Result<Vec<Claimed>, StoreError> {
        let lease_ms = lease.as_millis() as i64;
        Ok(sqlx::query_as(
            "WITH due AS ( \
               SELECT id FROM deliveries WHERE status = 'pending' AND next_attempt_at <= now() \
               ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED), \
             claimed AS ( \
               UPDATE deliveries d \
               SET next_attempt_at = now() + make_interval(secs => $2::double precision / 1000) \
               FROM due WHERE d.id = due.id RETURNING d.*) \
             SELECT c.id, c.tenant_id, c.channel, c.webhook_id, c.event_id, c.event_type, c.target, \
               c.ticket, c.payload, c.attempts, c.max_attempts, w.url, w.secret \
             FROM claimed c LEFT JOIN webhooks w ON w.id = c.webhook_id",
        )
        .bind(limit)
        .bind(lease_ms)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Records attempts' outcomes on their deliveries in one statement,
    /// through `conn` (the transaction that also writes the resulting events).
    pub async fn finish(
        conn: &mut PgConnection,
        outcomes: &[(Uuid, &Outcome)],
    ) -> Result<(), sqlx::Error> {
        if outcomes.is_empty() {
            return Ok(());
        }
        let n = outcomes.len();
        let (mut ids, mut statuses, mut errors, mut codes, mut nexts) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for (id, outcome) in outcomes {
            let (status, error, code, next): (&str, &str, i32, Option<DateTime<Utc>>) =
                match outcome {
                    Outcome::Delivered { status } => ("delivered", "", *status, None),
                    Outcome::Retry { error, status, at } => ("pending", error, *status, Some(*at)),
                    Outcome::Dead { error, status } => ("dead", error, *status, None),
                };
            ids.push(*id);
            statuses.push(status);
            errors.push(error);
            codes.push(code);
            nexts.push(next);
        }
        sqlx::query(
            "UPDATE deliveries d SET status = o.status, attempts = d.attempts + 1, \
               last_error = o.error, last_status = o.code, \
               next_attempt_at = COALESCE(o.next, d.next_attempt_at), \
               delivered_at = CASE WHEN o.status = 'delivered' THEN now() ELSE d.delivered_at END \
             FROM unnest($1::uuid[], $2::text[], $3::text[], $4::int4[], $5::timestamptz[]) \
               AS o(id, status, error, code, next) \
             WHERE d.id = o.id",
        )
        .bind(ids)
        .bind(statuses)
        .bind(errors)
        .bind(codes)
        .bind(nexts)
        .execute(conn)
        .await?;
        Ok(())
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
