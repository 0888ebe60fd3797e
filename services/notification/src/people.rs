//! Who is the desk's staff, as a batch of events leaves it: read once for
//! every person the batch's facts name, updated in stream order by the
//! events that show someone's standing, written back once.
//!
//! Staff is what the events prove, never what they claim: someone acting
//! with a staff token, or an agent of routing's own registry. Customers are
//! whoever acts with a customer token, requesters by name and address, and
//! merged customers' identities. A follower, mention or assignee list
//! proves nothing (an agent may type anything there), and a person seen
//! once as a customer stays one.

use std::collections::HashMap;

use sqlx::PgConnection;
use switchboard_events::{Envelope, Payload};
use switchboard_proto::common::v1::{ActorKind, Role};

use crate::{
    convert,
    store::{self, projection::PersonKey},
};

/// The batch's view of the `people` table.
#[derive(Debug, Default)]
pub struct People {
    /// Every key read, with its standing as of the event being handled
    /// (`None`: not known).
    known: HashMap<PersonKey, Option<bool>>,
    /// Standings the batch's events showed, a customer winning.
    learned: HashMap<PersonKey, bool>,
}

impl People {
    /// Reads the people `keys` name, in one query.
    pub async fn load(conn: &mut PgConnection, keys: &[PersonKey]) -> Result<Self, sqlx::Error> {
        let mut found = store::people(conn, keys).await?;
        let known = keys.iter().map(|k| (k.clone(), found.remove(k))).collect();
        Ok(Self {
            known,
            learned: HashMap::new(),
        })
    }

    /// Whether `user` is known as staff of `tenant` as the events so far
    /// leave it; only keys given to [`People::load`] can be.
    pub fn is_staff(&self, tenant: &str, user: &str) -> bool {
        self.known
            .get(&(tenant.to_owned(), user.to_owned()))
            .copied()
            .flatten()
            .unwrap_or(false)
    }

    /// What to write back.
    pub fn learned(&self) -> &HashMap<PersonKey, bool> {
        &self.learned
    }

    /// Remembers the standings `event` shows.
    pub fn learn_from(&mut self, event: &Envelope) {
        for (user, staff) in evidence(event) {
            let key = (event.tenant_id.clone(), user);
            if let Some(slot) = self.known.get_mut(&key) {
                *slot = Some(slot.unwrap_or(true) && staff);
            }
            let merged = self.learned.get(&key).copied().unwrap_or(true) && staff;
            self.learned.insert(key, merged);
        }
    }
}

/// The people `event` shows to be staff (`true`) or customers (`false`).
pub fn evidence(event: &Envelope) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut add = |user: &str, staff: bool| {
        if !user.is_empty() {
            out.push((user.to_owned(), staff));
        }
    };
    if let Some(actor) = &event.actor {
        let role = Role::try_from(actor.role).unwrap_or(Role::Unspecified);
        match ActorKind::try_from(actor.kind) {
            Ok(ActorKind::Agent)
                if matches!(role, Role::Agent | Role::Supervisor | Role::Admin) =>
            {
                add(&actor.id, true)
            }
            Ok(ActorKind::Customer) => add(&actor.id, false),
            _ => {}
        }
    }
    if let Some(ticket) = convert::ticket_of(event) {
        add(&ticket.requester, false);
    }
    match &event.payload {
        Some(Payload::TicketCreated(c)) => add(&c.requester_email, false),
        Some(Payload::CustomerMerged(m)) => {
            add(&m.source, false);
            if let Some(target) = &m.target {
                add(&target.name, false);
                for identity in &target.identities {
                    add(&identity.value, false);
                }
            }
        }
        // Routing names only agents of its registry.
        Some(Payload::AgentStatusChanged(s)) => {
            add(s.agent.strip_prefix("agents/").unwrap_or(&s.agent), true)
        }
        Some(Payload::RoutingAssigned(a)) => add(&a.assignee, true),
        Some(Payload::RoutingEscalated(e)) => add(&e.new_assignee, true),
        Some(Payload::RoutingQueued(q)) => {
            for member in q.members.iter().take(convert::MAX_QUEUE_MEMBERS) {
                add(member, true);
            }
        }
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use switchboard_proto::{
        common::v1::Actor,
        events::v1::{AgentStatusChanged, MessageAdded, RoutingQueued, TicketCreated},
        ticket::v1::{Message, Ticket},
    };

    use super::*;

    fn actor(kind: ActorKind, role: Role, id: &str) -> Option<Actor> {
        Some(Actor {
            kind: kind as i32,
            id: id.into(),
            role: role as i32,
        })
    }

    fn ticket() -> Option<Ticket> {
        Some(Ticket {
            requester: "customers/c1".into(),
            followers: vec!["bob@example.com".into()],
            assignee: "customers/c2".into(),
            ..Default::default()
        })
    }

    #[test]
    fn staff_tokens_and_routing_prove_staff_and_lists_prove_nothing() {
        let note = Envelope {
            tenant_id: "acme".into(),
            actor: actor(ActorKind::Agent, Role::Agent, "agent-ann"),
            payload: Some(Payload::MessageAdded(MessageAdded {
                ticket: ticket(),
                message: Some(Message {
                    mentions: vec!["carol@example.com".into()],
                    ..Default::default()
                }),
            })),
            ..Default::default()
        };
        assert_eq!(
            evidence(&note),
            [
                ("agent-ann".to_owned(), true),
                ("customers/c1".to_owned(), false)
            ]
        );
        let created = Envelope {
            actor: actor(ActorKind::Customer, Role::Customer, "ada@example.com"),
            payload: Some(Payload::TicketCreated(TicketCreated {
                ticket: ticket(),
                requester_email: "ada@example.com".into(),
            })),
            ..Default::default()
        };
        assert!(evidence(&created).iter().all(|(_, staff)| !staff));
        // An agent kind without a staff role, or an integration, proves nothing.
        for a in [
            actor(ActorKind::Agent, Role::Unspecified, "x"),
            actor(ActorKind::Agent, Role::Customer, "x"),
            actor(ActorKind::Integration, Role::Admin, "x"),
            actor(ActorKind::System, Role::Unspecified, "x"),
        ] {
            let e = Envelope {
                actor: a,
                ..Default::default()
            };
            assert!(evidence(&e).is_empty());
        }
        let online = Envelope {
            payload: Some(Payload::AgentStatusChanged(AgentStatusChanged {
                agent: "agents/bo".into(),
                ..Default::default()
            })),
            ..Default::default()
        };
        assert_eq!(evidence(&online), [("bo".to_owned(), true)]);
        let queued = Envelope {
            payload: Some(Payload::RoutingQueued(RoutingQueued {
                members: vec!["cy".into(), String::new()],
                ..Default::default()
            })),
            ..Default::default()
        };
        assert_eq!(evidence(&queued), [("cy".to_owned(), true)]);
    }

    #[test]
    fn a_customer_seen_once_stays_a_customer() {
        let key = ("acme".to_owned(), "x@example.com".to_owned());
        let mut people = People {
            known: HashMap::from([(key.clone(), None)]),
            learned: HashMap::new(),
        };
        assert!(!people.is_staff("acme", "x@example.com"), "unknown");
        let as_staff = Envelope {
            tenant_id: "acme".into(),
            actor: actor(ActorKind::Agent, Role::Agent, "x@example.com"),
            ..Default::default()
        };
        people.learn_from(&as_staff);
        assert!(people.is_staff("acme", "x@example.com"));
        assert!(!people.is_staff("other", "x@example.com"), "per tenant");
        let as_customer = Envelope {
            actor: actor(ActorKind::Customer, Role::Customer, "x@example.com"),
            ..as_staff.clone()
        };
        people.learn_from(&as_customer);
        people.learn_from(&as_staff);
        assert!(!people.is_staff("acme", "x@example.com"));
        assert_eq!(people.learned().get(&key), Some(&false));
    }
}
