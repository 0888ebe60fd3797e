//! Wire events to domain facts, and facts to template contexts.

use serde_json::{Value, json};
use switchboard_proto::{
    common::v1::ActorKind,
    events::v1::{Envelope, SlaTargetKind, envelope::Payload},
    ticket::v1::{Ticket, TicketStatus, Visibility},
};

use crate::domain::{Fact, Intent, MessageFact, TicketFact};

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
    let (ticket, message, sla_target) = match fact {
        Fact::MessageAdded(t, m) => (Some(t), Some(m), ""),
        Fact::Solved(t) => (Some(t), None, ""),
        Fact::Assigned { ticket, .. } => (Some(ticket), None, ""),
        Fact::SlaBreached { ticket, target } => (Some(ticket), None, target.as_str()),
        Fact::Other => (None, None, ""),
    };
    json!({
        "event_type": event_type,
        "recipient": intent.recipient,
        "ticket": ticket.map(|t| json!({
            "name": t.name, "number": t.number, "subject": t.subject,
        })),
        "message": message.map(|m| json!({"body": m.body, "author": m.author})),
        "survey_url": ticket.map(|t| survey_url.replace("{ticket}", &t.id)).unwrap_or_default(),
        "sla_target": sla_target,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_proto::{
        common::v1::Actor,
        events::v1::{MessageAdded, TicketStatusChanged},
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
        assert_eq!(fact_of(&changed(TicketStatus::Pending)), Fact::Other);
        let fact = fact_of(&changed(TicketStatus::Solved));
        let intent = crate::domain::recipients(&fact, "a", Some("x@example.com"))[0].clone();
        let ctx = context(
            &fact,
            "ticket.status_changed",
            &intent,
            "https://s/{ticket}",
        );
        assert_eq!(ctx["survey_url"], "https://s/abc");
        assert_eq!(ctx["ticket"]["number"], 12);
    }
}
