//! The durable JetStream consumer that feeds [`Ingest`]: it takes whatever
//! messages are ready (up to a batch), applies them in one transaction and
//! acknowledges them after the commit; a failed batch is redelivered.

use std::{sync::Arc, time::Duration};

use async_nats::jetstream::{self, AckKind, consumer::pull};
use futures::StreamExt;
use prost::Message;
use switchboard_events::Envelope;
use tokio_util::sync::CancellationToken;

use crate::{api::Changes, ingest::Ingest};

/// The consumer's settings.
#[derive(Debug, Clone)]
pub struct FeedConfig {
    /// Durable name, shared by all replicas.
    pub durable_name: String,
    /// Subject filter: every event (unrelated ones are acknowledged and
    /// dropped; NATS before 2.10 takes one filter only).
    pub filter_subject: String,
    /// Most events per transaction.
    pub batch: usize,
    /// Delay before a failed batch is redelivered.
    pub retry_delay: Duration,
}

/// Consumes until `stop`, telling `changes` after each applied batch.
pub async fn run(
    stream: jetstream::stream::Stream,
    ingest: Ingest,
    changes: Arc<Changes>,
    config: FeedConfig,
    stop: CancellationToken,
) -> Result<(), String> {
    let consumer = stream
        .get_or_create_consumer(
            &config.durable_name,
            pull::Config {
                durable_name: Some(config.durable_name.clone()),
                filter_subject: config.filter_subject.clone(),
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                ack_wait: Duration::from_secs(60),
                max_ack_pending: (config.batch * 4) as i64,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| format!("analytics consumer: {e}"))?;
    let messages = consumer
        .stream()
        .max_messages_per_batch(config.batch)
        .messages()
        .await
        .map_err(|e| format!("analytics messages: {e}"))?;
    let mut chunks = messages.ready_chunks(config.batch);
    loop {
        let chunk = tokio::select! {
            _ = stop.cancelled() => return Ok(()),
            chunk = chunks.next() => chunk,
        };
        let Some(chunk) = chunk else {
            return Ok(());
        };
        let mut messages = Vec::with_capacity(chunk.len());
        let mut envelopes = Vec::with_capacity(chunk.len());
        for message in chunk {
            let message = match message {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(error = %e, "analytics consumer stream error");
                    continue;
                }
            };
            match Envelope::decode(message.payload.clone()) {
                Ok(envelope) => {
                    envelopes.push(envelope);
                    messages.push(message);
                }
                Err(e) => {
                    tracing::error!(error = %e, subject = %message.subject, "undecodable event dropped");
                    let _ = message.ack_with(AckKind::Term).await;
                }
            }
        }
        let ack = match ingest.apply(&envelopes).await {
            Ok(applied) => {
                metrics::counter!("analytics_events_applied_total")
                    .increment(applied.new_events as u64);
                if applied.new_events > 0 {
                    changes.notify();
                }
                AckKind::Ack
            }
            Err(e) => {
                tracing::warn!(error = %e, events = envelopes.len(), "analytics batch failed; will retry");
                AckKind::Nak(Some(config.retry_delay))
            }
        };
        for message in messages {
            if let Err(e) = message.ack_with(ack).await {
                tracing::warn!(error = %e, "ack failed; the event will be redelivered");
            }
        }
    }
}
