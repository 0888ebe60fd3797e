//! The runtime every Switchboard service shares: configuration, telemetry,
//! authentication, error mapping, and the gRPC server lifecycle.

pub mod app;
pub mod auth;
pub mod backoff;
pub mod config;
pub mod error;
pub mod fanout;
pub mod grpc;
pub mod limits;
pub mod metrics_http;
pub mod streams;
pub mod telemetry;

pub use app::App;
pub use auth::{Authenticator, Caller, Role, TenantId, caller};
pub use backoff::Backoff;
pub use config::Settings;
pub use error::{
    DbErrorClass, DomainError, ErrorKind, FieldViolation, Violations, classify_db, db_error_kind,
    to_status,
};
pub use fanout::{Hub, Missed};
pub use limits::Limiter;
pub use streams::{Feed, Outbound, Streams};

/// Every service this binary can run, by its configuration name.
pub const SERVICE_NAMES: [&str; 5] = [
    "ticket",
    "routing",
    "notification",
    "knowledge",
    "analytics",
];

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
