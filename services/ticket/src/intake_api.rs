//! `IntakeService`: raw channel input becomes tickets and messages. Email is
//! parsed by `switchboard-mail`; the ticket itself is made by the same
//! `TicketService` handlers a customer's own call reaches, acting as the
//! sender, so intake rules, SLA, identities and events apply unchanged.

use std::sync::Arc;

use switchboard_mail::{InboundEmail, Kind, Limits, threading};
use switchboard_proto::{
    common::v1::Channel,
    ticket::v1::{
        AddMessageRequest, Attachment, CreateTicketRequest, GetTicketRequest, IngestEmailRequest,
        IngestEmailResponse, IngestOutcome, Requester, Visibility,
        intake_service_server::IntakeService, ticket_service_server::TicketService,
    },
};
use switchboard_runtime::{Caller, Role, caller};
use tonic::{Code, Request, Response, Status};
use uuid::Uuid;

use crate::{
    TicketApi,
    attachments::{ObjectStore, safe_filename},
    store::email::{EmailThreads, MAX_MESSAGE_ID_LEN, Threaded},
};

/// Subject of an email that has none, since tickets need one.
const NO_SUBJECT: &str = "(no subject)";

/// The `IntakeService` implementation.
#[derive(Clone)]
pub struct IntakeApi {
    tickets: TicketApi,
    threads: Arc<dyn EmailThreads>,
    objects: Arc<dyn ObjectStore>,
    limits: Limits,
}

impl IntakeApi {
    /// Intake over the ticket handlers, the thread index and the object store.
    pub fn new(
        tickets: TicketApi,
        threads: Arc<dyn EmailThreads>,
        objects: Arc<dyn ObjectStore>,
    ) -> Self {
        Self {
            tickets,
            threads,
            objects,
            limits: Limits::default(),
        }
    }

    /// Stores the attachments and returns their references.
    async fn store_attachments(
        &self,
        tenant: &str,
        email: &InboundEmail,
    ) -> Result<Vec<Attachment>, Status> {
        let mut out = Vec::with_capacity(email.attachments.len());
        for a in &email.attachments {
            let key = format!(
                "{tenant}/email/{}/{}",
                Uuid::now_v7(),
                safe_filename(&a.filename)
            );
            self.objects.put(&key, &a.content).await.map_err(|e| {
                tracing::error!(error = %e, "attachment store failed");
                Status::unavailable("the attachment store is unavailable; retry the delivery")
            })?;
            out.push(Attachment {
                filename: a.filename.chars().take(255).collect(),
                content_type: a.content_type.clone(),
                size_bytes: a.content.len() as i64,
                storage_key: key,
            });
        }
        Ok(out)
    }

    /// The ticket a reply continues, if the sender may write to it.
    async fn thread_of(
        &self,
        sender: &Caller,
        email: &InboundEmail,
    ) -> Result<Option<(Uuid, &'static str)>, Status> {
        let keys = threading::thread_keys(email);
        if let Some(t) = self.threads.find_thread(&sender.tenant, &keys).await? {
            return Ok(Some((t.ticket, "threaded by In-Reply-To/References")));
        }
        if let Some(number) = email.ticket_token
            && let Ok(number) = i64::try_from(number)
            && let Some(ticket) = self
                .threads
                .ticket_by_number(&sender.tenant, number)
                .await?
        {
            return Ok(Some((ticket, "threaded by the subject's ticket token")));
        }
        Ok(None)
    }
}

/// Message-IDs longer than the index keeps cannot serve as idempotency keys.
fn usable_id(email: &InboundEmail) -> Option<&str> {
    email
        .message_id
        .as_deref()
        .filter(|id| !id.is_empty() && id.len() <= 128 && id.len() <= MAX_MESSAGE_ID_LEN)
}

fn as_sender<T>(message: T, sender: &Caller) -> Request<T> {
    let mut request = Request::new(message);
    request.extensions_mut().insert(sender.clone());
    request
}

#[tonic::async_trait]
impl IntakeService for IntakeApi {
    #[tracing::instrument(skip_all, fields(tenant, outcome))]
    async fn ingest_email(
        &self,
        request: Request<IngestEmailRequest>,
    ) -> Result<Response<IngestEmailResponse>, Status> {
        let integration = caller(&request)?.clone();
        if !integration.role.is_staff() {
            return Err(Status::permission_denied(
                "only a channel integration's staff token ingests email",
            ));
        }
        let raw = request.into_inner().raw;
        let email = switchboard_mail::parse(&raw, &self.limits).map_err(|e| {
            switchboard_runtime::to_status(&switchboard_runtime::Violations(vec![
                switchboard_runtime::FieldViolation::new("raw", e.to_string()),
            ]))
        })?;
        if email.kind != Kind::Normal {
            // Never a ticket, never a reply: this is what stops mail loops.
            metrics::counter!("email_ignored_total", "kind" => format!("{:?}", email.kind))
                .increment(1);
            tracing::info!(kind = ?email.kind, reason = %email.kind_reason, "email ignored");
            return Ok(Response::new(IngestEmailResponse {
                outcome: IngestOutcome::Ignored as i32,
                reason: email.kind_reason.clone(),
                ..Default::default()
            }));
        }
        let sender = Caller {
            tenant: integration.tenant.clone(),
            user: email.from.address.clone(),
            role: Role::Customer,
        };
        if let Some(id) = usable_id(&email)
            && let Some(seen) = self
                .threads
                .find_thread(&sender.tenant, &[id.to_owned()])
                .await?
            && seen.message.is_some()
        {
            let ticket = self
                .tickets
                .get_ticket(as_sender(
                    GetTicketRequest {
                        name: format!("tickets/{}", seen.ticket),
                    },
                    &integration,
                ))
                .await?
                .into_inner();
            return Ok(Response::new(IngestEmailResponse {
                outcome: IngestOutcome::Duplicate as i32,
                ticket: Some(ticket),
                reason: format!("Message-ID {id} was ingested before"),
                ..Default::default()
            }));
        }
        let attachments = self
            .store_attachments(sender.tenant.as_str(), &email)
            .await?;
        let body = if email.text.trim().is_empty() {
            email.full_text.clone()
        } else {
            email.text.clone()
        };
        let request_id = usable_id(&email).unwrap_or_default().to_owned();

        if let Some((ticket, how)) = self.thread_of(&sender, &email).await? {
            let added = self
                .tickets
                .add_message(as_sender(
                    AddMessageRequest {
                        parent: format!("tickets/{ticket}"),
                        request_id: request_id.clone(),
                        body: if body.trim().is_empty() {
                            "(empty message)".into()
                        } else {
                            body.clone()
                        },
                        visibility: Visibility::Public as i32,
                        channel: Channel::Email as i32,
                        attachments: attachments.clone(),
                        ..Default::default()
                    },
                    &sender,
                ))
                .await;
            match added {
                Ok(added) => {
                    let added = added.into_inner();
                    let message = added.message.clone().unwrap_or_default();
                    // A reply to a closed ticket lands on its follow-up.
                    let ticket_id = added
                        .ticket
                        .as_ref()
                        .and_then(|t| t.name.strip_prefix("tickets/"))
                        .and_then(|id| Uuid::parse_str(id).ok())
                        .unwrap_or(ticket);
                    remember(self, &sender, &email, ticket_id, &message.name).await;
                    tracing::Span::current().record("outcome", "appended");
                    return Ok(Response::new(IngestEmailResponse {
                        outcome: IngestOutcome::Appended as i32,
                        ticket: added.ticket,
                        message: added.message,
                        reason: how.into(),
                    }));
                }
                // Someone other than the requester replied (the ticket is
                // not theirs to see): their mail opens a ticket of its own.
                Err(e) if e.code() == Code::NotFound => {}
                Err(e) => return Err(e),
            }
        }

        let subject = match email.subject.trim() {
            "" => NO_SUBJECT.to_owned(),
            s => s.chars().take(250).collect(),
        };
        let ticket = self
            .tickets
            .create_ticket(as_sender(
                CreateTicketRequest {
                    request_id,
                    subject,
                    description: if body.trim().is_empty() && !attachments.is_empty() {
                        "(attachments only)".into()
                    } else {
                        body
                    },
                    channel: Channel::Email as i32,
                    attachments,
                    requester: Some(Requester {
                        email: email.from.address.clone(),
                        display_name: email.from.name.clone().unwrap_or_default(),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                &sender,
            ))
            .await?
            .into_inner();
        let ticket_id = ticket
            .name
            .strip_prefix("tickets/")
            .and_then(|id| Uuid::parse_str(id).ok())
            .ok_or_else(|| Status::internal("created ticket has no id"))?;
        let first = self
            .tickets
            .list_messages(as_sender(
                switchboard_proto::ticket::v1::ListMessagesRequest {
                    parent: ticket.name.clone(),
                    page_size: 1,
                    ..Default::default()
                },
                &integration,
            ))
            .await?
            .into_inner()
            .messages
            .into_iter()
            .next();
        let first_name = first.as_ref().map(|m| m.name.clone()).unwrap_or_default();
        remember(self, &sender, &email, ticket_id, &first_name).await;
        tracing::Span::current().record("outcome", "created");
        Ok(Response::new(IngestEmailResponse {
            outcome: IngestOutcome::Created as i32,
            ticket: Some(ticket),
            message: first,
            reason: "no known thread: a new ticket".into(),
        }))
    }
}

/// Records the email's Message-ID against its ticket. A failure only costs
/// threading by Message-ID (the subject token still threads), so it is logged.
async fn remember(
    api: &IntakeApi,
    sender: &Caller,
    email: &InboundEmail,
    ticket: Uuid,
    message_name: &str,
) {
    let Some(id) = email.message_id.as_deref() else {
        return;
    };
    let message = message_name
        .rsplit('/')
        .next()
        .and_then(|m| Uuid::parse_str(m).ok());
    if let Err(e) = api
        .threads
        .remember(&sender.tenant, id, Threaded { ticket, message })
        .await
    {
        tracing::warn!(error = %e, "could not remember the email's Message-ID");
    }
}
