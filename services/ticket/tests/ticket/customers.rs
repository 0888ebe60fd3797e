//! Customer profiles over gRPC: identities, merges and history.

use switchboard_events::Payload;
use switchboard_proto::ticket::v1::{
    AddIdentityRequest, AddMessageRequest, CreateTicketRequest, FindCustomerRequest,
    GetCustomerRequest, GetTicketRequest, Identity, IdentityKind, ListCustomerHistoryRequest,
    ListTicketsRequest, MergeCustomersRequest, Requester,
    customer_service_client::CustomerServiceClient,
};
use switchboard_runtime::Role;
use switchboard_testkit::nats_url;
use tonic::Code;

use crate::helpers::{Running, authed};

fn email(value: &str) -> Identity {
    Identity {
        kind: IdentityKind::Email as i32,
        value: value.into(),
    }
}

#[tokio::test]
async fn one_person_on_two_profiles_is_merged_into_one_history() -> anyhow::Result<()> {
    let app = Running::start(&nats_url()).await?;
    let mut tickets = app.client().await;
    let mut customers = CustomerServiceClient::connect(format!("http://{}", app.addr)).await?;
    let agent = app.token("acme", "agent-7", Role::Agent);

    let by_mail = CreateTicketRequest {
        subject: "Invoice wrong".into(),
        description: "By email".into(),
        requester: Some(Requester {
            email: "ada@example.com".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let by_phone = CreateTicketRequest {
        subject: "Call back please".into(),
        description: "By phone".into(),
        requester: Some(Requester {
            phone: "+15551234567".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let first = tickets
        .create_ticket(authed(by_mail, &agent))
        .await?
        .into_inner();
    let second = tickets
        .create_ticket(authed(by_phone, &agent))
        .await?
        .into_inner();
    assert_ne!(
        first.requester, second.requester,
        "two identities, two profiles so far"
    );

    let ada = customers
        .find_customer(authed(
            FindCustomerRequest {
                identity: Some(email("ADA@example.com")),
            },
            &agent,
        ))
        .await?
        .into_inner();
    assert_eq!(ada.name, first.requester);

    // The phone number cannot simply be added: it belongs to the other profile.
    let phone = Identity {
        kind: IdentityKind::Phone as i32,
        value: "+15551234567".into(),
    };
    let taken = customers
        .add_identity(authed(
            AddIdentityRequest {
                name: ada.name.clone(),
                identity: Some(phone),
            },
            &agent,
        ))
        .await
        .unwrap_err();
    assert_eq!(taken.code(), Code::AlreadyExists);
    assert!(
        taken.message().contains(&second.requester),
        "{}",
        taken.message()
    );

    let merged = customers
        .merge_customers(authed(
            MergeCustomersRequest {
                source: second.requester.clone(),
                target: ada.name.clone(),
            },
            &agent,
        ))
        .await?
        .into_inner();
    let kinds: Vec<i32> = merged.identities.iter().map(|i| i.kind).collect();
    assert_eq!(
        kinds,
        [IdentityKind::Email as i32, IdentityKind::Phone as i32]
    );
    let moved = tickets
        .get_ticket(authed(
            GetTicketRequest {
                name: second.name.clone(),
            },
            &agent,
        ))
        .await?
        .into_inner();
    assert_eq!(moved.requester, ada.name);
    let old = customers
        .get_customer(authed(
            GetCustomerRequest {
                name: second.requester.clone(),
            },
            &agent,
        ))
        .await?
        .into_inner();
    assert_eq!(old.merged_into, ada.name);
    let again = customers
        .merge_customers(authed(
            MergeCustomersRequest {
                source: second.requester.clone(),
                target: ada.name.clone(),
            },
            &agent,
        ))
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition);

    // The customer, by email, now sees both tickets; staff see one history.
    let ada_token = app.token("acme", "ada@example.com", Role::Customer);
    let mine = tickets
        .list_tickets(authed(ListTicketsRequest::default(), &ada_token))
        .await?
        .into_inner()
        .tickets;
    assert_eq!(mine.len(), 2);
    tickets
        .add_message(authed(
            AddMessageRequest {
                parent: first.name.clone(),
                body: "Any news?".into(),
                ..Default::default()
            },
            &ada_token,
        ))
        .await?;
    let history = customers
        .list_customer_history(authed(
            ListCustomerHistoryRequest {
                name: old.name.clone(),
                page_size: 2,
                ..Default::default()
            },
            &agent,
        ))
        .await?
        .into_inner();
    let bodies: Vec<&str> = history
        .entries
        .iter()
        .map(|e| e.message.as_ref().unwrap().body.as_str())
        .collect();
    assert_eq!(
        bodies,
        ["Any news?", "By phone"],
        "newest first, across tickets, via the merged-away name"
    );
    let rest = customers
        .list_customer_history(authed(
            ListCustomerHistoryRequest {
                name: ada.name.clone(),
                page_size: 2,
                page_token: history.next_page_token.clone(),
            },
            &agent,
        ))
        .await;
    assert_eq!(
        rest.unwrap_err().code(),
        Code::InvalidArgument,
        "a token belongs to its listing"
    );
    let rest = customers
        .list_customer_history(authed(
            ListCustomerHistoryRequest {
                name: old.name.clone(),
                page_size: 2,
                page_token: history.next_page_token,
            },
            &agent,
        ))
        .await?
        .into_inner();
    assert_eq!(
        rest.entries
            .iter()
            .map(|e| e.message.as_ref().unwrap().body.as_str())
            .collect::<Vec<_>>(),
        ["By email"]
    );

    // created, created, the moved ticket's update, customer.merged, message.added
    let events = app.events(5).await?;
    let moved_event = &events[2].2;
    assert_eq!(moved_event.r#type, "ticket.updated");
    assert_eq!(format!("tickets/{}", moved_event.aggregate_id), second.name);
    assert_eq!(moved_event.aggregate_version, 2);
    match &events[3].2.payload {
        Some(Payload::CustomerMerged(m)) => {
            assert_eq!(m.source, second.requester);
            assert_eq!(m.moved_tickets, std::slice::from_ref(&second.name));
            assert_eq!(
                events[3].0,
                format!("{}.acme.customer.merged", app.stream.prefix)
            );
        }
        other => panic!("expected customer.merged, got {other:?}"),
    }
    assert_eq!(
        customers
            .get_customer(authed(GetCustomerRequest { name: ada.name }, &ada_token))
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    app.stop().await
}
