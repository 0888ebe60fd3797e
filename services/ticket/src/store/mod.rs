//! Where tickets live: a small trait, its PostgreSQL backend, and the
//! conformance suite every backend must pass.

pub mod conformance;
pub mod customers;
pub mod email;
pub mod postgres;
pub mod privacy;

use async_trait::async_trait;
use switchboard_proto::common::v1::Actor;
use switchboard_runtime::{DomainError, ErrorKind, TenantId};
use uuid::Uuid;

use crate::domain::{
    Identity, NewTicket, RequesterProfile, Ticket,
    change::Change,
    error::RuleError,
    idempotency::IdempotencyKey,
    intake::IntakeRule,
    message::Message,
    query::{Cursor, TicketQuery},
    sla::Policy,
};

pub use postgres::PgTicketStore;

/// The result of a create.
#[derive(Debug, Clone)]
pub struct Created {
    /// The ticket (the existing one for a repeated request id).
    pub ticket: Ticket,
    /// False when a previous call with the same request id created it.
    pub fresh: bool,
}

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or is overloaded; retrying may work.
    #[error("ticket database unavailable: {0}")]
    Unavailable(String),
    /// The caller used the idempotency key for a different request. The
    /// message names only the field: nothing of the first request.
    #[error(
        "request_id was already used for a different request; send a new request_id for a new request"
    )]
    KeyReused,
    /// Anything else.
    #[error("ticket database error: {0}")]
    Internal(String),
}

impl DomainError for StoreError {
    fn kind(&self) -> ErrorKind {
        match self {
            StoreError::Unavailable(_) => ErrorKind::Unavailable,
            StoreError::KeyReused => ErrorKind::AlreadyExists,
            StoreError::Internal(_) => ErrorKind::Internal,
        }
    }
}

impl From<StoreError> for tonic::Status {
    fn from(e: StoreError) -> Self {
        switchboard_runtime::to_status(&e)
    }
}

/// The rule that turns the ticket as stored into a change. The store may
/// call it more than once (on the ticket as last committed, then again under
/// the row lock if that one moved meanwhile) and writes only a change made
/// from the version still stored, so no other change interleaves.
pub type Apply = Box<dyn Fn(&Ticket) -> Result<Change, RuleError> + Send + Sync>;

/// The rule for merging two tickets, called with both rows locked: (source, target).
pub type MergeApply =
    Box<dyn FnOnce(&Ticket, &Ticket) -> Result<(Change, Change), RuleError> + Send>;

/// The result of an update.
#[derive(Debug, Clone)]
pub struct Updated {
    /// The ticket after the change (the follow-up when one was created).
    pub ticket: Ticket,
    /// The message the change added, if any.
    pub message: Option<Message>,
    /// True when the idempotency key had been seen: nothing was written.
    pub replayed: bool,
}

/// Why an update did not happen.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    /// No such ticket in the tenant.
    #[error("ticket not found")]
    NotFound,
    /// The rules refused the change.
    #[error(transparent)]
    Rule(#[from] RuleError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One audit entry as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredChange {
    /// Order within the installation.
    pub seq: i64,
    /// Ticket version after the change.
    pub version: i64,
    /// Who.
    pub actor: Actor,
    /// Field.
    pub field: String,
    /// Old value.
    pub old: String,
    /// New value.
    pub new: String,
    /// When.
    pub at: chrono::DateTime<chrono::Utc>,
}

/// Tickets, scoped by tenant in every call.
#[async_trait]
pub trait TicketStore: Send + Sync + 'static {
    /// Creates the ticket, its requester when unknown, its first message and
    /// its `ticket.created` event, atomically, numbered next in its tenant.
    /// A `key` seen before with the same fingerprint returns the ticket the
    /// first request made and writes nothing; with another fingerprint it is
    /// [`StoreError::KeyReused`]. Keys of other principals or operations
    /// never match.
    async fn create(
        &self,
        tenant: &TenantId,
        new: &NewTicket,
        key: Option<&IdempotencyKey>,
        actor: Actor,
    ) -> Result<Created, StoreError>;

    /// One ticket of `tenant`.
    async fn get(&self, tenant: &TenantId, id: Uuid) -> Result<Option<Ticket>, StoreError>;

    /// Locks the ticket, replays a seen `key` (as [`TicketStore::create`]
    /// does: the message the first request added, with its ticket now), else
    /// applies `apply` and writes the change, its audit entries, its events
    /// and the key atomically.
    async fn update(
        &self,
        tenant: &TenantId,
        id: Uuid,
        key: Option<&IdempotencyKey>,
        apply: Apply,
    ) -> Result<Updated, UpdateError>;

    /// Locks both tickets, applies `apply`, moves the source's messages to
    /// the target, and writes both changes and their events atomically.
    /// Returns the target after the merge.
    async fn merge(
        &self,
        tenant: &TenantId,
        source: Uuid,
        target: Uuid,
        apply: MergeApply,
    ) -> Result<Ticket, UpdateError>;

    /// The tenant's SLA policy, if one is set.
    async fn sla_policy(&self, tenant: &TenantId) -> Result<Option<Policy>, StoreError>;

    /// Replaces the tenant's SLA policy; returns it with its new version.
    async fn set_sla_policy(
        &self,
        tenant: &TenantId,
        policy: &Policy,
    ) -> Result<Policy, StoreError>;

    /// Emits the SLA warnings and breaches due at `now` for up to `limit`
    /// tickets, each exactly once even with several scanners running.
    /// Returns how many tickets it looked at.
    async fn scan_sla(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        limit: i64,
    ) -> Result<usize, StoreError>;

    /// The tenant's intake rules and their version (empty, 0 until set).
    async fn intake_rules(&self, tenant: &TenantId) -> Result<(Vec<IntakeRule>, i64), StoreError>;

    /// Replaces the tenant's intake rules; returns the new version.
    async fn set_intake_rules(
        &self,
        tenant: &TenantId,
        rules: &[IntakeRule],
    ) -> Result<i64, StoreError>;

    /// A customer's tier and tags, for intake rules.
    async fn customer_profile(
        &self,
        tenant: &TenantId,
        customer: Uuid,
    ) -> Result<Option<RequesterProfile>, StoreError>;

    /// The customer an identity belongs to.
    async fn find_customer(
        &self,
        tenant: &TenantId,
        identity: &Identity,
    ) -> Result<Option<Uuid>, StoreError>;

    /// A page of tickets.
    async fn list(&self, tenant: &TenantId, query: &TicketQuery)
    -> Result<Vec<Ticket>, StoreError>;

    /// A page of a ticket's messages, oldest first.
    async fn messages(
        &self,
        tenant: &TenantId,
        ticket: Uuid,
        include_internal: bool,
        after: Option<Cursor>,
        limit: i64,
    ) -> Result<Vec<Message>, StoreError>;

    /// A page of a ticket's audit trail, oldest first, after `after_seq`.
    async fn changes(
        &self,
        tenant: &TenantId,
        ticket: Uuid,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<StoredChange>, StoreError>;

    /// The identities of one customer of `tenant`.
    async fn identities(
        &self,
        tenant: &TenantId,
        customer: Uuid,
    ) -> Result<Vec<Identity>, StoreError>;
}
