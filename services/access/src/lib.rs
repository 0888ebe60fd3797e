//! Access: API tokens for integrations and the tenant's audit trail.
//!
//! Every Switchboard process verifies API tokens through a [`Directory`]
//! (records cached for `auth.api_token_cache_seconds`) and writes audited
//! calls through an [`AuditWriter`]; the process serving tickets also serves
//! the admin API ([`api::AccessApi`]). Tokens and the trail live in the
//! `access` schema.

pub mod api;
pub mod audit;
pub mod directory;
pub mod store;
pub mod token;

use std::{sync::Arc, time::Duration};

use sqlx::{PgPool, migrate::Migrator};
use switchboard_events::{
    db::{self, DbError},
    mount as base,
};
use switchboard_proto::access::v1::access_service_server::{self, AccessServiceServer};
use switchboard_runtime::App;

pub use audit::AuditWriter;
pub use directory::Directory;
pub use store::Store;

/// The schema (and configuration name) of access's tables.
pub const SCHEMA: &str = "access";

/// The access schema's migrations.
pub static MIGRATIONS: Migrator = sqlx::migrate!("./migrations");

/// Applies the access schema's migrations (`switchboard migrate`).
pub async fn migrate(settings: &switchboard_runtime::Settings) -> Result<(), DbError> {
    db::migrate_once(&settings.database, SCHEMA, &MIGRATIONS).await
}

/// Every process: API tokens are accepted and audited calls are written to
/// the trail. Returns the access pool for [`serve_api`].
pub async fn attach_to(app: &App) -> Result<PgPool, DbError> {
    let pool = base::database(app, SCHEMA, &MIGRATIONS).await?;
    attach(app, pool.clone());
    Ok(pool)
}

/// The process serving tickets also serves `AccessService`.
pub fn serve_api(app: &mut App, pool: PgPool) {
    app.readiness_check(
        access_service_server::SERVICE_NAME,
        base::migrated_check(&pool, SCHEMA, &MIGRATIONS),
    );
    let service = AccessServiceServer::new(api::AccessApi::new(Store::new(pool)))
        .max_decoding_message_size(switchboard_proto::guard::service_max_request_bytes(
            access_service_server::SERVICE_NAME,
        ));
    app.add_authenticated(service);
}

/// Makes `app` accept API tokens and write its audit trail to `pool` (whose
/// sessions see the access schema).
pub fn attach(app: &App, pool: PgPool) {
    let store = Store::new(pool);
    let ttl = Duration::from_secs(app.settings().auth.api_token_cache_seconds);
    app.auth()
        .set_api_tokens(Arc::new(Directory::new(store.clone(), ttl)));
    let mut writer = None;
    app.spawn_background(|stop| {
        let (w, drain) = AuditWriter::new(store, stop);
        writer = Some(w);
        drain
    });
    if let Some(writer) = writer {
        app.auth().set_audit(Arc::new(writer));
    }
}
