use std::{collections::HashSet, time::Duration};

use switchboard_proto::ticket::v1::{CreateTicketRequest, Requester};
use switchboard_runtime::Role;
use switchboard_testkit::NatsServer;

use crate::helpers::{Running, authed};

fn request(i: usize) -> CreateTicketRequest {
    CreateTicketRequest {
        subject: format!("Ticket {i}"),
        requester: Some(Requester {
            email: format!("c{i}@example.com"),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// NATS dies while tickets are created and comes back: every event is
/// published exactly once, in creation order.
#[tokio::test]
async fn events_survive_a_nats_outage_exactly_once() -> anyhow::Result<()> {
    let mut nats = NatsServer::start().await?;
    let app = Running::start(&nats.url()).await?;
    let mut client = app.client().await;
    let agent = app.token("acme", "agent-1", Role::Agent);

    let mut created = Vec::new();
    for i in 0..3 {
        created.push(
            client
                .create_ticket(authed(request(i), &agent))
                .await?
                .into_inner()
                .name,
        );
    }
    nats.stop();
    // Creating tickets needs only the database.
    for i in 3..23 {
        created.push(
            client
                .create_ticket(authed(request(i), &agent))
                .await?
                .into_inner()
                .name,
        );
    }
    nats.restart().await?;

    let events = app.events(created.len()).await?;
    let names: Vec<String> = events
        .iter()
        .map(|(_, _, e)| format!("tickets/{}", e.aggregate_id))
        .collect();
    assert_eq!(names, created, "every ticket once, in creation order");
    let ids: HashSet<&String> = events.iter().map(|(_, id, _)| id).collect();
    assert_eq!(ids.len(), created.len(), "distinct event ids");
    assert!(events.iter().all(|(_, id, e)| id == &e.id));

    // The relay deletes a round's rows with its next round, at the latest
    // one idle poll later.
    let pool = app.pool().await;
    switchboard_testkit::wait_for(Duration::from_secs(5), "the outbox to drain", || {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM outbox")
                .fetch_one(&pool)
                .await
                .is_ok_and(|pending| pending == 0)
        }
    })
    .await?;
    pool.close().await;
    app.stop().await
}
