//! PostgreSQL storage of the notification schema. Every query is scoped by
//! tenant; the consumer's writes go through the consumer's transaction.

pub mod deliveries;
pub mod inbox;
pub mod projection;
pub mod rules;
pub mod settings;
pub mod webhooks;

pub use deliveries::{Claimed, DeliveryRow, NewDelivery, Outcome};
pub use inbox::{InboxRow, LiveRow};
pub use projection::Contact;
pub(crate) use projection::{contacts, people, upsert_contacts, upsert_people};
pub use settings::TemplateRow;
pub use webhooks::WebhookRow;

use sqlx::PgPool;

/// NOTIFY channel raised when in-app notifications commit.
pub const INBOX_CHANNEL: &str = "notification_inbox";
/// NOTIFY channel raised when deliveries become due.
pub const DISPATCH_CHANNEL: &str = "notification_dispatch";

/// Transaction-level advisory lock taken before inserting in-app rows: it
/// makes `seq` order equal commit order, so a subscriber that has read up to
/// a cursor can never later see a smaller one commit.
const INBOX_LOCK: i64 = 0x6e6f_7469_6669_6e62;

/// Storage failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row does not exist for this tenant.
    #[error("not found")]
    NotFound,
    /// The stored version differs from the expected one.
    #[error("version conflict: stored version is {0}")]
    Conflict(i64),
    /// The database failed.
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

/// The notification schema.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// A store over `pool` (whose `search_path` is the notification schema).
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// The pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}
