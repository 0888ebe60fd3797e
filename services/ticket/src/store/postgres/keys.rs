//! Idempotency keys: what a seen key made, recording a new one, and
//! replaying the first request's result.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use switchboard_runtime::TenantId;
use uuid::Uuid;

use super::{
    rows::{MESSAGE_COLUMNS, message_from_row},
    write::ticket,
};
use crate::{domain::idempotency::IdempotencyKey, store::Updated};

/// What the first request with a key made.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(super) struct Seen {
    fingerprint: Vec<u8>,
    /// The ticket it created, or the one its message went to.
    pub ticket_id: Uuid,
    /// Its message, if it wrote one.
    pub message_id: Option<Uuid>,
}

impl Seen {
    /// Whether `key` asks what the first request asked.
    pub fn same_request(&self, key: &IdempotencyKey) -> bool {
        self.fingerprint == key.fingerprint
    }
}

/// What `key` made, if it was seen.
pub(super) async fn seen(
    conn: &mut PgConnection,
    tenant: &TenantId,
    key: &IdempotencyKey,
) -> Result<Option<Seen>, sqlx::Error> {
    sqlx::query_as(
        "SELECT fingerprint, ticket_id, message_id FROM idempotency_keys \
         WHERE tenant_id = $1 AND principal = $2 AND operation = $3 AND request_id = $4",
    )
    .bind(tenant.as_str())
    .bind(&key.principal)
    .bind(&key.operation)
    .bind(&key.request_id)
    .fetch_optional(conn)
    .await
}

/// Records what `key` made; false when a concurrent request recorded it first.
pub(super) async fn record(
    conn: &mut PgConnection,
    tenant: &TenantId,
    key: &IdempotencyKey,
    ticket_id: Uuid,
    message_id: Option<Uuid>,
    at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO idempotency_keys (tenant_id, principal, operation, request_id, fingerprint, \
         ticket_id, message_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT DO NOTHING",
    )
    .bind(tenant.as_str())
    .bind(&key.principal)
    .bind(&key.operation)
    .bind(&key.request_id)
    .bind(key.fingerprint.as_slice())
    .bind(ticket_id)
    .bind(message_id)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The first request's result as it is now: its message (wherever a merge
/// moved it) and that message's ticket, or the ticket it created.
pub(super) async fn replay(
    conn: &mut PgConnection,
    tenant: &TenantId,
    seen: &Seen,
) -> Result<Updated, sqlx::Error> {
    let message = match seen.message_id {
        Some(id) => sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant.as_str())
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .map(|row| message_from_row(&row))
        .transpose()?,
        None => None,
    };
    let ticket_id = message.as_ref().map_or(seen.ticket_id, |m| m.ticket_id);
    let ticket = ticket(conn, tenant, ticket_id, false)
        .await?
        .ok_or(sqlx::Error::RowNotFound)?;
    Ok(Updated {
        ticket,
        message,
        replayed: true,
    })
}
