//! Where tickets live: a small trait, its PostgreSQL backend, and the
//! conformance suite every backend must pass.

pub mod conformance;
pub mod postgres;

use async_trait::async_trait;
use switchboard_proto::common::v1::Actor;
use switchboard_runtime::{DomainError, ErrorKind, TenantId};
use uuid::Uuid;

use crate::domain::{Identity, NewTicket, Ticket};

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
    /// Anything else.
    #[error("ticket database error: {0}")]
    Internal(String),
}

impl DomainError for StoreError {
    fn kind(&self) -> ErrorKind {
        match self {
            StoreError::Unavailable(_) => ErrorKind::Unavailable,
            StoreError::Internal(_) => ErrorKind::Internal,
        }
    }
}

/// Tickets, scoped by tenant in every call.
#[async_trait]
pub trait TicketStore: Send + Sync + 'static {
    /// Creates the ticket, its requester when unknown, its first message and
    /// its `ticket.created` event, atomically. A repeated request id returns
    /// the first ticket and writes nothing.
    async fn create(
        &self,
        tenant: &TenantId,
        new: &NewTicket,
        actor: Actor,
    ) -> Result<Created, StoreError>;

    /// One ticket of `tenant`.
    async fn get(&self, tenant: &TenantId, id: Uuid) -> Result<Option<Ticket>, StoreError>;

    /// The identities of one customer of `tenant`.
    async fn identities(
        &self,
        tenant: &TenantId,
        customer: Uuid,
    ) -> Result<Vec<Identity>, StoreError>;
}
