//! The inputs: ticket events as plain values, mapped by the service from
//! `switchboard.events.v1` so this crate stays free of protobuf.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Where a ticket is in its lifecycle (`TicketStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Nobody has picked it up yet.
    New,
    /// An agent owes the next step.
    Open,
    /// Waiting on the requester.
    Pending,
    /// Waiting on a third party, still the desk's problem.
    OnHold,
    /// An agent considers it done; the requester may still reopen it.
    Solved,
    /// Final.
    Closed,
}

impl Status {
    /// Solved or closed: out of the backlog.
    pub fn is_resolved(self) -> bool {
        matches!(self, Status::Solved | Status::Closed)
    }

    /// The proto's lowercase name, e.g. `on_hold`.
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
}

/// The channel a ticket arrived through (`Channel`; the service maps
/// `CHANNEL_UNSPECIFIED` to [`Channel::Api`], the proto's default).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Email.
    Email,
    /// Chat widget.
    Chat,
    /// Phone call.
    Phone,
    /// Social network.
    Social,
    /// Text message.
    Sms,
    /// Web form.
    WebForm,
    /// API (the default).
    #[default]
    Api,
}

impl Channel {
    /// The lowercase name used as a group-by key, e.g. `web_form`.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Chat => "chat",
            Channel::Phone => "phone",
            Channel::Social => "social",
            Channel::Sms => "sms",
            Channel::WebForm => "web_form",
            Channel::Api => "api",
        }
    }
}

/// How urgent a ticket is (`Priority`; unspecified maps to
/// [`Priority::Normal`], the proto's default).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// Low.
    Low,
    /// Normal (the default).
    #[default]
    Normal,
    /// High.
    High,
    /// Urgent.
    Urgent,
}

impl Priority {
    /// The lowercase name used as a group-by key.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
            Priority::Urgent => "urgent",
        }
    }
}

/// Who wrote a message (`Actor.kind`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Author {
    /// Staff (agent, supervisor or admin), by user id.
    Agent(String),
    /// The requester or another customer.
    Customer,
    /// Switchboard itself or an integration; never counts as a reply.
    System,
}

/// Which SLA target an event is about (`SlaTargetKind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlaTarget {
    /// Time to the first public agent reply.
    FirstReply,
    /// Time to the solve.
    Resolution,
}

/// Which SLA targets the tenant's policy gives the ticket's priority; both
/// false without a policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct SlaTargets {
    /// The priority has a first-response target.
    pub first_reply: bool,
    /// The priority has a resolution target.
    pub resolution: bool,
}

/// One change to one ticket, in the ticket's version order.
///
/// Every variant carries `at`, when it happened (the event's occur time).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TicketEvent {
    /// `ticket.created`. The ticket starts `new`. Its opening message (the
    /// description) is part of this event: the service must not send a
    /// separate [`TicketEvent::Message`] for it.
    Created {
        /// Creation time.
        at: DateTime<Utc>,
        /// Staff created it (an outbound ticket): the opening message is
        /// that agent's public message, so it is not the first reply.
        by_agent: bool,
        /// Intake channel.
        channel: Channel,
        /// Priority after intake rules.
        priority: Priority,
        /// Group after intake rules.
        group: Option<String>,
        /// Tags after intake rules.
        tags: Vec<String>,
        /// Assignee, if created assigned.
        assignee: Option<String>,
        /// SLA targets for the priority at creation.
        sla: SlaTargets,
    },
    /// `message.added`: a public reply or an internal note.
    Message {
        /// When it was added.
        at: DateTime<Utc>,
        /// `VISIBILITY_PUBLIC`; internal notes never count as replies.
        public: bool,
        /// Who wrote it.
        author: Author,
    },
    /// `ticket.status_changed`.
    Status {
        /// When it moved.
        at: DateTime<Utc>,
        /// Kept for fidelity; the fold follows `to` only, so one lost event
        /// cannot derail every later status.
        from: Status,
        /// The new status.
        to: Status,
    },
    /// `ticket.assigned`: the assignee and group after the change.
    Assigned {
        /// When it changed.
        at: DateTime<Utc>,
        /// The agent now assigned; `None` when unassigned.
        assignee: Option<String>,
        /// The group now holding the ticket; `None` when none.
        group: Option<String>,
    },
    /// `ticket.updated` with `priority` among its changed fields.
    PriorityChanged {
        /// When it changed.
        at: DateTime<Utc>,
        /// The new priority.
        priority: Priority,
        /// SLA targets for the new priority.
        sla: SlaTargets,
    },
    /// `ticket.updated` with `tags` among its changed fields.
    TagsChanged {
        /// When they changed.
        at: DateTime<Utc>,
        /// All tags after the change.
        tags: Vec<String>,
    },
    /// `satisfaction.submitted`.
    Rated {
        /// Submit time.
        at: DateTime<Utc>,
        /// 1 (very bad) to 5 (very good), as in `Satisfaction.score`;
        /// good/bad clients send 5 or 1. Out-of-range values are clamped.
        score: u8,
    },
    /// `ticket.merged` on the duplicate (the source); the service drops the
    /// copy published on the survivor.
    MergedInto {
        /// When it was merged.
        at: DateTime<Utc>,
        /// The surviving ticket.
        target: Uuid,
    },
    /// `sla.breached`.
    SlaBreached {
        /// When the target's due time passed.
        at: DateTime<Utc>,
        /// Which target.
        target: SlaTarget,
    },
}

impl TicketEvent {
    /// When the event happened.
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            TicketEvent::Created { at, .. }
            | TicketEvent::Message { at, .. }
            | TicketEvent::Status { at, .. }
            | TicketEvent::Assigned { at, .. }
            | TicketEvent::PriorityChanged { at, .. }
            | TicketEvent::TagsChanged { at, .. }
            | TicketEvent::Rated { at, .. }
            | TicketEvent::MergedInto { at, .. }
            | TicketEvent::SlaBreached { at, .. } => *at,
        }
    }
}
