//! One process's lifecycle: start, report health, supervise background
//! work, drain on shutdown.
//!
//! Health has three kinds of names (see deploy/README.md, "Probes"):
//! - [`LIVENESS`] is SERVING while the process runs: Kubernetes restarts the
//!   pod only when even the health service stops answering.
//! - Each gRPC service's name is SERVING while every *required* component
//!   of it answers (its database, its cache, its running consumers), and
//!   `""` while every service is; these are the readiness probes.
//! - A dependency the service can ride out (NATS for a writer, whose outbox
//!   keeps events until NATS is back) reports under its own name, such as
//!   `switchboard.ticket.v1.TicketService/events`, and never pulls the pod.
//!
//! Every check of every component runs in parallel once per
//! `health.interval_ms`, cut off at `health.timeout_ms`, and all statuses,
//! `""` included, are set from the same pass. A component's status flips
//! only after `health.threshold` consecutive contrary results (the first
//! result after start applies at once).

use std::{
    collections::BTreeMap, convert::Infallible, fmt::Display, future::Future, pin::Pin, sync::Arc,
    time::Duration,
};

use tokio::{net::TcpListener, sync::watch};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tonic_health::{ServingStatus, server::HealthReporter};

use crate::{
    Authenticator, Backoff, Limiter, Settings,
    auth::AuthLayer,
    config::HealthSettings,
    grpc::GrpcServer,
    streams::{StreamLimits, Streams},
};

/// The health name that is SERVING for as long as the process runs (the
/// liveness probe's name).
pub const LIVENESS: &str = "liveness";

/// A run of a supervised task that lasted this long was healthy: the next
/// failure starts the backoff again from its shortest delay.
const HEALTHY_RUN: Duration = Duration::from_secs(60);

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
    /// The server stopped though no shutdown was asked for.
    #[error("gRPC server stopped before shutdown was requested")]
    Stopped,
}

/// How a component's health is learnt.
enum Probe {
    /// Asked every pass.
    Check(Check),
    /// Pushed by the component: `true` while it runs.
    Alive(watch::Receiver<bool>),
}

/// Which health names a component's status feeds.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Feeds {
    /// Required by this gRPC service (and hence by `""`).
    Service(&'static str),
    /// Reported under its own name only.
    Own(String),
}

/// One thing whose health is watched.
struct Component {
    label: String,
    feeds: Feeds,
    probe: Probe,
}

impl Component {
    async fn probe(&self, timeout: Duration) -> Result<(), String> {
        match &self.probe {
            Probe::Alive(alive) => {
                if *alive.borrow() {
                    Ok(())
                } else {
                    Err("not running (restarting)".to_owned())
                }
            }
            Probe::Check(check) => match tokio::time::timeout(timeout, check()).await {
                Ok(outcome) => outcome,
                Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
            },
        }
    }
}

/// Everything the enabled services share, and the lifecycle that runs them.
pub struct App {
    settings: Arc<Settings>,
    auth: Authenticator,
    grpc: GrpcServer,
    streams: Streams,
    components: Vec<Component>,
    shutdown: CancellationToken,
    background: CancellationToken,
    tasks: TaskTracker,
    refreshing_keys: bool,
    in_process: BTreeMap<&'static str, InProcess>,
}

/// A gRPC service of this process called without the network: the same
/// authentication, scopes, audit, spans and metrics as over a socket.
pub type InProcess = tower::util::BoxCloneSyncService<
    http::Request<tonic::body::Body>,
    http::Response<tonic::body::Body>,
    TransportError,
>;

/// Why a call through an [`InProcess`] transport failed before any answer
/// (a concrete type: tonic's clients need `Into<StdError>` of it).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct TransportError(pub Box<dyn std::error::Error + Send + Sync>);

impl App {
    /// A new process with nothing enabled yet; `shutdown` starts the drain.
    pub fn new(settings: Settings, shutdown: CancellationToken) -> Self {
        let auth = Authenticator::from_settings(&settings.auth);
        auth.set_limiter(Limiter::from_settings(&settings));
        switchboard_proto::guard::set_max_request_bytes(settings.grpc.max_message_bytes);
        let streams = Streams::new(StreamLimits::from(&settings.streams), shutdown.clone());
        Self {
            settings: Arc::new(settings),
            auth,
            grpc: GrpcServer::new(),
            streams,
            components: Vec::new(),
            shutdown,
            background: CancellationToken::new(),
            tasks: TaskTracker::new(),
            refreshing_keys: false,
            in_process: BTreeMap::new(),
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
        let authenticated = tower::Layer::layer(&AuthLayer::new(self.auth.clone()), service);
        let observed = tower::Layer::layer(&crate::grpc::ObserveLayer, authenticated.clone());
        self.in_process.insert(
            S::NAME,
            InProcess::new(tower::ServiceExt::map_err(
                observed,
                |e: Infallible| match e {},
            )),
        );
        self.grpc.add_service(authenticated);
        self.refresh_issuer_keys();
    }

    /// Fetches every identity provider's keys at start and on schedule, once
    /// per process, so the first token of a provider finds its key cached.
    fn refresh_issuer_keys(&mut self) {
        if self.refreshing_keys || self.auth.issuers().is_empty() {
            return;
        }
        self.refreshing_keys = true;
        let issuers = self.auth.issuers().to_vec();
        let every = Duration::from_secs(self.settings.auth.jwks_refresh_seconds);
        self.spawn_background(move |stop| async move {
            loop {
                for issuer in &issuers {
                    match issuer.refresh().await {
                        Ok(keys) => tracing::debug!(issuer = issuer.issuer(), keys, "issuer keys fetched"),
                        Err(e) => tracing::warn!(issuer = issuer.issuer(), error = %e, "cannot fetch issuer keys"),
                    }
                }
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(every) => {}
                }
            }
        });
    }

    /// `name` (a gRPC service name) as an in-process client transport, when
    /// this process serves it: a call between two services of one process
    /// then never leaves it.
    pub fn in_process(&self, name: &str) -> Option<InProcess> {
        self.in_process.get(name).cloned()
    }

    /// The stream budget every server stream of this process opens through.
    pub fn streams(&self) -> Streams {
        self.streams.clone()
    }

    /// Cancelled when shutdown begins: long-lived streams end on it.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Registers a readiness probe that `service` (its gRPC service name)
    /// requires: while it fails, the service and `""` are NOT_SERVING.
    pub fn readiness_check(&mut self, service: &'static str, check: Check) {
        self.components.push(Component {
            label: service.to_owned(),
            feeds: Feeds::Service(service),
            probe: Probe::Check(check),
        });
    }

    /// Registers a probe of a dependency the service can ride out: it is
    /// reported under `name` alone (NOT_SERVING there while it fails) and
    /// leaves the service and `""` as they are.
    pub fn degradable_check(&mut self, name: impl Into<String>, check: Check) {
        let name = name.into();
        self.components.push(Component {
            label: name.clone(),
            feeds: Feeds::Own(name),
            probe: Probe::Check(check),
        });
    }

    /// Makes `service` require the background component `component` to be
    /// running (`alive` true), e.g. a consumer from [`App::spawn_supervised`].
    pub fn require_alive(
        &mut self,
        service: &'static str,
        component: &str,
        alive: watch::Receiver<bool>,
    ) {
        self.components.push(Component {
            label: format!("{service} {component}"),
            feeds: Feeds::Service(service),
            probe: Probe::Alive(alive),
        });
    }

    /// Runs `task` until the gRPC server has drained; it gets a token that is
    /// cancelled then, so it can finish its work (e.g. flush the outbox).
    /// A task that ends before then is logged; one that must keep running
    /// belongs in [`App::spawn_supervised`].
    pub fn spawn_background<F, Fut>(&self, task: F)
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let stop = self.background.clone();
        let run = task(stop.clone());
        self.tasks.spawn(async move {
            run.await;
            if !stop.is_cancelled() {
                tracing::warn!("background task ended before shutdown");
            }
        });
    }

    /// Runs `task` until shutdown like [`App::spawn_background`], starting
    /// it again (after [`Backoff`]) whenever it fails, panics or ends early.
    /// The receiver is `true` while a run is under way; pass it to
    /// [`App::require_alive`] when the service cannot work without it.
    pub fn spawn_supervised<F, Fut, E>(&self, name: &'static str, task: F) -> watch::Receiver<bool>
    where
        F: FnMut(CancellationToken) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Display + Send + 'static,
    {
        let (alive, watched) = watch::channel(false);
        self.tasks
            .spawn(supervise(name, task, self.background.clone(), alive));
        watched
    }

    /// Serves on `listener` until the shutdown token is cancelled, then
    /// drains calls, stops background tasks, and returns. If the server
    /// stops on its own, everything else stops too and the error is
    /// returned, so the process exits non-zero and gets restarted.
    pub async fn run(self, listener: TcpListener) -> Result<(), RunError> {
        let connections = self.settings.connections.clone();
        self.run_server(move |grpc, drain| grpc.serve(listener, connections, drain))
            .await
    }

    /// [`App::run`] with the server `serve` builds from the gRPC services
    /// and the future that starts its drain: the seam where tests make a
    /// server die.
    async fn run_server<F, Fut>(self, serve: F) -> Result<(), RunError>
    where
        F: FnOnce(GrpcServer, Pin<Box<dyn Future<Output = ()> + Send>>) -> Fut,
        Fut: Future<Output = Result<(), tonic::transport::Error>> + Send + 'static,
    {
        let grace = self.settings.shutdown.grace();
        let health = self.grpc.health();
        let names = self.grpc.service_names();
        let shutdown = self.shutdown.clone();
        // Cancelled once every name reads NOT_SERVING after shutdown began:
        // only then does the server stop taking calls.
        let marked = CancellationToken::new();

        health
            .set_service_status(LIVENESS, ServingStatus::Serving)
            .await;
        let drain = {
            let marked = marked.clone();
            Box::pin(async move {
                marked.cancelled().await;
                tracing::info!("shutdown requested, draining in-flight calls");
            })
        };
        let server = tokio::spawn(serve(self.grpc, drain));
        let reporter = tokio::spawn(report_health(
            health.clone(),
            names,
            self.components,
            self.settings.health.clone(),
            shutdown.clone(),
            marked,
        ));

        tokio::pin!(server);
        let early = tokio::select! {
            biased;
            _ = shutdown.cancelled() => None,
            joined = &mut server => Some(joined),
        };
        let served = match early {
            // A drain that finished before this task looked is no failure.
            Some(joined) if shutdown.is_cancelled() => joined
                .map_err(RunError::from)
                .and_then(|r| r.map_err(RunError::from)),
            Some(joined) => {
                let err = match joined {
                    Ok(Ok(())) => RunError::Stopped,
                    Ok(Err(e)) => RunError::Serve(e),
                    Err(e) => RunError::Join(e),
                };
                tracing::error!(error = %err, "gRPC server stopped; shutting the process down");
                shutdown.cancel();
                health
                    .set_service_status(LIVENESS, ServingStatus::NotServing)
                    .await;
                Err(err)
            }
            None => {
                let deadline = tokio::time::Instant::now() + grace;
                match tokio::time::timeout_at(deadline, &mut server).await {
                    Ok(joined) => joined?.map_err(RunError::from),
                    Err(_) => {
                        tracing::warn!(
                            grace_seconds = grace.as_secs(),
                            "calls still running at the drain deadline"
                        );
                        Ok(())
                    }
                }
            }
        };
        reporter.abort();
        self.background.cancel();
        self.tasks.close();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        if tokio::time::timeout_at(deadline, self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("background tasks still running at the drain deadline");
        }
        tracing::info!("stopped");
        served
    }
}

/// Runs `task` until `stop`, again after a backoff each time it ends.
async fn supervise<F, Fut, E>(
    name: &'static str,
    mut task: F,
    stop: CancellationToken,
    alive: watch::Sender<bool>,
) where
    F: FnMut(CancellationToken) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: Display + Send + 'static,
{
    let mut backoff = Backoff::default();
    while !stop.is_cancelled() {
        alive.send_replace(true);
        let started = tokio::time::Instant::now();
        // Its own task, so a panic ends this run only.
        let outcome = tokio::spawn(task(stop.clone())).await;
        if stop.is_cancelled() {
            break;
        }
        alive.send_replace(false);
        match outcome {
            Ok(Ok(())) => tracing::error!(task = name, "background task ended; restarting"),
            Ok(Err(e)) => {
                tracing::error!(task = name, error = %e, "background task failed; restarting")
            }
            Err(e) => {
                tracing::error!(task = name, error = %e, "background task panicked; restarting")
            }
        }
        metrics::counter!("background_task_restarts_total", "task" => name).increment(1);
        if started.elapsed() >= HEALTHY_RUN {
            backoff.reset();
        }
        if !backoff.wait(&stop).await {
            break;
        }
    }
    alive.send_replace(false);
}

/// A status that follows its results only once they agree `threshold`
/// times in a row, so one slow answer does not flip it.
#[derive(Debug, Default, Clone)]
struct Debounced {
    state: Option<bool>,
    contrary: u32,
}

impl Debounced {
    /// Records one result; the status after it.
    fn observe(&mut self, ok: bool, threshold: u32) -> bool {
        match self.state {
            None => self.state = Some(ok),
            Some(current) if current == ok => self.contrary = 0,
            Some(_) => {
                self.contrary += 1;
                if self.contrary >= threshold {
                    self.state = Some(ok);
                    self.contrary = 0;
                }
            }
        }
        self.state.unwrap_or(ok)
    }
}

/// The statuses of every health name given each component's status: a
/// service is SERVING when all it requires is, `""` when every service is.
fn statuses(names: &[&'static str], components: &[(Feeds, bool)]) -> BTreeMap<String, bool> {
    let mut out = BTreeMap::new();
    for name in names {
        let ready = components
            .iter()
            .filter(|(feeds, _)| *feeds == Feeds::Service(name))
            .all(|(_, ok)| *ok);
        out.insert((*name).to_owned(), ready);
    }
    let all = names.iter().all(|n| out[*n]);
    for (feeds, ok) in components {
        if let Feeds::Own(name) = feeds {
            let entry = out.entry(name.clone()).or_insert(true);
            *entry &= *ok;
        }
    }
    out.insert(String::new(), all);
    out
}

fn serving(ok: bool) -> ServingStatus {
    if ok {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    }
}

/// Checks every component each interval and sets every health name from
/// the same pass; on shutdown marks them all NOT_SERVING, then `marked`.
async fn report_health(
    health: HealthReporter,
    names: Vec<&'static str>,
    components: Vec<Component>,
    settings: HealthSettings,
    shutdown: CancellationToken,
    marked: CancellationToken,
) {
    // Cancelled however this ends, so the server's drain never waits on a
    // reporter that is gone.
    let _marked = marked.drop_guard();
    let mut debounced = vec![Debounced::default(); components.len()];
    let mut shown: BTreeMap<String, bool> = BTreeMap::new();
    let mut interval = tokio::time::interval(settings.interval());
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let pass = async {
        loop {
            interval.tick().await;
            let results =
                futures::future::join_all(components.iter().map(|c| c.probe(settings.timeout())))
                    .await;
            let mut states = Vec::with_capacity(components.len());
            for ((component, result), debounce) in
                components.iter().zip(results).zip(debounced.iter_mut())
            {
                let before = debounce.state;
                let ok = debounce.observe(result.is_ok(), settings.threshold);
                if before != Some(ok) {
                    match &result {
                        Err(reason) if !ok => {
                            tracing::warn!(component = %component.label, %reason, "not ready")
                        }
                        _ => {
                            tracing::info!(component = %component.label, ready = ok, "readiness changed")
                        }
                    }
                }
                states.push((component.feeds.clone(), ok));
            }
            for (name, ok) in statuses(&names, &states) {
                if shown.get(&name) != Some(&ok) {
                    if !name.is_empty() && shown.contains_key(&name) {
                        tracing::info!(service = %name, serving = ok, "health changed");
                    }
                    health.set_service_status(&name, serving(ok)).await;
                    shown.insert(name, ok);
                }
            }
        }
    };
    tokio::select! {
        _ = shutdown.cancelled() => {}
        _ = pass => {}
    }
    for name in shown
        .keys()
        .map(String::as_str)
        .chain(names.iter().copied())
        .chain([""])
    {
        health
            .set_service_status(name, ServingStatus::NotServing)
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_flips_only_after_threshold_contrary_results() {
        let mut d = Debounced::default();
        assert!(!d.observe(false, 2), "the first result applies at once");
        assert!(!d.observe(true, 2));
        assert!(!d.observe(false, 2), "one success then a failure: no flip");
        assert!(!d.observe(true, 2));
        assert!(d.observe(true, 2));
        assert!(d.observe(false, 2));
        assert!(!d.observe(false, 2));
        let mut once = Debounced::default();
        assert!(once.observe(true, 1));
        assert!(!once.observe(false, 1));
    }

    #[test]
    fn services_follow_their_requirements_and_own_names_stand_apart() {
        let names = ["a.A", "b.B"];
        let components = [
            (Feeds::Service("a.A"), true),
            (Feeds::Service("b.B"), true),
            (Feeds::Own("a.A/events".to_owned()), false),
        ];
        let s = statuses(&names, &components);
        assert!(s["a.A"]);
        assert!(s[""], "a degraded own name leaves the whole");
        assert!(!s["a.A/events"]);

        let components = [
            (Feeds::Service("a.A"), true),
            (Feeds::Service("b.B"), false),
        ];
        let s = statuses(&names, &components);
        assert_eq!((s["a.A"], s["b.B"], s[""]), (true, false, false));
    }

    #[tokio::test]
    async fn a_server_that_stops_on_its_own_ends_the_run_with_an_error_and_stops_the_rest() {
        let settings = crate::Settings::load(None).expect("defaults load");
        let app = App::new(settings, CancellationToken::new());
        let (stopped_tx, stopped) = tokio::sync::oneshot::channel();
        app.spawn_background(move |stop| async move {
            stop.cancelled().await;
            let _ = stopped_tx.send(());
        });
        // The server returns at once, though nobody asked it to stop.
        let outcome = app.run_server(|_grpc, _drain| async { Ok(()) }).await;
        assert!(matches!(outcome, Err(RunError::Stopped)), "{outcome:?}");
        // Background work was told to stop before the run returned.
        stopped.await.expect("the background task saw the stop");
    }

    #[tokio::test]
    async fn a_failing_task_is_restarted_and_its_liveness_follows() {
        let stop = CancellationToken::new();
        let (alive, mut watched) = watch::channel(false);
        let runs = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let counted = runs.clone();
        let (first_failed_tx, first_failed) = tokio::sync::oneshot::channel::<()>();
        let mut first_failed_tx = Some(first_failed_tx);
        let task = move |stop: CancellationToken| {
            let n = counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let signal = if n == 0 { first_failed_tx.take() } else { None };
            async move {
                if let Some(tx) = signal {
                    let _ = tx.send(());
                    return Err("boom");
                }
                if n == 1 {
                    panic!("a bug");
                }
                stop.cancelled().await;
                Ok(())
            }
        };
        let supervisor = tokio::spawn(supervise("test", task, stop.clone(), alive));
        first_failed.await.unwrap();
        watched.wait_for(|a| !*a).await.unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while runs.load(std::sync::atomic::Ordering::SeqCst) < 3 {
            assert!(tokio::time::Instant::now() < deadline, "not restarted");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        watched.wait_for(|a| *a).await.unwrap();
        stop.cancel();
        supervisor.await.unwrap();
        assert!(!*watched.borrow());
        assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 3);
    }
}
