//! Erasure reaches the analytics read models: a `ticket.updated` that
//! erased the requester's data replaces the ticket's subject terms (top
//! issues) with the erased subject's, moving their counts; the facts keep
//! every number.

use switchboard_analytics::Ingest;
use switchboard_events::{EventBuilder, Payload};
use switchboard_proto::{
    common::v1::{Actor, ActorKind, Channel, Priority},
    events::v1::{TicketCreated, TicketUpdated},
    ticket::v1::{Ticket, TicketStatus},
};
use switchboard_runtime::TenantId;
use switchboard_testkit::TestDb;
use uuid::Uuid;

use crate::helpers::TENANT;

fn ticket(id: Uuid, subject: &str, version: i64) -> Ticket {
    Ticket {
        name: format!("tickets/{id}"),
        subject: subject.into(),
        status: TicketStatus::New as i32,
        channel: Channel::Email as i32,
        priority: Priority::Normal as i32,
        requester: "customers/0190".into(),
        version,
        ..Default::default()
    }
}

/// Every term stored anywhere, with its counts.
async fn terms(pool: &sqlx::PgPool) -> anyhow::Result<(Vec<String>, Vec<(String, i64)>)> {
    let per_ticket: Vec<String> =
        sqlx::query_scalar("SELECT unnest(terms) FROM ticket_terms ORDER BY 1")
            .fetch_all(pool)
            .await?;
    let volume: Vec<(String, i64)> = sqlx::query_as(
        "SELECT term, sum(count)::bigint FROM term_volume GROUP BY term ORDER BY term",
    )
    .fetch_all(pool)
    .await?;
    Ok((per_ticket, volume))
}

#[tokio::test]
async fn an_erasure_replaces_the_tickets_subject_terms() -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let pool = db.pool("analytics").await?;
    switchboard_events::db::migrate(&pool, "analytics", &switchboard_analytics::MIGRATIONS).await?;
    let ingest = Ingest::new(pool.clone());
    let tenant = TenantId::parse(TENANT).unwrap();
    let agent = Actor {
        kind: ActorKind::Agent as i32,
        id: "agent-7".into(),
        role: 0,
    };
    let (erased, kept) = (Uuid::now_v7(), Uuid::now_v7());
    let created = |id: Uuid, subject: &str| {
        EventBuilder::new(&tenant, "ticket", id.to_string(), 1)
            .actor(agent.clone())
            .build(
                "created",
                Payload::TicketCreated(TicketCreated {
                    ticket: Some(ticket(id, subject, 1)),
                    requester_email: String::new(),
                }),
            )
    };
    ingest
        .apply(&[
            created(erased, "Refund Ottilie Brandauer printer"),
            created(kept, "Printer refund"),
        ])
        .await?;
    let (before, _) = terms(&pool).await?;
    assert!(before.iter().any(|t| t.contains("ottilie")), "{before:?}");

    let update = EventBuilder::new(&tenant, "ticket", erased.to_string(), 2)
        .actor(agent.clone())
        .build(
            "updated",
            Payload::TicketUpdated(TicketUpdated {
                ticket: Some(ticket(erased, "Refund [erased] [erased] printer", 2)),
                changed_fields: vec!["subject".into()],
                erased_customer: "customers/0190".into(),
            }),
        );
    ingest.apply(std::slice::from_ref(&update)).await?;
    // A redelivery changes nothing.
    ingest.apply(&[update]).await?;
    let (after, volume) = terms(&pool).await?;
    for text in after.iter().chain(volume.iter().map(|(t, _)| t)) {
        assert!(
            !text.contains("ottilie") && !text.contains("brandauer"),
            "{after:?} {volume:?}"
        );
    }
    // Both tickets still count under the words they share, once per grain.
    let count = |term: &str| {
        volume
            .iter()
            .find(|(t, _)| t == term)
            .map_or(0, |(_, n)| *n)
    };
    assert_eq!((count("printer"), count("refund")), (4, 4), "{volume:?}");
    let facts: i64 = sqlx::query_scalar("SELECT count(*) FROM ticket_facts")
        .fetch_one(&pool)
        .await?;
    assert_eq!(facts, 2, "the tickets still count");
    db.drop_db().await
}
