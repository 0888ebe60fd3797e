//! Chat: a session is a ticket on the chat channel. The visitor writes with
//! unary calls and reads one server stream (browser-friendly over gRPC-Web,
//! where client streams are not available); agents answer with the ticket
//! API. The transcript is the ticket's public messages.

use std::collections::HashSet;

use switchboard_proto::{
    common::v1::Channel,
    ticket::v1::{
        AddMessageRequest, ChatEvent, EndChatRequest, GetTicketRequest, ListMessagesRequest,
        Requester, SendChatMessageRequest, StartChatRequest, Ticket as PbTicket, TicketStatus,
        Visibility, WatchChatRequest, chat_event::Kind, ticket_service_server::TicketService,
    },
};
use switchboard_runtime::{Caller, Violations, to_status};
use tonic::Status;

use super::{ChatStream, Inbound, IntakeApi, Reply, as_sender, contact, customer, ticket_id};
use crate::{
    domain::{Identity, MAX_DESCRIPTION_BYTES},
    watch::Audience,
};

/// Most transcript messages replayed when a watch starts; older ones are a
/// `ListMessages` away.
const MAX_REPLAY: usize = 1_000;

impl IntakeApi {
    pub(super) async fn chat_start(&self, integration: &Caller, req: StartChatRequest) -> Reply {
        let mut v = Violations::default();
        let visitor = req.visitor.unwrap_or_default();
        let identities = contact::identities("visitor", &visitor, &mut v);
        contact::require(
            &identities,
            &["chat"],
            "visitor.chat_visitor",
            "the visitor id",
            &mut v,
        );
        check_text(&req.text, &mut v);
        let note = contact::self_service_note(req.self_service.as_ref(), &mut v);
        if !v.0.is_empty() {
            return Err(to_status(&v));
        }
        let principal = self.principal(integration, &identities).await?;
        let mut inbound = Inbound::new(
            "StartChat",
            customer(integration, &principal),
            Channel::Chat,
            req.text.trim().to_owned(),
        );
        inbound.request_id = req.request_id;
        inbound.subject = match req.subject.trim() {
            "" => contact::subject_from(&req.text),
            s => s.to_owned(),
        };
        inbound.self_service = note;
        inbound.requester = Requester {
            display_name: visitor.display_name,
            ..Default::default()
        };
        let response = self.deliver(integration, inbound).await?;
        if let Some(ticket) = &response.get_ref().ticket {
            self.link(integration, ticket, &identities).await;
        }
        Ok(response)
    }

    pub(super) async fn chat_send(
        &self,
        integration: &Caller,
        req: SendChatMessageRequest,
    ) -> Reply {
        let mut v = Violations::default();
        check_text(&req.text, &mut v);
        let (visitor, ticket) = session(&req.chat_visitor, &req.ticket, &mut v);
        if !v.0.is_empty() {
            return Err(to_status(&v));
        }
        let mut inbound = Inbound::new(
            "SendChatMessage",
            customer(integration, &visitor),
            Channel::Chat,
            req.text.trim().to_owned(),
        );
        inbound.thread = ticket_id(&ticket);
        inbound.reason = "the visitor's chat";
        inbound.request_id = req.request_id;
        self.deliver(integration, inbound).await
    }

    pub(super) async fn chat_end(&self, integration: &Caller, req: EndChatRequest) -> Reply {
        let mut v = Violations::default();
        let (visitor, ticket) = session(&req.chat_visitor, &req.ticket, &mut v);
        if !v.0.is_empty() {
            return Err(to_status(&v));
        }
        // Only the chat's own visitor may end it.
        self.visitor_ticket(integration, &visitor, &ticket).await?;
        let added = self
            .tickets
            .add_message(as_sender(
                AddMessageRequest {
                    parent: ticket,
                    body: "The visitor ended the chat.".into(),
                    visibility: Visibility::Internal as i32,
                    channel: Channel::Chat as i32,
                    status: TicketStatus::Solved as i32,
                    ..Default::default()
                },
                integration,
            ))
            .await?
            .into_inner();
        Ok(tonic::Response::new(
            switchboard_proto::ticket::v1::IntakeResponse {
                outcome: switchboard_proto::ticket::v1::IngestOutcome::Appended as i32,
                customer: added
                    .ticket
                    .as_ref()
                    .map(|t| t.requester.clone())
                    .unwrap_or_default(),
                ticket: added.ticket,
                message: added.message,
                reason: "the chat ended".into(),
            },
        ))
    }

    pub(super) async fn chat_watch(
        &self,
        integration: &Caller,
        req: WatchChatRequest,
    ) -> Result<ChatStream, Status> {
        let mut v = Violations::default();
        let (visitor, name) = session(&req.chat_visitor, &req.ticket, &mut v);
        if !v.0.is_empty() {
            return Err(to_status(&v));
        }
        let ticket = self.visitor_ticket(integration, &visitor, &name).await?;
        let customer_id = ticket
            .requester
            .strip_prefix("customers/")
            .and_then(|id| uuid::Uuid::parse_str(id).ok())
            .ok_or_else(|| Status::internal("the chat's ticket has no requester"))?;
        let watcher = self
            .tickets
            .watcher()
            .ok_or_else(|| Status::unavailable("live updates are not available here"))?;
        // One website integration serves many visitors: each visitor's
        // streams count as their own caller's, all of them as the tenant's.
        let principal = format!("{}/chat/{}", integration.user, req.chat_visitor.trim());
        let (mut feed, out) = watcher.streams().open_as(
            &integration.tenant,
            &principal,
            "WatchChat",
            "watch the chat again; its transcript comes first",
        )?;
        // Subscribe before reading the transcript so nothing falls between.
        let mut live = watcher
            .events(
                &integration.tenant,
                Default::default(),
                Audience::Customer(customer_id),
            )
            .await?;
        let sender = customer(integration, &visitor);
        let transcript = self.transcript(&sender, &name).await?;

        let mut seen: HashSet<String> = transcript.iter().map(|m| m.name.clone()).collect();
        let mut assignee = ticket.assignee.clone();
        tokio::spawn(async move {
            // The transcript is read once, so it goes at the reader's pace.
            for message in transcript {
                if feed.send(event(Kind::Message(message))).await.is_err() {
                    return;
                }
            }
            if is_over(&ticket) {
                let _ = feed.send(event(Kind::Ended(ticket))).await;
                return;
            }
            loop {
                let change = tokio::select! {
                    biased;
                    () = feed.stopped() => return,
                    change = live.next() => match change {
                        Ok(change) => change,
                        Err(missed) => {
                            feed.missed(missed);
                            return;
                        }
                    },
                };
                let Some(ticket) = change.ticket.filter(|t| t.name == name) else {
                    continue;
                };
                let mut out = Vec::new();
                if let Some(message) = change.message
                    && seen.insert(message.name.clone())
                {
                    out.push(Kind::Message(message));
                }
                if !ticket.assignee.is_empty() && ticket.assignee != assignee {
                    assignee = ticket.assignee.clone();
                    out.push(Kind::AgentJoined(format!("agents/{assignee}")));
                }
                let over = is_over(&ticket);
                if over {
                    out.push(Kind::Ended(ticket));
                }
                // Live changes never wait on the visitor: one that falls a
                // buffer behind is cut off and watches again.
                for kind in out {
                    if feed.offer(event(kind)).is_err() {
                        return;
                    }
                }
                if over {
                    return;
                }
            }
        });
        Ok(Box::pin(out))
    }

    /// The chat's ticket, if `visitor` may see it (NOT_FOUND otherwise).
    async fn visitor_ticket(
        &self,
        integration: &Caller,
        visitor: &Identity,
        name: &str,
    ) -> Result<PbTicket, Status> {
        let ticket = self
            .tickets
            .get_ticket(as_sender(
                GetTicketRequest {
                    name: name.to_owned(),
                },
                &customer(integration, visitor),
            ))
            .await?
            .into_inner();
        Ok(ticket)
    }

    /// The public messages so far, oldest first, as the visitor sees them.
    async fn transcript(
        &self,
        visitor: &Caller,
        name: &str,
    ) -> Result<Vec<switchboard_proto::ticket::v1::Message>, Status> {
        let mut messages = Vec::new();
        let mut page_token = String::new();
        loop {
            let page = self
                .tickets
                .list_messages(as_sender(
                    ListMessagesRequest {
                        parent: name.to_owned(),
                        page_size: 200,
                        page_token,
                    },
                    visitor,
                ))
                .await?
                .into_inner();
            messages.extend(page.messages);
            if page.next_page_token.is_empty() || messages.len() >= MAX_REPLAY {
                break;
            }
            page_token = page.next_page_token;
        }
        messages.truncate(MAX_REPLAY);
        Ok(messages)
    }
}

fn event(kind: Kind) -> ChatEvent {
    ChatEvent { kind: Some(kind) }
}

fn is_over(ticket: &PbTicket) -> bool {
    ticket.status == TicketStatus::Solved as i32 || ticket.status == TicketStatus::Closed as i32
}

fn check_text(text: &str, v: &mut Violations) {
    if text.trim().is_empty() || text.len() > MAX_DESCRIPTION_BYTES {
        v.add(
            "text",
            format!("must be 1 to {MAX_DESCRIPTION_BYTES} bytes of text"),
        );
    }
}

/// The visitor and ticket a chat call names.
fn session(visitor: &str, ticket: &str, v: &mut Violations) -> (Identity, String) {
    let visitor =
        Identity::from_principal(&format!("chat:{}", visitor.trim())).unwrap_or_else(|| {
            v.add(
                "chat_visitor",
                "must be the visitor id the chat was started with (1 to 254 bytes, no spaces)",
            );
            Identity::ChatVisitor(String::new())
        });
    if ticket_id(ticket).is_none() {
        v.add(
            "ticket",
            "must be `tickets/{uuid}` as StartChat returned it",
        );
    }
    (visitor, ticket.to_owned())
}
