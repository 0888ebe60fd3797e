//! Suggestions: for a draft question over the API, and for every new ticket
//! through the shared durable consumer, once per ticket whatever NATS redelivers.

use std::time::Duration;

use async_nats::{HeaderMap, jetstream};
use prost::Message;
use switchboard_events::{EventBuilder, Payload, subject_of};
use switchboard_proto::{
    events::v1::TicketCreated,
    knowledge::v1::{self as pb},
    ticket::v1::Ticket,
};
use switchboard_runtime::TenantId;

use crate::helpers::{Desk, Tokens, authed, draft, publish};

#[tokio::test]
async fn a_new_ticket_gets_one_suggestion_event_however_often_it_arrives() -> anyhow::Result<()> {
    let desk = Desk::new().await?;
    let replica = desk.replica().await?;
    let t = Tokens::new(&desk);
    let mut c = replica.client().await;
    let refund = publish(
        &mut c,
        &t.agent,
        draft(
            "Get a refund",
            "Ask for your money back within thirty days.",
            "en",
        ),
    )
    .await?;
    publish(
        &mut c,
        &t.agent,
        draft("Track your package", "Use the tracking number.", "en"),
    )
    .await?;

    let ticket = Ticket {
        name: "tickets/0199d0a0-0000-7000-8000-000000000001".into(),
        subject: "I want my money back".into(),
        description: "The blender broke after a week, can I get a refund?".into(),
        ..Default::default()
    };
    let tenant = TenantId::parse("acme").unwrap();
    let envelope = EventBuilder::new(&tenant, "ticket", "0199d0a0-0000-7000-8000-000000000001", 1)
        .build(
            "created",
            Payload::TicketCreated(TicketCreated {
                ticket: Some(ticket),
                ..Default::default()
            }),
        );
    let js = jetstream::new(switchboard_testkit::connect_nats(&desk.nats_url).await?);
    let subject = format!("{}.{}", desk.stream.prefix, subject_of(&envelope));
    // The same event twice, under two message ids so JetStream keeps both,
    // as a redelivery after a lost ack would look to the consumer.
    for copy in ["a", "b"] {
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Msg-Id", format!("{}-{copy}", envelope.id).as_str());
        js.publish_with_headers(subject.clone(), headers, envelope.encode_to_vec().into())
            .await?
            .await?;
    }

    // 2 × (created, published), 2 × ticket.created, 1 × knowledge.suggested.
    let events = tokio::time::timeout(Duration::from_secs(30), desk.events(7)).await??;
    let suggested: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.payload {
            Some(Payload::KnowledgeSuggested(s)) => Some((e, s)),
            _ => None,
        })
        .collect();
    assert_eq!(suggested.len(), 1, "exactly one suggestion event");
    let (envelope, s) = suggested[0];
    assert_eq!(envelope.r#type, "knowledge.suggested");
    assert_eq!(envelope.aggregate_type, "ticket");
    assert_eq!(s.ticket, "tickets/0199d0a0-0000-7000-8000-000000000001");
    assert_eq!(s.articles[0].article, refund.name, "{s:?}");
    assert_eq!(s.articles[0].title, "Get a refund");

    desk.stop(vec![replica]).await
}

#[tokio::test]
async fn a_draft_question_gets_published_public_articles_only() -> anyhow::Result<()> {
    let desk = Desk::new().await?;
    let replica = desk.replica().await?;
    let t = Tokens::new(&desk);
    let mut c = replica.client().await;
    let public = publish(
        &mut c,
        &t.agent,
        draft(
            "Cancel your subscription",
            "Cancel any time from Billing.",
            "en",
        ),
    )
    .await?;
    c.create_article(authed(
        draft(
            "Cancel subscription (draft)",
            "Cancel subscription steps.",
            "en",
        ),
        &t.agent,
    ))
    .await?;
    let suggest = |subject: &str, description: &str, limit: i32| {
        authed(
            pb::SuggestArticlesRequest {
                subject: subject.into(),
                description: description.into(),
                locale: String::new(),
                limit,
            },
            &t.customer,
        )
    };
    let hits = c
        .suggest_articles(suggest(
            "How do I cancel?",
            "I no longer want my subscription",
            0,
        ))
        .await?
        .into_inner()
        .hits;
    let names: Vec<_> = hits
        .iter()
        .map(|h| h.article.as_ref().unwrap().name.clone())
        .collect();
    assert_eq!(names, [public.name]);
    assert!(hits[0].score > 0.0);

    let bad = c.suggest_articles(suggest("", " ", 11)).await.unwrap_err();
    let mut fields = crate::helpers::violated_fields(&bad);
    fields.sort();
    assert_eq!(fields, ["limit", "subject"]);

    desk.stop(vec![replica]).await
}
