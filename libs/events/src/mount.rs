//! What every service's `mount` sets up the same way: its pool (migrated,
//! retried until PostgreSQL answers), its outbox relay, the purge of its
//! consumers' idempotency records, and its readiness checks.

use std::{convert::Infallible, sync::Arc, time::Duration};

use async_nats::jetstream;
use sqlx::{PgPool, migrate::Migrator};
use switchboard_runtime::{App, Backoff, app::Check};
use tokio::sync::Notify;

use crate::{
    consumer::purge_periodically,
    db::{self, DbError},
    relay::{Relay, RelayConfig, lock_key},
};

/// How often idempotency records are purged.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// `service`'s pool. With `database.migrate_on_start`, its migrations are
/// applied now, or, when that fails (PostgreSQL not there yet), again in
/// the background with [`Backoff`] until they succeed: the process keeps
/// running and [`migrated_check`] holds the service NOT_SERVING meanwhile.
pub async fn database(
    app: &App,
    service: &'static str,
    migrations: &'static Migrator,
) -> Result<PgPool, DbError> {
    let settings = app.settings();
    let pool = db::pool(&settings.database, service)?;
    if !settings.database.migrate_on_start {
        return Ok(pool);
    }
    if let Err(e) = db::migrate(&pool, service, migrations).await {
        tracing::warn!(service, error = %e, "cannot migrate yet; retrying in the background");
        let retry = pool.clone();
        app.spawn_background(move |stop| async move {
            let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(10));
            while backoff.wait(&stop).await {
                match db::migrate(&retry, service, migrations).await {
                    Ok(()) => {
                        tracing::info!(service, "migrations applied");
                        return;
                    }
                    Err(e) => tracing::warn!(service, error = %e, "cannot migrate yet"),
                }
            }
        });
    }
    Ok(pool)
}

/// Starts `service`'s outbox relay (restarted if it ever stops); returns
/// the waker its writers notify after a commit.
pub fn relay(
    app: &App,
    pool: &PgPool,
    js: jetstream::Context,
    service: &'static str,
) -> Arc<Notify> {
    let settings = app.settings();
    let relay = Relay::new(
        pool.clone(),
        js,
        RelayConfig {
            subject_prefix: settings.events.subject_prefix.clone(),
            batch_size: settings.events.relay_batch_size,
            poll_interval: Duration::from_millis(settings.events.relay_poll_interval_ms),
            lock_key: lock_key(service),
        },
    );
    let waker = relay.waker();
    let flush = settings.shutdown.grace();
    app.spawn_supervised("outbox relay", move |stop| {
        let relay = relay.clone();
        async move {
            relay.run(stop, flush).await;
            Ok::<(), Infallible>(())
        }
    });
    waker
}

/// Purges the idempotency records of `consumers` once they are older than
/// JetStream can redeliver (the stream's max age, plus a margin).
pub fn purge_processed(app: &App, pool: &PgPool, consumers: &[&'static str]) {
    let horizon = Duration::from_secs((app.settings().events.max_age_hours + 1) * 3600);
    for consumer in consumers {
        let pool = pool.clone();
        app.spawn_background(move |stop| {
            purge_periodically(pool, (*consumer).into(), horizon, PURGE_EVERY, stop)
        });
    }
}

/// Readiness of `service`'s schema (see [`db::check_migrated`]).
pub fn migrated_check(
    pool: &PgPool,
    service: &'static str,
    migrations: &'static Migrator,
) -> Check {
    let pool = pool.clone();
    Arc::new(move || {
        let pool = pool.clone();
        Box::pin(async move { db::check_migrated(&pool, service, migrations).await })
    })
}

/// Whether the NATS client is connected.
pub fn nats_check(client: async_nats::Client) -> Check {
    Arc::new(move || {
        let state = client.connection_state();
        Box::pin(async move {
            match state {
                async_nats::connection::State::Connected => Ok(()),
                other => Err(format!("NATS is {other}")),
            }
        })
    })
}

/// The health name under which `grpc_name`'s event delivery (NATS) is
/// reported: it degrades without pulling the service, whose outbox keeps
/// its events until NATS is back.
pub fn events_health_name(grpc_name: &str) -> String {
    format!("{grpc_name}/events")
}

/// Reports NATS under [`events_health_name`] of each of `grpc_names`.
pub fn report_events(app: &mut App, client: &async_nats::Client, grpc_names: &[&str]) {
    for name in grpc_names {
        app.degradable_check(events_health_name(name), nats_check(client.clone()));
    }
}
