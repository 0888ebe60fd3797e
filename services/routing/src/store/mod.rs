//! Routing's durable state behind two small traits: the [`Registry`] of
//! agents, groups and routing rules, and the waiting [`Queue`] with the
//! events written alongside it. [`PgStore`] implements both on PostgreSQL;
//! [`conformance`] is the behaviour every backend must show.

pub mod conformance;
pub mod postgres;

use std::{fmt, time::Duration};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use switchboard_events::Envelope;
use switchboard_runtime::{DomainError, ErrorKind, TenantId};
use uuid::Uuid;

use crate::domain::{Agent, Group, Job, RoutingRule};

pub use postgres::PgStore;

/// A storage failure, by the gRPC code it maps to.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such agent, group or ticket.
    #[error("{0} not found")]
    NotFound(String),
    /// It exists already.
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// A stale `expected_version`.
    #[error("version conflict: expected {expected}, current is {current}")]
    Conflict {
        /// What the caller sent.
        expected: i64,
        /// What is stored.
        current: i64,
    },
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

impl DomainError for StoreError {
    fn kind(&self) -> ErrorKind {
        match self {
            StoreError::NotFound(_) => ErrorKind::NotFound,
            StoreError::AlreadyExists(_) => ErrorKind::AlreadyExists,
            StoreError::Conflict { .. } => ErrorKind::Aborted,
            StoreError::Db(e) => switchboard_runtime::db_error_kind(e),
        }
    }
}

type Result<T, E = StoreError> = std::result::Result<T, E>;

/// One waiting ticket, as a replica leased it.
#[derive(Debug, Clone)]
pub struct Waiting {
    /// What routing decided.
    pub job: Job,
    /// When it joined the queue.
    pub enqueued_at: DateTime<Utc>,
}

/// Builds the event of a newly queued ticket from the group's waiting count.
pub type QueuedEvent<'a> = Box<dyn FnOnce(i64) -> Envelope + Send + 'a>;

/// Builds the event of an assignment from how long the ticket had waited
/// (`None` when it was not waiting); a store may build it more than once.
pub type AssignedEvent<'a> = Box<dyn Fn(Option<Duration>) -> Envelope + Send + Sync + 'a>;

/// Agents, groups and the routing rule set, scoped by tenant in every call.
#[async_trait]
pub trait Registry: Send + Sync + 'static {
    /// Registers an agent at version 1; `AlreadyExists` when the user is one.
    async fn create_agent(&self, tenant: &TenantId, a: &Agent) -> Result<Agent>;

    /// One agent; `NotFound` when there is none.
    async fn get_agent(&self, tenant: &TenantId, user: &str) -> Result<Agent>;

    /// Agents in user-id order after `after`, of `group` when given.
    async fn list_agents(
        &self,
        tenant: &TenantId,
        group: Option<&str>,
        after: &str,
        limit: i64,
    ) -> Result<Vec<Agent>>;

    /// Every agent of the tenant, for the routing directory.
    async fn all_agents(&self, tenant: &TenantId) -> Result<Vec<Agent>> {
        self.list_agents(tenant, None, "", i64::MAX).await
    }

    /// Stores `a` if its version is still `expected` (`Conflict` when not,
    /// `NotFound` when there is no such agent); returns it one version on.
    async fn update_agent(&self, tenant: &TenantId, a: &Agent, expected: i64) -> Result<Agent>;

    /// Removes an agent; `NotFound` when there is none.
    async fn delete_agent(&self, tenant: &TenantId, user: &str) -> Result<()>;

    /// Creates a group at version 1; `AlreadyExists` when the id is taken.
    async fn create_group(&self, tenant: &TenantId, g: &Group) -> Result<Group>;

    /// One group; `NotFound` when there is none.
    async fn get_group(&self, tenant: &TenantId, id: &str) -> Result<Group>;

    /// The tenant's groups in id order (at most 500).
    async fn list_groups(&self, tenant: &TenantId) -> Result<Vec<Group>>;

    /// Stores `g` if its version is still `expected` (`Conflict` when not,
    /// `NotFound` when there is no such group); returns it one version on.
    async fn update_group(&self, tenant: &TenantId, g: &Group, expected: i64) -> Result<Group>;

    /// Removes a group and its queue; `NotFound` when there is none.
    async fn delete_group(&self, tenant: &TenantId, id: &str) -> Result<()>;

    /// The tenant's rule set and its version (empty, 0 when never saved).
    async fn rules(&self, tenant: &TenantId) -> Result<(Vec<RoutingRule>, i64)>;

    /// Replaces the rule set; returns the new version.
    async fn put_rules(&self, tenant: &TenantId, rules: &[RoutingRule]) -> Result<i64>;
}

/// The waiting queue, and routing's events written with its changes.
///
/// Queue order is higher priority first, then the earlier SLA due time
/// (tickets without one last), then the older ticket
/// ([`crate::domain::queue_order`]).
#[async_trait]
pub trait Queue: Send + Sync + 'static {
    /// Puts `job` in its group's queue (or updates its entry and ends any
    /// lease on it); the event is written only when the ticket was not
    /// waiting yet. Returns whether it was new.
    async fn enqueue(&self, tenant: &TenantId, job: &Job, event: QueuedEvent<'_>) -> Result<bool>;

    /// Records an assignment: the ticket leaves the queue and `event` is
    /// written, told how long the ticket had waited.
    async fn assigned(
        &self,
        tenant: &TenantId,
        ticket: Uuid,
        event: AssignedEvent<'_>,
    ) -> Result<()>;

    /// Takes a ticket out of the queue; whether it was there.
    async fn remove_waiting(&self, tenant: &TenantId, ticket: Uuid) -> Result<bool>;

    /// The group whose queue the ticket is in (leased or not), if any.
    async fn waiting_group(&self, tenant: &TenantId, ticket: Uuid) -> Result<Option<String>>;

    /// Sets a waiting ticket's priority (after an escalation); a ticket not
    /// waiting is no error.
    async fn reprioritize(&self, tenant: &TenantId, ticket: Uuid, priority: i32) -> Result<()>;

    /// Leases up to `limit` waiting tickets of `groups` (all groups when
    /// `None`) in queue order, for `lease`: other callers skip them until
    /// they are assigned, released or the lease runs out.
    async fn lease(
        &self,
        tenant: &TenantId,
        groups: Option<&[String]>,
        limit: i64,
        lease: Duration,
    ) -> Result<Vec<Waiting>>;

    /// Ends a lease early, so the ticket can be tried again at once.
    async fn unlease(&self, tenant: &TenantId, ticket: Uuid) -> Result<()>;

    /// Every (tenant, group) with waiting tickets.
    async fn groups_waiting(&self) -> Result<Vec<(String, String)>>;

    /// Waiting count and the oldest ticket's enqueue time for one group.
    async fn queue_depth(
        &self,
        tenant: &TenantId,
        group: &str,
    ) -> Result<(i64, Option<DateTime<Utc>>)>;

    /// Writes one event on its own.
    async fn emit(&self, event: &Envelope) -> Result<()>;
}

/// Both halves, as the router holds them.
pub trait Store: Registry + Queue + fmt::Debug {}

impl<T: Registry + Queue + fmt::Debug> Store for T {}
