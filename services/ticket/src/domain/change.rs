//! Every change to an existing ticket, as plain functions from the ticket as
//! stored to a [`Change`]: the ticket after, the audit entries, the message
//! added, and the facts to announce. The store writes a `Change` atomically;
//! nothing here does I/O, so every rule is unit-tested.

use chrono::{DateTime, SubsecRound, Utc};
use switchboard_events::{EventBuilder, Payload};
use switchboard_proto::{
    common::v1::{Actor, Priority},
    events::v1::{
        Envelope, MessageAdded, SatisfactionSubmitted, TicketAssigned, TicketCreated, TicketMerged,
        TicketStatusChanged, TicketUpdated,
    },
    ticket::v1 as pb,
};
use switchboard_runtime::{Caller, Role, Violations};
use uuid::Uuid;

use super::{
    Status, Ticket,
    customer::customer_name,
    error::{RuleError, check_version},
    fields::{self, CustomFields, MAX_FOLLOWERS, Satisfaction},
    lifecycle::{MessageEffect, Writer, after_message, check_move},
    message::{Message, NewMessage},
    normalize_tags, parse_ticket_name, priority_str, subject,
};

/// One field's change, for the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    /// Field name as in the `Ticket` message.
    pub field: &'static str,
    /// Old value as text.
    pub old: String,
    /// New value as text.
    pub new: String,
}

/// Something that happened, announced as an event once the change commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fact {
    /// The follow-up ticket was created.
    Created,
    /// These fields changed.
    Updated(Vec<&'static str>),
    /// The status moved.
    StatusChanged {
        /// Before.
        from: Status,
        /// After.
        to: Status,
    },
    /// Assignee or group changed.
    Assigned {
        /// Previous assignee.
        previous_assignee: Option<String>,
        /// Previous group.
        previous_group: Option<String>,
    },
    /// The change's message was added.
    MessageAdded,
    /// The requester rated the ticket.
    SatisfactionSubmitted,
    /// A duplicate was merged: both tickets after the merge (source, target).
    Merged(Box<(Ticket, Ticket)>),
    /// A customer's personal data was erased from the ticket: these fields
    /// changed, and its messages were redacted.
    Erased {
        /// The fields whose values changed.
        fields: Vec<&'static str>,
        /// The erased customer.
        customer: Uuid,
    },
}

/// A ticket change, ready to be stored and announced.
#[derive(Debug, Clone)]
pub struct Change {
    /// The version the ticket was at.
    pub before_version: i64,
    /// The ticket after the change.
    pub ticket: Ticket,
    /// A follow-up ticket to create (when a closed ticket got a message).
    pub follow_up: Option<Ticket>,
    /// The message added, if any (on the follow-up when there is one).
    pub message: Option<Message>,
    /// Audit entries, on `ticket`.
    pub audit: Vec<FieldChange>,
    /// What to announce.
    pub facts: Vec<Fact>,
    /// Who changed it.
    pub actor: Actor,
    /// When.
    pub at: DateTime<Utc>,
}

impl Change {
    fn start(ticket: &Ticket, actor: Actor, now: DateTime<Utc>) -> Self {
        Self {
            before_version: ticket.version,
            ticket: ticket.clone(),
            follow_up: None,
            message: None,
            audit: Vec::new(),
            facts: Vec::new(),
            actor,
            at: now.trunc_subsecs(6),
        }
    }

    /// Whether nothing changed (the store then writes nothing).
    pub fn is_noop(&self) -> bool {
        self.ticket.version == self.before_version && self.follow_up.is_none()
    }

    fn record(&mut self, field: &'static str, old: String, new: String) {
        if old != new {
            self.audit.push(FieldChange { field, old, new });
        }
    }

    /// Bumps the version once when anything changed.
    fn finish(mut self) -> Self {
        let changed = !self.audit.is_empty() || self.message.is_some() || !self.facts.is_empty();
        if changed && self.follow_up.is_none() {
            self.ticket.version += 1;
            self.ticket.updated_at = self.at;
        }
        self
    }

    /// The ticket the events are about: the follow-up when there is one.
    pub fn subject(&self) -> &Ticket {
        self.follow_up.as_ref().unwrap_or(&self.ticket)
    }

    /// The events to publish, built from the final state (so a follow-up's
    /// number, assigned on insert, is in them).
    pub fn envelopes(&self) -> Vec<Envelope> {
        let ticket = self.subject();
        let proto = ticket.to_proto();
        let builder = EventBuilder::new(
            &ticket.tenant,
            "ticket",
            ticket.id.to_string(),
            ticket.version,
        )
        .actor(self.actor.clone());
        self.facts
            .iter()
            .map(|fact| match fact {
                Fact::Created => builder.build(
                    "created",
                    Payload::TicketCreated(TicketCreated {
                        ticket: Some(proto.clone()),
                        // Tickets are opened by `Ticket::created_event`,
                        // which knows the requester's identity; a change does not.
                        requester_email: String::new(),
                    }),
                ),
                Fact::Updated(fields) => builder.build(
                    "updated",
                    Payload::TicketUpdated(TicketUpdated {
                        ticket: Some(proto.clone()),
                        changed_fields: fields.iter().map(|f| (*f).to_owned()).collect(),
                        erased_customer: String::new(),
                    }),
                ),
                Fact::Erased { fields, customer } => builder.build(
                    "updated",
                    Payload::TicketUpdated(TicketUpdated {
                        ticket: Some(proto.clone()),
                        changed_fields: fields.iter().map(|f| (*f).to_owned()).collect(),
                        erased_customer: customer_name(*customer),
                    }),
                ),
                Fact::StatusChanged { from, to } => builder.build(
                    "status_changed",
                    Payload::TicketStatusChanged(TicketStatusChanged {
                        ticket: Some(proto.clone()),
                        from: from.to_proto() as i32,
                        to: to.to_proto() as i32,
                    }),
                ),
                Fact::Assigned {
                    previous_assignee,
                    previous_group,
                } => builder.build(
                    "assigned",
                    Payload::TicketAssigned(TicketAssigned {
                        ticket: Some(proto.clone()),
                        previous_assignee: previous_assignee.clone().unwrap_or_default(),
                        previous_group: previous_group.clone().unwrap_or_default(),
                    }),
                ),
                Fact::MessageAdded => builder.build_as(
                    "message",
                    "added",
                    Payload::MessageAdded(MessageAdded {
                        ticket: Some(proto.clone()),
                        message: self.message.as_ref().map(Message::to_proto),
                    }),
                ),
                Fact::Merged(pair) => builder.build(
                    "merged",
                    Payload::TicketMerged(TicketMerged {
                        source: Some(pair.0.to_proto()),
                        target: Some(pair.1.to_proto()),
                    }),
                ),
                Fact::SatisfactionSubmitted => builder.build_as(
                    "satisfaction",
                    "submitted",
                    Payload::SatisfactionSubmitted(SatisfactionSubmitted {
                        ticket: Some(proto.clone()),
                        satisfaction: ticket.satisfaction.as_ref().map(Satisfaction::to_proto),
                    }),
                ),
            })
            .collect()
    }
}

fn opt(s: &Option<String>) -> String {
    s.clone().unwrap_or_default()
}

/// Moves `change.ticket` to `to`, keeping solve time and audit in step.
fn set_status(change: &mut Change, to: Status) -> Result<(), RuleError> {
    let from = change.ticket.status;
    check_move(from, to)?;
    if from == to {
        return Ok(());
    }
    change.ticket.status = to;
    change.ticket.solved_at = match to {
        Status::Solved => Some(change.at),
        Status::Closed => change.ticket.solved_at,
        _ => None,
    };
    change.record("status", from.as_str().to_owned(), to.as_str().to_owned());
    change.facts.push(Fact::StatusChanged { from, to });
    Ok(())
}

fn staff_only(caller: &Caller, what: &str) -> Result<(), RuleError> {
    if caller.role == Role::Customer {
        Err(RuleError::Forbidden(format!("customers cannot {what}")))
    } else {
        Ok(())
    }
}

/// The fields `UpdateTicket` may change.
pub const UPDATABLE: [&str; 6] = [
    "subject",
    "priority",
    "status",
    "tags",
    "custom_fields",
    "followers",
];

/// A validated `UpdateTicket` request: `None` leaves a field alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TicketUpdate {
    /// The ticket.
    pub id: Uuid,
    /// Required version.
    pub expected_version: i64,
    /// New subject.
    pub subject: Option<String>,
    /// New priority.
    pub priority: Option<Priority>,
    /// New status.
    pub status: Option<Status>,
    /// New tags (replacing).
    pub tags: Option<Vec<String>>,
    /// New custom fields (replacing).
    pub custom_fields: Option<CustomFields>,
    /// New followers (replacing).
    pub followers: Option<Vec<String>>,
}

impl TicketUpdate {
    /// Validates an `UpdateTicket` request, collecting every violation.
    pub fn from_request(req: &pb::UpdateTicketRequest) -> Result<Self, Violations> {
        let mut v = Violations::default();
        let Some(t) = &req.ticket else {
            v.add("ticket", "is required, with `name` and the new values");
            return Err(v);
        };
        let id = parse_ticket_name(&t.name).map_err(|_| {
            let mut v = Violations::default();
            v.add("ticket.name", "must be `tickets/{ticket_id}`");
            v
        })?;
        let mut update = TicketUpdate {
            id,
            expected_version: req.expected_version,
            ..Default::default()
        };
        if req.expected_version <= 0 {
            v.add("expected_version", "is required: the version you last read");
        }
        let paths = req
            .update_mask
            .as_ref()
            .map(|m| m.paths.as_slice())
            .unwrap_or_default();
        if paths.is_empty() {
            v.add(
                "update_mask",
                format!("name at least one of {}", UPDATABLE.join(", ")),
            );
        }
        let mut field_errors = Violations::default();
        for path in paths {
            match path.as_str() {
                "subject" => update.subject = Some(subject(&t.subject, &mut field_errors)),
                "priority" => match Priority::try_from(t.priority) {
                    Ok(Priority::Unspecified) | Err(_) => v.add(
                        "ticket.priority",
                        format!("unknown priority {}", t.priority),
                    ),
                    Ok(p) => update.priority = Some(p),
                },
                "status" => match Status::from_proto(t.status) {
                    Some(s) => update.status = Some(s),
                    None => v.add("ticket.status", format!("unknown status {}", t.status)),
                },
                "tags" => update.tags = Some(normalize_tags(&t.tags, &mut field_errors)),
                "custom_fields" => {
                    update.custom_fields = Some(fields::from_proto(
                        "custom_fields",
                        &t.custom_fields,
                        &mut field_errors,
                    ))
                }
                "followers" => {
                    update.followers = Some(fields::staff_ids(
                        "followers",
                        &t.followers,
                        MAX_FOLLOWERS,
                        &mut field_errors,
                    ))
                }
                other => v.add(
                    "update_mask",
                    format!(
                        "`{}` cannot be updated here (updatable: {})",
                        other.chars().take(64).collect::<String>(),
                        UPDATABLE.join(", ")
                    ),
                ),
            }
        }
        for violation in field_errors.0 {
            v.add(format!("ticket.{}", violation.field), violation.description);
        }
        v.into_result(update)
    }
}

/// Applies an `UpdateTicket` by `caller` (staff only).
pub fn update(
    ticket: &Ticket,
    caller: &Caller,
    u: &TicketUpdate,
    now: DateTime<Utc>,
) -> Result<Change, RuleError> {
    staff_only(caller, "update tickets")?;
    check_version(u.expected_version, ticket.version)?;
    let mut c = Change::start(ticket, caller.to_actor(), now);
    if let Some(subject) = &u.subject {
        c.record("subject", ticket.subject.clone(), subject.clone());
        c.ticket.subject = subject.clone();
    }
    if let Some(p) = u.priority {
        c.record(
            "priority",
            priority_str(ticket.priority).into(),
            priority_str(p).into(),
        );
        c.ticket.priority = p;
    }
    if let Some(tags) = &u.tags {
        c.record("tags", ticket.tags.join(","), tags.join(","));
        c.ticket.tags = tags.clone();
    }
    if let Some(custom) = &u.custom_fields {
        let keys: std::collections::BTreeSet<&String> =
            ticket.custom_fields.keys().chain(custom.keys()).collect();
        for key in keys {
            let old = ticket
                .custom_fields
                .get(key)
                .map(|f| f.display())
                .unwrap_or_default();
            let new = custom.get(key).map(|f| f.display()).unwrap_or_default();
            c.record(
                "custom_fields",
                format!("{key}={old}"),
                format!("{key}={new}"),
            );
        }
        c.ticket.custom_fields = custom.clone();
    }
    if let Some(followers) = &u.followers {
        c.record("followers", ticket.followers.join(","), followers.join(","));
        c.ticket.followers = followers.clone();
    }
    if let Some(status) = u.status {
        set_status(&mut c, status)?;
    }
    let mut changed: Vec<&'static str> = c.audit.iter().map(|a| a.field).collect();
    changed.dedup();
    if !changed.is_empty() {
        c.facts.insert(0, Fact::Updated(changed));
    }
    Ok(c.finish())
}

/// Assigns the ticket to `assignee` (None unassigns) and, when given, `group`.
///
/// An assignment to a new ticket opens it: someone now owns it.
pub fn assign(
    ticket: &Ticket,
    caller: &Caller,
    assignee: Option<String>,
    group: Option<String>,
    expected_version: i64,
    now: DateTime<Utc>,
) -> Result<Change, RuleError> {
    staff_only(caller, "assign tickets")?;
    check_version(expected_version, ticket.version)?;
    if matches!(ticket.status, Status::Solved | Status::Closed) && assignee != ticket.assignee {
        return Err(RuleError::Precondition(format!(
            "a {} ticket cannot be reassigned; reopen it first",
            ticket.status.as_str()
        )));
    }
    let mut c = Change::start(ticket, caller.to_actor(), now);
    let group = group.or_else(|| ticket.group.clone());
    c.record("assignee", opt(&ticket.assignee), opt(&assignee));
    c.record("group", opt(&ticket.group), opt(&group));
    if c.audit.is_empty() {
        return Ok(c);
    }
    c.ticket.assignee = assignee;
    c.ticket.group = group;
    c.facts.push(Fact::Assigned {
        previous_assignee: ticket.assignee.clone(),
        previous_group: ticket.group.clone(),
    });
    if ticket.status == Status::New && c.ticket.assignee.is_some() {
        set_status(&mut c, Status::Open)?;
    }
    Ok(c.finish())
}

/// Adds a message by `caller`; on a closed ticket, starts a follow-up ticket
/// carrying it instead.
pub fn add_message(
    ticket: &Ticket,
    caller: &Caller,
    new: &NewMessage,
    now: DateTime<Utc>,
) -> Result<Change, RuleError> {
    if let Some(expected) = new.expected_version {
        check_version(expected, ticket.version)?;
    }
    let writer = if caller.role == Role::Customer {
        Writer::Customer
    } else {
        Writer::Staff
    };
    let mut c = Change::start(ticket, caller.to_actor(), now);
    let effect = after_message(ticket.status, writer, new.public, new.status)?;
    let now = c.at;
    let message = |ticket_id| Message {
        id: Uuid::now_v7(),
        ticket_id,
        author: caller.to_actor(),
        public: new.public,
        body: new.body.clone(),
        channel: new.channel.unwrap_or(ticket.channel),
        attachments: new.attachments.clone(),
        mentions: new.mentions.clone(),
        created_at: now,
    };
    match effect {
        MessageEffect::FollowUp => {
            let mut follow = ticket.clone();
            follow.id = Uuid::now_v7();
            follow.number = 0;
            follow.description = new.body.clone();
            follow.status = Status::New;
            follow.version = 1;
            follow.created_at = c.at;
            follow.updated_at = c.at;
            follow.follow_up_of = Some(ticket.id);
            follow.first_response_at = None;
            follow.solved_at = None;
            follow.satisfaction = None;
            follow.assignee = None;
            follow.merged_into = None;
            follow.merged_from = Vec::new();
            // The caller starts its SLA from the policy.
            follow.sla = Default::default();
            c.message = Some(message(follow.id));
            c.follow_up = Some(follow);
            c.facts = vec![Fact::Created, Fact::MessageAdded];
            Ok(c)
        }
        MessageEffect::Status(next) => {
            set_status(&mut c, next)?;
            if writer == Writer::Staff && new.public && ticket.first_response_at.is_none() {
                c.ticket.first_response_at = Some(c.at);
            }
            c.message = Some(message(ticket.id));
            c.facts.insert(0, Fact::MessageAdded);
            Ok(c.finish())
        }
    }
}

/// Records the requester's rating: only on a solved or closed ticket, once.
pub fn rate(
    ticket: &Ticket,
    caller: &Caller,
    is_requester: bool,
    rating: Satisfaction,
) -> Result<Change, RuleError> {
    if !is_requester {
        return Err(RuleError::Forbidden(
            "only the ticket's requester can rate it".into(),
        ));
    }
    if !matches!(ticket.status, Status::Solved | Status::Closed) {
        return Err(RuleError::Precondition(format!(
            "only solved or closed tickets can be rated; this one is {}",
            ticket.status.as_str()
        )));
    }
    if ticket.satisfaction.is_some() {
        return Err(RuleError::Precondition(
            "this ticket has already been rated".into(),
        ));
    }
    let mut c = Change::start(ticket, caller.to_actor(), rating.submitted_at);
    c.record("satisfaction", String::new(), rating.score.to_string());
    c.ticket.satisfaction = Some(rating);
    c.facts.push(Fact::SatisfactionSubmitted);
    Ok(c.finish())
}

/// Moves a ticket to another requester (its customer was merged away).
pub fn move_requester(ticket: &Ticket, to: Uuid, actor: Actor, now: DateTime<Utc>) -> Change {
    let mut c = Change::start(ticket, actor, now);
    c.record(
        "requester",
        customer_name(ticket.requester_id),
        customer_name(to),
    );
    c.ticket.requester_id = to;
    c.facts.push(Fact::Updated(vec!["requester"]));
    c.finish()
}

/// Erases `customer`'s personal data from `ticket`: the description (the
/// requester's first message, on a ticket they `requested`) becomes
/// [`ERASED`](super::privacy::ERASED), the subject and text custom fields
/// lose what identifies them, and the satisfaction comment goes (its score
/// stays). The audit trail records that an erasure happened, never the
/// values it removed; the last change time stays, so retention still counts
/// from the ticket's last real change. Always a change (version and event),
/// as the store redacts the ticket's messages with it.
pub fn erase(
    ticket: &Ticket,
    erasure: &super::privacy::Erasure,
    requested: bool,
    customer: Uuid,
    actor: Actor,
    now: DateTime<Utc>,
) -> Change {
    let mut c = Change::start(ticket, actor, now);
    let mut fields = Vec::new();
    let subject = erasure.redactor.redact(&ticket.subject);
    if subject != ticket.subject {
        c.ticket.subject = subject;
        fields.push("subject");
    }
    if requested && !ticket.description.is_empty() && ticket.description != super::privacy::ERASED {
        c.ticket.description = super::privacy::ERASED.to_owned();
        fields.push("description");
    }
    let mut custom = false;
    for value in c.ticket.custom_fields.values_mut() {
        if let fields::FieldValue::Text(text) = value {
            let redacted = erasure.redactor.redact(text);
            if redacted != *text {
                *text = redacted;
                custom = true;
            }
        }
    }
    if custom {
        fields.push("custom_fields");
    }
    if let Some(s) = &mut c.ticket.satisfaction
        && requested
        && !s.comment.is_empty()
    {
        s.comment.clear();
        fields.push("satisfaction");
    }
    c.record("personal_data", String::new(), "erased".to_owned());
    c.facts.push(Fact::Erased { fields, customer });
    let last_change = ticket.updated_at;
    let mut c = c.finish();
    c.ticket.updated_at = last_change;
    c
}

/// Merges duplicate `source` into `target`: the source closes (whatever its
/// state, as merging is how duplicates end) and links to the target, which
/// gains its followers. The store moves the messages.
pub fn merge(
    source: &Ticket,
    target: &Ticket,
    caller: &Caller,
    versions: (i64, i64),
    now: DateTime<Utc>,
) -> Result<(Change, Change), RuleError> {
    staff_only(caller, "merge tickets")?;
    check_version(versions.0, source.version)?;
    check_version(versions.1, target.version)?;
    if source.id == target.id {
        return Err(RuleError::Precondition(
            "a ticket cannot be merged into itself".into(),
        ));
    }
    for (role, t) in [("source", source), ("target", target)] {
        if t.status == Status::Closed {
            return Err(RuleError::Precondition(format!(
                "the {role} ticket is closed and cannot take part in a merge"
            )));
        }
    }
    let mut s = Change::start(source, caller.to_actor(), now);
    s.ticket.merged_into = Some(target.id);
    s.record("merged_into", String::new(), target.id.to_string());
    s.record(
        "status",
        source.status.as_str().into(),
        Status::Closed.as_str().into(),
    );
    s.ticket.status = Status::Closed;
    s.ticket.followers.clear();
    let mut t = Change::start(target, caller.to_actor(), now);
    t.ticket.merged_from.push(source.id);
    t.record("merged_from", String::new(), source.id.to_string());
    let mut followers = target.followers.clone();
    followers.extend(source.followers.iter().cloned());
    followers.sort();
    followers.dedup();
    t.record("followers", target.followers.join(","), followers.join(","));
    t.ticket.followers = followers;
    s.facts.push(Fact::StatusChanged {
        from: source.status,
        to: Status::Closed,
    });
    let (mut s, mut t) = (s.finish(), t.finish());
    let pair = Box::new((s.ticket.clone(), t.ticket.clone()));
    s.facts.insert(0, Fact::Merged(pair.clone()));
    t.facts.push(Fact::Merged(pair));
    Ok((s, t))
}

#[cfg(test)]
mod tests;
