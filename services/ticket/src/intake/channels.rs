//! Phone, social, SMS and web-form input: each normalized into a ticket or a
//! message on the ticket its conversation already has.

use switchboard_proto::{
    common::v1::Channel,
    ticket::v1::{
        IngestOutcome, IngestSmsRequest, IngestSocialRequest, LogCallRequest, Requester,
        SubmitWebFormRequest, Visibility,
    },
};
use switchboard_runtime::{Caller, Violations, to_status};
use tonic::Status;
use uuid::Uuid;

use super::{Inbound, IntakeApi, Reply, contact, customer, ticket_id};
use crate::domain::{self, Identity, MAX_DESCRIPTION_BYTES};

/// Namespace of the idempotency keys made from channel-side ids.
const EXTERNAL_IDS: Uuid = Uuid::from_u128(0x5b0a_7d1e_4c3f_4e1b_9a2d_6f80_1c7e_3d55);

/// A request id (at most 128 printable bytes) standing for a channel-side
/// id of any length.
fn external_request_id(kind: &str, id: &str) -> String {
    format!(
        "{kind}-{}",
        Uuid::new_v5(&EXTERNAL_IDS, format!("{kind}:{id}").as_bytes())
    )
}

/// A channel message's idempotency: its intake RPC, the request id made
/// from the provider's id, and that id's channel key.
struct Keyed {
    operation: &'static str,
    request_id: String,
    channel_key: Option<(String, [u8; 32])>,
}

fn text(field: &str, value: &str, v: &mut Violations) -> String {
    if value.trim().is_empty() || value.len() > MAX_DESCRIPTION_BYTES {
        v.add(
            field,
            format!("must be 1 to {MAX_DESCRIPTION_BYTES} bytes of text"),
        );
    }
    value.trim().to_owned()
}

fn invalid(v: Violations) -> Status {
    to_status(&v)
}

impl IntakeApi {
    pub(super) async fn call(&self, integration: &Caller, req: LogCallRequest) -> Reply {
        let mut v = Violations::default();
        let contact = req.contact.unwrap_or_default();
        let identities = contact::identities("contact", &contact, &mut v);
        contact::require(
            &identities,
            &["email", "phone"],
            "contact",
            "a phone number or email address",
            &mut v,
        );
        let body = contact::call_summary(
            req.direction,
            req.duration_seconds,
            req.outcome,
            &req.notes,
            &mut v,
        );
        if req.notes.len() > MAX_DESCRIPTION_BYTES {
            v.add(
                "notes",
                format!("must be at most {MAX_DESCRIPTION_BYTES} bytes"),
            );
        }
        let thread = match req.ticket.as_str() {
            "" => None,
            name => {
                let id = ticket_id(name);
                if id.is_none() {
                    v.add("ticket", "must be `tickets/{uuid}`");
                }
                id
            }
        };
        if thread.is_none() && req.subject.trim().is_empty() {
            v.add("subject", "is required to open a ticket");
        }
        if !v.0.is_empty() {
            return Err(invalid(v));
        }
        let principal = self.principal(integration, &identities).await?;
        // The requester field holds an email or phone; a social or chat
        // match is still linked below, through the ticket's requester.
        let reachable = if matches!(principal, Identity::Email(_) | Identity::Phone(_)) {
            principal
        } else {
            identities[0].clone()
        };
        // The agent on the call writes; the customer is the requester.
        let mut inbound = Inbound::new("LogCall", integration.clone(), Channel::Phone, body);
        inbound.thread = thread;
        inbound.reason = "the call continues the ticket";
        // A log, not a reply: nothing is sent to the customer about it.
        inbound.visibility = Visibility::Internal;
        inbound.request_id = req.request_id;
        inbound.subject = req.subject;
        inbound.requester = Requester {
            email: match &reachable {
                Identity::Email(e) => e.clone(),
                _ => String::new(),
            },
            phone: match &reachable {
                Identity::Phone(p) => p.clone(),
                _ => String::new(),
            },
            display_name: contact.display_name,
        };
        let response = self.deliver(integration, inbound).await?;
        if let Some(ticket) = &response.get_ref().ticket {
            self.link(integration, ticket, &identities).await;
        }
        Ok(response)
    }

    pub(super) async fn social(&self, integration: &Caller, req: IngestSocialRequest) -> Reply {
        let mut v = Violations::default();
        let author = req.author.unwrap_or_default();
        let identities = contact::identities("author", &author, &mut v);
        contact::require(
            &identities,
            &["social"],
            "author.social",
            "the author's handle",
            &mut v,
        );
        let network = contact::network(&req.network, &mut v);
        let thread_id = contact::external_id("thread_id", &req.thread_id, &mut v);
        let post_id = contact::external_id("post_id", &req.post_id, &mut v);
        let body = text("text", &req.text, &mut v);
        if req.url.len() > 2048 {
            v.add("url", "must be at most 2048 characters");
        }
        if !v.0.is_empty() {
            return Err(invalid(v));
        }
        let key = format!("social:{network}:{thread_id}");
        let body = match req.url.trim() {
            "" => body,
            url => format!("{body}\n\n{url}"),
        };
        let subject = format!(
            "{} from {} on {network}",
            if req.direct { "Message" } else { "Post" },
            author.social.trim()
        );
        let request_id = external_request_id("social", &format!("{network}:{post_id}"));
        let facts = (&network, &post_id, author.social.trim(), &body);
        self.conversation(
            integration,
            Channel::Social,
            &identities,
            &key,
            Keyed {
                operation: "IngestSocial",
                request_id,
                channel_key: super::channel_key("social", &facts),
            },
            subject,
            body,
            author.display_name,
        )
        .await
    }

    pub(super) async fn sms(&self, integration: &Caller, req: IngestSmsRequest) -> Reply {
        let mut v = Violations::default();
        let mut contact = req.contact.unwrap_or_default();
        contact.phone = req.from.clone();
        let identities = contact::identities("from", &contact, &mut v);
        let provider_id = contact::external_id("provider_id", &req.provider_id, &mut v);
        let body = text("text", &req.text, &mut v);
        if !v.0.is_empty() {
            return Err(invalid(v));
        }
        let key = format!("sms:{}", req.from.trim());
        let subject = format!("Text message from {}", req.from.trim());
        let request_id = external_request_id("sms", &provider_id);
        let facts = (req.from.trim(), &provider_id, &body);
        self.conversation(
            integration,
            Channel::Sms,
            &identities,
            &key,
            Keyed {
                operation: "IngestSms",
                request_id,
                channel_key: super::channel_key("sms", &facts),
            },
            subject,
            body,
            contact.display_name,
        )
        .await
    }

    /// A message of a channel conversation (`key`): on the conversation's
    /// ticket while it is there, else on a new one the key then points at.
    #[allow(clippy::too_many_arguments)]
    async fn conversation(
        &self,
        integration: &Caller,
        channel: Channel,
        identities: &[Identity],
        key: &str,
        keyed: Keyed,
        subject: String,
        body: String,
        display_name: String,
    ) -> Reply {
        let principal = self.principal(integration, identities).await?;
        let sender = customer(integration, &principal);
        let mut inbound = Inbound::new(keyed.operation, sender, channel, body);
        inbound.channel_key = keyed.channel_key;
        inbound.thread = self
            .store
            .find_thread(&integration.tenant, &[key.to_owned()])
            .await?
            .map(|t| t.ticket);
        inbound.fallback = true;
        inbound.reason = "continues the conversation's ticket";
        inbound.request_id = keyed.request_id;
        inbound.subject = subject;
        inbound.requester = Requester {
            display_name,
            ..Default::default()
        };
        let response = self.deliver(integration, inbound).await?;
        if let Some(ticket) = &response.get_ref().ticket {
            self.link(integration, ticket, identities).await;
            // Point the conversation at the ticket it is on now (a closed
            // one's follow-up, or a new one).
            if response.get_ref().outcome != IngestOutcome::Duplicate as i32
                && let Some(id) = ticket_id(&ticket.name)
            {
                self.store.point(&integration.tenant, key, id).await?;
            }
        }
        Ok(response)
    }

    pub(super) async fn web_form(&self, integration: &Caller, req: SubmitWebFormRequest) -> Reply {
        let mut v = Violations::default();
        let contact = req.contact.unwrap_or_default();
        let identities = contact::identities("contact", &contact, &mut v);
        contact::require(
            &identities,
            &["email", "phone"],
            "contact",
            "an email address or phone number",
            &mut v,
        );
        let fields = contact::form_fields(&req.fields, &mut v);
        let note = contact::self_service_note(req.self_service.as_ref(), &mut v);
        domain::request_id(&req.request_id, &mut v);
        if !v.0.is_empty() {
            return Err(invalid(v));
        }
        let principal = self.principal(integration, &identities).await?;
        let mut inbound = Inbound::new(
            "SubmitWebForm",
            customer(integration, &principal),
            Channel::WebForm,
            req.description,
        );
        inbound.request_id = req.request_id;
        inbound.subject = req.subject;
        inbound.custom_fields = fields;
        inbound.self_service = note;
        inbound.requester = Requester {
            display_name: contact.display_name,
            ..Default::default()
        };
        let response = self.deliver(integration, inbound).await?;
        if let Some(ticket) = &response.get_ref().ticket {
            self.link(integration, ticket, &identities).await;
        }
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_request_ids_are_stable_short_and_distinct() {
        let a = external_request_id("sms", "SM123");
        assert_eq!(a, external_request_id("sms", "SM123"));
        assert_ne!(a, external_request_id("social", "SM123"));
        assert_ne!(a, external_request_id("sms", "SM124"));
        let long = external_request_id("social", &"x".repeat(10_000));
        assert!(long.len() <= domain::MAX_REQUEST_ID_BYTES && long.is_ascii());
    }
}
