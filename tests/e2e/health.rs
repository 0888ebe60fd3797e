//! Health as an orchestrator reads it, through real outages: PostgreSQL cut
//! off from one process (a proxy the test controls, so the shared server
//! stays up), PostgreSQL absent at start, and a NATS of the test's own
//! stopped and started again.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use switchboard_proto::ticket::v1::{
    CreateTicketRequest, Requester, ticket_service_client::TicketServiceClient,
};
use switchboard_testkit::{
    NatsServer,
    process::{Server, World},
    proxy::{Mode, TcpProxy},
    wait_for,
};
use tokio_stream::StreamExt;
use tonic::transport::Channel;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::authed;

const BIN: &str = env!("CARGO_BIN_EXE_switchboard");
const TICKET: &str = "switchboard.ticket.v1.TicketService";
const TICKET_EVENTS: &str = "switchboard.ticket.v1.TicketService/events";

/// The status of `service`, or `None` when health does not answer.
async fn status(channel: &Channel, service: &str) -> Option<ServingStatus> {
    HealthClient::new(channel.clone())
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await
        .ok()
        .map(|r| r.get_ref().status())
}

async fn wait_status(
    channel: &Channel,
    service: &str,
    want: ServingStatus,
    within: Duration,
) -> anyhow::Result<()> {
    wait_for(within, &format!("{service:?} {want:?}"), || async {
        status(channel, service).await == Some(want)
    })
    .await
}

/// Every status `service` reports from now on, as health's Watch sends them.
fn record(channel: &Channel, service: &str) -> Arc<Mutex<Vec<ServingStatus>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (mut health, service, into) = (
        HealthClient::new(channel.clone()),
        service.to_owned(),
        seen.clone(),
    );
    tokio::spawn(async move {
        let Ok(stream) = health.watch(HealthCheckRequest { service }).await else {
            return;
        };
        let mut stream = stream.into_inner();
        while let Some(Ok(update)) = stream.next().await {
            into.lock().unwrap().push(update.status());
        }
    });
    seen
}

/// `url` with its host and port replaced by `addr`.
fn via(url: &str, addr: std::net::SocketAddr) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let (userinfo, rest) = rest.split_once('@').expect("a user");
    let (_, path) = rest.split_once('/').expect("a database");
    format!("{scheme}://{userinfo}@{addr}/{path}")
}

fn serve_ticket_through(world: &World, proxy: &TcpProxy) -> anyhow::Result<Server> {
    let url = via(&world.db.url, proxy.addr());
    world.serve(
        &["--services", "ticket"],
        &[("SWITCHBOARD__DATABASE__URL", url.as_str())],
    )
}

fn pg_addr() -> std::net::SocketAddr {
    let admin = switchboard_testkit::pg_admin_url();
    let host = admin
        .split_once('@')
        .and_then(|(_, rest)| rest.split('/').next())
        .expect("host:port in the test PostgreSQL URL");
    host.parse().expect("a numeric host:port")
}

#[tokio::test]
async fn overall_health_follows_a_postgres_outage_promptly_and_without_flapping()
-> anyhow::Result<()> {
    let world = World::new(BIN).await?;
    let proxy = TcpProxy::start(pg_addr(), Mode::Up).await?;
    let server = serve_ticket_through(&world, &proxy)?;
    let channel = server.channel().await?;
    server.wait_serving(&channel, "").await?;
    let seen = record(&channel, "");
    wait_for(
        Duration::from_secs(5),
        "the watch's first status",
        || async { !seen.lock().unwrap().is_empty() },
    )
    .await?;

    // The database hangs (no refusal to notice quickly): only timeouts tell.
    proxy.set(Mode::Blackhole);
    let cut = Instant::now();
    wait_status(
        &channel,
        "",
        ServingStatus::NotServing,
        Duration::from_secs(6),
    )
    .await?;
    let noticed = cut.elapsed();
    assert_eq!(
        status(&channel, TICKET).await,
        Some(ServingStatus::NotServing),
        "the service and the whole agree"
    );

    proxy.set(Mode::Up);
    let healed = Instant::now();
    wait_status(&channel, "", ServingStatus::Serving, Duration::from_secs(6)).await?;
    let recovered = healed.elapsed();

    // Well past threshold × interval + timeout: a late flip would show here.
    let settle = Instant::now();
    wait_for(Duration::from_secs(10), "4 s of steady health", || async {
        settle.elapsed() >= Duration::from_secs(4)
            && status(&channel, "").await == Some(ServingStatus::Serving)
    })
    .await?;
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        [
            ServingStatus::Serving,
            ServingStatus::NotServing,
            ServingStatus::Serving
        ],
        "one drop and one recovery, nothing else (noticed after {noticed:?}, recovered after {recovered:?})"
    );
    server.terminate(Duration::from_secs(15)).await?;
    world.drop().await
}

#[tokio::test]
async fn a_process_started_without_postgres_waits_not_serving_and_serves_once_it_answers()
-> anyhow::Result<()> {
    let world = World::new(BIN).await?;
    let proxy = TcpProxy::start(pg_addr(), Mode::Refuse).await?;
    // Migrations on start: they too must wait for the database.
    let mut server = serve_ticket_through(&world, &proxy)?;
    let channel = server.channel().await?;
    wait_status(
        &channel,
        "",
        ServingStatus::NotServing,
        Duration::from_secs(10),
    )
    .await?;
    wait_status(
        &channel,
        TICKET,
        ServingStatus::NotServing,
        Duration::from_secs(1),
    )
    .await?;
    assert!(
        server.try_status()?.is_none(),
        "the process must keep running"
    );

    proxy.set(Mode::Up);
    wait_status(
        &channel,
        "",
        ServingStatus::Serving,
        Duration::from_secs(30),
    )
    .await?;
    assert!(server.try_status()?.is_none());
    let status = server.terminate(Duration::from_secs(15)).await?;
    assert!(status.success(), "{status:?}");
    world.drop().await
}

#[tokio::test]
async fn ticket_keeps_serving_through_a_nats_outage_and_reports_it_apart() -> anyhow::Result<()> {
    let mut nats = NatsServer::start().await?;
    let mut world = World::new(BIN).await?;
    world.nats_url = nats.url();
    let server = world.serve(&["--services", "ticket"], &[])?;
    let channel = server.channel().await?;
    server.wait_serving(&channel, "").await?;
    server.wait_serving(&channel, TICKET_EVENTS).await?;
    let token = world.run(&[
        "token", "--tenant", "acme", "--user", "agent-7", "--role", "agent",
    ])?;
    let token = String::from_utf8(token.stdout)?.trim().to_owned();
    let seen = record(&channel, "");

    nats.stop();
    wait_status(
        &channel,
        TICKET_EVENTS,
        ServingStatus::NotServing,
        Duration::from_secs(15),
    )
    .await?;
    let mut tickets = TicketServiceClient::new(channel.clone());
    for i in 0..5 {
        tickets
            .create_ticket(authed(
                CreateTicketRequest {
                    request_id: format!("nats-down-{i}"),
                    subject: "Written while NATS is down".into(),
                    requester: Some(Requester {
                        email: "ada@example.com".into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                &token,
            ))
            .await?;
    }
    assert_eq!(status(&channel, "").await, Some(ServingStatus::Serving));
    assert_eq!(status(&channel, TICKET).await, Some(ServingStatus::Serving));

    nats.restart().await?;
    wait_status(
        &channel,
        TICKET_EVENTS,
        ServingStatus::Serving,
        Duration::from_secs(30),
    )
    .await?;
    assert_eq!(
        *seen.lock().unwrap(),
        [ServingStatus::Serving],
        "the whole never left SERVING"
    );
    server.terminate(Duration::from_secs(15)).await?;
    world.drop().await
}
