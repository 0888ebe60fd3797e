//! Calls to the ticket service, authenticated as `routing` with a short-lived
//! service credential per tenant that can call only what routing needs.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use prost_types::FieldMask;
use switchboard_proto::{
    common::v1::Priority,
    ticket::v1::{self as tpb, ticket_service_client::TicketServiceClient},
};
use switchboard_runtime::app::{InProcess, TransportError};
use switchboard_runtime::{
    Authenticator, Caller, Role, TenantId,
    auth::{Access, Area, Scopes, Via},
};
use tonic::{Code, Request, Status, transport::Channel};
use uuid::Uuid;

use crate::domain::TicketView;

/// The user id routing acts as.
pub const ROUTING_USER: &str = "routing";
const TOKEN_TTL: Duration = Duration::from_secs(300);

/// What routing calls on the ticket service, and nothing more: reading a
/// ticket it routes, assigning it, and raising its priority on escalation.
pub const TICKET_METHODS: [&str; 3] = [
    "/switchboard.ticket.v1.TicketService/GetTicket",
    "/switchboard.ticket.v1.TicketService/AssignTicket",
    "/switchboard.ticket.v1.TicketService/UpdateTicket",
];

/// Routing's credential for `tenant`: a service identity limited to
/// [`TICKET_METHODS`], never a person's or an admin's token.
pub fn credential(tenant: &TenantId) -> Caller {
    Caller {
        tenant: tenant.clone(),
        user: ROUTING_USER.into(),
        // Assigning to any agent of the desk needs more than an agent.
        role: Role::Admin,
        via: Via::Service {
            name: ROUTING_USER.into(),
            scopes: Scopes::NONE.with(Area::Ticket, Access::Write),
            methods: TICKET_METHODS.map(String::from).to_vec(),
        },
    }
}

/// Why a ticket call failed.
#[derive(Debug, thiserror::Error)]
pub enum TicketCallError {
    /// The ticket changed since the version sent.
    #[error("version conflict: {0}")]
    Conflict(String),
    /// The ticket is gone or cannot be changed that way (solved, closed),
    /// or this caller may not: the ticket service's code and message.
    #[error("ticket cannot be changed: {1}")]
    Refused(Code, String),
    /// The ticket service failed or is unreachable; retry later.
    #[error("ticket service: {0}")]
    Unavailable(String),
}

impl From<Status> for TicketCallError {
    fn from(s: Status) -> Self {
        match s.code() {
            Code::Aborted => TicketCallError::Conflict(s.message().to_owned()),
            Code::NotFound
            | Code::FailedPrecondition
            | Code::InvalidArgument
            | Code::PermissionDenied => TicketCallError::Refused(s.code(), s.message().to_owned()),
            _ => TicketCallError::Unavailable(format!("{:?}: {}", s.code(), s.message())),
        }
    }
}

type Result<T> = std::result::Result<T, TicketCallError>;

/// The ticket service, reached at `clients.ticket_url`.
#[derive(Debug)]
pub struct TicketClient {
    client: TicketServiceClient<InProcess>,
    auth: Authenticator,
    tokens: Mutex<HashMap<String, (String, Instant)>>,
}

impl TicketClient {
    /// A client of `url` that connects on first use.
    pub fn new(url: &str, auth: Authenticator) -> std::result::Result<Self, String> {
        let endpoint = Channel::from_shared(url.to_owned())
            .map_err(|e| format!("`clients.ticket_url` {url}: {e}"))?
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(10));
        let channel =
            tower::ServiceExt::map_err(endpoint.connect_lazy(), |e| TransportError(Box::new(e)));
        Ok(Self::over(InProcess::new(channel), auth))
    }

    /// A client of the ticket service this process serves itself: calls
    /// take the same authentication and scopes, without the network.
    pub fn in_process(ticket: InProcess, auth: Authenticator) -> Self {
        Self::over(ticket, auth)
    }

    fn over(transport: InProcess, auth: Authenticator) -> Self {
        Self {
            client: TicketServiceClient::new(transport),
            auth,
            tokens: Mutex::new(HashMap::new()),
        }
    }

    fn token(&self, tenant: &TenantId) -> String {
        let mut tokens = self.tokens.lock().expect("token cache");
        if let Some((token, until)) = tokens.get(tenant.as_str())
            && *until > Instant::now()
        {
            return token.clone();
        }
        let caller = credential(tenant);
        let token = self.auth.issue(&caller, TOKEN_TTL);
        // Renew well before expiry so a call never carries a stale token.
        tokens.insert(
            tenant.as_str().to_owned(),
            (token.clone(), Instant::now() + TOKEN_TTL / 2),
        );
        token
    }

    fn request<T>(&self, tenant: &TenantId, message: T) -> Request<T> {
        let mut request = Request::new(message);
        if let Ok(v) = format!("Bearer {}", self.token(tenant)).parse() {
            request.metadata_mut().insert("authorization", v);
        }
        // The ticket service's span (and the events it emits) join the
        // trace of the event being routed.
        switchboard_runtime::telemetry::inject_trace(request.metadata_mut());
        request
    }

    /// The ticket now.
    pub async fn get(&self, tenant: &TenantId, ticket: Uuid) -> Result<TicketView> {
        let t = self
            .client
            .clone()
            .get_ticket(self.request(
                tenant,
                tpb::GetTicketRequest {
                    name: format!("tickets/{ticket}"),
                },
            ))
            .await?
            .into_inner();
        TicketView::from_proto(&t)
            .ok_or_else(|| TicketCallError::Refused(Code::Internal, "unreadable ticket".into()))
    }

    /// Assigns `ticket` to `assignee` (empty unassigns) in `group` if it is
    /// still at `version`; returns the ticket after the change.
    pub async fn assign(
        &self,
        tenant: &TenantId,
        ticket: Uuid,
        assignee: &str,
        group: &str,
        version: i64,
    ) -> Result<TicketView> {
        let t = self
            .client
            .clone()
            .assign_ticket(self.request(
                tenant,
                tpb::AssignTicketRequest {
                    name: format!("tickets/{ticket}"),
                    assignee: assignee.into(),
                    group: group.into(),
                    expected_version: version,
                },
            ))
            .await?
            .into_inner();
        TicketView::from_proto(&t)
            .ok_or_else(|| TicketCallError::Refused(Code::Internal, "unreadable ticket".into()))
    }

    /// Sets priority, tags and followers (those given) if the ticket is
    /// still at `version`.
    pub async fn update(
        &self,
        tenant: &TenantId,
        ticket: &TicketView,
        priority: Option<Priority>,
        tags: Option<Vec<String>>,
        followers: Option<Vec<String>>,
    ) -> Result<TicketView> {
        let mut paths = Vec::new();
        let mut body = tpb::Ticket {
            name: ticket.name(),
            ..Default::default()
        };
        if let Some(p) = priority {
            paths.push("priority".to_owned());
            body.priority = p as i32;
        }
        if let Some(tags) = tags {
            paths.push("tags".to_owned());
            body.tags = tags;
        }
        if let Some(f) = followers {
            paths.push("followers".to_owned());
            body.followers = f;
        }
        if paths.is_empty() {
            return Ok(ticket.clone());
        }
        let t = self
            .client
            .clone()
            .update_ticket(self.request(
                tenant,
                tpb::UpdateTicketRequest {
                    ticket: Some(body),
                    update_mask: Some(FieldMask { paths }),
                    expected_version: ticket.version,
                },
            ))
            .await?
            .into_inner();
        TicketView::from_proto(&t)
            .ok_or_else(|| TicketCallError::Refused(Code::Internal, "unreadable ticket".into()))
    }
}
