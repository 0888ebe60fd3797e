use switchboard_events::Payload;
use switchboard_proto::{
    common::v1::{Channel, Priority},
    ticket::v1::{CreateTicketRequest, GetTicketRequest, Requester, TicketStatus},
};
use switchboard_runtime::Role;
use switchboard_testkit::nats_url;
use tonic::Code;
use tonic_types::StatusExt;

use crate::helpers::{Running, authed};

fn create_request(subject: &str) -> CreateTicketRequest {
    CreateTicketRequest {
        subject: subject.into(),
        description: "The invoice shows the wrong VAT rate.".into(),
        channel: Channel::Email as i32,
        priority: Priority::High as i32,
        requester: Some(Requester {
            email: "ann@example.com".into(),
            display_name: "Ann".into(),
            ..Default::default()
        }),
        tags: vec!["billing".into()],
        ..Default::default()
    }
}

#[tokio::test]
async fn a_created_ticket_is_readable_by_its_tenant_only_and_announced() -> anyhow::Result<()> {
    let app = Running::start(&nats_url()).await?;
    let mut client = app.client().await;
    let agent = app.token("acme", "agent-1", Role::Agent);

    let ticket = client
        .create_ticket(authed(create_request("Wrong VAT on invoice"), &agent))
        .await?
        .into_inner();
    assert!(ticket.name.starts_with("tickets/"));
    assert_eq!(ticket.subject, "Wrong VAT on invoice");
    assert_eq!(ticket.status(), TicketStatus::New);
    assert_eq!(ticket.priority(), Priority::High);
    assert_eq!(ticket.channel(), Channel::Email);
    assert_eq!(ticket.version, 1);
    assert!(ticket.requester.starts_with("customers/"));

    let got = client
        .get_ticket(authed(
            GetTicketRequest {
                name: ticket.name.clone(),
            },
            &agent,
        ))
        .await?
        .into_inner();
    assert_eq!(got, ticket);

    // The requester sees it; another customer and another tenant do not.
    let ann = app.token("acme", "ann@example.com", Role::Customer);
    let bob = app.token("acme", "bob@example.com", Role::Customer);
    let globex = app.token("globex", "agent-1", Role::Admin);
    let get = |token: &str| {
        authed(
            GetTicketRequest {
                name: ticket.name.clone(),
            },
            token,
        )
    };
    assert_eq!(client.get_ticket(get(&ann)).await?.into_inner(), ticket);
    assert_eq!(
        client.get_ticket(get(&bob)).await.unwrap_err().code(),
        Code::NotFound
    );
    let err = client.get_ticket(get(&globex)).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    assert!(err.message().contains(&ticket.name), "{}", err.message());

    // Exactly one event, with the right subject, id and payload.
    let events = app.events(1).await?;
    let (subject, msg_id, envelope) = &events[0];
    assert_eq!(
        subject,
        &format!("{}.acme.ticket.created", app.stream.prefix)
    );
    assert_eq!(msg_id, &envelope.id);
    assert_eq!(envelope.r#type, "ticket.created");
    assert_eq!(envelope.tenant_id, "acme");
    assert_eq!(format!("tickets/{}", envelope.aggregate_id), ticket.name);
    assert_eq!(envelope.aggregate_version, 1);
    assert_eq!(envelope.actor.as_ref().unwrap().id, "agent-1");
    match &envelope.payload {
        Some(Payload::TicketCreated(created)) => assert_eq!(created.ticket.as_ref(), Some(&ticket)),
        other => panic!("unexpected payload {other:?}"),
    }
    app.stop().await
}

#[tokio::test]
async fn a_repeated_request_id_returns_the_first_ticket_and_one_event() -> anyhow::Result<()> {
    let app = Running::start(&nats_url()).await?;
    let mut client = app.client().await;
    let agent = app.token("acme", "agent-1", Role::Agent);
    let mut req = create_request("Retry me");
    req.request_id = "client-req-42".into();
    let first = client
        .create_ticket(authed(req.clone(), &agent))
        .await?
        .into_inner();
    let second = client
        .create_ticket(authed(req, &agent))
        .await?
        .into_inner();
    assert_eq!(first, second);
    assert_eq!(app.events(1).await?.len(), 1);
    app.stop().await
}

#[tokio::test]
async fn calls_without_a_valid_token_are_unauthenticated() -> anyhow::Result<()> {
    let app = Running::start(&nats_url()).await?;
    let mut client = app.client().await;

    let err = client
        .create_ticket(create_request("No token"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    assert!(err.message().contains("authorization"), "{}", err.message());

    let forged = switchboard_runtime::Authenticator::hs256(
        &"another-key-another-key-another-key!".to_owned().into(),
    )
    .issue(
        &switchboard_runtime::Caller {
            tenant: switchboard_runtime::TenantId::parse("acme").unwrap(),
            user: "mallory".into(),
            role: Role::Admin,
            via: switchboard_runtime::auth::Via::Person,
        },
        std::time::Duration::from_secs(60),
    );
    let err = client
        .create_ticket(authed(create_request("Forged"), &forged))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);

    let err = client
        .get_ticket(authed(
            GetTicketRequest {
                name: "tickets/x".into(),
            },
            "garbage",
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);

    let pool = app.pool().await;
    let tickets: i64 = sqlx::query_scalar("SELECT count(*) FROM tickets")
        .fetch_one(&pool)
        .await?;
    assert_eq!(tickets, 0);
    pool.close().await;
    app.stop().await
}

#[tokio::test]
async fn invalid_requests_name_the_field_and_write_nothing() -> anyhow::Result<()> {
    let app = Running::start(&nats_url()).await?;
    let mut client = app.client().await;
    let agent = app.token("acme", "agent-1", Role::Agent);

    for (subject, reason) in [
        ("", "must not be empty"),
        (&"x".repeat(251)[..], "at most 250"),
    ] {
        let err = client
            .create_ticket(authed(create_request(subject), &agent))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert!(err.message().contains(reason), "{}", err.message());
        let details = err.get_error_details();
        let fields: Vec<_> = details
            .bad_request()
            .expect("field violations")
            .field_violations
            .iter()
            .map(|v| v.field.clone())
            .collect();
        assert_eq!(fields, ["subject"]);
    }

    let mut req = create_request("Bad requester");
    req.requester = Some(Requester {
        email: "ann at example".into(),
        ..Default::default()
    });
    let err = client.create_ticket(authed(req, &agent)).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().contains("requester.email"),
        "{}",
        err.message()
    );

    // A message past the server's limit is refused before any handler runs,
    // as RESOURCE_EXHAUSTED (gRPC's code for it; tonic itself says OUT_OF_RANGE).
    let mut huge = create_request("Huge");
    huge.description = "x".repeat(5 * 1024 * 1024);
    let err = client
        .create_ticket(authed(huge, &agent))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");

    let err = client
        .get_ticket(authed(
            GetTicketRequest {
                name: "tickets/42".into(),
            },
            &agent,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);

    let pool = app.pool().await;
    for table in ["tickets", "customers", "messages", "outbox"] {
        let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&pool)
            .await?;
        assert_eq!(n, 0, "{table} must stay empty");
    }
    pool.close().await;
    // Nothing reached the stream either (a valid ticket proves the stream works).
    client
        .create_ticket(authed(create_request("Valid"), &agent))
        .await?;
    let events = app.events(1).await?;
    assert_eq!(events.len(), 1);
    app.stop().await
}
