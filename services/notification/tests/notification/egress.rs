//! Webhooks never reach the desk's own network: internal targets are
//! refused when saved, and a name that resolves to one is never connected
//! to; a refused delivery says the same thing whatever is there.

use std::{sync::Arc, time::Duration};

use switchboard_notification::{
    domain::{egress::EgressPolicy, input::WebhookInput},
    store::PgStore,
    webhook::{BLOCKED, HttpWebhookClient, WebhookClient},
};
use switchboard_proto::{notification::v1 as pb, ticket::v1::Visibility};
use switchboard_runtime::Role;
use switchboard_testkit::wait_for;

use crate::{
    helpers::{Desk, TicketSpec, agent, authed, deliveries, violated_fields},
    receiver::Receiver,
    smtp::SmtpSink,
};

const SECRET: &str = "0123456789abcdef0123";

#[tokio::test]
async fn webhooks_to_internal_addresses_are_refused_naming_the_url() -> anyhow::Result<()> {
    let sink = SmtpSink::start().await?;
    let desk = Desk::start_allowing(sink.addr, 3, None).await?;
    let admin = desk.token("admin-max", Role::Admin);
    let mut client = desk.client().await;
    let create = |url: &str| {
        authed(
            pb::CreateWebhookRequest {
                webhook: Some(pb::Webhook {
                    url: url.into(),
                    secret: SECRET.into(),
                    ..Default::default()
                }),
            },
            &admin,
        )
    };
    for url in [
        "http://127.0.0.1:9090/metrics",
        "http://[::1]:9090/",
        "http://localhost:9090/",
        "http://169.254.169.254/latest/meta-data/",
        "http://2130706433/",
        "https://user:pw@10.0.0.1/",
    ] {
        let refused = client.create_webhook(create(url)).await.unwrap_err();
        assert_eq!(violated_fields(&refused), ["webhook.url"], "{url}");
    }
    let listed = client
        .list_webhooks(authed(pb::ListWebhooksRequest::default(), &admin))
        .await?
        .into_inner();
    assert!(listed.webhooks.is_empty(), "nothing written");

    // Nor can a public webhook be moved inside.
    let hook = client
        .create_webhook(create("https://crm.example.com/hooks"))
        .await?
        .into_inner();
    let moved = client
        .update_webhook(authed(
            pb::UpdateWebhookRequest {
                webhook: Some(pb::Webhook {
                    name: hook.name.clone(),
                    url: "http://127.0.0.1:9090/".into(),
                    version: hook.version,
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["url".into()],
                }),
            },
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&moved), ["webhook.url"]);
    desk.stop().await
}

#[tokio::test]
async fn the_client_never_connects_to_a_name_or_address_inside() -> anyhow::Result<()> {
    let receiver = Receiver::start(0, 0).await?;
    let port = receiver.addr.port();
    let public_only = HttpWebhookClient::new(Duration::from_secs(5), Arc::default());
    let body = br#"{"id":"e1"}"#;
    for url in [
        // A name that resolves to loopback: refused as it resolves.
        format!("http://localhost:{port}/hook"),
        // The same through reqwest (credentials in the URL).
        format!("http://user:pw@localhost:{port}/hook"),
        // Literal addresses, in every spelling.
        format!("http://127.0.0.1:{port}/hook"),
        format!("http://2130706433:{port}/hook"),
        format!("http://[::ffff:127.0.0.1]:{port}/hook"),
        format!("http://user:pw@127.0.0.1:{port}/hook"),
    ] {
        let err = public_only
            .post(&url, SECRET, "d1", "ticket.created", body)
            .await
            .unwrap_err();
        assert_eq!((err.status, err.message.as_str()), (0, BLOCKED), "{url}");
    }
    assert!(receiver.hits().await.is_empty(), "nothing reached it");

    // Allowed, the same name is delivered to.
    let loopback = EgressPolicy::new(&["127.0.0.0/8".into()]).map_err(anyhow::Error::msg)?;
    let allowed = HttpWebhookClient::new(Duration::from_secs(5), Arc::new(loopback));
    let status = allowed
        .post(
            &format!("http://localhost:{port}/hook"),
            SECRET,
            "d2",
            "ticket.created",
            body,
        )
        .await
        .map_err(|e| anyhow::anyhow!(e))?;
    assert_eq!(status, 200);
    assert_eq!(receiver.hits().await.len(), 1);
    Ok(())
}

#[tokio::test]
async fn a_stored_webhook_to_a_loopback_name_is_never_delivered() -> anyhow::Result<()> {
    let sink = SmtpSink::start().await?;
    let desk = Desk::start_allowing(sink.addr, 1, None).await?;
    let receiver = Receiver::start(0, 0).await?;
    // Written as if saved before the check existed (or rebound since).
    let store = PgStore::new(desk.pool().await);
    let row = store
        .create_webhook(
            "acme",
            &WebhookInput {
                url: format!("http://localhost:{}/hook", receiver.addr.port()),
                secret: SECRET.into(),
                active: true,
                ..Default::default()
            },
        )
        .await?;
    let t = TicketSpec::new(3, "Rebinding");
    let (reply, _) = t.message(2, agent("agent-ann"), Visibility::Public, "hi", &[]);
    desk.publish(&reply).await?;

    let admin = desk.token("admin-max", Role::Admin);
    let client = desk.client().await;
    let name = format!("webhooks/{}", row.id);
    wait_for(Duration::from_secs(20), "the delivery to fail", || {
        let (mut client, admin, name) = (client.clone(), admin.clone(), name.clone());
        async move {
            deliveries(&mut client, &admin, &name)
                .await
                .is_ok_and(|d| d.iter().any(|d| d.attempts >= 1))
        }
    })
    .await?;
    let log = deliveries(&mut client.clone(), &admin, &name).await?;
    assert!(
        log.iter()
            .all(|d| d.last_error == BLOCKED && d.last_status_code == 0),
        "{log:?}"
    );
    assert!(receiver.hits().await.is_empty());
    desk.stop().await
}
