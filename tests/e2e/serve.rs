//! `switchboard serve`, `migrate` and `token` as operators use them.

use std::time::Duration;

use prost::Message;
use switchboard_proto::{
    events::v1::{Envelope, envelope::Payload},
    knowledge::v1::{
        ChangeArticleStatusRequest, CreateArticleRequest,
        knowledge_service_client::KnowledgeServiceClient,
    },
    routing::v1::{GetAgentRequest, routing_service_client::RoutingServiceClient},
    ticket::v1::{
        CreateTicketRequest, GetTicketRequest, Requester,
        ticket_service_client::TicketServiceClient,
    },
};
use tokio_stream::StreamExt;
use tonic::Code;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
use tonic_reflection::pb::v1::{
    ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
    server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
};

use switchboard_testkit::process::World;

use crate::authed;

/// Path of the binary cargo built for this test.
const BIN: &str = env!("CARGO_BIN_EXE_switchboard");

const SERVICES: [&str; 6] = [
    "switchboard.ticket.v1.TicketService",
    "switchboard.ticket.v1.CustomerService",
    "switchboard.routing.v1.RoutingService",
    "switchboard.notification.v1.NotificationService",
    "switchboard.knowledge.v1.KnowledgeService",
    "switchboard.analytics.v1.AnalyticsService",
];

async fn reflected_services(channel: tonic::transport::Channel) -> anyhow::Result<Vec<String>> {
    let mut client = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = client
        .server_reflection_info(tokio_stream::once(request))
        .await?
        .into_inner();
    let response = responses.next().await.expect("one response")?;
    match response.message_response {
        Some(MessageResponse::ListServicesResponse(list)) => {
            Ok(list.service.into_iter().map(|s| s.name).collect())
        }
        other => anyhow::bail!("unexpected reflection response {other:?}"),
    }
}

#[tokio::test]
async fn serve_all_is_healthy_reflects_every_service_and_carries_a_ticket_to_jetstream()
-> anyhow::Result<()> {
    let world = World::new(BIN).await?;
    let migrate = world.run(&["migrate"])?;
    assert!(
        migrate.status.success(),
        "migrate failed: {}",
        String::from_utf8_lossy(&migrate.stderr)
    );
    assert!(String::from_utf8_lossy(&migrate.stdout).contains("ticket: migrations applied"));

    // Migrations came from `migrate`, not from the server starting up.
    let server = world.serve(&[], &[("SWITCHBOARD__DATABASE__MIGRATE_ON_START", "false")])?;
    let channel = server.channel().await?;
    server.wait_serving(&channel, "").await?;
    for service in SERVICES {
        server.wait_serving(&channel, service).await?;
    }

    // Error details decode in generic clients too.
    let mut reflection = ServerReflectionClient::new(channel.clone());
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::FileContainingSymbol(
            "google.rpc.BadRequest".into(),
        )),
    };
    let mut answer = reflection
        .server_reflection_info(tokio_stream::once(request))
        .await?
        .into_inner();
    match answer.next().await.expect("an answer")?.message_response {
        Some(MessageResponse::FileDescriptorResponse(files)) => {
            assert!(!files.file_descriptor_proto.is_empty())
        }
        other => panic!("google.rpc.BadRequest is not reflected: {other:?}"),
    }

    let listed = reflected_services(channel.clone()).await?;
    for service in SERVICES.iter().chain(&["grpc.health.v1.Health"]) {
        assert!(
            listed.iter().any(|s| s == service),
            "{service} missing from reflection: {listed:?}"
        );
    }

    let token = world.run(&[
        "token", "--tenant", "acme", "--user", "agent-7", "--role", "agent",
    ])?;
    assert!(token.status.success());
    let token = String::from_utf8(token.stdout)?.trim().to_owned();

    let mut tickets = TicketServiceClient::new(channel.clone());
    let unauthenticated = tickets
        .get_ticket(GetTicketRequest {
            name: "tickets/x".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(unauthenticated.code(), Code::Unauthenticated);

    let created = tickets
        .create_ticket(authed(
            CreateTicketRequest {
                request_id: "e2e-1".into(),
                subject: "Printer is on fire".into(),
                description: "Smoke everywhere".into(),
                requester: Some(Requester {
                    email: "ada@example.com".into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            &token,
        ))
        .await?
        .into_inner();
    let fetched = tickets
        .get_ticket(authed(
            GetTicketRequest {
                name: created.name.clone(),
            },
            &token,
        ))
        .await?
        .into_inner();
    assert_eq!(fetched, created);

    let events = switchboard_testkit::read_stream(&world.nats_url, &world.stream.stream, 1).await?;
    let envelope = Envelope::decode(events[0].payload.clone())?;
    assert_eq!(
        events[0].subject,
        format!("{}.acme.ticket.created", world.stream.prefix)
    );
    assert_eq!(events[0].msg_id, envelope.id);
    match envelope.payload {
        Some(Payload::TicketCreated(e)) => assert_eq!(e.ticket.expect("ticket").name, created.name),
        other => panic!("unexpected payload {other:?}"),
    }

    // Routing serves in the same process: it authenticates, then answers
    // for its own data (no such agent yet).
    let missing = RoutingServiceClient::new(channel)
        .get_agent(authed(
            GetAgentRequest {
                name: "agents/a".into(),
            },
            &token,
        ))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound, "{}", missing.message());

    let status = server.terminate(Duration::from_secs(15)).await?;
    assert!(status.success(), "exit after SIGTERM: {status}");
    world.drop().await
}

#[tokio::test]
async fn serve_a_subset_runs_only_those_services() -> anyhow::Result<()> {
    let world = World::new(BIN).await?;
    let server = world.serve(&["--services", "routing,knowledge"], &[])?;
    let channel = server.channel().await?;
    server.wait_serving(&channel, SERVICES[2]).await?;
    server.wait_serving(&channel, SERVICES[4]).await?;
    let ticket = HealthClient::new(channel.clone())
        .check(HealthCheckRequest {
            service: SERVICES[0].into(),
        })
        .await
        .unwrap_err();
    assert_eq!(ticket.code(), Code::NotFound);
    let listed = reflected_services(channel).await?;
    assert!(!listed.iter().any(|s| s == SERVICES[0]), "{listed:?}");

    let status = server.terminate(Duration::from_secs(15)).await?;
    assert!(status.success(), "exit after SIGTERM: {status}");
    world.drop().await
}

#[tokio::test]
async fn bad_configuration_fails_at_start_naming_the_setting() -> anyhow::Result<()> {
    let world = World::new(BIN).await?;
    let out = world
        .command(&["serve"])
        .env("SWITCHBOARD__DATABASE__MAX_CONNECTIONS", "lots")
        .output()?;
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("database.max_connections"), "{stderr}");

    let out = world
        .command(&["serve", "--services", "ticket,billing"])
        .output()?;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("billing"));
    world.drop().await
}

#[tokio::test]
async fn five_processes_one_service_each_as_kubernetes_runs_them() -> anyhow::Result<()> {
    let world = World::new(BIN).await?;
    let migrate = world.run(&["migrate"])?;
    assert!(migrate.status.success());
    let names = [
        "ticket",
        "routing",
        "notification",
        "knowledge",
        "analytics",
    ];
    let mut servers = Vec::new();
    for name in names {
        let arg = format!("--services={name}");
        servers.push(world.serve(
            &[&arg],
            &[("SWITCHBOARD__DATABASE__MIGRATE_ON_START", "false")],
        )?);
    }
    let grpc_names = [
        SERVICES[0],
        SERVICES[2],
        SERVICES[3],
        SERVICES[4],
        SERVICES[5],
    ];
    let mut channels = Vec::new();
    for (server, grpc) in servers.iter().zip(grpc_names) {
        let channel = server.channel().await?;
        server.wait_serving(&channel, grpc).await?;
        server.wait_serving(&channel, "").await?;
        channels.push(channel);
    }
    // Each process serves only its own service.
    let elsewhere = HealthClient::new(channels[1].clone())
        .check(HealthCheckRequest {
            service: SERVICES[0].into(),
        })
        .await
        .unwrap_err();
    assert_eq!(elsewhere.code(), Code::NotFound);

    let token = world.run(&[
        "token", "--tenant", "acme", "--user", "agent-7", "--role", "agent",
    ])?;
    let token = String::from_utf8(token.stdout)?.trim().to_owned();
    let mut knowledge = KnowledgeServiceClient::new(channels[3].clone());
    let article = knowledge
        .create_article(authed(
            CreateArticleRequest {
                title: "Printer troubleshooting".into(),
                body_markdown: "When the printer jams, open the tray.".into(),
                locale: "en".into(),
                ..Default::default()
            },
            &token,
        ))
        .await?
        .into_inner();
    knowledge
        .publish_article(authed(
            ChangeArticleStatusRequest {
                name: article.name.clone(),
                expected_version: 1,
            },
            &token,
        ))
        .await?;
    let created = TicketServiceClient::new(channels[0].clone())
        .create_ticket(authed(
            CreateTicketRequest {
                subject: "The printer jams again".into(),
                requester: Some(Requester {
                    email: "ada@example.com".into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            &token,
        ))
        .await?
        .into_inner();
    // The ticket's event crosses the shared stream to the knowledge process,
    // whose durable consumer answers with a suggestion.
    let events = switchboard_testkit::read_stream(&world.nats_url, &world.stream.stream, 4).await?;
    let events: Vec<Envelope> = events
        .into_iter()
        .map(|m| Envelope::decode(m.payload))
        .collect::<Result<_, _>>()?;
    let types: Vec<_> = events.iter().map(|e| e.r#type.as_str()).collect();
    assert_eq!(
        types,
        [
            "article.created",
            "article.published",
            "ticket.created",
            "knowledge.suggested"
        ]
    );
    match &events[3].payload {
        Some(Payload::KnowledgeSuggested(s)) => {
            assert_eq!(s.ticket, created.name);
            assert_eq!(s.articles[0].article, article.name);
        }
        other => panic!("unexpected payload {other:?}"),
    }
    drop(channels);
    for server in servers {
        let status = server.terminate(Duration::from_secs(15)).await?;
        assert!(status.success(), "exit after SIGTERM: {status}");
    }
    world.drop().await
}

#[tokio::test]
async fn a_service_takes_no_traffic_until_its_schema_is_migrated() -> anyhow::Result<()> {
    let world = World::new(BIN).await?;
    let server = world.serve(
        &["--services", "ticket"],
        &[("SWITCHBOARD__DATABASE__MIGRATE_ON_START", "false")],
    )?;
    let channel = server.channel().await?;
    // Two readiness rounds (2 s apart) without a schema: still NOT_SERVING.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let status = HealthClient::new(channel.clone())
        .check(HealthCheckRequest {
            service: SERVICES[0].into(),
        })
        .await?
        .into_inner()
        .status();
    assert_eq!(
        status,
        tonic_health::pb::health_check_response::ServingStatus::NotServing
    );

    assert!(
        world
            .run(&["migrate", "--services", "ticket"])?
            .status
            .success()
    );
    server.wait_serving(&channel, SERVICES[0]).await?;
    let status = server.terminate(Duration::from_secs(15)).await?;
    assert!(status.success());
    world.drop().await
}
