//! The PostgreSQL ticket store; events go to the outbox in the same transaction.

mod customers;
mod read;
mod rows;
mod sla;
mod write;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use sqlx::{PgConnection, PgPool, Row};
use switchboard_events::outbox;
use switchboard_proto::common::v1::Actor;
use switchboard_runtime::TenantId;
use tokio::sync::Notify;
use uuid::Uuid;

use super::{
    Apply, Created, MergeApply, StoreError, StoredChange, TicketStore, UpdateError, Updated,
};
use crate::domain::{
    Identity, NewTicket, Ticket, channel_str,
    intake::IntakeRule,
    message::Message,
    priority_str,
    query::{Cursor, TicketQuery},
    sla::Policy,
};

use rows::{TICKET_COLUMNS, ticket_from_row};

/// Tickets in PostgreSQL (the pool's `search_path` is the ticket schema).
#[derive(Clone)]
pub struct PgTicketStore {
    pool: PgPool,
    committed: Option<Arc<Notify>>,
}

impl PgTicketStore {
    /// A store on `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            committed: None,
        }
    }

    /// Notifies `relay` after each commit that wrote an event.
    pub fn with_relay_waker(mut self, relay: Arc<Notify>) -> Self {
        self.committed = Some(relay);
        self
    }

    /// The pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub(crate) fn committed(&self) {
        if let Some(relay) = &self.committed {
            relay.notify_one();
        }
    }

    async fn find_by_request_id(
        conn: &mut PgConnection,
        tenant: &TenantId,
        request_id: &str,
    ) -> Result<Option<Ticket>, sqlx::Error> {
        sqlx::query(&format!(
            "SELECT {TICKET_COLUMNS} FROM tickets WHERE tenant_id = $1 AND request_id = $2"
        ))
        .bind(tenant.as_str())
        .bind(request_id)
        .fetch_optional(conn)
        .await?
        .map(|row| ticket_from_row(&row))
        .transpose()
    }

    async fn create_in_tx(
        &self,
        tenant: &TenantId,
        new: &NewTicket,
        actor: Actor,
    ) -> Result<Created, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        if let Some(request_id) = &new.request_id
            && let Some(ticket) = Self::find_by_request_id(&mut tx, tenant, request_id).await?
        {
            return Ok(Created {
                ticket,
                fresh: false,
            });
        }

        let now = Utc::now();
        // Upsert the identity; DO UPDATE (not DO NOTHING) so the row comes
        // back even when a concurrent transaction just created it.
        let candidate = Uuid::now_v7();
        let customer_id: Uuid = sqlx::query_scalar(
            "INSERT INTO customer_identities (tenant_id, kind, value, customer_id) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant_id, kind, value) DO UPDATE SET kind = EXCLUDED.kind \
             RETURNING customer_id",
        )
        .bind(tenant.as_str())
        .bind(new.identity.kind())
        .bind(new.identity.value())
        .bind(candidate)
        .fetch_one(&mut *tx)
        .await?;
        if customer_id == candidate {
            sqlx::query(
                "INSERT INTO customers (id, tenant_id, display_name, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(customer_id)
            .bind(tenant.as_str())
            .bind(&new.display_name)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }

        let mut ticket = Ticket::open(tenant, new, customer_id, now);
        let inserted = sqlx::query(
            "INSERT INTO tickets (id, tenant_id, subject, description, status, priority, channel, \
             requester_id, tags, request_id, version, created_at, updated_at, sla, sla_next_check_at, group_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13, $14, $15) \
             ON CONFLICT (tenant_id, request_id) DO NOTHING \
             RETURNING number",
        )
        .bind(ticket.id)
        .bind(tenant.as_str())
        .bind(&ticket.subject)
        .bind(&ticket.description)
        .bind(ticket.status.as_str())
        .bind(priority_str(ticket.priority))
        .bind(channel_str(ticket.channel))
        .bind(customer_id)
        .bind(&ticket.tags)
        .bind(new.request_id.as_deref())
        .bind(ticket.version)
        .bind(ticket.created_at)
        .bind(sqlx::types::Json(&ticket.sla))
        .bind(ticket.sla.next_check())
        .bind(&ticket.group)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = inserted else {
            // A concurrent call with the same request id won; return its ticket.
            tx.rollback().await?;
            let mut conn = self.pool.acquire().await?;
            let request_id = new.request_id.as_deref().unwrap_or_default();
            let ticket = Self::find_by_request_id(&mut conn, tenant, request_id)
                .await?
                .ok_or(sqlx::Error::RowNotFound)?;
            return Ok(Created {
                ticket,
                fresh: false,
            });
        };
        ticket.number = row.get("number");

        if !new.description.is_empty() {
            sqlx::query(
                "INSERT INTO messages (id, tenant_id, ticket_id, author_kind, author_id, public, body, channel, created_at) \
                 VALUES ($1, $2, $3, $4, $5, TRUE, $6, $7, $8)",
            )
            .bind(Uuid::now_v7())
            .bind(tenant.as_str())
            .bind(ticket.id)
            .bind(new.author.kind)
            .bind(&new.author.id)
            .bind(&new.description)
            .bind(channel_str(ticket.channel))
            .bind(ticket.created_at)
            .execute(&mut *tx)
            .await?;
        }

        outbox::append(&mut tx, &ticket.created_event(actor)).await?;
        tx.commit().await?;
        self.committed();
        Ok(Created {
            ticket,
            fresh: true,
        })
    }
}

#[async_trait]
impl TicketStore for PgTicketStore {
    async fn create(
        &self,
        tenant: &TenantId,
        new: &NewTicket,
        actor: Actor,
    ) -> Result<Created, StoreError> {
        self.create_in_tx(tenant, new, actor)
            .await
            .map_err(store_error)
    }

    async fn get(&self, tenant: &TenantId, id: Uuid) -> Result<Option<Ticket>, StoreError> {
        sqlx::query(&format!(
            "SELECT {TICKET_COLUMNS} FROM tickets WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant.as_str())
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?
        .map(|row| ticket_from_row(&row).map_err(store_error))
        .transpose()
    }

    async fn update(
        &self,
        tenant: &TenantId,
        id: Uuid,
        request_id: Option<&str>,
        apply: Apply,
    ) -> Result<Updated, UpdateError> {
        let updated = write::update(&self.pool, tenant, id, request_id, apply).await?;
        if !updated.replayed {
            self.committed();
        }
        Ok(updated)
    }

    async fn merge(
        &self,
        tenant: &TenantId,
        source: Uuid,
        target: Uuid,
        apply: MergeApply,
    ) -> Result<Ticket, UpdateError> {
        let target = write::merge(&self.pool, tenant, source, target, apply).await?;
        self.committed();
        Ok(target)
    }

    async fn sla_policy(&self, tenant: &TenantId) -> Result<Option<Policy>, StoreError> {
        sla::policy(&self.pool, tenant).await.map_err(store_error)
    }

    async fn set_sla_policy(
        &self,
        tenant: &TenantId,
        policy: &Policy,
    ) -> Result<Policy, StoreError> {
        sla::set_policy(&self.pool, tenant, policy)
            .await
            .map_err(store_error)
    }

    async fn scan_sla(&self, now: chrono::DateTime<Utc>, limit: i64) -> Result<usize, StoreError> {
        let seen = sla::scan(&self.pool, now, limit)
            .await
            .map_err(store_error)?;
        if seen > 0 {
            self.committed();
        }
        Ok(seen)
    }

    async fn intake_rules(&self, tenant: &TenantId) -> Result<(Vec<IntakeRule>, i64), StoreError> {
        sla::intake_rules(&self.pool, tenant)
            .await
            .map_err(store_error)
    }

    async fn set_intake_rules(
        &self,
        tenant: &TenantId,
        rules: &[IntakeRule],
    ) -> Result<i64, StoreError> {
        sla::set_intake_rules(&self.pool, tenant, rules)
            .await
            .map_err(store_error)
    }

    async fn find_customer(
        &self,
        tenant: &TenantId,
        identity: &Identity,
    ) -> Result<Option<Uuid>, StoreError> {
        sqlx::query_scalar(
            "SELECT customer_id FROM customer_identities WHERE tenant_id = $1 AND kind = $2 AND value = $3",
        )
        .bind(tenant.as_str())
        .bind(identity.kind())
        .bind(identity.value())
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)
    }

    async fn list(
        &self,
        tenant: &TenantId,
        query: &TicketQuery,
    ) -> Result<Vec<Ticket>, StoreError> {
        read::list(&self.pool, tenant, query)
            .await
            .map_err(store_error)
    }

    async fn messages(
        &self,
        tenant: &TenantId,
        ticket: Uuid,
        include_internal: bool,
        after: Option<Cursor>,
        limit: i64,
    ) -> Result<Vec<Message>, StoreError> {
        read::messages(&self.pool, tenant, ticket, include_internal, after, limit)
            .await
            .map_err(store_error)
    }

    async fn changes(
        &self,
        tenant: &TenantId,
        ticket: Uuid,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<StoredChange>, StoreError> {
        read::changes(&self.pool, tenant, ticket, after_seq, limit)
            .await
            .map_err(store_error)
    }

    async fn identities(
        &self,
        tenant: &TenantId,
        customer: Uuid,
    ) -> Result<Vec<Identity>, StoreError> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT kind, value FROM customer_identities WHERE tenant_id = $1 AND customer_id = $2",
        )
        .bind(tenant.as_str())
        .bind(customer)
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(rows
            .into_iter()
            .filter_map(|(kind, value)| Identity::from_storage(&kind, value))
            .collect())
    }
}

/// Maps a database error to what callers can act on.
pub(crate) fn store_error(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            StoreError::Unavailable(e.to_string())
        }
        other => StoreError::Internal(other.to_string()),
    }
}
