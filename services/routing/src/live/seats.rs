//! Holds and capacity behind a small trait, so the behaviour that keeps an
//! agent under capacity and a ticket with one holder has one conformance
//! suite ([`super::conformance`]).

use async_trait::async_trait;
use switchboard_proto::common::v1::Channel;
use switchboard_runtime::TenantId;
use uuid::Uuid;

use super::{Check, Live, Reserve, Result};

/// Which agent holds which ticket, and how many of each channel an agent
/// holds; every call is atomic across replicas.
#[async_trait]
pub trait Seats: Send + Sync + 'static {
    /// Reserves one unit of `user`'s `channel` capacity for `ticket`, unless
    /// the ticket is held already or `mode`'s checks fail. With
    /// `round_robin`, that group's rotation moves to `user` in the same step.
    #[allow(clippy::too_many_arguments)]
    async fn reserve(
        &self,
        t: &TenantId,
        ticket: Uuid,
        user: &str,
        channel: Channel,
        capacity: u32,
        mode: Check,
        round_robin: Option<&str>,
    ) -> Result<Reserve>;

    /// Frees the ticket's hold (only `only`'s, when given); returns the
    /// agent and channel that held it.
    async fn release(
        &self,
        t: &TenantId,
        ticket: Uuid,
        only: Option<&str>,
    ) -> Result<Option<(String, Channel)>>;

    /// The agent holding `ticket`, if any.
    async fn holder(&self, t: &TenantId, ticket: Uuid) -> Result<Option<String>>;

    /// Tickets `user` holds.
    async fn held_by(&self, t: &TenantId, user: &str) -> Result<Vec<Uuid>>;
}

#[async_trait]
impl Seats for Live {
    async fn reserve(
        &self,
        t: &TenantId,
        ticket: Uuid,
        user: &str,
        channel: Channel,
        capacity: u32,
        mode: Check,
        round_robin: Option<&str>,
    ) -> Result<Reserve> {
        Live::reserve(self, t, ticket, user, channel, capacity, mode, round_robin).await
    }

    async fn release(
        &self,
        t: &TenantId,
        ticket: Uuid,
        only: Option<&str>,
    ) -> Result<Option<(String, Channel)>> {
        Live::release(self, t, ticket, only).await
    }

    async fn holder(&self, t: &TenantId, ticket: Uuid) -> Result<Option<String>> {
        Live::holder(self, t, ticket).await
    }

    async fn held_by(&self, t: &TenantId, user: &str) -> Result<Vec<Uuid>> {
        Live::held_by(self, t, user).await
    }
}
