//! Notifications: the idempotent insert and the in-app inbox queries.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{INBOX_CHANNEL, INBOX_LOCK, PgStore, StoreError};
use crate::domain::Channel;

/// One in-app notification as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InboxRow {
    /// Cursor.
    pub seq: i64,
    /// Id.
    pub id: Uuid,
    /// Causing event.
    pub event_id: Uuid,
    /// Its type.
    pub event_type: String,
    /// Title.
    pub title: String,
    /// Body.
    pub body: String,
    /// `tickets/{id}` or empty.
    pub ticket: String,
    /// When read.
    pub read_at: Option<DateTime<Utc>>,
    /// When made.
    pub created_at: DateTime<Utc>,
}

/// A notification to record.
#[derive(Debug, Clone)]
pub struct NewNotification<'a> {
    /// Tenant.
    pub tenant: &'a str,
    /// Causing event.
    pub event_id: Uuid,
    /// Its type.
    pub event_type: &'a str,
    /// Who hears it.
    pub recipient: &'a str,
    /// How.
    pub channel: Channel,
    /// Title (in-app) or subject.
    pub title: &'a str,
    /// Body (in-app) or text part.
    pub body: &'a str,
    /// `tickets/{id}` or empty.
    pub ticket: &'a str,
}

/// Records `n` unless this (event, recipient, channel) was recorded before;
/// returns the new id, or `None` for a duplicate.
pub async fn insert_notification(
    conn: &mut PgConnection,
    n: &NewNotification<'_>,
) -> Result<Option<Uuid>, sqlx::Error> {
    if n.channel == Channel::InApp {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(INBOX_LOCK)
            .execute(&mut *conn)
            .await?;
    }
    let id: Option<Uuid> = sqlx::query_scalar(
        "INSERT INTO notifications (id, tenant_id, event_id, event_type, recipient, channel, title, body, ticket) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (event_id, recipient, channel) DO NOTHING RETURNING id",
    )
    .bind(Uuid::now_v7())
    .bind(n.tenant)
    .bind(n.event_id)
    .bind(n.event_type)
    .bind(n.recipient)
    .bind(n.channel.as_str())
    .bind(n.title)
    .bind(n.body)
    .bind(n.ticket)
    .fetch_optional(&mut *conn)
    .await?;
    if id.is_some() && n.channel == Channel::InApp {
        // Delivered to listeners at commit, and only if it commits.
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(INBOX_CHANNEL)
            .execute(&mut *conn)
            .await?;
    }
    Ok(id)
}

const INBOX_COLUMNS: &str =
    "seq, id, event_id, event_type, title, body, ticket, read_at, created_at";

impl PgStore {
    /// `recipients`' in-app notifications older than `before` (a cursor),
    /// newest first.
    pub async fn list_inbox(
        &self,
        tenant: &str,
        recipients: &[String],
        before: Option<i64>,
        unread_only: bool,
        limit: i64,
    ) -> Result<Vec<InboxRow>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {INBOX_COLUMNS} FROM notifications \
             WHERE tenant_id = $1 AND recipient = ANY($2) AND channel = 'in_app' \
               AND seq < $3 AND (NOT $4 OR read_at IS NULL) \
             ORDER BY seq DESC LIMIT $5"
        ))
        .bind(tenant)
        .bind(recipients)
        .bind(before.unwrap_or(i64::MAX))
        .bind(unread_only)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// `recipients`' in-app notifications after `after`, oldest first.
    pub async fn inbox_after(
        &self,
        tenant: &str,
        recipients: &[String],
        after: i64,
        limit: i64,
    ) -> Result<Vec<InboxRow>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {INBOX_COLUMNS} FROM notifications \
             WHERE tenant_id = $1 AND recipient = ANY($2) AND channel = 'in_app' AND seq > $3 \
             ORDER BY seq LIMIT $4"
        ))
        .bind(tenant)
        .bind(recipients)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The newest cursor of the whole inbox table (for live-only streams).
    pub async fn latest_cursor(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COALESCE(max(seq), 0) FROM notifications")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// How many of `recipients`' in-app notifications are unread.
    pub async fn unread_count(
        &self,
        tenant: &str,
        recipients: &[String],
    ) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT count(*) FROM notifications \
             WHERE tenant_id = $1 AND recipient = ANY($2) AND channel = 'in_app' AND read_at IS NULL",
        )
        .bind(tenant)
        .bind(recipients)
        .fetch_one(&self.pool)
        .await?)
    }

    /// Marks `ids` (or, when `None`, all) of `recipients`' notifications read.
    pub async fn mark_read(
        &self,
        tenant: &str,
        recipients: &[String],
        ids: Option<&[Uuid]>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE notifications SET read_at = now() \
             WHERE tenant_id = $1 AND recipient = ANY($2) AND channel = 'in_app' AND read_at IS NULL \
               AND ($3::uuid[] IS NULL OR id = ANY($3))",
        )
        .bind(tenant)
        .bind(recipients)
        .bind(ids)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
