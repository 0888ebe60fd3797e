//! Idempotency keys: a client's `request_id`, scoped to who sent it and for
//! which operation, and bound to what the request asked.
//!
//! A `request_id` is chosen by the client and often predictable
//! (`web-form-42`), so it must never find someone else's request: the key is
//! (tenant, principal, operation, request_id). The fingerprint is SHA-256 of
//! the *decoded* input (after validation and normalization, so `" Hi "` and
//! `"Hi"` are one request, and maps are ordered) in a versioned JSON form; a
//! retry must ask the same thing, or it gets ALREADY_EXISTS naming
//! `request_id`, which reveals nothing of the first request.

use serde::Serialize;
use sha2::{Digest, Sha256};
use switchboard_runtime::{Caller, Role};

use super::{NewTicket, channel_str, message::NewMessage, priority_str};

/// The operation of `CreateTicket` calls.
pub const CREATE_TICKET: &str = "CreateTicket";
/// The operation of `AddMessage` calls.
pub const ADD_MESSAGE: &str = "AddMessage";

/// A request's idempotency key, as stored beside what the request made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    /// Whose key it is: [`principal`] of the caller, or a channel's own
    /// principal for ids the channel provider assigned ([`channel_principal`]).
    pub principal: String,
    /// The RPC the key belongs to, e.g. [`CREATE_TICKET`].
    pub operation: String,
    /// The client's key.
    pub request_id: String,
    /// SHA-256 of the request's decoded input.
    pub fingerprint: [u8; 32],
}

impl IdempotencyKey {
    /// The key of `request_id`, if the request has one.
    pub fn new(
        principal: String,
        operation: &str,
        request_id: Option<&str>,
        fingerprint: [u8; 32],
    ) -> Option<Self> {
        Some(Self {
            principal,
            operation: operation.to_owned(),
            request_id: request_id?.to_owned(),
            fingerprint,
        })
    }
}

/// The principal a caller's keys belong to. The role kind is part of it: a
/// customer and a staff member never share keys, even with one `sub`.
pub fn principal(caller: &Caller) -> String {
    let kind = if caller.role == Role::Customer {
        "customer"
    } else {
        "staff"
    };
    format!("{kind}:{}", caller.user)
}

/// The principal of a channel's own message ids (`sms`, `social`, `email`):
/// the provider's id names the message whoever it seems to come from, so a
/// redelivery is recognised even if it is matched to another identity.
pub fn channel_principal(channel: &str) -> String {
    format!("channel:{channel}")
}

/// SHA-256 of `input`'s JSON form, tagged with `what` and a version.
pub fn fingerprint(what: &str, input: &impl Serialize) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(b"switchboard.idempotency.v1\0");
    hash.update(what.as_bytes());
    hash.update(b"\0");
    // Serializing plain structs, vectors and B-tree maps cannot fail.
    hash.update(serde_json::to_vec(input).unwrap_or_default());
    hash.finalize().into()
}

impl NewTicket {
    /// The fingerprint of what the caller asked for (before intake rules,
    /// SLA or the requester's profile, which the desk adds).
    pub fn fingerprint(&self) -> [u8; 32] {
        #[derive(Serialize)]
        struct Input<'a> {
            subject: &'a str,
            description: &'a str,
            channel: &'static str,
            priority: Option<&'static str>,
            identity: (&'static str, &'a str),
            display_name: &'a str,
            tags: &'a [String],
            custom_fields: &'a super::fields::CustomFields,
            attachments: &'a [super::message::Attachment],
        }
        fingerprint(
            CREATE_TICKET,
            &Input {
                subject: &self.subject,
                description: &self.description,
                channel: channel_str(self.channel),
                priority: self.explicit_priority.then(|| priority_str(self.priority)),
                identity: (self.identity.kind(), self.identity.value()),
                display_name: &self.display_name,
                tags: &self.tags,
                custom_fields: &self.custom_fields,
                attachments: &self.attachments,
            },
        )
    }
}

impl NewMessage {
    /// The fingerprint of what the caller asked for, the ticket included.
    pub fn fingerprint(&self) -> [u8; 32] {
        #[derive(Serialize)]
        struct Input<'a> {
            ticket: uuid::Uuid,
            body: &'a str,
            public: bool,
            channel: Option<&'static str>,
            attachments: &'a [super::message::Attachment],
            mentions: &'a [String],
            status: Option<&'static str>,
            expected_version: Option<i64>,
        }
        fingerprint(
            ADD_MESSAGE,
            &Input {
                ticket: self.ticket_id,
                body: &self.body,
                public: self.public,
                channel: self.channel.map(channel_str),
                attachments: &self.attachments,
                mentions: &self.mentions,
                status: self.status.map(|s| s.as_str()),
                expected_version: self.expected_version,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_proto::ticket::v1 as pb;
    use switchboard_runtime::TenantId;

    fn caller(user: &str, role: Role) -> Caller {
        Caller {
            tenant: TenantId::parse("acme").unwrap(),
            user: user.into(),
            role,
            via: switchboard_runtime::auth::Via::Person,
        }
    }

    fn create(subject: &str) -> pb::CreateTicketRequest {
        pb::CreateTicketRequest {
            request_id: "web-form-42".into(),
            subject: subject.into(),
            description: "It smokes".into(),
            ..Default::default()
        }
    }

    #[test]
    fn principals_separate_callers_and_roles() {
        let ann = principal(&caller("ann@example.com", Role::Customer));
        assert_eq!(ann, "customer:ann@example.com");
        assert_ne!(ann, principal(&caller("bob@example.com", Role::Customer)));
        assert_ne!(ann, principal(&caller("ann@example.com", Role::Agent)));
        assert_eq!(
            principal(&caller("x", Role::Admin)),
            principal(&caller("x", Role::Agent)),
            "one staff member keeps their keys across role changes"
        );
        assert_ne!(
            channel_principal("sms"),
            principal(&caller("sms", Role::Agent))
        );
    }

    #[test]
    fn equal_requests_share_a_fingerprint_and_different_ones_do_not() {
        let ann = caller("ann@example.com", Role::Customer);
        let a = NewTicket::from_request(&ann, create("Printer")).unwrap();
        let padded = NewTicket::from_request(&ann, create("  Printer ")).unwrap();
        assert_eq!(a.fingerprint(), padded.fingerprint(), "normalized first");
        let other = NewTicket::from_request(&ann, create("Scanner")).unwrap();
        assert_ne!(a.fingerprint(), other.fingerprint());
        let bob = caller("bob@example.com", Role::Customer);
        let bobs = NewTicket::from_request(&bob, create("Printer")).unwrap();
        assert_ne!(a.fingerprint(), bobs.fingerprint(), "the requester counts");
    }

    #[test]
    fn custom_field_order_does_not_change_the_fingerprint() {
        let agent = caller("agent-1", Role::Agent);
        let text = |t: &str| pb::FieldValue {
            kind: Some(pb::field_value::Kind::Text(t.into())),
        };
        let with = |keys: &[&str]| {
            let mut req = create("Form");
            req.requester = Some(pb::Requester {
                email: "ann@example.com".into(),
                ..Default::default()
            });
            for k in keys {
                req.custom_fields.insert((*k).to_owned(), text(k));
            }
            NewTicket::from_request(&agent, req).unwrap().fingerprint()
        };
        assert_eq!(with(&["a", "b", "c", "d"]), with(&["d", "c", "b", "a"]));
        assert_ne!(with(&["a", "b"]), with(&["a"]));
    }

    #[test]
    fn a_messages_fingerprint_covers_its_ticket_and_visibility() {
        let agent = caller("agent-1", Role::Agent);
        let req = |parent: uuid::Uuid, visibility: pb::Visibility| pb::AddMessageRequest {
            parent: format!("tickets/{parent}"),
            request_id: "note-1".into(),
            body: "hello".into(),
            visibility: visibility as i32,
            ..Default::default()
        };
        let (one, two) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
        let fp = |r| NewMessage::from_request(&agent, &r).unwrap().fingerprint();
        assert_eq!(
            fp(req(one, pb::Visibility::Public)),
            fp(req(one, pb::Visibility::Unspecified))
        );
        assert_ne!(
            fp(req(one, pb::Visibility::Public)),
            fp(req(two, pb::Visibility::Public))
        );
        assert_ne!(
            fp(req(one, pb::Visibility::Public)),
            fp(req(one, pb::Visibility::Internal))
        );
    }

    #[test]
    fn keys_exist_only_with_a_request_id() {
        assert_eq!(
            IdempotencyKey::new("p".into(), CREATE_TICKET, None, [0; 32]),
            None
        );
        let key = IdempotencyKey::new("p".into(), CREATE_TICKET, Some("r"), [1; 32]).unwrap();
        assert_eq!(
            (key.operation.as_str(), key.request_id.as_str()),
            (CREATE_TICKET, "r")
        );
    }
}
