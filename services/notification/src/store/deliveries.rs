//! Email and webhook deliveries: queued by the consumer, claimed and
//! finished by the dispatcher, listed and redelivered through the API.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{DISPATCH_CHANNEL, PgStore, StoreError};

/// A delivery to queue.
#[derive(Debug, Clone)]
pub struct NewDelivery<'a> {
    /// The notification it delivers.
    pub notification_id: Uuid,
    /// Tenant.
    pub tenant: &'a str,
    /// `email` or `webhook`.
    pub channel: &'a str,
    /// The subscription, for webhooks.
    pub webhook_id: Option<Uuid>,
    /// Causing event.
    pub event_id: Uuid,
    /// Its type.
    pub event_type: &'a str,
    /// Email address or URL.
    pub target: &'a str,
    /// `tickets/{id}` or empty.
    pub ticket: &'a str,
    /// The rendered email or the webhook body.
    pub payload: serde_json::Value,
    /// Attempts before dead-lettering.
    pub max_attempts: i32,
    /// First attempt (later inside quiet hours).
    pub not_before: DateTime<Utc>,
}

/// Queues `d`; the caller wakes the dispatchers (once per transaction,
/// see [`wake_dispatchers`]).
pub async fn insert_delivery(
    conn: &mut PgConnection,
    d: &NewDelivery<'_>,
) -> Result<Uuid, sqlx::Error> {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO deliveries (id, notification_id, tenant_id, channel, webhook_id, event_id, \
           event_type, target, ticket, payload, max_attempts, next_attempt_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(id)
    .bind(d.notification_id)
    .bind(d.tenant)
    .bind(d.channel)
    .bind(d.webhook_id)
    .bind(d.event_id)
    .bind(d.event_type)
    .bind(d.target)
    .bind(d.ticket)
    .bind(&d.payload)
    .bind(d.max_attempts)
    .bind(d.not_before)
    .execute(&mut *conn)
    .await?;
    Ok(id)
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

    /// Records an attempt's outcome on `delivery`, through `conn` (the
    /// transaction that also writes the resulting event).
    pub async fn finish(
        conn: &mut PgConnection,
        delivery: Uuid,
        outcome: &Outcome,
    ) -> Result<(), sqlx::Error> {
        let (status, error, code, next): (&str, &str, i32, Option<DateTime<Utc>>) = match outcome {
            Outcome::Delivered { status } => ("delivered", "", *status, None),
            Outcome::Retry { error, status, at } => ("pending", error, *status, Some(*at)),
            Outcome::Dead { error, status } => ("dead", error, *status, None),
        };
        sqlx::query(
            "UPDATE deliveries SET status = $2, attempts = attempts + 1, last_error = $3, \
               last_status = $4, next_attempt_at = COALESCE($5, next_attempt_at), \
               delivered_at = CASE WHEN $2 = 'delivered' THEN now() ELSE delivered_at END \
             WHERE id = $1",
        )
        .bind(delivery)
        .bind(status)
        .bind(error)
        .bind(code)
        .bind(next)
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
