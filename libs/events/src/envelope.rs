//! Building envelopes and naming their subjects.

use opentelemetry::trace::TraceContextExt;
use prost_types::Timestamp;
use switchboard_proto::{
    common::v1::Actor,
    events::v1::{Envelope, TraceContext, envelope::Payload},
};
use switchboard_runtime::{
    TenantId,
    telemetry::{context_from_w3c, current_trace_headers},
};
use tracing_opentelemetry::OpenTelemetrySpanExt;
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

/// A span to handle `envelope` in, for `consumer`: its parent is the trace
/// the event was published in, so one ticket's journey (API call, relay,
/// every consumer, the calls they make) is one trace.
pub fn handler_span(consumer: &str, envelope: &Envelope) -> tracing::Span {
    let span = tracing::info_span!(
        "event",
        otel.kind = "consumer",
        consumer,
        event.id = %envelope.id,
        event.r#type = %envelope.r#type,
    );
    if let Some(parent) = published_in(envelope) {
        let _ = span.set_parent(parent);
    }
    span
}

/// A span to handle `events` in one go, for `consumer`: a span has one
/// parent, so it continues the first event's trace and links the others'.
pub fn batch_span(consumer: &str, events: &[Envelope]) -> tracing::Span {
    let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
    let span = tracing::info_span!(
        "event batch",
        otel.kind = "consumer",
        consumer,
        events = events.len(),
        event.ids = %ids.join(","),
    );
    let mut contexts = events.iter().filter_map(published_in);
    if let Some(parent) = contexts.next() {
        let _ = span.set_parent(parent);
    }
    for other in contexts {
        span.add_link(other.span().span_context().clone());
    }
    span
}

/// The trace context `envelope` was published in, if it carries one.
fn published_in(envelope: &Envelope) -> Option<opentelemetry::Context> {
    let trace = envelope.trace.as_ref()?;
    Some(context_from_w3c(&trace.traceparent, &trace.tracestate))
}

#[cfg(test)]
mod trace_tests {
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::{propagation::TraceContextPropagator, trace::SdkTracerProvider};
    use switchboard_proto::events::v1::TraceContext;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[test]
    fn a_handler_runs_in_the_trace_its_event_was_published_in() {
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        let provider = SdkTracerProvider::builder().build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
        let envelope = Envelope {
            id: "e1".into(),
            r#type: "ticket.created".into(),
            trace: Some(TraceContext {
                traceparent: format!("00-{trace_id}-00f067aa0ba902b7-01"),
                tracestate: String::new(),
            }),
            ..Default::default()
        };
        tracing::subscriber::with_default(subscriber, || {
            let span = handler_span("routing-tickets", &envelope);
            let _entered = span.enter();
            // What an outgoing call or a new event would carry.
            let headers = current_trace_headers();
            let traceparent = headers.get("traceparent").expect("a traceparent");
            assert!(
                traceparent.contains(trace_id),
                "{traceparent} is not in trace {trace_id}"
            );
            assert!(
                !traceparent.contains("00f067aa0ba902b7"),
                "a span of its own"
            );
            let mut metadata = tonic::metadata::MetadataMap::new();
            switchboard_runtime::telemetry::inject_trace(&mut metadata);
            let sent = metadata
                .get("traceparent")
                .expect("injected")
                .to_str()
                .unwrap();
            assert!(sent.contains(trace_id), "{sent}");
        });
    }
}
