//! Webhook bodies (the event in the protobuf JSON mapping) and the HTTP
//! client that POSTs them, signed.

use std::{sync::LazyLock, time::Duration};

use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage};
use serde_json::{Value, json};
use switchboard_proto::events::v1::Envelope;

use crate::domain::signing;

/// The protobuf type of every webhook's `event`.
pub const ENVELOPE_TYPE: &str = "switchboard.events.v1.Envelope";

/// Header with the delivery id, the same on every retry.
pub const DELIVERY_HEADER: &str = "Switchboard-Delivery";
/// Header with the attempt's Unix time in seconds.
pub const TIMESTAMP_HEADER: &str = "Switchboard-Timestamp";
/// Header with `v1=<hex HMAC-SHA256 of "<timestamp>.<body>">`.
pub const SIGNATURE_HEADER: &str = "Switchboard-Signature";
/// Header with the event type.
pub const EVENT_TYPE_HEADER: &str = "Switchboard-Event-Type";

static POOL: LazyLock<DescriptorPool> = LazyLock::new(|| {
    DescriptorPool::decode(switchboard_proto::FILE_DESCRIPTOR_SET)
        .expect("the compiled descriptor set decodes")
});

/// The JSON body for `event`: `{"id", "type", "protobuf_type",
/// "payload_type", "event"}`.
pub fn body(event: &Envelope) -> Value {
    let descriptor = POOL
        .get_message_by_name(ENVELOPE_TYPE)
        .expect("the envelope is in the descriptor set");
    let message = DynamicMessage::decode(descriptor.clone(), event.encode_to_vec().as_slice())
        .expect("an encoded envelope decodes");
    let payload_type = descriptor
        .oneofs()
        .find(|o| o.name() == "payload")
        .and_then(|o| o.fields().find(|f| message.has_field(f)))
        .and_then(|f| f.kind().as_message().map(|m| m.full_name().to_owned()))
        .unwrap_or_default();
    json!({
        "id": event.id,
        "type": event.r#type,
        "protobuf_type": ENVELOPE_TYPE,
        "payload_type": payload_type,
        "event": serde_json::to_value(&message).unwrap_or(Value::Null),
    })
}

/// A webhook POST that did not get a 2xx.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct PostError {
    /// The HTTP status, 0 when none came.
    pub status: u16,
    /// What went wrong.
    pub message: String,
}

/// POSTs signed webhook bodies.
#[async_trait::async_trait]
pub trait WebhookClient: Send + Sync + 'static {
    /// POSTs `body` to `url`; `Ok` with the status on a 2xx.
    async fn post(
        &self,
        url: &str,
        secret: &str,
        delivery_id: &str,
        event_type: &str,
        body: &[u8],
    ) -> Result<u16, PostError>;
}

/// The reqwest (rustls) client.
#[derive(Debug, Clone)]
pub struct HttpWebhookClient {
    client: reqwest::Client,
}

impl HttpWebhookClient {
    /// A client whose requests time out after `timeout`.
    pub fn new(timeout: Duration) -> Self {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent("Switchboard-Webhooks/1")
            // A receiver's redirect must not move a signed body elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("the HTTP client builds");
        Self { client }
    }
}

#[async_trait::async_trait]
impl WebhookClient for HttpWebhookClient {
    async fn post(
        &self,
        url: &str,
        secret: &str,
        delivery_id: &str,
        event_type: &str,
        body: &[u8],
    ) -> Result<u16, PostError> {
        let timestamp = chrono::Utc::now().timestamp();
        let response = self
            .client
            .post(url)
            .header("Content-Type", "application/json")
            .header(DELIVERY_HEADER, delivery_id)
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(EVENT_TYPE_HEADER, event_type)
            .header(SIGNATURE_HEADER, signing::sign(secret, timestamp, body))
            .body(body.to_vec())
            .send()
            .await
            .map_err(|e| PostError {
                status: 0,
                message: format!("request failed: {}", without_url(e)),
            })?;
        let status = response.status();
        if status.is_success() {
            Ok(status.as_u16())
        } else {
            Err(PostError {
                status: status.as_u16(),
                message: format!("receiver answered {status}"),
            })
        }
    }
}

fn without_url(e: reqwest::Error) -> String {
    // The URL may carry credentials; the delivery log must not.
    let e = e.without_url();
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_proto::{
        events::v1::{TicketCreated, envelope::Payload},
        ticket::v1::Ticket,
    };

    #[test]
    fn bodies_carry_the_event_in_proto_json_and_its_type_names() {
        let event = Envelope {
            id: "0190".into(),
            r#type: "ticket.created".into(),
            tenant_id: "acme".into(),
            aggregate_version: 1,
            occurred_at: Some(prost_types::Timestamp {
                seconds: 1_700_000_000,
                nanos: 0,
            }),
            payload: Some(Payload::TicketCreated(TicketCreated {
                ticket: Some(Ticket {
                    name: "tickets/t".into(),
                    number: 5,
                    subject: "Help".into(),
                    ..Default::default()
                }),
                ..Default::default()
            })),
            ..Default::default()
        };
        let b = body(&event);
        assert_eq!(b["type"], "ticket.created");
        assert_eq!(b["protobuf_type"], ENVELOPE_TYPE);
        assert_eq!(b["payload_type"], "switchboard.events.v1.TicketCreated");
        assert_eq!(b["event"]["tenantId"], "acme");
        assert_eq!(b["event"]["ticketCreated"]["ticket"]["subject"], "Help");
        assert_eq!(b["event"]["occurredAt"], "2023-11-14T22:13:20Z");
    }
}
