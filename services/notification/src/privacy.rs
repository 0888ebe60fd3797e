//! Erasure and deletion reach the notification service's copies: what was
//! rendered, addressed or queued for a ticket whose customer was erased
//! (`ticket.updated` with `erased_customer`) or that was deleted
//! (`ticket.deleted`), and what was learnt of the customer
//! (`customer.erased`).
//!
//! Each runs in the consumer's transaction after the batch's own rows are
//! written, and spares the rows of its own event and of every later event
//! of the batch: those were made from what the ticket service holds after
//! the erasure, so they name nobody. A ticket's events arrive in order, so
//! every copy made before the erasure is there to be scrubbed.

use std::collections::HashSet;

use sqlx::PgConnection;
use switchboard_events::{Envelope, Payload};
use uuid::Uuid;

/// What replaces erased text.
pub const ERASED: &str = "[erased]";

/// The payload an erased delivery keeps: it can be redelivered, naming
/// nobody.
pub const ERASED_PAYLOAD: &str = r#"{"erased":true}"#;

/// Why an erased delivery was not sent.
pub const ERASED_ERROR: &str = "not sent: its customer's personal data was erased";

/// Whether `event` asks for copies to be scrubbed or dropped.
pub fn concerns_privacy(event: &Envelope) -> bool {
    match &event.payload {
        Some(Payload::TicketUpdated(u)) => !u.erased_customer.is_empty(),
        Some(Payload::TicketDeleted(_)) | Some(Payload::CustomerErased(_)) => true,
        _ => false,
    }
}

/// Applies the privacy events among `events` (the batch, in stream order,
/// its rows already written); returns the deliveries it stopped, which
/// must not be handed to the dispatcher.
pub async fn apply(
    tx: &mut PgConnection,
    events: &[&Envelope],
) -> Result<HashSet<Uuid>, sqlx::Error> {
    let mut stopped = HashSet::new();
    for (i, event) in events.iter().enumerate() {
        if !concerns_privacy(event) {
            continue;
        }
        // This event and the later ones of the batch came after the erasure.
        let spared: Vec<Uuid> = events[i..]
            .iter()
            .filter_map(|e| Uuid::parse_str(&e.id).ok())
            .collect();
        let tenant = event.tenant_id.as_str();
        match &event.payload {
            Some(Payload::TicketUpdated(u)) => {
                let Some(ticket) = &u.ticket else { continue };
                stopped.extend(scrub_ticket(tx, tenant, ticket, &spared).await?);
            }
            Some(Payload::TicketDeleted(d)) => {
                stopped.extend(drop_ticket(tx, tenant, &d.ticket, &spared).await?);
            }
            Some(Payload::CustomerErased(e)) => {
                let mut customers = e.merged_customers.clone();
                customers.push(e.customer.clone());
                stopped.extend(
                    forget_customer(
                        tx,
                        tenant,
                        &e.customer,
                        &customers,
                        &e.identity_sha256,
                        &spared,
                    )
                    .await?,
                );
            }
            _ => {}
        }
    }
    Ok(stopped)
}

/// Scrubs what was made for `ticket` before its customer was erased:
/// emails to them are re-addressed to the pseudonymous profile, every
/// rendered title and body loses the ticket's old texts, every queued
/// payload is replaced and every unsent delivery stopped. The requester's
/// address is forgotten with them.
async fn scrub_ticket(
    tx: &mut PgConnection,
    tenant: &str,
    ticket: &switchboard_proto::ticket::v1::Ticket,
    spared: &[Uuid],
) -> Result<Vec<Uuid>, sqlx::Error> {
    let title = format!("[#T-{}] {}", ticket.number, ticket.subject);
    sqlx::query(
        "UPDATE notifications SET \
             recipient = CASE WHEN channel = 'email' THEN $4 ELSE recipient END, \
             title = CASE WHEN channel = 'webhook' THEN title ELSE $5 END, body = '' \
         WHERE tenant_id = $1 AND ticket = $2 AND NOT event_id = ANY($3)",
    )
    .bind(tenant)
    .bind(&ticket.name)
    .bind(spared)
    .bind(&ticket.requester)
    .bind(&title)
    .execute(&mut *tx)
    .await?;
    let stopped = stop_deliveries(
        tx,
        tenant,
        Some(&ticket.name),
        &[],
        &ticket.requester,
        spared,
    )
    .await?;
    forget_contact(tx, tenant, std::slice::from_ref(&ticket.requester)).await?;
    Ok(stopped)
}

/// Replaces the payloads of `tenant`'s deliveries for `ticket`, of its
/// emails to the identities `hashes` name and of its webhook posts of
/// events those identities caused (an article vote, say), re-addresses
/// those emails to `pseudonym` and stops the unsent ones; returns the ids
/// it stopped.
async fn stop_deliveries(
    tx: &mut PgConnection,
    tenant: &str,
    ticket: Option<&str>,
    hashes: &[String],
    pseudonym: &str,
    spared: &[Uuid],
) -> Result<Vec<Uuid>, sqlx::Error> {
    let rows: Vec<(Uuid, String)> = sqlx::query_as(
        "UPDATE deliveries SET payload = $5::json, \
             target = CASE WHEN channel = 'email' THEN $4 ELSE target END, \
             status = CASE WHEN status = 'pending' THEN 'dead' ELSE status END, \
             last_error = CASE WHEN status = 'pending' THEN $6 ELSE last_error END \
         WHERE tenant_id = $1 AND NOT event_id = ANY($3) AND (ticket = $2 OR (channel = 'email' \
             AND encode(sha256(convert_to(target, 'UTF8')), 'hex') = ANY($7)) \
             OR encode(sha256(convert_to(payload #>> '{event,actor,id}', 'UTF8')), 'hex') = ANY($7)) \
         RETURNING id, status",
    )
    .bind(tenant)
    .bind(ticket)
    .bind(spared)
    .bind(pseudonym)
    .bind(ERASED_PAYLOAD)
    .bind(ERASED_ERROR)
    .bind(hashes)
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows.into_iter().map(|(id, _)| id).collect())
}

/// Forgets the addresses of `customers`, and the people those addresses
/// were.
async fn forget_contact(
    tx: &mut PgConnection,
    tenant: &str,
    customers: &[String],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "WITH gone AS (DELETE FROM contacts WHERE tenant_id = $1 AND customer = ANY($2) RETURNING email) \
         DELETE FROM people WHERE tenant_id = $1 AND user_id IN (SELECT email FROM gone)",
    )
    .bind(tenant)
    .bind(customers)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Drops what was made for a deleted ticket.
async fn drop_ticket(
    tx: &mut PgConnection,
    tenant: &str,
    ticket: &str,
    spared: &[Uuid],
) -> Result<Vec<Uuid>, sqlx::Error> {
    let stopped: Vec<Uuid> = sqlx::query_scalar(
        "DELETE FROM deliveries WHERE tenant_id = $1 AND ticket = $2 AND NOT event_id = ANY($3) RETURNING id",
    )
    .bind(tenant)
    .bind(ticket)
    .bind(spared)
    .fetch_all(&mut *tx)
    .await?;
    sqlx::query(
        "DELETE FROM notifications WHERE tenant_id = $1 AND ticket = $2 AND NOT event_id = ANY($3)",
    )
    .bind(tenant)
    .bind(ticket)
    .bind(spared)
    .execute(&mut *tx)
    .await?;
    Ok(stopped)
}

/// Forgets an erased customer: their addresses, the people and
/// preferences their identities were (found by hash), any email still
/// addressed to those identities on another ticket, and the webhook posts
/// of events they caused.
async fn forget_customer(
    tx: &mut PgConnection,
    tenant: &str,
    customer: &str,
    customers: &[String],
    hashes: &[String],
    spared: &[Uuid],
) -> Result<Vec<Uuid>, sqlx::Error> {
    forget_contact(tx, tenant, customers).await?;
    const HASHED: &str = "encode(sha256(convert_to({}, 'UTF8')), 'hex') = ANY($2)";
    for (table, column) in [("people", "user_id"), ("preferences", "user_id")] {
        sqlx::query(&format!(
            "DELETE FROM {table} WHERE tenant_id = $1 AND {}",
            HASHED.replace("{}", column)
        ))
        .bind(tenant)
        .bind(hashes)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query(&format!(
        "UPDATE notifications SET recipient = $4, title = $5, body = '' \
         WHERE tenant_id = $1 AND channel = 'email' AND NOT event_id = ANY($3) AND {}",
        HASHED.replace("{}", "recipient")
    ))
    .bind(tenant)
    .bind(hashes)
    .bind(spared)
    .bind(customer)
    .bind(ERASED)
    .execute(&mut *tx)
    .await?;
    stop_deliveries(tx, tenant, None, hashes, customer, spared).await
}
