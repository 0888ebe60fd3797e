//! Logs and traces: one init for every process.
//!
//! Logs are human-readable by default and JSON when configured. Traces go to
//! an OTLP collector when the standard `OTEL_EXPORTER_OTLP_ENDPOINT` is set;
//! W3C trace context is always propagated, exporter or not.

use std::collections::HashMap;

use opentelemetry::{
    Context, global, propagation::TextMapCompositePropagator, trace::TracerProvider as _,
};
use opentelemetry_sdk::{Resource, propagation::TraceContextPropagator, trace::SdkTracerProvider};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::{
    EnvFilter, Layer, Registry, layer::SubscriberExt, util::SubscriberInitExt,
};

use crate::config::{LogFormat, LogSettings};

/// Failure to set up telemetry.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The log filter does not parse.
    #[error("configuration error: `log.level` is not a valid filter: {0}")]
    Filter(String),
    /// The OTLP exporter could not be built.
    #[error("OTLP exporter (OTEL_EXPORTER_OTLP_ENDPOINT) could not start: {0}")]
    Exporter(String),
    /// A global subscriber was already installed.
    #[error("a tracing subscriber is already installed")]
    AlreadyInstalled,
}

/// Flushes and stops the trace exporter when dropped.
#[must_use = "dropping the guard stops trace export"]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            let _ = provider.shutdown();
        }
    }
}

/// Installs the global subscriber: filter, log layer, and (when
/// `OTEL_EXPORTER_OTLP_ENDPOINT` is set) the OpenTelemetry layer.
pub fn init(settings: &LogSettings, service_name: &str) -> Result<TelemetryGuard, TelemetryError> {
    global::set_text_map_propagator(TextMapCompositePropagator::new(vec![Box::new(
        TraceContextPropagator::new(),
    )]));

    let filter = match std::env::var("RUST_LOG") {
        Ok(from_env) if !from_env.is_empty() => EnvFilter::try_new(from_env),
        _ => EnvFilter::try_new(&settings.level),
    }
    .map_err(|e| TelemetryError::Filter(e.to_string()))?;

    let log_layer: Box<dyn Layer<Registry> + Send + Sync> = match settings.format {
        LogFormat::Pretty => Box::new(tracing_subscriber::fmt::layer().with_target(true)),
        LogFormat::Json => Box::new(
            tracing_subscriber::fmt::layer()
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .with_span_list(false),
        ),
    };

    let endpoint_set = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").is_ok_and(|v| !v.is_empty())
        || std::env::var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_ok_and(|v| !v.is_empty());
    // A provider exists even without an exporter so spans carry trace ids
    // and incoming trace context flows on into events and outgoing calls.
    let name = std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| service_name.to_owned());
    let mut builder = SdkTracerProvider::builder()
        .with_resource(Resource::builder().with_service_name(name).build());
    if endpoint_set {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .build()
            .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
        builder = builder.with_batch_exporter(exporter);
    }
    let provider = builder.build();
    global::set_tracer_provider(provider.clone());
    let otel_layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("switchboard"));
    let provider = Some(provider);

    tracing_subscriber::registry()
        .with(log_layer)
        .with(otel_layer)
        .with(filter)
        .try_init()
        .map_err(|_| TelemetryError::AlreadyInstalled)?;
    Ok(TelemetryGuard { provider })
}

/// The W3C trace context of the current span, as header name → value.
pub fn current_trace_headers() -> HashMap<String, String> {
    let cx = Span::current().context();
    let mut headers = HashMap::new();
    global::get_text_map_propagator(|p| p.inject_context(&cx, &mut headers));
    headers
}

/// Adds the current span's W3C trace context to an outgoing gRPC call, so
/// the callee's span joins this trace.
pub fn inject_trace(metadata: &mut tonic::metadata::MetadataMap) {
    for (name, value) in current_trace_headers() {
        if let (Ok(name), Ok(value)) = (
            tonic::metadata::MetadataKey::from_bytes(name.as_bytes()),
            value.parse(),
        ) {
            metadata.insert(name, value);
        }
    }
}

/// The context carried by W3C trace headers, to parent a span on.
pub fn context_from_headers(headers: &HashMap<String, String>) -> Context {
    global::get_text_map_propagator(|p| p.extract(headers))
}

/// The context of a stored W3C trace context (an event's, a queued
/// delivery's), to parent a span on.
pub fn context_from_w3c(traceparent: &str, tracestate: &str) -> Context {
    let mut headers = HashMap::new();
    headers.insert("traceparent".to_owned(), traceparent.to_owned());
    if !tracestate.is_empty() {
        headers.insert("tracestate".to_owned(), tracestate.to_owned());
    }
    context_from_headers(&headers)
}

/// Parents `span` on a stored W3C trace context.
pub fn set_parent_from_w3c(span: &Span, traceparent: &str, tracestate: &str) {
    let _ = span.set_parent(context_from_w3c(traceparent, tracestate));
}

/// Parents `span` on the trace carried by an incoming HTTP/2 request.
pub fn set_parent_from_http(span: &Span, headers: &http::HeaderMap) {
    let cx = global::get_text_map_propagator(|p| {
        p.extract(&opentelemetry_http::HeaderExtractor(headers))
    });
    let _ = span.set_parent(cx);
}
