//! One process's lifecycle: start, report readiness, drain on shutdown.

use std::{future::Future, pin::Pin, sync::Arc, time::Duration};

use tokio::net::TcpListener;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tonic_health::ServingStatus;

use crate::{
    Authenticator, Settings,
    grpc::GrpcServer,
    streams::{StreamLimits, Streams},
};

/// A boxed readiness probe: `Ok` when the dependency answers.
pub type Check =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// Failure to run the process.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The gRPC server failed.
    #[error("gRPC server failed: {0}")]
    Serve(#[from] tonic::transport::Error),
    /// The server task panicked.
    #[error("gRPC server task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// Everything the enabled services share, and the lifecycle that runs them.
pub struct App {
    settings: Arc<Settings>,
    auth: Authenticator,
    grpc: GrpcServer,
    streams: Streams,
    checks: Vec<(&'static str, Check)>,
    shutdown: CancellationToken,
    background: CancellationToken,
    tasks: TaskTracker,
}

impl App {
    /// A new process with nothing enabled yet; `shutdown` starts the drain.
    pub fn new(settings: Settings, shutdown: CancellationToken) -> Self {
        let auth = Authenticator::hs256(&settings.auth.jwt_secret)
            .with_max_lifetime(settings.auth.max_token_lifetime());
        switchboard_proto::guard::set_max_request_bytes(settings.grpc.max_message_bytes);
        let streams = Streams::new(StreamLimits::from(&settings.streams), shutdown.clone());
        Self {
            settings: Arc::new(settings),
            auth,
            grpc: GrpcServer::new(),
            streams,
            checks: Vec::new(),
            shutdown,
            background: CancellationToken::new(),
            tasks: TaskTracker::new(),
        }
    }

    /// The configuration.
    pub fn settings(&self) -> &Arc<Settings> {
        &self.settings
    }

    /// The token verifier for interceptors.
    pub fn auth(&self) -> Authenticator {
        self.auth.clone()
    }

    /// The gRPC server to add services to.
    pub fn grpc(&mut self) -> &mut GrpcServer {
        &mut self.grpc
    }

    /// Adds `service` behind the bearer-token interceptor: every call must
    /// carry a valid token, and handlers read the caller from it.
    pub fn add_authenticated<S>(&mut self, service: S)
    where
        S: tower::Service<
                http::Request<tonic::body::Body>,
                Response = http::Response<tonic::body::Body>,
                Error = std::convert::Infallible,
            > + tonic::server::NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        let intercepted =
            tonic::service::interceptor::InterceptedService::new(service, self.auth.clone());
        self.grpc.add_service(intercepted);
    }

    /// The stream budget every server stream of this process opens through.
    pub fn streams(&self) -> Streams {
        self.streams.clone()
    }

    /// Cancelled when shutdown begins: long-lived streams end on it.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Registers a readiness probe for `service` (its gRPC service name).
    pub fn readiness_check(&mut self, service: &'static str, check: Check) {
        self.checks.push((service, check));
    }

    /// Runs `task` until the gRPC server has drained; it gets a token that is
    /// cancelled then, so it can finish its work (e.g. flush the outbox).
    pub fn spawn_background<F, Fut>(&self, task: F)
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.tasks.spawn(task(self.background.clone()));
    }

    /// Serves on `listener` until the shutdown token is cancelled, then
    /// drains calls, stops background tasks, and returns.
    pub async fn run(self, listener: TcpListener) -> Result<(), RunError> {
        let grace = self.settings.shutdown.grace();
        let health = self.grpc.health();
        let names = self.grpc.service_names();
        let shutdown = self.shutdown.clone();

        let connections = self.settings.connections.clone();
        let server = tokio::spawn(self.grpc.serve(listener, connections, {
            let health = health.clone();
            let names = names.clone();
            let shutdown = shutdown.clone();
            async move {
                shutdown.cancelled().await;
                for name in names {
                    health
                        .set_service_status(name, ServingStatus::NotServing)
                        .await;
                }
                health
                    .set_service_status("", ServingStatus::NotServing)
                    .await;
                tracing::info!("shutdown requested, draining in-flight calls");
            }
        }));
        let readiness = tokio::spawn(report_readiness(
            health,
            names,
            self.checks,
            shutdown.clone(),
        ));

        shutdown.cancelled().await;
        let deadline = tokio::time::Instant::now() + grace;
        let served = match tokio::time::timeout_at(deadline, server).await {
            Ok(joined) => joined?.map_err(RunError::from),
            Err(_) => {
                tracing::warn!(
                    grace_seconds = grace.as_secs(),
                    "calls still running at the drain deadline"
                );
                Ok(())
            }
        };
        readiness.abort();
        self.background.cancel();
        self.tasks.close();
        if tokio::time::timeout_at(deadline + Duration::from_secs(2), self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("background tasks still running at the drain deadline");
        }
        tracing::info!("stopped");
        served
    }
}

async fn report_readiness(
    health: tonic_health::server::HealthReporter,
    names: Vec<&'static str>,
    checks: Vec<(&'static str, Check)>,
    shutdown: CancellationToken,
) {
    let mut interval = tokio::time::interval(Duration::from_secs(2));
    let mut last: Vec<Option<bool>> = vec![None; names.len()];
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = interval.tick() => {}
        }
        let mut all_ready = true;
        for (i, name) in names.iter().enumerate() {
            let mut ready = true;
            for (service, check) in checks.iter().filter(|(s, _)| s == name) {
                let outcome = tokio::time::timeout(Duration::from_secs(2), check()).await;
                let failure = match outcome {
                    Ok(Ok(())) => None,
                    Ok(Err(reason)) => Some(reason),
                    Err(_) => Some("timed out".to_owned()),
                };
                if let Some(reason) = failure {
                    if last[i] != Some(false) {
                        tracing::warn!(service, %reason, "dependency not ready");
                    }
                    ready = false;
                }
            }
            if shutdown.is_cancelled() {
                return;
            }
            if last[i] != Some(ready) {
                let status = if ready {
                    ServingStatus::Serving
                } else {
                    ServingStatus::NotServing
                };
                health.set_service_status(*name, status).await;
                tracing::info!(service = name, ready, "readiness changed");
                last[i] = Some(ready);
            }
            all_ready &= ready;
        }
        let overall = if all_ready {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        health.set_service_status("", overall).await;
    }
}
