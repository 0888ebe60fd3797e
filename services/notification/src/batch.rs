//! The notification consumer's batches: the events JetStream has ready (up
//! to a batch) are applied in one transaction, each recorded in
//! `processed_events` as the shared consumer does, then acknowledged. One
//! commit per batch instead of per event, and a fixed number of statements
//! per batch (see [`Notifier::apply`]), is what lets a replica keep up with
//! the stream. The shared consumer (`switchboard_events::consumer`, batch
//! mode) runs them and retries a failed batch event by event, so one bad
//! event delays only itself and its ticket's later events.

use std::sync::Arc;

use sqlx::PgPool;
use switchboard_events::{
    Envelope,
    consumer::{BatchHandler, HandlerError},
};
use uuid::Uuid;

use crate::{consumer::Notifier, domain, handoff::Handoff};

/// Most events one transaction applies.
pub const BATCH: usize = 512;

/// The notification consumer's batches, for the shared consumer's batch
/// mode (which retries a failed batch event by event, each in place).
pub struct Batches {
    /// The notification schema's pool.
    pub pool: PgPool,
    /// The consumer's durable name, the idempotency records' key.
    pub consumer: String,
    /// What each event queues.
    pub handler: Arc<Notifier>,
    /// This replica's dispatcher, handed what a batch queues.
    pub handoff: Option<Handoff>,
}

#[async_trait::async_trait]
impl BatchHandler for Batches {
    async fn handle_batch(&self, events: &[Envelope]) -> Result<(), HandlerError> {
        apply_batch_handing(
            &self.pool,
            &self.consumer,
            &self.handler,
            events,
            self.handoff.as_ref(),
        )
        .await
    }
}

/// Applies `events` (in stream order) for `consumer` in one transaction:
/// those applied before, and repeats within `events`, change nothing. The
/// caller acknowledges them once this returns `Ok`, never before.
pub async fn apply_batch(
    pool: &PgPool,
    consumer: &str,
    handler: &Notifier,
    events: &[Envelope],
) -> Result<(), HandlerError> {
    apply_batch_handing(pool, consumer, handler, events, None).await
}

/// As [`apply_batch`], handing the deliveries it queues claimed (those due
/// at once that `handoff` has room for) to this replica's dispatcher once
/// the transaction commits.
pub async fn apply_batch_handing(
    pool: &PgPool,
    consumer: &str,
    handler: &Notifier,
    events: &[Envelope],
    handoff: Option<&Handoff>,
) -> Result<(), HandlerError> {
    // The service's own events notify nobody (see `domain::is_own_event`),
    // so they need no transaction and no idempotency record: acknowledging
    // them is all there is to do.
    let events = events
        .iter()
        .filter(|e| !domain::is_own_event(&e.r#type))
        .map(|e| {
            Uuid::parse_str(&e.id)
                .map(|id| (e, id))
                .map_err(|err| HandlerError(format!("event id `{}` is not a UUID: {err}", e.id)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if events.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = events.iter().map(|(_, id)| *id).collect();
    let mut tx = pool.begin().await?;
    // One statement records the whole batch; what it did not insert was
    // applied before (or appears twice in this batch).
    let fresh: Vec<Uuid> = sqlx::query_scalar(
        "INSERT INTO processed_events (consumer, event_id) SELECT $1, id FROM unnest($2::uuid[]) AS id \
         ON CONFLICT DO NOTHING RETURNING event_id",
    )
    .bind(consumer)
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await?;
    let mut fresh: std::collections::HashSet<Uuid> = fresh.into_iter().collect();
    let todo: Vec<&Envelope> = events
        .iter()
        .filter(|(_, id)| fresh.remove(id))
        .map(|(e, _)| *e)
        .collect();
    let handed = handler.apply_handing(&mut tx, &todo, handoff).await?;
    tx.commit().await?;
    if let Some(handoff) = handoff {
        handoff.hand(handed).await;
    }
    Ok(())
}
