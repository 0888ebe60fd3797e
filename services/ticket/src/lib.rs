//! The ticket service: the desk's system of record for tickets, customers and
//! messages, announcing every change as an event through the outbox.

pub mod api;
pub mod attachments;
pub mod customer_api;
pub mod domain;
pub mod intake;
pub mod privacy_api;
pub mod store;
pub mod tenant_cache;
pub mod watch;

use std::sync::Arc;

use async_nats::jetstream;
use sqlx::migrate::Migrator;
use switchboard_events::{
    db::{self, DbError},
    mount as base,
};
use switchboard_proto::guard::service_max_request_bytes;
use switchboard_proto::ticket::v1::{
    customer_service_server::{self, CustomerServiceServer},
    intake_service_server::{self, IntakeServiceServer},
    privacy_service_server::{self, PrivacyServiceServer},
    ticket_service_server::{self, TicketServiceServer},
};
use switchboard_runtime::{App, Settings};

pub use api::TicketApi;
pub use store::{PgTicketStore, TicketStore};

/// The service's configuration name and database schema.
pub const SERVICE: &str = "ticket";

/// The gRPC service name, as health and reflection report it.
pub const GRPC_NAME: &str = ticket_service_server::SERVICE_NAME;

/// The customer API's gRPC name, served beside [`GRPC_NAME`].
pub const CUSTOMER_GRPC_NAME: &str = customer_service_server::SERVICE_NAME;

/// The intake API's gRPC name, served beside [`GRPC_NAME`].
pub const INTAKE_GRPC_NAME: &str = intake_service_server::SERVICE_NAME;

/// The privacy API's gRPC name, served beside [`GRPC_NAME`].
pub const PRIVACY_GRPC_NAME: &str = privacy_service_server::SERVICE_NAME;

/// The ticket schema's migrations.
pub static MIGRATIONS: Migrator = sqlx::migrate!("./migrations");

/// Applies the ticket schema's migrations.
pub async fn migrate(settings: &Settings) -> Result<(), DbError> {
    db::migrate_once(&settings.database, SERVICE, &MIGRATIONS).await
}

/// Why the ticket service could not be added to a process.
#[derive(Debug, thiserror::Error)]
pub enum MountError {
    /// The database could not be reached or migrated.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The attachment store's settings cannot work.
    #[error("attachment store: {0}")]
    Attachments(#[from] attachments::ObjectError),
    /// The live-update NATS connection could not be set up.
    #[error("cannot connect to NATS for live updates: {0}")]
    Nats(#[from] async_nats::ConnectError),
    /// `http.listen` could not be bound.
    #[error("cannot listen on `http.listen` {addr}: {source}")]
    Listen {
        /// The configured address.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// What [`mount`] started besides the gRPC services.
#[derive(Debug, Clone, Default)]
pub struct Mounted {
    /// Where `POST /v1/inbound/email` is served, when `http.listen` is set.
    pub inbound_http: Option<std::net::SocketAddr>,
}

/// Adds the ticket service to `app`: its gRPC API, its outbox relay, its
/// readiness check, and its HTTP inbound-mail endpoint when configured.
pub async fn mount(app: &mut App, js: jetstream::Context) -> Result<Mounted, MountError> {
    let settings = app.settings().clone();
    // Settings first: a bad attachment store fails before any connection.
    let objects = attachments::from_settings(&settings.attachments)?;
    let pool = base::database(app, SERVICE, &MIGRATIONS).await?;
    let client = js.client();
    let relay_waker = base::relay(app, &pool, js, SERVICE);
    let store = Arc::new(PgTicketStore::new(pool.clone()).with_relay_waker(relay_waker));
    // Writes go through the outbox, so a NATS outage only delays events:
    // it degrades `<name>/events` and leaves the API serving.
    base::report_events(
        app,
        &client,
        &[
            GRPC_NAME,
            CUSTOMER_GRPC_NAME,
            INTAKE_GRPC_NAME,
            PRIVACY_GRPC_NAME,
        ],
    );
    // Watchers get a connection of their own, whose small per-subscription
    // capacity bounds what NATS buffers for each tenant's live streams.
    let watch_client = switchboard_events::stream::connect_for_streams(
        &settings.nats.url,
        settings.streams.nats_subscription_capacity,
    )
    .await
    .map_err(MountError::Nats)?;
    let watcher = watch::Watcher::new(
        watch_client,
        settings.events.subject_prefix.clone(),
        app.streams(),
    );
    let tickets = TicketApi::new(store.clone()).with_watcher(watcher);
    let privacy = PrivacyServiceServer::new(privacy_api::PrivacyApi::new(
        store.clone(),
        objects.clone(),
        app.streams(),
    ))
    .max_decoding_message_size(service_max_request_bytes(
        privacy_service_server::SERVICE_NAME,
    ));
    let intake_api = intake::IntakeApi::new(tickets.clone(), store.clone(), objects.clone());
    let intake = IntakeServiceServer::new(intake_api.clone()).max_decoding_message_size(
        service_max_request_bytes(intake_service_server::SERVICE_NAME),
    );
    let server = TicketServiceServer::new(tickets).max_decoding_message_size(
        service_max_request_bytes(ticket_service_server::SERVICE_NAME),
    );
    let customers = CustomerServiceServer::new(customer_api::CustomerApi::new(store.clone()))
        .max_decoding_message_size(service_max_request_bytes(
            customer_service_server::SERVICE_NAME,
        ));
    app.add_authenticated(server);
    app.add_authenticated(customers);
    app.add_authenticated(intake);
    app.add_authenticated(privacy);

    let scanner = store.clone();
    app.spawn_background(move |stop| scan_sla_until(scanner, stop));
    let purger = store.clone();
    app.spawn_background(move |stop| purge_until(purger, objects, stop));

    let database = base::migrated_check(&pool, SERVICE, &MIGRATIONS);
    app.readiness_check(GRPC_NAME, database.clone());
    app.readiness_check(CUSTOMER_GRPC_NAME, database.clone());
    app.readiness_check(INTAKE_GRPC_NAME, database.clone());
    app.readiness_check(PRIVACY_GRPC_NAME, database);

    // Its own port: the gRPC listener answers plain HTTP/1.1 posts with 400
    // (gRPC-Web's layer), and webhook senders speak HTTP/1.1.
    let mut mounted = Mounted::default();
    if let Some(addr) = settings.http.listen {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| MountError::Listen { addr, source })?;
        let bound = listener
            .local_addr()
            .map_err(|source| MountError::Listen { addr, source })?;
        let router = intake::http::router(intake_api, app.auth());
        let shutdown = app.shutdown_token();
        app.spawn_background(move |_| intake::http::serve(listener, router, shutdown));
        tracing::info!(addr = %bound, path = intake::http::INBOUND_EMAIL_PATH, "serving inbound mail over HTTP");
        mounted.inbound_http = Some(bound);
    }
    Ok(mounted)
}

/// How often each replica looks for SLA warnings and breaches.
pub const SLA_SCAN_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);
/// Tickets per scanner transaction.
const SLA_SCAN_BATCH: i64 = 200;

/// Emits SLA alerts as they fall due until `stop`. Every replica runs one;
/// row locks share the work, so each alert is emitted once.
async fn scan_sla_until(store: Arc<PgTicketStore>, stop: tokio_util::sync::CancellationToken) {
    let mut tick = tokio::time::interval(SLA_SCAN_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        loop {
            match store.scan_sla(chrono::Utc::now(), SLA_SCAN_BATCH).await {
                Ok(seen) if seen as i64 == SLA_SCAN_BATCH => continue,
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "SLA scan failed; retrying next round");
                    break;
                }
            }
        }
    }
}

/// How often each replica deletes closed tickets past their tenant's
/// retention policy.
pub const RETENTION_INTERVAL: std::time::Duration = std::time::Duration::from_secs(300);
/// Tickets per retention transaction.
const RETENTION_BATCH: i64 = 100;

/// Deletes closed tickets past their tenant's retention policy (and the
/// files of their messages) until `stop`. Every replica runs one; skipped
/// row locks share the work.
async fn purge_until(
    store: Arc<PgTicketStore>,
    objects: Arc<dyn attachments::ObjectStore>,
    stop: tokio_util::sync::CancellationToken,
) {
    use store::privacy::PrivacyStore;
    let mut tick = tokio::time::interval(RETENTION_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        loop {
            match store
                .purge_closed(chrono::Utc::now(), RETENTION_BATCH)
                .await
            {
                Ok(purged) => {
                    privacy_api::delete_files(objects.as_ref(), &purged.dropped_attachments).await;
                    if !purged.tickets.is_empty() {
                        tracing::info!(
                            tickets = purged.tickets.len(),
                            "deleted closed tickets past retention"
                        );
                    }
                    if (purged.tickets.len() as i64) < RETENTION_BATCH || stop.is_cancelled() {
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "retention round failed; retrying next round");
                    break;
                }
            }
        }
    }
}
