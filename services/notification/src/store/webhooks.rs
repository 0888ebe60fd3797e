//! Webhook subscriptions.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{PgStore, StoreError};
use crate::domain::input::WebhookInput;

/// A subscription as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WebhookRow {
    /// Id.
    pub id: Uuid,
    /// Target URL.
    pub url: String,
    /// Event-type filters.
    pub event_types: Vec<String>,
    /// Signing key.
    pub secret: String,
    /// Receiving new deliveries.
    pub active: bool,
    /// Free text.
    pub description: String,
    /// Optimistic concurrency version.
    pub version: i64,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str =
    "id, url, event_types, secret, active, description, version, created_at, updated_at";

/// The active subscriptions of each of `tenants`, read in the consumer's
/// transaction with one query (a tenant without any has no entry).
pub async fn active_webhooks(
    conn: &mut PgConnection,
    tenants: &[&str],
) -> Result<HashMap<String, Vec<WebhookRow>>, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Owned {
        tenant_id: String,
        #[sqlx(flatten)]
        row: WebhookRow,
    }
    let rows: Vec<Owned> = sqlx::query_as(&format!(
        "SELECT tenant_id, {COLUMNS} FROM webhooks WHERE tenant_id = ANY($1) AND active ORDER BY id"
    ))
    .bind(tenants)
    .fetch_all(conn)
    .await?;
    let mut out: HashMap<String, Vec<WebhookRow>> = HashMap::new();
    for o in rows {
        out.entry(o.tenant_id).or_default().push(o.row);
    }
    Ok(out)
}

impl PgStore {
    /// Stores a new subscription.
    pub async fn create_webhook(
        &self,
        tenant: &str,
        w: &WebhookInput,
    ) -> Result<WebhookRow, StoreError> {
        Ok(sqlx::query_as(&format!(
            "INSERT INTO webhooks (id, tenant_id, url, event_types, secret, active, description) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
        ))
        .bind(Uuid::now_v7())
        .bind(tenant)
        .bind(&w.url)
        .bind(&w.event_types)
        .bind(&w.secret)
        .bind(w.active)
        .bind(&w.description)
        .fetch_one(&self.pool)
        .await?)
    }

    /// One subscription.
    pub async fn webhook(&self, tenant: &str, id: Uuid) -> Result<WebhookRow, StoreError> {
        sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM webhooks WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)
    }

    /// Subscriptions after `after` (an id), oldest first.
    pub async fn list_webhooks(
        &self,
        tenant: &str,
        after: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<WebhookRow>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM webhooks WHERE tenant_id = $1 AND ($2::uuid IS NULL OR id > $2) \
             ORDER BY id LIMIT $3"
        ))
        .bind(tenant)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Replaces the subscription's fields if it is still at `version`.
    pub async fn update_webhook(
        &self,
        tenant: &str,
        id: Uuid,
        version: i64,
        w: &WebhookInput,
    ) -> Result<WebhookRow, StoreError> {
        let updated = sqlx::query_as(&format!(
            "UPDATE webhooks SET url = $4, event_types = $5, secret = $6, active = $7, \
               description = $8, version = version + 1, updated_at = now() \
             WHERE tenant_id = $1 AND id = $2 AND version = $3 RETURNING {COLUMNS}"
        ))
        .bind(tenant)
        .bind(id)
        .bind(version)
        .bind(&w.url)
        .bind(&w.event_types)
        .bind(&w.secret)
        .bind(w.active)
        .bind(&w.description)
        .fetch_optional(&self.pool)
        .await?;
        match updated {
            Some(row) => Ok(row),
            None => Err(StoreError::Conflict(
                self.webhook(tenant, id).await?.version,
            )),
        }
    }

    /// Deletes a subscription and its delivery log.
    pub async fn delete_webhook(&self, tenant: &str, id: Uuid) -> Result<(), StoreError> {
        let done = sqlx::query("DELETE FROM webhooks WHERE tenant_id = $1 AND id = $2")
            .bind(tenant)
            .bind(id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
