//! The full ticket cycle over gRPC on real PostgreSQL and JetStream.

use prost_types::FieldMask;
use switchboard_events::Payload;
use switchboard_proto::{
    common::v1::Priority,
    ticket::v1::{
        AddMessageRequest, AssignTicketRequest, CreateTicketRequest, GetTicketRequest,
        ListMessagesRequest, ListTicketChangesRequest, ListTicketsRequest, Requester,
        SubmitSatisfactionRequest, Ticket, TicketFilter, TicketStatus, UpdateTicketRequest,
        Visibility,
    },
};
use switchboard_runtime::Role;
use switchboard_testkit::nats_url;
use tonic::Code;
use tonic_types::StatusExt;

use crate::helpers::{Running, authed};

async fn create(app: &Running, token: &str, subject: &str, email: &str) -> anyhow::Result<Ticket> {
    let request = CreateTicketRequest {
        subject: subject.into(),
        description: "It smokes".into(),
        requester: Some(Requester {
            email: email.into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    Ok(app
        .client()
        .await
        .create_ticket(authed(request, token))
        .await?
        .into_inner())
}

fn reply(parent: &str, body: &str) -> AddMessageRequest {
    AddMessageRequest {
        parent: parent.into(),
        body: body.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn the_seed_cycle_emits_its_events_in_order() -> anyhow::Result<()> {
    let app = Running::start(&nats_url()).await?;
    let mut c = app.client().await;
    let agent = app.token("acme", "agent-7", Role::Agent);
    let ada = app.token("acme", "ada@example.com", Role::Customer);

    let t = create(&app, &agent, "Printer on fire", "ada@example.com").await?;
    let t = c
        .assign_ticket(authed(
            AssignTicketRequest {
                name: t.name.clone(),
                assignee: "me".into(),
                group: "printers".into(),
                expected_version: 1,
            },
            &agent,
        ))
        .await?
        .into_inner();
    assert_eq!(
        (t.status(), t.assignee.as_str(), t.version),
        (TicketStatus::Open, "agent-7", 2)
    );

    let asked = AddMessageRequest {
        status: TicketStatus::Pending as i32,
        ..reply(&t.name, "Is it plugged in?")
    };
    let t = c
        .add_message(authed(asked, &agent))
        .await?
        .into_inner()
        .ticket
        .unwrap();
    assert_eq!(t.status(), TicketStatus::Pending);
    assert!(t.first_response_time.is_some());

    let t = c
        .add_message(authed(reply(&t.name, "Yes, and it still smokes"), &ada))
        .await?
        .into_inner()
        .ticket
        .unwrap();
    assert_eq!(
        t.status(),
        TicketStatus::Open,
        "the customer's reply reopens it"
    );

    let solve = AddMessageRequest {
        status: TicketStatus::Solved as i32,
        ..reply(&t.name, "Replaced the fuser")
    };
    let t = c
        .add_message(authed(solve, &agent))
        .await?
        .into_inner()
        .ticket
        .unwrap();
    assert_eq!(t.status(), TicketStatus::Solved);

    let rate = SubmitSatisfactionRequest {
        name: t.name.clone(),
        score: 5,
        comment: "Quick!".into(),
    };
    let t = c
        .submit_satisfaction(authed(rate.clone(), &ada))
        .await?
        .into_inner();
    assert_eq!(t.satisfaction.as_ref().map(|s| s.score), Some(5));
    let twice = c.submit_satisfaction(authed(rate, &ada)).await.unwrap_err();
    assert_eq!(twice.code(), Code::FailedPrecondition);

    let close = UpdateTicketRequest {
        ticket: Some(Ticket {
            name: t.name.clone(),
            status: TicketStatus::Closed as i32,
            ..Default::default()
        }),
        update_mask: Some(FieldMask {
            paths: vec!["status".into()],
        }),
        expected_version: t.version,
    };
    let t = c.update_ticket(authed(close, &agent)).await?.into_inner();
    assert_eq!(t.status(), TicketStatus::Closed);

    let events = app.events(12).await?;
    let seen: Vec<(&str, i64)> = events
        .iter()
        .map(|(_, _, e)| (e.r#type.as_str(), e.aggregate_version))
        .collect();
    assert_eq!(
        seen,
        [
            ("ticket.created", 1),
            ("ticket.assigned", 2),
            ("ticket.status_changed", 2),
            ("message.added", 3),
            ("ticket.status_changed", 3),
            ("message.added", 4),
            ("ticket.status_changed", 4),
            ("message.added", 5),
            ("ticket.status_changed", 5),
            ("satisfaction.submitted", 6),
            ("ticket.updated", 7),
            ("ticket.status_changed", 7),
        ]
    );
    let subjects: Vec<&str> = events.iter().map(|(s, _, _)| s.as_str()).collect();
    assert!(subjects[3].ends_with(".acme.message.added"), "{subjects:?}");
    match &events[3].2.payload {
        Some(Payload::MessageAdded(m)) => {
            assert_eq!(m.message.as_ref().unwrap().body, "Is it plugged in?")
        }
        other => panic!("unexpected {other:?}"),
    }
    app.stop().await
}

#[tokio::test]
async fn a_stale_version_is_aborted_and_changes_nothing() -> anyhow::Result<()> {
    let app = Running::start(&nats_url()).await?;
    let mut c = app.client().await;
    let agent = app.token("acme", "agent-7", Role::Agent);
    let t = create(&app, &agent, "Stale", "ada@example.com").await?;
    let update = |version: i64, subject: &str| UpdateTicketRequest {
        ticket: Some(Ticket {
            name: t.name.clone(),
            subject: subject.into(),
            ..Default::default()
        }),
        update_mask: Some(FieldMask {
            paths: vec!["subject".into()],
        }),
        expected_version: version,
    };
    let first = c
        .update_ticket(authed(update(1, "First"), &agent))
        .await?
        .into_inner();
    assert_eq!((first.subject.as_str(), first.version), ("First", 2));
    let err = c
        .update_ticket(authed(update(1, "Second"), &agent))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Aborted);
    assert!(err.message().contains("version 2"), "{}", err.message());

    let illegal = UpdateTicketRequest {
        ticket: Some(Ticket {
            name: t.name.clone(),
            status: TicketStatus::Closed as i32,
            ..Default::default()
        }),
        update_mask: Some(FieldMask {
            paths: vec!["status".into()],
        }),
        expected_version: 2,
    };
    let err = c.update_ticket(authed(illegal, &agent)).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(err.message(), "a ticket cannot move from new to closed");

    let now = c
        .get_ticket(authed(
            GetTicketRequest {
                name: t.name.clone(),
            },
            &agent,
        ))
        .await?
        .into_inner();
    assert_eq!((now.subject.as_str(), now.version), ("First", 2));
    let changes = c
        .list_ticket_changes(authed(
            ListTicketChangesRequest {
                name: t.name.clone(),
                ..Default::default()
            },
            &agent,
        ))
        .await?
        .into_inner()
        .changes;
    let audit: Vec<(&str, &str, &str, i64)> = changes
        .iter()
        .map(|c| {
            (
                c.field.as_str(),
                c.old_value.as_str(),
                c.new_value.as_str(),
                c.version,
            )
        })
        .collect();
    assert_eq!(audit, [("subject", "Stale", "First", 2)]);
    assert_eq!(changes[0].actor.as_ref().unwrap().id, "agent-7");
    assert_eq!(
        app.events(2).await?.len(),
        2,
        "created and one update, nothing for the refused calls"
    );
    app.stop().await
}

#[tokio::test]
async fn message_retries_with_one_request_id_add_one_message() -> anyhow::Result<()> {
    let app = Running::start(&nats_url()).await?;
    let agent = app.token("acme", "agent-7", Role::Agent);
    let t = create(&app, &agent, "Retry", "ada@example.com").await?;
    let request = AddMessageRequest {
        request_id: "reply-1".into(),
        ..reply(&t.name, "On it")
    };
    let mut calls = Vec::new();
    for _ in 0..4 {
        let mut c = app.client().await;
        let r = authed(request.clone(), &agent);
        calls.push(tokio::spawn(async move {
            c.add_message(r).await.map(|r| r.into_inner())
        }));
    }
    let mut names = Vec::new();
    for call in calls {
        names.push(call.await??.message.unwrap().name);
    }
    names.dedup();
    assert_eq!(
        names.len(),
        1,
        "every retry returns the first message: {names:?}"
    );
    let messages = app
        .client()
        .await
        .list_messages(authed(
            ListMessagesRequest {
                parent: t.name.clone(),
                ..Default::default()
            },
            &agent,
        ))
        .await?
        .into_inner()
        .messages;
    assert_eq!(messages.iter().filter(|m| m.body == "On it").count(), 1);
    app.events(3).await?; // created, message.added, status_changed (new → open); no more
    app.stop().await
}

#[tokio::test]
async fn customers_never_see_internal_notes_or_other_peoples_tickets() -> anyhow::Result<()> {
    let app = Running::start(&nats_url()).await?;
    let mut c = app.client().await;
    let agent = app.token("acme", "agent-7", Role::Agent);
    let ada = app.token("acme", "ada@example.com", Role::Customer);
    let bob = app.token("acme", "bob@example.com", Role::Customer);
    let globex = app.token("globex", "agent-7", Role::Agent);
    let t = create(&app, &agent, "Ada's", "ada@example.com").await?;
    create(&app, &agent, "Bob's", "bob@example.com").await?;

    let note = AddMessageRequest {
        visibility: Visibility::Internal as i32,
        ..reply(&t.name, "Customer is grumpy")
    };
    c.add_message(authed(note, &agent)).await?;
    c.add_message(authed(reply(&t.name, "We are on it"), &agent))
        .await?;

    let list = |token: &str| {
        authed(
            ListMessagesRequest {
                parent: t.name.clone(),
                ..Default::default()
            },
            token,
        )
    };
    let for_ada: Vec<String> = c
        .list_messages(list(&ada))
        .await?
        .into_inner()
        .messages
        .into_iter()
        .map(|m| m.body)
        .collect();
    assert_eq!(for_ada, ["It smokes", "We are on it"]);
    let for_agent = c.list_messages(list(&agent)).await?.into_inner().messages;
    assert_eq!(for_agent.len(), 3);
    assert_eq!(
        c.list_messages(list(&bob)).await.unwrap_err().code(),
        Code::NotFound
    );
    assert_eq!(
        c.list_messages(list(&globex)).await.unwrap_err().code(),
        Code::NotFound
    );

    let tickets = |token: &str| authed(ListTicketsRequest::default(), token);
    let ada_sees: Vec<String> = c
        .list_tickets(tickets(&ada))
        .await?
        .into_inner()
        .tickets
        .into_iter()
        .map(|t| t.subject)
        .collect();
    assert_eq!(ada_sees, ["Ada's"]);
    assert_eq!(
        c.list_tickets(tickets(&agent))
            .await?
            .into_inner()
            .tickets
            .len(),
        2
    );
    assert!(
        c.list_tickets(tickets(&globex))
            .await?
            .into_inner()
            .tickets
            .is_empty()
    );

    let sneaky = AddMessageRequest {
        visibility: Visibility::Internal as i32,
        ..reply(&t.name, "psst")
    };
    let err = c.add_message(authed(sneaky, &ada)).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.get_details_bad_request()
            .unwrap()
            .field_violations
            .iter()
            .any(|v| v.field == "visibility")
    );
    let audit = c
        .list_ticket_changes(authed(
            ListTicketChangesRequest {
                name: t.name.clone(),
                ..Default::default()
            },
            &ada,
        ))
        .await
        .unwrap_err();
    assert_eq!(audit.code(), Code::PermissionDenied);
    app.stop().await
}

#[tokio::test]
async fn a_reply_to_a_closed_ticket_starts_a_linked_follow_up() -> anyhow::Result<()> {
    let app = Running::start(&nats_url()).await?;
    let mut c = app.client().await;
    let agent = app.token("acme", "agent-7", Role::Agent);
    let ada = app.token("acme", "ada@example.com", Role::Customer);
    let t = create(&app, &agent, "Once", "ada@example.com").await?;
    let mut version = t.version;
    for status in [TicketStatus::Solved, TicketStatus::Closed] {
        let u = UpdateTicketRequest {
            ticket: Some(Ticket {
                name: t.name.clone(),
                status: status as i32,
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["status".into()],
            }),
            expected_version: version,
        };
        version = c
            .update_ticket(authed(u, &agent))
            .await?
            .into_inner()
            .version;
    }
    let response = c
        .add_message(authed(reply(&t.name, "It happened again"), &ada))
        .await?
        .into_inner();
    let follow = response.ticket.unwrap();
    assert_ne!(follow.name, t.name);
    assert_eq!(follow.follow_up_of, t.name);
    assert_eq!(follow.status(), TicketStatus::New);
    assert_eq!(follow.requester, t.requester);
    assert!(response.message.unwrap().name.starts_with(&follow.name));
    let original = c
        .get_ticket(authed(
            GetTicketRequest {
                name: t.name.clone(),
            },
            &agent,
        ))
        .await?
        .into_inner();
    assert_eq!(
        (original.status(), original.version),
        (TicketStatus::Closed, version)
    );
    app.stop().await
}

#[tokio::test]
async fn pages_stay_correct_while_tickets_are_created() -> anyhow::Result<()> {
    let app = Running::start(&nats_url()).await?;
    let mut c = app.client().await;
    let agent = app.token("acme", "agent-7", Role::Agent);
    let mut created = Vec::new();
    for i in 0..7 {
        created.push(
            create(&app, &agent, &format!("Ticket {i}"), "ada@example.com")
                .await?
                .name,
        );
    }
    let page = |token: String| {
        authed(
            ListTicketsRequest {
                page_size: 3,
                page_token: token,
                filter: Some(TicketFilter {
                    subject_contains: "ticket".into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            &agent,
        )
    };
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let r = c.list_tickets(page(token)).await?.into_inner();
        seen.extend(r.tickets.into_iter().map(|t| t.name));
        // Newer tickets appear ahead of the cursor and must not disturb it.
        create(&app, &agent, "Ticket late", "ada@example.com").await?;
        if r.next_page_token.is_empty() {
            break;
        }
        token = r.next_page_token;
    }
    created.reverse();
    assert_eq!(seen, created, "newest first, each exactly once");

    let bad = ListTicketsRequest {
        page_size: 3,
        page_token: "nonsense".into(),
        ..Default::default()
    };
    assert_eq!(
        c.list_tickets(authed(bad, &agent))
            .await
            .unwrap_err()
            .code(),
        Code::InvalidArgument
    );
    let high = authed(
        ListTicketsRequest {
            filter: Some(TicketFilter {
                priorities: vec![Priority::High as i32],
                ..Default::default()
            }),
            ..Default::default()
        },
        &agent,
    );
    assert!(c.list_tickets(high).await?.into_inner().tickets.is_empty());
    app.stop().await
}

#[tokio::test]
async fn bad_updates_name_the_field_and_write_nothing() -> anyhow::Result<()> {
    let app = Running::start(&nats_url()).await?;
    let mut c = app.client().await;
    let agent = app.token("acme", "agent-7", Role::Agent);
    let t = create(&app, &agent, "Valid", "ada@example.com").await?;
    let bad = UpdateTicketRequest {
        ticket: Some(Ticket {
            name: t.name.clone(),
            subject: "x".repeat(300),
            tags: (0..25).map(|i| format!("t{i}")).collect(),
            priority: 42,
            ..Default::default()
        }),
        update_mask: Some(FieldMask {
            paths: vec!["subject".into(), "tags".into(), "priority".into()],
        }),
        expected_version: 1,
    };
    let err = c.update_ticket(authed(bad, &agent)).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let fields: Vec<String> = err
        .get_details_bad_request()
        .unwrap()
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect();
    for field in ["ticket.subject", "ticket.tags", "ticket.priority"] {
        assert!(
            fields.iter().any(|f| f == field),
            "{field} missing from {fields:?}"
        );
    }
    let huge = AddMessageRequest {
        body: "x".repeat(70 * 1024),
        ..reply(&t.name, "")
    };
    assert_eq!(
        c.add_message(authed(huge, &agent))
            .await
            .unwrap_err()
            .code(),
        Code::InvalidArgument
    );
    let now = c
        .get_ticket(authed(
            GetTicketRequest {
                name: t.name.clone(),
            },
            &agent,
        ))
        .await?
        .into_inner();
    assert_eq!(now, t, "nothing changed");
    app.events(1).await?;
    app.stop().await
}

#[tokio::test]
async fn merging_a_duplicate_moves_its_messages_and_closes_it() -> anyhow::Result<()> {
    use switchboard_proto::ticket::v1::MergeTicketsRequest;

    let app = Running::start(&nats_url()).await?;
    let mut c = app.client().await;
    let agent = app.token("acme", "agent-7", Role::Agent);
    let source = create(&app, &agent, "Printer smokes (again?)", "ada@example.com").await?;
    let target = create(&app, &agent, "Printer on fire", "ada@example.com").await?;
    let merge = |sv: i64, tv: i64| MergeTicketsRequest {
        source: source.name.clone(),
        target: target.name.clone(),
        source_version: sv,
        target_version: tv,
    };
    assert_eq!(
        c.merge_tickets(authed(merge(2, 1), &agent))
            .await
            .unwrap_err()
            .code(),
        Code::Aborted
    );
    let merged = c
        .merge_tickets(authed(merge(1, 1), &agent))
        .await?
        .into_inner();
    assert_eq!(merged.merged_from, std::slice::from_ref(&source.name));
    let closed = c
        .get_ticket(authed(
            GetTicketRequest {
                name: source.name.clone(),
            },
            &agent,
        ))
        .await?
        .into_inner();
    assert_eq!(
        (closed.status(), closed.merged_into.as_str()),
        (TicketStatus::Closed, target.name.as_str())
    );
    let bodies: Vec<String> = c
        .list_messages(authed(
            ListMessagesRequest {
                parent: target.name.clone(),
                ..Default::default()
            },
            &agent,
        ))
        .await?
        .into_inner()
        .messages
        .into_iter()
        .map(|m| m.body)
        .collect();
    assert_eq!(
        bodies.len(),
        2,
        "both first messages now on the target: {bodies:?}"
    );
    let again = c
        .merge_tickets(authed(merge(2, 2), &agent))
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition);

    let events = app.events(5).await?;
    let seen: Vec<(&str, String)> = events
        .iter()
        .map(|(_, _, e)| (e.r#type.as_str(), e.aggregate_id.clone()))
        .collect();
    let (s, t) = (
        source.name.trim_start_matches("tickets/").to_owned(),
        target.name.trim_start_matches("tickets/").to_owned(),
    );
    // The stream keeps each ticket's events in order; events of different
    // tickets may interleave either way.
    let of = |id: &str| -> Vec<&str> {
        seen.iter()
            .filter(|(_, a)| a == id)
            .map(|(kind, _)| *kind)
            .collect()
    };
    assert_eq!(
        of(&s),
        ["ticket.created", "ticket.merged", "ticket.status_changed"]
    );
    assert_eq!(of(&t), ["ticket.created", "ticket.merged"]);
    assert_eq!(seen.len(), 5, "{seen:?}");
    app.stop().await
}

#[tokio::test]
async fn priority_order_pages_urgent_first_then_newest() -> anyhow::Result<()> {
    use switchboard_proto::ticket::v1::TicketOrder;

    let app = Running::start(&nats_url()).await?;
    let mut c = app.client().await;
    let agent = app.token("acme", "agent-7", Role::Agent);
    let mut expected = Vec::new();
    for (i, priority) in [
        Priority::Low,
        Priority::Urgent,
        Priority::Normal,
        Priority::Urgent,
        Priority::High,
    ]
    .into_iter()
    .enumerate()
    {
        let request = CreateTicketRequest {
            subject: format!("T{i}"),
            priority: priority as i32,
            requester: Some(Requester {
                email: "ada@example.com".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        c.create_ticket(authed(request, &agent)).await?;
        expected.push((priority as i32, i));
    }
    // Urgent first; within a priority, newest first.
    expected.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
    let expected: Vec<String> = expected.into_iter().map(|(_, i)| format!("T{i}")).collect();
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = ListTicketsRequest {
            page_size: 2,
            page_token: token,
            order: TicketOrder::PriorityDesc as i32,
            ..Default::default()
        };
        let r = c.list_tickets(authed(page, &agent)).await?.into_inner();
        seen.extend(r.tickets.into_iter().map(|t| t.subject));
        if r.next_page_token.is_empty() {
            break;
        }
        token = r.next_page_token;
    }
    assert_eq!(seen, expected);
    app.stop().await
}
