//! Customer profiles in PostgreSQL.

use std::collections::HashMap;

use async_trait::async_trait;
use sqlx::{PgConnection, Row};
use switchboard_events::outbox;
use switchboard_proto::common::v1::Actor;
use switchboard_runtime::TenantId;
use uuid::Uuid;

use super::{
    PgTicketStore,
    rows::{MESSAGE_COLUMNS, TICKET_COLUMNS, message_from_row, ticket_from_row},
    store_error, write,
};
use crate::{
    domain::{
        Identity, Ticket,
        change::move_requester,
        customer::{Customer, CustomerUpdate, check_merge, customer_name},
        message::Message,
        query::Cursor,
    },
    store::{
        StoreError,
        customers::{CustomerError, CustomerStore},
    },
};

pub(super) async fn load(
    conn: &mut PgConnection,
    tenant: &TenantId,
    id: Uuid,
    lock: bool,
) -> Result<Option<Customer>, sqlx::Error> {
    let lock = if lock { " FOR UPDATE" } else { "" };
    let Some(row) = sqlx::query(&format!(
        "SELECT id, display_name, created_at, merged_into, version, tier, tags, erased_at FROM customers \
         WHERE tenant_id = $1 AND id = $2{lock}"
    ))
    .bind(tenant.as_str())
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let identities: Vec<(String, String)> = sqlx::query_as(
        "SELECT kind, value FROM customer_identities WHERE tenant_id = $1 AND customer_id = $2 ORDER BY kind, value",
    )
    .bind(tenant.as_str())
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(Some(Customer {
        id: row.try_get("id")?,
        tenant: tenant.clone(),
        display_name: row.try_get("display_name")?,
        identities: identities
            .into_iter()
            .filter_map(|(k, v)| Identity::from_storage(&k, v))
            .collect(),
        created_at: row.try_get("created_at")?,
        merged_into: row.try_get("merged_into")?,
        version: row.try_get("version")?,
        tier: row.try_get("tier")?,
        tags: row.try_get("tags")?,
        erased_at: row.try_get("erased_at")?,
    }))
}

/// The customer, or NOT_FOUND naming it.
pub(super) async fn require(
    conn: &mut PgConnection,
    tenant: &TenantId,
    id: Uuid,
    lock: bool,
) -> Result<Customer, CustomerError> {
    load(conn, tenant, id, lock)
        .await
        .map_err(db)?
        .ok_or(CustomerError::NotFound(id))
}

/// An erased profile stays anonymous: nothing may identify it again.
fn refuse_erased(customer: &Customer) -> Result<(), CustomerError> {
    match customer.erased_at {
        Some(_) => Err(CustomerError::Refused(format!(
            "{} was erased; a new profile is made when the person gets in touch again",
            customer_name(customer.id)
        ))),
        None => Ok(()),
    }
}

pub(super) fn db(e: sqlx::Error) -> CustomerError {
    CustomerError::Store(store_error(e))
}

#[async_trait]
impl CustomerStore for PgTicketStore {
    async fn customer(&self, tenant: &TenantId, id: Uuid) -> Result<Option<Customer>, StoreError> {
        let mut conn = self.pool().acquire().await.map_err(store_error)?;
        load(&mut conn, tenant, id, false)
            .await
            .map_err(store_error)
    }

    async fn add_identity(
        &self,
        tenant: &TenantId,
        id: Uuid,
        identity: &Identity,
    ) -> Result<Customer, CustomerError> {
        let mut tx = self.pool().begin().await.map_err(db)?;
        refuse_erased(&require(&mut tx, tenant, id, true).await?)?;
        let owner: Uuid = sqlx::query_scalar(
            "INSERT INTO customer_identities (tenant_id, kind, value, customer_id) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant_id, kind, value) DO UPDATE SET kind = EXCLUDED.kind RETURNING customer_id",
        )
        .bind(tenant.as_str())
        .bind(identity.kind())
        .bind(identity.value())
        .bind(id)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        if owner != id {
            return Err(CustomerError::Taken {
                kind: identity.kind(),
                value: identity.value().to_owned(),
                owner,
            });
        }
        sqlx::query("UPDATE customers SET version = version + 1 WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let customer = require(&mut tx, tenant, id, false).await?;
        tx.commit().await.map_err(db)?;
        Ok(customer)
    }

    async fn update_customer(
        &self,
        tenant: &TenantId,
        update: &CustomerUpdate,
    ) -> Result<Customer, CustomerError> {
        let mut tx = self.pool().begin().await.map_err(db)?;
        let id = update.id;
        refuse_erased(&require(&mut tx, tenant, id, true).await?)?;
        sqlx::query(
            "UPDATE customers SET display_name = COALESCE($2, display_name), tier = COALESCE($3, tier), \
             tags = COALESCE($4, tags), version = version + 1 WHERE id = $1",
        )
        .bind(id)
        .bind(update.display_name.as_deref())
        .bind(update.tier.as_deref())
        .bind(update.tags.as_deref())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        let customer = require(&mut tx, tenant, id, false).await?;
        tx.commit().await.map_err(db)?;
        Ok(customer)
    }

    async fn merge_customers(
        &self,
        tenant: &TenantId,
        source: Uuid,
        target: Uuid,
        actor: Actor,
    ) -> Result<Customer, CustomerError> {
        let mut tx = self.pool().begin().await.map_err(db)?;
        // Lock in id order so two opposite merges cannot deadlock.
        let (first, second) = if source < target {
            (source, target)
        } else {
            (target, source)
        };
        let a = require(&mut tx, tenant, first, true).await?;
        let b = require(&mut tx, tenant, second, true).await?;
        let (src, dst) = if a.id == source { (a, b) } else { (b, a) };
        check_merge(&src, &dst).map_err(CustomerError::Refused)?;
        sqlx::query("UPDATE customer_identities SET customer_id = $3 WHERE tenant_id = $1 AND customer_id = $2")
            .bind(tenant.as_str())
            .bind(source)
            .bind(target)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        // Each moved ticket changes like any other (version, audit,
        // `ticket.updated`), so its own event order stays whole.
        let tickets = sqlx::query(&format!(
            "SELECT {TICKET_COLUMNS} FROM tickets WHERE tenant_id = $1 AND requester_id = $2 ORDER BY id FOR UPDATE"
        ))
        .bind(tenant.as_str())
        .bind(source)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        let now = chrono::Utc::now();
        let mut moved = Vec::with_capacity(tickets.len());
        for row in &tickets {
            let ticket = ticket_from_row(row).map_err(db)?;
            let mut change = move_requester(&ticket, target, actor.clone(), now);
            write::write(&mut tx, &mut change).await.map_err(db)?;
            moved.push(ticket.id);
        }
        sqlx::query("UPDATE customers SET merged_into = $2, version = version + 1 WHERE id = $1")
            .bind(source)
            .bind(target)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query("UPDATE customers SET version = version + 1 WHERE id = $1")
            .bind(target)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let survivor = require(&mut tx, tenant, target, false).await?;
        outbox::append(&mut tx, &survivor.merged_event(source, &moved, actor))
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        self.committed();
        Ok(survivor)
    }

    async fn history(
        &self,
        tenant: &TenantId,
        customer: Uuid,
        include_internal: bool,
        before: Option<Cursor>,
        limit: i64,
    ) -> Result<Vec<(Ticket, Message)>, StoreError> {
        let (at, id) = before.unzip();
        let columns = MESSAGE_COLUMNS
            .split(", ")
            .map(|c| format!("m.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let rows = sqlx::query(&format!(
            "SELECT {columns} FROM messages m JOIN tickets t ON t.id = m.ticket_id \
             WHERE t.tenant_id = $1 AND t.requester_id = $2 AND (m.public OR $3) \
             AND ($4::timestamptz IS NULL OR (m.created_at, m.id) < ($4, $5)) \
             ORDER BY m.created_at DESC, m.id DESC LIMIT $6"
        ))
        .bind(tenant.as_str())
        .bind(customer)
        .bind(include_internal)
        .bind(at)
        .bind(id)
        .bind(limit)
        .fetch_all(self.pool())
        .await
        .map_err(store_error)?;
        let messages = rows
            .iter()
            .map(message_from_row)
            .collect::<Result<Vec<_>, _>>()
            .map_err(store_error)?;
        let mut ids: Vec<Uuid> = messages.iter().map(|m| m.ticket_id).collect();
        ids.sort();
        ids.dedup();
        let tickets: HashMap<Uuid, Ticket> = sqlx::query(&format!(
            "SELECT {TICKET_COLUMNS} FROM tickets WHERE tenant_id = $1 AND id = ANY($2)"
        ))
        .bind(tenant.as_str())
        .bind(&ids)
        .fetch_all(self.pool())
        .await
        .map_err(store_error)?
        .iter()
        .map(|r| ticket_from_row(r).map(|t| (t.id, t)))
        .collect::<Result<_, _>>()
        .map_err(store_error)?;
        Ok(messages
            .into_iter()
            .filter_map(|m| tickets.get(&m.ticket_id).cloned().map(|t| (t, m)))
            .collect())
    }
}
