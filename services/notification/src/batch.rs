//! The durable consumer, batched: the events JetStream has ready (up to a
//! batch) are applied in one transaction, each recorded in
//! `processed_events` as the shared consumer does, then acknowledged. One
//! commit per batch instead of per event is what lets a replica keep up
//! with the stream. A batch that fails is retried event by event, so one
//! bad event delays only itself.

use std::sync::Arc;

use async_nats::jetstream::{self, AckKind, consumer::pull};
use futures::{FutureExt, StreamExt};
use prost::Message;
use sqlx::PgPool;
use switchboard_events::{
    Envelope,
    consumer::{ConsumerConfig, ConsumerError, Handler, HandlerError, process},
};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Most events one transaction applies.
pub const BATCH: usize = 256;

/// Runs the durable consumer on `stream` until `stop`.
pub async fn run(
    stream: jetstream::stream::Stream,
    pool: PgPool,
    config: ConsumerConfig,
    handler: Arc<dyn Handler>,
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
    let mut messages = consumer
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
            // Only what is already here: a batch never waits for more.
            next = messages.next().now_or_never().flatten();
        }
        apply(&pool, &config, handler.as_ref(), batch).await;
    }
}

async fn apply(
    pool: &PgPool,
    config: &ConsumerConfig,
    handler: &dyn Handler,
    messages: Vec<jetstream::Message>,
) {
    let mut decoded = Vec::with_capacity(messages.len());
    for m in messages {
        match Envelope::decode(m.payload.clone()) {
            Ok(event) => decoded.push((m, event)),
            Err(e) => {
                // Redelivering a message that never decodes would loop forever.
                tracing::error!(error = %e, subject = %m.subject, "undecodable event dropped");
                let _ = m.ack_with(AckKind::Term).await;
            }
        }
    }
    if decoded.is_empty() {
        return;
    }
    match apply_together(pool, &config.durable_name, handler, &decoded).await {
        Ok(()) => {
            metrics::counter!("events_consumed_total", "consumer" => config.durable_name.clone(), "outcome" => "Batched").increment(decoded.len() as u64);
            for (m, event) in &decoded {
                if let Err(e) = m.ack().await {
                    tracing::warn!(error = %e, event_id = %event.id, "ack failed; the event will be redelivered");
                }
            }
        }
        Err(e) => {
            // One by one, the dispatchers find new deliveries by polling.
            tracing::warn!(error = %e, events = decoded.len(), "batch failed; applying its events one by one");
            for (m, event) in &decoded {
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

async fn apply_together(
    pool: &PgPool,
    consumer: &str,
    handler: &dyn Handler,
    events: &[(jetstream::Message, Envelope)],
) -> Result<(), HandlerError> {
    let ids = events
        .iter()
        .map(|(_, e)| {
            Uuid::parse_str(&e.id)
                .map_err(|err| HandlerError(format!("event id `{}` is not a UUID: {err}", e.id)))
        })
        .collect::<Result<Vec<_>, _>>()?;
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
    for ((_, event), id) in events.iter().zip(&ids) {
        if fresh.remove(id) {
            handler.handle(&mut tx, event).await?;
        }
    }
    crate::store::deliveries::wake_dispatchers(&mut tx).await?;
    tx.commit().await?;
    Ok(())
}
