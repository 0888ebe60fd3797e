//! gRPC handlers: decode, authorize, call the domain and the store.

use std::sync::Arc;

use switchboard_proto::ticket::v1::{
    CreateTicketRequest, GetTicketRequest, Ticket as PbTicket, ticket_service_server::TicketService,
};
use switchboard_runtime::{
    DomainError, ErrorKind, FieldViolation, Role, Violations, caller, to_status,
};
use tonic::{Request, Response, Status};

use crate::{
    domain::{NewTicket, parse_ticket_name, visible_to},
    store::{StoreError, TicketStore},
};

/// What can go wrong in a ticket call.
#[derive(Debug, thiserror::Error)]
pub enum TicketError {
    /// The request is malformed.
    #[error(transparent)]
    Invalid(#[from] Violations),
    /// No such ticket for this caller.
    #[error("ticket `{0}` not found")]
    NotFound(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl DomainError for TicketError {
    fn kind(&self) -> ErrorKind {
        match self {
            TicketError::Invalid(v) => v.kind(),
            TicketError::NotFound(_) => ErrorKind::NotFound,
            TicketError::Store(e) => e.kind(),
        }
    }

    fn violations(&self) -> &[FieldViolation] {
        match self {
            TicketError::Invalid(v) => v.violations(),
            _ => &[],
        }
    }
}

impl From<TicketError> for Status {
    fn from(e: TicketError) -> Self {
        to_status(&e)
    }
}

/// The `TicketService` implementation.
#[derive(Clone)]
pub struct TicketApi {
    store: Arc<dyn TicketStore>,
}

impl TicketApi {
    /// Handlers over `store`.
    pub fn new(store: Arc<dyn TicketStore>) -> Self {
        Self { store }
    }
}

#[tonic::async_trait]
impl TicketService for TicketApi {
    #[tracing::instrument(skip_all, fields(tenant, ticket))]
    async fn create_ticket(
        &self,
        request: Request<CreateTicketRequest>,
    ) -> Result<Response<PbTicket>, Status> {
        let caller = caller(&request)?.clone();
        tracing::Span::current().record("tenant", caller.tenant.as_str());
        let new =
            NewTicket::from_request(&caller, request.into_inner()).map_err(TicketError::from)?;
        let created = self
            .store
            .create(&caller.tenant, &new, caller.to_actor())
            .await
            .map_err(TicketError::from)?;
        tracing::Span::current().record("ticket", created.ticket.id.to_string());
        if created.fresh {
            metrics::counter!("tickets_created_total").increment(1);
        }
        Ok(Response::new(created.ticket.to_proto()))
    }

    #[tracing::instrument(skip_all, fields(tenant, ticket))]
    async fn get_ticket(
        &self,
        request: Request<GetTicketRequest>,
    ) -> Result<Response<PbTicket>, Status> {
        let caller = caller(&request)?.clone();
        tracing::Span::current().record("tenant", caller.tenant.as_str());
        let name = &request.get_ref().name;
        let id = parse_ticket_name(name).map_err(TicketError::from)?;
        tracing::Span::current().record("ticket", id.to_string());
        let not_found = || TicketError::NotFound(name.clone());
        let ticket = self
            .store
            .get(&caller.tenant, id)
            .await
            .map_err(TicketError::from)?
            .ok_or_else(not_found)?;
        if caller.role == Role::Customer {
            let identities = self
                .store
                .identities(&caller.tenant, ticket.requester_id)
                .await
                .map_err(TicketError::from)?;
            // NOT_FOUND rather than PERMISSION_DENIED: a customer must not
            // learn that other customers' ticket ids exist.
            if !visible_to(&caller, &identities) {
                return Err(not_found().into());
            }
        }
        Ok(Response::new(ticket.to_proto()))
    }
}
