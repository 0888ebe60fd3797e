//! A service's PostgreSQL pool, confined to the service's own schema.

use std::str::FromStr;

use secrecy::ExposeSecret;
use sqlx::{
    PgPool,
    migrate::Migrator,
    postgres::{PgConnectOptions, PgPoolOptions},
};
use switchboard_runtime::config::DatabaseSettings;

/// Failure to reach or prepare a service's database.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The URL does not parse.
    #[error(
        "configuration error: `database.url` (or `database.urls.{service}`) is not a PostgreSQL URL: {reason}"
    )]
    Url {
        /// The service whose URL is wrong.
        service: String,
        /// The parser's reason.
        reason: String,
    },
    /// The database refused or failed.
    #[error("database error for the {service} service: {source}")]
    Sql {
        /// The service.
        service: String,
        /// The cause.
        source: sqlx::Error,
    },
    /// A migration failed.
    #[error("migrations of the {service} service failed: {source}")]
    Migrate {
        /// The service.
        service: String,
        /// The cause.
        source: sqlx::migrate::MigrateError,
    },
}

/// A lazily connecting pool whose sessions see only `service`'s schema.
pub fn pool(settings: &DatabaseSettings, service: &str) -> Result<PgPool, DbError> {
    let options = PgConnectOptions::from_str(settings.url_for(service).expose_secret())
        .map_err(|e| DbError::Url {
            service: service.to_owned(),
            reason: e.to_string(),
        })?
        .options([("search_path", service)])
        .application_name(&format!("switchboard-{service}"));
    Ok(PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(settings.acquire_timeout())
        // No ping per checkout: it doubled the round trips of one-statement
        // calls, and a dead connection fails its query, which callers retry.
        .test_before_acquire(false)
        .connect_lazy_with(options))
}

/// Creates `service`'s schema and applies the outbox migrations and the
/// service's own, as one history in that schema.
pub async fn migrate(pool: &PgPool, service: &str, migrations: &Migrator) -> Result<(), DbError> {
    sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS \"{service}\""))
        .execute(pool)
        .await
        .map_err(|source| DbError::Sql {
            service: service.to_owned(),
            source,
        })?;
    crate::combined_migrator(migrations)
        .run(pool)
        .await
        .map_err(|source| DbError::Migrate {
            service: service.to_owned(),
            source,
        })
}

/// Opens a pool of `service`, applies its migrations, and closes the pool:
/// `switchboard migrate` for one service.
pub async fn migrate_once(
    settings: &DatabaseSettings,
    service: &str,
    migrations: &Migrator,
) -> Result<(), DbError> {
    let pool = pool(settings, service)?;
    let result = migrate(&pool, service, migrations).await;
    pool.close().await;
    result
}

/// Readiness of `service`'s schema: `Ok` once the newest of `migrations` has
/// been applied, so pods started before the migration Job finishes take no
/// traffic; otherwise the reason, for the health log.
pub async fn check_migrated(
    pool: &PgPool,
    service: &str,
    migrations: &Migrator,
) -> Result<(), String> {
    let latest = migrations
        .iter()
        .map(|m| m.version)
        .max()
        .unwrap_or_default();
    let migrated: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM _sqlx_migrations WHERE version = $1 AND success)",
    )
    .bind(latest)
    .fetch_one(pool)
    .await
    .map_err(|e| format!("{service} database: {e}"))?;
    if migrated {
        Ok(())
    } else {
        Err(format!(
            "{service} schema is not at migration {latest} yet; run `switchboard migrate`"
        ))
    }
}
