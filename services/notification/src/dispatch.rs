//! The dispatcher: claims due email and webhook deliveries, sends them,
//! and records each outcome with its `notification.*` event in one
//! transaction.

use std::{sync::Arc, time::Duration};

use futures::StreamExt;
use switchboard_events::{EventBuilder, Payload, outbox};
use switchboard_proto::{
    common::v1::{Actor, ActorKind},
    events::v1::{NotificationChannel, NotificationDelivered, NotificationFailed},
};
use switchboard_runtime::TenantId;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::{
    domain::retry::RetryPolicy,
    email::{EmailSender, OutgoingEmail},
    store::{Claimed, Outcome, PgStore},
    webhook::WebhookClient,
};

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
    /// Runs until `stop`; attempts in flight finish first.
    pub async fn run(self, stop: CancellationToken) {
        let batch = (self.concurrency * 4) as i64;
        while !stop.is_cancelled() {
            let claimed = match self.store.claim_due(batch, self.lease).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "claiming deliveries failed");
                    Vec::new()
                }
            };
            if claimed.len() as i64 == batch {
                self.send_all(claimed).await;
                continue;
            }
            self.send_all(claimed).await;
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.poll) => {}
            }
        }
    }

    async fn send_all(&self, claimed: Vec<Claimed>) {
        futures::stream::iter(claimed)
            .for_each_concurrent(self.concurrency, |c| self.attempt(c))
            .await;
    }

    async fn attempt(&self, c: Claimed) {
        let sent = self.send(&c).await;
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
        if let Err(e) = self.record(&c, attempts, &outcome).await {
            // The lease runs out and the delivery is attempted again.
            tracing::warn!(error = %e, delivery = %c.id, "recording a delivery outcome failed");
        }
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

    async fn record(
        &self,
        c: &Claimed,
        attempts: i32,
        outcome: &Outcome,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.store.pool().begin().await?;
        PgStore::finish(&mut tx, c.id, outcome).await?;
        let event = self.event(c, attempts, outcome);
        let wrote = event.is_some();
        if let Some(event) = event {
            outbox::append(&mut tx, &event).await?;
        }
        tx.commit().await?;
        if wrote {
            self.relay_wake.notify_one();
        }
        Ok(())
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
