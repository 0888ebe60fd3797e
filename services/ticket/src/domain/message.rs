//! Messages: public replies and internal notes, and what a valid new one is.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use switchboard_proto::{
    common::v1::{Actor, Channel},
    ticket::v1 as pb,
};
use switchboard_runtime::{Caller, Role, TenantId, Violations};
use uuid::Uuid;

use super::{MAX_DESCRIPTION_BYTES, Status, fields, parse_ticket_name, request_id, timestamp};

/// Most attachments on one message.
pub const MAX_ATTACHMENTS: usize = 20;
/// Most mentions in one message.
pub const MAX_MENTIONS: usize = 20;
/// Longest attachment file name, in characters.
pub const MAX_FILENAME_CHARS: usize = 255;
/// Longest attachment storage key.
pub const MAX_STORAGE_KEY_BYTES: usize = 512;
/// Longest MIME type.
pub const MAX_CONTENT_TYPE_BYTES: usize = 255;

/// A file referenced from a message; the bytes live in an object store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// File name as sent.
    pub filename: String,
    /// MIME type.
    pub content_type: String,
    /// Size in bytes.
    pub size_bytes: i64,
    /// Object store key.
    pub storage_key: String,
}

/// One entry in a ticket's conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// UUIDv7 id.
    pub id: Uuid,
    /// The ticket it belongs to.
    pub ticket_id: Uuid,
    /// Who wrote it.
    pub author: Actor,
    /// False for an internal note.
    pub public: bool,
    /// Text.
    pub body: String,
    /// Channel.
    pub channel: Channel,
    /// Attachments.
    pub attachments: Vec<Attachment>,
    /// Mentioned agents.
    pub mentions: Vec<String>,
    /// When it was added.
    pub created_at: DateTime<Utc>,
}

impl Message {
    /// `tickets/{t}/messages/{m}`.
    pub fn name(&self) -> String {
        format!("tickets/{}/messages/{}", self.ticket_id, self.id)
    }

    /// The wire form.
    pub fn to_proto(&self) -> pb::Message {
        let visibility = if self.public {
            pb::Visibility::Public
        } else {
            pb::Visibility::Internal
        };
        pb::Message {
            name: self.name(),
            author: Some(self.author.clone()),
            visibility: visibility as i32,
            body: self.body.clone(),
            channel: self.channel as i32,
            attachments: self
                .attachments
                .iter()
                .map(|a| pb::Attachment {
                    filename: a.filename.clone(),
                    content_type: a.content_type.clone(),
                    size_bytes: a.size_bytes,
                    storage_key: a.storage_key.clone(),
                })
                .collect(),
            mentions: self.mentions.clone(),
            create_time: Some(timestamp(self.created_at)),
        }
    }
}

/// A validated `AddMessage` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// The ticket.
    pub ticket_id: Uuid,
    /// Idempotency key.
    pub request_id: Option<String>,
    /// Text.
    pub body: String,
    /// False for an internal note.
    pub public: bool,
    /// `None` means the ticket's channel.
    pub channel: Option<Channel>,
    /// Attachments.
    pub attachments: Vec<Attachment>,
    /// Mentioned agents.
    pub mentions: Vec<String>,
    /// The status staff asked to leave the ticket in.
    pub status: Option<Status>,
    /// The version the caller saw, if they care.
    pub expected_version: Option<i64>,
}

impl NewMessage {
    /// Validates an `AddMessage` request from `caller`, collecting every violation.
    pub fn from_request(caller: &Caller, req: &pb::AddMessageRequest) -> Result<Self, Violations> {
        let mut v = Violations::default();
        let staff = caller.role != Role::Customer;
        let ticket_id = match parse_ticket_name(&req.parent) {
            Ok(id) => Some(id),
            Err(_) => {
                v.add("parent", "must be `tickets/{ticket_id}`");
                None
            }
        };
        let request_id = request_id(&req.request_id, &mut v);
        if req.body.trim().is_empty() {
            v.add("body", "must not be empty");
        } else if req.body.len() > MAX_DESCRIPTION_BYTES {
            v.add(
                "body",
                format!(
                    "must be at most {MAX_DESCRIPTION_BYTES} bytes, got {}",
                    req.body.len()
                ),
            );
        }
        let public = match pb::Visibility::try_from(req.visibility) {
            Ok(pb::Visibility::Unspecified | pb::Visibility::Public) => true,
            Ok(pb::Visibility::Internal) if staff => false,
            Ok(pb::Visibility::Internal) => {
                v.add("visibility", "customers can only post public replies");
                true
            }
            Err(_) => {
                v.add(
                    "visibility",
                    format!("unknown visibility {}", req.visibility),
                );
                true
            }
        };
        let channel = match Channel::try_from(req.channel) {
            Ok(Channel::Unspecified) => None,
            Ok(c) => Some(c),
            Err(_) => {
                v.add("channel", format!("unknown channel {}", req.channel));
                None
            }
        };
        let attachments = attachments(&req.attachments, &caller.tenant, &mut v);
        // Who may set mentions and status at all is the allow-list's call
        // (`super::allowed`); these are the values' rules.
        let mentions = fields::staff_ids("mentions", &req.mentions, MAX_MENTIONS, &mut v);
        let status = match req.status {
            0 => None,
            raw => Status::from_proto(raw).or_else(|| {
                v.add("status", format!("unknown status {raw}"));
                None
            }),
        };
        let expected_version = match req.expected_version {
            0 => None,
            n if n < 0 => {
                v.add("expected_version", "must be positive when set");
                None
            }
            n => Some(n),
        };
        v.into_result(Self {
            ticket_id: ticket_id.unwrap_or_default(),
            request_id,
            body: req.body.clone(),
            public,
            channel,
            attachments,
            mentions,
            status,
            expected_version,
        })
    }
}

/// Validates attachment references, reporting each bad field by index. A
/// key must name one of `tenant`'s objects ([`crate::attachments::belongs_to`]).
pub(crate) fn attachments(
    raw: &[pb::Attachment],
    tenant: &TenantId,
    v: &mut Violations,
) -> Vec<Attachment> {
    if raw.len() > MAX_ATTACHMENTS {
        v.add(
            "attachments",
            format!("at most {MAX_ATTACHMENTS}, got {}", raw.len()),
        );
        return Vec::new();
    }
    let mut out = Vec::with_capacity(raw.len());
    for (i, a) in raw.iter().enumerate() {
        let at = |f: &str| format!("attachments[{i}].{f}");
        let before = v.0.len();
        let name_chars = a.filename.chars().count();
        if name_chars == 0
            || name_chars > MAX_FILENAME_CHARS
            || a.filename.chars().any(char::is_control)
        {
            v.add(
                at("filename"),
                format!("1 to {MAX_FILENAME_CHARS} characters without control characters"),
            );
        }
        if a.content_type.is_empty()
            || a.content_type.len() > MAX_CONTENT_TYPE_BYTES
            || !a.content_type.contains('/')
        {
            v.add(at("content_type"), "a MIME type such as `image/png`");
        }
        if a.size_bytes < 0 {
            v.add(at("size_bytes"), "must not be negative");
        }
        if a.storage_key.is_empty() || a.storage_key.len() > MAX_STORAGE_KEY_BYTES {
            v.add(
                at("storage_key"),
                format!("1 to {MAX_STORAGE_KEY_BYTES} bytes"),
            );
        } else if !crate::attachments::belongs_to(&a.storage_key, tenant) {
            v.add(
                at("storage_key"),
                "must be a key of your tenant's attachment store (`{tenant}/…`)",
            );
        }
        if v.0.len() == before {
            out.push(Attachment {
                filename: a.filename.clone(),
                content_type: a.content_type.clone(),
                size_bytes: a.size_bytes,
                storage_key: a.storage_key.clone(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_runtime::TenantId;

    fn caller(role: Role) -> Caller {
        Caller {
            tenant: TenantId::parse("acme").unwrap(),
            user: "u@example.com".into(),
            role,
            via: switchboard_runtime::auth::Via::Person,
        }
    }

    fn request() -> pb::AddMessageRequest {
        pb::AddMessageRequest {
            parent: format!("tickets/{}", Uuid::now_v7()),
            body: "Have you tried turning it off and on again?".into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_plain_reply_is_public_on_the_tickets_channel() {
        let m = NewMessage::from_request(&caller(Role::Agent), &request()).unwrap();
        assert!(m.public);
        assert_eq!(m.channel, None);
        assert_eq!(m.status, None);
        assert_eq!(m.expected_version, None);
    }

    #[test]
    fn customers_cannot_post_notes() {
        let req = pb::AddMessageRequest {
            visibility: pb::Visibility::Internal as i32,
            status: pb::TicketStatus::Solved as i32,
            mentions: vec!["agent-1".into()],
            ..request()
        };
        let v = NewMessage::from_request(&caller(Role::Customer), &req).unwrap_err();
        assert!(v.has("visibility"), "{v:?}");
        let staff = NewMessage::from_request(&caller(Role::Agent), &req).unwrap();
        assert!(!staff.public);
        assert_eq!(staff.status, Some(Status::Solved));
        assert_eq!(staff.mentions, ["agent-1"]);
    }

    #[test]
    fn customers_are_never_mentioned() {
        let req = pb::AddMessageRequest {
            visibility: pb::Visibility::Internal as i32,
            mentions: vec!["agent-1".into(), "ann@example.com".into()],
            ..request()
        };
        let v = NewMessage::from_request(&caller(Role::Agent), &req).unwrap_err();
        assert_eq!(v.0.len(), 1, "{v}");
        assert!(v.has("mentions[1]"), "{v}");
    }

    #[test]
    fn attachments_must_be_the_tenants_objects() {
        let with_key = |key: &str| pb::AddMessageRequest {
            attachments: vec![pb::Attachment {
                filename: "a.pdf".into(),
                content_type: "application/pdf".into(),
                size_bytes: 1,
                storage_key: key.into(),
            }],
            ..request()
        };
        let agent = caller(Role::Agent);
        assert!(NewMessage::from_request(&agent, &with_key("acme/email/01/a.pdf")).is_ok());
        for key in [
            "globex/email/01/a.pdf",
            "acme",
            "acme/../globex/a.pdf",
            "/acme/a.pdf",
        ] {
            let v = NewMessage::from_request(&agent, &with_key(key)).unwrap_err();
            assert!(v.has("attachments[0].storage_key"), "{key}: {v}");
        }
    }

    #[test]
    fn bad_input_names_every_field() {
        let req = pb::AddMessageRequest {
            parent: "tickets/nope".into(),
            body: "x".repeat(MAX_DESCRIPTION_BYTES + 1),
            channel: 99,
            visibility: 7,
            status: 42,
            expected_version: -1,
            attachments: vec![pb::Attachment {
                filename: String::new(),
                content_type: "png".into(),
                size_bytes: -1,
                storage_key: String::new(),
            }],
            ..Default::default()
        };
        let v = NewMessage::from_request(&caller(Role::Agent), &req).unwrap_err();
        for field in [
            "parent",
            "body",
            "channel",
            "visibility",
            "status",
            "expected_version",
            "attachments[0].filename",
            "attachments[0].content_type",
            "attachments[0].size_bytes",
            "attachments[0].storage_key",
        ] {
            assert!(v.has(field), "{field} missing from {v:?}");
        }
        let empty = pb::AddMessageRequest {
            body: "  ".into(),
            ..request()
        };
        assert!(
            NewMessage::from_request(&caller(Role::Agent), &empty)
                .unwrap_err()
                .has("body")
        );
    }
}
