//! Building envelopes and naming their subjects.

use prost_types::Timestamp;
use switchboard_proto::{
    common::v1::Actor,
    events::v1::{Envelope, TraceContext, envelope::Payload},
};
use switchboard_runtime::{TenantId, telemetry::current_trace_headers};
use uuid::Uuid;

/// Builds an [`Envelope`] with a fresh UUIDv7 id, the commit time and the
/// current trace context.
#[derive(Debug, Clone)]
pub struct EventBuilder {
    tenant: TenantId,
    aggregate_type: &'static str,
    aggregate_id: String,
    aggregate_version: i64,
    actor: Option<Actor>,
}

impl EventBuilder {
    /// Events about one version of one aggregate.
    pub fn new(
        tenant: &TenantId,
        aggregate_type: &'static str,
        aggregate_id: impl Into<String>,
        aggregate_version: i64,
    ) -> Self {
        Self {
            tenant: tenant.clone(),
            aggregate_type,
            aggregate_id: aggregate_id.into(),
            aggregate_version,
            actor: None,
        }
    }

    /// Who caused the change.
    pub fn actor(mut self, actor: Actor) -> Self {
        self.actor = Some(actor);
        self
    }

    /// The envelope for `payload`, typed `<aggregate>.<event>`.
    pub fn build(&self, event: &'static str, payload: Payload) -> Envelope {
        self.build_as(self.aggregate_type, event, payload)
    }

    /// The envelope for `payload`, typed `<family>.<event>`: for facts such
    /// as `message.added` that are ordered with an aggregate of another name.
    pub fn build_as(
        &self,
        family: &'static str,
        event: &'static str,
        payload: Payload,
    ) -> Envelope {
        let headers = current_trace_headers();
        let trace = headers.get("traceparent").map(|tp| TraceContext {
            traceparent: tp.clone(),
            tracestate: headers.get("tracestate").cloned().unwrap_or_default(),
        });
        let now = chrono::Utc::now();
        Envelope {
            id: Uuid::now_v7().to_string(),
            r#type: format!("{family}.{event}"),
            occurred_at: Some(Timestamp {
                seconds: now.timestamp(),
                nanos: now.timestamp_subsec_nanos() as i32,
            }),
            tenant_id: self.tenant.as_str().to_owned(),
            aggregate_type: self.aggregate_type.to_owned(),
            aggregate_id: self.aggregate_id.clone(),
            aggregate_version: self.aggregate_version,
            actor: self.actor.clone(),
            trace,
            payload: Some(payload),
        }
    }
}

/// `<tenant>.<type>` — the subject without the installation's prefix.
pub fn subject_of(envelope: &Envelope) -> String {
    format!("{}.{}", envelope.tenant_id, envelope.r#type)
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_proto::events::v1::TicketCreated;

    #[test]
    fn envelopes_carry_identity_order_and_subject() {
        let tenant = TenantId::parse("acme").unwrap();
        let b = EventBuilder::new(&tenant, "ticket", "t-1", 3);
        let first = b.build("created", Payload::TicketCreated(TicketCreated::default()));
        let second = b.build("created", Payload::TicketCreated(TicketCreated::default()));
        assert_eq!(first.r#type, "ticket.created");
        assert_eq!(first.aggregate_version, 3);
        assert_eq!(subject_of(&first), "acme.ticket.created");
        let (a, b) = (
            Uuid::parse_str(&first.id).unwrap(),
            Uuid::parse_str(&second.id).unwrap(),
        );
        assert_eq!(a.get_version_num(), 7);
        assert!(a < b, "UUIDv7 ids are time ordered");
    }
}
