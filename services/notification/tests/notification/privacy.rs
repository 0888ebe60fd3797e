//! Erasure and deletion reach every copy the consumer made: after
//! `ticket.updated` with `erased_customer` and `customer.erased`, no row of
//! the notification schema names the customer, including rows a lagging
//! event of the same batch wrote; after `ticket.deleted`, nothing of the
//! ticket remains but what the deletion itself queued.

use sha2::{Digest, Sha256};
use switchboard_events::{EventBuilder, Payload};
use switchboard_notification::{
    batch::apply_batch,
    consumer::{HandlerConfig, Notifier},
    privacy::ERASED_ERROR,
    store::PgStore,
};
use switchboard_proto::{
    common::v1::{Actor, ActorKind, Role},
    events::v1::{CustomerErased, TicketCreated, TicketDeleted, TicketUpdated},
    ticket::v1::Visibility,
};
use switchboard_runtime::TenantId;

use crate::helpers::{TicketSpec, agent, customer, online};

const CONSUMER: &str = "notification-privacy-test";
const NAME: &str = "Ottilie Brandauer";
const EMAIL: &str = "ottilie.b@example.com";
const PHONE: &str = "+15550112233";

fn notifier() -> Notifier {
    Notifier {
        config: HandlerConfig {
            domain: "desk.example.com".into(),
            survey_url: String::new(),
            max_attempts: 3,
        },
    }
}

fn admin() -> Actor {
    Actor {
        kind: ActorKind::Agent as i32,
        id: "admin-1".into(),
        role: Role::Admin as i32,
    }
}

/// Rows of every table of the notification schema that mention `marker`.
async fn mentions(store: &PgStore, marker: &str) -> anyhow::Result<Vec<String>> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = 'notification' AND table_type = 'BASE TABLE'",
    )
    .fetch_all(store.pool())
    .await?;
    let mut found = Vec::new();
    for table in tables {
        let rows: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT t::text FROM notification.\"{table}\" t WHERE t::text ILIKE '%' || $1 || '%'"
        ))
        .bind(marker)
        .fetch_all(store.pool())
        .await?;
        found.extend(rows.into_iter().map(|r| format!("{table}: {r}")));
    }
    Ok(found)
}

#[tokio::test]
async fn erasure_scrubs_every_copy_and_deletion_drops_them() -> anyhow::Result<()> {
    let (db, store) =
        crate::helpers::store_with_catch_all_webhook("http://127.0.0.1:9/crm").await?;
    let mut spec = TicketSpec::new(7, &format!("Refund for {NAME}"));
    spec.followers = vec!["agent-bob".into()];
    let created = spec.builder(1, customer(EMAIL)).build(
        "created",
        Payload::TicketCreated(TicketCreated {
            ticket: Some(spec.ticket(1)),
            requester_email: EMAIL.into(),
        }),
    );
    let (reply, _) = spec.message(
        2,
        agent("agent-ann"),
        Visibility::Public,
        &format!("Dear {NAME}, we will call {PHONE}"),
        &["agent-bob"],
    );
    let before = [online("agent-ann"), online("agent-bob"), created, reply];
    apply_batch(store.pool(), CONSUMER, &notifier(), &before).await?;
    for marker in [NAME, EMAIL, PHONE] {
        assert!(
            !mentions(&store, marker).await?.is_empty(),
            "the fixture holds {marker}"
        );
    }

    // One batch: a lagging message of the customer's, then the erasure.
    let (late, _) = spec.message(
        3,
        customer(EMAIL),
        Visibility::Public,
        &format!("{NAME} here, {PHONE}"),
        &[],
    );
    let mut erased_spec = TicketSpec::new(7, "Refund for [erased]");
    erased_spec.id = spec.id;
    erased_spec.requester = spec.requester.clone();
    let mut updated_ticket = erased_spec.ticket(4);
    updated_ticket.description = "[erased]".into();
    let updated = erased_spec.builder(4, admin()).build(
        "updated",
        Payload::TicketUpdated(TicketUpdated {
            ticket: Some(updated_ticket),
            changed_fields: vec!["subject".into(), "description".into()],
            erased_customer: spec.requester.clone(),
        }),
    );
    let hashes = [EMAIL.to_owned(), PHONE.to_owned(), format!("phone:{PHONE}")]
        .iter()
        .map(|v| hex::encode(Sha256::digest(v.as_bytes())))
        .collect();
    let customer_id = spec.requester.trim_start_matches("customers/").to_owned();
    let gone = EventBuilder::new(
        &TenantId::parse("acme").unwrap(),
        "customer",
        customer_id,
        3,
    )
    .actor(admin())
    .build(
        "erased",
        Payload::CustomerErased(CustomerErased {
            customer: spec.requester.clone(),
            merged_customers: vec![],
            tickets: vec![format!("tickets/{}", spec.id)],
            identity_sha256: hashes,
        }),
    );
    apply_batch(
        store.pool(),
        CONSUMER,
        &notifier(),
        &[late, updated.clone(), gone],
    )
    .await?;
    for marker in [NAME, EMAIL, PHONE, "Ottilie", "0112233"] {
        let left = mentions(&store, marker).await?;
        assert!(left.is_empty(), "{marker} is still in {left:#?}");
    }
    // What was unsent stays unsent; the erasure's own webhook delivery goes.
    let stopped: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM deliveries WHERE status = 'dead' AND last_error = $1",
    )
    .bind(ERASED_ERROR)
    .fetch_one(store.pool())
    .await?;
    assert!(stopped >= 2, "the email and webhook deliveries, {stopped}");
    let pending: Vec<String> = sqlx::query_scalar(
        "SELECT event_type FROM deliveries WHERE status = 'pending' AND event_type NOT LIKE 'agent.%' \
         ORDER BY event_type",
    )
    .fetch_all(store.pool())
    .await?;
    assert_eq!(pending, ["customer.erased", "ticket.updated"]);
    // Staff keep their inbox entries, with the ticket's erased subject.
    let titles: Vec<String> =
        sqlx::query_scalar("SELECT title FROM notifications WHERE channel = 'in_app' ORDER BY seq")
            .fetch_all(store.pool())
            .await?;
    assert!(!titles.is_empty());
    assert!(
        titles.iter().all(|t| t == "[#T-7] Refund for [erased]"),
        "{titles:?}"
    );

    // Deleted: nothing of the ticket is left.
    let deleted = spec.builder(5, Actor::default()).build(
        "deleted",
        Payload::TicketDeleted(TicketDeleted {
            ticket: format!("tickets/{}", spec.id),
            reason: "retention".into(),
            requester: spec.requester.clone(),
        }),
    );
    apply_batch(store.pool(), CONSUMER, &notifier(), &[deleted]).await?;
    let left: Vec<String> =
        sqlx::query_scalar("SELECT event_type FROM notifications WHERE ticket = $1")
            .bind(format!("tickets/{}", spec.id))
            .fetch_all(store.pool())
            .await?;
    assert!(left.is_empty(), "{left:?}");
    db.drop_db().await
}
