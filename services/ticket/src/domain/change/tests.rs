use chrono::{Duration, TimeZone};
use switchboard_proto::common::v1::Channel;
use switchboard_runtime::TenantId;

use super::*;
use crate::domain::{Author, Identity, NewTicket};

fn at(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap() + Duration::minutes(minute)
}

fn who(role: Role, user: &str) -> Caller {
    Caller {
        tenant: TenantId::parse("acme").unwrap(),
        user: user.into(),
        role,
        via: switchboard_runtime::auth::Via::Person,
    }
}

fn agent() -> Caller {
    who(Role::Agent, "agent-7")
}

fn customer() -> Caller {
    who(Role::Customer, "ada@example.com")
}

fn ticket() -> Ticket {
    let new = NewTicket {
        request_id: None,
        subject: "Printer on fire".into(),
        description: "Smoke".into(),
        channel: Channel::Email,
        priority: Priority::Normal,
        identity: Identity::Email("ada@example.com".into()),
        display_name: String::new(),
        tags: vec![],
        author: Author {
            kind: "customer",
            id: "ada@example.com".into(),
        },
        sla: Default::default(),
        group: None,
        explicit_priority: false,
        custom_fields: Default::default(),
        requester_profile: None,
        attachments: Vec::new(),
    };
    Ticket::open(
        &TenantId::parse("acme").unwrap(),
        &new,
        Uuid::now_v7(),
        at(0),
    )
}

fn reply(body: &str, public: bool, status: Option<Status>) -> NewMessage {
    NewMessage {
        ticket_id: Uuid::nil(),
        request_id: None,
        body: body.into(),
        public,
        channel: None,
        attachments: vec![],
        mentions: vec![],
        status,
        expected_version: None,
    }
}

fn types(c: &Change) -> Vec<String> {
    c.envelopes().into_iter().map(|e| e.r#type).collect()
}

#[test]
fn the_seed_cycle_walks_the_lifecycle_with_its_events() {
    let t = ticket();
    let opened = assign(
        &t,
        &agent(),
        Some("agent-7".into()),
        Some("printers".into()),
        1,
        at(1),
    )
    .unwrap();
    assert_eq!(opened.ticket.status, Status::Open);
    assert_eq!(opened.ticket.version, 2);
    assert_eq!(types(&opened), ["ticket.assigned", "ticket.status_changed"]);

    let asked = add_message(
        &opened.ticket,
        &agent(),
        &reply("Is it plugged in?", true, Some(Status::Pending)),
        at(2),
    )
    .unwrap();
    assert_eq!(asked.ticket.status, Status::Pending);
    assert_eq!(asked.ticket.first_response_at, Some(at(2)));
    assert_eq!(types(&asked), ["message.added", "ticket.status_changed"]);

    let answered =
        add_message(&asked.ticket, &customer(), &reply("Yes", true, None), at(3)).unwrap();
    assert_eq!(
        answered.ticket.status,
        Status::Open,
        "a customer reply reopens a pending ticket"
    );
    assert_eq!(
        answered.ticket.first_response_at,
        Some(at(2)),
        "first response is kept"
    );

    let solved = add_message(
        &answered.ticket,
        &agent(),
        &reply("Replaced the fuser", true, Some(Status::Solved)),
        at(4),
    )
    .unwrap();
    assert_eq!(solved.ticket.solved_at, Some(at(4)));

    let rating = Satisfaction::new(5, "fast", at(5)).unwrap();
    let rated = rate(&solved.ticket, &customer(), true, rating).unwrap();
    assert_eq!(types(&rated), ["satisfaction.submitted"]);
    assert_eq!(rated.ticket.satisfaction.as_ref().map(|s| s.score), Some(5));

    let close = TicketUpdate {
        id: t.id,
        expected_version: rated.ticket.version,
        status: Some(Status::Closed),
        ..Default::default()
    };
    let closed = update(&rated.ticket, &agent(), &close, at(6)).unwrap();
    assert_eq!(closed.ticket.status, Status::Closed);
    assert_eq!(
        closed.ticket.solved_at,
        Some(at(4)),
        "closing keeps the solve time"
    );
    assert_eq!(types(&closed), ["ticket.updated", "ticket.status_changed"]);

    let versions: Vec<i64> = [&opened, &asked, &answered, &solved, &rated, &closed]
        .iter()
        .map(|c| c.ticket.version)
        .collect();
    assert_eq!(
        versions,
        [2, 3, 4, 5, 6, 7],
        "each change bumps the version once"
    );
}

#[test]
fn a_stale_version_is_refused() {
    let t = ticket();
    let u = TicketUpdate {
        id: t.id,
        expected_version: 7,
        subject: Some("New".into()),
        ..Default::default()
    };
    assert!(matches!(
        update(&t, &agent(), &u, at(1)),
        Err(RuleError::Stale {
            expected: 7,
            actual: 1
        })
    ));
    assert!(matches!(
        assign(&t, &agent(), None, None, 2, at(1)),
        Err(RuleError::Stale { .. })
    ));
    let mut late = reply("hi", true, None);
    late.expected_version = Some(3);
    assert!(matches!(
        add_message(&t, &agent(), &late, at(1)),
        Err(RuleError::Stale { .. })
    ));
}

#[test]
fn an_illegal_move_names_both_states() {
    let t = ticket();
    let u = TicketUpdate {
        id: t.id,
        expected_version: 1,
        status: Some(Status::Closed),
        ..Default::default()
    };
    let err = update(&t, &agent(), &u, at(1)).unwrap_err();
    assert_eq!(err.to_string(), "a ticket cannot move from new to closed");
}

#[test]
fn customers_cannot_update_or_assign() {
    let t = ticket();
    let u = TicketUpdate {
        id: t.id,
        expected_version: 1,
        subject: Some("Mine".into()),
        ..Default::default()
    };
    assert!(matches!(
        update(&t, &customer(), &u, at(1)),
        Err(RuleError::Forbidden(_))
    ));
    assert!(matches!(
        assign(&t, &customer(), Some("x".into()), None, 1, at(1)),
        Err(RuleError::Forbidden(_))
    ));
}

#[test]
fn an_update_that_changes_nothing_announces_nothing() {
    let t = ticket();
    let u = TicketUpdate {
        id: t.id,
        expected_version: 1,
        subject: Some(t.subject.clone()),
        priority: Some(t.priority),
        ..Default::default()
    };
    let c = update(&t, &agent(), &u, at(1)).unwrap();
    assert!(c.is_noop());
    assert!(c.envelopes().is_empty());
    assert_eq!(c.ticket.version, 1);
}

#[test]
fn updates_audit_each_field_from_and_to() {
    let t = ticket();
    let mut custom = CustomFields::new();
    custom.insert("plan".into(), fields::FieldValue::Text("gold".into()));
    let u = TicketUpdate {
        id: t.id,
        expected_version: 1,
        priority: Some(Priority::Urgent),
        tags: Some(vec!["vip".into()]),
        custom_fields: Some(custom),
        ..Default::default()
    };
    let c = update(&t, &agent(), &u, at(1)).unwrap();
    let audit: Vec<(&str, &str, &str)> = c
        .audit
        .iter()
        .map(|a| (a.field, a.old.as_str(), a.new.as_str()))
        .collect();
    assert_eq!(
        audit,
        [
            ("priority", "normal", "urgent"),
            ("tags", "", "vip"),
            ("custom_fields", "plan=", "plan=gold")
        ]
    );
    assert_eq!(
        c.facts,
        [Fact::Updated(vec!["priority", "tags", "custom_fields"])]
    );
}

#[test]
fn a_message_on_a_closed_ticket_starts_a_linked_follow_up() {
    let mut t = ticket();
    t.status = Status::Closed;
    t.assignee = Some("agent-7".into());
    t.version = 9;
    let c = add_message(
        &t,
        &customer(),
        &reply("It is on fire again", true, None),
        at(10),
    )
    .unwrap();
    let follow = c.follow_up.as_ref().expect("a follow-up");
    assert_ne!(follow.id, t.id);
    assert_eq!(follow.follow_up_of, Some(t.id));
    assert_eq!(follow.status, Status::New);
    assert_eq!(follow.version, 1);
    assert_eq!(follow.requester_id, t.requester_id);
    assert_eq!(follow.assignee, None);
    assert_eq!(c.ticket.version, 9, "the closed ticket is untouched");
    assert_eq!(c.message.as_ref().unwrap().ticket_id, follow.id);
    let envelopes = c.envelopes();
    assert_eq!(
        envelopes
            .iter()
            .map(|e| e.r#type.as_str())
            .collect::<Vec<_>>(),
        ["ticket.created", "message.added"]
    );
    assert!(
        envelopes
            .iter()
            .all(|e| e.aggregate_id == follow.id.to_string())
    );
}

#[test]
fn ratings_need_a_solved_ticket_its_requester_and_no_earlier_rating() {
    let mut t = ticket();
    let rating = || Satisfaction::new(4, "", at(1)).unwrap();
    assert!(
        matches!(rate(&t, &customer(), true, rating()), Err(RuleError::Precondition(m)) if m.contains("this one is new"))
    );
    t.status = Status::Solved;
    assert!(matches!(
        rate(&t, &customer(), false, rating()),
        Err(RuleError::Forbidden(_))
    ));
    let rated = rate(&t, &customer(), true, rating()).unwrap();
    assert!(
        matches!(rate(&rated.ticket, &customer(), true, rating()), Err(RuleError::Precondition(m)) if m.contains("already"))
    );
}

#[test]
fn internal_notes_do_not_count_as_first_response() {
    let t = ticket();
    let c = add_message(&t, &agent(), &reply("checking logs", false, None), at(1)).unwrap();
    assert_eq!(c.ticket.first_response_at, None);
    assert_eq!(c.ticket.status, Status::New);
    assert_eq!(c.ticket.version, 2);
    let added = &c.envelopes()[0];
    assert_eq!(added.r#type, "message.added");
    assert_eq!(added.aggregate_type, "ticket");
    assert_eq!(added.aggregate_version, 2);
}

#[test]
fn update_requests_validate_mask_version_and_values() {
    let req = pb::UpdateTicketRequest {
        ticket: Some(pb::Ticket {
            name: format!("tickets/{}", Uuid::now_v7()),
            subject: "".into(),
            tags: vec!["Bad Tag".into()],
            status: 99,
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec![
                "subject".into(),
                "tags".into(),
                "status".into(),
                "number".into(),
            ],
        }),
        expected_version: 0,
    };
    let v = TicketUpdate::from_request(&req).unwrap_err();
    for field in [
        "ticket.subject",
        "ticket.tags[0]",
        "ticket.status",
        "update_mask",
        "expected_version",
    ] {
        assert!(v.has(field), "{field} missing from {v:?}");
    }
    let no_mask = pb::UpdateTicketRequest {
        update_mask: None,
        expected_version: 1,
        ..req
    };
    assert!(
        TicketUpdate::from_request(&no_mask)
            .unwrap_err()
            .has("update_mask")
    );
}

#[test]
fn merging_closes_the_duplicate_and_links_both_ways() {
    let mut source = ticket();
    source.status = Status::Pending;
    source.followers = vec!["agent-2".into()];
    let mut target = ticket();
    target.followers = vec!["agent-1".into()];
    let (s, t) = merge(&source, &target, &agent(), (1, 1), at(1)).unwrap();
    assert_eq!(
        (s.ticket.status, s.ticket.merged_into, s.ticket.version),
        (Status::Closed, Some(target.id), 2)
    );
    assert_eq!(t.ticket.merged_from, [source.id]);
    assert_eq!(t.ticket.followers, ["agent-1", "agent-2"]);
    assert_eq!(types(&s), ["ticket.merged", "ticket.status_changed"]);
    assert_eq!(types(&t), ["ticket.merged"]);
    assert!(matches!(
        merge(&source, &source, &agent(), (1, 1), at(1)),
        Err(RuleError::Precondition(_))
    ));
    assert!(matches!(
        merge(&source, &target, &agent(), (2, 1), at(1)),
        Err(RuleError::Stale { .. })
    ));
    assert!(
        matches!(merge(&s.ticket, &target, &agent(), (2, 1), at(1)), Err(RuleError::Precondition(m)) if m.contains("source"))
    );
    assert!(matches!(
        merge(&source, &target, &customer(), (1, 1), at(1)),
        Err(RuleError::Forbidden(_))
    ));
}
