//! `IntakeService`: what arrives through a channel becomes a ticket, or a
//! message on the ticket it continues, on one customer profile per person.
//!
//! The ticket itself is made by the same `TicketService` handlers a
//! customer's own call reaches, acting as the sender (a customer principal:
//! their email, or `phone:`/`social:`/`chat:` and that identity), so intake
//! rules, SLA, lifecycle and events apply unchanged.

mod channels;
mod chat;
pub mod contact;
mod email;
pub mod http;

use std::{pin::Pin, sync::Arc};

use switchboard_proto::{
    common::v1::Channel,
    ticket::v1::{
        AddMessageRequest, Attachment, ChatEvent, CreateTicketRequest, EndChatRequest, FieldValue,
        IngestEmailRequest, IngestOutcome, IngestSmsRequest, IngestSocialRequest, IntakeResponse,
        LogCallRequest, Requester, SendChatMessageRequest, StartChatRequest, SubmitWebFormRequest,
        Ticket as PbTicket, Visibility, WatchChatRequest, intake_service_server::IntakeService,
        ticket_service_server::TicketService,
    },
};
use switchboard_runtime::{Caller, Role, caller};
use tonic::{Code, Request, Response, Status};
use uuid::Uuid;

use crate::{
    TicketApi,
    api::Relayed,
    attachments::ObjectStore,
    domain::{Identity, idempotency},
    store::{
        TicketStore,
        customers::{CustomerError, CustomerStore},
        email::EmailThreads,
    },
};

/// What intake needs from storage: tickets' customers, profiles and the
/// thread index.
pub trait IntakeStore: TicketStore + CustomerStore + EmailThreads {}

impl<T: TicketStore + CustomerStore + EmailThreads> IntakeStore for T {}

/// The `IntakeService` implementation.
#[derive(Clone)]
pub struct IntakeApi {
    tickets: TicketApi,
    store: Arc<dyn IntakeStore>,
    objects: Arc<dyn ObjectStore>,
    limits: switchboard_mail::Limits,
}

type Reply = Result<Response<IntakeResponse>, Status>;

impl IntakeApi {
    /// Intake over the ticket handlers, the store and the attachment store.
    pub fn new(
        tickets: TicketApi,
        store: Arc<dyn IntakeStore>,
        objects: Arc<dyn ObjectStore>,
    ) -> Self {
        Self {
            tickets,
            store,
            objects,
            limits: switchboard_mail::Limits::default(),
        }
    }

    /// The customer principal to act as: the first identity that is already
    /// on a profile, else the strongest one (which then names a new profile).
    async fn principal(
        &self,
        tenant: &Caller,
        identities: &[Identity],
    ) -> Result<Identity, Status> {
        for identity in identities {
            if self
                .store
                .find_customer(&tenant.tenant, identity)
                .await?
                .is_some()
            {
                return Ok(identity.clone());
            }
        }
        identities
            .first()
            .cloned()
            .ok_or_else(|| Status::invalid_argument("no identity to act as"))
    }

    /// Adds every identity not on a profile yet to the ticket's requester,
    /// so the person is one customer on every channel. An identity another
    /// profile owns stays there: merging people is a decision for an agent.
    async fn link(&self, integration: &Caller, ticket: &PbTicket, identities: &[Identity]) {
        let Some(customer) = ticket
            .requester
            .strip_prefix("customers/")
            .and_then(|id| Uuid::parse_str(id).ok())
        else {
            return;
        };
        for identity in identities {
            match self
                .store
                .add_identity(&integration.tenant, customer, identity)
                .await
            {
                Ok(_) => {}
                Err(CustomerError::Taken { owner, .. }) => {
                    tracing::info!(kind = identity.kind(), %owner, "identity belongs to another customer; not linked");
                }
                Err(e) => tracing::warn!(error = %e, "could not link an identity"),
            }
        }
    }

    /// Writes `inbound` as a message on `thread` when given (falling back to
    /// a new ticket when the sender may not write there and `fallback` is
    /// set), else as a new ticket; then leaves the self-service note.
    async fn deliver(&self, integration: &Caller, inbound: Inbound) -> Reply {
        let relayed = Relayed {
            operation: inbound.operation,
            channel_key: inbound.channel_key.clone(),
        };
        if let Some(ticket) = inbound.thread {
            let added = self
                .tickets
                .add_message(as_relayed(
                    AddMessageRequest {
                        parent: format!("tickets/{ticket}"),
                        request_id: inbound.request_id.clone(),
                        body: inbound.body.clone(),
                        visibility: inbound.visibility as i32,
                        channel: inbound.channel as i32,
                        attachments: inbound.attachments.clone(),
                        ..Default::default()
                    },
                    &inbound.sender,
                    &relayed,
                ))
                .await;
            match added {
                Ok(added) => {
                    let added = added.into_inner();
                    return Ok(Response::new(IntakeResponse {
                        outcome: IngestOutcome::Appended as i32,
                        customer: added
                            .ticket
                            .as_ref()
                            .map(|t| t.requester.clone())
                            .unwrap_or_default(),
                        ticket: added.ticket,
                        message: added.message,
                        reason: inbound.reason.into(),
                    }));
                }
                Err(e) if e.code() == Code::NotFound && inbound.fallback => {}
                Err(e) => return Err(e),
            }
        }
        let ticket = self
            .tickets
            .create_ticket(as_relayed(
                CreateTicketRequest {
                    request_id: inbound.request_id,
                    subject: inbound.subject,
                    description: inbound.body,
                    channel: inbound.channel as i32,
                    attachments: inbound.attachments,
                    requester: Some(inbound.requester),
                    custom_fields: inbound.custom_fields,
                    ..Default::default()
                },
                &inbound.sender,
                &relayed,
            ))
            .await?
            .into_inner();
        if let Some(note) = inbound.self_service {
            // Internal: the agent's context, not part of the conversation.
            self.tickets
                .add_message(as_sender(
                    AddMessageRequest {
                        parent: ticket.name.clone(),
                        body: note,
                        visibility: Visibility::Internal as i32,
                        channel: Channel::Api as i32,
                        ..Default::default()
                    },
                    integration,
                ))
                .await?;
        }
        let first = self.first_message(integration, &ticket).await?;
        Ok(Response::new(IntakeResponse {
            outcome: IngestOutcome::Created as i32,
            customer: ticket.requester.clone(),
            ticket: Some(ticket),
            message: first,
            reason: "a new ticket".into(),
        }))
    }

    async fn first_message(
        &self,
        integration: &Caller,
        ticket: &PbTicket,
    ) -> Result<Option<switchboard_proto::ticket::v1::Message>, Status> {
        Ok(self
            .tickets
            .list_messages(as_sender(
                switchboard_proto::ticket::v1::ListMessagesRequest {
                    parent: ticket.name.clone(),
                    page_size: 1,
                    ..Default::default()
                },
                integration,
            ))
            .await?
            .into_inner()
            .messages
            .into_iter()
            .next())
    }
}

/// One piece of channel input, ready for [`IntakeApi::deliver`].
struct Inbound {
    /// Who writes: the customer principal, or the agent who logged a call.
    sender: Caller,
    channel: Channel,
    /// The ticket it continues.
    thread: Option<Uuid>,
    /// Open a new ticket when the sender may not write on `thread`.
    fallback: bool,
    /// Why `thread` was chosen, for the response.
    reason: &'static str,
    /// Of a message on `thread` (a new ticket's first message is public).
    visibility: Visibility,
    /// The intake RPC, which owns `request_id`.
    operation: &'static str,
    /// For a channel provider's id: its principal and the fingerprint of
    /// what the channel delivered (see [`Relayed`]).
    channel_key: Option<(String, [u8; 32])>,
    request_id: String,
    subject: String,
    body: String,
    requester: Requester,
    custom_fields: std::collections::HashMap<String, FieldValue>,
    attachments: Vec<Attachment>,
    /// The internal note with what the customer tried first.
    self_service: Option<String>,
}

impl Inbound {
    fn new(operation: &'static str, sender: Caller, channel: Channel, body: String) -> Self {
        Self {
            sender,
            channel,
            thread: None,
            fallback: false,
            reason: "",
            visibility: Visibility::Public,
            operation,
            channel_key: None,
            request_id: String::new(),
            subject: String::new(),
            body,
            requester: Requester::default(),
            custom_fields: Default::default(),
            attachments: Vec::new(),
            self_service: None,
        }
    }
}

/// The integration's own caller; intake is for staff tokens only.
fn integration<T>(request: &Request<T>) -> Result<Caller, Status> {
    let integration = caller(request)?.clone();
    if !integration.role.is_staff() {
        return Err(Status::permission_denied(
            "channel intake takes a staff token of the tenant (a channel integration)",
        ));
    }
    Ok(integration)
}

/// The customer `identity` acting in `integration`'s tenant.
fn customer(integration: &Caller, identity: &Identity) -> Caller {
    Caller {
        tenant: integration.tenant.clone(),
        user: identity.principal(),
        role: Role::Customer,
        via: switchboard_runtime::auth::Via::Person,
    }
}

fn as_sender<T>(message: T, sender: &Caller) -> Request<T> {
    let mut request = Request::new(message);
    request.extensions_mut().insert(sender.clone());
    request
}

/// `message` from `sender`, relayed by intake (see [`Relayed`]).
fn as_relayed<T>(message: T, sender: &Caller, relayed: &Relayed) -> Request<T> {
    let mut request = as_sender(message, sender);
    request.extensions_mut().insert(relayed.clone());
    request
}

/// The key of a channel provider's message id: the channel's principal and
/// the fingerprint of `facts`, what identifies the delivery (never keys the
/// desk made for it, such as attachment storage keys).
fn channel_key(channel: &str, facts: &impl serde::Serialize) -> Option<(String, [u8; 32])> {
    Some((
        idempotency::channel_principal(channel),
        idempotency::fingerprint(channel, facts),
    ))
}

fn ticket_id(name: &str) -> Option<Uuid> {
    name.strip_prefix("tickets/")
        .and_then(|id| Uuid::parse_str(id).ok())
}

/// The stream `WatchChat` returns.
pub type ChatStream = Pin<Box<dyn futures::Stream<Item = Result<ChatEvent, Status>> + Send>>;

#[tonic::async_trait]
impl IntakeService for IntakeApi {
    #[tracing::instrument(skip_all, fields(tenant, outcome))]
    async fn ingest_email(&self, request: Request<IngestEmailRequest>) -> Reply {
        let integration = integration(&request)?;
        self.email(&integration, request.into_inner().raw).await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn log_call(&self, request: Request<LogCallRequest>) -> Reply {
        let integration = integration(&request)?;
        self.call(&integration, request.into_inner()).await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn ingest_social(&self, request: Request<IngestSocialRequest>) -> Reply {
        let integration = integration(&request)?;
        self.social(&integration, request.into_inner()).await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn ingest_sms(&self, request: Request<IngestSmsRequest>) -> Reply {
        let integration = integration(&request)?;
        self.sms(&integration, request.into_inner()).await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn submit_web_form(&self, request: Request<SubmitWebFormRequest>) -> Reply {
        let integration = integration(&request)?;
        self.web_form(&integration, request.into_inner()).await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn start_chat(&self, request: Request<StartChatRequest>) -> Reply {
        let integration = integration(&request)?;
        self.chat_start(&integration, request.into_inner()).await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn send_chat_message(&self, request: Request<SendChatMessageRequest>) -> Reply {
        let integration = integration(&request)?;
        self.chat_send(&integration, request.into_inner()).await
    }

    type WatchChatStream = ChatStream;

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn watch_chat(
        &self,
        request: Request<WatchChatRequest>,
    ) -> Result<Response<ChatStream>, Status> {
        let integration = integration(&request)?;
        self.chat_watch(&integration, request.into_inner())
            .await
            .map(Response::new)
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn end_chat(&self, request: Request<EndChatRequest>) -> Reply {
        let integration = integration(&request)?;
        self.chat_end(&integration, request.into_inner()).await
    }
}
