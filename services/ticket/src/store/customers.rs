//! Where customer profiles live: a small trait beside [`super::TicketStore`].

use async_trait::async_trait;
use switchboard_proto::common::v1::Actor;
use switchboard_runtime::{DomainError, ErrorKind, TenantId};
use uuid::Uuid;

use super::StoreError;
use crate::domain::{
    Identity, Ticket,
    customer::{Customer, CustomerUpdate, customer_name},
    message::Message,
    query::Cursor,
};

/// Why a customer change did not happen.
#[derive(Debug, thiserror::Error)]
pub enum CustomerError {
    /// No such customer in the tenant.
    #[error("customer `{}` not found", customer_name(*.0))]
    NotFound(Uuid),
    /// The identity already belongs to another customer.
    #[error("{kind} `{value}` already belongs to {}; merge the two customers instead", customer_name(*owner))]
    Taken {
        /// Identity kind.
        kind: &'static str,
        /// Identity value.
        value: String,
        /// Its customer.
        owner: Uuid,
    },
    /// The merge is not allowed.
    #[error("{0}")]
    Refused(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl DomainError for CustomerError {
    fn kind(&self) -> ErrorKind {
        match self {
            CustomerError::NotFound(_) => ErrorKind::NotFound,
            CustomerError::Taken { .. } => ErrorKind::AlreadyExists,
            CustomerError::Refused(_) => ErrorKind::FailedPrecondition,
            CustomerError::Store(e) => e.kind(),
        }
    }
}

/// Customer profiles, scoped by tenant in every call.
#[async_trait]
pub trait CustomerStore: Send + Sync + 'static {
    /// One customer with its identities.
    async fn customer(&self, tenant: &TenantId, id: Uuid) -> Result<Option<Customer>, StoreError>;

    /// Adds `identity` to a customer (a no-op when it already has it).
    async fn add_identity(
        &self,
        tenant: &TenantId,
        id: Uuid,
        identity: &Identity,
    ) -> Result<Customer, CustomerError>;

    /// Applies `update` (display name, tier, tags) and bumps the version.
    async fn update_customer(
        &self,
        tenant: &TenantId,
        update: &CustomerUpdate,
    ) -> Result<Customer, CustomerError>;

    /// Moves `source`'s identities and tickets to `target` and marks `source`
    /// merged, emitting `customer.merged`, atomically.
    async fn merge_customers(
        &self,
        tenant: &TenantId,
        source: Uuid,
        target: Uuid,
        actor: Actor,
    ) -> Result<Customer, CustomerError>;

    /// A page of the customer's messages with their tickets, newest first.
    async fn history(
        &self,
        tenant: &TenantId,
        customer: Uuid,
        include_internal: bool,
        before: Option<Cursor>,
        limit: i64,
    ) -> Result<Vec<(Ticket, Message)>, StoreError>;
}
