//! The dispatcher: sends the email and webhook deliveries its replica's
//! consumer hands over and those it claims as they fall due, and records
//! each outcome with its `notification.*` event in one transaction.

use std::{sync::Arc, time::Duration};

use switchboard_events::{EventBuilder, Payload};
use switchboard_proto::{
    common::v1::{Actor, ActorKind},
    events::v1::{NotificationChannel, NotificationDelivered, NotificationFailed},
};
use switchboard_runtime::{TenantId, telemetry};
use tokio::{
    sync::{Notify, Semaphore, mpsc},
    task::JoinSet,
    time::Instant,
};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::{
    domain::retry::RetryPolicy,
    email::{EmailSender, OutgoingEmail},
    handoff::{HandoffQueue, Leased},
    store::{Claimed, Outcome, PgStore, deliveries},
    webhook::WebhookClient,
};

/// Most finished attempts one transaction records.
const RECORD_BATCH: usize = 256;

/// Sends deliveries as they fall due.
#[derive(Clone)]
pub struct Dispatcher {
    /// Storage.
    pub store: PgStore,
    /// Email transport.
    pub email: Arc<dyn EmailSender>,
    /// Webhook transport.
    pub webhooks: Arc<dyn WebhookClient>,
    /// Retry timing.
    pub policy: RetryPolicy,
    /// Idle poll interval.
    pub poll: Duration,
    /// Sends in flight at once.
    pub concurrency: usize,
    /// How long a claimed delivery is reserved for its attempt.
    pub lease: Duration,
    /// Raised when deliveries may be due.
    pub wake: Arc<Notify>,
    /// Raised after outbox writes.
    pub relay_wake: Arc<Notify>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("policy", &self.policy)
            .finish()
    }
}

/// An attempt, finished.
type Finished = (Claimed, (i32, Outcome));

impl Dispatcher {
    /// Runs until `stop`: attempts in flight finish, and are recorded,
    /// first; what was claimed but not started is released to the next
    /// dispatcher. Deliveries come from its own claims and, when given,
    /// from `handoff` (claimed by this replica's consumer).
    ///
    /// Claiming, sending and recording overlap. The claimer keeps the next
    /// batch queued while the current one is sent (it claims again as soon
    /// as a batch's room frees up), so send slots never idle through a
    /// claim's round trip. A claimed delivery starts only while at least
    /// half its lease is left (the lease is at least twice a send's
    /// timeout, see `mount`): one that waited longer, behind slow sends, is
    /// left for its lease to run out and be claimed again, rather than risk
    /// two dispatchers sending it. Finished attempts go to one recorder,
    /// which writes whatever finished while its previous transaction
    /// committed in the next one (group commit); its queue is bounded, so
    /// sending never runs far ahead of recording, and an unrecorded attempt
    /// stays leased, so no one claims it meanwhile.
    pub async fn run(self, handoff: Option<HandoffQueue>, stop: CancellationToken) {
        let batch = self.concurrency * 4;
        let (queue, queued) = mpsc::channel(2 * batch);
        let (done, mut finished) = mpsc::channel::<Finished>(RECORD_BATCH);
        let this = Arc::new(self);
        let claimer = this.clone().claim(queue, batch, stop.clone());
        let sender = this.clone().send_all(queued, handoff, done, stop);
        let recorder = async move {
            let mut batch = Vec::with_capacity(RECORD_BATCH);
            while finished.recv_many(&mut batch, RECORD_BATCH).await > 0 {
                this.record_all(&batch).await;
                batch.clear();
            }
        };
        futures::join!(claimer, sender, recorder);
    }

    /// Claims batches into `queue` until `stop`, a batch whenever the
    /// queue has room for one, or, once nothing is due, when woken.
    async fn claim(
        self: Arc<Self>,
        queue: mpsc::Sender<Leased>,
        batch: usize,
        stop: CancellationToken,
    ) {
        let mut idle = false;
        loop {
            if idle {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep(self.poll) => {}
                }
            }
            let room = tokio::select! {
                _ = stop.cancelled() => return,
                room = queue.reserve_many(batch) => room,
            };
            let Ok(room) = room else { return };
            let expires = Instant::now() + self.lease;
            let claimed = match self.store.claim_due(batch as i64, self.lease).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "claiming deliveries failed");
                    Vec::new()
                }
            };
            idle = claimed.len() < batch;
            for (claimed, slot) in claimed.into_iter().zip(room) {
                slot.send(Leased {
                    claimed,
                    expires,
                    room: None,
                });
            }
        }
    }

    /// Sends what the claimer and the handoff bring (the claimer's first:
    /// they are older), `concurrency` at a time, until `stop`; then waits
    /// for the sends in flight and releases the rest.
    async fn send_all(
        self: Arc<Self>,
        mut claimed: mpsc::Receiver<Leased>,
        mut handed: Option<HandoffQueue>,
        done: mpsc::Sender<Finished>,
        stop: CancellationToken,
    ) {
        let slots = Arc::new(Semaphore::new(self.concurrency));
        let mut sends = JoinSet::new();
        loop {
            let slot = tokio::select! {
                biased;
                _ = stop.cancelled() => break,
                slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            };
            let next = tokio::select! {
                biased;
                _ = stop.cancelled() => break,
                next = claimed.recv() => match next {
                    Some(next) => next,
                    None => break,
                },
                next = HandoffQueue::next(&mut handed) => match next {
                    Some(next) => next,
                    None => {
                        // Every consumer is gone; claims still come.
                        handed = None;
                        continue;
                    }
                },
            };
            while sends.try_join_next().is_some() {}
            let Leased {
                claimed: c,
                expires,
                room,
            } = next;
            drop(room);
            if Instant::now() + self.lease / 2 > expires {
                metrics::counter!("notification_delivery_claims_expired_total").increment(1);
                tracing::debug!(delivery = %c.id, "claim too old to start a send; left for its lease to run out");
                continue;
            }
            let (this, done) = (self.clone(), done.clone());
            sends.spawn(async move {
                let outcome = this.attempt(&c).await;
                let _ = done.send((c, outcome)).await;
                // The slot frees only once the recorder took the outcome.
                drop(slot);
            });
        }
        while sends.join_next().await.is_some() {}
        // The recorder ends once the last sender is gone.
        drop(done);
        // What was claimed but not started: the claimer has stopped too, so
        // its queue ends; the handoff's ends once closed and emptied (a
        // consumer handing over later releases its deliveries itself).
        let mut left = Vec::new();
        while let Some(leased) = claimed.recv().await {
            left.push(leased);
        }
        if let Some(HandoffQueue(handed)) = handed.as_mut() {
            handed.close();
            while let Some(leased) = handed.recv().await {
                left.push(leased);
            }
        }
        let left: Vec<_> = left
            .iter()
            .map(|l| (l.claimed.id, l.claimed.leased_until))
            .collect();
        if let Err(e) = self.store.release(&left).await {
            tracing::warn!(error = %e, deliveries = left.len(), "releasing claimed deliveries failed; their leases will run out");
        }
    }

    async fn attempt(&self, c: &Claimed) -> (i32, Outcome) {
        let attempts = c.attempts + 1;
        let span = delivery_span(c, attempts);
        let sent = self.send(c).instrument(span.clone()).await;
        let outcome = match sent {
            Ok(status) => Outcome::Delivered { status },
            Err(f) if f.permanent || attempts >= c.max_attempts => Outcome::Dead {
                error: f.message,
                status: f.status,
            },
            Err(f) => {
                let seed = uuid::Uuid::now_v7().as_u128() as u64;
                // A redelivery grants a fresh round of attempts; its delays
                // start small again.
                let earlier_rounds = (c.max_attempts - self.policy.max_attempts as i32).max(0);
                let delay = self
                    .policy
                    .delay((attempts - earlier_rounds).max(1) as u32, seed);
                Outcome::Retry {
                    error: f.message,
                    status: f.status,
                    at: chrono::Utc::now()
                        + chrono::TimeDelta::from_std(delay).unwrap_or(chrono::TimeDelta::MAX),
                }
            }
        };
        let label = match &outcome {
            Outcome::Delivered { .. } => "delivered",
            Outcome::Retry { .. } => "retry",
            Outcome::Dead { .. } => "dead",
        };
        metrics::counter!("notification_delivery_attempts_total", "channel" => c.channel.clone(), "outcome" => label).increment(1);
        span.record("outcome", label);
        if label != "delivered" {
            span.record("otel.status_code", "error");
        }
        (attempts, outcome)
    }

    /// Records finished attempts in one transaction; should that fail, one
    /// by one, so a single bad row costs only its own record.
    async fn record_all(&self, finished: &[Finished]) {
        if finished.len() > 1 && self.record(finished).await.is_ok() {
            return;
        }
        for one in finished {
            if let Err(e) = self.record(std::slice::from_ref(one)).await {
                // The lease runs out and the delivery is attempted again.
                tracing::warn!(error = %e, delivery = %one.0.id, "recording a delivery outcome failed");
            }
        }
    }

    async fn record(&self, finished: &[Finished]) -> Result<(), sqlx::Error> {
        let mut tx = self.store.pool().begin().await?;
        let outcomes: Vec<_> = finished
            .iter()
            .map(|(c, (_, o))| (c.id, c.leased_until, o))
            .collect();
        let recorded = PgStore::finish(&mut tx, &outcomes).await?;
        let events: Vec<_> = finished
            .iter()
            .filter(|(c, _)| {
                let kept = recorded.contains(&c.id);
                if !kept {
                    tracing::warn!(delivery = %c.id, "claim lost before its outcome was recorded; left to the claim that replaced it");
                }
                kept
            })
            .filter_map(|(c, (attempts, o))| self.event(c, *attempts, o))
            .collect();
        deliveries::announce(&mut tx, &events).await?;
        tx.commit().await?;
        if !events.is_empty() {
            self.relay_wake.notify_one();
        }
        Ok(())
    }

    async fn send(&self, c: &Claimed) -> Result<i32, Failure> {
        match c.channel.as_str() {
            "email" => {
                let email: OutgoingEmail = serde_json::from_str(&c.payload)
                    .map_err(|e| Failure::permanent(e.to_string()))?;
                self.email
                    .send(&email)
                    .await
                    .map(|()| 0)
                    .map_err(|e| Failure {
                        permanent: e.permanent,
                        status: 0,
                        message: e.message,
                    })
            }
            "webhook" => {
                let (Some(url), Some(secret)) = (&c.url, &c.secret) else {
                    return Err(Failure::permanent("the webhook was deleted".into()));
                };
                let body = c.payload.as_bytes();
                self.webhooks
                    .post(url, secret, &c.id.to_string(), &c.event_type, body)
                    .await
                    .map(i32::from)
                    .map_err(|e| Failure {
                        permanent: false,
                        status: i32::from(e.status),
                        message: e.message,
                    })
            }
            other => Err(Failure::permanent(format!("unknown channel {other}"))),
        }
    }

    fn event(
        &self,
        c: &Claimed,
        attempts: i32,
        outcome: &Outcome,
    ) -> Option<switchboard_events::Envelope> {
        let tenant = TenantId::parse(&c.tenant_id).ok()?;
        let channel = if c.channel == "email" {
            NotificationChannel::Email
        } else {
            NotificationChannel::Webhook
        } as i32;
        let recipient = match c.webhook_id {
            Some(id) => format!("webhooks/{id}"),
            None => c.target.clone(),
        };
        let builder = EventBuilder::new(
            &tenant,
            "notification",
            c.id.to_string(),
            i64::from(attempts),
        )
        .actor(Actor {
            kind: ActorKind::System as i32,
            ..Default::default()
        });
        let payload = match outcome {
            Outcome::Delivered { .. } => Payload::NotificationDelivered(NotificationDelivered {
                delivery: c.id.to_string(),
                channel,
                event_id: c.event_id.to_string(),
                event_type: c.event_type.clone(),
                recipient,
                ticket: c.ticket.clone(),
                attempts,
            }),
            Outcome::Dead { error, .. } => Payload::NotificationFailed(NotificationFailed {
                delivery: c.id.to_string(),
                channel,
                event_id: c.event_id.to_string(),
                event_type: c.event_type.clone(),
                recipient,
                ticket: c.ticket.clone(),
                attempts,
                error: error.clone(),
                permanent: attempts < c.max_attempts,
            }),
            Outcome::Retry { .. } => return None,
        };
        let kind = if matches!(outcome, Outcome::Delivered { .. }) {
            "delivered"
        } else {
            "failed"
        };
        Some(builder.build(kind, payload))
    }
}

/// The span an attempt at `c` runs in: a child of the trace its event was
/// published in, so the attempt (and a webhook's `traceparent`) joins the
/// journey that caused it.
fn delivery_span(c: &Claimed, attempt: i32) -> tracing::Span {
    let span = tracing::info_span!(
        "delivery",
        otel.kind = "client",
        otel.status_code = tracing::field::Empty,
        delivery.id = %c.id,
        delivery.channel = %c.channel,
        delivery.attempt = attempt,
        event.id = %c.event_id,
        event.r#type = %c.event_type,
        outcome = tracing::field::Empty,
    );
    if let Some(traceparent) = &c.traceparent {
        telemetry::set_parent_from_w3c(
            &span,
            traceparent,
            c.tracestate.as_deref().unwrap_or_default(),
        );
    }
    span
}

/// A failed attempt.
#[derive(Debug)]
struct Failure {
    permanent: bool,
    status: i32,
    message: String,
}

impl Failure {
    fn permanent(message: String) -> Self {
        Self {
            permanent: true,
            status: 0,
            message,
        }
    }
}
