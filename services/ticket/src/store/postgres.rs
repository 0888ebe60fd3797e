//! The PostgreSQL ticket store; events go to the outbox in the same transaction.

mod customers;
mod keys;
mod privacy;
mod read;
mod rows;
mod sla;
mod write;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use sqlx::{PgPool, Row};
use switchboard_events::outbox::OutboxRow;
use switchboard_proto::common::v1::Actor;
use switchboard_runtime::TenantId;
use tokio::sync::Notify;
use uuid::Uuid;

use super::{
    Apply, Created, MergeApply, StoreError, StoredChange, TicketStore, UpdateError, Updated,
};
use crate::domain::{
    Identity, NewTicket, RequesterProfile, Ticket, channel_str,
    idempotency::IdempotencyKey,
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

    /// Finds or creates the customer behind `new`'s identity. DO UPDATE (not
    /// DO NOTHING) returns the row even when a concurrent call just created
    /// it; data-modifying CTEs always run to completion.
    async fn upsert_requester(
        &self,
        tenant: &TenantId,
        new: &NewTicket,
        now: chrono::DateTime<Utc>,
    ) -> Result<Uuid, sqlx::Error> {
        let candidate = Uuid::now_v7();
        sqlx::query_scalar(
            "WITH ident AS ( \
                 INSERT INTO customer_identities (tenant_id, kind, value, customer_id) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (tenant_id, kind, value) DO UPDATE SET kind = EXCLUDED.kind \
                 RETURNING customer_id), \
             cust AS ( \
                 INSERT INTO customers (id, tenant_id, display_name, created_at) \
                 SELECT $4, $1, $5, $6 FROM ident WHERE ident.customer_id = $4 RETURNING id) \
             SELECT customer_id FROM ident",
        )
        .bind(tenant.as_str())
        .bind(new.identity.kind())
        .bind(new.identity.value())
        .bind(candidate)
        .bind(&new.display_name)
        .bind(now)
        .fetch_one(&self.pool)
        .await
    }

    /// Creates a ticket in two round trips for a known requester (three for
    /// a new one): find the requester, a seen key and the number, then write.
    ///
    /// The second statement writes key, ticket, first message and outbox row
    /// at once (one statement is one transaction), so the event can never be
    /// lost or published without its ticket. A customer profile whose ticket
    /// then fails is harmless: it is simply a customer without tickets. The
    /// number is taken in the first statement (the event carries it), so a
    /// create that then fails, or loses a race with its own retry, leaves a
    /// gap; the tenant's counter row is locked only for that one statement.
    async fn create_fast(
        &self,
        tenant: &TenantId,
        new: &NewTicket,
        key: Option<&IdempotencyKey>,
        actor: Actor,
    ) -> Result<Created, StoreError> {
        let now = Utc::now();
        // Most requesters are known: a read finds them without a write. The
        // tier comes along in the same read: routing rules test it. A key
        // seen before is found here too, before a number is spent on it.
        type First = (
            Option<Uuid>,
            Option<String>,
            Option<i64>,
            Option<Vec<u8>>,
            Option<Uuid>,
        );
        let (known, tier, number, seen_fingerprint, seen_ticket): First = sqlx::query_as(
            "WITH seen AS ( \
                 SELECT fingerprint, ticket_id FROM idempotency_keys \
                 WHERE tenant_id = $1 AND principal = $4 AND operation = $5 AND request_id = $6), \
             n AS ( \
                 INSERT INTO ticket_numbers AS tn (tenant_id, last_number) \
                 SELECT $1, 1 WHERE NOT EXISTS (SELECT 1 FROM seen) \
                 ON CONFLICT (tenant_id) DO UPDATE SET last_number = tn.last_number + 1 \
                 RETURNING last_number) \
             SELECT i.customer_id, c.tier, (SELECT last_number FROM n), \
                 (SELECT fingerprint FROM seen), (SELECT ticket_id FROM seen) \
             FROM (SELECT 1) AS one \
             LEFT JOIN customer_identities i ON i.tenant_id = $1 AND i.kind = $2 AND i.value = $3 \
             LEFT JOIN customers c ON c.id = i.customer_id",
        )
        .bind(tenant.as_str())
        .bind(new.identity.kind())
        .bind(new.identity.value())
        .bind(key.map(|k| k.principal.as_str()))
        .bind(key.map(|k| k.operation.as_str()))
        .bind(key.map(|k| k.request_id.as_str()))
        .fetch_one(&self.pool)
        .await
        .map_err(store_error)?;
        if let (Some(key), Some(fingerprint), Some(ticket)) = (key, seen_fingerprint, seen_ticket) {
            return self.replay(tenant, key, &fingerprint, ticket).await;
        }
        let number = number.ok_or_else(|| StoreError::Internal("no ticket number drawn".into()))?;
        let customer_id = match known {
            Some(id) => id,
            None => self
                .upsert_requester(tenant, new, now)
                .await
                .map_err(store_error)?,
        };

        let mut ticket = Ticket::open(tenant, new, customer_id, now);
        ticket.number = number;
        ticket.requester_tier = tier.unwrap_or_default();
        let message_id = Uuid::now_v7();
        let event = OutboxRow::new(&ticket.created_event(actor.clone(), &new.identity))
            .map_err(store_error)?;
        let inserted: i64 = sqlx::query(&format!(
            "WITH k AS ( \
                 INSERT INTO idempotency_keys (tenant_id, principal, operation, request_id, fingerprint, \
                 ticket_id, message_id, created_at) \
                 SELECT $2, $31, $32, $33, $34, $1, CASE WHEN $5 <> '' THEN $17::uuid END, $13 \
                 WHERE $33::text IS NOT NULL \
                 ON CONFLICT DO NOTHING RETURNING 1), \
             t AS ( \
                 INSERT INTO tickets (id, tenant_id, number, subject, description, status, priority, channel, \
                 requester_id, tags, version, created_at, updated_at, sla, sla_next_check_at, group_id, \
                 custom_fields, requester_tier) \
                 SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $12, $13, $13, $14, $15, $16, $28, $30 \
                 WHERE $33::text IS NULL OR EXISTS (SELECT 1 FROM k) \
                 RETURNING id), \
             m AS ( \
                 INSERT INTO messages (id, tenant_id, ticket_id, author_kind, author_id, author_role, public, body, \
                 channel, created_at, attachments) \
                 SELECT $17, $2, t.id, $18, $19, $20, TRUE, $5, $8, $13, $29 FROM t WHERE $5 <> ''), \
             o AS ( \
                 INSERT INTO outbox ({}) SELECT $21, $22, $23, $24, $25, $26, $27 FROM t) \
             SELECT count(*) FROM t",
            OutboxRow::COLUMNS
        ))
        .bind(ticket.id)
        .bind(tenant.as_str())
        .bind(number)
        .bind(&ticket.subject)
        .bind(&ticket.description)
        .bind(ticket.status.as_str())
        .bind(priority_str(ticket.priority))
        .bind(channel_str(ticket.channel))
        .bind(customer_id)
        .bind(&ticket.tags)
        // $11 is unused since keys moved to their own table.
        .bind(Option::<String>::None)
        .bind(ticket.version)
        .bind(ticket.created_at)
        .bind(sqlx::types::Json(&ticket.sla))
        .bind(ticket.sla.next_check())
        .bind(&ticket.group)
        .bind(message_id)
        .bind(new.author.kind)
        .bind(&new.author.id)
        .bind(rows::role_str(&actor))
        .bind(event.event_id)
        .bind(event.subject)
        .bind(event.aggregate_id)
        .bind(event.aggregate_version)
        .bind(event.payload)
        .bind(event.traceparent)
        .bind(event.tracestate)
        .bind(sqlx::types::Json(&ticket.custom_fields))
        .bind(sqlx::types::Json(&new.attachments))
        .bind(&ticket.requester_tier)
        .bind(key.map(|k| k.principal.as_str()))
        .bind(key.map(|k| k.operation.as_str()))
        .bind(key.map(|k| k.request_id.as_str()))
        .bind(key.map(|k| k.fingerprint.as_slice()))
        .fetch_one(&self.pool)
        .await
        .and_then(|row| row.try_get(0))
        .map_err(store_error)?;
        if inserted == 0 {
            // A concurrent call with the same key recorded it first.
            let key = key.ok_or_else(|| StoreError::Internal("ticket not inserted".into()))?;
            let mut conn = self.pool.acquire().await.map_err(store_error)?;
            let seen = keys::seen(&mut conn, tenant, key)
                .await
                .map_err(store_error)?
                .ok_or(StoreError::KeyReused)?;
            if !seen.same_request(key) {
                return Err(StoreError::KeyReused);
            }
            let ticket = keys::replay(&mut conn, tenant, &seen)
                .await
                .map_err(store_error)?
                .ticket;
            return Ok(Created {
                ticket,
                fresh: false,
            });
        }
        self.committed();
        Ok(Created {
            ticket,
            fresh: true,
        })
    }

    /// The ticket a seen key created, if this request is the one it saw.
    async fn replay(
        &self,
        tenant: &TenantId,
        key: &IdempotencyKey,
        fingerprint: &[u8],
        ticket: Uuid,
    ) -> Result<Created, StoreError> {
        if fingerprint != key.fingerprint.as_slice() {
            return Err(StoreError::KeyReused);
        }
        let ticket = self
            .get(tenant, ticket)
            .await?
            .ok_or_else(|| StoreError::Internal("a key's ticket is gone".into()))?;
        Ok(Created {
            ticket,
            fresh: false,
        })
    }
}

#[async_trait]
impl TicketStore for PgTicketStore {
    async fn create(
        &self,
        tenant: &TenantId,
        new: &NewTicket,
        key: Option<&IdempotencyKey>,
        actor: Actor,
    ) -> Result<Created, StoreError> {
        self.create_fast(tenant, new, key, actor).await
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
        key: Option<&IdempotencyKey>,
        apply: Apply,
    ) -> Result<Updated, UpdateError> {
        let updated = write::update(&self.pool, tenant, id, key, apply).await?;
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

    async fn customer_profile(
        &self,
        tenant: &TenantId,
        customer: Uuid,
    ) -> Result<Option<RequesterProfile>, StoreError> {
        let row: Option<(String, Vec<String>)> =
            sqlx::query_as("SELECT tier, tags FROM customers WHERE tenant_id = $1 AND id = $2")
                .bind(tenant.as_str())
                .bind(customer)
                .fetch_optional(&self.pool)
                .await
                .map_err(store_error)?;
        Ok(row.map(|(tier, tags)| RequesterProfile { tier, tags }))
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

/// Maps a database error to what callers can act on (the one classifier
/// of `switchboard_runtime`).
pub(crate) fn store_error(e: sqlx::Error) -> StoreError {
    match switchboard_runtime::classify_db(&e) {
        switchboard_runtime::DbErrorClass::Unavailable => StoreError::Unavailable(e.to_string()),
        _ => StoreError::Internal(e.to_string()),
    }
}
