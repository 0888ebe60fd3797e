//! The gRPC server every service runs inside: health, reflection, gRPC-Web,
//! CORS for browsers, request spans and metrics are always there.

use std::{
    convert::Infallible,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Instant,
};

use http::{HeaderName, Request, Response};
use tokio::net::TcpListener;
use tonic::{
    body::Body,
    server::NamedService,
    service::RoutesBuilder,
    transport::{Server, server::TcpIncoming},
};
use tonic_health::{ServingStatus, server::HealthReporter};
use tower::{Layer, Service};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tracing::Instrument;

use crate::{config::ConnectionSettings, telemetry::set_parent_from_http};

/// Collects the gRPC services of one process and serves them on one port.
pub struct GrpcServer {
    routes: RoutesBuilder,
    health: HealthReporter,
    names: Vec<&'static str>,
}

impl Default for GrpcServer {
    fn default() -> Self {
        Self::new()
    }
}

impl GrpcServer {
    /// A server that carries health now and reflection once it serves.
    pub fn new() -> Self {
        let (health, health_service) = tonic_health::server::health_reporter();
        let mut routes = RoutesBuilder::default();
        routes.add_service(health_service);
        Self {
            routes,
            health,
            names: Vec::new(),
        }
    }

    /// Adds a service; its health starts NOT_SERVING until marked ready.
    pub fn add_service<S>(&mut self, svc: S) -> &mut Self
    where
        S: Service<Request<Body>, Error = Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Response: axum::response::IntoResponse,
        S::Future: Send + 'static,
    {
        self.routes.add_service(svc);
        self.names.push(S::NAME);
        self
    }

    /// Health reporter for the services added.
    pub fn health(&self) -> HealthReporter {
        self.health.clone()
    }

    /// Fully qualified names of the services added (not health/reflection).
    pub fn service_names(&self) -> Vec<&'static str> {
        self.names.clone()
    }

    /// Serves until `shutdown` resolves, then drains in-flight calls.
    /// Connections are pinged so dead peers, and the streams they hold, are
    /// dropped instead of lingering until the kernel gives up on them.
    pub async fn serve(
        self,
        listener: TcpListener,
        connections: ConnectionSettings,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), tonic::transport::Error> {
        for name in &self.names {
            self.health
                .set_service_status(*name, ServingStatus::NotServing)
                .await;
        }
        self.health
            .set_service_status("", ServingStatus::NotServing)
            .await;
        let mut routes = self.routes;
        let (v1, v1alpha) = reflection(&self.names);
        routes.add_service(v1).add_service(v1alpha);
        let incoming = TcpIncoming::from(listener)
            .with_nodelay(Some(true))
            .with_keepalive(connections.tcp_keepalive());
        Server::builder()
            .http2_keepalive_interval(connections.http2_keepalive_interval())
            .http2_keepalive_timeout(Some(connections.http2_keepalive_timeout()))
            .max_concurrent_streams(connections.max_concurrent_streams)
            .accept_http1(true)
            .layer(cors())
            .layer(tonic_web::GrpcWebLayer::new())
            .layer(ObserveLayer)
            .add_routes(routes.routes())
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await
    }
}

/// Reflection (both protocol versions, for old and new clients) that lists
/// only what this process serves, though it can describe every type.
fn reflection(
    names: &[&'static str],
) -> (
    tonic_reflection::server::v1::ServerReflectionServer<
        impl tonic_reflection::server::v1::ServerReflection,
    >,
    tonic_reflection::server::v1alpha::ServerReflectionServer<
        impl tonic_reflection::server::v1alpha::ServerReflection,
    >,
) {
    let builder = || {
        let mut builder = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(switchboard_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            // So clients can decode google.rpc.BadRequest error details.
            .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
            .with_service_name(tonic_health::pb::health_server::SERVICE_NAME)
            .with_service_name("grpc.reflection.v1.ServerReflection")
            .with_service_name("grpc.reflection.v1alpha.ServerReflection");
        for name in names {
            builder = builder.with_service_name(*name);
        }
        builder
    };
    let v1 = builder()
        .build_v1()
        .expect("the embedded descriptor set is valid");
    let v1alpha = builder()
        .build_v1alpha()
        .expect("the embedded descriptor set is valid");
    (v1, v1alpha)
}

/// Browsers call over gRPC-Web from other origins; credentials travel in the
/// `authorization` header, never cookies, so any origin may call.
fn cors() -> CorsLayer {
    let expose =
        ["grpc-status", "grpc-message", "grpc-status-details-bin"].map(HeaderName::from_static);
    CorsLayer::new()
        .allow_origin(AllowOrigin::mirror_request())
        .allow_methods([http::Method::POST, http::Method::OPTIONS])
        .allow_headers(tower_http::cors::Any)
        .expose_headers(expose)
        .max_age(std::time::Duration::from_secs(86_400))
}

/// Gives every call a span (parented on the caller's W3C trace context) and
/// records Prometheus metrics for it.
#[derive(Debug, Clone, Copy)]
pub struct ObserveLayer;

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Observe { inner }
    }
}

/// The service [`ObserveLayer`] produces.
#[derive(Debug, Clone)]
pub struct Observe<S> {
    inner: S,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B, RB> Service<Request<B>> for Observe<S>
where
    S: Service<Request<B>, Response = Response<RB>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    RB: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let path = req.uri().path().to_owned();
        let span = tracing::info_span!("grpc", rpc = %path, otel.kind = "server", grpc.code = tracing::field::Empty);
        set_parent_from_http(&span, req.headers());
        let started = Instant::now();
        let fut = {
            let _entered = span.enter();
            self.inner.call(req)
        };
        Box::pin(
            async move {
                let mut result = fut.await;
                if let Ok(resp) = &mut result {
                    cap_error_headers(resp.headers_mut());
                }
                let code = match &result {
                    Ok(resp) => resp
                        .headers()
                        .get("grpc-status")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("0")
                        .to_owned(),
                    Err(_) => "transport".to_owned(),
                };
                tracing::Span::current().record("grpc.code", code.as_str());
                // Unknown methods would let any caller mint label values.
                let method = if code == "12" {
                    "unknown".to_owned()
                } else {
                    path
                };
                metrics::histogram!("grpc_server_handling_seconds", "method" => method.clone())
                    .record(started.elapsed().as_secs_f64());
                metrics::counter!("grpc_server_handled_total", "method" => method, "code" => code)
                    .increment(1);
                result
            }
            .instrument(span),
        )
    }
}

/// Longest `grpc-message` that leaves a process, in bytes (percent-encoded).
const MAX_GRPC_MESSAGE_BYTES: usize = 1024;
/// Largest `grpc-status-details-bin` that leaves a process, in bytes.
const MAX_GRPC_DETAILS_BYTES: usize = 4096;

/// Keeps an error's metadata small whatever built it: a handler that quotes
/// its input must not send a megabyte of trailers back, which gRPC clients
/// refuse (they report RESOURCE_EXHAUSTED instead of the real error).
/// [`crate::error::to_status`] already keeps its own errors far smaller.
fn cap_error_headers(headers: &mut http::HeaderMap) {
    // tonic answers a request over the transport's size limit with
    // OUT_OF_RANGE; gRPC's status code table says RESOURCE_EXHAUSTED, which
    // is also what the codec's per-request limits answer.
    if headers.get("grpc-status").is_some_and(|c| c == "11")
        && headers.get("grpc-message").is_some_and(|m| {
            m.as_bytes()
                .starts_with(b"Error,%20decoded%20message%20length%20too%20large")
        })
    {
        headers.insert("grpc-status", http::HeaderValue::from_static("8"));
    }
    if let Some(message) = headers.get("grpc-message")
        && message.len() > MAX_GRPC_MESSAGE_BYTES
    {
        let cut = percent_boundary(message.as_bytes(), MAX_GRPC_MESSAGE_BYTES);
        let mut clipped = message.as_bytes()[..cut].to_vec();
        clipped.extend_from_slice(b"%E2%80%A6");
        if let Ok(value) = http::HeaderValue::from_bytes(&clipped) {
            headers.insert("grpc-message", value);
        }
    }
    if headers
        .get("grpc-status-details-bin")
        .is_some_and(|d| d.len() > MAX_GRPC_DETAILS_BYTES)
    {
        headers.remove("grpc-status-details-bin");
    }
}

/// The largest cut at or before `max` that splits neither a `%XX` escape nor
/// a UTF-8 sequence written as escapes.
fn percent_boundary(text: &[u8], max: usize) -> usize {
    let mut cut = max.min(text.len());
    loop {
        // Inside an escape: step back to its `%`.
        if let Some(pos) = text[cut.saturating_sub(2)..cut]
            .iter()
            .rposition(|&b| b == b'%')
        {
            cut = cut.saturating_sub(2) + pos;
        }
        // At a UTF-8 continuation byte (`%80`-`%BF`): step back one escape.
        let continuation = text.get(cut..cut + 3).is_some_and(|e| {
            e[0] == b'%' && matches!(e[1], b'8' | b'9' | b'A' | b'B' | b'a' | b'b')
        });
        if !continuation || cut == 0 {
            return cut;
        }
        cut -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_error_metadata_is_cut_at_a_character_boundary() {
        let mut headers = http::HeaderMap::new();
        let long = format!("bad: {}", "%C3%A9".repeat(1000));
        headers.insert("grpc-message", long.parse().unwrap());
        headers.insert(
            "grpc-status-details-bin",
            "A".repeat(10_000).parse().unwrap(),
        );
        cap_error_headers(&mut headers);
        let message = headers["grpc-message"].to_str().unwrap();
        assert!(
            message.len() <= MAX_GRPC_MESSAGE_BYTES + 9,
            "{}",
            message.len()
        );
        assert!(message.ends_with("%C3%A9%E2%80%A6"), "{message}");
        assert!(!headers.contains_key("grpc-status-details-bin"));
    }

    #[test]
    fn oversize_requests_are_resource_exhausted() {
        let mut headers = http::HeaderMap::new();
        headers.insert("grpc-status", "11".parse().unwrap());
        let message = "Error, decoded message length too large: found 2000000 bytes, the limit is: 1048576 bytes";
        headers.insert("grpc-message", message.replace(' ', "%20").parse().unwrap());
        cap_error_headers(&mut headers);
        assert_eq!(headers["grpc-status"], "8");
        let mut other = http::HeaderMap::new();
        other.insert("grpc-status", "11".parse().unwrap());
        other.insert("grpc-message", "page%20past%20the%20end".parse().unwrap());
        cap_error_headers(&mut other);
        assert_eq!(other["grpc-status"], "11");
    }

    #[test]
    fn short_error_metadata_is_left_alone() {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "grpc-message",
            "subject: must not be empty".parse().unwrap(),
        );
        headers.insert("grpc-status-details-bin", "CAMSAA".parse().unwrap());
        let before = headers.clone();
        cap_error_headers(&mut headers);
        assert_eq!(headers, before);
    }
}
