//! Ticket events on the wire → `switchboard-kpi` event values. Everything
//! analytics knows about a ticket passes through [`map_envelope`].

use chrono::{DateTime, Utc};
use switchboard_events::{Envelope, Payload};
use switchboard_kpi::TicketEvent;
use switchboard_kpi::fact::{Author, Channel, Priority, SlaTarget, SlaTargets, Status};
use switchboard_kpi::terms::subject_terms;
use switchboard_proto::{
    common::v1 as common,
    events::v1::SlaTargetKind,
    ticket::v1::{self as tpb, TicketStatus, Visibility},
};
use uuid::Uuid;

/// One envelope, understood: which ticket, at which version, and what it
/// means for the metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapped {
    /// The envelope id; applying it twice is a no-op.
    pub event_id: Uuid,
    /// The tenant.
    pub tenant: String,
    /// The ticket (the envelope's aggregate).
    pub ticket: Uuid,
    /// The ticket's version after the change; orders the fold.
    pub version: i64,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Usually one value; a `ticket.updated` may change priority and tags
    /// at once.
    pub events: Vec<TicketEvent>,
    /// For `ticket.created`: the subject's terms (see
    /// [`switchboard_kpi::terms`]); empty otherwise.
    pub terms: Vec<String>,
    /// For a `ticket.updated` that erased the requester's personal data:
    /// the erased subject's terms, which replace the ticket's (so top
    /// issues never show a name the subject held).
    pub reterm: Option<Vec<String>>,
}

/// The envelope as metric events; `None` for events that do not change any
/// metric (article events, SLA warnings, customer merges, a merge as seen
/// by the surviving ticket) and for malformed ones.
pub fn map_envelope(envelope: &Envelope) -> Option<Mapped> {
    if envelope.aggregate_type != "ticket" {
        return None;
    }
    let event_id = Uuid::parse_str(&envelope.id).ok()?;
    let ticket = Uuid::parse_str(&envelope.aggregate_id).ok()?;
    let at = timestamp(envelope.occurred_at.as_ref())?;
    let mut terms = Vec::new();
    let mut reterm = None;
    let events = match envelope.payload.as_ref()? {
        Payload::TicketCreated(created) => {
            let t = created.ticket.as_ref()?;
            terms = subject_terms(&t.subject);
            vec![TicketEvent::Created {
                at,
                by_agent: is_staff(envelope.actor.as_ref()),
                channel: channel(t.channel),
                priority: priority(t.priority),
                group: non_empty(&t.group),
                tags: t.tags.clone(),
                assignee: non_empty(&t.assignee),
                sla: targets(t),
            }]
        }
        Payload::TicketStatusChanged(changed) => vec![TicketEvent::Status {
            at,
            from: status(changed.from)?,
            to: status(changed.to)?,
        }],
        Payload::TicketAssigned(assigned) => {
            let t = assigned.ticket.as_ref()?;
            vec![TicketEvent::Assigned {
                at,
                assignee: non_empty(&t.assignee),
                group: non_empty(&t.group),
            }]
        }
        Payload::TicketUpdated(updated) => {
            let t = updated.ticket.as_ref()?;
            if !updated.erased_customer.is_empty() {
                reterm = Some(subject_terms(&t.subject));
            }
            let changed = |f: &str| updated.changed_fields.iter().any(|c| c == f);
            let mut events = Vec::new();
            if changed("priority") {
                events.push(TicketEvent::PriorityChanged {
                    at,
                    priority: priority(t.priority),
                    sla: targets(t),
                });
            }
            if changed("tags") {
                events.push(TicketEvent::TagsChanged {
                    at,
                    tags: t.tags.clone(),
                });
            }
            if changed("group") || changed("assignee") {
                events.push(TicketEvent::Assigned {
                    at,
                    assignee: non_empty(&t.assignee),
                    group: non_empty(&t.group),
                });
            }
            events
        }
        Payload::MessageAdded(added) => {
            let message = added.message.as_ref()?;
            let author = message.author.as_ref().or(envelope.actor.as_ref());
            vec![TicketEvent::Message {
                at,
                public: message.visibility == Visibility::Public as i32,
                author: match author {
                    Some(a) if is_staff(Some(a)) => Author::Agent(a.id.clone()),
                    Some(a) if a.kind == common::ActorKind::Customer as i32 => Author::Customer,
                    _ => Author::System,
                },
            }]
        }
        Payload::SatisfactionSubmitted(rated) => {
            let score = rated.satisfaction.as_ref()?.score.clamp(1, 5);
            vec![TicketEvent::Rated {
                at,
                score: u8::try_from(score).ok()?,
            }]
        }
        Payload::TicketMerged(merged) => {
            let source = id_of(&merged.source.as_ref()?.name)?;
            if source != ticket {
                // The survivor's copy: it carries on as usual.
                return None;
            }
            // The ticket service also sends the move to closed; folding
            // it twice is harmless, missing it would keep the duplicate in
            // the backlog.
            vec![
                TicketEvent::MergedInto {
                    at,
                    target: id_of(&merged.target.as_ref()?.name)?,
                },
                TicketEvent::Status {
                    at,
                    from: status(merged.source.as_ref()?.status).unwrap_or(Status::Open),
                    to: Status::Closed,
                },
            ]
        }
        Payload::SlaBreached(breached) => vec![TicketEvent::SlaBreached {
            at,
            target: match SlaTargetKind::try_from(breached.target).ok()? {
                SlaTargetKind::FirstResponse => SlaTarget::FirstReply,
                SlaTargetKind::Resolution => SlaTarget::Resolution,
                SlaTargetKind::Unspecified => return None,
            },
        }],
        _ => return None,
    };
    // An erasure changes no metric, but the terms it replaces must travel
    // through the ingest (and its idempotency) like any event.
    if events.is_empty() && reterm.is_none() {
        return None;
    }
    Some(Mapped {
        event_id,
        tenant: envelope.tenant_id.clone(),
        ticket,
        version: envelope.aggregate_version,
        at,
        events,
        terms,
        reterm,
    })
}

/// A protobuf timestamp as UTC.
pub fn timestamp(ts: Option<&prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    let ts = ts?;
    DateTime::from_timestamp(ts.seconds, u32::try_from(ts.nanos).ok()?)
}

/// UTC as a protobuf timestamp.
pub fn to_timestamp(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: at.timestamp_subsec_nanos() as i32,
    }
}

/// Staff acted: agents, supervisors and admins, not integrations or the
/// system.
fn is_staff(actor: Option<&common::Actor>) -> bool {
    actor.is_some_and(|a| a.kind == common::ActorKind::Agent as i32)
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

/// `tickets/{id}` → id.
fn id_of(name: &str) -> Option<Uuid> {
    Uuid::parse_str(name.strip_prefix("tickets/")?).ok()
}

/// The SLA targets a ticket's priority has: the ticket service sets a due
/// time (or a breach) for each target the tenant's policy gives it.
fn targets(t: &tpb::Ticket) -> SlaTargets {
    t.sla
        .as_ref()
        .map_or_else(SlaTargets::default, |s| SlaTargets {
            first_reply: s.first_response_due_time.is_some() || s.first_response_breached,
            resolution: s.resolution_due_time.is_some() || s.resolution_breached,
        })
}

/// The wire channel; unspecified is the proto's default, API.
pub fn channel(raw: i32) -> Channel {
    match common::Channel::try_from(raw).unwrap_or(common::Channel::Unspecified) {
        common::Channel::Email => Channel::Email,
        common::Channel::Chat => Channel::Chat,
        common::Channel::Phone => Channel::Phone,
        common::Channel::Social => Channel::Social,
        common::Channel::Sms => Channel::Sms,
        common::Channel::WebForm => Channel::WebForm,
        common::Channel::Api | common::Channel::Unspecified => Channel::Api,
    }
}

/// The wire priority; unspecified is the proto's default, normal.
pub fn priority(raw: i32) -> Priority {
    match common::Priority::try_from(raw).unwrap_or(common::Priority::Unspecified) {
        common::Priority::Low => Priority::Low,
        common::Priority::High => Priority::High,
        common::Priority::Urgent => Priority::Urgent,
        common::Priority::Normal | common::Priority::Unspecified => Priority::Normal,
    }
}

fn status(raw: i32) -> Option<Status> {
    Some(match TicketStatus::try_from(raw).ok()? {
        TicketStatus::New => Status::New,
        TicketStatus::Open => Status::Open,
        TicketStatus::Pending => Status::Pending,
        TicketStatus::OnHold => Status::OnHold,
        TicketStatus::Solved => Status::Solved,
        TicketStatus::Closed => Status::Closed,
        TicketStatus::Unspecified => return None,
    })
}
