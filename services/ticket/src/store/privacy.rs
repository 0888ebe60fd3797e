//! Where erasure, export reads and retention meet the database: a small
//! trait beside [`super::TicketStore`].

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use switchboard_proto::common::v1::Actor;
use switchboard_runtime::TenantId;
use uuid::Uuid;

use super::{StoreError, customers::CustomerError};
use crate::domain::{Ticket, customer::Customer, privacy::Retention};

/// What an erasure did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Erased {
    /// The profile after erasure.
    pub customer: Customer,
    /// Profiles that had been merged into it, erased with it.
    pub merged: Vec<Uuid>,
    /// Tickets changed by this erasure (none when it was erased already).
    pub tickets: Vec<Uuid>,
    /// Messages erased or redacted.
    pub messages: u64,
    /// Attachment storage keys no message refers to any more.
    pub dropped_attachments: Vec<String>,
}

/// What one retention round deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Purged {
    /// The tickets deleted (each with a `ticket.deleted` event).
    pub tickets: Vec<Uuid>,
    /// Attachment storage keys of their messages.
    pub dropped_attachments: Vec<String>,
}

/// Personal data operations, scoped by tenant in every call but the
/// retention round (which serves every tenant by its own policy).
#[async_trait]
pub trait PrivacyStore: Send + Sync + 'static {
    /// Erases `id` and the profiles merged into it (see
    /// `PrivacyService.EraseCustomer`), emitting a `ticket.updated` per
    /// changed ticket and then `customer.erased`, atomically. An erased
    /// customer is returned as it is, with nothing done.
    async fn erase_customer(
        &self,
        tenant: &TenantId,
        id: Uuid,
        actor: Actor,
    ) -> Result<Erased, CustomerError>;

    /// The profiles merged into `id`, directly or through others, oldest first.
    async fn merged_profiles(
        &self,
        tenant: &TenantId,
        id: Uuid,
    ) -> Result<Vec<Customer>, StoreError>;

    /// A page of the tickets `customer` requested, by id (creation order),
    /// after `after`.
    async fn requested_tickets(
        &self,
        tenant: &TenantId,
        customer: Uuid,
        after: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<Ticket>, StoreError>;

    /// The tenant's retention policy (the default until one is set).
    async fn retention(&self, tenant: &TenantId) -> Result<Retention, StoreError>;

    /// Replaces the tenant's retention policy; returns it with its version.
    async fn set_retention(&self, tenant: &TenantId, days: i32) -> Result<Retention, StoreError>;

    /// Deletes up to `limit` closed tickets whose last change is older, at
    /// `now`, than their tenant's policy allows, with their messages,
    /// recorded changes, email threading and idempotency keys, emitting
    /// `ticket.deleted` for each. Safe with several replicas running it.
    async fn purge_closed(&self, now: DateTime<Utc>, limit: i64) -> Result<Purged, StoreError>;
}
