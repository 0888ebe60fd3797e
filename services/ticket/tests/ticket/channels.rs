//! Every channel into one queue, against real PostgreSQL and NATS: phone,
//! social, SMS, web forms, chat over a real gRPC stream, and one customer
//! across channels.

use std::time::Duration;

use futures::StreamExt;
use switchboard_proto::{
    common::v1::Channel as Ch,
    ticket::v1::{
        AddMessageRequest, AssignTicketRequest, CallDirection, CallOutcome, ChatEvent, Contact,
        EndChatRequest, IngestEmailRequest, IngestOutcome, IngestSmsRequest, IngestSocialRequest,
        IntakeResponse, ListCustomerHistoryRequest, ListMessagesRequest, ListTicketsRequest,
        LogCallRequest, SelfServiceContext, SendChatMessageRequest, StartChatRequest,
        SubmitWebFormRequest, TicketStatus, Visibility, WatchChatRequest, chat_event::Kind,
        customer_service_client::CustomerServiceClient, intake_service_client::IntakeServiceClient,
    },
};
use switchboard_runtime::Role;
use tonic::{Code, transport::Channel};

use crate::helpers::{Running, authed};

async fn intake(running: &Running) -> IntakeServiceClient<Channel> {
    IntakeServiceClient::connect(format!("http://{}", running.addr))
        .await
        .expect("connect")
}

async fn messages(running: &Running, ticket: &str, role: Role) -> Vec<(String, i32, i32)> {
    let mut tickets = running.client().await;
    let user = if role == Role::Customer {
        "ada@example.com"
    } else {
        "agent-1"
    };
    tickets
        .list_messages(authed(
            ListMessagesRequest {
                parent: ticket.to_owned(),
                ..Default::default()
            },
            &running.token("acme", user, role),
        ))
        .await
        .expect("list messages")
        .into_inner()
        .messages
        .into_iter()
        .map(|m| (m.body, m.visibility, m.channel))
        .collect()
}

fn ticket_of(r: &IntakeResponse) -> String {
    r.ticket.as_ref().expect("a ticket").name.clone()
}

#[tokio::test]
async fn one_person_by_email_chat_and_sms_is_one_customer_with_one_history() -> anyhow::Result<()> {
    let running = Running::start(&switchboard_testkit::nats_url()).await?;
    let hook = running.token("acme", "channels", Role::Admin);
    let mut intake = intake(&running).await;

    let by_email = intake
        .ingest_email(authed(
            IngestEmailRequest {
                raw: b"From: Ada <ada@example.com>\r\nTo: help@acme.test\r\nSubject: Invoice wrong\r\nMessage-ID: <inv-1@example.com>\r\n\r\nMy invoice is wrong.\r\n".to_vec(),
            },
            &hook,
        ))
        .await?
        .into_inner();
    assert_eq!(by_email.outcome, IngestOutcome::Created as i32);
    let ada = by_email.customer.clone();
    assert!(ada.starts_with("customers/"), "{ada}");

    // The chat widget knows the visitor by id, and Ada typed her email and
    // phone into its pre-chat form.
    let chat = intake
        .start_chat(authed(
            StartChatRequest {
                visitor: Some(Contact {
                    chat_visitor: "v-42".into(),
                    email: "ada@example.com".into(),
                    phone: "+15551230000".into(),
                    ..Default::default()
                }),
                text: "Hi, about my invoice again".into(),
                ..Default::default()
            },
            &hook,
        ))
        .await?
        .into_inner();
    assert_eq!(chat.outcome, IngestOutcome::Created as i32);
    assert_eq!(chat.customer, ada, "the chat lands on Ada's profile");
    let chat_ticket = chat.ticket.clone().unwrap();
    assert_eq!(chat_ticket.channel, Ch::Chat as i32);
    assert_eq!(chat_ticket.subject, "Hi, about my invoice again");

    // A text from the phone number she gave in the chat.
    let sms = intake
        .ingest_sms(authed(
            IngestSmsRequest {
                from: "+15551230000".into(),
                text: "Sent the invoice photo by mail".into(),
                provider_id: "SM1".into(),
                ..Default::default()
            },
            &hook,
        ))
        .await?
        .into_inner();
    assert_eq!(sms.customer, ada, "the text lands on Ada's profile");

    // The chat continues by email, by the chat ticket's token.
    let follow = intake
        .ingest_email(authed(
            IngestEmailRequest {
                raw: format!(
                    "From: ada@example.com\r\nSubject: Re: [#T-{}] invoice\r\nMessage-ID: <inv-2@example.com>\r\n\r\nHere is the photo.\r\n",
                    chat_ticket.number
                )
                .into_bytes(),
            },
            &hook,
        ))
        .await?
        .into_inner();
    assert_eq!(follow.outcome, IngestOutcome::Appended as i32, "{follow:?}");
    assert_eq!(ticket_of(&follow), chat_ticket.name);

    let mut customers = CustomerServiceClient::connect(format!("http://{}", running.addr)).await?;
    let agent = running.token("acme", "agent-1", Role::Agent);
    let history = customers
        .list_customer_history(authed(
            ListCustomerHistoryRequest {
                name: ada.clone(),
                page_size: 50,
                ..Default::default()
            },
            &agent,
        ))
        .await?
        .into_inner()
        .entries;
    let mut channels: Vec<i32> = history
        .iter()
        .map(|e| e.message.as_ref().unwrap().channel)
        .collect();
    channels.sort();
    channels.dedup();
    assert_eq!(
        channels,
        [Ch::Email as i32, Ch::Chat as i32, Ch::Sms as i32],
        "one history across channels"
    );
    let profile = customers
        .get_customer(authed(
            switchboard_proto::ticket::v1::GetCustomerRequest { name: ada.clone() },
            &agent,
        ))
        .await?
        .into_inner();
    let mut identities: Vec<String> = profile.identities.iter().map(|i| i.value.clone()).collect();
    identities.sort();
    assert_eq!(identities, ["+15551230000", "ada@example.com", "v-42"]);
    running.stop().await
}

async fn next(stream: &mut tonic::Streaming<ChatEvent>) -> anyhow::Result<Option<Kind>> {
    Ok(tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await?
        .transpose()?
        .map(|e| e.kind.expect("an event kind")))
}

#[tokio::test]
async fn a_chat_session_flows_both_ways_over_a_real_stream() -> anyhow::Result<()> {
    let running = Running::start(&switchboard_testkit::nats_url()).await?;
    let widget = running.token("acme", "chat-widget", Role::Admin);
    let agent = running.token("acme", "agent-7", Role::Agent);
    let mut intake = intake(&running).await;
    let mut tickets = running.client().await;

    let started = intake
        .start_chat(authed(
            StartChatRequest {
                visitor: Some(Contact {
                    chat_visitor: "visitor-1".into(),
                    display_name: "Grace".into(),
                    ..Default::default()
                }),
                text: "My order has not arrived".into(),
                self_service: Some(SelfServiceContext {
                    searches: vec!["order late".into()],
                    articles: vec!["Shipping times".into()],
                }),
                ..Default::default()
            },
            &widget,
        ))
        .await?
        .into_inner();
    let name = ticket_of(&started);

    let mut stream = intake
        .watch_chat(authed(
            WatchChatRequest {
                ticket: name.clone(),
                chat_visitor: "visitor-1".into(),
            },
            &widget,
        ))
        .await?
        .into_inner();
    // The transcript so far: the first line, not the self-service note.
    match next(&mut stream).await? {
        Some(Kind::Message(m)) => assert_eq!(m.body, "My order has not arrived"),
        other => panic!("expected the first line, got {other:?}"),
    }

    let ticket = tickets
        .get_ticket(authed(
            switchboard_proto::ticket::v1::GetTicketRequest { name: name.clone() },
            &agent,
        ))
        .await?
        .into_inner();
    tickets
        .assign_ticket(authed(
            AssignTicketRequest {
                name: name.clone(),
                assignee: "me".into(),
                expected_version: ticket.version,
                ..Default::default()
            },
            &agent,
        ))
        .await?;
    assert_eq!(
        next(&mut stream).await?,
        Some(Kind::AgentJoined("agents/agent-7".into()))
    );
    for (body, visibility) in [
        ("Only for colleagues", Visibility::Internal),
        ("Let me check that for you", Visibility::Public),
    ] {
        tickets
            .add_message(authed(
                AddMessageRequest {
                    parent: name.clone(),
                    body: body.into(),
                    visibility: visibility as i32,
                    channel: Ch::Chat as i32,
                    ..Default::default()
                },
                &agent,
            ))
            .await?;
    }
    match next(&mut stream).await? {
        Some(Kind::Message(m)) => assert_eq!(m.body, "Let me check that for you"),
        other => panic!("expected the agent's public reply, got {other:?}"),
    }

    intake
        .send_chat_message(authed(
            SendChatMessageRequest {
                ticket: name.clone(),
                chat_visitor: "visitor-1".into(),
                text: "Thanks!".into(),
                ..Default::default()
            },
            &widget,
        ))
        .await?;
    match next(&mut stream).await? {
        Some(Kind::Message(m)) => assert_eq!(m.body, "Thanks!"),
        other => panic!("expected the visitor's line, got {other:?}"),
    }

    // Another visitor cannot write into, watch or end this chat.
    let err = intake
        .send_chat_message(authed(
            SendChatMessageRequest {
                ticket: name.clone(),
                chat_visitor: "visitor-2".into(),
                text: "hijack".into(),
                ..Default::default()
            },
            &widget,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = intake
        .end_chat(authed(
            EndChatRequest {
                ticket: name.clone(),
                chat_visitor: "visitor-2".into(),
            },
            &widget,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);

    intake
        .end_chat(authed(
            EndChatRequest {
                ticket: name.clone(),
                chat_visitor: "visitor-1".into(),
            },
            &widget,
        ))
        .await?;
    match next(&mut stream).await? {
        Some(Kind::Ended(t)) => assert_eq!(t.status, TicketStatus::Solved as i32),
        other => panic!("expected the end, got {other:?}"),
    }
    assert_eq!(
        next(&mut stream).await?,
        None,
        "the stream ends with the chat"
    );

    // The transcript is the ticket's messages; the agent also sees the
    // self-service note and the internal ones.
    let staff_view = messages(&running, &name, Role::Agent).await;
    let bodies: Vec<&str> = staff_view.iter().map(|(b, _, _)| b.as_str()).collect();
    assert_eq!(
        bodies,
        [
            "My order has not arrived",
            "Before contacting us the customer tried self-service.\nSearched for: “order late”\nRead: “Shipping times”",
            "Only for colleagues",
            "Let me check that for you",
            "Thanks!",
            "The visitor ended the chat.",
        ]
    );
    running.stop().await
}

#[tokio::test]
async fn calls_social_posts_texts_and_web_forms_become_tickets() -> anyhow::Result<()> {
    let running = Running::start(&switchboard_testkit::nats_url()).await?;
    let hook = running.token("acme", "channels", Role::Admin);
    let agent = running.token("acme", "agent-1", Role::Agent);
    let mut intake = intake(&running).await;

    // A call an agent logs opens a phone ticket; a second call on it is an
    // internal log line.
    let call = intake
        .log_call(authed(
            LogCallRequest {
                contact: Some(Contact {
                    phone: "+4930123456".into(),
                    display_name: "Max".into(),
                    ..Default::default()
                }),
                direction: CallDirection::Inbound as i32,
                duration_seconds: 125,
                outcome: CallOutcome::FollowUp as i32,
                subject: "Router keeps rebooting".into(),
                notes: "Asked him to send the model number.".into(),
                ..Default::default()
            },
            &agent,
        ))
        .await?
        .into_inner();
    let call_ticket = ticket_of(&call);
    assert_eq!(call.ticket.as_ref().unwrap().channel, Ch::Phone as i32);
    intake
        .log_call(authed(
            LogCallRequest {
                contact: Some(Contact {
                    phone: "+4930123456".into(),
                    ..Default::default()
                }),
                ticket: call_ticket.clone(),
                direction: CallDirection::Outbound as i32,
                duration_seconds: 60,
                outcome: CallOutcome::Resolved as i32,
                ..Default::default()
            },
            &agent,
        ))
        .await?;
    assert_eq!(
        messages(&running, &call_ticket, Role::Agent).await,
        [
            (
                "Inbound call, 2m 05s, outcome: follow-up needed.\n\nAsked him to send the model number.".to_owned(),
                Visibility::Public as i32,
                Ch::Phone as i32
            ),
            (
                "Outbound call, 1m 00s, outcome: resolved on the call.".to_owned(),
                Visibility::Internal as i32,
                Ch::Phone as i32
            ),
        ]
    );

    // Social: one conversation, one ticket; a re-delivered post adds nothing.
    let dm = |post: &str, thread: &str, text: &str| IngestSocialRequest {
        author: Some(Contact {
            social: "x:@ada".into(),
            ..Default::default()
        }),
        network: "x".into(),
        thread_id: thread.into(),
        post_id: post.into(),
        direct: true,
        text: text.into(),
        ..Default::default()
    };
    let first = intake
        .ingest_social(authed(dm("p1", "t1", "Hello?"), &hook))
        .await?
        .into_inner();
    let second = intake
        .ingest_social(authed(dm("p2", "t1", "Anyone?"), &hook))
        .await?
        .into_inner();
    let again = intake
        .ingest_social(authed(dm("p2", "t1", "Anyone?"), &hook))
        .await?
        .into_inner();
    let other = intake
        .ingest_social(authed(dm("p3", "t2", "New topic"), &hook))
        .await?
        .into_inner();
    assert_eq!(first.outcome, IngestOutcome::Created as i32);
    assert_eq!(
        first.ticket.as_ref().unwrap().subject,
        "Message from x:@ada on x"
    );
    assert_eq!(second.outcome, IngestOutcome::Appended as i32);
    assert_eq!(ticket_of(&second), ticket_of(&first));
    assert_eq!(ticket_of(&again), ticket_of(&first));
    assert_eq!(
        again.message.as_ref().unwrap().name,
        second.message.as_ref().unwrap().name,
        "the redelivered post is the message already written"
    );
    assert_ne!(ticket_of(&other), ticket_of(&first));
    assert_eq!(
        messages(&running, &ticket_of(&first), Role::Agent)
            .await
            .len(),
        2
    );

    // SMS: texts from one number thread onto its ticket.
    let sms = |id: &str, text: &str| IngestSmsRequest {
        from: "+15550001111".into(),
        text: text.into(),
        provider_id: id.into(),
        ..Default::default()
    };
    let a = intake
        .ingest_sms(authed(sms("SMa", "Is the shop open?"), &hook))
        .await?
        .into_inner();
    let b = intake
        .ingest_sms(authed(sms("SMb", "On Sunday I mean"), &hook))
        .await?
        .into_inner();
    assert_eq!(a.ticket.as_ref().unwrap().channel, Ch::Sms as i32);
    assert_eq!(ticket_of(&a), ticket_of(&b));

    // A web form: its fields become custom fields.
    let form = intake
        .submit_web_form(authed(
            SubmitWebFormRequest {
                contact: Some(Contact {
                    email: "lin@example.org".into(),
                    ..Default::default()
                }),
                subject: "Refund".into(),
                description: "Please refund order 77".into(),
                fields: [("order_id".to_owned(), "77".to_owned())].into(),
                ..Default::default()
            },
            &hook,
        ))
        .await?
        .into_inner();
    let form_ticket = form.ticket.unwrap();
    assert_eq!(form_ticket.channel, Ch::WebForm as i32);
    let order = form_ticket
        .custom_fields
        .get("order_id")
        .and_then(|v| v.kind.clone());
    assert_eq!(
        order,
        Some(switchboard_proto::ticket::v1::field_value::Kind::Text(
            "77".into()
        ))
    );
    running.stop().await
}

#[tokio::test]
async fn bad_channel_input_is_refused_and_changes_nothing() -> anyhow::Result<()> {
    let running = Running::start(&switchboard_testkit::nats_url()).await?;
    let hook = running.token("acme", "channels", Role::Admin);
    let mut intake = intake(&running).await;

    let bad_form = intake
        .submit_web_form(authed(
            SubmitWebFormRequest {
                contact: Some(Contact {
                    email: "not an email".into(),
                    ..Default::default()
                }),
                subject: "x".into(),
                fields: [("x".to_owned(), "y".repeat(2_000))].into(),
                self_service: Some(SelfServiceContext {
                    searches: vec!["".into()],
                    ..Default::default()
                }),
                ..Default::default()
            },
            &hook,
        ))
        .await
        .unwrap_err();
    assert_eq!(bad_form.code(), Code::InvalidArgument);
    for field in ["contact.email", "fields[x]", "self_service.searches[0]"] {
        assert!(
            bad_form.message().contains(field),
            "{field}: {}",
            bad_form.message()
        );
    }

    let bad_call = intake
        .log_call(authed(
            LogCallRequest {
                contact: Some(Contact::default()),
                duration_seconds: -5,
                ..Default::default()
            },
            &running.token("acme", "agent-1", Role::Agent),
        ))
        .await
        .unwrap_err();
    assert_eq!(bad_call.code(), Code::InvalidArgument);
    for field in ["contact", "duration_seconds", "subject"] {
        assert!(
            bad_call.message().contains(field),
            "{field}: {}",
            bad_call.message()
        );
    }

    let no_visitor = intake
        .start_chat(authed(
            StartChatRequest {
                visitor: Some(Contact {
                    email: "ada@example.com".into(),
                    ..Default::default()
                }),
                text: "hi".into(),
                ..Default::default()
            },
            &hook,
        ))
        .await
        .unwrap_err();
    assert_eq!(no_visitor.code(), Code::InvalidArgument);
    assert!(no_visitor.message().contains("visitor.chat_visitor"));

    let customer = intake
        .ingest_sms(authed(
            IngestSmsRequest {
                from: "+15550001111".into(),
                text: "hi".into(),
                provider_id: "SM1".into(),
                ..Default::default()
            },
            &running.token("acme", "ada@example.com", Role::Customer),
        ))
        .await
        .unwrap_err();
    assert_eq!(customer.code(), Code::PermissionDenied);

    let mut tickets = running.client().await;
    let listed = tickets
        .list_tickets(authed(
            ListTicketsRequest::default(),
            &running.token("acme", "agent-1", Role::Agent),
        ))
        .await?
        .into_inner();
    assert!(listed.tickets.is_empty(), "nothing was created: {listed:?}");
    running.stop().await
}

/// One widget serves many visitors: the cap is each visitor's, so one
/// visitor's tabs cannot use up the widget's streams.
#[tokio::test]
async fn a_chat_visitors_streams_past_the_cap_are_refused_other_visitors_are_not()
-> anyhow::Result<()> {
    let running = Running::start_with(&switchboard_testkit::nats_url(), |s| {
        s.streams.max_per_caller = 2
    })
    .await?;
    let widget = running.token("acme", "chat-widget", Role::Admin);
    let mut intake = intake(&running).await;
    let mut chats = Vec::new();
    for visitor in ["visitor-1", "visitor-2"] {
        let started = intake
            .start_chat(authed(
                StartChatRequest {
                    visitor: Some(Contact {
                        chat_visitor: visitor.into(),
                        ..Default::default()
                    }),
                    text: "hello".into(),
                    ..Default::default()
                },
                &widget,
            ))
            .await?
            .into_inner();
        chats.push((visitor, ticket_of(&started)));
    }
    let watch = |(visitor, ticket): &(&str, String)| {
        authed(
            WatchChatRequest {
                ticket: ticket.clone(),
                chat_visitor: (*visitor).into(),
            },
            &widget,
        )
    };
    let first = intake.watch_chat(watch(&chats[0])).await?.into_inner();
    let _second = intake.watch_chat(watch(&chats[0])).await?.into_inner();
    let refused = intake.watch_chat(watch(&chats[0])).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(refused.message().contains("max_per_caller"), "{refused:?}");
    let _other_visitor = intake.watch_chat(watch(&chats[1])).await?.into_inner();

    drop(first);
    switchboard_testkit::wait_for(
        Duration::from_secs(10),
        "the dropped stream's slot",
        || async { running.streams.open_count() == 2 },
    )
    .await?;
    let _again = intake.watch_chat(watch(&chats[0])).await?.into_inner();
    running.stop().await
}
