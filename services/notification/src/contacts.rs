//! Customers' addresses as a batch of events leaves them: read once for
//! every requester the batch asks about, updated in stream order by the
//! events that show an address, written back once.

use std::collections::HashMap;

use sqlx::PgConnection;
use switchboard_events::{Envelope, Payload};
use switchboard_proto::{
    common::v1::ActorKind,
    ticket::v1::{Customer, IdentityKind},
};

use crate::{
    convert,
    domain::templates,
    store::{self, Contact, projection::ContactKey},
};

/// The batch's view of the `contacts` table.
#[derive(Debug, Default)]
pub struct Contacts {
    /// Every key read, with its row as of the event being handled (`None`:
    /// no address known yet).
    known: HashMap<ContactKey, Option<Contact>>,
    /// Addresses the batch's events showed, the last one per customer.
    learned: HashMap<ContactKey, String>,
}

impl Contacts {
    /// Reads the contacts `keys` name, in one query.
    pub async fn load(conn: &mut PgConnection, keys: &[ContactKey]) -> Result<Self, sqlx::Error> {
        let mut found = store::contacts(conn, keys).await?;
        let known = keys.iter().map(|k| (k.clone(), found.remove(k))).collect();
        Ok(Self {
            known,
            learned: HashMap::new(),
        })
    }

    /// `customer`'s address as the events so far leave it; only keys given
    /// to [`Contacts::load`] are known.
    pub fn get(&self, tenant: &str, customer: &str) -> Option<Contact> {
        self.known
            .get(&(tenant.to_owned(), customer.to_owned()))
            .cloned()
            .flatten()
    }

    /// What to write back: each customer's last learned address.
    pub fn learned(&self) -> &HashMap<ContactKey, String> {
        &self.learned
    }

    /// Remembers customers' addresses from an event that shows them: a
    /// merged customer's email identity, the address a ticket was opened
    /// with (whoever opened it), and a customer acting (as their email
    /// address, which customer tokens carry) on their own ticket.
    pub fn learn_from(&mut self, event: &Envelope) {
        let tenant = &event.tenant_id;
        if let Some(Payload::TicketCreated(c)) = &event.payload
            && let Some(ticket) = &c.ticket
            && !ticket.requester.is_empty()
            && email_address::EmailAddress::is_valid(&c.requester_email)
        {
            self.learn(tenant, &ticket.requester, c.requester_email.clone());
            return;
        }
        if let Some(Payload::CustomerMerged(m)) = &event.payload {
            if let Some(target) = &m.target
                && let Some(email) = email_of(target)
            {
                self.learn(tenant, &target.name, email);
            }
            return;
        }
        let Some(actor) = &event.actor else {
            return;
        };
        let Some(ticket) = convert::ticket_of(event) else {
            return;
        };
        if actor.kind == ActorKind::Customer as i32
            && !ticket.requester.is_empty()
            && email_address::EmailAddress::is_valid(&actor.id)
        {
            self.learn(tenant, &ticket.requester, actor.id.clone());
        }
    }

    fn learn(&mut self, tenant: &str, customer: &str, email: String) {
        let key = (tenant.to_owned(), customer.to_owned());
        if let Some(slot) = self.known.get_mut(&key) {
            match slot {
                Some(contact) => contact.email = email.clone(),
                // The column's default locale, as the insert will store it.
                None => {
                    *slot = Some(Contact {
                        email: email.clone(),
                        locale: templates::DEFAULT_LOCALE.to_owned(),
                    })
                }
            }
        }
        self.learned.insert(key, email);
    }
}

fn email_of(customer: &Customer) -> Option<String> {
    customer
        .identities
        .iter()
        .find(|i| i.kind == IdentityKind::Email as i32)
        .map(|i| i.value.clone())
}

#[cfg(test)]
mod tests {
    use switchboard_proto::{common::v1::Actor, events::v1::TicketCreated, ticket::v1::Ticket};

    use super::*;

    fn created(requester_email: &str) -> Envelope {
        Envelope {
            tenant_id: "acme".into(),
            actor: Some(Actor {
                kind: ActorKind::Agent as i32,
                id: "agent-7".into(),
                ..Default::default()
            }),
            payload: Some(Payload::TicketCreated(TicketCreated {
                ticket: Some(Ticket {
                    requester: "customers/c1".into(),
                    ..Default::default()
                }),
                requester_email: requester_email.into(),
            })),
            ..Default::default()
        }
    }

    #[test]
    fn a_ticket_an_agent_opens_teaches_the_requesters_address() {
        let key = ("acme".to_owned(), "customers/c1".to_owned());
        let mut contacts = Contacts {
            known: HashMap::from([(key.clone(), None)]),
            learned: HashMap::new(),
        };
        contacts.learn_from(&created(""));
        contacts.learn_from(&created("not an address"));
        assert!(contacts.get("acme", "customers/c1").is_none());
        contacts.learn_from(&created("ann@example.com"));
        assert_eq!(
            contacts.get("acme", "customers/c1").map(|c| c.email),
            Some("ann@example.com".to_owned())
        );
        assert_eq!(contacts.learned()[&key], "ann@example.com");
    }
}
