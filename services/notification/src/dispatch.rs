//! The dispatcher: claims due email and webhook deliveries, sends them,
//! and records each outcome with its `notification.*` event in one
//! transaction.

use std::{sync::Arc, time::Duration};

use futures::StreamExt;
use switchboard_events::{EventBuilder, Payload};
use switchboard_proto::{
    common::v1::{Actor, ActorKind},
    events::v1::{NotificationChannel, NotificationDelivered, NotificationFailed},
};
use switchboard_runtime::TenantId;
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use crate::{
    domain::retry::RetryPolicy,
    email::{EmailSender, OutgoingEmail},
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

impl Dispatcher {
    /// Runs until `stop`; attempts in flight finish, and are recorded, first.
    ///
    /// Claiming, sending and recording overlap. The next batch is claimed
    /// once the last of the previous one has started and a send slot is
    /// free, so slots do not idle through a claim's round trip while a
    /// claimed delivery still waits behind at most one batch plus the sends
    /// in flight (its lease must outlast that wait). Finished attempts go
    /// to one recorder, which writes whatever finished while its previous
    /// transaction committed in the next one (group commit); its queue is
    /// bounded, so sending never runs far ahead of recording, and an
    /// unrecorded attempt stays leased, so no one claims it meanwhile.
    pub async fn run(self, stop: CancellationToken) {
        let batch = (self.concurrency * 4) as i64;
        let (done, mut finished) = mpsc::channel(RECORD_BATCH);
        // Owned handles: the futures below must be `'static` to be spawned.
        let this = Arc::new(self);
        let claimer = (this.clone(), stop.clone());
        let claims = futures::stream::unfold(false, move |idle| {
            let (this, stop) = claimer.clone();
            async move {
                if idle {
                    tokio::select! {
                        _ = stop.cancelled() => return None,
                        _ = this.wake.notified() => {}
                        _ = tokio::time::sleep(this.poll) => {}
                    }
                }
                if stop.is_cancelled() {
                    return None;
                }
                let claimed = match this.store.claim_due(batch, this.lease).await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(error = %e, "claiming deliveries failed");
                        Vec::new()
                    }
                };
                let idle = (claimed.len() as i64) < batch;
                Some((futures::stream::iter(claimed), idle))
            }
        })
        .flatten();
        let sender = this.clone();
        let sends = async move {
            claims
                .for_each_concurrent(sender.concurrency, |c| {
                    let (this, done) = (sender.clone(), done.clone());
                    async move {
                        let outcome = this.attempt(&c).await;
                        let _ = done.send((c, outcome)).await;
                    }
                })
                .await;
            // The last sender goes here, which ends the recorder.
        };
        let recorder = async move {
            let mut batch = Vec::with_capacity(RECORD_BATCH);
            while finished.recv_many(&mut batch, RECORD_BATCH).await > 0 {
                this.record_all(&batch).await;
                batch.clear();
            }
        };
        futures::join!(sends, recorder);
    }

    async fn attempt(&self, c: &Claimed) -> (i32, Outcome) {
        let sent = self.send(c).await;
        let attempts = c.attempts + 1;
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
        (attempts, outcome)
    }

    /// Records finished attempts in one transaction; should that fail, one
    /// by one, so a single bad row costs only its own record.
    async fn record_all(&self, finished: &[(Claimed, (i32, Outcome))]) {
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

    async fn record(&self, finished: &[(Claimed, (i32, Outcome))]) -> Result<(), sqlx::Error> {
        let mut tx = self.store.pool().begin().await?;
        let outcomes: Vec<_> = finished.iter().map(|(c, (_, o))| (c.id, o)).collect();
        PgStore::finish(&mut tx, &outcomes).await?;
        let events: Vec<_> = finished
            .iter()
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
                let email: OutgoingEmail = serde_json::from_value(c.payload.clone())
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
                let body = serde_json::to_vec(&c.payload)
                    .map_err(|e| Failure::permanent(e.to_string()))?;
                self.webhooks
                    .post(url, secret, &c.id.to_string(), &c.event_type, &body)
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
