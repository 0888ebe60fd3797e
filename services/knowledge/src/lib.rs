//! The knowledge service: articles with versions and translations, kept in
//! PostgreSQL, searched through each replica's own tantivy index, suggested
//! for new tickets, and voted on by readers.

pub mod api;
pub mod convert;
pub mod domain;
pub mod index;
pub mod privacy;
pub mod store;
pub mod sync;

use std::{sync::Arc, time::Duration};

use async_nats::jetstream;
use sqlx::migrate::Migrator;
use switchboard_events::{
    consumer::{Consumer, ConsumerConfig},
    db::{self, DbError},
    deadletter::DeadLetters,
    mount as base,
    stream::wait_for_stream,
};
use switchboard_proto::guard::service_max_request_bytes;
use switchboard_proto::knowledge::v1::knowledge_service_server::{self, KnowledgeServiceServer};
use switchboard_runtime::{App, Settings};

pub use api::KnowledgeApi;
pub use index::SearchIndex;
pub use store::{KnowledgeStore, PgKnowledgeStore};

/// The service's configuration name and database schema.
pub const SERVICE: &str = "knowledge";

/// The gRPC service name, as health and reflection report it.
pub const GRPC_NAME: &str = knowledge_service_server::SERVICE_NAME;

/// The knowledge schema's migrations.
pub static MIGRATIONS: Migrator = sqlx::migrate!("./migrations");

/// Durable consumer that suggests articles for new tickets, shared by all
/// replicas.
pub const SUGGEST_CONSUMER: &str = "knowledge-suggest";

/// Applies the knowledge schema's migrations.
pub async fn migrate(settings: &Settings) -> Result<(), DbError> {
    db::migrate_once(&settings.database, SERVICE, &MIGRATIONS).await
}

/// Adds the knowledge service to `app`: its API, its outbox relay, the index
/// follower, the ticket-suggestion and erasure consumers and readiness
/// (schema migrated, index built, consumers up).
pub async fn mount(app: &mut App, js: jetstream::Context) -> Result<(), MountError> {
    let settings = app.settings().clone();
    let pool = base::database(app, SERVICE, &MIGRATIONS).await?;
    base::report_events(app, &js.client(), &[GRPC_NAME]);
    let relay_waker = base::relay(app, &pool, js.clone(), SERVICE);
    let store: Arc<dyn KnowledgeStore> =
        Arc::new(PgKnowledgeStore::new(pool.clone()).with_relay_waker(relay_waker));
    let index = SearchIndex::in_ram().map_err(|e| MountError::Index(e.to_string()))?;
    let server = KnowledgeServiceServer::new(KnowledgeApi::new(store.clone(), index.clone()))
        .max_decoding_message_size(service_max_request_bytes(
            knowledge_service_server::SERVICE_NAME,
        ));
    app.add_authenticated(server);

    let events = settings.events.clone();
    let (follow_js, follow_events) = (js.clone(), events.clone());
    let (follow_store, follow_index) = (store.clone(), index.clone());
    // The follower restarts itself (and rebuilds) after failures.
    app.spawn_background(move |stop| async move {
        let Some(stream) = wait_for_stream(&follow_js, &follow_events.stream, &stop).await else {
            return;
        };
        sync::follow_articles(
            stream,
            follow_events.subject_prefix,
            follow_store,
            follow_index,
            stop,
        )
        .await
    });
    let forget_js = js.clone();
    let suggester = Consumer::recorded(
        ConsumerConfig::new(
            SUGGEST_CONSUMER,
            format!("{}.*.ticket.created", settings.events.subject_prefix),
            Duration::from_secs(1),
        )
        .with_settings(&settings.events),
        pool.clone(),
        Arc::new(sync::SuggestOnTicketCreated {
            index: index.clone(),
        }),
    )
    .dead_letters(DeadLetters::new(js.clone(), &settings.events));
    let suggesting = suggester.health();
    let (suggest_index, stream) = (index.clone(), settings.events.stream.clone());
    app.spawn_background(move |stop| async move {
        // Suggestions need the index; wait for its first build.
        while !suggest_index.is_built() {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_millis(50)) => {}
            }
        }
        suggester.run(js, stream, stop).await
    });
    let forgetter = Consumer::recorded(
        ConsumerConfig::new(
            privacy::PRIVACY_CONSUMER,
            format!("{}.*.customer.erased", settings.events.subject_prefix),
            Duration::from_secs(1),
        )
        .with_settings(&settings.events),
        pool.clone(),
        Arc::new(privacy::ForgetErasedVoters),
    )
    .dead_letters(DeadLetters::new(forget_js.clone(), &settings.events));
    let forgetting = forgetter.health();
    let forget_stream = settings.events.stream.clone();
    app.spawn_background(move |stop| forgetter.run(forget_js, forget_stream, stop));
    base::purge_processed(app, &pool, &[SUGGEST_CONSUMER, privacy::PRIVACY_CONSUMER]);

    let ready: switchboard_runtime::app::Check = Arc::new(move || {
        let pool = pool.clone();
        let built = index.is_built();
        let suggesting = suggesting.clone();
        let forgetting = forgetting.clone();
        Box::pin(async move {
            db::check_migrated(&pool, SERVICE, &MIGRATIONS).await?;
            if !built {
                return Err("the search index is still being built".into());
            }
            suggesting.check()?;
            forgetting.check()
        })
    });
    app.readiness_check(GRPC_NAME, ready);
    Ok(())
}

/// Failure to start the knowledge service.
#[derive(Debug, thiserror::Error)]
pub enum MountError {
    /// The database could not be prepared.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The search index could not be created.
    #[error("search index: {0}")]
    Index(String),
}
