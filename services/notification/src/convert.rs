//! Wire events to domain facts, and facts to template contexts.

use serde_json::{Value, json};
use switchboard_proto::{
    common::v1::{ActorKind, Priority},
    events::v1::{Envelope, SlaTargetKind, envelope::Payload},
    ticket::v1::{Ticket, TicketStatus, Visibility},
};

use crate::domain::{EscalationFact, Fact, Intent, MessageFact, QueueFact, TicketFact};

/// Most group members one `routing.queued` notifies; routing sends no more,
/// and a producer that did would not make one event fan out unbounded.
pub const MAX_QUEUE_MEMBERS: usize = 200;

/// The ticket an event carries, if any.
pub fn ticket_of(event: &Envelope) -> Option<&Ticket> {
    match event.payload.as_ref()? {
        Payload::TicketCreated(e) => e.ticket.as_ref(),
        Payload::TicketUpdated(e) => e.ticket.as_ref(),
        Payload::TicketStatusChanged(e) => e.ticket.as_ref(),
        Payload::TicketAssigned(e) => e.ticket.as_ref(),
        Payload::MessageAdded(e) => e.ticket.as_ref(),
        Payload::SatisfactionSubmitted(e) => e.ticket.as_ref(),
        Payload::TicketMerged(e) => e.target.as_ref(),
        Payload::SlaWarning(e) => e.ticket.as_ref(),
        Payload::SlaBreached(e) => e.ticket.as_ref(),
        _ => None,
    }
}

fn last_segment(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

/// The domain view of a ticket.
pub fn ticket_fact(t: &Ticket) -> TicketFact {
    TicketFact {
        name: t.name.clone(),
        id: last_segment(&t.name).to_owned(),
        number: u64::try_from(t.number).unwrap_or_default(),
        subject: t.subject.clone(),
        requester: t.requester.clone(),
        assignee: t.assignee.clone(),
        followers: t.followers.clone(),
    }
}

/// A ticket routing's events know by name only.
fn named_ticket(name: &str) -> TicketFact {
    TicketFact {
        name: name.to_owned(),
        id: last_segment(name).to_owned(),
        ..TicketFact::default()
    }
}

fn priority_name(raw: i32) -> &'static str {
    match Priority::try_from(raw) {
        Ok(Priority::Low) => "low",
        Ok(Priority::Normal) => "normal",
        Ok(Priority::High) => "high",
        Ok(Priority::Urgent) => "urgent",
        _ => "unspecified",
    }
}

fn status_name(s: TicketStatus) -> &'static str {
    match s {
        TicketStatus::New => "new",
        TicketStatus::Open => "open",
        TicketStatus::Pending => "pending",
        TicketStatus::OnHold => "on_hold",
        TicketStatus::Solved => "solved",
        TicketStatus::Closed => "closed",
        TicketStatus::Unspecified => "unspecified",
    }
}

/// What `event` means for notifications.
pub fn fact_of(event: &Envelope) -> Fact {
    let Some(payload) = &event.payload else {
        return Fact::Other;
    };
    match payload {
        Payload::MessageAdded(e) => match (&e.ticket, &e.message) {
            (Some(t), Some(m)) => {
                let author = m.author.clone().unwrap_or_default();
                Fact::MessageAdded(
                    ticket_fact(t),
                    MessageFact {
                        id: last_segment(&m.name).to_owned(),
                        author_kind: ActorKind::try_from(author.kind)
                            .unwrap_or(ActorKind::Unspecified),
                        author: author.id,
                        // Anything not explicitly public stays inside.
                        public: m.visibility == Visibility::Public as i32,
                        body: m.body.clone(),
                        mentions: m.mentions.clone(),
                    },
                )
            }
            _ => Fact::Other,
        },
        Payload::TicketStatusChanged(e) if e.to == TicketStatus::Solved as i32 => e
            .ticket
            .as_ref()
            .map_or(Fact::Other, |t| Fact::Solved(ticket_fact(t))),
        Payload::TicketStatusChanged(e) => {
            let status = |raw| TicketStatus::try_from(raw).unwrap_or(TicketStatus::Unspecified);
            let by = event
                .actor
                .as_ref()
                .and_then(|a| ActorKind::try_from(a.kind).ok())
                .unwrap_or(ActorKind::Unspecified);
            e.ticket
                .as_ref()
                .map_or(Fact::Other, |t| Fact::StatusChanged {
                    ticket: ticket_fact(t),
                    from: status(e.from),
                    to: status(e.to),
                    by,
                })
        }
        Payload::RoutingQueued(e) => Fact::Queued {
            ticket: named_ticket(&e.ticket),
            queue: QueueFact {
                group: e.group.clone(),
                priority: priority_name(e.priority).to_owned(),
                position: e.position_hint,
                members: e.members.iter().take(MAX_QUEUE_MEMBERS).cloned().collect(),
            },
        },
        Payload::RoutingEscalated(e) => Fact::Escalated {
            ticket: named_ticket(&e.ticket),
            escalation: EscalationFact {
                trigger: e.trigger.clone(),
                actions: e.actions.clone(),
                group: e.group.clone(),
                new_group: e.new_group.clone(),
                new_assignee: e.new_assignee.clone(),
            },
        },
        Payload::TicketAssigned(e) => e.ticket.as_ref().map_or(Fact::Other, |t| Fact::Assigned {
            ticket: ticket_fact(t),
            previous: e.previous_assignee.clone(),
        }),
        Payload::SlaBreached(e) => e
            .ticket
            .as_ref()
            .map_or(Fact::Other, |t| Fact::SlaBreached {
                ticket: ticket_fact(t),
                target: match SlaTargetKind::try_from(e.target) {
                    Ok(SlaTargetKind::FirstResponse) => "first_response",
                    Ok(SlaTargetKind::Resolution) => "resolution",
                    _ => "unspecified",
                }
                .to_owned(),
            }),
        _ => Fact::Other,
    }
}

/// The template context for `intent` about `fact`.
pub fn context(fact: &Fact, event_type: &str, intent: &Intent, survey_url: &str) -> Value {
    let ticket = fact.ticket();
    let message = match fact {
        Fact::MessageAdded(_, m) => Some(json!({"body": m.body, "author": m.author})),
        _ => None,
    };
    let sla_target = match fact {
        Fact::SlaBreached { target, .. } => target.as_str(),
        _ => "",
    };
    let status_change = match fact {
        Fact::StatusChanged { from, to, .. } => {
            Some(json!({"from": status_name(*from), "to": status_name(*to)}))
        }
        _ => None,
    };
    let queue = match fact {
        Fact::Queued { queue, .. } => Some(json!({
            "group": queue.group, "priority": queue.priority, "position": queue.position,
        })),
        _ => None,
    };
    let escalation = match fact {
        Fact::Escalated { escalation: e, .. } => Some(json!({
            "trigger": e.trigger, "actions": e.actions, "group": e.group,
            "new_group": e.new_group, "new_assignee": e.new_assignee,
        })),
        _ => None,
    };
    json!({
        "event_type": event_type,
        "recipient": intent.recipient,
        "ticket": ticket.map(|t| json!({
            "name": t.name, "number": t.number, "subject": t.subject,
        })),
        "message": message,
        "survey_url": ticket.map(|t| survey_url.replace("{ticket}", &t.id)).unwrap_or_default(),
        "sla_target": sla_target,
        "status_change": status_change,
        "queue": queue,
        "escalation": escalation,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_proto::{
        common::v1::Actor,
        events::v1::{MessageAdded, RoutingEscalated, RoutingQueued, TicketStatusChanged},
        ticket::v1::Message,
    };

    fn ticket() -> Ticket {
        Ticket {
            name: "tickets/abc".into(),
            number: 12,
            subject: "Printer".into(),
            requester: "customers/c1".into(),
            ..Default::default()
        }
    }

    #[test]
    fn messages_become_facts_and_unknown_visibility_stays_internal() {
        let mut event = Envelope {
            r#type: "message.added".into(),
            payload: Some(Payload::MessageAdded(MessageAdded {
                ticket: Some(ticket()),
                message: Some(Message {
                    name: "tickets/abc/messages/m9".into(),
                    author: Some(Actor {
                        kind: ActorKind::Agent as i32,
                        id: "agent-1".into(),
                        ..Default::default()
                    }),
                    visibility: Visibility::Public as i32,
                    body: "hi".into(),
                    ..Default::default()
                }),
            })),
            ..Default::default()
        };
        let Fact::MessageAdded(t, m) = fact_of(&event) else {
            panic!("not a message fact")
        };
        assert_eq!((t.number, t.id.as_str(), m.id.as_str()), (12, "abc", "m9"));
        assert!(m.public);
        if let Some(Payload::MessageAdded(e)) = &mut event.payload {
            e.message.as_mut().unwrap().visibility = Visibility::Unspecified as i32;
        }
        let Fact::MessageAdded(_, m) = fact_of(&event) else {
            panic!("not a message fact")
        };
        assert!(!m.public);
    }

    #[test]
    fn only_a_solve_is_a_solve() {
        let changed = |to: TicketStatus| Envelope {
            payload: Some(Payload::TicketStatusChanged(TicketStatusChanged {
                ticket: Some(ticket()),
                from: TicketStatus::Open as i32,
                to: to as i32,
            })),
            ..Default::default()
        };
        assert!(matches!(
            fact_of(&changed(TicketStatus::Solved)),
            Fact::Solved(_)
        ));
        assert!(matches!(
            fact_of(&changed(TicketStatus::Pending)),
            Fact::StatusChanged {
                from: TicketStatus::Open,
                to: TicketStatus::Pending,
                by: ActorKind::Unspecified,
                ..
            }
        ));
        let fact = fact_of(&changed(TicketStatus::Solved));
        let intent = crate::domain::recipients(
            &fact,
            "a",
            Some("x@example.com"),
            &crate::domain::Rules::all_on(),
            &|_: &str| false,
        )[0]
        .clone();
        let ctx = context(
            &fact,
            "ticket.status_changed",
            &intent,
            "https://s/{ticket}",
        );
        assert_eq!(ctx["survey_url"], "https://s/abc");
        assert_eq!(ctx["ticket"]["number"], 12);
    }

    #[test]
    fn routing_events_become_facts_with_bounded_members() {
        let queued = Envelope {
            payload: Some(Payload::RoutingQueued(RoutingQueued {
                ticket: "tickets/abc".into(),
                group: "printers".into(),
                priority: Priority::High as i32,
                position_hint: 4,
                members: (0..250).map(|i| format!("agent-{i}")).collect(),
            })),
            ..Default::default()
        };
        let fact = fact_of(&queued);
        let Fact::Queued { ticket, queue } = &fact else {
            panic!("not a queue fact: {fact:?}")
        };
        assert_eq!(
            (ticket.name.as_str(), ticket.id.as_str()),
            ("tickets/abc", "abc")
        );
        assert_eq!(queue.members.len(), MAX_QUEUE_MEMBERS);
        assert_eq!(queue.priority, "high");
        let intent = Intent {
            recipient: "agent-1".into(),
            channel: crate::domain::Channel::InApp,
            kind: "routing.queued",
        };
        let ctx = context(&fact, "routing.queued", &intent, "");
        assert_eq!(ctx["queue"]["group"], "printers");
        assert_eq!(ctx["queue"]["position"], 4);
        assert_eq!(ctx["ticket"]["name"], "tickets/abc");

        let escalated = Envelope {
            payload: Some(Payload::RoutingEscalated(RoutingEscalated {
                ticket: "tickets/abc".into(),
                trigger: "sla.breached".into(),
                actions: vec!["reassign_to".into()],
                new_assignee: "agent-sup".into(),
                ..Default::default()
            })),
            ..Default::default()
        };
        let fact = fact_of(&escalated);
        let Fact::Escalated { escalation, .. } = &fact else {
            panic!("not an escalation fact: {fact:?}")
        };
        assert_eq!(escalation.new_assignee, "agent-sup");
        let ctx = context(&fact, "routing.escalated", &intent, "");
        assert_eq!(ctx["escalation"]["trigger"], "sla.breached");
        assert_eq!(ctx["escalation"]["actions"][0], "reassign_to");
    }
}
