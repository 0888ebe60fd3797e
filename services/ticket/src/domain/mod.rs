//! Ticket rules, free of I/O: what a valid new ticket is, how a ticket may
//! change, and how tickets look on the wire and in events.

pub mod allowed;
pub mod change;
pub mod customer;
pub mod error;
pub mod fields;
pub mod idempotency;
pub mod intake;
pub mod lifecycle;
pub mod message;
pub mod privacy;
pub mod query;
pub mod sla;

use chrono::{DateTime, SubsecRound, Utc};
use switchboard_events::{EventBuilder, Payload};
use switchboard_proto::{
    common::v1::{Actor, Channel, Priority},
    events::v1::{Envelope, TicketCreated},
    ticket::v1 as pb,
};
use switchboard_runtime::{Caller, Role, TenantId, Violations};
use uuid::Uuid;

/// Longest subject, in characters.
pub const MAX_SUBJECT_CHARS: usize = 250;
/// Longest description, in bytes.
pub const MAX_DESCRIPTION_BYTES: usize = 64 * 1024;
/// Most tags on a ticket.
pub const MAX_TAGS: usize = 20;
/// Longest tag, in bytes.
pub const MAX_TAG_BYTES: usize = 64;
/// Longest display name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest idempotency key, in bytes.
pub const MAX_REQUEST_ID_BYTES: usize = 128;
/// Longest email address (RFC 5321 path limit).
pub const MAX_EMAIL_BYTES: usize = 254;

/// Where a ticket is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Just arrived, nobody has looked.
    New,
    /// Being worked on.
    Open,
    /// Waiting for the customer.
    Pending,
    /// Waiting for a third party.
    OnHold,
    /// Answered.
    Solved,
    /// Final.
    Closed,
}

impl Status {
    /// Storage text.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Open => "open",
            Status::Pending => "pending",
            Status::OnHold => "on_hold",
            Status::Solved => "solved",
            Status::Closed => "closed",
        }
    }

    /// Parses storage text.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "new" => Status::New,
            "open" => Status::Open,
            "pending" => Status::Pending,
            "on_hold" => Status::OnHold,
            "solved" => Status::Solved,
            "closed" => Status::Closed,
            _ => return None,
        })
    }

    /// Parses the wire enum; `None` for unspecified or unknown values.
    pub fn from_proto(raw: i32) -> Option<Self> {
        Some(match pb::TicketStatus::try_from(raw).ok()? {
            pb::TicketStatus::Unspecified => return None,
            pb::TicketStatus::New => Status::New,
            pb::TicketStatus::Open => Status::Open,
            pb::TicketStatus::Pending => Status::Pending,
            pb::TicketStatus::OnHold => Status::OnHold,
            pb::TicketStatus::Solved => Status::Solved,
            pb::TicketStatus::Closed => Status::Closed,
        })
    }

    /// The wire enum.
    pub fn to_proto(self) -> pb::TicketStatus {
        match self {
            Status::New => pb::TicketStatus::New,
            Status::Open => pb::TicketStatus::Open,
            Status::Pending => pb::TicketStatus::Pending,
            Status::OnHold => pb::TicketStatus::OnHold,
            Status::Solved => pb::TicketStatus::Solved,
            Status::Closed => pb::TicketStatus::Closed,
        }
    }
}

/// Storage text of a channel.
pub fn channel_str(c: Channel) -> &'static str {
    match c {
        Channel::Unspecified | Channel::Api => "api",
        Channel::Email => "email",
        Channel::Chat => "chat",
        Channel::Phone => "phone",
        Channel::Social => "social",
        Channel::Sms => "sms",
        Channel::WebForm => "web_form",
    }
}

/// Parses a channel's storage text.
pub fn parse_channel(s: &str) -> Option<Channel> {
    Some(match s {
        "api" => Channel::Api,
        "email" => Channel::Email,
        "chat" => Channel::Chat,
        "phone" => Channel::Phone,
        "social" => Channel::Social,
        "sms" => Channel::Sms,
        "web_form" => Channel::WebForm,
        _ => return None,
    })
}

/// Storage text of a priority.
pub fn priority_str(p: Priority) -> &'static str {
    match p {
        Priority::Low => "low",
        Priority::Unspecified | Priority::Normal => "normal",
        Priority::High => "high",
        Priority::Urgent => "urgent",
    }
}

/// Parses a priority's storage text.
pub fn parse_priority(s: &str) -> Option<Priority> {
    Some(match s {
        "low" => Priority::Low,
        "normal" => Priority::Normal,
        "high" => Priority::High,
        "urgent" => Priority::Urgent,
        _ => return None,
    })
}

/// How a requester is identified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// A lowercase email address.
    Email(String),
    /// An E.164 phone number.
    Phone(String),
    /// `<network>:<handle>`, lowercase.
    Social(String),
    /// A chat widget's visitor id.
    ChatVisitor(String),
}

impl Identity {
    /// Storage kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Identity::Email(_) => "email",
            Identity::Phone(_) => "phone",
            Identity::Social(_) => "social",
            Identity::ChatVisitor(_) => "chat",
        }
    }

    /// Storage value.
    pub fn value(&self) -> &str {
        match self {
            Identity::Email(v)
            | Identity::Phone(v)
            | Identity::Social(v)
            | Identity::ChatVisitor(v) => v,
        }
    }
}

/// Who created a ticket, as recorded on its first message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    /// `customer` or `agent`.
    pub kind: &'static str,
    /// The caller's user id.
    pub id: String,
}

/// A validated request to create a ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTicket {
    /// Idempotency key.
    pub request_id: Option<String>,
    /// Trimmed subject.
    pub subject: String,
    /// Description (first message).
    pub description: String,
    /// Intake channel.
    pub channel: Channel,
    /// Priority.
    pub priority: Priority,
    /// The requester's identity.
    pub identity: Identity,
    /// Requester's display name.
    pub display_name: String,
    /// Normalized tags.
    pub tags: Vec<String>,
    /// Who is creating it.
    pub author: Author,
    /// SLA clocks started for it (empty without a policy).
    pub sla: sla::TicketSla,
    /// The group intake rules put it in.
    pub group: Option<String>,
    /// The caller chose the priority; intake rules keep it.
    pub explicit_priority: bool,
    /// Tenant-defined fields given at creation.
    pub custom_fields: fields::CustomFields,
    /// The known requester's profile, looked up only for rules that test it.
    pub requester_profile: Option<RequesterProfile>,
    /// Files of the first message.
    pub attachments: Vec<message::Attachment>,
}

/// What intake rules may know about a known requester.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequesterProfile {
    /// Service tier.
    pub tier: String,
    /// Tags.
    pub tags: Vec<String>,
}

impl NewTicket {
    /// Validates a `CreateTicket` request from `caller`, collecting every
    /// violation.
    pub fn from_request(caller: &Caller, req: pb::CreateTicketRequest) -> Result<Self, Violations> {
        let mut v = Violations::default();

        let request_id = request_id(&req.request_id, &mut v);

        let subject = subject(&req.subject, &mut v);

        if req.description.len() > MAX_DESCRIPTION_BYTES {
            v.add(
                "description",
                format!("must be at most {MAX_DESCRIPTION_BYTES} bytes"),
            );
        }

        let channel = match Channel::try_from(req.channel) {
            Ok(Channel::Unspecified) => Channel::Api,
            Ok(c) => c,
            Err(_) => {
                v.add("channel", format!("unknown channel {}", req.channel));
                Channel::Api
            }
        };

        // Whether the caller may set it at all is the allow-list's call
        // (`allowed::create_ticket`).
        let priority = match Priority::try_from(req.priority) {
            Ok(Priority::Unspecified) => Priority::Normal,
            Ok(p) => p,
            Err(_) => {
                v.add("priority", format!("unknown priority {}", req.priority));
                Priority::Normal
            }
        };

        let requester = req.requester.unwrap_or_default();
        let display_name = requester.display_name.trim().to_owned();
        if display_name.chars().count() > MAX_NAME_CHARS {
            v.add(
                "requester.display_name",
                format!("must be at most {MAX_NAME_CHARS} characters"),
            );
        }
        let identity = if caller.role == Role::Customer {
            // A customer always files for themselves, whatever the body says.
            let identity = Identity::from_principal(&caller.user);
            if identity.is_none() {
                v.add(
                    "requester",
                    "a customer's token must carry their email address (or `phone:`, \
                     `social:` or `chat:` and that identity) as `sub`",
                );
            }
            identity
        } else {
            requester_identity(&requester, &mut v)
        };

        let tags = normalize_tags(&req.tags, &mut v);
        let custom_fields = fields::from_proto("custom_fields", &req.custom_fields, &mut v);
        let attachments = message::attachments(&req.attachments, &caller.tenant, &mut v);
        if !attachments.is_empty() && req.description.trim().is_empty() {
            v.add("attachments", "need a description to belong to");
        }
        let author = Author {
            kind: if caller.role == Role::Customer {
                "customer"
            } else {
                "agent"
            },
            id: caller.user.clone(),
        };

        let identity = match identity {
            Some(identity) => identity,
            None => return Err(v),
        };
        v.into_result(Self {
            request_id,
            subject,
            description: req.description,
            channel,
            priority,
            identity,
            display_name,
            tags,
            author,
            sla: Default::default(),
            group: None,
            explicit_priority: req.priority != Priority::Unspecified as i32,
            custom_fields,
            requester_profile: None,
            attachments,
        })
    }
}

fn requester_identity(requester: &pb::Requester, v: &mut Violations) -> Option<Identity> {
    let email = requester.email.trim();
    let phone = requester.phone.trim();
    if !email.is_empty() {
        match parse_email(email) {
            Ok(email) => return Some(Identity::Email(email)),
            Err(reason) => v.add("requester.email", reason),
        }
    } else if !phone.is_empty() {
        if is_e164(phone) {
            return Some(Identity::Phone(phone.to_owned()));
        }
        v.add(
            "requester.phone",
            "must be in E.164 form, e.g. +15551234567",
        );
    } else {
        v.add("requester", "an email address or phone number is required");
    }
    None
}

/// Checks and lowercases an email address.
pub fn parse_email(raw: &str) -> Result<String, String> {
    if raw.len() > MAX_EMAIL_BYTES {
        return Err(format!("must be at most {MAX_EMAIL_BYTES} bytes"));
    }
    let parsed: email_address::EmailAddress = raw
        .parse()
        .map_err(|e| format!("is not an email address ({e})"))?;
    // Display names (`Ann <ann@x>`) parse too; a requester is just the address.
    if parsed.email() != raw {
        return Err("must be a bare address without a display name".to_owned());
    }
    Ok(raw.to_lowercase())
}

/// Whether `s` is an E.164 phone number.
pub fn is_e164(s: &str) -> bool {
    let digits = s.strip_prefix('+').unwrap_or("");
    (7..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

/// Validates and trims a subject.
pub fn subject(raw: &str, v: &mut Violations) -> String {
    let subject = raw.trim().to_owned();
    if subject.is_empty() {
        v.add("subject", "must not be empty");
    } else if subject.chars().count() > MAX_SUBJECT_CHARS {
        v.add(
            "subject",
            format!("must be at most {MAX_SUBJECT_CHARS} characters"),
        );
    } else if subject.chars().any(char::is_control) {
        v.add("subject", "must not contain control characters");
    }
    subject
}

/// Validates, lowercases and de-duplicates tags.
pub fn normalize_tags(raw: &[String], v: &mut Violations) -> Vec<String> {
    if raw.len() > MAX_TAGS {
        v.add("tags", format!("at most {MAX_TAGS} tags"));
        return Vec::new();
    }
    let mut tags: Vec<String> = Vec::with_capacity(raw.len());
    for (i, tag) in raw.iter().enumerate() {
        let tag = tag.trim().to_lowercase();
        let ok = !tag.is_empty()
            && tag.len() <= MAX_TAG_BYTES
            && tag
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b':' | b'.'));
        if !ok {
            v.add(
                format!("tags[{i}]"),
                format!("must be 1-{MAX_TAG_BYTES} of a-z, 0-9, `-`, `_`, `:`, `.`"),
            );
        } else if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    tags
}

/// A ticket as the service holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    /// UUIDv7 id.
    pub id: Uuid,
    /// Owning tenant.
    pub tenant: TenantId,
    /// Number, counting per tenant.
    pub number: i64,
    /// Subject.
    pub subject: String,
    /// Description.
    pub description: String,
    /// Lifecycle state.
    pub status: Status,
    /// Priority.
    pub priority: Priority,
    /// Intake channel.
    pub channel: Channel,
    /// Requesting customer.
    pub requester_id: Uuid,
    /// Assigned agent.
    pub assignee: Option<String>,
    /// Group.
    pub group: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Optimistic concurrency version.
    pub version: i64,
    /// Creation time, UTC, microsecond precision (as stored).
    pub created_at: DateTime<Utc>,
    /// Last change, UTC.
    pub updated_at: DateTime<Utc>,
    /// Tenant-defined typed fields.
    pub custom_fields: fields::CustomFields,
    /// Agents following the ticket.
    pub followers: Vec<String>,
    /// The closed ticket this one follows up.
    pub follow_up_of: Option<Uuid>,
    /// First public agent reply.
    pub first_response_at: Option<DateTime<Utc>>,
    /// Last solve.
    pub solved_at: Option<DateTime<Utc>>,
    /// The requester's rating.
    pub satisfaction: Option<fields::Satisfaction>,
    /// The survivor this duplicate was merged into.
    pub merged_into: Option<Uuid>,
    /// Duplicates merged into this ticket.
    pub merged_from: Vec<Uuid>,
    /// SLA clocks.
    pub sla: sla::TicketSla,
    /// The requester's service tier when the ticket was opened; empty if none.
    pub requester_tier: String,
}

impl Ticket {
    /// A new ticket (version 1, status new) for `new`, created `now`; the
    /// number is assigned on insert.
    pub fn open(
        tenant: &TenantId,
        new: &NewTicket,
        requester_id: Uuid,
        now: DateTime<Utc>,
    ) -> Self {
        let now = now.trunc_subsecs(6);
        Self {
            id: Uuid::now_v7(),
            tenant: tenant.clone(),
            number: 0,
            subject: new.subject.clone(),
            description: new.description.clone(),
            status: Status::New,
            priority: new.priority,
            channel: new.channel,
            requester_id,
            assignee: None,
            group: new.group.clone(),
            tags: new.tags.clone(),
            version: 1,
            created_at: now,
            updated_at: now,
            custom_fields: new.custom_fields.clone(),
            followers: Vec::new(),
            follow_up_of: None,
            first_response_at: None,
            solved_at: None,
            satisfaction: None,
            merged_into: None,
            merged_from: Vec::new(),
            sla: new.sla.clone(),
            requester_tier: String::new(),
        }
    }

    /// The wire form.
    pub fn to_proto(&self) -> pb::Ticket {
        pb::Ticket {
            name: ticket_name(self.id),
            number: self.number,
            subject: self.subject.clone(),
            description: self.description.clone(),
            status: self.status.to_proto() as i32,
            priority: self.priority as i32,
            channel: self.channel as i32,
            requester: format!("customers/{}", self.requester_id),
            assignee: self.assignee.clone().unwrap_or_default(),
            group: self.group.clone().unwrap_or_default(),
            tags: self.tags.clone(),
            version: self.version,
            create_time: Some(timestamp(self.created_at)),
            update_time: Some(timestamp(self.updated_at)),
            custom_fields: fields::to_proto(&self.custom_fields),
            followers: self.followers.clone(),
            follow_up_of: self.follow_up_of.map(ticket_name).unwrap_or_default(),
            first_response_time: self.first_response_at.map(timestamp),
            solve_time: self.solved_at.map(timestamp),
            satisfaction: self
                .satisfaction
                .as_ref()
                .map(fields::Satisfaction::to_proto),
            merged_into: self.merged_into.map(ticket_name).unwrap_or_default(),
            merged_from: self.merged_from.iter().copied().map(ticket_name).collect(),
            sla: self.sla.to_proto(),
            requester_tier: self.requester_tier.clone(),
        }
    }

    /// The `ticket.created` event for this ticket, opened by `requester`.
    pub fn created_event(&self, actor: Actor, requester: &Identity) -> Envelope {
        EventBuilder::new(&self.tenant, "ticket", self.id.to_string(), self.version)
            .actor(actor)
            .build(
                "created",
                Payload::TicketCreated(TicketCreated {
                    ticket: Some(self.to_proto()),
                    requester_email: match requester {
                        Identity::Email(email) => email.clone(),
                        _ => String::new(),
                    },
                }),
            )
    }
}

/// `tickets/{id}`.
pub fn ticket_name(id: Uuid) -> String {
    format!("tickets/{id}")
}

/// Parses `tickets/{id}`.
pub fn parse_ticket_name(name: &str) -> Result<Uuid, Violations> {
    let mut v = Violations::default();
    match name.strip_prefix("tickets/").map(Uuid::parse_str) {
        Some(Ok(id)) => return Ok(id),
        _ if name.is_empty() => v.add("name", "is required, as `tickets/{ticket_id}`"),
        _ => v.add(
            "name",
            format!(
                "`{}` is not `tickets/{{uuid}}`",
                name.chars().take(100).collect::<String>()
            ),
        ),
    }
    Err(v)
}

/// Validates an optional idempotency key.
pub fn request_id(raw: &str, v: &mut Violations) -> Option<String> {
    match raw {
        "" => None,
        id if id.len() > MAX_REQUEST_ID_BYTES => {
            v.add(
                "request_id",
                format!("must be at most {MAX_REQUEST_ID_BYTES} bytes"),
            );
            None
        }
        id if !id.bytes().all(|b| b.is_ascii_graphic()) => {
            v.add("request_id", "must be printable ASCII without spaces");
            None
        }
        id => Some(id.to_owned()),
    }
}

/// The wire form of a time.
pub fn timestamp(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent() -> Caller {
        Caller {
            tenant: TenantId::parse("acme").unwrap(),
            user: "agent-7".into(),
            role: Role::Agent,
            via: switchboard_runtime::auth::Via::Person,
        }
    }

    fn customer(email: &str) -> Caller {
        Caller {
            tenant: TenantId::parse("acme").unwrap(),
            user: email.into(),
            role: Role::Customer,
            via: switchboard_runtime::auth::Via::Person,
        }
    }

    fn request() -> pb::CreateTicketRequest {
        pb::CreateTicketRequest {
            subject: "  Printer on fire ".into(),
            description: "It is on fire.".into(),
            requester: Some(pb::Requester {
                email: "Ann@Example.com".into(),
                ..Default::default()
            }),
            tags: vec!["Hardware".into(), "hardware".into(), "urgent-ish".into()],
            ..Default::default()
        }
    }

    #[test]
    fn a_valid_request_is_normalized() {
        let t = NewTicket::from_request(&agent(), request()).unwrap();
        assert_eq!(t.subject, "Printer on fire");
        assert_eq!(t.identity, Identity::Email("ann@example.com".into()));
        assert_eq!(t.tags, ["hardware", "urgent-ish"]);
        assert_eq!(t.channel, Channel::Api);
        assert_eq!(t.priority, Priority::Normal);
        assert_eq!(t.author.kind, "agent");
    }

    #[test]
    fn every_violation_is_reported_at_once() {
        let req = pb::CreateTicketRequest {
            subject: " ".into(),
            description: "x".repeat(MAX_DESCRIPTION_BYTES + 1),
            channel: 99,
            priority: 42,
            requester: Some(pb::Requester {
                email: "not-an-email".into(),
                ..Default::default()
            }),
            tags: vec!["ok".into(), "no spaces".into()],
            request_id: "a b".into(),
            custom_fields: [(
                "Bad Key".to_owned(),
                pb::FieldValue {
                    kind: Some(pb::field_value::Kind::Integer(1)),
                },
            )]
            .into(),
            attachments: Vec::new(),
        };
        let v = NewTicket::from_request(&agent(), req).unwrap_err();
        for field in [
            "subject",
            "description",
            "channel",
            "priority",
            "requester.email",
            "tags[1]",
            "custom_fields.Bad Key",
            "request_id",
        ] {
            assert!(v.has(field), "{field} not reported: {v}");
        }
    }

    #[test]
    fn subject_bounds() {
        let mut req = request();
        req.subject = "é".repeat(MAX_SUBJECT_CHARS);
        assert!(NewTicket::from_request(&agent(), req.clone()).is_ok());
        req.subject.push('é');
        assert!(
            NewTicket::from_request(&agent(), req.clone())
                .unwrap_err()
                .has("subject")
        );
        req.subject = "line\nbreak".into();
        assert!(
            NewTicket::from_request(&agent(), req)
                .unwrap_err()
                .has("subject")
        );
    }

    #[test]
    fn staff_must_name_a_requester() {
        let mut req = request();
        req.requester = None;
        assert!(
            NewTicket::from_request(&agent(), req.clone())
                .unwrap_err()
                .has("requester")
        );
        req.requester = Some(pb::Requester {
            phone: "+15551234567".into(),
            ..Default::default()
        });
        let t = NewTicket::from_request(&agent(), req.clone()).unwrap();
        assert_eq!(t.identity, Identity::Phone("+15551234567".into()));
        req.requester = Some(pb::Requester {
            phone: "555-1234".into(),
            ..Default::default()
        });
        assert!(
            NewTicket::from_request(&agent(), req)
                .unwrap_err()
                .has("requester.phone")
        );
    }

    #[test]
    fn customers_file_for_themselves() {
        let req = request();
        let t = NewTicket::from_request(&customer("bob@example.org"), req.clone()).unwrap();
        assert_eq!(t.identity, Identity::Email("bob@example.org".into()));
        assert_eq!(t.author.kind, "customer");
        assert!(
            NewTicket::from_request(&customer("not-email"), request())
                .unwrap_err()
                .has("requester")
        );
    }

    #[test]
    fn emails_with_display_names_or_too_long_are_refused() {
        assert!(parse_email("Ann <ann@example.com>").is_err());
        assert!(parse_email(&format!("{}@example.com", "a".repeat(250))).is_err());
        assert_eq!(parse_email("A@B.io").unwrap(), "a@b.io");
    }

    #[test]
    fn names_parse_only_as_tickets_uuid() {
        let id = Uuid::now_v7();
        assert_eq!(parse_ticket_name(&ticket_name(id)).unwrap(), id);
        assert!(parse_ticket_name("").unwrap_err().has("name"));
        assert!(parse_ticket_name("tickets/42").unwrap_err().has("name"));
        assert!(
            parse_ticket_name(&format!("customers/{id}"))
                .unwrap_err()
                .has("name")
        );
    }

    #[test]
    fn created_events_carry_the_ticket_and_the_requesters_email() {
        let caller = agent();
        let new = NewTicket::from_request(&caller, request()).unwrap();
        let t = Ticket::open(&caller.tenant, &new, Uuid::now_v7(), Utc::now());
        let by_phone = t.created_event(caller.to_actor(), &Identity::Phone("+4930123456".into()));
        match by_phone.payload {
            Some(Payload::TicketCreated(c)) => assert_eq!(c.requester_email, ""),
            other => panic!("wrong payload {other:?}"),
        }
        let e = t.created_event(caller.to_actor(), &new.identity);
        assert_eq!(e.r#type, "ticket.created");
        assert_eq!(e.aggregate_id, t.id.to_string());
        assert_eq!(e.aggregate_version, 1);
        assert_eq!(e.tenant_id, "acme");
        match e.payload {
            Some(Payload::TicketCreated(c)) => {
                assert_eq!(c.ticket.unwrap(), t.to_proto());
                assert_eq!(c.requester_email, "ann@example.com", "normalized");
            }
            other => panic!("wrong payload {other:?}"),
        }
    }

    #[test]
    fn storage_text_round_trips() {
        for s in [
            Status::New,
            Status::Open,
            Status::Pending,
            Status::OnHold,
            Status::Solved,
            Status::Closed,
        ] {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        for c in [
            Channel::Api,
            Channel::Email,
            Channel::Chat,
            Channel::Phone,
            Channel::Social,
            Channel::Sms,
            Channel::WebForm,
        ] {
            assert_eq!(parse_channel(channel_str(c)), Some(c));
        }
        for p in [
            Priority::Low,
            Priority::Normal,
            Priority::High,
            Priority::Urgent,
        ] {
            assert_eq!(parse_priority(priority_str(p)), Some(p));
        }
    }
}
