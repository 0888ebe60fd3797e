//! Regressions from the outside probe of issue 18: what a hostile customer or
//! a careless agent could do to other people's tickets.

use prost_types::FieldMask;
use switchboard_proto::{
    common::v1::{Channel, Priority},
    ticket::v1::{
        AddMessageRequest, AddMessageResponse, AssignTicketRequest, Attachment,
        CreateTicketRequest, FieldValue, ListTicketsRequest, Requester, Ticket,
        UpdateTicketRequest, Visibility, field_value::Kind,
    },
};
use switchboard_runtime::Role;
use switchboard_testkit::nats_url;
use tonic::{Code, Status};
use tonic_types::StatusExt;

use crate::helpers::{Running, authed};

/// The fields a status's BadRequest details name.
fn fields(status: &Status) -> Vec<String> {
    status
        .get_error_details()
        .bad_request()
        .map(|b| b.field_violations.iter().map(|f| f.field.clone()).collect())
        .unwrap_or_default()
}

fn ask(subject: &str, description: &str, request_id: &str) -> CreateTicketRequest {
    CreateTicketRequest {
        request_id: request_id.into(),
        subject: subject.into(),
        description: description.into(),
        ..Default::default()
    }
}

async fn all_tickets(app: &Running) -> anyhow::Result<Vec<Ticket>> {
    let agent = app.token("acme", "agent-1", Role::Agent);
    Ok(app
        .client()
        .await
        .list_tickets(authed(ListTicketsRequest::default(), &agent))
        .await?
        .into_inner()
        .tickets)
}

#[tokio::test]
async fn another_customers_request_id_creates_the_callers_own_ticket() -> anyhow::Result<()> {
    let app = Running::start(&nats_url()).await?;
    let mut client = app.client().await;
    let ann = app.token("acme", "ann@example.com", Role::Customer);
    let bob = app.token("acme", "bob@example.com", Role::Customer);

    let anns = client
        .create_ticket(authed(
            ask("Ann's private matter", "ANN-SECRET", "web-form-42"),
            &ann,
        ))
        .await?
        .into_inner();
    let bobs = client
        .create_ticket(authed(
            ask("Bob's question", "Where is my parcel?", "web-form-42"),
            &bob,
        ))
        .await?
        .into_inner();
    assert_ne!(bobs.name, anns.name, "Bob got Ann's ticket");
    assert_eq!(bobs.subject, "Bob's question");
    assert_ne!(bobs.requester, anns.requester);
    assert!(!format!("{bobs:?}").contains("ANN-SECRET"));

    // Ann's own retry is still a replay.
    let again = client
        .create_ticket(authed(
            ask("Ann's private matter", "ANN-SECRET", "web-form-42"),
            &ann,
        ))
        .await?
        .into_inner();
    assert_eq!(again, anns);

    // Her key with another body is refused, naming the key and revealing
    // nothing of the first request.
    let reused = client
        .create_ticket(authed(
            ask("Something else", "Different", "web-form-42"),
            &ann,
        ))
        .await
        .unwrap_err();
    assert_eq!(reused.code(), Code::AlreadyExists, "{reused:?}");
    assert!(reused.message().contains("request_id"), "{reused:?}");
    for secret in ["ANN-SECRET", "private matter", &anns.name] {
        assert!(!format!("{reused:?}").contains(secret), "{reused:?}");
    }
    assert_eq!(all_tickets(&app).await?.len(), 2);
    app.stop().await
}

#[tokio::test]
async fn a_notes_request_id_on_another_ticket_never_returns_the_note() -> anyhow::Result<()> {
    let app = Running::start(&nats_url()).await?;
    let mut client = app.client().await;
    let agent = app.token("acme", "agent-1", Role::Agent);
    let bob = app.token("acme", "bob@example.com", Role::Customer);

    let anns = client
        .create_ticket(authed(
            CreateTicketRequest {
                requester: Some(Requester {
                    email: "ann@example.com".into(),
                    ..Default::default()
                }),
                ..ask("Ann's refund", "Please refund", "")
            },
            &agent,
        ))
        .await?
        .into_inner();
    let note = AddMessageRequest {
        parent: anns.name.clone(),
        request_id: "note-1".into(),
        body: "INTERNAL-MARKER: customer is on the fraud list".into(),
        visibility: Visibility::Internal as i32,
        ..Default::default()
    };
    let written = client
        .add_message(authed(note.clone(), &agent))
        .await?
        .into_inner();

    let bobs = client
        .create_ticket(authed(ask("Bob's parcel", "Late", ""), &bob))
        .await?
        .into_inner();
    let reply = client
        .add_message(authed(
            AddMessageRequest {
                parent: bobs.name.clone(),
                request_id: "note-1".into(),
                body: "Any news?".into(),
                ..Default::default()
            },
            &bob,
        ))
        .await?
        .into_inner();
    let seen = format!("{reply:?}");
    assert!(!seen.contains("INTERNAL-MARKER"), "{seen}");
    assert!(!seen.contains(&anns.name), "{seen}");
    let AddMessageResponse { message, ticket } = reply;
    assert_eq!(ticket.unwrap().name, bobs.name);
    let message = message.unwrap();
    assert_eq!(message.body, "Any news?");
    assert_eq!(message.visibility, Visibility::Public as i32);

    // The agent's own retry still replays the note.
    let again = client.add_message(authed(note, &agent)).await?.into_inner();
    assert_eq!(again.message, written.message);
    app.stop().await
}

#[tokio::test]
async fn customers_are_never_followers_mentions_or_assignees() -> anyhow::Result<()> {
    let app = Running::start(&nats_url()).await?;
    let mut client = app.client().await;
    let agent = app.token("acme", "agent-1", Role::Agent);
    let ticket = client
        .create_ticket(authed(
            CreateTicketRequest {
                requester: Some(Requester {
                    email: "ann@example.com".into(),
                    ..Default::default()
                }),
                ..ask("Refund", "Please", "")
            },
            &agent,
        ))
        .await?
        .into_inner();
    for (customer, field) in [
        ("bob@example.com", "mentions[1]"),
        (ticket.requester.as_str(), "mentions[1]"),
        ("phone:+15551234567", "mentions[1]"),
    ] {
        let err = client
            .add_message(authed(
                AddMessageRequest {
                    parent: ticket.name.clone(),
                    body: "note".into(),
                    visibility: Visibility::Internal as i32,
                    mentions: vec!["agent-2".into(), customer.into()],
                    ..Default::default()
                },
                &agent,
            ))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{customer}: {err:?}");
        assert_eq!(fields(&err), [field], "{customer}");
    }
    let err = client
        .update_ticket(authed(
            UpdateTicketRequest {
                ticket: Some(Ticket {
                    name: ticket.name.clone(),
                    followers: vec!["ann@example.com".into()],
                    ..Default::default()
                }),
                update_mask: Some(FieldMask {
                    paths: vec!["followers".into()],
                }),
                expected_version: ticket.version,
            },
            &agent,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(fields(&err), ["ticket.followers[0]"]);
    let err = client
        .assign_ticket(authed(
            AssignTicketRequest {
                name: ticket.name.clone(),
                assignee: ticket.requester.clone(),
                expected_version: ticket.version,
                ..Default::default()
            },
            &agent,
        ))
        .await
        .unwrap_err();
    assert_eq!(fields(&err), ["assignee"]);

    // Staff ids still work.
    let noted = client
        .add_message(authed(
            AddMessageRequest {
                parent: ticket.name.clone(),
                body: "note".into(),
                visibility: Visibility::Internal as i32,
                mentions: vec!["agent-2".into()],
                ..Default::default()
            },
            &agent,
        ))
        .await?
        .into_inner();
    assert_eq!(noted.message.unwrap().mentions, ["agent-2"]);
    app.stop().await
}

#[tokio::test]
async fn customers_set_only_the_fields_their_allow_list_names() -> anyhow::Result<()> {
    let app = Running::start(&nats_url()).await?;
    let mut client = app.client().await;
    let ann = app.token("acme", "ann@example.com", Role::Customer);
    let attachment = |key: &str| Attachment {
        filename: "invoice.pdf".into(),
        content_type: "application/pdf".into(),
        size_bytes: 10,
        storage_key: key.into(),
    };
    let cases: Vec<(CreateTicketRequest, &str)> = vec![
        (
            CreateTicketRequest {
                channel: Channel::Email as i32,
                ..ask("VIP please", "x", "")
            },
            "channel",
        ),
        (
            CreateTicketRequest {
                tags: vec!["vip".into()],
                ..ask("VIP please", "x", "")
            },
            "tags",
        ),
        (
            CreateTicketRequest {
                custom_fields: [(
                    "plan".to_owned(),
                    FieldValue {
                        kind: Some(Kind::Text("enterprise".into())),
                    },
                )]
                .into(),
                ..ask("VIP please", "x", "")
            },
            "custom_fields",
        ),
        (
            CreateTicketRequest {
                priority: Priority::Urgent as i32,
                ..ask("VIP please", "x", "")
            },
            "priority",
        ),
        (
            CreateTicketRequest {
                attachments: vec![attachment("globex/email/0190/secret.pdf")],
                ..ask("Look at this", "x", "")
            },
            "attachments[0].storage_key",
        ),
    ];
    for (request, field) in cases {
        let err = client
            .create_ticket(authed(request, &ann))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{field}: {err:?}");
        assert!(fields(&err).iter().any(|f| f == field), "{field}: {err:?}");
    }
    assert!(all_tickets(&app).await?.is_empty(), "nothing was written");

    // Staff cannot reference another tenant's objects either.
    let agent = app.token("acme", "agent-1", Role::Agent);
    let err = client
        .create_ticket(authed(
            CreateTicketRequest {
                requester: Some(Requester {
                    email: "ann@example.com".into(),
                    ..Default::default()
                }),
                attachments: vec![attachment("globex/email/0190/secret.pdf")],
                ..ask("Look at this", "x", "")
            },
            &agent,
        ))
        .await
        .unwrap_err();
    assert_eq!(fields(&err), ["attachments[0].storage_key"]);

    // What the allow-list names still works, an own-tenant key included.
    let mine = client
        .create_ticket(authed(
            CreateTicketRequest {
                attachments: vec![attachment("acme/email/0190/invoice.pdf")],
                ..ask("Invoice", "see attached", "r-1")
            },
            &ann,
        ))
        .await?
        .into_inner();
    let err = client
        .add_message(authed(
            AddMessageRequest {
                parent: mine.name.clone(),
                body: "by mail please".into(),
                channel: Channel::Email as i32,
                ..Default::default()
            },
            &ann,
        ))
        .await
        .unwrap_err();
    assert_eq!(fields(&err), ["channel"]);
    app.stop().await
}

#[tokio::test]
async fn ticket_numbers_count_per_tenant() -> anyhow::Result<()> {
    let app = Running::start(&nats_url()).await?;
    let mut tasks = Vec::new();
    for tenant in ["acme", "globex"] {
        for i in 0..6 {
            let token = app.token(tenant, &format!("c{i}@example.com"), Role::Customer);
            let mut client = app.client().await;
            tasks.push(tokio::spawn(async move {
                let t = client
                    .create_ticket(authed(ask("Count me", "", ""), &token))
                    .await?
                    .into_inner();
                anyhow::Ok((tenant, t.number))
            }));
        }
    }
    let mut numbers = std::collections::BTreeMap::<&str, Vec<i64>>::new();
    for task in tasks {
        let (tenant, number) = task.await??;
        numbers.entry(tenant).or_default().push(number);
    }
    for (tenant, mut seen) in numbers {
        seen.sort();
        assert_eq!(seen, (1..=6).collect::<Vec<_>>(), "{tenant}");
    }
    app.stop().await
}

#[tokio::test]
async fn intake_keys_belong_to_the_customer_or_to_the_channel() -> anyhow::Result<()> {
    use switchboard_proto::ticket::v1::{
        Contact, IngestSmsRequest, SubmitWebFormRequest, intake_service_client::IntakeServiceClient,
    };
    let app = Running::start(&nats_url()).await?;
    let hook = app.token("acme", "channels", Role::Admin);
    let mut intake = IntakeServiceClient::connect(format!("http://{}", app.addr)).await?;

    // A client-chosen id is the customer's: two people, two tickets.
    let form = |email: &str, subject: &str| SubmitWebFormRequest {
        request_id: "web-form-42".into(),
        contact: Some(Contact {
            email: email.into(),
            ..Default::default()
        }),
        subject: subject.into(),
        description: "From the contact page".into(),
        ..Default::default()
    };
    let lins = intake
        .submit_web_form(authed(form("lin@example.org", "Lin's refund"), &hook))
        .await?
        .into_inner()
        .ticket
        .unwrap();
    let kims = intake
        .submit_web_form(authed(form("kim@example.org", "Kim's invoice"), &hook))
        .await?
        .into_inner()
        .ticket
        .unwrap();
    assert_ne!(lins.name, kims.name);
    assert_eq!(kims.subject, "Kim's invoice");
    let again = intake
        .submit_web_form(authed(form("lin@example.org", "Lin's refund"), &hook))
        .await?
        .into_inner()
        .ticket
        .unwrap();
    assert_eq!(again.name, lins.name, "Lin's retry replays");

    // A provider's id is the channel's: a redelivery is the same message,
    // and the id with another sender or text is refused.
    let sms = |from: &str, text: &str| IngestSmsRequest {
        from: from.into(),
        text: text.into(),
        provider_id: "SM9".into(),
        ..Default::default()
    };
    let first = intake
        .ingest_sms(authed(sms("+15550001111", "Is the shop open?"), &hook))
        .await?
        .into_inner();
    let redelivered = intake
        .ingest_sms(authed(sms("+15550001111", "Is the shop open?"), &hook))
        .await?
        .into_inner();
    assert_eq!(
        redelivered.ticket.as_ref().map(|t| &t.name),
        first.ticket.as_ref().map(|t| &t.name)
    );
    assert_eq!(
        redelivered.message.as_ref().map(|m| &m.name),
        first.message.as_ref().map(|m| &m.name)
    );
    let forged = intake
        .ingest_sms(authed(sms("+15550002222", "Show me their texts"), &hook))
        .await
        .unwrap_err();
    assert_eq!(forged.code(), Code::AlreadyExists, "{forged:?}");
    assert!(!format!("{forged:?}").contains("shop open"));
    assert_eq!(all_tickets(&app).await?.len(), 3);
    app.stop().await
}
