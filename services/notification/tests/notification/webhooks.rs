//! Webhooks against real HTTP receivers: signatures verify, retries deliver
//! exactly once, a receiver down past the last retry leaves the delivery
//! dead-lettered, and redelivery then reaches it.

use std::time::Duration;

use switchboard_notification::{
    domain::{egress::EgressPolicy, signing},
    webhook,
};
use switchboard_proto::{notification::v1 as pb, ticket::v1::Visibility};
use switchboard_runtime::Role;
use switchboard_testkit::{free_port, wait_for};

use crate::{
    helpers::{Desk, TicketSpec, agent, authed, deliveries},
    receiver::Receiver,
    smtp::SmtpSink,
};

const SECRET: &str = "whsec_test_0123456789abcdef";

async fn create_hook(desk: &Desk, url: &str, types: &[&str]) -> anyhow::Result<pb::Webhook> {
    let admin = desk.token("admin-max", Role::Admin);
    Ok(desk
        .client()
        .await
        .create_webhook(authed(
            pb::CreateWebhookRequest {
                webhook: Some(pb::Webhook {
                    url: url.into(),
                    event_types: types.iter().map(|t| t.to_string()).collect(),
                    secret: SECRET.into(),
                    ..Default::default()
                }),
            },
            &admin,
        ))
        .await?
        .into_inner())
}

#[tokio::test]
async fn a_failing_receiver_gets_the_event_exactly_once_after_retries_signed() -> anyhow::Result<()>
{
    let sink = SmtpSink::start().await?;
    let desk = Desk::start(sink.addr, 6).await?;
    let receiver = Receiver::start(0, 3).await?;
    let hook = create_hook(&desk, &receiver.url(), &["message.*"]).await?;
    assert_eq!(hook.secret, SECRET, "the secret is returned on create");
    let t = TicketSpec::new(9, "Invoice");
    // ticket.created is filtered out; message.added matches `message.*`.
    desk.publish(&t.created_by("cy@example.com")).await?;
    let (reply, _) = t.message(2, agent("agent-ann"), Visibility::Public, "Done", &[]);
    desk.publish(&reply).await?;

    let admin = desk.token("admin-max", Role::Admin);
    let mut client = desk.client().await;
    wait_for(Duration::from_secs(20), "the delivery to succeed", || {
        let mut client = client.clone();
        let (admin, name) = (admin.clone(), hook.name.clone());
        async move {
            deliveries(&mut client, &admin, &name).await.is_ok_and(|d| {
                d.iter()
                    .any(|d| d.status == pb::DeliveryStatus::Delivered as i32)
            })
        }
    })
    .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let hits = receiver.hits().await;
    assert_eq!(
        hits.iter().map(|h| h.status).collect::<Vec<_>>(),
        [500, 500, 500, 200]
    );
    let ok: Vec<_> = hits.iter().filter(|h| h.status == 200).collect();
    assert_eq!(ok.len(), 1, "delivered exactly once");
    // Same delivery id on every attempt; each attempt signed over its own timestamp.
    let id = |h: &crate::receiver::Hit| {
        h.headers[webhook::DELIVERY_HEADER]
            .to_str()
            .unwrap()
            .to_owned()
    };
    assert!(hits.iter().all(|h| id(h) == id(&hits[0])));
    for h in &hits {
        let ts: i64 = h.headers[webhook::TIMESTAMP_HEADER].to_str()?.parse()?;
        let sig = h.headers[webhook::SIGNATURE_HEADER].to_str()?;
        assert!(
            signing::verify(SECRET, ts, &h.body, sig),
            "signature verifies"
        );
        assert!(!signing::verify(
            "wrong-secret-0123456789",
            ts,
            &h.body,
            sig
        ));
        assert_eq!(h.headers[webhook::EVENT_TYPE_HEADER], "message.added");
    }
    let body: serde_json::Value = serde_json::from_slice(&ok[0].body)?;
    assert_eq!(body["id"], reply.id);
    assert_eq!(body["type"], "message.added");
    assert_eq!(body["protobuf_type"], "switchboard.events.v1.Envelope");
    assert_eq!(body["payload_type"], "switchboard.events.v1.MessageAdded");
    assert_eq!(body["event"]["messageAdded"]["message"]["body"], "Done");

    let log = deliveries(&mut client, &admin, &hook.name).await?;
    assert_eq!(log.len(), 1, "ticket.created was filtered out");
    assert_eq!(log[0].attempts, 4);
    assert_eq!(
        log[0].name,
        format!("{}/deliveries/{}", hook.name, id(&hits[0]))
    );
    desk.stop().await
}

#[tokio::test]
async fn a_receiver_down_past_the_last_retry_is_dead_lettered_then_redelivered()
-> anyhow::Result<()> {
    let sink = SmtpSink::start().await?;
    let desk = Desk::start(sink.addr, 3).await?;
    let port = free_port()?;
    let hook = create_hook(&desk, &format!("http://127.0.0.1:{port}/hook"), &[]).await?;
    let t = TicketSpec::new(10, "Outage");
    desk.publish(&t.created_by("dee@example.com")).await?;

    let admin = desk.token("admin-max", Role::Admin);
    let mut client = desk.client().await;
    wait_for(
        Duration::from_secs(20),
        "the delivery to be dead-lettered",
        || {
            let mut client = client.clone();
            let (admin, name) = (admin.clone(), hook.name.clone());
            async move {
                deliveries(&mut client, &admin, &name).await.is_ok_and(|d| {
                    d.iter()
                        .any(|d| d.status == pb::DeliveryStatus::DeadLettered as i32)
                })
            }
        },
    )
    .await?;
    let dead = deliveries(&mut client, &admin, &hook.name).await?.remove(0);
    assert_eq!(dead.attempts, 3);
    assert!(!dead.last_error.is_empty());
    assert_eq!(dead.event_type, "ticket.created");
    let failed = desk.notification_events(1).await?;
    assert_eq!(failed[0].r#type, "notification.failed");

    // The receiver comes back; a manual redelivery reaches it, with the
    // same delivery id.
    let receiver = Receiver::start(port, 0).await?;
    let again = client
        .redeliver_delivery(authed(
            pb::RedeliverDeliveryRequest {
                name: dead.name.clone(),
            },
            &admin,
        ))
        .await?
        .into_inner();
    assert_eq!(again.status, pb::DeliveryStatus::Pending as i32);
    wait_for(Duration::from_secs(20), "the redelivery to succeed", || {
        let mut client = client.clone();
        let (admin, name) = (admin.clone(), hook.name.clone());
        async move {
            deliveries(&mut client, &admin, &name)
                .await
                .is_ok_and(|d| d[0].status == pb::DeliveryStatus::Delivered as i32)
        }
    })
    .await?;
    let hits = receiver.hits().await;
    assert_eq!(hits.len(), 1);
    assert_eq!(
        format!(
            "{}/deliveries/{}",
            hook.name,
            hits[0].headers[webhook::DELIVERY_HEADER].to_str()?
        ),
        dead.name
    );
    let events = desk.notification_events(2).await?;
    assert_eq!(events[1].r#type, "notification.delivered");

    // Unknown deliveries are NOT_FOUND; malformed names INVALID_ARGUMENT.
    let missing = client
        .redeliver_delivery(authed(
            pb::RedeliverDeliveryRequest {
                name: format!("{}/deliveries/{}", hook.name, uuid::Uuid::now_v7()),
            },
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);
    let bad = client
        .redeliver_delivery(authed(
            pb::RedeliverDeliveryRequest {
                name: "deliveries/x".into(),
            },
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    desk.stop().await
}

#[tokio::test]
async fn the_http_client_posts_signed_and_reports_failures_without_the_url() -> anyhow::Result<()> {
    use switchboard_notification::webhook::{HttpWebhookClient, WebhookClient};

    let loopback = EgressPolicy::new(&["127.0.0.0/8".into()]).map_err(anyhow::Error::msg)?;
    let client = HttpWebhookClient::new(Duration::from_secs(5), std::sync::Arc::new(loopback));
    let failing = Receiver::start(0, 1).await?;
    let body = br#"{"id":"e1"}"#;
    // A 5xx is a failure with its status; the next attempt gets through.
    let err = client
        .post(&failing.url(), SECRET, "d1", "ticket.created", body)
        .await
        .unwrap_err();
    assert_eq!(err.status, 500);
    assert!(err.message.contains("500"), "{}", err.message);
    let status = client
        .post(&failing.url(), SECRET, "d1", "ticket.created", body)
        .await
        .map_err(|e| anyhow::anyhow!(e))?;
    assert_eq!(status, 200);
    let hits = failing.hits().await;
    assert_eq!(hits.len(), 2);
    for h in &hits {
        assert_eq!(&h.body[..], body);
        assert_eq!(h.headers[webhook::DELIVERY_HEADER], "d1");
        assert_eq!(h.headers[webhook::EVENT_TYPE_HEADER], "ticket.created");
        assert_eq!(h.headers["content-type"], "application/json");
        assert_eq!(h.headers["user-agent"], "Switchboard-Webhooks/1");
        assert!(!h.headers.contains_key("authorization"));
        let ts: i64 = h.headers[webhook::TIMESTAMP_HEADER].to_str()?.parse()?;
        assert!(signing::verify(
            SECRET,
            ts,
            &h.body,
            h.headers[webhook::SIGNATURE_HEADER].to_str()?
        ));
    }

    // Credentials in the URL become basic auth, as they did with reqwest.
    let with_user = format!("http://ann:s%40cret@{}/hook", failing.addr);
    client
        .post(&with_user, SECRET, "d2", "ticket.created", body)
        .await
        .map_err(|e| anyhow::anyhow!(e))?;
    let hits = failing.hits().await;
    // base64("ann:s@cret")
    assert_eq!(hits[2].headers["authorization"], "Basic YW5uOnNAY3JldA==");

    // Nobody listening: no status, and the message names no URL.
    let port = free_port()?;
    let down = client
        .post(
            &format!("http://user:pw@127.0.0.1:{port}/hook"),
            SECRET,
            "d3",
            "ticket.created",
            body,
        )
        .await
        .unwrap_err();
    assert_eq!(down.status, 0);
    assert!(!down.message.contains("pw@"), "{}", down.message);
    let down = client
        .post(
            &format!("http://127.0.0.1:{port}/hook"),
            SECRET,
            "d3",
            "ticket.created",
            body,
        )
        .await
        .unwrap_err();
    assert_eq!(down.status, 0);
    assert!(
        down.message.starts_with("request failed: "),
        "{}",
        down.message
    );
    Ok(())
}

#[tokio::test]
async fn every_attempt_continues_the_trace_of_its_event() -> anyhow::Result<()> {
    use switchboard_proto::events::v1::TraceContext;

    let sink = SmtpSink::start().await?;
    let desk = Desk::start(sink.addr, 3).await?;
    // What `switchboard serve` installs: a provider (no exporter here) and
    // the W3C propagator.
    let _telemetry = switchboard_runtime::telemetry::init(&desk.settings.log, "notification")?;
    // The first attempt is handed over by the consumer, the second claimed
    // from the table: both paths must keep the trace.
    let receiver = Receiver::start(0, 1).await?;
    create_hook(&desk, &receiver.url(), &["ticket.created"]).await?;
    let (trace_id, parent_span) = ("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331");
    let mut created = TicketSpec::new(11, "Traced").created_by("eve@example.com");
    created.trace = Some(TraceContext {
        traceparent: format!("00-{trace_id}-{parent_span}-01"),
        tracestate: "vendor=1".into(),
    });
    desk.publish(&created).await?;

    wait_for(Duration::from_secs(20), "two attempts", || async {
        receiver.hits().await.len() >= 2
    })
    .await?;
    let hits = receiver.hits().await;
    assert_eq!(
        hits.iter().map(|h| h.status).collect::<Vec<_>>(),
        [500, 200]
    );
    let mut spans = Vec::new();
    for h in &hits {
        let traceparent = h
            .headers
            .get("traceparent")
            .ok_or_else(|| anyhow::anyhow!("no traceparent in {:?}", h.headers))?
            .to_str()?;
        let parts: Vec<&str> = traceparent.split('-').collect();
        assert_eq!(parts.len(), 4, "{traceparent}");
        assert_eq!(parts[1], trace_id, "the event's trace: {traceparent}");
        assert_ne!(parts[2], parent_span, "a span of the attempt's own");
        assert_eq!(h.headers["tracestate"], "vendor=1");
        spans.push(parts[2].to_owned());
    }
    assert_ne!(spans[0], spans[1], "each attempt is a span");
    desk.stop().await
}
