use switchboard_kpi::fact::{
    Author, Channel, Merge, Priority, SlaRecord, SlaTarget, SlaTargets, Span, Status::*,
};
use switchboard_kpi::{Elapsed, FoldError, TicketEvent, TicketFact, Timeline};
use switchboard_sla::Calendar;
use uuid::Uuid;

use crate::support::*;

fn fold(events: &[TicketEvent]) -> TicketFact {
    TicketFact::fold(events, &Calendar::always(), mon(48.0)).unwrap()
}

fn both(seconds: i64) -> Elapsed {
    Elapsed {
        calendar: seconds,
        business: seconds,
    }
}

#[test]
fn first_reply_over_a_weekend_counts_one_business_hour() {
    // Friday 17:30 Berlin (CET): 30 open minutes on Friday, 30 on Monday.
    let created_at = local("Europe/Berlin", 2025, 3, 7, 17, 30);
    let replied_at = local("Europe/Berlin", 2025, 3, 10, 9, 30);
    let events = [
        created(created_at),
        reply(replied_at, "ana"),
        status(replied_at, New, Open),
    ];
    let fact = TicketFact::fold(&events, &berlin_office(), replied_at).unwrap();
    assert_eq!(fact.first_reply_at, Some(replied_at));
    assert_eq!(
        fact.first_reply,
        Some(Elapsed {
            calendar: 64 * HOUR,
            business: 3600,
        })
    );
    // New for the whole span, and the requester was the one waiting.
    assert_eq!(fact.requester_wait, fact.first_reply.unwrap());
}

#[test]
fn reopen_splits_first_and_full_resolution() {
    let events = [
        created(mon(0.0)),
        reply(mon(1.0), "ana"),
        status(mon(1.0), New, Open),
        status(mon(2.0), Open, Solved),
        customer(mon(5.0)),
        status(mon(5.0), Solved, Open),
        reply(mon(6.0), "ana"),
        status(mon(8.0), Open, Solved),
    ];
    let fact = fold(&events);
    assert_eq!(fact.first_solved_at, Some(mon(2.0)));
    assert_eq!(fact.first_resolution, Some(both(2 * HOUR)));
    assert_eq!(fact.solved_at, Some(mon(8.0)));
    assert_eq!(fact.full_resolution, Some(both(8 * HOUR)));
    assert_eq!(fact.reopens, 1);
    assert_eq!(fact.public_agent_replies, 2);
    assert!(!fact.one_touch);
    // New 1 h + open 1 h + open again 3 h; the 3 solved hours count nowhere.
    assert_eq!(fact.requester_wait, both(5 * HOUR));
    assert_eq!(fact.agent_wait, both(0));
    assert_eq!(
        fact.resolved_spans,
        vec![
            Span {
                start: mon(2.0),
                end: Some(mon(5.0)),
            },
            Span {
                start: mon(8.0),
                end: None,
            },
        ]
    );
    assert!(!fact.in_backlog_at(mon(3.0)));
    assert!(fact.in_backlog_at(mon(6.0)));
    assert!(!fact.in_backlog_at(mon(8.0)));
}

#[test]
fn reopened_and_unsolved_has_no_full_resolution_but_keeps_the_first() {
    let events = [
        created(mon(0.0)),
        status(mon(2.0), New, Solved),
        status(mon(3.0), Solved, Open),
    ];
    let fact = fold(&events);
    assert_eq!(fact.first_resolution, Some(both(2 * HOUR)));
    assert_eq!(fact.solved_at, None);
    assert_eq!(fact.full_resolution, None);
    // Open from 03:00 until `now`, two days in.
    assert_eq!(fact.requester_wait, both(2 * HOUR + 45 * HOUR));
    assert!(fact.is_unsolved());
}

#[test]
fn agent_created_ticket_waits_for_the_next_public_agent_reply() {
    let events = [
        TicketEvent::Created {
            at: mon(0.0),
            by_agent: true,
            channel: Channel::Phone,
            priority: Priority::High,
            group: None,
            tags: Vec::new(),
            assignee: Some("bo".into()),
            sla: SlaTargets::default(),
        },
        customer(mon(1.0)),
        reply(mon(3.0), "bo"),
        status(mon(3.0), New, Open),
        status(mon(4.0), Open, Solved),
    ];
    let fact = fold(&events);
    assert!(fact.created_by_agent);
    assert_eq!(fact.first_reply_at, Some(mon(3.0)));
    assert_eq!(fact.first_reply, Some(both(3 * HOUR)));
    // The opening message is not a reply, so one reply solved it.
    assert_eq!(fact.public_agent_replies, 1);
    assert!(fact.one_touch);
    assert_eq!(fact.channel, Channel::Phone);
    assert_eq!(fact.priority, Priority::High);
}

#[test]
fn merged_ticket_leaves_resolution_metrics_but_keeps_its_reply() {
    let target = Uuid::from_u128(7);
    let events = [
        created(mon(0.0)),
        reply(mon(1.0), "ana"),
        status(mon(1.0), New, Open),
        TicketEvent::MergedInto {
            at: mon(2.0),
            target,
        },
        status(mon(2.0), Open, Closed),
    ];
    let fact = fold(&events);
    assert_eq!(
        fact.merged,
        Some(Merge {
            target,
            at: mon(2.0),
        })
    );
    assert_eq!(fact.status, Closed);
    assert_eq!(fact.first_reply, Some(both(HOUR)));
    assert_eq!(fact.first_solved_at, None);
    assert_eq!(fact.first_resolution, None);
    assert_eq!(fact.solved_at, None);
    assert_eq!(fact.full_resolution, None);
    assert!(!fact.one_touch);
    // Out of the backlog from the merge on.
    assert!(fact.in_backlog_at(mon(1.5)));
    assert!(!fact.in_backlog_at(mon(2.0)));
    assert_eq!(fact.requester_wait, both(2 * HOUR));
}

#[test]
fn pending_time_is_agent_wait() {
    let events = [
        created(mon(0.0)),
        reply(mon(1.0), "ana"),
        status(mon(1.0), New, Open),
        status(mon(2.0), Open, Pending),
        customer(mon(6.0)),
        status(mon(6.0), Pending, Open),
        status(mon(6.5), Open, OnHold),
        status(mon(7.0), OnHold, Solved),
    ];
    let fact = fold(&events);
    // New 1 h, open 1 h + 0.5 h, on hold 0.5 h.
    assert_eq!(fact.requester_wait, both(3 * HOUR));
    assert_eq!(fact.agent_wait, both(4 * HOUR));
}

#[test]
fn waits_of_an_unsolved_ticket_run_to_now() {
    let events = [created(mon(0.0)), status(mon(2.0), New, Pending)];
    let fact = TicketFact::fold(&events, &Calendar::always(), mon(10.0)).unwrap();
    assert_eq!(fact.requester_wait, both(2 * HOUR));
    assert_eq!(fact.agent_wait, both(8 * HOUR));
    assert_eq!(fact.as_of, mon(10.0));
}

#[test]
fn waits_count_business_time_separately() {
    // Friday 17:00 Berlin; pending from 17:30 over the weekend to Monday 10:00.
    let c = |d, h, m| local("Europe/Berlin", 2025, 3, d, h, m);
    let events = [
        created(c(7, 17, 0)),
        reply(c(7, 17, 30), "ana"),
        status(c(7, 17, 30), New, Pending),
        status(c(10, 10, 0), Pending, Solved),
    ];
    let fact = TicketFact::fold(&events, &berlin_office(), c(10, 12, 0)).unwrap();
    assert_eq!(
        fact.requester_wait,
        Elapsed {
            calendar: 1800,
            business: 1800,
        }
    );
    assert_eq!(
        fact.agent_wait,
        Elapsed {
            calendar: 64 * HOUR + 1800,
            business: 1800 + 3600,
        }
    );
    assert_eq!(
        fact.full_resolution,
        Some(Elapsed {
            calendar: 65 * HOUR,
            business: 2 * HOUR,
        })
    );
}

#[test]
fn internal_notes_customer_and_system_messages_are_not_replies() {
    let events = [
        created(mon(0.0)),
        note(mon(1.0), "ana"),
        TicketEvent::Message {
            at: mon(1.5),
            public: true,
            author: Author::System,
        },
        customer(mon(2.0)),
        reply(mon(3.0), "ana"),
        note(mon(3.5), "ana"),
    ];
    let fact = fold(&events);
    assert_eq!(fact.first_reply, Some(both(3 * HOUR)));
    assert_eq!(fact.public_agent_replies, 1);
    assert_eq!(fact.replies.len(), 1);
    assert_eq!(fact.replies[0].agent, "ana");
}

#[test]
fn one_touch_needs_exactly_one_reply_and_a_solve() {
    let one = fold(&[
        created(mon(0.0)),
        reply(mon(1.0), "ana"),
        status(mon(1.0), New, Solved),
    ]);
    assert!(one.one_touch);
    let two = fold(&[
        created(mon(0.0)),
        reply(mon(1.0), "ana"),
        reply(mon(2.0), "ana"),
        status(mon(2.0), New, Solved),
    ]);
    assert!(!two.one_touch);
    let none = fold(&[created(mon(0.0)), status(mon(1.0), New, Solved)]);
    assert!(!none.one_touch);
    let unsolved = fold(&[created(mon(0.0)), reply(mon(1.0), "ana")]);
    assert!(!unsolved.one_touch);
}

#[test]
fn solved_then_closed_is_one_solve() {
    let fact = fold(&[
        created(mon(0.0)),
        status(mon(1.0), New, Solved),
        status(mon(5.0), Solved, Closed),
    ]);
    assert_eq!(fact.solved_at, Some(mon(1.0)));
    assert_eq!(fact.reopens, 0);
    assert_eq!(fact.resolved_spans.len(), 1);
    assert_eq!(fact.status, Closed);
}

#[test]
fn hops_count_moves_after_the_first_assignment() {
    let events = [
        TicketEvent::Created {
            at: mon(0.0),
            by_agent: false,
            channel: Channel::Email,
            priority: Priority::Normal,
            group: Some("l1".into()),
            tags: Vec::new(),
            assignee: Some("ana".into()),
            sla: SlaTargets::default(),
        },
        assign(mon(1.0), None, Some("l1")),
        assign(mon(2.0), Some("bo"), Some("l2")),
        assign(mon(3.0), Some("bo"), Some("l2")),
        assign(mon(4.0), Some("ana"), Some("l2")),
    ];
    let fact = fold(&events);
    assert_eq!(fact.assignee_hops, 2);
    assert_eq!(fact.group_hops, 1);
    assert_eq!(fact.assignee.as_deref(), Some("ana"));
    assert_eq!(fact.group.as_deref(), Some("l2"));

    let first = fold(&[
        created(mon(0.0)),
        assign(mon(1.0), Some("ana"), Some("l1")),
        assign(mon(2.0), None, Some("l1")),
        assign(mon(3.0), Some("ana"), Some("l1")),
    ]);
    assert_eq!((first.assignee_hops, first.group_hops), (0, 0));
}

#[test]
fn latest_rating_wins_and_scores_are_clamped() {
    let fact = fold(&[created(mon(0.0)), rated(mon(1.0), 2), rated(mon(2.0), 5)]);
    let s = fact.satisfaction.unwrap();
    assert_eq!((s.score, s.at), (5, mon(2.0)));
    assert!(s.is_good());
    let clamp = |score| {
        fold(&[created(mon(0.0)), rated(mon(1.0), score)])
            .satisfaction
            .unwrap()
            .score
    };
    assert_eq!((clamp(0), clamp(9)), (1, 5));
    let neutral = fold(&[created(mon(0.0)), rated(mon(1.0), 3)]);
    assert!(!neutral.satisfaction.unwrap().is_good());
}

#[test]
fn tags_and_priority_changes_keep_the_latest_and_sla_targets_stick() {
    let fact = fold(&[
        created(mon(0.0)),
        TicketEvent::TagsChanged {
            at: mon(1.0),
            tags: vec!["vip".into()],
        },
        TicketEvent::PriorityChanged {
            at: mon(1.0),
            priority: Priority::Urgent,
            sla: SlaTargets {
                first_reply: true,
                resolution: false,
            },
        },
        TicketEvent::PriorityChanged {
            at: mon(2.0),
            priority: Priority::Low,
            sla: SlaTargets::default(),
        },
        TicketEvent::SlaBreached {
            at: mon(3.0),
            target: SlaTarget::Resolution,
        },
        TicketEvent::SlaBreached {
            at: mon(4.0),
            target: SlaTarget::Resolution,
        },
    ]);
    assert_eq!(fact.tags, vec!["vip".to_owned()]);
    assert_eq!(fact.priority, Priority::Low);
    assert_eq!(
        fact.sla_first_reply,
        SlaRecord {
            target: true,
            breached_at: None,
        }
    );
    assert_eq!(
        fact.sla_resolution,
        SlaRecord {
            target: true,
            breached_at: Some(mon(3.0)),
        }
    );
}

#[test]
fn out_of_order_timestamps_never_make_time_negative() {
    let fact = fold(&[created(mon(2.0)), status(mon(1.0), New, Solved)]);
    assert_eq!(fact.full_resolution, Some(both(0)));
    assert_eq!(fact.requester_wait, both(0));
}

#[test]
fn histories_must_start_with_one_creation() {
    let c = Calendar::always();
    assert_eq!(
        TicketFact::fold(&[], &c, mon(1.0)),
        Err(FoldError::NotCreated)
    );
    assert_eq!(
        TicketFact::fold(&[reply(mon(0.0), "ana")], &c, mon(1.0)),
        Err(FoldError::NotCreated)
    );
    assert_eq!(
        TicketFact::fold(&[created(mon(0.0)), created(mon(1.0))], &c, mon(1.0)),
        Err(FoldError::CreatedTwice)
    );
}

#[test]
fn incremental_timeline_matches_the_fold() {
    let events = [
        created(mon(0.0)),
        reply(mon(1.0), "ana"),
        status(mon(1.0), New, Pending),
        status(mon(3.0), Pending, Solved),
    ];
    let c = Calendar::always();
    let mut timeline = Timeline::start(&events[0]).unwrap();
    for e in &events[1..] {
        timeline.apply(e).unwrap();
    }
    assert_eq!(
        timeline.fact(&c, mon(9.0)),
        TicketFact::fold(&events, &c, mon(9.0)).unwrap()
    );
    assert_eq!(timeline.fact(&c, mon(9.0)).agent_wait, both(2 * HOUR));
}
