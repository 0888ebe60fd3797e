//! The batched consumer path against real PostgreSQL: a batch with repeats
//! and already-applied events queues each delivery once, later events of a
//! batch see what earlier ones taught, and the dispatcher records many
//! outcomes per transaction without losing or repeating one.

use std::{collections::HashSet, time::Duration};

use switchboard_events::{Envelope, EventBuilder, Payload};
use switchboard_notification::{
    MIGRATIONS, SERVICE,
    batch::apply_batch,
    consumer::{HandlerConfig, Notifier},
    domain::{Channel, input::Preferences, input::WebhookInput, templates::TemplateParts},
    store::PgStore,
    webhook,
};
use switchboard_proto::{events::v1::NotificationDelivered, ticket::v1::Visibility};
use switchboard_runtime::TenantId;
use switchboard_testkit::{TestDb, wait_for};
use uuid::Uuid;

use crate::{
    helpers::{Desk, TicketSpec, agent, online},
    receiver::Receiver,
    smtp::SmtpSink,
};

const CONSUMER: &str = "notification-test";

fn notifier() -> Notifier {
    Notifier {
        config: HandlerConfig {
            domain: "desk.example.com".into(),
            survey_url: String::new(),
            max_attempts: 3,
        },
    }
}

fn hook(url: &str, types: &[&str]) -> WebhookInput {
    WebhookInput {
        url: url.into(),
        event_types: types.iter().map(|t| t.to_string()).collect(),
        secret: "whsec_test_0123456789abcdef".into(),
        active: true,
        description: String::new(),
    }
}

/// A migrated notification schema on its own database.
async fn store() -> anyhow::Result<(TestDb, PgStore)> {
    let db = TestDb::create().await?;
    let pool = db.pool(SERVICE).await?;
    switchboard_events::db::migrate(&pool, SERVICE, &MIGRATIONS).await?;
    Ok((db, PgStore::new(pool)))
}

async fn count(store: &PgStore, sql: &str, event: &Envelope) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(sql)
        .bind(Uuid::parse_str(&event.id)?)
        .fetch_one(store.pool())
        .await?)
}

#[tokio::test]
async fn repeats_and_applied_events_in_a_batch_queue_one_delivery_per_subscription()
-> anyhow::Result<()> {
    let (db, store) = store().await?;
    store
        .create_webhook("acme", &hook("http://127.0.0.1:9/a", &[]))
        .await?;
    store
        .create_webhook("acme", &hook("http://127.0.0.1:9/b", &["ticket.*"]))
        .await?;
    // Filtered out, and another tenant's: neither hears acme's ticket.created.
    store
        .create_webhook("acme", &hook("http://127.0.0.1:9/c", &["message.*"]))
        .await?;
    store
        .create_webhook("other", &hook("http://127.0.0.1:9/d", &[]))
        .await?;
    let handler = notifier();
    let applied = TicketSpec::new(1, "Applied").created_by("ann@example.com");
    let fresh = TicketSpec::new(2, "Fresh").created_by("bob@example.com");
    apply_batch(
        store.pool(),
        CONSUMER,
        &handler,
        std::slice::from_ref(&applied),
    )
    .await?;

    // The fresh event twice, the applied one again, and one of the
    // service's own events, which is acknowledged without a record.
    let own = EventBuilder::new(
        &TenantId::parse("acme").unwrap(),
        "notification",
        Uuid::now_v7().to_string(),
        1,
    )
    .build(
        "delivered",
        Payload::NotificationDelivered(NotificationDelivered::default()),
    );
    let batch = [fresh.clone(), applied.clone(), fresh.clone(), own.clone()];
    apply_batch(store.pool(), CONSUMER, &handler, &batch).await?;
    // Redelivered once more, whole: nothing changes.
    apply_batch(store.pool(), CONSUMER, &handler, &batch).await?;
    // Even past the idempotency record (a record purged, another consumer
    // name), the notifications' key queues nothing twice.
    let mut tx = store.pool().begin().await?;
    handler.apply(&mut tx, &[&fresh, &fresh]).await?;
    tx.commit().await?;

    let per_event = "SELECT count(*) FROM deliveries WHERE event_id = $1";
    assert_eq!(count(&store, per_event, &applied).await?, 2);
    assert_eq!(count(&store, per_event, &fresh).await?, 2);
    let targets: HashSet<String> =
        sqlx::query_scalar("SELECT target FROM deliveries WHERE event_id = $1")
            .bind(Uuid::parse_str(&fresh.id)?)
            .fetch_all(store.pool())
            .await?
            .into_iter()
            .collect();
    assert_eq!(
        targets,
        HashSet::from(["http://127.0.0.1:9/a".into(), "http://127.0.0.1:9/b".into()])
    );
    let per_notification = "SELECT count(*) FROM notifications WHERE event_id = $1";
    assert_eq!(count(&store, per_notification, &fresh).await?, 2);
    // The delivery carries the event as the receiver will see it.
    let body: serde_json::Value =
        sqlx::query_scalar("SELECT payload FROM deliveries WHERE event_id = $1 LIMIT 1")
            .bind(Uuid::parse_str(&fresh.id)?)
            .fetch_one(store.pool())
            .await?;
    assert_eq!(body, webhook::body(&fresh));
    let processed = "SELECT count(*) FROM processed_events WHERE event_id = $1";
    assert_eq!(count(&store, processed, &fresh).await?, 1);
    assert_eq!(count(&store, processed, &own).await?, 0);
    store.pool().close().await;
    db.drop_db().await
}

#[tokio::test]
async fn later_events_of_a_batch_see_addresses_earlier_ones_taught() -> anyhow::Result<()> {
    let (db, store) = store().await?;
    // cy muted in-app; bo's mentions use the tenant's template.
    store
        .save_preferences(
            "acme",
            "agent-cy",
            0,
            &Preferences {
                muted_channels: vec![Channel::InApp],
                ..Default::default()
            },
        )
        .await?;
    store
        .save_template(
            "acme",
            "message.mentioned",
            "en",
            0,
            &TemplateParts {
                subject: "Mentioned on {{ ticket.subject }}".into(),
                text_body: "{{ message.body }}".into(),
                html_body: "<p>{{ message.body }}</p>".into(),
            },
        )
        .await?;
    let mut t = TicketSpec::new(12, "Batch");
    t.followers = vec!["agent-cy".into()];
    // The requester's address is known only from the first event.
    let created = t.created_by("ada@example.com");
    let (reply, _) = t.message(
        2,
        agent("agent-ann"),
        Visibility::Public,
        "On it",
        &["agent-bo"],
    );
    apply_batch(
        store.pool(),
        CONSUMER,
        &notifier(),
        &[
            online("agent-bo"),
            online("agent-cy"),
            created,
            reply.clone(),
        ],
    )
    .await?;

    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT recipient, channel, title FROM notifications WHERE event_id = $1 ORDER BY seq",
    )
    .bind(Uuid::parse_str(&reply.id)?)
    .fetch_all(store.pool())
    .await?;
    let recipients: Vec<(&str, &str)> = rows
        .iter()
        .map(|(r, c, _)| (r.as_str(), c.as_str()))
        .collect();
    assert_eq!(
        recipients,
        [("ada@example.com", "email"), ("agent-bo", "in_app")],
        "cy muted in-app; ann wrote it"
    );
    assert_eq!(rows[1].2, "Mentioned on Batch");
    let emails: Vec<String> =
        sqlx::query_scalar("SELECT target FROM deliveries WHERE channel = 'email'")
            .fetch_all(store.pool())
            .await?;
    assert_eq!(emails, ["ada@example.com"]);
    let contact: String = sqlx::query_scalar("SELECT email FROM contacts WHERE customer = $1")
        .bind(&t.requester)
        .fetch_one(store.pool())
        .await?;
    assert_eq!(contact, "ada@example.com");
    store.pool().close().await;
    db.drop_db().await
}

#[tokio::test]
async fn many_deliveries_are_each_sent_and_announced_once() -> anyhow::Result<()> {
    const EVENTS: usize = 40;
    let sink = SmtpSink::start().await?;
    let desk = Desk::start(sink.addr, 3).await?;
    let receiver = Receiver::start(0, 0).await?;
    let store = PgStore::new(desk.pool().await);
    store
        .create_webhook("acme", &hook(&receiver.url(), &[]))
        .await?;
    for i in 0..EVENTS {
        let t = TicketSpec::new(i as i64 + 1, "Many");
        desk.publish(&t.created_by("many@example.com")).await?;
    }
    let announced = desk.notification_events(EVENTS).await?;
    assert!(
        announced
            .iter()
            .all(|e| e.r#type == "notification.delivered")
    );
    let delivered: HashSet<String> = announced
        .iter()
        .filter_map(|e| match &e.payload {
            Some(Payload::NotificationDelivered(d)) => Some(d.delivery.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(delivered.len(), EVENTS, "one announcement per delivery");
    // Nothing was sent twice: the announcements and the receiver agree.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let hits = receiver.hits().await;
    let sent: HashSet<String> = hits
        .iter()
        .map(|h| {
            h.headers[webhook::DELIVERY_HEADER]
                .to_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(hits.len(), EVENTS);
    assert_eq!(sent, delivered);
    wait_for(
        Duration::from_secs(10),
        "every delivery recorded",
        || async {
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM deliveries WHERE status = 'delivered' AND attempts = 1",
            )
            .fetch_one(store.pool())
            .await
            .is_ok_and(|n| n == EVENTS as i64)
        },
    )
    .await?;
    desk.stop().await
}
