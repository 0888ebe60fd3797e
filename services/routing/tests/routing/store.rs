//! The storage conformance suites against [`PgStore`] on a fresh database,
//! and what only the PostgreSQL backend promises: events go to the outbox
//! in the same transaction, and each commit that wrote one wakes the relay.

use std::{sync::Arc, time::Duration};

use sqlx::PgPool;
use switchboard_events::db;
use switchboard_proto::common::v1::{Channel, Priority};
use switchboard_routing::{
    MIGRATIONS, SERVICE,
    domain::Job,
    events,
    store::{PgStore, Queue, conformance},
};
use switchboard_runtime::TenantId;
use switchboard_testkit::TestDb;
use tokio::sync::Notify;
use uuid::Uuid;

async fn pool() -> anyhow::Result<(TestDb, PgPool)> {
    let db = TestDb::create().await?;
    let pool = db.pool(SERVICE).await?;
    db::migrate(&pool, SERVICE, &MIGRATIONS).await?;
    Ok((db, pool))
}

async fn store() -> anyhow::Result<(TestDb, PgStore)> {
    let (db, pool) = pool().await?;
    Ok((db, PgStore::new(pool)))
}

/// One test per conformance function that takes the store by reference.
macro_rules! conformance_tests {
    ($suite:ident: $($name:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() -> anyhow::Result<()> {
                let (db, s) = store().await?;
                conformance::$suite::$name(&s).await;
                db.drop_db().await
            }
        )+
    };
}

mod registry {
    use super::*;

    conformance_tests!(registry:
        agents_create_get_delete,
        agents_update_checks_versions,
        agents_list_by_group_and_cursor,
        groups_create_get_update_list_delete,
        rules_round_trip_with_versions,
    );

    #[tokio::test]
    async fn delete_group_drops_its_queue() -> anyhow::Result<()> {
        let (db, s) = store().await?;
        conformance::registry::delete_group_drops_its_queue(&s, &s).await;
        db.drop_db().await
    }
}

mod queue {
    use super::*;

    conformance_tests!(queue:
        enqueue_is_new_once,
        lease_follows_queue_order,
        leased_tickets_are_skipped_until_released,
        leases_run_out,
        lease_by_group_and_tenant,
        remove_waiting_takes_it_out,
        waiting_group_follows_the_queue,
        reprioritize_reorders,
        assigned_leaves_the_queue,
        queue_depth_counts_and_finds_the_oldest,
        groups_waiting_lists_each_once,
        emit_accepts_an_event,
    );

    #[tokio::test]
    async fn concurrent_leases_never_overlap() -> anyhow::Result<()> {
        let (db, s) = store().await?;
        conformance::queue::concurrent_leases_never_overlap(Arc::new(s)).await;
        db.drop_db().await
    }
}

fn job() -> Job {
    Job {
        ticket: Uuid::now_v7(),
        version: 2,
        group: "billing".into(),
        channel: Channel::Chat as i32,
        priority: Priority::Normal as i32,
        skills: vec![],
        language: None,
        sla_due: None,
        created: chrono::Utc::now(),
        rule: None,
    }
}

/// The outbox's subjects and aggregate ids, in write order.
async fn outbox(pool: &PgPool) -> anyhow::Result<Vec<(String, String)>> {
    Ok(
        sqlx::query_as("SELECT subject, aggregate_id FROM outbox ORDER BY seq")
            .fetch_all(pool)
            .await?,
    )
}

/// A new waiting ticket, an assignment and a lone event each add one outbox
/// row; an update of a waiting ticket and a removal add none.
#[tokio::test]
async fn events_go_to_the_outbox_with_their_change() -> anyhow::Result<()> {
    let (db, pool) = pool().await?;
    let s = PgStore::new(pool.clone());
    let t = TenantId::parse("acme").expect("tenant");
    let j = job();
    let id = j.ticket.to_string();
    let queued = |n| events::queued(&t, &j, n, vec![]);
    assert!(s.enqueue(&t, &j, Box::new(queued)).await?);
    assert!(!s.enqueue(&t, &j, Box::new(queued)).await?);
    assert_eq!(
        outbox(&pool).await?,
        [("acme.routing.queued".to_owned(), id.clone())]
    );

    s.assigned(
        &t,
        j.ticket,
        Box::new(|w| events::assigned(&t, &j, "ann", 3, "queue", w)),
    )
    .await?;
    assert!(!s.remove_waiting(&t, j.ticket).await?);
    s.emit(&events::queued(&t, &j, 7, vec![])).await?;
    let subjects: Vec<String> = outbox(&pool).await?.into_iter().map(|r| r.0).collect();
    assert_eq!(
        subjects,
        [
            "acme.routing.queued",
            "acme.routing.assigned",
            "acme.routing.queued"
        ]
    );
    pool.close().await;
    db.drop_db().await
}

/// Each commit that wrote an event wakes the relay; one that wrote none
/// does not.
#[tokio::test]
async fn commits_with_events_wake_the_relay() -> anyhow::Result<()> {
    let (db, pool) = pool().await?;
    let waker = Arc::new(Notify::new());
    let s = PgStore::new(pool.clone()).with_relay_waker(waker.clone());
    let t = TenantId::parse("acme").expect("tenant");
    let j = job();
    let woken = || async {
        tokio::time::timeout(Duration::from_millis(200), waker.notified())
            .await
            .is_ok()
    };
    let queued = |n| events::queued(&t, &j, n, vec![]);
    assert!(!woken().await, "nothing written yet");
    s.enqueue(&t, &j, Box::new(queued)).await?;
    assert!(woken().await, "a new waiting ticket wakes the relay");
    s.enqueue(&t, &j, Box::new(queued)).await?;
    s.remove_waiting(&t, j.ticket).await?;
    assert!(!woken().await, "no event, no wake-up");
    s.emit(&events::queued(&t, &j, 1, vec![])).await?;
    assert!(woken().await, "a lone event wakes the relay");
    pool.close().await;
    db.drop_db().await
}
