//! In-app: the live stream, resuming from a cursor, and the inbox calls.

use std::time::{Duration, Instant};

use futures::StreamExt;
use switchboard_proto::{notification::v1 as pb, ticket::v1::Visibility};
use switchboard_runtime::Role;
use switchboard_testkit::wait_for;

use crate::{
    helpers::{Desk, TicketSpec, agent, authed},
    smtp::SmtpSink,
};

async fn next(
    stream: &mut tonic::Streaming<pb::Notification>,
    within: Duration,
) -> anyhow::Result<pb::Notification> {
    Ok(tokio::time::timeout(within, stream.next())
        .await
        .map_err(|_| anyhow::anyhow!("no notification within {within:?}"))?
        .ok_or_else(|| anyhow::anyhow!("stream ended"))??)
}

#[tokio::test]
async fn a_subscriber_gets_mentions_live_and_resumes_from_its_cursor() -> anyhow::Result<()> {
    let sink = SmtpSink::start().await?;
    let desk = Desk::start(sink.addr, 3).await?;
    desk.introduce(&["agent-bo", "agent-cy"]).await?;
    let token = desk.token("agent-bo", Role::Agent);
    let t = TicketSpec::new(77, "Login fails");
    let mut version = 1;
    let mut mention = |body: &str| {
        version += 1;
        t.message(
            version,
            agent("agent-ann"),
            Visibility::Internal,
            body,
            &["agent-bo"],
        )
        .0
    };

    // Warm-up: the durable consumer exists and has caught up.
    let mut client = desk.client().await;
    let mut stream = client
        .subscribe(authed(pb::SubscribeRequest::default(), &token))
        .await?
        .into_inner();
    desk.publish(&mention("warm-up")).await?;
    let first = next(&mut stream, Duration::from_secs(20)).await?;
    assert_eq!(first.body, "warm-up");

    // Live: a mention arrives within a second of being published.
    let live = mention("are you there, @bo?");
    let published = Instant::now();
    desk.publish(&live).await?;
    let got = next(&mut stream, Duration::from_secs(1)).await?;
    assert!(published.elapsed() <= Duration::from_secs(1));
    assert_eq!(got.body, "are you there, @bo?");
    assert_eq!(got.event_type, "message.added");
    assert_eq!(got.event_id, live.id);
    assert_eq!(got.ticket, format!("tickets/{}", t.id));
    assert!(got.title.contains("#77"), "{}", got.title);
    let cursor = got.cursor.clone();

    // Disconnect; three more arrive meanwhile (plus one for someone else).
    drop(stream);
    for body in ["one", "two", "three"] {
        desk.publish(&mention(body)).await?;
    }
    let (other, _) = t.message(
        9,
        agent("agent-ann"),
        Visibility::Internal,
        "not for bo",
        &["agent-cy"],
    );
    desk.publish(&other).await?;
    let mut resumed = client
        .subscribe(authed(
            pb::SubscribeRequest {
                after_cursor: cursor,
            },
            &token,
        ))
        .await?
        .into_inner();
    let mut bodies = Vec::new();
    for _ in 0..3 {
        bodies.push(next(&mut resumed, Duration::from_secs(20)).await?.body);
    }
    assert_eq!(bodies, ["one", "two", "three"], "nothing missing, in order");
    desk.publish(&mention("four")).await?;
    assert_eq!(
        next(&mut resumed, Duration::from_secs(20)).await?.body,
        "four",
        "no duplicates, then live again"
    );
    drop(resumed);

    // The inbox: newest first, unread counts, mark read.
    let list = client
        .list_notifications(authed(
            pb::ListNotificationsRequest {
                page_size: 3,
                ..Default::default()
            },
            &token,
        ))
        .await?
        .into_inner();
    assert_eq!(list.unread_count, 6);
    let bodies: Vec<_> = list.notifications.iter().map(|n| n.body.as_str()).collect();
    assert_eq!(bodies, ["four", "three", "two"]);
    assert!(!list.next_page_token.is_empty());
    let page2 = client
        .list_notifications(authed(
            pb::ListNotificationsRequest {
                page_size: 3,
                page_token: list.next_page_token.clone(),
                ..Default::default()
            },
            &token,
        ))
        .await?
        .into_inner();
    let bodies: Vec<_> = page2
        .notifications
        .iter()
        .map(|n| n.body.as_str())
        .collect();
    assert_eq!(bodies, ["one", "are you there, @bo?", "warm-up"]);
    let read = client
        .mark_read(authed(
            pb::MarkReadRequest {
                names: vec![list.notifications[0].name.clone()],
                all: false,
            },
            &token,
        ))
        .await?
        .into_inner();
    assert_eq!(read.unread_count, 5);
    // Another agent cannot mark bo's notifications read.
    let cy = desk.token("agent-cy", Role::Agent);
    client
        .mark_read(authed(
            pb::MarkReadRequest {
                names: vec![list.notifications[1].name.clone()],
                all: false,
            },
            &cy,
        ))
        .await?;
    let count = client
        .get_unread_count(authed(pb::GetUnreadCountRequest {}, &token))
        .await?
        .into_inner()
        .unread_count;
    assert_eq!(count, 5);
    let cy_count = client
        .get_unread_count(authed(pb::GetUnreadCountRequest {}, &cy))
        .await?
        .into_inner()
        .unread_count;
    assert_eq!(cy_count, 1);
    let bad = client
        .subscribe(authed(
            pb::SubscribeRequest {
                after_cursor: "abc".into(),
            },
            &token,
        ))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    desk.stop().await
}

#[tokio::test]
async fn a_callers_subscriptions_past_the_cap_are_refused_and_a_freed_slot_is_reusable()
-> anyhow::Result<()> {
    let sink = SmtpSink::start().await?;
    let desk = Desk::start(sink.addr, 3).await?;
    let token = desk.token("agent-bo", Role::Agent);
    let cap = desk.settings.streams.max_per_caller;
    let mut client = desk.client().await;
    let mut open = Vec::new();
    for _ in 0..cap {
        open.push(
            client
                .subscribe(authed(pb::SubscribeRequest::default(), &token))
                .await?
                .into_inner(),
        );
    }
    let refused = client
        .subscribe(authed(pb::SubscribeRequest::default(), &token))
        .await
        .unwrap_err();
    assert_eq!(
        refused.code(),
        tonic::Code::ResourceExhausted,
        "{refused:?}"
    );
    assert!(refused.message().contains("max_per_caller"), "{refused:?}");
    let other = desk.token("agent-cy", Role::Agent);
    client
        .subscribe(authed(pb::SubscribeRequest::default(), &other))
        .await?;

    open.pop();
    wait_for(Duration::from_secs(10), "the dropped stream's slot", || {
        let mut client = client.clone();
        let token = token.clone();
        async move {
            client
                .subscribe(authed(pb::SubscribeRequest::default(), &token))
                .await
                .is_ok()
        }
    })
    .await?;
    desk.stop().await
}

/// A commit of in-app rows wakes only its own tenant's subscribers: the
/// `NOTIFY` names the tenant (it used to carry nothing, waking every
/// tenant's streams on every commit).
#[tokio::test]
async fn an_in_app_commit_notifies_its_tenant_by_name() -> anyhow::Result<()> {
    let sink = SmtpSink::start().await?;
    let desk = Desk::start(sink.addr, 3).await?;
    let mut listener = sqlx::postgres::PgListener::connect_with(&desk.pool().await).await?;
    listener
        .listen(switchboard_notification::store::INBOX_CHANNEL)
        .await?;
    desk.introduce(&["agent-bo"]).await?;
    let t = TicketSpec::new(78, "Printer");
    let (mention, _) = t.message(
        2,
        agent("agent-ann"),
        Visibility::Internal,
        "look, @bo",
        &["agent-bo"],
    );
    desk.publish(&mention).await?;
    let note = tokio::time::timeout(Duration::from_secs(20), listener.recv()).await??;
    assert_eq!(note.payload(), "acme");
    desk.stop().await
}
