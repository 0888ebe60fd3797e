//! Notifications: the idempotent insert and the in-app inbox queries.

use std::collections::{BTreeSet, HashSet};

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

/// One in-app notification of a tenant as its live reader sees it: the row
/// and whose it is, so each subscriber keeps only its own.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LiveRow {
    /// Whose inbox it is in (a user id or the supervisors' inbox).
    pub recipient: String,
    /// The notification.
    #[sqlx(flatten)]
    pub row: InboxRow,
}

/// A notification to record.
#[derive(Debug, Clone)]
pub struct NewNotification {
    /// Id, made by the caller so its deliveries can name it.
    pub id: Uuid,
    /// Tenant.
    pub tenant: String,
    /// Causing event.
    pub event_id: Uuid,
    /// Its type.
    pub event_type: String,
    /// Who hears it.
    pub recipient: String,
    /// How.
    pub channel: Channel,
    /// Title (in-app) or subject.
    pub title: String,
    /// Body (in-app) or text part.
    pub body: String,
    /// `tickets/{id}` or empty.
    pub ticket: String,
}

/// Records `rows` in one statement, except those whose (event, recipient,
/// channel) was recorded before (or earlier in `rows`); returns the ids of
/// the rows it recorded.
pub async fn insert_notifications(
    conn: &mut PgConnection,
    rows: &[NewNotification],
) -> Result<HashSet<Uuid>, sqlx::Error> {
    if rows.is_empty() {
        return Ok(HashSet::new());
    }
    let in_app = rows.iter().any(|n| n.channel == Channel::InApp);
    if in_app {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(INBOX_LOCK)
            .execute(&mut *conn)
            .await?;
    }
    let column = |f: fn(&NewNotification) -> &str| rows.iter().map(f).collect::<Vec<_>>();
    // `unnest` yields the rows in array order, so in-app `seq` follows the
    // order of the events in the batch.
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "INSERT INTO notifications (id, tenant_id, event_id, event_type, recipient, channel, title, body, ticket) \
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::text[], $6::text[], \
           $7::text[], $8::text[], $9::text[]) \
         ON CONFLICT (event_id, recipient, channel) DO NOTHING RETURNING id",
    )
    .bind(rows.iter().map(|n| n.id).collect::<Vec<_>>())
    .bind(column(|n| &n.tenant))
    .bind(rows.iter().map(|n| n.event_id).collect::<Vec<_>>())
    .bind(column(|n| &n.event_type))
    .bind(column(|n| &n.recipient))
    .bind(column(|n| n.channel.as_str()))
    .bind(column(|n| &n.title))
    .bind(column(|n| &n.body))
    .bind(column(|n| &n.ticket))
    .fetch_all(&mut *conn)
    .await?;
    let ids: HashSet<Uuid> = ids.into_iter().collect();
    let tenants: BTreeSet<&str> = rows
        .iter()
        .filter(|n| n.channel == Channel::InApp && ids.contains(&n.id))
        .map(|n| n.tenant.as_str())
        .collect();
    if !tenants.is_empty() {
        // Delivered to listeners at commit, and only if it commits; the
        // payload names the tenant, so only its subscribers' reader wakes.
        sqlx::query("SELECT pg_notify($1, t) FROM unnest($2::text[]) AS t")
            .bind(INBOX_CHANNEL)
            .bind(tenants.into_iter().collect::<Vec<_>>())
            .execute(&mut *conn)
            .await?;
    }
    Ok(ids)
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

    /// Every recipient's in-app notifications of `tenant` after `after`,
    /// oldest first: what the tenant's live reader hands its subscribers.
    pub async fn tenant_inbox_after(
        &self,
        tenant: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<LiveRow>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT recipient, {INBOX_COLUMNS} FROM notifications \
             WHERE tenant_id = $1 AND channel = 'in_app' AND seq > $2 \
             ORDER BY seq LIMIT $3"
        ))
        .bind(tenant)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The newest cursor of the whole inbox table (for live-only streams).
    ///
    /// Read under the in-app insert lock (shared): rows without in-app
    /// notifications take `seq`s without it, so the plain maximum could
    /// pass an in-app row still being written, which would then commit
    /// behind the cursor and never be seen.
    pub async fn latest_cursor(&self) -> Result<i64, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock_shared($1)")
            .bind(INBOX_LOCK)
            .execute(&mut *tx)
            .await?;
        let cursor = sqlx::query_scalar("SELECT COALESCE(max(seq), 0) FROM notifications")
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(cursor)
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
