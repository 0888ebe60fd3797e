//! `PrivacyService` over gRPC: who may call it, what erasure announces, what
//! an export holds, and the retention policy.

use futures::StreamExt;
use sha2::{Digest, Sha256};
use switchboard_events::Payload;
use switchboard_proto::ticket::v1::{
    AddIdentityRequest, AddMessageRequest, CreateTicketRequest, EraseCustomerRequest,
    ExportCustomerRequest, GetCustomerRequest, GetRetentionPolicyRequest, Identity, IdentityKind,
    ListMessagesRequest, Requester, RetentionPolicy, UpdateRetentionPolicyRequest,
    customer_export_part::Part, customer_service_client::CustomerServiceClient,
    privacy_service_client::PrivacyServiceClient,
};
use switchboard_runtime::Role;
use switchboard_testkit::nats_url;
use tonic::{Code, transport::Channel};

use crate::helpers::{Running, authed};

const NAME: &str = "Quentin Marlowe";
const EMAIL: &str = "quentin.m@example.com";
const PHONE: &str = "+15550198765";

async fn privacy(app: &Running) -> PrivacyServiceClient<Channel> {
    PrivacyServiceClient::connect(format!("http://{}", app.addr))
        .await
        .expect("connect")
}

/// A ticket of the marked customer with a reply of theirs and an agent's:
/// the ticket's and the customer's names.
async fn marked_ticket(app: &Running) -> anyhow::Result<(String, String)> {
    let mut tickets = app.client().await;
    let agent = app.token("acme", "agent-7", Role::Agent);
    let ticket = tickets
        .create_ticket(authed(
            CreateTicketRequest {
                subject: format!("Refund for {NAME}"),
                description: format!("Please call {PHONE}"),
                requester: Some(Requester {
                    email: EMAIL.into(),
                    display_name: NAME.into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            &agent,
        ))
        .await?
        .into_inner();
    let customer = app.token("acme", EMAIL, Role::Customer);
    for (token, body) in [
        (&customer, format!("It is {NAME} again")),
        (&agent, "Hi Quentin, on it".to_owned()),
    ] {
        tickets
            .add_message(authed(
                AddMessageRequest {
                    parent: ticket.name.clone(),
                    body,
                    ..Default::default()
                },
                token,
            ))
            .await?;
    }
    Ok((ticket.name, ticket.requester))
}

fn marked(text: &str) -> bool {
    let lower = text.to_lowercase();
    ["quentin", "marlowe", EMAIL, "0198765"]
        .iter()
        .any(|m| lower.contains(m))
}

#[tokio::test]
async fn erasure_is_for_admins_and_announces_itself_without_personal_data() -> anyhow::Result<()> {
    let app = Running::start(&nats_url()).await?;
    let (ticket, customer) = marked_ticket(&app).await?;
    let mut client = privacy(&app).await;
    let erase = |name: &str| EraseCustomerRequest { name: name.into() };

    for role in [Role::Agent, Role::Supervisor, Role::Customer] {
        let token = app.token("acme", "someone", role);
        let refused = client
            .erase_customer(authed(erase(&customer), &token))
            .await;
        assert_eq!(
            refused.unwrap_err().code(),
            Code::PermissionDenied,
            "{role:?}"
        );
    }
    let admin = app.token("acme", "admin-1", Role::Admin);
    let other_admin = app.token("globex", "admin-1", Role::Admin);
    let foreign = client
        .erase_customer(authed(erase(&customer), &other_admin))
        .await;
    assert_eq!(foreign.unwrap_err().code(), Code::NotFound);
    let bad = client
        .erase_customer(authed(erase("people/1"), &admin))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert!(bad.message().contains("name"), "{}", bad.message());

    let erased = client
        .erase_customer(authed(erase(&customer), &admin))
        .await?
        .into_inner();
    assert_eq!((erased.tickets, erased.messages), (1, 3));
    let profile = erased.customer.expect("the profile");
    assert!(profile.erase_time.is_some());
    assert!(profile.identities.is_empty() && profile.display_name.is_empty());

    // The creation, two messages and the ticket's opening, then the
    // erasure's two events, the ticket's first.
    let events = app.events(6).await?;
    let (subject, _, updated) = &events[4];
    assert!(subject.ends_with("acme.ticket.updated"), "{subject}");
    match &updated.payload {
        Some(Payload::TicketUpdated(u)) => {
            assert_eq!(u.erased_customer, customer);
            let t = u.ticket.as_ref().expect("ticket");
            assert_eq!(t.name, ticket);
            assert!(!marked(&format!("{t:?}")), "{t:?}");
            assert!(u.changed_fields.contains(&"description".to_owned()));
        }
        other => panic!("expected ticket.updated, got {other:?}"),
    }
    let (subject, _, gone) = &events[5];
    assert!(subject.ends_with("acme.customer.erased"), "{subject}");
    assert!(!marked(&format!("{gone:?}")), "{gone:?}");
    match &gone.payload {
        Some(Payload::CustomerErased(e)) => {
            assert_eq!(
                (e.customer.as_str(), e.tickets.as_slice()),
                (customer.as_str(), &[ticket.clone()][..])
            );
            let sha = hex::encode(Sha256::digest(EMAIL.as_bytes()));
            assert!(e.identity_sha256.contains(&sha), "{e:?}");
        }
        other => panic!("expected customer.erased, got {other:?}"),
    }

    // What staff read now names nobody.
    let agent = app.token("acme", "agent-7", Role::Agent);
    let mut customers = CustomerServiceClient::connect(format!("http://{}", app.addr)).await?;
    let got = customers
        .get_customer(authed(
            GetCustomerRequest {
                name: customer.clone(),
            },
            &agent,
        ))
        .await?
        .into_inner();
    assert!(!marked(&format!("{got:?}")));
    let messages = app
        .client()
        .await
        .list_messages(authed(
            ListMessagesRequest {
                parent: ticket.clone(),
                ..Default::default()
            },
            &agent,
        ))
        .await?
        .into_inner();
    assert_eq!(messages.messages.len(), 3);
    assert!(!marked(&format!("{messages:?}")), "{messages:?}");
    // The erased profile takes no identity back.
    let readd = customers
        .add_identity(authed(
            AddIdentityRequest {
                name: customer.clone(),
                identity: Some(Identity {
                    kind: IdentityKind::Email as i32,
                    value: EMAIL.into(),
                }),
            },
            &agent,
        ))
        .await;
    assert_eq!(readd.unwrap_err().code(), Code::FailedPrecondition);
    // A repeat changes nothing.
    let again = client
        .erase_customer(authed(erase(&customer), &admin))
        .await?
        .into_inner();
    assert_eq!((again.tickets, again.messages), (0, 0));
    app.stop().await
}

#[tokio::test]
async fn an_export_holds_the_profile_tickets_messages_and_changes() -> anyhow::Result<()> {
    let app = Running::start(&nats_url()).await?;
    let (ticket, customer) = marked_ticket(&app).await?;
    let mut client = privacy(&app).await;
    let agent = app.token("acme", "agent-7", Role::Agent);
    let refused = client
        .export_customer(authed(
            ExportCustomerRequest {
                name: customer.clone(),
            },
            &agent,
        ))
        .await;
    assert_eq!(refused.unwrap_err().code(), Code::PermissionDenied);
    let admin = app.token("acme", "admin-1", Role::Admin);
    let mut stream = client
        .export_customer(authed(
            ExportCustomerRequest {
                name: customer.clone(),
            },
            &admin,
        ))
        .await?
        .into_inner();
    let mut parts = Vec::new();
    while let Some(part) = stream.next().await {
        parts.push(part?.part.expect("a part"));
    }
    assert!(matches!(&parts[0], Part::Customer(c) if c.name == customer && c.display_name == NAME));
    assert!(matches!(&parts[1], Part::Ticket(t) if t.name == ticket));
    let messages: Vec<_> = parts
        .iter()
        .filter_map(|p| match p {
            Part::Message(m) => Some(m.body.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        messages,
        [
            format!("Please call {PHONE}").as_str(),
            "It is Quentin Marlowe again",
            "Hi Quentin, on it"
        ]
    );
    assert!(parts.iter().any(|p| matches!(p, Part::Change(_))));
    // Nothing of it is left open on the server.
    assert_eq!(app.streams.open_count(), 0);
    let unknown = format!("customers/{}", uuid::Uuid::now_v7());
    let missing = client
        .export_customer(authed(ExportCustomerRequest { name: unknown }, &admin))
        .await;
    assert_eq!(missing.unwrap_err().code(), Code::NotFound);
    app.stop().await
}

#[tokio::test]
async fn the_retention_policy_is_validated_and_versioned() -> anyhow::Result<()> {
    let app = Running::start(&nats_url()).await?;
    let mut client = privacy(&app).await;
    let admin = app.token("acme", "admin-1", Role::Admin);
    let initial = client
        .get_retention_policy(authed(GetRetentionPolicyRequest {}, &admin))
        .await?
        .into_inner();
    assert_eq!((initial.closed_ticket_days, initial.version), (0, 0));
    let set = |days| UpdateRetentionPolicyRequest {
        policy: Some(RetentionPolicy {
            closed_ticket_days: days,
            version: 0,
        }),
    };
    let bad = client
        .update_retention_policy(authed(set(-5), &admin))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert!(
        bad.message().contains("closed_ticket_days"),
        "{}",
        bad.message()
    );
    let supervisor = app.token("acme", "sup-1", Role::Supervisor);
    let refused = client
        .update_retention_policy(authed(set(90), &supervisor))
        .await;
    assert_eq!(refused.unwrap_err().code(), Code::PermissionDenied);
    let updated = client
        .update_retention_policy(authed(set(90), &admin))
        .await?
        .into_inner();
    assert_eq!((updated.closed_ticket_days, updated.version), (90, 1));
    let other = app.token("globex", "admin-1", Role::Admin);
    let theirs = client
        .get_retention_policy(authed(GetRetentionPolicyRequest {}, &other))
        .await?
        .into_inner();
    assert_eq!(theirs.version, 0, "one tenant's policy is its own");
    app.stop().await
}

#[tokio::test]
async fn retention_deletes_old_closed_tickets_and_announces_each() -> anyhow::Result<()> {
    use switchboard_proto::ticket::v1::{
        GetTicketRequest, Ticket, TicketStatus, UpdateTicketRequest,
    };
    use switchboard_ticket::{PgTicketStore, store::privacy::PrivacyStore};

    let app = Running::start(&nats_url()).await?;
    let (ticket, customer) = marked_ticket(&app).await?;
    let mut tickets = app.client().await;
    let agent = app.token("acme", "agent-7", Role::Agent);
    for status in [TicketStatus::Solved, TicketStatus::Closed] {
        let current = tickets
            .get_ticket(authed(
                GetTicketRequest {
                    name: ticket.clone(),
                },
                &agent,
            ))
            .await?
            .into_inner();
        tickets
            .update_ticket(authed(
                UpdateTicketRequest {
                    ticket: Some(Ticket {
                        name: ticket.clone(),
                        status: status as i32,
                        ..Default::default()
                    }),
                    update_mask: Some(prost_types::FieldMask {
                        paths: vec!["status".into()],
                    }),
                    expected_version: current.version,
                },
                &agent,
            ))
            .await?;
    }
    let admin = app.token("acme", "admin-1", Role::Admin);
    privacy(&app)
        .await
        .update_retention_policy(authed(
            UpdateRetentionPolicyRequest {
                policy: Some(RetentionPolicy {
                    closed_ticket_days: 1,
                    version: 0,
                }),
            },
            &admin,
        ))
        .await?;
    // The background round, run now with a clock two days ahead.
    let store = PgTicketStore::new(app.pool().await);
    let later = chrono::Utc::now() + chrono::Duration::days(2);
    let purged = store.purge_closed(later, 100).await?;
    assert_eq!(purged.tickets.len(), 1);
    let gone = tickets
        .get_ticket(authed(
            GetTicketRequest {
                name: ticket.clone(),
            },
            &agent,
        ))
        .await;
    assert_eq!(gone.unwrap_err().code(), Code::NotFound);

    let js = async_nats::jetstream::new(switchboard_testkit::connect_nats(&app.nats_url).await?);
    let stream = js.get_stream(&app.stream.stream).await?;
    let subject = format!("{}.acme.ticket.deleted", app.stream.prefix);
    let found = std::sync::Mutex::new(None);
    switchboard_testkit::wait_for(
        std::time::Duration::from_secs(30),
        "ticket.deleted on the stream",
        || {
            let (stream, subject, found) = (&stream, &subject, &found);
            async move {
                match stream.get_last_raw_message_by_subject(subject).await {
                    Ok(m) => {
                        *found.lock().expect("not poisoned") = Some(m);
                        true
                    }
                    Err(_) => false,
                }
            }
        },
    )
    .await?;
    let message = found
        .into_inner()
        .expect("not poisoned")
        .expect("wait_for saw it");
    let event =
        <switchboard_proto::events::v1::Envelope as prost::Message>::decode(message.payload)?;
    match event.payload {
        Some(Payload::TicketDeleted(d)) => {
            assert_eq!(
                (d.ticket, d.reason, d.requester),
                (ticket, "retention".into(), customer)
            );
        }
        other => panic!("expected ticket.deleted, got {other:?}"),
    }
    app.stop().await
}
