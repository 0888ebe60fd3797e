//! Who hears about an event, on which channel, with which template.

use switchboard_proto::common::v1::ActorKind;

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

/// What happened, reduced to what decides the recipients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fact {
    /// `message.added`.
    MessageAdded(TicketFact, MessageFact),
    /// `ticket.status_changed` to solved.
    Solved(TicketFact),
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
    /// Anything that notifies no person (webhooks still get it).
    Other,
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

/// Who hears about `fact`, caused by `actor`; `requester_email` is the
/// requester's address when known. Customers hear only public replies by
/// staff and solves, by email; nobody hears about their own action; each
/// recipient gets at most one notification per channel.
pub fn recipients(fact: &Fact, actor: &str, requester_email: Option<&str>) -> Vec<Intent> {
    let mut out: Vec<Intent> = Vec::new();
    let mut push = |intent: Intent| {
        let fresh = !intent.recipient.is_empty()
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
            let by_staff = matches!(
                message.author_kind,
                ActorKind::Agent | ActorKind::System | ActorKind::Integration
            );
            if let Some(email) = requester_email.filter(|_| message.public && by_staff) {
                push(Intent::new(email, Channel::Email, "message.added"));
            }
            for agent in &message.mentions {
                if *agent != message.author {
                    push(Intent::new(agent, Channel::InApp, "message.mentioned"));
                }
            }
            for agent in ticket.followers.iter().chain(Some(&ticket.assignee)) {
                if *agent != message.author {
                    push(Intent::new(agent, Channel::InApp, "message.followed"));
                }
            }
        }
        Fact::Solved(ticket) => {
            if let Some(email) = requester_email {
                push(Intent::new(email, Channel::Email, "ticket.solved"));
            }
            for agent in &ticket.followers {
                push(Intent::new(agent, Channel::InApp, "ticket.solved"));
            }
        }
        Fact::Assigned { ticket, previous } => {
            if ticket.assignee != *previous {
                push(Intent::new(
                    &ticket.assignee,
                    Channel::InApp,
                    "ticket.assigned",
                ));
            }
        }
        Fact::SlaBreached { .. } => {
            push(Intent::new(
                super::SUPERVISORS_INBOX,
                Channel::InApp,
                "sla.breached",
            ));
        }
        Fact::Other => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket() -> TicketFact {
        TicketFact {
            name: "tickets/t1".into(),
            id: "t1".into(),
            number: 7,
            subject: "Printer".into(),
            requester: "customers/c1".into(),
            assignee: "agent-a".into(),
            followers: vec!["agent-f".into(), "agent-a".into()],
        }
    }

    fn message(public: bool, author: &str, kind: ActorKind) -> MessageFact {
        MessageFact {
            id: "m1".into(),
            author_kind: kind,
            author: author.into(),
            public,
            body: "hello".into(),
            mentions: vec!["agent-m".into()],
        }
    }

    #[test]
    fn a_public_agent_reply_emails_the_requester_once() {
        let fact = Fact::MessageAdded(ticket(), message(true, "agent-a", ActorKind::Agent));
        let out = recipients(&fact, "agent-a", Some("ada@example.com"));
        let emails: Vec<_> = out.iter().filter(|i| i.channel == Channel::Email).collect();
        assert_eq!(emails.len(), 1);
        assert_eq!(emails[0].recipient, "ada@example.com");
        assert_eq!(emails[0].kind, "message.added");
        // the author hears nothing; mention and follower get the in-app one
        assert!(out.iter().all(|i| i.recipient != "agent-a"));
        assert!(
            out.iter()
                .any(|i| i.recipient == "agent-m" && i.kind == "message.mentioned")
        );
        assert!(
            out.iter()
                .any(|i| i.recipient == "agent-f" && i.kind == "message.followed")
        );
    }

    #[test]
    fn internal_notes_never_reach_the_customer() {
        let fact = Fact::MessageAdded(ticket(), message(false, "agent-a", ActorKind::Agent));
        let out = recipients(&fact, "agent-a", Some("ada@example.com"));
        assert!(out.iter().all(|i| i.channel != Channel::Email));
        assert!(out.iter().all(|i| i.recipient != "ada@example.com"));
        assert!(out.iter().any(|i| i.recipient == "agent-m"));
    }

    #[test]
    fn the_customers_own_message_is_not_echoed_to_them() {
        let fact = Fact::MessageAdded(
            ticket(),
            message(true, "ada@example.com", ActorKind::Customer),
        );
        let out = recipients(&fact, "ada@example.com", Some("ada@example.com"));
        assert!(out.iter().all(|i| i.channel != Channel::Email));
    }

    #[test]
    fn a_mentioned_follower_hears_once_per_channel() {
        let mut m = message(true, "agent-x", ActorKind::Agent);
        m.mentions = vec!["agent-f".into(), "agent-f".into()];
        let out = recipients(&Fact::MessageAdded(ticket(), m), "agent-x", None);
        assert_eq!(out.iter().filter(|i| i.recipient == "agent-f").count(), 1);
    }

    #[test]
    fn assignment_solve_and_breach_reach_their_people() {
        let assigned = Fact::Assigned {
            ticket: ticket(),
            previous: String::new(),
        };
        assert_eq!(
            recipients(&assigned, "router", None),
            vec![Intent::new("agent-a", Channel::InApp, "ticket.assigned")]
        );
        // self-assignment notifies nobody
        assert!(recipients(&assigned, "agent-a", None).is_empty());
        let solved = recipients(&Fact::Solved(ticket()), "agent-a", Some("ada@example.com"));
        assert!(
            solved
                .iter()
                .any(|i| i.recipient == "ada@example.com" && i.kind == "ticket.solved")
        );
        let breach = Fact::SlaBreached {
            ticket: ticket(),
            target: "resolution".into(),
        };
        assert_eq!(
            recipients(&breach, "", None)[0].recipient,
            super::super::SUPERVISORS_INBOX
        );
        assert!(recipients(&Fact::Other, "", Some("ada@example.com")).is_empty());
    }
}
