//! Erasure, export reads and retention in PostgreSQL.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, types::Json};
use switchboard_events::{EventBuilder, Payload, outbox};
use switchboard_proto::{
    common::v1::{Actor, ActorKind},
    events::v1::TicketDeleted,
};
use switchboard_runtime::TenantId;
use uuid::Uuid;

use super::{
    PgTicketStore,
    customers::{db, load, require},
    rows::{MESSAGE_COLUMNS, TICKET_COLUMNS, actor, message_from_row, ticket_from_row},
    store_error, write,
};
use crate::{
    domain::{
        Identity, Ticket,
        change::erase,
        customer::{Customer, customer_name},
        message::Attachment,
        privacy::{Erasure, Redactor, Retention, identity_hashes},
        ticket_name,
    },
    store::{
        StoreError,
        customers::CustomerError,
        privacy::{Erased, PrivacyStore, Purged},
    },
};

/// Why a retention round deleted a ticket, as `ticket.deleted` says.
pub const RETENTION: &str = "retention";

/// The profiles merged into `id`, directly or through others.
async fn merged_ids(
    conn: &mut PgConnection,
    tenant: &TenantId,
    id: Uuid,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "WITH RECURSIVE m(id) AS ( \
             SELECT id FROM customers WHERE tenant_id = $1 AND merged_into = $2 \
             UNION SELECT c.id FROM customers c JOIN m ON c.merged_into = m.id WHERE c.tenant_id = $1) \
         SELECT id FROM m ORDER BY id",
    )
    .bind(tenant.as_str())
    .bind(id)
    .fetch_all(conn)
    .await
}

/// The storage keys of `attachments` (a message's JSON column).
fn storage_keys(attachments: Json<Vec<Attachment>>) -> impl Iterator<Item = String> {
    attachments.0.into_iter().map(|a| a.storage_key)
}

/// Redacts the messages of `tickets` (on `requested` ones, by their
/// description before erasure, those written by a customer and the opening
/// one are erased whole); returns how many changed and the attachment keys
/// they dropped.
async fn erase_messages(
    tx: &mut PgConnection,
    tenant: &TenantId,
    tickets: &[Uuid],
    requested: &HashMap<Uuid, String>,
    erasure: &Erasure,
) -> Result<(u64, Vec<String>), sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE tenant_id = $1 AND ticket_id = ANY($2)"
    ))
    .bind(tenant.as_str())
    .bind(tickets)
    .fetch_all(&mut *tx)
    .await?;
    let (mut ids, mut bodies, mut authors, mut files) = (vec![], vec![], vec![], vec![]);
    let mut dropped = Vec::new();
    for row in &rows {
        let message = message_from_row(row)?;
        let description = requested.get(&message.ticket_id);
        let Some(erased) = erasure.message(
            &message,
            description.is_some(),
            description.map(String::as_str),
        ) else {
            continue;
        };
        dropped.extend(erased.dropped);
        let m = erased.message;
        ids.push(m.id);
        bodies.push(m.body);
        authors.push(m.author.id);
        files.push(
            serde_json::to_string(&m.attachments).map_err(|e| sqlx::Error::Encode(Box::new(e)))?,
        );
    }
    if !ids.is_empty() {
        sqlx::query(
            "UPDATE messages AS m SET body = u.body, author_id = u.author, attachments = u.files::jsonb \
             FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[]) AS u(id, body, author, files) \
             WHERE m.id = u.id",
        )
        .bind(&ids)
        .bind(&bodies)
        .bind(&authors)
        .bind(&files)
        .execute(&mut *tx)
        .await?;
    }
    Ok((ids.len() as u64, dropped))
}

/// Redacts the audit trail of `tickets`, and the customer as an actor
/// anywhere in the tenant.
async fn erase_changes(
    tx: &mut PgConnection,
    tenant: &TenantId,
    tickets: &[Uuid],
    erasure: &Erasure,
) -> Result<(), sqlx::Error> {
    let rows: Vec<(i64, String, String, String, String)> = sqlx::query_as(
        "SELECT seq, actor_kind, actor_id, old_value, new_value FROM ticket_changes \
         WHERE tenant_id = $1 AND (ticket_id = ANY($2) OR (actor_kind = 'customer' AND actor_id = ANY($3)))",
    )
    .bind(tenant.as_str())
    .bind(tickets)
    .bind(&erasure.principals)
    .fetch_all(&mut *tx)
    .await?;
    let (mut seqs, mut actors, mut olds, mut news) = (vec![], vec![], vec![], vec![]);
    for (seq, kind, id, old, new) in rows {
        let kind: ActorKind = actor(&kind, String::new(), "").kind();
        if let Some((a, o, n)) = erasure.change(kind, &id, &old, &new) {
            seqs.push(seq);
            actors.push(a);
            olds.push(o);
            news.push(n);
        }
    }
    if !seqs.is_empty() {
        sqlx::query(
            "UPDATE ticket_changes AS c SET actor_id = u.actor, old_value = u.old, new_value = u.new \
             FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[]) AS u(seq, actor, old, new) \
             WHERE c.seq = u.seq",
        )
        .bind(&seqs)
        .bind(&actors)
        .bind(&olds)
        .bind(&news)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

#[async_trait]
impl PrivacyStore for PgTicketStore {
    async fn erase_customer(
        &self,
        tenant: &TenantId,
        id: Uuid,
        actor: Actor,
    ) -> Result<Erased, CustomerError> {
        let mut tx = self.pool().begin().await.map_err(db)?;
        let customer = require(&mut tx, tenant, id, true).await?;
        if let Some(survivor) = customer.merged_into {
            return Err(CustomerError::Refused(format!(
                "{} was merged into {}; erase that one, which holds its identities and tickets",
                customer_name(id),
                customer_name(survivor)
            )));
        }
        if customer.erased_at.is_some() {
            return Ok(Erased {
                customer,
                merged: Vec::new(),
                tickets: Vec::new(),
                messages: 0,
                dropped_attachments: Vec::new(),
            });
        }
        let merged = merged_ids(&mut tx, tenant, id).await.map_err(db)?;
        let mut profiles = vec![customer];
        for m in &merged {
            profiles.push(require(&mut tx, tenant, *m, true).await?);
        }
        let ids: Vec<Uuid> = profiles.iter().map(|p| p.id).collect();
        let identities: Vec<Identity> = profiles
            .iter()
            .flat_map(|p| p.identities.iter().cloned())
            .collect();
        let erasure = Erasure {
            redactor: Redactor::new(
                profiles.iter().map(|p| p.display_name.as_str()),
                &identities,
            ),
            principals: identities.iter().map(Identity::principal).collect(),
            pseudonym: customer_name(id),
        };

        // The tickets they requested, and any other they wrote on (one
        // merged away from them, say).
        let rows = sqlx::query(&format!(
            "SELECT {TICKET_COLUMNS} FROM tickets WHERE tenant_id = $1 AND (requester_id = ANY($2) \
             OR id IN (SELECT ticket_id FROM messages WHERE tenant_id = $1 AND author_kind = 'customer' \
             AND author_id = ANY($3))) ORDER BY id FOR UPDATE"
        ))
        .bind(tenant.as_str())
        .bind(&ids)
        .bind(&erasure.principals)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        let now = Utc::now();
        let (mut tickets, mut requested) = (Vec::with_capacity(rows.len()), HashMap::new());
        for row in &rows {
            let ticket = ticket_from_row(row).map_err(db)?;
            let theirs = ids.contains(&ticket.requester_id);
            if theirs {
                requested.insert(ticket.id, ticket.description.clone());
            }
            let mut change = erase(&ticket, &erasure, theirs, id, actor.clone(), now);
            write::write(&mut tx, &mut change).await.map_err(db)?;
            // The one text no other change writes.
            sqlx::query("UPDATE tickets SET description = $2 WHERE id = $1")
                .bind(ticket.id)
                .bind(&change.ticket.description)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            tickets.push(ticket.id);
        }
        let (messages, dropped) = erase_messages(&mut tx, tenant, &tickets, &requested, &erasure)
            .await
            .map_err(db)?;
        erase_changes(&mut tx, tenant, &tickets, &erasure)
            .await
            .map_err(db)?;
        let keys: Vec<String> = erasure
            .principals
            .iter()
            .map(|p| format!("customer:{p}"))
            .collect();
        sqlx::query(
            "DELETE FROM idempotency_keys WHERE tenant_id = $1 AND (ticket_id = ANY($2) OR principal = ANY($3))",
        )
        .bind(tenant.as_str())
        .bind(&tickets)
        .bind(&keys)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        // Threading keys hold Message-IDs and `sms:<number>` conversations.
        sqlx::query("DELETE FROM email_threads WHERE tenant_id = $1 AND ticket_id = ANY($2)")
            .bind(tenant.as_str())
            .bind(&tickets)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query(
            "DELETE FROM customer_identities WHERE tenant_id = $1 AND customer_id = ANY($2)",
        )
        .bind(tenant.as_str())
        .bind(&ids)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        sqlx::query(
            "UPDATE customers SET display_name = '', tags = '{}', erased_at = $3, version = version + 1 \
             WHERE tenant_id = $1 AND id = ANY($2)",
        )
        .bind(tenant.as_str())
        .bind(&ids)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        let after = require(&mut tx, tenant, id, false).await?;
        let event = after.erased_event(&merged, &tickets, identity_hashes(&identities), actor);
        outbox::append(&mut tx, &event).await.map_err(db)?;
        tx.commit().await.map_err(db)?;
        self.committed();
        Ok(Erased {
            customer: after,
            merged,
            tickets,
            messages,
            dropped_attachments: dropped,
        })
    }

    async fn merged_profiles(
        &self,
        tenant: &TenantId,
        id: Uuid,
    ) -> Result<Vec<Customer>, StoreError> {
        let mut conn = self.pool().acquire().await.map_err(store_error)?;
        let ids = merged_ids(&mut conn, tenant, id)
            .await
            .map_err(store_error)?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(c) = load(&mut conn, tenant, id, false)
                .await
                .map_err(store_error)?
            {
                out.push(c);
            }
        }
        Ok(out)
    }

    async fn requested_tickets(
        &self,
        tenant: &TenantId,
        customer: Uuid,
        after: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<Ticket>, StoreError> {
        sqlx::query(&format!(
            "SELECT {TICKET_COLUMNS} FROM tickets WHERE tenant_id = $1 AND requester_id = $2 \
             AND ($3::uuid IS NULL OR id > $3) ORDER BY id LIMIT $4"
        ))
        .bind(tenant.as_str())
        .bind(customer)
        .bind(after)
        .bind(limit)
        .fetch_all(self.pool())
        .await
        .map_err(store_error)?
        .iter()
        .map(ticket_from_row)
        .collect::<Result<_, _>>()
        .map_err(store_error)
    }

    async fn retention(&self, tenant: &TenantId) -> Result<Retention, StoreError> {
        let row: Option<(i32, i64)> = sqlx::query_as(
            "SELECT closed_ticket_days, version FROM retention_policies WHERE tenant_id = $1",
        )
        .bind(tenant.as_str())
        .fetch_optional(self.pool())
        .await
        .map_err(store_error)?;
        Ok(
            row.map_or_else(Retention::default, |(days, version)| Retention {
                closed_ticket_days: days,
                version,
            }),
        )
    }

    async fn set_retention(&self, tenant: &TenantId, days: i32) -> Result<Retention, StoreError> {
        let (days, version): (i32, i64) = sqlx::query_as(
            "INSERT INTO retention_policies AS p (tenant_id, closed_ticket_days, version, updated_at) \
             VALUES ($1, $2, 1, now()) ON CONFLICT (tenant_id) DO UPDATE SET \
             closed_ticket_days = EXCLUDED.closed_ticket_days, version = p.version + 1, updated_at = now() \
             RETURNING closed_ticket_days, version",
        )
        .bind(tenant.as_str())
        .bind(days)
        .fetch_one(self.pool())
        .await
        .map_err(store_error)?;
        Ok(Retention {
            closed_ticket_days: days,
            version,
        })
    }

    async fn purge_closed(&self, now: DateTime<Utc>, limit: i64) -> Result<Purged, StoreError> {
        let mut tx = self.pool().begin().await.map_err(store_error)?;
        // SKIP LOCKED: replicas share the work, and a ticket being changed
        // right now waits for the next round.
        let rows: Vec<(Uuid, String, i64, Uuid)> = sqlx::query_as(
            "SELECT t.id, t.tenant_id, t.version, t.requester_id FROM tickets t \
             JOIN retention_policies p ON p.tenant_id = t.tenant_id AND p.closed_ticket_days > 0 \
             WHERE t.status = 'closed' AND t.updated_at < $1 - make_interval(days => p.closed_ticket_days) \
             ORDER BY t.updated_at LIMIT $2 FOR UPDATE OF t SKIP LOCKED",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await
        .map_err(store_error)?;
        if rows.is_empty() {
            return Ok(Purged::default());
        }
        let ids: Vec<Uuid> = rows.iter().map(|r| r.0).collect();
        // Links to them would dangle (from tickets that stay, and between
        // the deleted ones).
        for column in ["follow_up_of", "merged_into"] {
            sqlx::query(&format!(
                "UPDATE tickets SET {column} = NULL WHERE {column} = ANY($1)"
            ))
            .bind(&ids)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        }
        let attachments: Vec<Json<Vec<Attachment>>> = sqlx::query_scalar(
            "DELETE FROM messages WHERE ticket_id = ANY($1) RETURNING attachments",
        )
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await
        .map_err(store_error)?;
        for table in ["ticket_changes", "email_threads", "idempotency_keys"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE ticket_id = ANY($1)"))
                .bind(&ids)
                .execute(&mut *tx)
                .await
                .map_err(store_error)?;
        }
        sqlx::query("DELETE FROM tickets WHERE id = ANY($1)")
            .bind(&ids)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        let system = Actor {
            kind: ActorKind::System as i32,
            id: RETENTION.to_owned(),
            role: 0,
        };
        let mut events = Vec::with_capacity(rows.len());
        for (id, tenant, version, requester) in &rows {
            let Ok(tenant) = TenantId::parse(tenant) else {
                continue;
            };
            events.push(
                EventBuilder::new(&tenant, "ticket", id.to_string(), version + 1)
                    .actor(system.clone())
                    .build(
                        "deleted",
                        Payload::TicketDeleted(TicketDeleted {
                            ticket: ticket_name(*id),
                            reason: RETENTION.to_owned(),
                            requester: customer_name(*requester),
                        }),
                    ),
            );
        }
        outbox::append_all(&mut tx, &events)
            .await
            .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        self.committed();
        Ok(Purged {
            tickets: ids,
            dropped_attachments: attachments.into_iter().flat_map(storage_keys).collect(),
        })
    }
}
