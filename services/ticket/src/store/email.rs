//! Email threading: which ticket a Message-ID belongs to.

use async_trait::async_trait;
use switchboard_runtime::TenantId;
use uuid::Uuid;

use super::{PgTicketStore, StoreError, postgres::store_error};

/// Longest Message-ID kept; longer ones are not remembered (RFC 5322 lines
/// are 998 characters at most, real ids are far shorter).
pub const MAX_MESSAGE_ID_LEN: usize = 512;

/// What a remembered Message-ID points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Threaded {
    /// The ticket.
    pub ticket: Uuid,
    /// The desk's message made from an ingested email.
    pub message: Option<Uuid>,
}

/// Message-ID → ticket, for threading replies and recognising redeliveries.
#[async_trait]
pub trait EmailThreads: Send + Sync + 'static {
    /// The first of `message_ids` (in the order given) the desk knows.
    async fn find_thread(
        &self,
        tenant: &TenantId,
        message_ids: &[String],
    ) -> Result<Option<Threaded>, StoreError>;

    /// The ticket numbered `number`, by its human number.
    async fn ticket_by_number(
        &self,
        tenant: &TenantId,
        number: i64,
    ) -> Result<Option<Uuid>, StoreError>;

    /// Points a channel conversation (`sms:<number>`, `social:<network>:<thread>`)
    /// at the ticket it continues on now; the last writer wins.
    async fn point(&self, tenant: &TenantId, key: &str, ticket: Uuid) -> Result<(), StoreError>;

    /// Remembers `message_id` as part of `ticket`; the first writer wins.
    async fn remember(
        &self,
        tenant: &TenantId,
        message_id: &str,
        threaded: Threaded,
    ) -> Result<(), StoreError>;
}

#[async_trait]
impl EmailThreads for PgTicketStore {
    async fn find_thread(
        &self,
        tenant: &TenantId,
        message_ids: &[String],
    ) -> Result<Option<Threaded>, StoreError> {
        if message_ids.is_empty() {
            return Ok(None);
        }
        let row: Option<(Uuid, Option<Uuid>)> = sqlx::query_as(
            "SELECT t.ticket_id, t.message FROM unnest($2::text[]) WITH ORDINALITY AS k(id, n) \
             JOIN email_threads t ON t.tenant_id = $1 AND t.message_id = k.id \
             ORDER BY k.n LIMIT 1",
        )
        .bind(tenant.as_str())
        .bind(message_ids)
        .fetch_optional(self.pool())
        .await
        .map_err(store_error)?;
        Ok(row.map(|(ticket, message)| Threaded { ticket, message }))
    }

    async fn ticket_by_number(
        &self,
        tenant: &TenantId,
        number: i64,
    ) -> Result<Option<Uuid>, StoreError> {
        sqlx::query_scalar("SELECT id FROM tickets WHERE tenant_id = $1 AND number = $2")
            .bind(tenant.as_str())
            .bind(number)
            .fetch_optional(self.pool())
            .await
            .map_err(store_error)
    }

    async fn point(&self, tenant: &TenantId, key: &str, ticket: Uuid) -> Result<(), StoreError> {
        // Conversation keys share the Message-ID index: they hold no `@`, so
        // they can never collide with a Message-ID.
        sqlx::query(
            "INSERT INTO email_threads (tenant_id, message_id, ticket_id) VALUES ($1, $2, $3) \
             ON CONFLICT (tenant_id, message_id) DO UPDATE SET ticket_id = EXCLUDED.ticket_id",
        )
        .bind(tenant.as_str())
        .bind(key)
        .bind(ticket)
        .execute(self.pool())
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn remember(
        &self,
        tenant: &TenantId,
        message_id: &str,
        threaded: Threaded,
    ) -> Result<(), StoreError> {
        if message_id.is_empty() || message_id.len() > MAX_MESSAGE_ID_LEN {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO email_threads (tenant_id, message_id, ticket_id, message) \
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(tenant.as_str())
        .bind(message_id)
        .bind(threaded.ticket)
        .bind(threaded.message)
        .execute(self.pool())
        .await
        .map_err(store_error)?;
        Ok(())
    }
}
