//! `WatchTickets` on real NATS: live changes with the caller's visibility.

use std::time::Duration;

use futures::StreamExt;
use switchboard_proto::ticket::v1::{
    AddMessageRequest, CreateTicketRequest, Requester, TicketEvent, TicketFilter, Visibility,
    WatchTicketsRequest,
};
use switchboard_runtime::Role;
use switchboard_testkit::nats_url;
use tonic::Streaming;

use crate::helpers::{Running, authed};

async fn next(stream: &mut Streaming<TicketEvent>) -> Option<TicketEvent> {
    match tokio::time::timeout(Duration::from_secs(2), stream.next()).await {
        Ok(Some(Ok(event))) => Some(event),
        _ => None,
    }
}

fn ticket_for(email: &str, subject: &str) -> CreateTicketRequest {
    CreateTicketRequest {
        subject: subject.into(),
        requester: Some(Requester {
            email: email.into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[tokio::test]
async fn watchers_see_live_changes_within_their_visibility() -> anyhow::Result<()> {
    let app = Running::start(&nats_url()).await?;
    let mut c = app.client().await;
    let agent = app.token("acme", "agent-7", Role::Agent);
    let ada = app.token("acme", "ada@example.com", Role::Customer);
    // Ada needs a profile before she can watch; her first ticket makes one.
    let first = c
        .create_ticket(authed(ticket_for("ada@example.com", "First"), &agent))
        .await?
        .into_inner();

    let watch =
        |token: &str, filter: Option<TicketFilter>| authed(WatchTicketsRequest { filter }, token);
    let mut staff = c.watch_tickets(watch(&agent, None)).await?.into_inner();
    let urgent_only = TicketFilter {
        subject_contains: "urgent".into(),
        ..Default::default()
    };
    let mut filtered = c
        .watch_tickets(watch(&agent, Some(urgent_only)))
        .await?
        .into_inner();
    let mut customer = c.watch_tickets(watch(&ada, None)).await?.into_inner();
    let globex = app.token("globex", "agent-7", Role::Agent);
    let mut other_tenant = c.watch_tickets(watch(&globex, None)).await?.into_inner();

    c.create_ticket(authed(
        ticket_for("bob@example.com", "Urgent: Bob's"),
        &agent,
    ))
    .await?;
    let note = AddMessageRequest {
        parent: first.name.clone(),
        body: "grumpy".into(),
        visibility: Visibility::Internal as i32,
        ..Default::default()
    };
    c.add_message(authed(note, &agent)).await?;
    let reply = AddMessageRequest {
        parent: first.name.clone(),
        body: "On it".into(),
        ..Default::default()
    };
    c.add_message(authed(reply, &agent)).await?;

    let mut staff_types = Vec::new();
    while let Some(e) = next(&mut staff).await {
        staff_types.push(e.r#type);
    }
    assert_eq!(
        staff_types,
        [
            "ticket.created",
            "message.added",
            "message.added",
            "ticket.status_changed"
        ]
    );

    let mut ada_saw = Vec::new();
    while let Some(e) = next(&mut customer).await {
        assert_eq!(e.ticket.as_ref().unwrap().name, first.name);
        ada_saw.push((e.r#type, e.message.map(|m| m.body).unwrap_or_default()));
    }
    assert_eq!(
        ada_saw,
        [
            ("message.added".to_owned(), "On it".to_owned()),
            ("ticket.status_changed".to_owned(), String::new())
        ],
        "no internal note, nothing of Bob's"
    );

    let urgent = next(&mut filtered).await.expect("the urgent ticket");
    assert_eq!(urgent.ticket.unwrap().subject, "Urgent: Bob's");
    assert!(next(&mut filtered).await.is_none());
    assert!(
        next(&mut other_tenant).await.is_none(),
        "another tenant sees nothing"
    );
    app.stop().await
}
