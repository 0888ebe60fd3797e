//! Switchboard's events: the envelope, the transactional outbox, the relay
//! that publishes it to NATS JetStream, and idempotent durable consumers.

pub mod consumer;
pub mod db;
pub mod deadletter;
pub mod envelope;
pub mod mount;
pub mod outbox;
pub mod relay;
pub mod stream;

pub use envelope::{EventBuilder, subject_of};
pub use switchboard_proto::events::v1::{Envelope, envelope::Payload};

/// Migrations for the outbox and idempotency tables. Each service runs them
/// in its own schema beside its own migrations (versions below 1000 are
/// reserved for this crate).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The service's migrations together with this crate's, as one history, so
/// one `_sqlx_migrations` table in the service's schema records both.
pub fn combined_migrator(service: &sqlx::migrate::Migrator) -> sqlx::migrate::Migrator {
    let mut migrations: Vec<_> = MIGRATOR
        .migrations
        .iter()
        .chain(service.migrations.iter())
        .cloned()
        .collect();
    migrations.sort_by_key(|m| m.version);
    // sqlx builds migrators only from a directory or `migrate!`; its fields
    // are public for that macro, and the version is pinned in the workspace.
    sqlx::migrate::Migrator {
        migrations: migrations.into(),
        ignore_missing: false,
        locking: true,
        no_tx: false,
    }
}
