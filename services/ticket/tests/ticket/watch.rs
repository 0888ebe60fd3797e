//! `WatchTickets` on real NATS: live changes with the caller's visibility.

use std::time::Duration;

use futures::StreamExt;
use switchboard_proto::ticket::v1::{
    AddMessageRequest, CreateTicketRequest, Requester, TicketEvent, TicketFilter, Visibility,
    WatchTicketsRequest,
};
use switchboard_runtime::Role;
use switchboard_testkit::{nats_url, wait_for};
use tonic::Streaming;

use crate::helpers::{Running, authed};

async fn next_within(stream: &mut Streaming<TicketEvent>, wait: Duration) -> Option<TicketEvent> {
    match tokio::time::timeout(wait, stream.next()).await {
        Ok(Some(Ok(event))) => Some(event),
        _ => None,
    }
}

/// Exactly `n` events (each may take a while on a loaded machine), then
/// nothing more for half a second.
async fn take(stream: &mut Streaming<TicketEvent>, n: usize) -> Vec<TicketEvent> {
    let mut events = Vec::new();
    while events.len() < n {
        match next_within(stream, Duration::from_secs(15)).await {
            Some(e) => events.push(e),
            None => panic!("only {} of {n} events arrived: {events:?}", events.len()),
        }
    }
    let extra = next_within(stream, Duration::from_millis(500)).await;
    assert!(extra.is_none(), "more than {n} events: {extra:?}");
    events
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
    // Watching starts after its event is out, so no watcher sees it.
    app.events(1).await?;

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

    let staff_types: Vec<String> = take(&mut staff, 4)
        .await
        .into_iter()
        .map(|e| e.r#type)
        .collect();
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
    for e in take(&mut customer, 2).await {
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

    let urgent = take(&mut filtered, 1).await.remove(0);
    assert_eq!(urgent.ticket.unwrap().subject, "Urgent: Bob's");
    assert!(
        take(&mut other_tenant, 0).await.is_empty(),
        "another tenant sees nothing"
    );
    app.stop().await
}

/// Resident memory of this process (the server runs inside the test).
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmRSS in /proc/self/status");
    kib * 1024
}

/// The probe's attack: many streams that are opened and never read while
/// the tenant is busy. The server must cut each one off without waiting for
/// it (dropping its NATS subscription), keep its memory bounded, and tell
/// each reader why once it reads. Today's code grew by 510 MiB here and cut
/// nobody off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_reading_watchers_are_cut_off_and_memory_stays_bounded() -> anyhow::Result<()> {
    use switchboard_proto::ticket::v1::ticket_service_client::TicketServiceClient;
    const WATCHERS: usize = 100;
    const TICKETS: usize = 300;
    // A small buffer, so a few dozen tickets overflow it.
    let app = Running::start_with(&nats_url(), |s| {
        s.streams.buffer = 8;
        s.streams.buffer_bytes = 64 << 10;
    })
    .await?;
    let url = format!("http://{}", app.addr);
    let mut watchers = Vec::new();
    for i in 0..WATCHERS {
        // A connection each, with HTTP/2's default window, as a plain client
        // would open; the test never reads these streams until the end.
        let channel = tonic::transport::Endpoint::from_shared(url.clone())?
            .initial_stream_window_size(65_535)
            .initial_connection_window_size(65_535)
            .connect()
            .await?;
        let mut client = TicketServiceClient::new(channel);
        let token = app.token("acme", &format!("agent-{i}"), Role::Agent);
        let stream = client
            .watch_tickets(authed(WatchTicketsRequest::default(), &token))
            .await?
            .into_inner();
        watchers.push((client, stream));
    }
    assert_eq!(app.streams.producing(), WATCHERS);
    let before = rss_bytes();

    let mut c = app.client().await;
    let agent = app.token("acme", "creator", Role::Agent);
    for n in 0..TICKETS {
        let mut ticket = ticket_for(&format!("c{n}@example.com"), &format!("Load {n}"));
        ticket.description = "x".repeat(16 << 10);
        c.create_ticket(authed(ticket, &agent)).await?;
    }
    wait_for(
        Duration::from_secs(60),
        "every never-reading watcher to be cut off",
        || async { app.streams.producing() == 0 },
    )
    .await?;
    let growth = rss_bytes().saturating_sub(before);
    eprintln!(
        "{WATCHERS} never-reading watchers: RSS grew by {} MiB",
        growth >> 20
    );
    assert!(
        growth < 100 << 20,
        "{WATCHERS} never-reading watchers grew the server by {} MiB",
        growth >> 20
    );

    // Each reader gets what was already on its way, then why it was cut off.
    for (_client, mut stream) in watchers {
        let mut received = 0;
        let status = loop {
            match stream.message().await {
                Ok(Some(_)) => received += 1,
                Ok(None) => panic!("the stream ended without saying why after {received} events"),
                Err(status) => break status,
            }
        };
        assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
        assert!(
            status.message().contains("list tickets again"),
            "{status:?}"
        );
        assert!(received < TICKETS, "it was cut off, not fed everything");
    }
    wait_for(Duration::from_secs(10), "every slot freed", || async {
        app.streams.open_count() == 0
    })
    .await?;
    app.stop().await
}

#[tokio::test]
async fn a_callers_streams_past_the_cap_are_refused_and_a_freed_slot_is_reusable()
-> anyhow::Result<()> {
    let app = Running::start_with(&nats_url(), |s| s.streams.max_per_caller = 2).await?;
    let mut c = app.client().await;
    let ann = app.token("acme", "agent-ann", Role::Agent);
    let bo = app.token("acme", "agent-bo", Role::Agent);
    let watch = |token: &str| authed(WatchTicketsRequest::default(), token);
    let first = c.watch_tickets(watch(&ann)).await?.into_inner();
    let _second = c.watch_tickets(watch(&ann)).await?.into_inner();
    let refused = c.watch_tickets(watch(&ann)).await.unwrap_err();
    assert_eq!(
        refused.code(),
        tonic::Code::ResourceExhausted,
        "{refused:?}"
    );
    assert!(refused.message().contains("max_per_caller"), "{refused:?}");
    // The cap is the caller's: a colleague still watches.
    let _bos = c.watch_tickets(watch(&bo)).await?.into_inner();

    drop(first);
    wait_for(
        Duration::from_secs(10),
        "the dropped stream's slot",
        || async { app.streams.open_count() == 2 },
    )
    .await?;
    let _again = c.watch_tickets(watch(&ann)).await?.into_inner();
    app.stop().await
}
