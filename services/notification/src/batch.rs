//! The durable consumer, batched: the events JetStream has ready (up to a
//! batch) are applied in one transaction, each recorded in
//! `processed_events` as the shared consumer does, then acknowledged. One
//! commit per batch instead of per event, and a fixed number of statements
//! per batch (see [`Notifier::apply`]), is what lets a replica keep up with
//! the stream. A batch that fails is retried event by event, so one bad
//! event delays only itself.

use std::sync::Arc;

use async_nats::jetstream::{self, AckKind, consumer::pull};
use futures::{FutureExt, StreamExt};
use prost::Message;
use sqlx::PgPool;
use switchboard_events::{
    Envelope,
    consumer::{ConsumerConfig, ConsumerError, HandlerError, process},
};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{consumer::Notifier, domain, handoff::Handoff};

/// Most events one transaction applies.
pub const BATCH: usize = 512;

/// Runs the durable consumer on `stream` until `stop`.
pub async fn run(
    stream: jetstream::stream::Stream,
    pool: PgPool,
    config: ConsumerConfig,
    handler: Arc<Notifier>,
    handoff: Option<Handoff>,
    stop: CancellationToken,
) -> Result<(), ConsumerError> {
    let consumer = stream
        .get_or_create_consumer(
            &config.durable_name,
            pull::Config {
                durable_name: Some(config.durable_name.clone()),
                filter_subject: config.filter_subject.clone(),
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                ack_wait: config.ack_wait,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| ConsumerError(e.to_string()))?;
    // Twice a batch in flight, so a full batch is usually waiting by the
    // time the previous one commits.
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(2 * BATCH)
        .messages()
        .await
        .map_err(|e| ConsumerError(e.to_string()))?;
    loop {
        let first = tokio::select! {
            _ = stop.cancelled() => return Ok(()),
            next = messages.next() => next,
        };
        let Some(first) = first else { return Ok(()) };
        let mut batch = Vec::with_capacity(BATCH);
        let mut next = Some(first);
        while let Some(item) = next {
            match item {
                Ok(m) => batch.push(m),
                Err(e) => tracing::warn!(error = %e, "consumer stream error"),
            }
            if batch.len() >= BATCH {
                break;
            }
            // Only what is already here: a batch never waits for more. Polled
            // outside tokio's cooperative budget: within it, the stream turns
            // `Pending` after ~128 polls per task wake-up (fewer after the
            // acks of the previous batch spent some), which cut batches to
            // ~111 and ~17 events while hundreds were waiting.
            next = tokio::task::unconstrained(messages.next())
                .now_or_never()
                .flatten();
        }
        apply(&pool, &config, handler.as_ref(), handoff.as_ref(), batch).await;
    }
}

async fn apply(
    pool: &PgPool,
    config: &ConsumerConfig,
    handler: &Notifier,
    handoff: Option<&Handoff>,
    messages: Vec<jetstream::Message>,
) {
    let mut acks = Vec::with_capacity(messages.len());
    let mut events = Vec::with_capacity(messages.len());
    for m in messages {
        match Envelope::decode(m.payload.clone()) {
            Ok(event) => {
                acks.push(m);
                events.push(event);
            }
            Err(e) => {
                // Redelivering a message that never decodes would loop forever.
                tracing::error!(error = %e, subject = %m.subject, "undecodable event dropped");
                let _ = m.ack_with(AckKind::Term).await;
            }
        }
    }
    if events.is_empty() {
        return;
    }
    match apply_batch_handing(pool, &config.durable_name, handler, &events, handoff).await {
        Ok(()) => {
            metrics::counter!("events_consumed_total", "consumer" => config.durable_name.clone(), "outcome" => "Batched").increment(events.len() as u64);
            for (m, event) in acks.iter().zip(&events) {
                if let Err(e) = m.ack().await {
                    tracing::warn!(error = %e, event_id = %event.id, "ack failed; the event will be redelivered");
                }
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, events = events.len(), "batch failed; applying its events one by one");
            for (m, event) in acks.iter().zip(&events) {
                let ack = match process(pool, &config.durable_name, event, handler).await {
                    Ok(_) => AckKind::Ack,
                    Err(e) => {
                        tracing::warn!(error = %e, event_id = %event.id, "event handler failed; will retry");
                        AckKind::Nak(Some(config.retry_delay))
                    }
                };
                if let Err(e) = m.ack_with(ack).await {
                    tracing::warn!(error = %e, event_id = %event.id, "ack failed; the event will be redelivered");
                }
            }
        }
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
