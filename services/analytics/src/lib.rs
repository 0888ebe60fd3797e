//! The analytics service: read models built only from events (a durable
//! JetStream consumer folds each ticket's events into a `switchboard-kpi`
//! fact in PostgreSQL, and keeps pre-aggregated rows per hour, day and
//! dimension key in step with the facts), desk KPIs, time series, agent
//! and SLA reports, top issues (tags, groups and subject terms), a live
//! dashboard stream, CSV export, and volume-spike and SLA breach-rate
//! anomalies announced through the outbox.
//!
//! Reports read the aggregate rows of a range's whole days and hours and
//! per-ticket samples for the slivers at its edges, so a 90-day report
//! reads a few hundred rows, not every fact; no replica holds facts in
//! memory.

pub mod anomaly;
pub mod api;
pub mod backlog;
pub mod breach;
pub mod calendar;
pub mod cells;
pub mod codec;
pub mod consumer;
pub mod convert;
pub mod csv;
pub mod facts;
pub mod ingest;
pub mod issues;
pub mod packed;
pub mod period;
pub mod query;
pub mod read;
pub mod report;
pub mod sample;
pub mod series;
pub mod sketch;
pub mod state;
pub mod terms;
pub mod wire;
pub mod write;

use std::{sync::Arc, time::Duration};

use async_nats::jetstream;
use chrono::{DateTime, Utc};
use prost::Message;
use sqlx::{PgPool, migrate::Migrator};
use switchboard_events::{
    consumer::{Consumer, ConsumerConfig},
    db::{self, DbError},
    deadletter::DeadLetters,
    mount as base,
    relay::lock_key,
};
use switchboard_proto::guard::service_max_request_bytes;
use switchboard_proto::{
    analytics::v1::analytics_service_server::{self, AnalyticsServiceServer},
    ticket::v1 as tpb,
};
use switchboard_runtime::{App, Settings};
use switchboard_sla::Calendar;
use uuid::Uuid;

pub use api::{AnalyticsApi, Changes};
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
    db::migrate_once(&settings.database, SERVICE, &MIGRATIONS).await
}

/// Adds the analytics service to `app`: its API, the event consumer that
/// builds the read models, the outbox relay for anomalies, and readiness
/// (schema migrated).
pub async fn mount(app: &mut App, js: jetstream::Context) -> Result<(), DbError> {
    let settings = app.settings().clone();
    let pool = base::database(app, SERVICE, &MIGRATIONS).await?;
    base::report_events(app, &js.client(), &[GRPC_NAME]);
    let relay_waker = base::relay(app, &pool, js.clone(), SERVICE);
    let ingest = Ingest::new(pool.clone()).with_relay_waker(relay_waker);
    let changes = Arc::new(Changes::default());
    let api = AnalyticsApi::new(changes.clone(), pool.clone())
        .with_streams(app.streams())
        .with_dashboard_min_interval(Duration::from_millis(
            settings.streams.dashboard_min_interval_ms,
        ));
    let server = AnalyticsServiceServer::new(api).max_decoding_message_size(
        service_max_request_bytes(analytics_service_server::SERVICE_NAME),
    );
    app.add_authenticated(server);

    // Facts written before the aggregates existed get them now.
    let backfill_pool = pool.clone();
    app.spawn_background(move |stop| async move {
        tokio::select! {
            _ = stop.cancelled() => {}
            done = backfill(&backfill_pool, BACKFILL_CHUNK) => match done {
                Ok(0) => {}
                Ok(n) => tracing::info!(facts = n, "aggregates backfilled"),
                Err(e) => tracing::error!(error = %e, "aggregate backfill failed"),
            },
        }
    });

    let events = &settings.events;
    let mut config = ConsumerConfig::new(
        CONSUMER,
        format!("{}.>", events.subject_prefix),
        Duration::from_secs(1),
    )
    .with_settings(events);
    config.ack_wait = Duration::from_secs(60);
    config.max_ack_pending = (BATCH * 4) as i64;
    let feed = Consumer::batched(config, Arc::new(consumer::Feed { ingest, changes }), BATCH)
        .dead_letters(DeadLetters::new(js.clone(), events));
    app.readiness_check(GRPC_NAME, feed.health().readiness());
    let stream = events.stream.clone();
    app.spawn_background(move |stop| feed.run(js, stream, stop));

    app.readiness_check(GRPC_NAME, base::migrated_check(&pool, SERVICE, &MIGRATIONS));
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
/// it, in one transaction with the ingest lock held. The aggregate rows
/// are rebuilt from the new facts (their days follow the calendar's zone).
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
    // With no samples stored, the refold below adds every fact afresh.
    for sql in [
        "DELETE FROM aggregates WHERE tenant_id = $1",
        "DELETE FROM fact_hours WHERE tenant_id = $1",
        "UPDATE ticket_facts SET samples = NULL WHERE tenant_id = $1",
    ] {
        sqlx::query(sql).bind(tenant).execute(&mut *tx).await?;
    }
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

/// Facts the service aggregates per backfill transaction.
pub const BACKFILL_CHUNK: i64 = 2000;

/// Gives every stored fact without samples (written before the aggregates
/// existed, or loaded in bulk) its samples, hour index entries and share
/// of the aggregate rows, `chunk` facts per transaction in creation order
/// (so each touches few rows); returns how many.
pub async fn backfill(pool: &PgPool, chunk: i64) -> Result<usize, sqlx::Error> {
    let mut done = 0;
    // Before every (non-empty) tenant id.
    let mut after = (String::new(), DateTime::<Utc>::UNIX_EPOCH, Uuid::nil());
    loop {
        let mut tx = pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(lock_key("analytics-ingest"))
            .execute(&mut *tx)
            .await?;
        // Along the creation index, after the last chunk (no index on
        // `samples`: one would make every fact update touch every index).
        let rows: Vec<(String, Uuid, i64, DateTime<Utc>, String)> = sqlx::query_as(
            "SELECT tenant_id, ticket_id, version, created_at, fact::text FROM ticket_facts \
             WHERE samples IS NULL AND (tenant_id, created_at, ticket_id) > ($1, $2, $3) \
             ORDER BY tenant_id, created_at, ticket_id LIMIT $4",
        )
        .bind(&after.0)
        .bind(after.1)
        .bind(after.2)
        .bind(chunk)
        .fetch_all(&mut *tx)
        .await?;
        if let Some(last) = rows.last() {
            after = (last.0.clone(), last.3, last.1);
        }
        if rows.is_empty() {
            tx.commit().await?;
            return Ok(done);
        }
        let tenants = rows.iter().map(|r| r.0.clone()).collect();
        let calendars = ingest::calendars(&mut tx, &tenants).await?;
        let mut folded = Vec::with_capacity(rows.len());
        for (tenant, ticket, version, _, json) in rows {
            match serde_json::from_str(&json) {
                Ok(fact) => folded.push(write::Folded {
                    tenant,
                    ticket,
                    version,
                    fact,
                }),
                Err(e) => {
                    tracing::error!(error = %e, %ticket, "unreadable fact left out of the aggregates")
                }
            }
        }
        done += write::store(&mut tx, &folded, &calendars).await?;
        tx.commit().await?;
    }
}
