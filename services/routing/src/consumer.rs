//! The durable consumers that drive routing: ticket lifecycle events and SLA
//! alerts, shared by every replica (each event reaches one of them).

use std::sync::Arc;

use sqlx::PgConnection;
use switchboard_events::{
    Envelope, Payload,
    consumer::{Handler, HandlerError, Reactor},
};
use switchboard_proto::events::v1 as ev;
use switchboard_runtime::TenantId;

use crate::{domain::TicketView, escalate::Trigger, router::Router};

/// Durable consumer of `ticket.>`.
pub const TICKETS_CONSUMER: &str = "routing-tickets";
/// Durable consumer of `sla.>`.
pub const SLA_CONSUMER: &str = "routing-sla";

/// Routes on ticket and SLA events. Work is idempotent by construction
/// (holds are per ticket, assignment checks the version), so a redelivery
/// after a partial failure converges instead of assigning twice.
#[derive(Debug, Clone)]
pub struct RouteOnEvents {
    /// The engine.
    pub router: Arc<Router>,
}

#[async_trait::async_trait]
impl Handler for RouteOnEvents {
    async fn handle(&self, _tx: &mut PgConnection, event: &Envelope) -> Result<(), HandlerError> {
        self.react(event).await
    }
}

#[async_trait::async_trait]
impl Reactor for RouteOnEvents {
    // The shared consumer already runs this in the event's trace.
    async fn react(&self, event: &Envelope) -> Result<(), HandlerError> {
        self.route(event).await
    }
}

impl RouteOnEvents {
    async fn route(&self, event: &Envelope) -> Result<(), HandlerError> {
        let (ticket, kind) = match &event.payload {
            Some(Payload::TicketCreated(ev::TicketCreated { ticket, .. })) => {
                (ticket, Kind::Created)
            }
            Some(Payload::TicketAssigned(ev::TicketAssigned { ticket, .. })) => {
                (ticket, Kind::Assigned)
            }
            Some(Payload::TicketStatusChanged(ev::TicketStatusChanged { ticket, .. })) => {
                (ticket, Kind::Status)
            }
            Some(Payload::SlaWarning(ev::SlaWarning { ticket, .. })) => {
                (ticket, Kind::Sla(Trigger::Warning))
            }
            Some(Payload::SlaBreached(ev::SlaBreached { ticket, .. })) => {
                (ticket, Kind::Sla(Trigger::Breached))
            }
            _ => return Ok(()),
        };
        let Some(ticket) = ticket.as_ref().and_then(TicketView::from_proto) else {
            return Ok(());
        };
        let tenant = TenantId::parse(&event.tenant_id).map_err(HandlerError)?;
        let r = &self.router;
        let result = match kind {
            Kind::Created => r.on_created(&tenant, ticket).await,
            Kind::Assigned => r.on_assigned(&tenant, ticket).await,
            Kind::Status => r.on_status(&tenant, ticket).await,
            Kind::Sla(trigger) => r.escalate(&tenant, ticket, trigger).await,
        };
        result.map_err(|e| HandlerError(e.to_string()))
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Created,
    Assigned,
    Status,
    Sla(Trigger),
}
