//! A scripted week of a small desk, in three batches that change tickets
//! already stored: the second reopens solved tickets, moves tickets to
//! another group and agent, changes tags and priorities; the third solves
//! the reopened ones again and rates them.

use chrono::{DateTime, TimeDelta, Utc};
use switchboard_events::{Envelope, Payload};
use switchboard_proto::{
    common::v1::{Channel as Ch, Priority as P},
    events::v1 as ev,
    ticket::v1::{self as tpb, TicketStatus as S},
};

use crate::helpers::*;

/// A tag that needs quoting wherever it goes.
pub const ODD_TAG: &str = "say \"hi\", {x}\\";

/// Ticket subjects, picked per ticket: their terms repeat across the week.
const SUBJECTS: [&str; 6] = [
    "Refund not received",
    "Cannot log in to my account",
    "Invoice shows the wrong VAT",
    "Login fails after the update",
    "Rückerstattung für Bestellung 1234",
    "The app crashes on login",
];

/// Monday 2026-11-16, UTC.
pub fn monday() -> DateTime<Utc> {
    day(2026, 11, 16)
}

/// SplitMix64: reproducible pseudo-random numbers per ticket.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn minutes(m: u64) -> TimeDelta {
    TimeDelta::minutes(m as i64)
}

trait Edits {
    fn updated(self, when: DateTime<Utc>, field: &str, edit: impl FnOnce(&mut tpb::Ticket))
    -> Self;
    fn breach_resolution(self, when: DateTime<Utc>) -> Self;
}

impl Edits for Script {
    /// `ticket.updated` with one changed field.
    fn updated(
        mut self,
        when: DateTime<Utc>,
        field: &str,
        edit: impl FnOnce(&mut tpb::Ticket),
    ) -> Self {
        self.bump();
        edit(&mut self.ticket);
        let payload = Payload::TicketUpdated(ev::TicketUpdated {
            ticket: Some(self.ticket.clone()),
            changed_fields: vec![field.into()],
            erased_customer: String::new(),
        });
        self.push(when, "ticket.updated", staff("sue"), payload);
        self
    }

    /// `sla.breached` for the resolution target.
    fn breach_resolution(mut self, when: DateTime<Utc>) -> Self {
        self.bump();
        let payload = Payload::SlaBreached(ev::SlaBreached {
            ticket: Some(self.ticket.clone()),
            target: ev::SlaTargetKind::Resolution as i32,
            due_time: Some(ts(when)),
        });
        self.push(when, "sla.breached", staff("system"), payload);
        self
    }
}

/// The week's events in three batches.
pub fn batches() -> [Vec<Envelope>; 3] {
    let mut out: [Vec<Envelope>; 3] = Default::default();
    let mut previous: Option<Script> = None;
    for i in 0..90u64 {
        let r = |salt: u64| mix(i * 131 + salt);
        let created =
            monday() + minutes(i * 101 + r(1) % 60) + TimeDelta::seconds((r(2) % 60) as i64);
        let channel = [Ch::Email, Ch::Chat, Ch::Phone, Ch::WebForm][(r(3) % 4) as usize];
        let urgent = i % 5 == 2;
        let tags: Vec<String> = match i % 4 {
            0 => vec![],
            1 => vec![format!("t{}", r(4) % 3), ODD_TAG.into()],
            _ => vec![format!("t{}", r(4) % 3), "vip".into(), "vip".into()],
        };
        let by_agent = (i % 13 == 6).then_some("ann");
        let subject = SUBJECTS[(r(12) % SUBJECTS.len() as u64) as usize];
        let mut s = Script::created(created, channel, by_agent, |t| {
            t.subject = subject.into();
            t.tags = tags;
            if urgent {
                t.priority = P::Urgent as i32;
                t.sla = Some(tpb::SlaState {
                    first_response_due_time: Some(ts(created + TimeDelta::hours(1))),
                    resolution_due_time: Some(ts(created + TimeDelta::hours(8))),
                    ..Default::default()
                });
            } else if i % 3 == 0 {
                t.priority = P::Low as i32;
            }
        });
        let agent = format!("a{}", i % 4);
        let mut at = created;
        if i % 7 != 0 {
            at += minutes(1 + r(5) % 20);
            s = s.assign(at, &agent, &format!("g{}", i % 3));
        }
        if i % 11 == 10
            && let Some(target) = &previous
        {
            // A duplicate: merged before anyone answers it.
            s = s.merge_into(at + minutes(30), target);
            out[0].append(&mut s.events);
            continue;
        }
        let mut solved = None;
        if i % 9 != 4 {
            at += minutes(3 + r(6) % 400);
            if urgent && at > created + TimeDelta::hours(1) {
                s = s.breach_first_reply(created + TimeDelta::hours(1));
            }
            s = s.reply(at, &agent);
            if i % 4 == 1 {
                at += minutes(r(7) % 90);
                s = s.status(at, S::Pending);
                at += minutes(10 + r(8) % 300);
                s = s.customer_writes(at).status(at, S::Open);
                at += minutes(5 + r(9) % 60);
                s = s.reply(at, &agent);
            }
            if i % 10 < 7 {
                at += minutes(1 + r(10) % 900);
                if urgent && at > created + TimeDelta::hours(8) {
                    s = s.breach_resolution(created + TimeDelta::hours(8));
                }
                s = s.status(at, S::Solved);
                solved = Some(at);
                if i % 3 == 0 {
                    s = s.rate(at + minutes(30), 1 + (r(11) % 5) as i32);
                }
            }
        }
        out[0].append(&mut s.events);

        // Second batch: changes to what is stored.
        let later = at + TimeDelta::hours(2);
        let reopened = solved.is_some() && i % 5 == 0;
        if reopened {
            s = s.customer_writes(later).status(later, S::Open);
        }
        if i % 6 == 0 {
            s = s.assign(
                later + minutes(1),
                &format!("a{}", (i + 1) % 4),
                &format!("g{}", (i + 1) % 3),
            );
        }
        if i % 8 == 0 {
            s = s.updated(later + minutes(2), "tags", |t| {
                t.tags = vec!["moved".into(), "t1".into()];
            });
        }
        if i % 12 == 0 {
            s = s.updated(later + minutes(3), "priority", |t| {
                t.priority = P::High as i32
            });
        }
        out[1].append(&mut s.events);

        // Third batch: the reopened tickets are solved again.
        if reopened {
            let again = later + TimeDelta::hours(20);
            s = s.reply(again - minutes(5), "ann").status(again, S::Solved);
            if i % 2 == 0 {
                s = s.rate(again + minutes(10), 4);
            }
        }
        out[2].append(&mut s.events);
        previous = Some(s);
    }
    out
}

/// Each ticket's creation instant and subject terms, from the week's
/// `ticket.created` events.
pub fn subjects() -> Vec<(DateTime<Utc>, Vec<String>)> {
    batches()
        .concat()
        .iter()
        .filter_map(|e| match &e.payload {
            Some(Payload::TicketCreated(c)) => Some((
                switchboard_analytics::convert::timestamp(e.occurred_at.as_ref())?,
                switchboard_kpi::terms::subject_terms(&c.ticket.as_ref()?.subject),
            )),
            _ => None,
        })
        .collect()
}
