//! The Prometheus `/metrics` endpoint.

use std::net::SocketAddr;

use metrics_exporter_prometheus::PrometheusBuilder;

/// Failure to start the endpoint.
#[derive(Debug, thiserror::Error)]
#[error("`metrics.listen` {addr}: {reason}")]
pub struct MetricsError {
    addr: SocketAddr,
    reason: String,
}

/// Starts serving `/metrics` on `addr` (needs a Tokio runtime).
pub fn install(addr: SocketAddr) -> Result<(), MetricsError> {
    PrometheusBuilder::new()
        .with_http_listener(addr)
        .set_buckets(&[
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
        ])
        .and_then(|b| b.install())
        .map_err(|e| MetricsError {
            addr,
            reason: e.to_string(),
        })
}
