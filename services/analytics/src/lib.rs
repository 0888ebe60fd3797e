//! The analytics service: read models built only from events (a durable
//! JetStream consumer folds each ticket's events into a `switchboard-kpi`
//! fact in PostgreSQL), desk KPIs, time series, agent and SLA reports, top
//! issues, a live dashboard stream, CSV export, and volume-spike anomalies
//! announced through the outbox.

pub mod api;
pub mod cache;
pub mod calendar;
pub mod consumer;
pub mod convert;
pub mod ingest;
pub mod query;
pub mod wire;

use std::{sync::Arc, time::Duration};

use async_nats::jetstream;
use prost::Message;
use sqlx::{PgPool, migrate::Migrator};
use switchboard_events::{
    db::{self, DbError},
    relay::{Relay, RelayConfig, lock_key},
};
use switchboard_proto::{
    analytics::v1::analytics_service_server::{self, AnalyticsServiceServer},
    ticket::v1 as tpb,
};
use switchboard_runtime::{App, Settings};
use switchboard_sla::Calendar;
use uuid::Uuid;

pub use api::AnalyticsApi;
pub use cache::FactCache;
pub use ingest::{Applied, Ingest};

/// The service's configuration name and database schema.
pub const SERVICE: &str = "analytics";

/// The gRPC service name, as health and reflection report it.
pub const GRPC_NAME: &str = analytics_service_server::SERVICE_NAME;

/// The analytics schema's migrations.
pub static MIGRATIONS: Migrator = sqlx::migrate!("./migrations");

/// The durable consumer all replicas share.
pub const CONSUMER: &str = "analytics-facts";

/// Most events applied in one transaction.
pub const BATCH: usize = 1000;

/// Applies the analytics schema's migrations.
pub async fn migrate(settings: &Settings) -> Result<(), DbError> {
    let pool = db::pool(&settings.database, SERVICE)?;
    let result = db::migrate(&pool, SERVICE, &MIGRATIONS).await;
    pool.close().await;
    result
}

/// Adds the analytics service to `app`: its API, the event consumer that
/// builds the read models, the outbox relay for anomalies, and readiness
/// (schema migrated).
pub async fn mount(app: &mut App, js: jetstream::Context) -> Result<(), DbError> {
    let settings = app.settings().clone();
    let pool = db::pool(&settings.database, SERVICE)?;
    if settings.database.migrate_on_start {
        db::migrate(&pool, SERVICE, &MIGRATIONS).await?;
    }
    let relay = Relay::new(
        pool.clone(),
        js.clone(),
        RelayConfig {
            subject_prefix: settings.events.subject_prefix.clone(),
            batch_size: settings.events.relay_batch_size,
            poll_interval: Duration::from_millis(settings.events.relay_poll_interval_ms),
            lock_key: lock_key(SERVICE),
        },
    );
    let ingest = Ingest::new(pool.clone()).with_relay_waker(relay.waker());
    let cache = Arc::new(FactCache::new(pool.clone()));
    let server = AnalyticsServiceServer::new(AnalyticsApi::new(cache.clone(), pool.clone()))
        .max_decoding_message_size(settings.grpc.max_message_bytes);
    app.add_authenticated(server);

    let flush = settings.shutdown.grace();
    app.spawn_background(move |stop| relay.run(stop, flush));

    let events = settings.events.clone();
    app.spawn_background(move |stop| async move {
        let config = consumer::FeedConfig {
            durable_name: CONSUMER.into(),
            filter_subject: format!("{}.>", events.subject_prefix),
            batch: BATCH,
            retry_delay: Duration::from_secs(1),
        };
        let mut delay = Duration::from_millis(200);
        loop {
            match js.get_stream(&events.stream).await {
                Ok(stream) => {
                    match consumer::run(
                        stream,
                        ingest.clone(),
                        cache.clone(),
                        config.clone(),
                        stop.clone(),
                    )
                    .await
                    {
                        Ok(()) => return,
                        Err(e) => {
                            tracing::warn!(error = %e, "analytics consumer stopped; restarting")
                        }
                    }
                }
                Err(e) => tracing::debug!(error = %e, "event stream not there yet"),
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(delay) => {}
            }
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    });

    let ready: switchboard_runtime::app::Check = Arc::new(move || {
        let pool = pool.clone();
        Box::pin(async move { db::check_migrated(&pool, SERVICE, &MIGRATIONS).await })
    });
    app.readiness_check(GRPC_NAME, ready);
    Ok(())
}

/// The calendar stored as an encoded `BusinessHours` (none: around the
/// clock in UTC; an unreadable one is logged and treated as none).
pub fn decode_calendar(raw: Option<&[u8]>) -> Calendar {
    let Some(raw) = raw else {
        return Calendar::always();
    };
    match tpb::BusinessHours::decode(raw)
        .ok()
        .and_then(|h| calendar::from_proto(Some(&h), "business_hours").ok())
    {
        Some(calendar) => calendar,
        None => {
            tracing::error!("stored business calendar unreadable; using around the clock");
            Calendar::always()
        }
    }
}

/// Stores `tenant`'s calendar and re-measures every one of its tickets in
/// it, in one transaction with the ingest lock held.
pub async fn remeasure(
    pool: &PgPool,
    tenant: &str,
    raw: Option<&tpb::BusinessHours>,
    calendar: &Calendar,
) -> Result<usize, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(lock_key("analytics-ingest"))
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO tenants (tenant_id, business_hours) VALUES ($1, $2) \
         ON CONFLICT (tenant_id) DO UPDATE SET business_hours = EXCLUDED.business_hours",
    )
    .bind(tenant)
    .bind(raw.map(Message::encode_to_vec))
    .execute(&mut *tx)
    .await?;
    let tickets: Vec<Uuid> =
        sqlx::query_scalar("SELECT DISTINCT ticket_id FROM ticket_events WHERE tenant_id = $1")
            .bind(tenant)
            .fetch_all(&mut *tx)
            .await?;
    let tickets: Vec<(String, Uuid)> = tickets
        .into_iter()
        .map(|t| (tenant.to_owned(), t))
        .collect();
    let calendars = [(tenant.to_owned(), calendar.clone())]
        .into_iter()
        .collect();
    let mut written = 0;
    for part in tickets.chunks(2000) {
        written += ingest::refold(&mut tx, part, &calendars).await?;
    }
    tx.commit().await?;
    Ok(written)
}
