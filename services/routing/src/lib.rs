//! The routing service: agents, groups and routing rules in PostgreSQL;
//! presence, load and capacity reservations in Redis; assignment of every new
//! (or returned) ticket through the ticket service's AssignTicket; a waiting
//! queue drained as capacity frees; escalations on SLA alerts; queue
//! dashboards.

pub mod api;
pub mod consumer;
pub mod domain;
pub mod escalate;
pub mod events;
pub mod lifecycle;
pub mod live;
pub mod router;
pub mod seat;
pub mod store;
pub mod tickets;

use std::{sync::Arc, time::Duration};

use async_nats::jetstream;
use secrecy::ExposeSecret;
use sqlx::migrate::Migrator;
use switchboard_events::{
    consumer::{Consumer, ConsumerConfig},
    db::{self, DbError},
    deadletter::DeadLetters,
    mount as base,
};
use switchboard_proto::guard::service_max_request_bytes;
use switchboard_proto::routing::v1::routing_service_server::{self, RoutingServiceServer};
use switchboard_proto::ticket::v1::ticket_service_server;
use switchboard_runtime::{App, Settings};

pub use api::RoutingApi;
pub use router::{Router, RouterOptions};

/// The service's configuration name and database schema.
pub const SERVICE: &str = "routing";

/// The gRPC service name, as health and reflection report it.
pub const GRPC_NAME: &str = routing_service_server::SERVICE_NAME;

/// The routing schema's migrations.
pub static MIGRATIONS: Migrator = sqlx::migrate!("./migrations");

/// Applies the routing schema's migrations.
pub async fn migrate(settings: &Settings) -> Result<(), DbError> {
    db::migrate_once(&settings.database, SERVICE, &MIGRATIONS).await
}

/// How a routing replica runs; the defaults suit production.
#[derive(Debug, Clone)]
pub struct MountOptions {
    /// Engine tunables (heartbeat window, queue lease).
    pub router: RouterOptions,
    /// How often heartbeats are checked and queue heads retried.
    pub sweep_every: Duration,
    /// Ticket events routed side by side (events of one ticket never are).
    pub ticket_lanes: usize,
}

impl Default for MountOptions {
    fn default() -> Self {
        Self {
            router: RouterOptions::default(),
            sweep_every: Duration::from_secs(1),
            // A lane mostly waits on the ticket service's commit, holding no
            // connection, so lanes are cheap; 32 keep 500 tickets/s moving
            // at ~20 ms per assignment with room to spare.
            ticket_lanes: 32,
        }
    }
}

/// Failure to start the routing service.
#[derive(Debug, thiserror::Error)]
pub enum MountError {
    /// The database could not be prepared.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Redis did not answer.
    #[error("`redis.url` is not reachable: {0}")]
    Redis(String),
    /// The ticket service's URL is unusable.
    #[error("configuration error: {0}")]
    Config(String),
}

/// Adds the routing service to `app` with the default options.
pub async fn mount(app: &mut App, js: jetstream::Context) -> Result<Arc<Router>, MountError> {
    mount_with(app, js, MountOptions::default()).await
}

/// Adds the routing service to `app`: its API, its outbox relay, the ticket
/// and SLA consumers, the heartbeat and queue sweeper, and readiness (schema
/// migrated, Redis answering).
pub async fn mount_with(
    app: &mut App,
    js: jetstream::Context,
    options: MountOptions,
) -> Result<Arc<Router>, MountError> {
    let settings = app.settings().clone();
    let pool = base::database(app, SERVICE, &MIGRATIONS).await?;
    base::report_events(app, &js.client(), &[GRPC_NAME]);
    let relay_waker = base::relay(app, &pool, js.clone(), SERVICE);
    let store = Arc::new(store::PgStore::new(pool.clone()).with_relay_waker(relay_waker));
    let live = live::Live::connect(
        settings.redis.url.expose_secret(),
        &settings.events.subject_prefix,
    )
    .await
    .map_err(|e| MountError::Redis(e.to_string()))?;
    // Beside ticket in one process, routing calls it without the network.
    let tickets = match app.in_process(ticket_service_server::SERVICE_NAME) {
        Some(ticket) => tickets::TicketClient::in_process(ticket, app.auth()),
        None => tickets::TicketClient::new(&settings.clients.ticket_url, app.auth())
            .map_err(MountError::Config)?,
    };
    let router = Arc::new(Router::new(
        store,
        live.clone(),
        tickets,
        options.router.clone(),
    ));

    let server = RoutingServiceServer::new(RoutingApi::new(router.clone(), app.streams()))
        .max_decoding_message_size(service_max_request_bytes(
            routing_service_server::SERVICE_NAME,
        ));
    app.add_authenticated(server);

    // Routing a ticket is idempotent by construction (holds per ticket,
    // assignment by expected version), so ticket events need no
    // idempotency record; escalation is not (a repeat would raise the
    // priority again), so SLA alerts keep theirs.
    let events = &settings.events;
    let dead_letters = DeadLetters::new(js.clone(), events);
    let handler = Arc::new(consumer::RouteOnEvents {
        router: router.clone(),
    });
    let config = |name: &str, filter: String| {
        ConsumerConfig::new(name, filter, Duration::from_millis(500)).with_settings(events)
    };
    let tickets = Consumer::reactor(
        config(
            consumer::TICKETS_CONSUMER,
            format!("{}.*.ticket.>", events.subject_prefix),
        ),
        handler.clone(),
    )
    .lanes(options.ticket_lanes.max(1))
    .dead_letters(dead_letters.clone());
    let alerts = Consumer::recorded(
        config(
            consumer::SLA_CONSUMER,
            format!("{}.*.sla.>", events.subject_prefix),
        ),
        pool.clone(),
        handler,
    )
    .dead_letters(dead_letters);
    let consumers = [tickets.health(), alerts.health()];
    for c in [tickets, alerts] {
        let (js, stream) = (js.clone(), events.stream.clone());
        app.spawn_background(move |stop| c.run(js, stream, stop));
    }

    let sweeper = router.clone();
    let every = options.sweep_every;
    app.spawn_background(move |stop| async move {
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
            if let Err(e) = sweeper.expire_heartbeats().await {
                tracing::warn!(error = %e, "heartbeat sweep failed");
            }
            if let Err(e) = sweeper.retry_waiting(10).await {
                tracing::warn!(error = %e, "queue retry failed");
            }
        }
    });

    base::purge_processed(
        app,
        &pool,
        &[consumer::TICKETS_CONSUMER, consumer::SLA_CONSUMER],
    );

    let ready: switchboard_runtime::app::Check = Arc::new(move || {
        let (pool, live, consumers) = (pool.clone(), live.clone(), consumers.clone());
        Box::pin(async move {
            db::check_migrated(&pool, SERVICE, &MIGRATIONS).await?;
            for c in &consumers {
                c.check()?;
            }
            live.ping().await.map_err(|e| format!("redis: {e}"))
        })
    });
    app.readiness_check(GRPC_NAME, ready);
    Ok(router)
}
