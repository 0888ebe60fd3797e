//! Dead letters: events a consumer gave up on after `events.max_deliver`
//! attempts, kept with their consumer and last error so an operator can
//! inspect them and replay them once the cause is fixed.
//!
//! They live in a JetStream stream beside the events (`<stream>_DLQ`,
//! subject `deadletter.<prefix>.<consumer>`) rather than in a table: every
//! consuming service has its own schema, and the stream needs none; the
//! original bytes and headers stay as published; `nats stream view` works on
//! it too; and replaying is publishing back to the event stream. The subject
//! lies outside `<prefix>.>`, which the event stream owns.

use std::time::Duration;

use async_nats::{
    HeaderMap,
    jetstream::{
        self, ErrorCode,
        consumer::{DeliverPolicy, pull},
        context::GetStreamErrorKind,
        stream::{Config, DiscardPolicy, RetentionPolicy, StorageType},
    },
};
use bytes::Bytes;
use futures::StreamExt;
use prost::Message;
use switchboard_proto::events::v1::Envelope;
use switchboard_runtime::config::EventSettings;
use tokio::sync::OnceCell;

/// Header naming the consumer that gave up.
pub const CONSUMER_HEADER: &str = "Switchboard-Consumer";
/// Header with the last handler error.
pub const ERROR_HEADER: &str = "Switchboard-Error";
/// Header with the event's original subject.
pub const SUBJECT_HEADER: &str = "Switchboard-Subject";
/// Header with the event's sequence in the event stream.
pub const SEQUENCE_HEADER: &str = "Switchboard-Stream-Sequence";
/// Header with the number of attempts made.
pub const ATTEMPTS_HEADER: &str = "Switchboard-Attempts";

/// Longest error text kept: enough to diagnose, small enough for a header.
const MAX_ERROR_BYTES: usize = 1024;

/// The dead-letter stream's name for the event stream `stream`.
pub fn stream_name(stream: &str) -> String {
    format!("{stream}_DLQ")
}

/// The subject `consumer`'s dead letters go to.
pub fn subject(prefix: &str, consumer: &str) -> String {
    format!("deadletter.{prefix}.{consumer}")
}

/// The dead-letter stream Switchboard creates when it is absent.
pub fn stream_config(settings: &EventSettings) -> Config {
    Config {
        name: stream_name(&settings.stream),
        subjects: vec![format!("deadletter.{}.>", settings.subject_prefix)],
        retention: RetentionPolicy::Limits,
        storage: StorageType::File,
        discard: DiscardPolicy::Old,
        num_replicas: settings.stream_replicas,
        max_age: Duration::from_secs(settings.dead_letter_max_age_hours * 3600),
        ..Default::default()
    }
}

/// A dead-letter operation failed.
#[derive(Debug, thiserror::Error)]
#[error("dead letters: {0}")]
pub struct DeadLetterError(pub String);

fn err(e: impl std::fmt::Display) -> DeadLetterError {
    DeadLetterError(e.to_string())
}

/// One dead letter, as an operator sees it.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    /// Its sequence in the dead-letter stream; what `replay` takes.
    pub sequence: u64,
    /// The consumer that gave up.
    pub consumer: String,
    /// The event's original subject.
    pub subject: String,
    /// The last handler error.
    pub error: String,
    /// Attempts made.
    pub attempts: u64,
    /// The event's bytes as published.
    pub payload: Bytes,
}

impl DeadLetter {
    /// The event, when its bytes decode.
    pub fn event(&self) -> Option<Envelope> {
        Envelope::decode(self.payload.clone()).ok()
    }
}

/// Where a service's consumers put dead letters, and the operator's view
/// of them.
#[derive(Clone)]
pub struct DeadLetters {
    js: jetstream::Context,
    config: Config,
    prefix: String,
    events_stream: String,
    ready: std::sync::Arc<OnceCell<()>>,
}

impl DeadLetters {
    /// Dead letters of the event stream `settings` describe.
    pub fn new(js: jetstream::Context, settings: &EventSettings) -> Self {
        Self {
            js,
            config: stream_config(settings),
            prefix: settings.subject_prefix.clone(),
            events_stream: settings.stream.clone(),
            ready: Default::default(),
        }
    }

    async fn stream(&self) -> Result<jetstream::stream::Stream, DeadLetterError> {
        self.ready
            .get_or_try_init(|| async {
                self.js
                    .get_or_create_stream(self.config.clone())
                    .await
                    .map(|_| ())
                    .map_err(err)
            })
            .await?;
        self.js.get_stream(&self.config.name).await.map_err(err)
    }

    /// Stores `message` as `consumer`'s dead letter with its last `error`;
    /// once this returns `Ok` the caller acks the original.
    pub async fn send(
        &self,
        consumer: &str,
        message: &jetstream::Message,
        attempts: u64,
        error: &str,
    ) -> Result<(), DeadLetterError> {
        self.stream().await?;
        let sequence = message.info().map(|i| i.stream_sequence).unwrap_or(0);
        let mut headers = HeaderMap::new();
        headers.insert(CONSUMER_HEADER, consumer);
        headers.insert(ERROR_HEADER, header_text(error).as_str());
        headers.insert(SUBJECT_HEADER, message.subject.as_str());
        headers.insert(SEQUENCE_HEADER, sequence.to_string().as_str());
        headers.insert(ATTEMPTS_HEADER, attempts.to_string().as_str());
        // A crash between storing and acking stores it again: the id makes
        // that a duplicate JetStream drops.
        headers.insert(
            "Nats-Msg-Id",
            format!("{}.{consumer}.{sequence}", self.events_stream).as_str(),
        );
        self.js
            .publish_with_headers(
                subject(&self.prefix, consumer),
                headers,
                message.payload.clone(),
            )
            .await
            .map_err(err)?
            .await
            .map_err(err)?;
        Ok(())
    }

    /// The dead-letter stream as it is; `None` if no consumer ever needed
    /// it (looking does not create it).
    async fn existing(&self) -> Result<Option<jetstream::stream::Stream>, DeadLetterError> {
        match self.js.get_stream(&self.config.name).await {
            Ok(stream) => Ok(Some(stream)),
            Err(e)
                if matches!(
                    e.kind(),
                    GetStreamErrorKind::JetStream(ref j)
                        if j.error_code() == ErrorCode::STREAM_NOT_FOUND
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(err(e)),
        }
    }

    /// The dead letters there are, of `consumer` or of all, oldest first.
    pub async fn list(&self, consumer: Option<&str>) -> Result<Vec<DeadLetter>, DeadLetterError> {
        let Some(stream) = self.existing().await? else {
            return Ok(Vec::new());
        };
        let filter = match consumer {
            Some(c) => subject(&self.prefix, c),
            None => format!("deadletter.{}.>", self.prefix),
        };
        let mut reader = stream
            .create_consumer(pull::OrderedConfig {
                filter_subject: filter,
                deliver_policy: DeliverPolicy::All,
                ..Default::default()
            })
            .await
            .map_err(err)?;
        let mut out = Vec::new();
        if reader.info().await.map_err(err)?.num_pending == 0 {
            return Ok(out);
        }
        let mut messages = reader.messages().await.map_err(err)?;
        while let Some(message) = messages.next().await {
            let message = message.map_err(err)?;
            let info = message.info().map_err(err)?;
            let (sequence, pending) = (info.stream_sequence, info.pending);
            out.push(from_parts(
                sequence,
                message.headers.as_ref(),
                message.payload.clone(),
            ));
            if pending == 0 {
                break;
            }
        }
        Ok(out)
    }

    /// Publishes dead letter `sequence` back to its original subject (under a
    /// new message id, so JetStream's duplicate window lets it through) and
    /// removes it. Every consumer of that subject sees the event again; the
    /// others find it applied (idempotency records, idempotent reactors).
    pub async fn replay(&self, sequence: u64) -> Result<DeadLetter, DeadLetterError> {
        let stream = self
            .existing()
            .await?
            .ok_or_else(|| DeadLetterError(format!("no dead letter {sequence}")))?;
        let raw = stream.get_raw_message(sequence).await.map_err(err)?;
        let letter = from_parts(sequence, Some(&raw.headers), raw.payload.clone());
        if letter.subject.is_empty() {
            return Err(DeadLetterError(format!(
                "dead letter {sequence} names no original subject"
            )));
        }
        let id = letter
            .event()
            .map(|e| e.id)
            .unwrap_or_else(|| letter.subject.clone());
        let mut headers = HeaderMap::new();
        headers.insert(
            "Nats-Msg-Id",
            format!("{id}.replay.{}.{sequence}", letter.consumer).as_str(),
        );
        self.js
            .publish_with_headers(letter.subject.clone(), headers, letter.payload.clone())
            .await
            .map_err(err)?
            .await
            .map_err(err)?;
        stream.delete_message(sequence).await.map_err(err)?;
        Ok(letter)
    }
}

fn from_parts(sequence: u64, headers: Option<&HeaderMap>, payload: Bytes) -> DeadLetter {
    let get = |name: &str| {
        headers
            .and_then(|h| h.get(name))
            .map(|v| v.to_string())
            .unwrap_or_default()
    };
    DeadLetter {
        sequence,
        consumer: get(CONSUMER_HEADER),
        subject: get(SUBJECT_HEADER),
        error: get(ERROR_HEADER),
        attempts: get(ATTEMPTS_HEADER).parse().unwrap_or(0),
        payload,
    }
}

/// `error` on one line, cut to [`MAX_ERROR_BYTES`] at a character boundary.
fn header_text(error: &str) -> String {
    let line: String = error
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut end = line.len().min(MAX_ERROR_BYTES);
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    line[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_become_one_bounded_header_line() {
        assert_eq!(header_text("a\nb\r\tc"), "a b  c");
        let long = "é".repeat(1000);
        let cut = header_text(&long);
        assert!(cut.len() <= MAX_ERROR_BYTES && cut.chars().all(|c| c == 'é'));
    }

    #[test]
    fn dead_letters_lie_outside_the_event_streams_subjects() {
        let s = subject("switchboard", "routing-tickets");
        assert_eq!(s, "deadletter.switchboard.routing-tickets");
        assert!(!s.starts_with("switchboard."));
        assert_eq!(stream_name("SWITCHBOARD"), "SWITCHBOARD_DLQ");
    }
}
