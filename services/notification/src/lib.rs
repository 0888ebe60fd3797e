//! The notification service: every event, consumed once through a durable
//! JetStream consumer, becomes in-app notifications (an inbox per user with
//! a live, resumable stream), emails over SMTP threaded onto their ticket,
//! and signed webhook deliveries with retries, dead-lettering and
//! redelivery. Outcomes are announced as `notification.delivered` and
//! `notification.failed` through the outbox.

pub mod api;
pub mod batch;
pub mod consumer;
mod contacts;
pub mod convert;
pub mod dispatch;
pub mod domain;
pub mod email;
pub mod handoff;
pub mod live;
mod people;
pub mod privacy;
pub mod store;
pub mod webhook;

use std::{sync::Arc, time::Duration};

use async_nats::jetstream;
use sqlx::migrate::Migrator;
use switchboard_events::{
    consumer::{Consumer, ConsumerConfig},
    db::{self, DbError},
    deadletter::DeadLetters,
    mount as base,
};
use switchboard_proto::guard::service_max_request_bytes;
use switchboard_proto::notification::v1::notification_service_server::{
    self, NotificationServiceServer,
};
use switchboard_runtime::{App, Settings};

pub use api::NotificationApi;

/// The service's configuration name and database schema.
pub const SERVICE: &str = "notification";

/// The gRPC service name, as health and reflection report it.
pub const GRPC_NAME: &str = notification_service_server::SERVICE_NAME;

/// The notification schema's migrations.
pub static MIGRATIONS: Migrator = sqlx::migrate!("./migrations");

/// The durable consumer of every event, shared by all replicas.
pub const CONSUMER: &str = "notification";

/// Applies the notification schema's migrations.
pub async fn migrate(settings: &Settings) -> Result<(), DbError> {
    db::migrate_once(&settings.database, SERVICE, &MIGRATIONS).await
}

/// Adds the notification service to `app`: its API, the event consumer,
/// the delivery dispatcher, the outbox relay, the wake-up listener and
/// readiness (schema migrated).
pub async fn mount(app: &mut App, js: jetstream::Context) -> Result<(), MountError> {
    let settings = app.settings().clone();
    let n = settings.notification.clone();
    let pool = base::database(app, SERVICE, &MIGRATIONS).await?;
    base::report_events(app, &js.client(), &[GRPC_NAME]);
    let store = store::PgStore::new(pool.clone());
    let signals = live::Signals::default();
    let max_attempts = n.max_attempts as i32;
    let egress = Arc::new(
        domain::egress::EgressPolicy::new(&n.webhook_allowed_cidrs)
            .map_err(|e| MountError::Config(format!("notification.webhook_allowed_cidrs: {e}")))?,
    );

    let api = NotificationApi::new(store.clone(), signals.clone(), max_attempts, app.streams())
        .with_egress(egress.clone());
    app.add_authenticated(
        NotificationServiceServer::new(api).max_decoding_message_size(service_max_request_bytes(
            notification_service_server::SERVICE_NAME,
        )),
    );

    let relay_waker = base::relay(app, &pool, js.clone(), SERVICE);
    let send_timeout = Duration::from_millis(n.send_timeout_ms);
    let dispatcher = dispatch::Dispatcher {
        store: store.clone(),
        email: Arc::new(email::SmtpSender::new(&n).map_err(|e| MountError::Config(e.to_string()))?),
        webhooks: Arc::new(webhook::HttpWebhookClient::new(send_timeout, egress)),
        policy: domain::retry::RetryPolicy {
            max_attempts: n.max_attempts,
            base: Duration::from_millis(n.retry_base_ms),
            max: Duration::from_millis(n.retry_max_ms),
        },
        poll: Duration::from_millis(n.dispatch_poll_ms),
        concurrency: n.dispatch_concurrency as usize,
        // Long enough for one attempt to finish, so no other replica
        // starts the same delivery meanwhile.
        lease: send_timeout * 2 + Duration::from_secs(5),
        wake: signals.dispatch.clone(),
        relay_wake: relay_waker,
    };
    // Room for two consumer batches: the dispatcher sends one while the
    // next commits. Beyond that, deliveries wait in the table for any
    // replica's claim rather than in this one's memory.
    let (handoff, handed) =
        handoff::Handoff::new(store.clone(), dispatcher.lease, 2 * batch::BATCH);
    let listen_pool = pool.clone();
    let listen_signals = signals.clone();
    app.spawn_background(move |stop| listen_signals.listen(listen_pool, stop));
    app.spawn_background(move |stop| dispatcher.run(Some(handed), stop));

    let events = settings.events.clone();
    let consumer_pool = pool.clone();
    let handler = Arc::new(consumer::Notifier {
        config: consumer::HandlerConfig {
            domain: n.domain.clone(),
            survey_url: n.survey_url.clone(),
            max_attempts,
        },
    });
    let notifier = Consumer::batched(
        ConsumerConfig::new(
            CONSUMER,
            format!("{}.>", events.subject_prefix),
            Duration::from_secs(1),
        )
        .with_settings(&events),
        Arc::new(batch::Batches {
            pool: consumer_pool,
            consumer: CONSUMER.into(),
            handler,
            handoff: Some(handoff),
        }),
        batch::BATCH,
    )
    .lanes(4)
    .dead_letters(DeadLetters::new(js.clone(), &events));
    let notifying = notifier.health();
    app.spawn_background(move |stop| notifier.run(js, events.stream, stop));

    app.readiness_check(GRPC_NAME, notifying.readiness());
    base::purge_processed(app, &pool, &[CONSUMER]);

    app.readiness_check(GRPC_NAME, base::migrated_check(&pool, SERVICE, &MIGRATIONS));
    Ok(())
}

/// Failure to start the notification service.
#[derive(Debug, thiserror::Error)]
pub enum MountError {
    /// The database could not be prepared.
    #[error(transparent)]
    Db(#[from] DbError),
    /// A setting cannot be used.
    #[error("{0}")]
    Config(String),
}
