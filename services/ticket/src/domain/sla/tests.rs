use chrono::TimeZone;
use switchboard_proto::common::v1::Channel;
use switchboard_runtime::TenantId;
use uuid::Uuid;

use super::*;
use crate::domain::{Author, Identity, NewTicket};

fn at(h: u32, m: u32) -> DateTime<Utc> {
    // Monday 23 November 2026.
    Utc.with_ymd_and_hms(2026, 11, 23, h, m, 0).unwrap()
}

fn policy() -> Policy {
    Policy::from_proto(&pb::SlaPolicy {
        targets: vec![
            pb::SlaTarget {
                priority: Priority::Normal as i32,
                first_response_minutes: 60,
                resolution_minutes: 240,
            },
            pb::SlaTarget {
                priority: Priority::Urgent as i32,
                first_response_minutes: 15,
                resolution_minutes: 60,
            },
        ],
        business_hours: Some(pb::BusinessHours {
            time_zone: "UTC".into(),
            hours: (1..=5)
                .map(|d| pb::OpeningHours {
                    weekday: d,
                    start_minute: 9 * 60,
                    end_minute: 17 * 60,
                })
                .collect(),
            holidays: vec![],
        }),
        warning_minutes: 10,
        version: 0,
    })
    .unwrap()
}

fn ticket(now: DateTime<Utc>) -> Ticket {
    let new = NewTicket {
        request_id: None,
        subject: "s".into(),
        description: String::new(),
        channel: Channel::Email,
        priority: Priority::Normal,
        identity: Identity::Email("a@example.com".into()),
        display_name: String::new(),
        tags: vec![],
        author: Author {
            kind: "agent",
            id: "a".into(),
        },
        sla: TicketSla::start(&policy(), Priority::Normal, now),
        group: None,
        explicit_priority: false,
        custom_fields: Default::default(),
        requester_profile: None,
        attachments: Vec::new(),
    };
    Ticket::open(&TenantId::parse("acme").unwrap(), &new, Uuid::now_v7(), now)
}

#[test]
fn policies_validate_every_field() {
    let bad = pb::SlaPolicy {
        targets: vec![
            pb::SlaTarget {
                priority: 0,
                first_response_minutes: 5,
                resolution_minutes: 0,
            },
            pb::SlaTarget {
                priority: Priority::High as i32,
                first_response_minutes: -5,
                resolution_minutes: 600_000,
            },
            pb::SlaTarget {
                priority: Priority::High as i32,
                first_response_minutes: 5,
                resolution_minutes: 5,
            },
        ],
        business_hours: Some(pb::BusinessHours {
            time_zone: "Atlantis/Capital".into(),
            hours: vec![pb::OpeningHours {
                weekday: 8,
                start_minute: 0,
                end_minute: 60,
            }],
            holidays: vec!["25.12.2026".into()],
        }),
        warning_minutes: -1,
        version: 0,
    };
    let v = Policy::from_proto(&bad).unwrap_err();
    for field in [
        "policy.targets[0].priority",
        "policy.targets[1].first_response_minutes",
        "policy.targets[1].resolution_minutes",
        "policy.targets[2].priority",
        "policy.business_hours.hours[0].weekday",
        "policy.business_hours.holidays[0]",
        "policy.business_hours.time_zone",
        "policy.warning_minutes",
    ] {
        assert!(v.has(field), "{field} missing from {v:?}");
    }
    let round = Policy::from_proto(&policy().to_proto()).unwrap();
    assert_eq!(round, policy(), "the wire form round-trips");
}

#[test]
fn clocks_start_with_the_priority_targets_in_business_hours() {
    // Created Monday 16:30: one business hour → Tuesday 09:30.
    let t = ticket(at(16, 30));
    let fr = t.sla.first_response.as_ref().unwrap();
    assert_eq!(
        fr.due_at,
        Some(Utc.with_ymd_and_hms(2026, 11, 24, 9, 30, 0).unwrap())
    );
    assert_eq!(
        fr.warn_at,
        Some(Utc.with_ymd_and_hms(2026, 11, 24, 9, 20, 0).unwrap())
    );
    assert_eq!(t.sla.next_check(), fr.warn_at);
    assert!(
        TicketSla::start(&policy(), Priority::Low, at(9, 0))
            .to_proto()
            .is_none(),
        "no targets for low"
    );
}

#[test]
fn waiting_on_the_customer_pauses_and_the_first_reply_stops_first_response() {
    let p = policy();
    let before = ticket(at(9, 0));
    // Pending at 9:30 (with the first public reply): first response met, resolution paused.
    let mut after = before.clone();
    after.status = Status::Pending;
    after.first_response_at = Some(at(9, 30));
    reconcile(&before, &mut after, &p, at(9, 30));
    let fr = after.sla.first_response.clone().unwrap();
    assert!(fr.done && fr.due_at.is_none());
    let res = after.sla.resolution.clone().unwrap();
    assert_eq!(
        (res.running_since, res.consumed_seconds, res.due_at),
        (None, 1800, None)
    );
    assert!(after.sla.to_proto().unwrap().paused);
    // The customer answers at 13:30: resolution resumes with 3.5 h left → 17:00.
    let mut reopened = after.clone();
    reopened.status = Status::Open;
    reconcile(&after, &mut reopened, &p, at(13, 30));
    assert_eq!(
        reopened.sla.resolution.as_ref().unwrap().due_at,
        Some(at(17, 0))
    );
    // Solved at 14:00: met, nothing left to check.
    let mut solved = reopened.clone();
    solved.status = Status::Solved;
    reconcile(&reopened, &mut solved, &p, at(14, 0));
    assert!(solved.sla.resolution.as_ref().unwrap().done);
    assert_eq!(solved.sla.next_check(), None);
}

#[test]
fn a_new_priority_takes_its_targets_keeping_time_used() {
    let p = policy();
    let before = ticket(at(9, 0));
    let mut after = before.clone();
    after.priority = Priority::Urgent;
    reconcile(&before, &mut after, &p, at(9, 5));
    assert_eq!(
        after.sla.first_response.as_ref().unwrap().due_at,
        Some(at(9, 15))
    );
    after.priority = Priority::Low;
    let before = after.clone();
    after.priority = Priority::Low;
    let mut low = before.clone();
    low.priority = Priority::Low;
    let urgent = Ticket {
        priority: Priority::Urgent,
        ..before
    };
    reconcile(&urgent, &mut low, &p, at(9, 6));
    assert!(low.sla.first_response.is_none() && low.sla.resolution.is_none());
}

#[test]
fn scans_warn_once_then_breach_once() {
    let mut t = ticket(at(9, 0));
    assert!(scan(&mut t, at(9, 49)).is_empty());
    let warned = scan(&mut t, at(9, 50));
    assert_eq!(
        warned,
        [Alert::Warning(SlaTargetKind::FirstResponse, at(10, 0))]
    );
    assert!(scan(&mut t, at(9, 55)).is_empty(), "a warning is sent once");
    let breached = scan(&mut t, at(10, 0));
    assert_eq!(
        breached,
        [Alert::Breached(SlaTargetKind::FirstResponse, at(10, 0))]
    );
    assert!(scan(&mut t, at(10, 30)).is_empty(), "a breach is sent once");
    assert_eq!(
        t.sla.next_check(),
        t.sla.resolution.as_ref().unwrap().warn_at
    );
    let event = alert_event(&t, breached[0]);
    assert_eq!(event.r#type, "sla.breached");
    assert_eq!(event.aggregate_version, t.version);
}
