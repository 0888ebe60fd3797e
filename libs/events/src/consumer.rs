//! Durable JetStream consumers with explicit acks and an idempotency record,
//! so a redelivered event is applied once; one engine for every consuming
//! service (see [`Consumer`]).

use std::{
    collections::{HashMap, HashSet, VecDeque},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use async_nats::jetstream::{self, AckKind, consumer::pull};
use futures::{FutureExt, StreamExt};
use prost::Message;
use sqlx::{PgConnection, PgPool};
use switchboard_proto::events::v1::Envelope;
use switchboard_runtime::{backoff::Backoff, config::EventSettings};
use tokio::{
    sync::{Semaphore, watch},
    task::JoinSet,
};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use crate::{
    deadletter::DeadLetters,
    envelope::{batch_span, handler_span},
};

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

/// A handler's failure; the event is tried again, in place, after a delay.
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
    /// First delay before a failed event is tried again, in place; it
    /// doubles up to `retry_max_delay`.
    pub retry_delay: Duration,
    /// Longest delay between two attempts (kept under half of `ack_wait`).
    pub retry_max_delay: Duration,
    /// Attempts per event before it goes to the dead letters.
    pub max_deliver: i64,
    /// Most events delivered and not yet acked: bounds what waits in memory
    /// behind an aggregate whose event is being retried.
    pub max_ack_pending: i64,
}

impl ConsumerConfig {
    /// Settings for `durable_name` on `filter_subject`, retrying a failed
    /// event after `retry_delay` (doubling), ten attempts at most.
    pub fn new(
        durable_name: impl Into<String>,
        filter_subject: impl Into<String>,
        retry_delay: Duration,
    ) -> Self {
        Self {
            durable_name: durable_name.into(),
            filter_subject: filter_subject.into(),
            ack_wait: Duration::from_secs(30),
            retry_delay,
            retry_max_delay: Duration::from_secs(10),
            max_deliver: 10,
            max_ack_pending: 1000,
        }
    }

    /// Takes `events.max_deliver` from `settings`.
    pub fn with_settings(mut self, settings: &EventSettings) -> Self {
        self.max_deliver = settings.max_deliver;
        self
    }

    fn backoff(&self) -> Backoff {
        Backoff::new(
            self.retry_delay,
            self.retry_max_delay.min(self.ack_wait / 2),
        )
    }
}

/// Applies many events in one go (one transaction for all), for consumers
/// whose throughput needs it; a failed batch is retried event by event.
#[async_trait::async_trait]
pub trait BatchHandler: Send + Sync + 'static {
    /// Applies `events` (stream order; some may have been applied before,
    /// which must change nothing) all or nothing.
    async fn handle_batch(&self, events: &[Envelope]) -> Result<(), HandlerError>;
}

/// What a consumer is doing, for readiness checks and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsumerState {
    /// Not subscribed yet (waiting for the stream, say).
    Starting,
    /// Subscribed and handling events.
    Up,
    /// Stopped by an error; it restarts after a backoff.
    Down(String),
}

/// A consumer's liveness, shared with whoever reports readiness: clone it,
/// call [`ConsumerHealth::check`] in a readiness check, or
/// [`ConsumerHealth::subscribe`] to wait for changes.
#[derive(Clone)]
pub struct ConsumerHealth {
    name: Arc<str>,
    state: Arc<watch::Sender<ConsumerState>>,
}

impl ConsumerHealth {
    /// A consumer named `name`, starting.
    pub fn new(name: &str) -> Self {
        let health = Self {
            name: name.into(),
            state: Arc::new(watch::Sender::new(ConsumerState::Starting)),
        };
        health.set(ConsumerState::Starting);
        health
    }

    /// The consumer's durable name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The current state.
    pub fn state(&self) -> ConsumerState {
        self.state.borrow().clone()
    }

    /// Whether it is subscribed and handling events.
    pub fn is_up(&self) -> bool {
        *self.state.borrow() == ConsumerState::Up
    }

    /// Changes of state, starting with the current one.
    pub fn subscribe(&self) -> watch::Receiver<ConsumerState> {
        self.state.subscribe()
    }

    /// `Ok` while up; otherwise why not, naming the consumer, in the shape
    /// a readiness check returns.
    pub fn check(&self) -> Result<(), String> {
        match self.state() {
            ConsumerState::Up => Ok(()),
            ConsumerState::Starting => Err(format!("consumer {} is not running yet", self.name)),
            ConsumerState::Down(why) => Err(format!("consumer {} is down: {why}", self.name)),
        }
    }

    /// [`ConsumerHealth::check`] as a readiness check for
    /// [`switchboard_runtime::App::readiness_check`].
    pub fn readiness(&self) -> switchboard_runtime::app::Check {
        let health = self.clone();
        std::sync::Arc::new(move || {
            let health = health.clone();
            Box::pin(async move { health.check() })
        })
    }

    fn set(&self, state: ConsumerState) {
        let up = if state == ConsumerState::Up { 1.0 } else { 0.0 };
        metrics::gauge!("events_consumer_up", "consumer" => self.name.to_string()).set(up);
        self.state.send_replace(state);
    }
}

/// One durable consumer: per-aggregate order kept under failure (a failed
/// event is retried in place with backoff while its aggregate's later events
/// wait; other aggregates flow), at most `max_deliver` attempts before the
/// event goes to the dead letters, an optional batch mode, and supervision
/// ([`Consumer::run`] restarts it with backoff and keeps its
/// [`ConsumerHealth`]).
pub struct Consumer {
    config: ConsumerConfig,
    apply: Arc<Apply>,
    lanes: usize,
    batch: usize,
    dead_letters: Option<DeadLetters>,
    health: ConsumerHealth,
}

impl Consumer {
    fn with_apply(config: ConsumerConfig, apply: Apply) -> Self {
        let health = ConsumerHealth::new(&config.durable_name);
        Self {
            config,
            apply: Arc::new(apply),
            lanes: 1,
            batch: 1,
            dead_letters: None,
            health,
        }
    }

    /// Applies each event with `handler` in a transaction that records it.
    pub fn recorded(config: ConsumerConfig, pool: PgPool, handler: Arc<dyn Handler>) -> Self {
        Self::with_apply(config, Apply::Recorded { pool, handler })
    }

    /// Hands each event to an idempotent `reactor`.
    pub fn reactor(config: ConsumerConfig, reactor: Arc<dyn Reactor>) -> Self {
        Self::with_apply(config, Apply::Direct(reactor))
    }

    /// Applies whatever events are ready, up to `batch`, in one call of
    /// `handler`; a failed batch goes event by event, each retried in place.
    pub fn batched(config: ConsumerConfig, handler: Arc<dyn BatchHandler>, batch: usize) -> Self {
        let mut consumer = Self::with_apply(config, Apply::Batched(handler));
        consumer.batch = batch.max(1);
        consumer
    }

    /// Up to `lanes` events (of different aggregates) handled at once.
    pub fn lanes(mut self, lanes: usize) -> Self {
        self.lanes = lanes.max(1);
        self
    }

    /// Where events go after `max_deliver` attempts; without it they are
    /// terminated (dropped, with an error log).
    pub fn dead_letters(mut self, dead_letters: DeadLetters) -> Self {
        self.dead_letters = Some(dead_letters);
        self
    }

    /// The consumer's liveness.
    pub fn health(&self) -> ConsumerHealth {
        self.health.clone()
    }

    /// Runs until `stop`, on the stream named `stream` (waiting for it to
    /// exist), restarting with backoff whenever the subscription fails or
    /// ends; [`Consumer::health`] says which.
    pub async fn run(self, js: jetstream::Context, stream: String, stop: CancellationToken) {
        let name = self.config.durable_name.clone();
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(10));
        loop {
            let started = Instant::now();
            let failure = match js.get_stream(&stream).await {
                Ok(s) => match self.run_once(s, &stop).await {
                    Ok(()) => return,
                    Err(e) => e.to_string(),
                },
                Err(e) => format!("event stream {stream}: {e}"),
            };
            if stop.is_cancelled() {
                return;
            }
            tracing::error!(consumer = %name, error = %failure, "consumer down; restarting");
            metrics::counter!("events_consumer_restarts_total", "consumer" => name.clone())
                .increment(1);
            self.health.set(ConsumerState::Down(failure));
            if started.elapsed() > Duration::from_secs(30) {
                backoff.reset();
            }
            if !backoff.wait(&stop).await {
                return;
            }
        }
    }

    /// One subscription: `Ok` once `stop` ends it, an error when it fails or
    /// the server ends it (the stream or consumer deleted, say).
    pub async fn run_once(
        &self,
        stream: jetstream::stream::Stream,
        stop: &CancellationToken,
    ) -> Result<(), ConsumerError> {
        let config = &self.config;
        let pull_config = pull::Config {
            durable_name: Some(config.durable_name.clone()),
            filter_subject: config.filter_subject.clone(),
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            ack_wait: config.ack_wait,
            // One delivery beyond the attempts: an event that arrives past
            // them was never settled (it crashed the process, say) and goes
            // to the dead letters without another attempt.
            max_deliver: config.max_deliver + 1,
            max_ack_pending: config.max_ack_pending,
            ..Default::default()
        };
        // Create or update, so consumers made before a setting changed get it.
        let consumer = stream
            .create_consumer(pull_config)
            .await
            .map_err(|e| ConsumerError(e.to_string()))?;
        let mut messages = consumer
            .stream()
            .max_messages_per_batch((2 * self.batch).max(64))
            .messages()
            .await
            .map_err(|e| ConsumerError(e.to_string()))?;
        self.health.set(ConsumerState::Up);
        let engine = Engine {
            config: config.clone(),
            apply: self.apply.clone(),
            permits: Arc::new(Semaphore::new(self.lanes)),
            held: Arc::new(Mutex::new(Held::default())),
            dead_letters: self.dead_letters.clone(),
            halt: stop.child_token(),
        };
        let mut tasks = JoinSet::new();
        let ended = loop {
            let first = tokio::select! {
                _ = stop.cancelled() => break Ok(()),
                next = messages.next() => next,
            };
            let mut ready = vec![first];
            while ready.len() < self.batch {
                // Only what is already here: a batch never waits for more.
                // Polled outside tokio's cooperative budget, which would
                // otherwise turn the stream `Pending` after ~128 polls and
                // cut batches short while hundreds wait.
                match tokio::task::unconstrained(messages.next()).now_or_never() {
                    Some(next) => ready.push(next),
                    None => break,
                }
            }
            let mut items = Vec::with_capacity(ready.len());
            let mut failed = None;
            for next in ready {
                match next {
                    Some(Ok(message)) => {
                        if let Some(item) = engine.decode(message).await {
                            items.push(item);
                        }
                    }
                    Some(Err(e)) => failed = Some(ConsumerError(e.to_string())),
                    None => {
                        failed = Some(ConsumerError("the server ended the subscription".into()))
                    }
                }
            }
            if self.batch > 1 {
                engine.batch(items, &mut tasks).await;
            } else {
                for item in items {
                    engine.enqueue(item, &mut tasks);
                }
            }
            // Finished aggregates' tasks, so the set does not grow.
            while tasks.try_join_next().is_some() {}
            if let Some(e) = failed {
                break Err(e);
            }
        };
        // Events being handled finish; the rest go back to JetStream in order.
        engine.halt.cancel();
        while tasks.join_next().await.is_some() {}
        ended
    }
}

/// Runs a durable pull consumer on `stream` until `stop` is cancelled,
/// handling one event at a time in stream order (unsupervised: it returns
/// an error when the subscription fails).
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
/// aggregate are handled one after the other in stream order, a failed one
/// retried before the next; only events of different aggregates overlap.
/// Each event being handled holds a database connection.
pub async fn run_lanes(
    stream: jetstream::stream::Stream,
    pool: PgPool,
    config: ConsumerConfig,
    handler: Arc<dyn Handler>,
    lanes: usize,
    stop: CancellationToken,
) -> Result<(), ConsumerError> {
    Consumer::recorded(config, pool, handler)
        .lanes(lanes)
        .run_once(stream, &stop)
        .await
}

/// Like [`run_lanes`] for a [`Reactor`]: no idempotency record, no
/// transaction; events of one aggregate are still handled in order.
pub async fn run_reactor_lanes(
    stream: jetstream::stream::Stream,
    config: ConsumerConfig,
    reactor: Arc<dyn Reactor>,
    lanes: usize,
    stop: CancellationToken,
) -> Result<(), ConsumerError> {
    Consumer::reactor(config, reactor)
        .lanes(lanes)
        .run_once(stream, &stop)
        .await
}

/// How an event is applied.
enum Apply {
    /// Through a transaction that records the event id.
    Recorded {
        pool: PgPool,
        handler: Arc<dyn Handler>,
    },
    /// Straight to an idempotent reactor.
    Direct(Arc<dyn Reactor>),
    /// Through a batch handler (one event when retried).
    Batched(Arc<dyn BatchHandler>),
}

impl Apply {
    /// Applies `event` inside a span continuing the trace it was published
    /// in, so every consumer's work (and what it calls) joins that trace.
    async fn apply(&self, consumer: &str, event: &Envelope) -> Result<Outcome, HandlerError> {
        self.apply_untraced(consumer, event)
            .instrument(handler_span(consumer, event))
            .await
    }

    async fn apply_untraced(
        &self,
        consumer: &str,
        event: &Envelope,
    ) -> Result<Outcome, HandlerError> {
        match self {
            Apply::Recorded { pool, handler } => {
                process(pool, consumer, event, handler.as_ref()).await
            }
            Apply::Direct(reactor) => reactor.react(event).await.map(|()| Outcome::Applied),
            Apply::Batched(handler) => handler
                .handle_batch(std::slice::from_ref(event))
                .await
                .map(|()| Outcome::Applied),
        }
    }
}

/// A delivered event.
struct Item {
    message: jetstream::Message,
    event: Envelope,
    sequence: u64,
    delivered: i64,
}

/// What is held in memory: per aggregate being handled, the events waiting
/// behind the one in hand, and every held stream sequence (so a
/// redelivery of a held event is not queued twice).
#[derive(Default)]
struct Held {
    queues: HashMap<String, VecDeque<Item>>,
    sequences: HashSet<u64>,
}

/// One subscription's dispatching.
struct Engine {
    config: ConsumerConfig,
    apply: Arc<Apply>,
    permits: Arc<Semaphore>,
    held: Arc<Mutex<Held>>,
    dead_letters: Option<DeadLetters>,
    halt: CancellationToken,
}

/// An aggregate's key: events with the same key are applied in order.
fn key_of(event: &Envelope) -> String {
    format!(
        "{}/{}/{}",
        event.tenant_id, event.aggregate_type, event.aggregate_id
    )
}

impl Engine {
    /// The event in `message`; one that never decodes is terminated, since
    /// redelivering it would loop forever.
    async fn decode(&self, message: jetstream::Message) -> Option<Item> {
        let info = message.info().ok();
        let (sequence, delivered, pending) = info
            .map(|i| (i.stream_sequence, i.delivered, i.pending))
            .unwrap_or((0, 1, 0));
        metrics::gauge!("events_consumer_pending", "consumer" => self.config.durable_name.clone())
            .set(pending as f64);
        if delivered > 1 {
            metrics::counter!("events_redeliveries_total", "consumer" => self.config.durable_name.clone())
                .increment(1);
        }
        match Envelope::decode(message.payload.clone()) {
            Ok(event) => Some(Item {
                message,
                event,
                sequence,
                delivered,
            }),
            Err(e) => {
                tracing::error!(error = %e, subject = %message.subject, "undecodable event dropped");
                let _ = message.ack_with(AckKind::Term).await;
                None
            }
        }
    }

    fn shared(&self) -> Self {
        Self {
            config: self.config.clone(),
            apply: self.apply.clone(),
            permits: self.permits.clone(),
            held: self.held.clone(),
            dead_letters: self.dead_letters.clone(),
            halt: self.halt.clone(),
        }
    }

    /// Queues `item` behind its aggregate's events in hand, or starts
    /// handling that aggregate.
    fn enqueue(&self, item: Item, tasks: &mut JoinSet<()>) {
        let key = key_of(&item.event);
        {
            let mut held = self.held.lock().expect("held lock");
            if !held.sequences.insert(item.sequence) {
                // A redelivery of an event already waiting here.
                return;
            }
            if let Some(queue) = held.queues.get_mut(&key) {
                queue.push_back(item);
                return;
            }
            held.queues.insert(key.clone(), VecDeque::new());
        }
        let engine = self.shared();
        tasks.spawn(async move { engine.drain(key, item).await });
    }

    /// Batch mode: events of aggregates already in hand, or past their
    /// attempts, queue behind them; the rest are applied together, and if
    /// that fails they queue one by one, each retried in place.
    async fn batch(&self, items: Vec<Item>, tasks: &mut JoinSet<()>) {
        let mut batch = Vec::with_capacity(items.len());
        for item in items {
            let busy = {
                let held = self.held.lock().expect("held lock");
                held.queues.contains_key(&key_of(&item.event))
            };
            if busy || item.delivered > self.config.max_deliver {
                self.enqueue(item, tasks);
            } else {
                batch.push(item);
            }
        }
        if batch.is_empty() {
            return;
        }
        let Apply::Batched(handler) = self.apply.as_ref() else {
            unreachable!("batch mode has a batch handler")
        };
        let events: Vec<Envelope> = batch.iter().map(|i| i.event.clone()).collect();
        let started = Instant::now();
        let applied = handler
            .handle_batch(&events)
            .instrument(batch_span(&self.config.durable_name, &events))
            .await;
        metrics::histogram!("events_handle_seconds", "consumer" => self.config.durable_name.clone())
            .record(started.elapsed().as_secs_f64());
        match applied {
            Ok(()) => {
                metrics::counter!("events_consumed_total", "consumer" => self.config.durable_name.clone(), "outcome" => "Batched")
                    .increment(batch.len() as u64);
                for item in batch {
                    ack(&item, AckKind::Ack).await;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, consumer = %self.config.durable_name, events = batch.len(), "batch failed; applying its events one by one");
                for item in batch {
                    self.enqueue(item, tasks);
                }
            }
        }
    }

    /// Handles `first` and then its aggregate's queued events, in order,
    /// until none is left; on halt, gives the rest back to JetStream in order.
    async fn drain(self, key: String, first: Item) {
        let mut item = first;
        loop {
            if self.halt.is_cancelled() || !self.settle(&key, &item).await {
                let rest = {
                    let mut held = self.held.lock().expect("held lock");
                    let rest = held.queues.remove(&key).unwrap_or_default();
                    held.sequences.remove(&item.sequence);
                    for i in &rest {
                        held.sequences.remove(&i.sequence);
                    }
                    rest
                };
                // Immediately redeliverable, in stream order: JetStream
                // hands redeliveries out before new events.
                ack(&item, AckKind::Nak(None)).await;
                for i in rest {
                    ack(&i, AckKind::Nak(None)).await;
                }
                return;
            }
            let next = {
                let mut held = self.held.lock().expect("held lock");
                held.sequences.remove(&item.sequence);
                match held.queues.get_mut(&key).and_then(VecDeque::pop_front) {
                    Some(next) => next,
                    None => {
                        held.queues.remove(&key);
                        return;
                    }
                }
            };
            item = next;
        }
    }

    /// Applies `item` until it succeeds or runs out of attempts (then it
    /// goes to the dead letters), acking it; `false` if halted first (the
    /// item is then not acked).
    async fn settle(&self, key: &str, item: &Item) -> bool {
        let name = &self.config.durable_name;
        let mut attempt = item.delivered.max(1);
        if attempt > self.config.max_deliver {
            let why = format!("delivered {attempt} times without being settled");
            return self.dead_letter(item, attempt - 1, &why).await;
        }
        let mut backoff = self.config.backoff();
        loop {
            let applied = {
                let _permit = self.permits.acquire().await.expect("permits stay open");
                let started = Instant::now();
                let applied = self.apply.apply(name, &item.event).await;
                metrics::histogram!("events_handle_seconds", "consumer" => name.clone())
                    .record(started.elapsed().as_secs_f64());
                applied
            };
            let error = match applied {
                Ok(outcome) => {
                    metrics::counter!("events_consumed_total", "consumer" => name.clone(), "outcome" => format!("{outcome:?}")).increment(1);
                    ack(item, AckKind::Ack).await;
                    return true;
                }
                Err(e) => e,
            };
            if attempt >= self.config.max_deliver {
                return self.dead_letter(item, attempt, &error.0).await;
            }
            tracing::warn!(error = %error, consumer = %name, event_id = %item.event.id, attempt, "event handler failed; retrying in place");
            metrics::counter!("events_retries_total", "consumer" => name.clone()).increment(1);
            attempt += 1;
            // Neither this event nor those waiting behind it may time out
            // and come back while it waits.
            self.touch(key, item).await;
            if !backoff.wait(&self.halt).await {
                return false;
            }
        }
    }

    /// Resets JetStream's ack timer of `item` and of its aggregate's queue.
    async fn touch(&self, key: &str, item: &Item) {
        let waiting: Vec<jetstream::Message> = {
            let held = self.held.lock().expect("held lock");
            held.queues
                .get(key)
                .map(|q| q.iter().map(|i| i.message.clone()).collect())
                .unwrap_or_default()
        };
        let _ = item.message.ack_with(AckKind::Progress).await;
        for message in waiting {
            let _ = message.ack_with(AckKind::Progress).await;
        }
    }

    /// Moves `item` to the dead letters and acks it, so its aggregate's
    /// later events flow; retries storing it until it is stored or halted.
    async fn dead_letter(&self, item: &Item, attempts: i64, error: &str) -> bool {
        let name = &self.config.durable_name;
        let Some(dead_letters) = &self.dead_letters else {
            tracing::error!(consumer = %name, event_id = %item.event.id, error = %error, "event failed its last attempt; dropped (no dead letters)");
            ack(item, AckKind::Term).await;
            return true;
        };
        let mut backoff = self.config.backoff();
        loop {
            match dead_letters
                .send(name, &item.message, attempts.max(0) as u64, error)
                .await
            {
                Ok(()) => {
                    tracing::error!(consumer = %name, event_id = %item.event.id, attempts, error = %error, "event dead-lettered");
                    metrics::counter!("events_dead_letters_total", "consumer" => name.clone())
                        .increment(1);
                    ack(item, AckKind::Ack).await;
                    return true;
                }
                Err(e) => {
                    tracing::warn!(consumer = %name, event_id = %item.event.id, error = %e, "cannot store the dead letter yet");
                    let _ = item.message.ack_with(AckKind::Progress).await;
                    if !backoff.wait(&self.halt).await {
                        return false;
                    }
                }
            }
        }
    }
}

async fn ack(item: &Item, kind: AckKind) {
    if let Err(e) = item.message.ack_with(kind).await {
        tracing::warn!(error = %e, event_id = %item.event.id, "ack failed; the event will be redelivered");
    }
}
