//! A drain that fails midway hands back every ticket it had leased, so the
//! queue does not stall for the lease while an agent has room.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use chrono::Utc;
use secrecy::SecretString;
use switchboard_events::db;
use switchboard_proto::{
    common::v1::{Channel, Priority},
    routing::v1::Presence,
};
use switchboard_routing::{
    MIGRATIONS, Router, RouterOptions, SERVICE,
    domain::{Agent, Capacity, Group, Job},
    events,
    live::Live,
    store::{PgStore, Queue, Registry},
    tickets::TicketClient,
};
use switchboard_runtime::{TenantId, auth::Authenticator};
use switchboard_testkit::TestDb;
use uuid::Uuid;

const REDIS: &str = "redis://127.0.0.1:6379";
const LEASE: Duration = Duration::from_secs(600);

fn job(n: i64) -> Job {
    Job {
        ticket: Uuid::now_v7(),
        version: 1,
        group: "support".into(),
        channel: Channel::Email as i32,
        priority: Priority::Normal as i32,
        skills: vec![],
        language: None,
        sla_due: None,
        created: Utc::now() + chrono::TimeDelta::milliseconds(n),
        rule: None,
    }
}

#[tokio::test]
async fn a_failed_drain_hands_back_the_tickets_it_had_not_tried() -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let pool = db.pool(SERVICE).await?;
    db::migrate(&pool, SERVICE, &MIGRATIONS).await?;
    let store = Arc::new(PgStore::new(pool.clone()));
    let prefix = format!("draintest{}", Uuid::now_v7().simple());
    let live = Live::connect(REDIS, &prefix).await?;
    // Nothing listens there: every assignment fails.
    let port = switchboard_testkit::free_port()?;
    let tickets = TicketClient::new(
        &format!("http://127.0.0.1:{port}"),
        Authenticator::hs256(&SecretString::from("drain-test-secret")),
    )
    .map_err(anyhow::Error::msg)?;
    let router = Router::new(
        store.clone(),
        live,
        tickets,
        RouterOptions {
            lease: LEASE,
            ..RouterOptions::default()
        },
    );
    let t = TenantId::parse("acme").map_err(anyhow::Error::msg)?;
    store
        .create_group(
            &t,
            &Group {
                id: "support".into(),
                display_name: "Support".into(),
                strategy: Default::default(),
                offline_policy: Default::default(),
                on_warning: None,
                on_breach: None,
                version: 0,
            },
        )
        .await?;
    store
        .create_agent(
            &t,
            &Agent {
                user: "ann".into(),
                display_name: "Ann".into(),
                groups: vec!["support".into()],
                skills: BTreeMap::new(),
                languages: vec!["en".into()],
                capacity: Capacity {
                    default: 0,
                    channels: BTreeMap::from([(Channel::Email, 5)]),
                },
                version: 0,
            },
        )
        .await?;
    router
        .set_presence(&t, "ann", Presence::Online, "test")
        .await?;
    let jobs: Vec<Job> = (0..3).map(job).collect();
    for j in &jobs {
        store
            .enqueue(&t, j, Box::new(|n| events::queued(&t, j, n, vec![])))
            .await?;
    }

    let drained = router.drain_for(&t, "ann").await;
    assert!(drained.is_err(), "the ticket service is down: {drained:?}");
    let free = store.lease(&t, None, 10, LEASE).await?;
    assert_eq!(
        free.len(),
        jobs.len(),
        "every waiting ticket is free to lease again"
    );

    pool.close().await;
    crate::seats::forget(&prefix).await?;
    db.drop_db().await
}
