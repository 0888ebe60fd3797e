//! Samples against `switchboard-kpi`: for any range, adding up the samples
//! inside it gives exactly what the metrics compute from the facts.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use switchboard_kpi::TicketEvent;
use switchboard_kpi::fact::{Author, Channel, Priority, SlaTarget, SlaTargets, Status};
use switchboard_kpi::overview::{self as kpi, Metric};
use switchboard_kpi::{Basis, Range, TicketFact};
use switchboard_sla::Calendar;
use uuid::Uuid;

use super::*;
use crate::cells::{Cells, Kind};
use crate::report::measure_of;

fn t(minutes: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000 + minutes * 60, 0).unwrap()
}

fn ticket(created: i64, channel: Channel, sla: SlaTargets, more: Vec<TicketEvent>) -> TicketFact {
    let mut events = vec![TicketEvent::Created {
        at: t(created),
        by_agent: false,
        channel,
        priority: Priority::High,
        group: Some("support".into()),
        tags: vec!["b".into(), "a".into(), "b".into()],
        assignee: None,
        sla,
    }];
    events.extend(more);
    crate::ingest::fold(&events, &Calendar::always()).unwrap()
}

fn reply(at: i64, agent: &str) -> TicketEvent {
    TicketEvent::Message {
        at: t(at),
        public: true,
        author: Author::Agent(agent.into()),
    }
}

fn to(at: i64, to: Status) -> TicketEvent {
    TicketEvent::Status {
        at: t(at),
        from: Status::New,
        to,
    }
}

/// Reopens, merges, SLA breaches, a solve at the instant of creation and
/// a reopen at the same instant, out-of-order timestamps.
fn facts() -> Vec<TicketFact> {
    let both = SlaTargets {
        first_reply: true,
        resolution: true,
    };
    vec![
        ticket(
            0,
            Channel::Email,
            both,
            vec![
                reply(30, "ann"),
                to(60, Status::Solved),
                TicketEvent::Rated {
                    at: t(70),
                    score: 5,
                },
            ],
        ),
        ticket(
            10,
            Channel::Chat,
            SlaTargets::default(),
            vec![
                TicketEvent::Assigned {
                    at: t(12),
                    assignee: Some("bo".into()),
                    group: Some("billing".into()),
                },
                reply(20, "bo"),
                to(20, Status::Pending),
                to(70, Status::Open),
                to(100, Status::Solved),
                to(130, Status::Open),
                reply(140, "ann"),
                to(200, Status::Solved),
                TicketEvent::Rated {
                    at: t(210),
                    score: 2,
                },
            ],
        ),
        ticket(
            5,
            Channel::Phone,
            both,
            vec![
                TicketEvent::SlaBreached {
                    at: t(100),
                    target: SlaTarget::FirstReply,
                },
                reply(150, "ann"),
            ],
        ),
        ticket(
            50,
            Channel::Email,
            both,
            vec![
                reply(55, "bo"),
                TicketEvent::MergedInto {
                    at: t(80),
                    target: Uuid::nil(),
                },
                to(80, Status::Closed),
            ],
        ),
        ticket(
            100,
            Channel::WebForm,
            both,
            vec![
                TicketEvent::SlaBreached {
                    at: t(180),
                    target: SlaTarget::Resolution,
                },
                reply(190, "ann"),
                to(220, Status::Solved),
            ],
        ),
        ticket(
            300,
            Channel::Sms,
            SlaTargets::default(),
            vec![
                to(300, Status::Solved),
                to(300, Status::Open),
                to(250, Status::Solved),
                to(400, Status::Closed),
            ],
        ),
    ]
}

/// Instants around every event, to the nanosecond.
fn instants() -> Vec<DateTime<Utc>> {
    let ns = TimeDelta::nanoseconds(1);
    [
        -1, 0, 5, 10, 20, 30, 55, 60, 70, 80, 100, 130, 150, 190, 200, 220, 300, 400, 1000,
    ]
    .into_iter()
    .flat_map(|m| [t(m) - ns, t(m), t(m) + ns])
    .collect()
}

#[test]
fn backlog_steps_before_an_instant_are_the_backlog_then() {
    for fact in facts() {
        let samples = Samples::of(&fact);
        for at in instants() {
            let level: i64 = samples
                .items
                .iter()
                .filter(|i| i.at < at)
                .map(|i| match i.what {
                    What::Backlog(step) => i64::from(step),
                    _ => 0,
                })
                .sum();
            assert_eq!(level, i64::from(fact.in_backlog_at(at)), "{at} {fact:?}");
        }
    }
}

#[test]
fn samples_in_a_range_add_up_to_every_metric() {
    let facts = facts();
    let samples: Vec<Samples> = facts.iter().map(Samples::of).collect();
    let metrics = [Basis::Calendar, Basis::Business]
        .into_iter()
        .flat_map(|b| {
            [
                Metric::FirstReplyTime(b),
                Metric::FirstResolutionTime(b),
                Metric::FullResolutionTime(b),
                Metric::RequesterWaitTime(b),
                Metric::AgentWaitTime(b),
            ]
        })
        .chain([
            Metric::Created,
            Metric::Solved,
            Metric::Csat,
            Metric::AverageScore,
            Metric::OneTouch,
            Metric::Reopened,
            Metric::SlaFirstReply,
            Metric::SlaResolution,
        ]);
    let metrics: Vec<Metric> = metrics.collect();
    let instants = instants();
    let mut checked = 0;
    for from in &instants {
        for to in instants.iter().filter(|to| *to > from) {
            let range = Range::new(*from, *to);
            let mut cells = Cells::new(true);
            let mut replies: BTreeMap<String, u64> = BTreeMap::new();
            for item in samples.iter().flat_map(|s| &s.items) {
                if !range.contains(item.at) {
                    continue;
                }
                match &item.what {
                    What::Reply(agent) => *replies.entry(agent.clone()).or_default() += 1,
                    what => what.add_to(&mut cells, 1),
                }
            }
            for metric in &metrics {
                let (m, kind) = measure_of(*metric).unwrap();
                let want = kpi::measure(&facts, *metric, range);
                assert_eq!(cells.value(m, kind), want, "{metric:?} over {from}..{to}");
                if kind == Kind::Count {
                    checked += cells.count(m);
                }
            }
            let per_agent: BTreeMap<String, u64> = kpi::agents(&facts, range)
                .into_iter()
                .filter(|a| a.public_replies > 0)
                .map(|a| (a.agent, a.public_replies))
                .collect();
            assert_eq!(replies, per_agent, "replies over {from}..{to}");
        }
    }
    assert!(checked > 100, "the ranges hold samples");
}
