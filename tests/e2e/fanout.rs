//! Live streams cost one source per tenant, not one per watcher (issue 19,
//! finding 6): 200 watchers of one tenant share one NATS subscription
//! (`WatchTickets`), one dashboard computation (`WatchDashboard`), one queue
//! poller (`WatchQueue`) and one inbox reader (`Subscribe`), as the server's
//! own `/metrics` count them, and every watcher receives the change.

use std::{future::Future, time::Duration};

use futures::future::try_join_all;
use serde_json::json;
use switchboard_proto::{
    analytics::v1::{WatchDashboardRequest, analytics_service_client::AnalyticsServiceClient},
    notification::v1::{SubscribeRequest, notification_service_client::NotificationServiceClient},
    routing::v1::{WatchQueueRequest, routing_service_client::RoutingServiceClient},
    ticket::v1::{WatchTicketsRequest, ticket_service_client::TicketServiceClient},
};
use switchboard_runtime::Role;
use switchboard_testkit::{free_port, wait_for};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::Streaming;

use crate::{
    authed,
    desk::{Desk, int, text},
};

const WATCHERS: usize = 200;
const TENANT: &str = "fanout";
/// The agent whose presence changes the queue.
const AGENT: &str = "fan-agent";
/// The supervisor whose inbox the subscribers watch.
const SUPERVISOR: &str = "fan-sup";
/// How long every watcher has to receive a change.
const RECEIVE_WITHIN: Duration = Duration::from_secs(20);

const CREATE_TICKET: &str = "switchboard.ticket.v1.TicketService/CreateTicket";
const ADD_MESSAGE: &str = "switchboard.ticket.v1.TicketService/AddMessage";
const ROUTING: &str = "switchboard.routing.v1.RoutingService/";
const NOTIFY: &str = "switchboard.notification.v1.NotificationService/";

/// The server's `/metrics` page.
async fn scrape(port: u16) -> anyhow::Result<String> {
    let mut socket = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    socket
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await?;
    let mut page = String::new();
    socket.read_to_string(&mut page).await?;
    Ok(page)
}

/// The value of `name{kind="<kind>"}` on the page, 0 when absent.
fn sample(page: &str, name: &str, kind: &str) -> f64 {
    let prefix = format!("{name}{{kind=\"{kind}\"}} ");
    page.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Sources of `kind` running now and started so far.
async fn sources(port: u16, kind: &str) -> anyhow::Result<(f64, f64)> {
    let page = scrape(port).await?;
    Ok((
        sample(&page, "live_sources", kind),
        sample(&page, "live_source_starts_total", kind),
    ))
}

/// Reads every stream until `seen` says its watcher got the change, all at
/// once, each within [`RECEIVE_WITHIN`].
async fn all_receive<T, F>(streams: &mut [Streaming<T>], what: &str, seen: F) -> anyhow::Result<()>
where
    F: Fn(&T) -> bool + Copy,
{
    let waits = streams
        .iter_mut()
        .enumerate()
        .map(|(i, stream)| async move {
            let received = async {
                loop {
                    match stream.message().await? {
                        Some(item) if seen(&item) => return Ok::<_, anyhow::Error>(()),
                        Some(_) => {}
                        None => anyhow::bail!("watcher {i}'s stream ended before {what}"),
                    }
                }
            };
            tokio::time::timeout(RECEIVE_WITHIN, received)
                .await
                .map_err(|_| anyhow::anyhow!("watcher {i} did not receive {what}"))?
        });
    try_join_all(waits).await?;
    Ok(())
}

/// Opens [`WATCHERS`] streams with `open(i)`, then checks that they share
/// one source of `kind`, started once.
async fn open_all<T, F, Fut>(port: u16, kind: &str, open: F) -> anyhow::Result<Vec<Streaming<T>>>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<tonic::Response<Streaming<T>>, tonic::Status>>,
{
    let mut streams = Vec::with_capacity(WATCHERS);
    for i in 0..WATCHERS {
        streams.push(open(i).await?.into_inner());
    }
    assert_eq!(
        sources(port, kind).await?,
        (1.0, 1.0),
        "{WATCHERS} {kind} watchers: one source running, started once"
    );
    Ok(streams)
}

/// Drops the streams and waits until their source has stopped.
async fn close_all<T>(port: u16, kind: &str, streams: Vec<Streaming<T>>) -> anyhow::Result<()> {
    assert_eq!(
        sources(port, kind).await?,
        (1.0, 1.0),
        "delivering to every {kind} watcher took no second source"
    );
    drop(streams);
    wait_for(
        Duration::from_secs(10),
        &format!("the {kind} source to stop with its last watcher"),
        || async { sources(port, kind).await.is_ok_and(|(live, _)| live == 0.0) },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_watchers_of_a_tenant_cost_one_source_per_kind_and_all_receive_the_change()
-> anyhow::Result<()> {
    let port = free_port()?;
    let metrics = format!("127.0.0.1:{port}");
    let desk = Desk::start(&[
        ("SWITCHBOARD__METRICS__LISTEN", metrics.as_str()),
        // 200 subscribers of one inbox are one caller.
        ("SWITCHBOARD__STREAMS__MAX_PER_CALLER", "256"),
        ("SWITCHBOARD__STREAMS__MAX_PER_TENANT", "1000"),
        // Every watcher rides the test's one connection.
        ("SWITCHBOARD__CONNECTIONS__MAX_CONCURRENT_STREAMS", "1000"),
    ])
    .await?;
    let admin = desk.token(TENANT, "fan-admin", Role::Admin);
    let agent = desk.token(TENANT, AGENT, Role::Agent);
    let supervisor = desk.token(TENANT, SUPERVISOR, Role::Supervisor);
    let watcher = |i: usize| desk.token(TENANT, &format!("watcher-{i}"), Role::Agent);
    desk.call(
        &admin,
        &format!("{ROUTING}CreateGroup"),
        json!({"group": {"name": "groups/fan", "displayName": "Fan"}}),
    )
    .await?;
    for user in [AGENT, SUPERVISOR] {
        desk.call(
            &admin,
            &format!("{ROUTING}CreateAgent"),
            json!({"agent": {"name": format!("agents/{user}"), "groups": ["fan"], "capacity": [{"max": 5}]}}),
        )
        .await?;
    }
    // The notification service learns whom it may tell in-app from events:
    // the supervisor's own presence change names them as staff.
    desk.call(
        &supervisor,
        &format!("{ROUTING}SetPresence"),
        json!({"presence": "PRESENCE_AWAY"}),
    )
    .await?;
    let create_ticket = |subject: &str| {
        desk.call(
            &agent,
            CREATE_TICKET,
            json!({"subject": subject, "requester": {"email": "ada@example.com"}}),
        )
    };

    // WatchDashboard: the tenant has no ticket yet; a new one is counted.
    let analytics = AnalyticsServiceClient::new(desk.channel.clone());
    let mut dashboards = open_all(port, "dashboard", |i| {
        let mut client = analytics.clone();
        let request = authed(WatchDashboardRequest::default(), &watcher(i));
        async move { client.watch_dashboard(request).await }
    })
    .await?;
    create_ticket("Dashboard change").await?;
    all_receive(&mut dashboards, "a dashboard counting the ticket", |d| {
        d.queue_size == 1
    })
    .await?;
    close_all(port, "dashboard", dashboards).await?;

    // WatchTickets: one subscription to the tenant's subjects.
    let tickets = TicketServiceClient::new(desk.channel.clone());
    let mut watches = open_all(port, "ticket_events", |i| {
        let mut client = tickets.clone();
        let request = authed(WatchTicketsRequest::default(), &watcher(i));
        async move { client.watch_tickets(request).await }
    })
    .await?;
    let ticket = text(&create_ticket("Watched change").await?, "name")?;
    all_receive(&mut watches, "the ticket.created event", |e| {
        e.r#type == "ticket.created" && e.ticket.as_ref().is_some_and(|t| t.name == ticket)
    })
    .await?;
    close_all(port, "ticket_events", watches).await?;

    // WatchQueue: one poller for the tenant's group; the agent comes online.
    let routing = RoutingServiceClient::new(desk.channel.clone());
    let mut queues = open_all(port, "queue_stats", |i| {
        let mut client = routing.clone();
        let request = authed(
            WatchQueueRequest {
                group: "groups/fan".into(),
            },
            &watcher(i),
        );
        async move { client.watch_queue(request).await }
    })
    .await?;
    desk.call(
        &agent,
        &format!("{ROUTING}SetPresence"),
        json!({"presence": "PRESENCE_ONLINE"}),
    )
    .await?;
    all_receive(&mut queues, "the agent online", |q| q.agents_online >= 1).await?;
    close_all(port, "queue_stats", queues).await?;

    // Subscribe: one reader of the tenant's inbox rows. A first mention
    // shows the notification consumer has caught up and knows the
    // supervisor as staff.
    let mention = |body: String| {
        desk.call(
            &agent,
            ADD_MESSAGE,
            json!({"parent": ticket, "body": body, "visibility": "VISIBILITY_INTERNAL", "mentions": [SUPERVISOR]}),
        )
    };
    mention("warm-up".into()).await?;
    wait_for(Duration::from_secs(30), "the warm-up mention", || async {
        desk.call(&supervisor, &format!("{NOTIFY}GetUnreadCount"), json!({}))
            .await
            .is_ok_and(|r| int(&r, "unreadCount").is_ok_and(|n| n >= 1))
    })
    .await?;
    let notifications = NotificationServiceClient::new(desk.channel.clone());
    let mut inboxes = open_all(port, "inbox", |_| {
        let mut client = notifications.clone();
        let request = authed(SubscribeRequest::default(), &supervisor);
        async move { client.subscribe(request).await }
    })
    .await?;
    let live = format!("live {}", uuid::Uuid::now_v7());
    mention(live.clone()).await?;
    all_receive(&mut inboxes, "the live mention", |n| n.body.contains(&live)).await?;
    close_all(port, "inbox", inboxes).await?;

    desk.stop().await
}
