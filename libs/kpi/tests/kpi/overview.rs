use switchboard_kpi::fact::{Channel, Priority, SlaTarget, SlaTargets, Status::*};
use switchboard_kpi::overview::{
    AgentRow, ElapsedStats, GroupBy, Value, Volume, backlog, measure, overview, volume,
};
use switchboard_kpi::{DurationStats, Metric, Range, Rate, TicketEvent, TicketFact};
use switchboard_sla::Calendar;
use uuid::Uuid;

use crate::support::*;

#[allow(clippy::too_many_arguments)]
fn opened(
    at: f64,
    channel: Channel,
    priority: Priority,
    group: Option<&str>,
    tags: &[&str],
    assignee: Option<&str>,
    sla: SlaTargets,
) -> TicketEvent {
    TicketEvent::Created {
        at: mon(at),
        by_agent: false,
        channel,
        priority,
        group: group.map(Into::into),
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        assignee: assignee.map(Into::into),
        sla,
    }
}

const BOTH: SlaTargets = SlaTargets {
    first_reply: true,
    resolution: true,
};

/// Six tickets around Monday 2025-01-06 (hours from its midnight, UTC):
///
/// - A 08–10: replied at 09, solved at 10, one touch, rated 5.
/// - B 09–18: pending 10–12, solved 14, reopened 15, solved 18 after a
///   resolution breach at 17, three replies, rated 2.
/// - C 10–: first reply at 12, still open (ana's load).
/// - D 12–13: merged away.
/// - E Sunday 20:00 – Monday 02:00, no reply.
/// - F Tuesday 01:00, after the range.
fn desk() -> Vec<TicketFact> {
    let s = |at, from, to| status(mon(at), from, to);
    let histories = [
        vec![
            opened(
                8.0,
                Channel::Email,
                Priority::High,
                Some("billing"),
                &["vip", "refund"],
                Some("ana"),
                BOTH,
            ),
            reply(mon(9.0), "ana"),
            s(9.0, New, Open),
            s(10.0, Open, Solved),
            rated(mon(11.0), 5),
        ],
        vec![
            opened(
                9.0,
                Channel::Chat,
                Priority::Normal,
                Some("billing"),
                &["refund"],
                None,
                SlaTargets {
                    first_reply: false,
                    resolution: true,
                },
            ),
            assign(mon(9.5), Some("bo"), Some("billing")),
            s(9.5, New, Open),
            reply(mon(10.0), "bo"),
            s(10.0, Open, Pending),
            customer(mon(12.0)),
            s(12.0, Pending, Open),
            reply(mon(13.0), "bo"),
            s(14.0, Open, Solved),
            customer(mon(15.0)),
            s(15.0, Solved, Open),
            reply(mon(16.0), "bo"),
            TicketEvent::SlaBreached {
                at: mon(17.0),
                target: SlaTarget::Resolution,
            },
            s(18.0, Open, Solved),
            rated(mon(19.0), 2),
        ],
        vec![
            opened(
                10.0,
                Channel::Email,
                Priority::Normal,
                None,
                &[],
                Some("ana"),
                SlaTargets::default(),
            ),
            reply(mon(12.0), "ana"),
            s(12.0, New, Open),
        ],
        vec![
            opened(
                12.0,
                Channel::Phone,
                Priority::Urgent,
                Some("tech"),
                &["outage"],
                None,
                SlaTargets::default(),
            ),
            TicketEvent::MergedInto {
                at: mon(13.0),
                target: Uuid::from_u128(1),
            },
            s(13.0, New, Closed),
        ],
        vec![
            opened(
                -4.0,
                Channel::Email,
                Priority::Normal,
                None,
                &[],
                Some("bo"),
                SlaTargets::default(),
            ),
            s(2.0, New, Solved),
        ],
        vec![created(mon(25.0))],
    ];
    histories
        .iter()
        .map(|h| TicketFact::fold(h, &Calendar::always(), mon(48.0)).unwrap())
        .collect()
}

fn monday() -> Range {
    Range::new(mon(0.0), mon(24.0))
}

fn stats(count: u64, mean: f64, median: f64, p90: f64) -> ElapsedStats {
    let s = Some(DurationStats {
        count,
        mean,
        median,
        p90,
    });
    ElapsedStats {
        calendar: s,
        business: s,
    }
}

fn vol(key: Option<&str>, count: u64) -> Volume {
    Volume {
        key: key.map(Into::into),
        count,
    }
}

#[test]
fn headline_counts_and_backlog() {
    let o = overview(&desk(), monday());
    assert_eq!(o.created, 4);
    assert_eq!(o.solved, 3);
    assert_eq!(o.backlog_at_start, 1);
    assert_eq!(o.backlog_at_end, 1);
}

#[test]
fn duration_stats_per_metric() {
    let o = overview(&desk(), monday());
    assert_eq!(o.first_reply, stats(3, 4800.0, 3600.0, 7200.0));
    assert_eq!(o.first_resolution, stats(3, 15600.0, 18000.0, 21600.0));
    assert_eq!(o.full_resolution, stats(3, 20400.0, 21600.0, 32400.0));
    assert_eq!(o.requester_wait, stats(3, 16800.0, 21600.0, 21600.0));
    assert_eq!(o.agent_wait, stats(3, 2400.0, 0.0, 7200.0));
}

#[test]
fn shares_and_satisfaction() {
    let o = overview(&desk(), monday());
    assert_eq!(o.csat, Rate::new(1, 2));
    assert_eq!(o.average_score, Some(3.5));
    assert_eq!(o.one_touch, Rate::new(1, 3));
    assert_eq!(o.reopened, Rate::new(1, 3));
    assert_eq!(o.sla_first_reply, Rate::new(1, 1));
    assert_eq!(o.sla_resolution, Rate::new(1, 2));
}

#[test]
fn volume_breakdowns() {
    let o = overview(&desk(), monday());
    assert_eq!(
        o.by_channel,
        vec![
            vol(Some("email"), 2),
            vol(Some("chat"), 1),
            vol(Some("phone"), 1),
        ]
    );
    assert_eq!(
        o.by_priority,
        vec![
            vol(Some("normal"), 2),
            vol(Some("high"), 1),
            vol(Some("urgent"), 1),
        ]
    );
    assert_eq!(
        o.by_group,
        vec![vol(Some("billing"), 2), vol(None, 1), vol(Some("tech"), 1)]
    );
    assert_eq!(
        o.by_tag,
        vec![
            vol(Some("refund"), 2),
            vol(None, 1),
            vol(Some("outage"), 1),
            vol(Some("vip"), 1),
        ]
    );
    assert_eq!(
        volume(&desk(), monday(), GroupBy::Assignee),
        vec![vol(Some("ana"), 2), vol(None, 1), vol(Some("bo"), 1)]
    );
}

#[test]
fn agent_table() {
    let o = overview(&desk(), monday());
    let handle = |values: &[f64]| {
        let s = DurationStats {
            count: values.len() as u64,
            mean: values.iter().sum::<f64>() / values.len() as f64,
            median: values.iter().sum::<f64>() / values.len() as f64,
            p90: values.iter().copied().fold(0.0, f64::max),
        };
        ElapsedStats {
            calendar: Some(s),
            business: Some(s),
        }
    };
    assert_eq!(
        o.agents,
        vec![
            AgentRow {
                agent: "ana".into(),
                solved: 1,
                public_replies: 2,
                handle_time: handle(&[7200.0]),
                load: 1,
            },
            AgentRow {
                agent: "bo".into(),
                solved: 2,
                public_replies: 3,
                handle_time: handle(&[32400.0, 21600.0]),
                load: 0,
            },
        ]
    );
    assert_eq!(o.agents[1].handle_time.calendar.unwrap().median, 27000.0);
}

#[test]
fn backlog_follows_solves_reopens_and_merges() {
    let facts = desk();
    // B pending and C open; A solved at 10, E at 02.
    assert_eq!(backlog(&facts, mon(11.0)), 2);
    // B solved at 14, D merged at 13.
    assert_eq!(backlog(&facts, mon(12.5)), 3);
    assert_eq!(backlog(&facts, mon(14.5)), 1);
    // B reopened at 15.
    assert_eq!(backlog(&facts, mon(15.5)), 2);
    assert_eq!(
        measure(&facts, Metric::Backlog, Range::new(mon(0.0), mon(15.5))),
        Value::Count(2)
    );
}

#[test]
fn a_range_before_anything_is_empty_not_zero() {
    let o = overview(&desk(), Range::new(mon(-48.0), mon(-24.0)));
    assert_eq!((o.created, o.solved), (0, 0));
    assert_eq!(o.first_reply.calendar, None);
    assert_eq!(o.csat.value(), None);
    assert_eq!(o.average_score, None);
    // Load is current, whatever the range.
    assert_eq!(
        o.agents,
        vec![AgentRow {
            agent: "ana".into(),
            solved: 0,
            public_replies: 0,
            handle_time: ElapsedStats {
                calendar: None,
                business: None,
            },
            load: 1,
        }]
    );
}
