//! Durable JetStream consumers with explicit acks and an idempotency record,
//! so a redelivered event is applied once.

use std::{sync::Arc, time::Duration};

use async_nats::jetstream::{self, AckKind, consumer::pull};
use futures::StreamExt;
use prost::Message;
use sqlx::{PgConnection, PgPool};
use switchboard_proto::events::v1::Envelope;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// An event handler; it applies one event through the transaction it is given,
/// which also records the event id, so both commit together.
#[async_trait::async_trait]
pub trait Handler: Send + Sync + 'static {
    /// Applies `event`. An error rolls back and the event is redelivered.
    async fn handle(&self, tx: &mut PgConnection, event: &Envelope) -> Result<(), HandlerError>;
}

/// A handler whose effects are idempotent by construction (a repeat finds
/// the work done and changes nothing), so it needs no idempotency record and
/// holds no database connection while it works: lanes are then bounded by
/// what the reactor calls, not by the pool.
#[async_trait::async_trait]
pub trait Reactor: Send + Sync + 'static {
    /// Reacts to `event`. An error means the event is redelivered.
    async fn react(&self, event: &Envelope) -> Result<(), HandlerError>;
}

/// A handler's failure; the event is redelivered after a delay.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HandlerError(pub String);

impl From<sqlx::Error> for HandlerError {
    fn from(e: sqlx::Error) -> Self {
        Self(e.to_string())
    }
}

/// The consumer could not be created or subscribed.
#[derive(Debug, thiserror::Error)]
#[error("JetStream consumer failed: {0}")]
pub struct ConsumerError(pub String);

/// What processing one event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The handler ran and its changes committed.
    Applied,
    /// The event had been applied before; nothing ran.
    Duplicate,
}

/// Applies `event` with `handler` at most once for `consumer`.
pub async fn process(
    pool: &PgPool,
    consumer: &str,
    event: &Envelope,
    handler: &dyn Handler,
) -> Result<Outcome, HandlerError> {
    let id = Uuid::parse_str(&event.id)
        .map_err(|e| HandlerError(format!("event id `{}` is not a UUID: {e}", event.id)))?;
    let mut tx = pool.begin().await?;
    let fresh = sqlx::query(
        "INSERT INTO processed_events (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(consumer)
    .bind(id)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if !fresh {
        return Ok(Outcome::Duplicate);
    }
    handler.handle(&mut tx, event).await?;
    tx.commit().await?;
    Ok(Outcome::Applied)
}

/// Forgets `consumer`'s idempotency records older than `older_than`, in
/// batches of `batch`; returns how many it removed.
///
/// Safe once `older_than` exceeds the stream's `max_age`: JetStream can no
/// longer redeliver anything that old, so nothing can be applied twice.
pub async fn purge_processed(
    pool: &PgPool,
    consumer: &str,
    older_than: Duration,
    batch: i64,
) -> Result<u64, sqlx::Error> {
    let cutoff = chrono::Utc::now()
        - chrono::TimeDelta::from_std(older_than).unwrap_or(chrono::TimeDelta::MAX);
    let mut removed = 0;
    loop {
        // Small batches keep each delete's locks and WAL short.
        let done = sqlx::query(
            "DELETE FROM processed_events WHERE ctid IN ( \
                 SELECT ctid FROM processed_events WHERE consumer = $1 AND processed_at < $2 LIMIT $3)",
        )
        .bind(consumer)
        .bind(cutoff)
        .bind(batch)
        .execute(pool)
        .await?
        .rows_affected();
        removed += done;
        if done < batch as u64 {
            return Ok(removed);
        }
    }
}

/// Runs [`purge_processed`] for `consumer` every `every` until `stop`, so the
/// idempotency table stays as small as the stream's redelivery horizon.
pub async fn purge_periodically(
    pool: PgPool,
    consumer: String,
    older_than: Duration,
    every: Duration,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        match purge_processed(&pool, &consumer, older_than, 1000).await {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(consumer = %consumer, removed = n, "purged idempotency records")
            }
            Err(e) => {
                tracing::warn!(error = %e, consumer = %consumer, "purging idempotency records failed")
            }
        }
    }
}

/// A durable consumer's settings.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// Durable name; also the idempotency record's key.
    pub durable_name: String,
    /// Subject filter, e.g. `switchboard.*.ticket.>`.
    pub filter_subject: String,
    /// How long JetStream waits for an ack before redelivering.
    pub ack_wait: Duration,
    /// Delay before redelivering an event whose handler failed.
    pub retry_delay: Duration,
}

/// Runs a durable pull consumer on `stream` until `stop` is cancelled,
/// handling one event at a time in stream order.
pub async fn run(
    stream: jetstream::stream::Stream,
    pool: PgPool,
    config: ConsumerConfig,
    handler: Arc<dyn Handler>,
    stop: CancellationToken,
) -> Result<(), ConsumerError> {
    run_lanes(stream, pool, config, handler, 1, stop).await
}

/// Like [`run`], with up to `lanes` events handled at once. Events of one
/// aggregate (one ticket, say) always share a lane, so they are still
/// handled in stream order; only events of different aggregates overlap.
/// Each lane holds a database connection while it handles an event.
pub async fn run_lanes(
    stream: jetstream::stream::Stream,
    pool: PgPool,
    config: ConsumerConfig,
    handler: Arc<dyn Handler>,
    lanes: usize,
    stop: CancellationToken,
) -> Result<(), ConsumerError> {
    let apply = Arc::new(Apply::Recorded { pool, handler });
    consume(stream, config, apply, lanes, stop).await
}

/// Like [`run_lanes`] for a [`Reactor`]: no idempotency record, no
/// transaction; events of one aggregate still share a lane.
pub async fn run_reactor_lanes(
    stream: jetstream::stream::Stream,
    config: ConsumerConfig,
    reactor: Arc<dyn Reactor>,
    lanes: usize,
    stop: CancellationToken,
) -> Result<(), ConsumerError> {
    consume(
        stream,
        config,
        Arc::new(Apply::Direct(reactor)),
        lanes,
        stop,
    )
    .await
}

/// How a lane applies an event.
enum Apply {
    /// Through a transaction that records the event id.
    Recorded {
        pool: PgPool,
        handler: Arc<dyn Handler>,
    },
    /// Straight to an idempotent reactor.
    Direct(Arc<dyn Reactor>),
}

impl Apply {
    async fn apply(&self, consumer: &str, event: &Envelope) -> Result<Outcome, HandlerError> {
        match self {
            Apply::Recorded { pool, handler } => {
                process(pool, consumer, event, handler.as_ref()).await
            }
            Apply::Direct(reactor) => reactor.react(event).await.map(|()| Outcome::Applied),
        }
    }
}

async fn consume(
    stream: jetstream::stream::Stream,
    config: ConsumerConfig,
    apply: Arc<Apply>,
    lanes: usize,
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
    let mut senders = Vec::new();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..lanes.max(1) {
        // Small queues: an event waiting here is not acked, so a crash or a
        // stop only means JetStream redelivers it.
        let (tx, mut rx) = tokio::sync::mpsc::channel::<(jetstream::Message, Envelope)>(8);
        senders.push(tx);
        let (apply, config, stop) = (apply.clone(), config.clone(), stop.clone());
        workers.spawn(async move {
            loop {
                let next = tokio::select! {
                    biased;
                    _ = stop.cancelled() => return,
                    next = rx.recv() => next,
                };
                let Some((message, event)) = next else { return };
                settle(&apply, &config, message, &event).await;
            }
        });
    }
    loop {
        let next = tokio::select! {
            _ = stop.cancelled() => break,
            next = messages.next() => next,
        };
        let Some(message) = next else { break };
        let message = match message {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, consumer = %config.durable_name, "consumer stream error");
                continue;
            }
        };
        let event = match Envelope::decode(message.payload.clone()) {
            Ok(event) => event,
            Err(e) => {
                // Redelivering a message that never decodes would loop forever.
                tracing::error!(error = %e, subject = %message.subject, "undecodable event dropped");
                let _ = message.ack_with(AckKind::Term).await;
                continue;
            }
        };
        let lane = lane_of(&event.aggregate_id, senders.len());
        let queued = std::time::Instant::now();
        if senders[lane].send((message, event)).await.is_err() {
            break;
        }
        // Time the dispatcher waited for a full lane: every lane waits with it.
        metrics::histogram!("events_dispatch_wait_seconds", "consumer" => config.durable_name.clone())
            .record(queued.elapsed().as_secs_f64());
    }
    drop(senders);
    // Events already being handled finish; queued ones are redelivered.
    while workers.join_next().await.is_some() {}
    Ok(())
}

/// The lane of an aggregate: stable for the process's life.
fn lane_of(aggregate_id: &str, lanes: usize) -> usize {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    aggregate_id.hash(&mut h);
    (h.finish() % lanes.max(1) as u64) as usize
}

/// Handles one event and acks it (or asks for it again later).
async fn settle(
    apply: &Apply,
    config: &ConsumerConfig,
    message: jetstream::Message,
    event: &Envelope,
) {
    let started = std::time::Instant::now();
    let applied = apply.apply(&config.durable_name, event).await;
    metrics::histogram!("events_handle_seconds", "consumer" => config.durable_name.clone())
        .record(started.elapsed().as_secs_f64());
    let ack = match applied {
        Ok(outcome) => {
            metrics::counter!("events_consumed_total", "consumer" => config.durable_name.clone(), "outcome" => format!("{outcome:?}")).increment(1);
            AckKind::Ack
        }
        Err(e) => {
            tracing::warn!(error = %e, event_id = %event.id, "event handler failed; will retry");
            AckKind::Nak(Some(config.retry_delay))
        }
    };
    if let Err(e) = message.ack_with(ack).await {
        tracing::warn!(error = %e, event_id = %event.id, "ack failed; the event will be redelivered");
    }
}

#[cfg(test)]
mod tests {
    use super::lane_of;

    #[test]
    fn one_aggregate_always_shares_a_lane_and_lanes_spread() {
        let lanes: std::collections::HashSet<usize> = (0..64)
            .map(|i| lane_of(&format!("ticket-{i}"), 4))
            .collect();
        assert_eq!(lanes.len(), 4, "64 aggregates over 4 lanes use them all");
        for i in 0..16 {
            let id = format!("ticket-{i}");
            assert_eq!(lane_of(&id, 4), lane_of(&id, 4));
            assert!(lane_of(&id, 4) < 4);
        }
        assert_eq!(lane_of("anything", 1), 0);
        assert_eq!(lane_of("anything", 0), 0, "no lanes means one");
    }
}
