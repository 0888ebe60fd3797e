//! Who hears about an event, on which channel, with which template.

use switchboard_proto::{common::v1::ActorKind, ticket::v1::TicketStatus};

use super::rules::{Rule, Rules};

/// A way of reaching a recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// The console inbox and its live stream.
    InApp,
    /// Email.
    Email,
    /// A webhook subscription.
    Webhook,
}

impl Channel {
    /// The storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::InApp => "in_app",
            Channel::Email => "email",
            Channel::Webhook => "webhook",
        }
    }

    /// Parses a storage name.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "in_app" => Some(Channel::InApp),
            "email" => Some(Channel::Email),
            "webhook" => Some(Channel::Webhook),
            _ => None,
        }
    }
}

/// The ticket an event is about, as the notification service needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TicketFact {
    /// `tickets/{id}`.
    pub name: String,
    /// The ticket's id.
    pub id: String,
    /// The human number of `[#T-n]`.
    pub number: u64,
    /// The subject line.
    pub subject: String,
    /// `customers/{id}`.
    pub requester: String,
    /// Assigned agent; empty when none.
    pub assignee: String,
    /// Agents following the ticket.
    pub followers: Vec<String>,
}

/// A message added to a ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageFact {
    /// The message's id (the last segment of its name).
    pub id: String,
    /// Who wrote it.
    pub author_kind: ActorKind,
    /// The author's user id.
    pub author: String,
    /// False for internal notes.
    pub public: bool,
    /// The text.
    pub body: String,
    /// Mentioned agents.
    pub mentions: Vec<String>,
}

/// A ticket waiting unassigned in its group's queue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueFact {
    /// The group id.
    pub group: String,
    /// `low`, `normal`, `high`, `urgent` or `unspecified`.
    pub priority: String,
    /// Tickets waiting in the group, this one included.
    pub position: i64,
    /// The group's agents when the ticket was queued (bounded by routing).
    pub members: Vec<String>,
}

/// What an escalation did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EscalationFact {
    /// `sla.warning` or `sla.breached`.
    pub trigger: String,
    /// What was done, e.g. `raise_priority`, `reassign_to`.
    pub actions: Vec<String>,
    /// The group when the alert came.
    pub group: String,
    /// The group after.
    pub new_group: String,
    /// The assignee after; empty when none.
    pub new_assignee: String,
}

/// What happened, reduced to what decides the recipients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fact {
    /// `message.added`.
    MessageAdded(TicketFact, MessageFact),
    /// `ticket.status_changed` to solved.
    Solved(TicketFact),
    /// `ticket.status_changed` to anything but solved.
    StatusChanged {
        /// The ticket after the change.
        ticket: TicketFact,
        /// The status before.
        from: TicketStatus,
        /// The status after.
        to: TicketStatus,
        /// Who changed it.
        by: ActorKind,
    },
    /// `ticket.assigned`.
    Assigned {
        /// The ticket after the change.
        ticket: TicketFact,
        /// The previous assignee.
        previous: String,
    },
    /// `sla.breached`.
    SlaBreached {
        /// The ticket.
        ticket: TicketFact,
        /// `first_response` or `resolution`.
        target: String,
    },
    /// `routing.queued`.
    Queued {
        /// The ticket (its name and id only: routing's events carry no more).
        ticket: TicketFact,
        /// The queue it waits in.
        queue: QueueFact,
    },
    /// `routing.escalated`.
    Escalated {
        /// The ticket (its name and id only).
        ticket: TicketFact,
        /// What the escalation did.
        escalation: EscalationFact,
    },
    /// Anything that notifies no person (webhooks still get it).
    Other,
}

impl Fact {
    /// The ticket the fact is about, if any.
    pub fn ticket(&self) -> Option<&TicketFact> {
        match self {
            Fact::MessageAdded(ticket, _)
            | Fact::Solved(ticket)
            | Fact::StatusChanged { ticket, .. }
            | Fact::Assigned { ticket, .. }
            | Fact::SlaBreached { ticket, .. }
            | Fact::Queued { ticket, .. }
            | Fact::Escalated { ticket, .. } => Some(ticket),
            Fact::Other => None,
        }
    }
}

/// One notification to make: a recipient, a channel and a template kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    /// A user id, an email address or [`super::SUPERVISORS_INBOX`].
    pub recipient: String,
    /// How to reach them.
    pub channel: Channel,
    /// The template kind, e.g. `message.added`.
    pub kind: &'static str,
}

impl Intent {
    fn new(recipient: &str, channel: Channel, kind: &'static str) -> Self {
        Self {
            recipient: recipient.to_owned(),
            channel,
            kind,
        }
    }
}

/// Staff (or the desk itself) acted, not a customer.
fn by_staff(kind: ActorKind) -> bool {
    matches!(
        kind,
        ActorKind::Agent | ActorKind::System | ActorKind::Integration
    )
}

/// Whether `recipient` may be told, in-app, about `ticket` (its subject,
/// its messages, internal notes included): the supervisors' inbox, or
/// someone `is_staff` knows as staff who is not the ticket's requester by
/// name or address. Whoever is not known as staff is not: the in-app inbox
/// is the desk's, customers hear by email only, so a customer listed as a
/// follower, a mention or an assignee (or a name nobody knows) learns
/// nothing of the ticket however the event names them.
pub fn may_read_in_app(
    recipient: &str,
    ticket: Option<&TicketFact>,
    requester_email: Option<&str>,
    is_staff: &dyn Fn(&str) -> bool,
) -> bool {
    if recipient == super::SUPERVISORS_INBOX {
        return true;
    }
    let requester = ticket.is_some_and(|t| t.requester == recipient)
        || requester_email.is_some_and(|e| e.eq_ignore_ascii_case(recipient));
    !recipient.is_empty()
        && !recipient.starts_with(CUSTOMER_NAMES)
        && !requester
        && is_staff(recipient)
}

/// The prefix of customers' resource names, which are never staff.
const CUSTOMER_NAMES: &str = "customers/";

impl Fact {
    /// Every person the fact names who might be told of it in-app (so
    /// their standing can be looked up before [`recipients`] runs).
    pub fn named_people(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        if let Some(t) = self.ticket() {
            out.extend(t.followers.iter().map(String::as_str));
            out.push(&t.assignee);
        }
        match self {
            Fact::MessageAdded(_, m) => out.extend(m.mentions.iter().map(String::as_str)),
            Fact::Queued { queue, .. } => out.extend(queue.members.iter().map(String::as_str)),
            Fact::Escalated { escalation, .. } => out.push(&escalation.new_assignee),
            _ => {}
        }
        out.retain(|p| !p.is_empty());
        out
    }
}

/// Who hears about `fact`, caused by `actor`; `requester_email` is the
/// requester's address when known; `rules` are the tenant's switches over
/// the defaults; `is_staff` says whom the service knows as the tenant's
/// staff. Customers hear only, by email at the requester's address, public
/// replies by staff, solves, and status changes by staff that ask something
/// of them (pending) or undo a solve (reopened); in-app notifications go
/// only to whom [`may_read_in_app`] allows, whatever the event lists as
/// followers, mentions or assignee; nobody hears about their own action;
/// each recipient gets at most one notification per channel.
pub fn recipients(
    fact: &Fact,
    actor: &str,
    requester_email: Option<&str>,
    rules: &Rules,
    is_staff: &dyn Fn(&str) -> bool,
) -> Vec<Intent> {
    let mut out: Vec<Intent> = Vec::new();
    let ticket = fact.ticket();
    let mut push = |rule: Rule, intent: Intent| {
        let allowed = match intent.channel {
            Channel::InApp => may_read_in_app(&intent.recipient, ticket, requester_email, is_staff),
            // Email goes to the requester's own address, and never about an
            // internal note.
            Channel::Email => {
                requester_email == Some(intent.recipient.as_str())
                    && !matches!(fact, Fact::MessageAdded(_, m) if !m.public)
            }
            Channel::Webhook => false,
        };
        let fresh = allowed
            && rules.is_on(rule)
            && !intent.recipient.is_empty()
            && intent.recipient != actor
            && !out
                .iter()
                .any(|i| i.recipient == intent.recipient && i.channel == intent.channel);
        if fresh {
            out.push(intent);
        }
    };
    match fact {
        Fact::MessageAdded(ticket, message) => {
            if let Some(email) =
                requester_email.filter(|_| message.public && by_staff(message.author_kind))
            {
                push(
                    Rule::RequesterMessageAdded,
                    Intent::new(email, Channel::Email, "message.added"),
                );
            }
            for agent in &message.mentions {
                if *agent != message.author {
                    push(
                        Rule::Mentions,
                        Intent::new(agent, Channel::InApp, "message.mentioned"),
                    );
                }
            }
            for agent in ticket.followers.iter().chain(Some(&ticket.assignee)) {
                if *agent != message.author {
                    push(
                        Rule::FollowersMessage,
                        Intent::new(agent, Channel::InApp, "message.followed"),
                    );
                }
            }
        }
        Fact::Solved(ticket) => {
            if let Some(email) = requester_email {
                push(
                    Rule::RequesterSolved,
                    Intent::new(email, Channel::Email, "ticket.solved"),
                );
            }
            for agent in &ticket.followers {
                push(
                    Rule::FollowersSolved,
                    Intent::new(agent, Channel::InApp, "ticket.solved"),
                );
            }
        }
        Fact::StatusChanged { from, to, by, .. } => {
            // On-hold, and open after an agent's reply or a customer's own
            // message, are the desk's business: the customer hears nothing.
            let concern = match (from, to) {
                (_, TicketStatus::Pending) if *from != TicketStatus::Pending => {
                    Some((Rule::RequesterPending, "ticket.pending"))
                }
                (TicketStatus::Solved, TicketStatus::Open) => {
                    Some((Rule::RequesterReopened, "ticket.reopened"))
                }
                _ => None,
            };
            if let (Some((rule, kind)), Some(email)) =
                (concern.filter(|_| by_staff(*by)), requester_email)
            {
                push(rule, Intent::new(email, Channel::Email, kind));
            }
        }
        Fact::Assigned { ticket, previous } => {
            if ticket.assignee != *previous {
                push(
                    Rule::AssigneeAssigned,
                    Intent::new(&ticket.assignee, Channel::InApp, "ticket.assigned"),
                );
            }
        }
        Fact::SlaBreached { .. } => {
            push(
                Rule::SupervisorsSlaBreached,
                Intent::new(super::SUPERVISORS_INBOX, Channel::InApp, "sla.breached"),
            );
        }
        Fact::Queued { queue, .. } => {
            for agent in &queue.members {
                push(
                    Rule::GroupQueued,
                    Intent::new(agent, Channel::InApp, "routing.queued"),
                );
            }
        }
        Fact::Escalated { escalation, .. } => {
            push(
                Rule::SupervisorsEscalated,
                Intent::new(
                    super::SUPERVISORS_INBOX,
                    Channel::InApp,
                    "routing.escalated",
                ),
            );
            // `reassign_to` is only ever done when it changes the assignee.
            if escalation.actions.iter().any(|a| a == "reassign_to") {
                push(
                    Rule::AssigneeEscalated,
                    Intent::new(
                        &escalation.new_assignee,
                        Channel::InApp,
                        "routing.escalated",
                    ),
                );
            }
        }
        Fact::Other => {}
    }
    out
}

#[cfg(test)]
mod tests;
