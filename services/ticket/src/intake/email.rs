//! Email in: parsed by `switchboard-mail`, threaded by Message-ID or the
//! subject's ticket token, de-duplicated by Message-ID, attachments kept in
//! the object store. Auto-replies and bounces change nothing.

use switchboard_mail::{InboundEmail, Kind, threading};
use switchboard_proto::ticket::v1::ticket_service_server::TicketService;
use switchboard_proto::{
    common::v1::Channel,
    ticket::v1::{Attachment, GetTicketRequest, IngestOutcome, IntakeResponse, Requester},
};
use switchboard_runtime::{Caller, FieldViolation, Violations, to_status};
use tonic::{Response, Status};
use uuid::Uuid;

use super::{Inbound, IntakeApi, Reply, as_sender, customer, ticket_id};
use crate::{
    attachments::safe_filename,
    domain::Identity,
    store::email::{MAX_MESSAGE_ID_LEN, Threaded},
};

/// Subject of an email that has none, since tickets need one.
const NO_SUBJECT: &str = "(no subject)";

impl IntakeApi {
    pub(super) async fn email(&self, integration: &Caller, raw: Vec<u8>) -> Reply {
        let email = switchboard_mail::parse(&raw, &self.limits)
            .map_err(|e| to_status(&Violations(vec![FieldViolation::new("raw", e.to_string())])))?;
        if email.kind != Kind::Normal {
            // Never a ticket, never a reply: this is what stops mail loops.
            metrics::counter!("email_ignored_total", "kind" => format!("{:?}", email.kind))
                .increment(1);
            tracing::info!(kind = ?email.kind, reason = %email.kind_reason, "email ignored");
            return Ok(Response::new(IntakeResponse {
                outcome: IngestOutcome::Ignored as i32,
                reason: email.kind_reason.clone(),
                ..Default::default()
            }));
        }
        let from = Identity::from_principal(&email.from.address).ok_or_else(|| {
            to_status(&Violations(vec![FieldViolation::new(
                "raw",
                format!("the From address `{}` is not usable", email.from.address),
            )]))
        })?;
        let sender = customer(integration, &from);
        if let Some(id) = usable_id(&email)
            && let Some(seen) = self
                .store
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
                    integration,
                ))
                .await?
                .into_inner();
            return Ok(Response::new(IntakeResponse {
                outcome: IngestOutcome::Duplicate as i32,
                customer: ticket.requester.clone(),
                ticket: Some(ticket),
                reason: format!("Message-ID {id} was ingested before"),
                ..Default::default()
            }));
        }
        let attachments = self.store_attachments(&sender, &email).await?;
        let mut body = if email.text.trim().is_empty() {
            email.full_text.clone()
        } else {
            email.text.clone()
        };
        if body.trim().is_empty() {
            body = if attachments.is_empty() {
                "(empty message)".into()
            } else {
                "(attachments only)".into()
            };
        }
        let mut inbound = Inbound::new("IngestEmail", sender.clone(), Channel::Email, body);
        if let Some((ticket, how)) = self.thread_of(&sender, &email).await? {
            inbound.thread = Some(ticket);
            inbound.reason = how;
            // Someone other than the requester replied (the ticket is not
            // theirs to see): their mail opens a ticket of its own.
            inbound.fallback = true;
        }
        inbound.request_id = usable_id(&email).unwrap_or_default().to_owned();
        // The Message-ID names the mail; its sender and text are what a
        // redelivery repeats (the attachments' keys are made anew each time).
        let facts = (
            &email.from.address,
            &inbound.request_id,
            &email.subject,
            &inbound.body,
        );
        inbound.channel_key = super::channel_key("email", &facts);
        inbound.subject = match email.subject.trim() {
            "" => NO_SUBJECT.to_owned(),
            s => s.chars().take(250).collect(),
        };
        inbound.attachments = attachments;
        inbound.requester = Requester {
            display_name: email.from.name.clone().unwrap_or_default(),
            ..Default::default()
        };
        let response = self.deliver(integration, inbound).await?;
        let reply = response.get_ref();
        // A reply to a closed ticket lands on its follow-up: remember that one.
        if let Some(ticket) = reply.ticket.as_ref().and_then(|t| ticket_id(&t.name)) {
            let message = reply.message.as_ref().map_or("", |m| m.name.as_str());
            self.remember(&sender, &email, ticket, message).await;
        }
        tracing::Span::current().record("outcome", reply.outcome);
        Ok(response)
    }

    /// Stores the attachments and returns their references.
    async fn store_attachments(
        &self,
        sender: &Caller,
        email: &InboundEmail,
    ) -> Result<Vec<Attachment>, Status> {
        let mut out = Vec::with_capacity(email.attachments.len());
        for a in &email.attachments {
            let key = format!(
                "{}/email/{}/{}",
                sender.tenant.as_str(),
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

    /// The ticket a reply continues: by Message-ID, then by subject token.
    async fn thread_of(
        &self,
        sender: &Caller,
        email: &InboundEmail,
    ) -> Result<Option<(Uuid, &'static str)>, Status> {
        let keys = threading::thread_keys(email);
        if let Some(t) = self.store.find_thread(&sender.tenant, &keys).await? {
            return Ok(Some((t.ticket, "threaded by In-Reply-To/References")));
        }
        // A reply to the desk's own mail names the ticket in the Message-ID
        // it answers. Its domain is not checked: a forged id only gets as
        // far as the ticket's requester check, like the subject token.
        for key in &keys {
            if let Some((number, _)) = threading::parse_outgoing_message_id(key)
                && let Ok(number) = i64::try_from(number)
                && let Some(ticket) = self.store.ticket_by_number(&sender.tenant, number).await?
            {
                return Ok(Some((
                    ticket,
                    "threaded by the desk's Message-ID it answers",
                )));
            }
        }
        if let Some(number) = email.ticket_token
            && let Ok(number) = i64::try_from(number)
            && let Some(ticket) = self.store.ticket_by_number(&sender.tenant, number).await?
        {
            return Ok(Some((ticket, "threaded by the subject's ticket token")));
        }
        Ok(None)
    }

    /// Records the email's Message-ID against its ticket. A failure only
    /// costs threading by Message-ID (the subject token still threads), so
    /// it is logged.
    async fn remember(&self, sender: &Caller, email: &InboundEmail, ticket: Uuid, message: &str) {
        let Some(id) = email.message_id.as_deref() else {
            return;
        };
        let message = message
            .rsplit('/')
            .next()
            .and_then(|m| Uuid::parse_str(m).ok());
        if let Err(e) = self
            .store
            .remember(&sender.tenant, id, Threaded { ticket, message })
            .await
        {
            tracing::warn!(error = %e, "could not remember the email's Message-ID");
        }
    }
}

/// Message-IDs longer than the index keeps cannot serve as idempotency keys.
fn usable_id(email: &InboundEmail) -> Option<&str> {
    email
        .message_id
        .as_deref()
        .filter(|id| !id.is_empty() && id.len() <= 128 && id.len() <= MAX_MESSAGE_ID_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_message_ids_are_idempotency_keys() {
        let mut email = switchboard_mail::parse(
            b"From: a@example.com\r\nSubject: x\r\nMessage-ID: <abc@example.com>\r\n\r\nhi\r\n",
            &switchboard_mail::Limits::default(),
        )
        .unwrap();
        assert_eq!(usable_id(&email), Some("abc@example.com"));
        email.message_id = Some(format!("{}@example.com", "x".repeat(200)));
        assert_eq!(usable_id(&email), None);
        email.message_id = None;
        assert_eq!(usable_id(&email), None);
    }
}
