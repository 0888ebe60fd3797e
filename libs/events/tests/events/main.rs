//! Outbox, relay and consumer against the real PostgreSQL and NATS JetStream.

use std::{collections::HashMap, sync::Arc, time::Duration};

use async_nats::jetstream::{self, consumer::pull};
use futures::StreamExt;
use prost::Message;
use sqlx::{PgConnection, PgPool};
use switchboard_events::{
    EventBuilder, Payload, combined_migrator,
    consumer::{self, ConsumerConfig, Handler, HandlerError, Outcome},
    outbox,
    relay::{Relay, RelayConfig, lock_key},
    stream::ensure_stream,
};
use switchboard_proto::events::v1::{Envelope, TicketCreated};
use switchboard_runtime::{TenantId, config::EventSettings};
use switchboard_testkit::{TestDb, TestStream, connect_nats, nats_url, wait_for};
use tokio_util::sync::CancellationToken;

/// The versions each aggregate was applied with, in the order applied.
#[derive(Debug, Default)]
pub struct Versions(std::sync::Mutex<HashMap<String, Vec<i64>>>);

impl Versions {
    /// Notes that `event` was applied.
    pub fn record(&self, event: &Envelope) {
        self.lock()
            .entry(event.aggregate_id.clone())
            .or_default()
            .push(event.aggregate_version);
    }

    /// The versions by aggregate id.
    pub fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<i64>>> {
        self.0.lock().expect("a test handler panicked")
    }
}

mod dead;
mod order;
mod reactor;
mod trace;

static NO_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate::Migrator::DEFAULT;

fn event_settings(stream: &TestStream) -> EventSettings {
    EventSettings {
        stream: stream.stream.clone(),
        subject_prefix: stream.prefix.clone(),
        stream_replicas: 1,
        duplicate_window_seconds: 120,
        max_age_hours: 1,
        relay_batch_size: 7,
        relay_poll_interval_ms: 20,
        max_deliver: 3,
        dead_letter_max_age_hours: 1,
    }
}

async fn setup() -> anyhow::Result<(TestDb, PgPool, TestStream, jetstream::Context)> {
    let db = TestDb::create().await?;
    let pool = db.pool("svc").await?;
    combined_migrator(&NO_MIGRATIONS).run(&pool).await?;
    let stream = TestStream::unique();
    let js = jetstream::new(connect_nats(&nats_url()).await?);
    ensure_stream(&js, &event_settings(&stream)).await?;
    Ok((db, pool, stream, js))
}

fn created(tenant: &str, aggregate: &str, version: i64) -> Envelope {
    EventBuilder::new(
        &TenantId::parse(tenant).unwrap(),
        "ticket",
        aggregate,
        version,
    )
    .build("created", Payload::TicketCreated(TicketCreated::default()))
}

/// The test stream's relay settings.
fn relay_config(stream: &TestStream, batch_size: u32, poll_interval: Duration) -> RelayConfig {
    RelayConfig {
        subject_prefix: stream.prefix.clone(),
        batch_size,
        poll_interval,
        lock_key: lock_key(&stream.prefix),
    }
}

async fn read_all(
    js: &jetstream::Context,
    stream: &TestStream,
    expected: usize,
) -> anyhow::Result<Vec<(String, String, Envelope)>> {
    let s = js.get_stream(&stream.stream).await?;
    let consumer = s
        .create_consumer(pull::Config {
            deliver_policy: jetstream::consumer::DeliverPolicy::All,
            ack_policy: jetstream::consumer::AckPolicy::None,
            ..Default::default()
        })
        .await?;
    let mut out = Vec::new();
    let mut messages = consumer.messages().await?;
    while out.len() < expected {
        let next = tokio::time::timeout(Duration::from_secs(10), messages.next())
            .await
            .map_err(|_| anyhow::anyhow!("only {} of {expected} events arrived", out.len()))?;
        let m = next.expect("stream ended")?;
        let msg_id = m
            .headers
            .as_ref()
            .and_then(|h| h.get("Nats-Msg-Id"))
            .map(|v| v.to_string())
            .unwrap_or_default();
        out.push((
            m.subject.to_string(),
            msg_id,
            Envelope::decode(m.payload.clone())?,
        ));
    }
    // Nothing beyond what was expected.
    let extra = tokio::time::timeout(Duration::from_millis(300), messages.next()).await;
    assert!(extra.is_err(), "more events than expected on the stream");
    Ok(out)
}

#[tokio::test]
async fn relay_publishes_every_outbox_row_in_order_with_its_id() -> anyhow::Result<()> {
    let (db, pool, stream, js) = setup().await?;
    let mut written = Vec::new();
    for version in 1..=5 {
        for aggregate in ["a", "b", "c"] {
            let env = created("acme", aggregate, version);
            let mut tx = pool.begin().await?;
            outbox::append(&mut tx, &env).await?;
            tx.commit().await?;
            written.push(env);
        }
    }
    // A rolled-back change leaves no event behind.
    let mut tx = pool.begin().await?;
    outbox::append(&mut tx, &created("acme", "ghost", 1)).await?;
    tx.rollback().await?;

    let relay = Relay::new(
        pool.clone(),
        js.clone(),
        relay_config(&stream, 7, Duration::from_millis(20)),
    );
    let stop = CancellationToken::new();
    let task = tokio::spawn(relay.run(stop.clone(), Duration::from_secs(5)));

    let got = read_all(&js, &stream, written.len()).await?;
    for ((subject, msg_id, env), sent) in got.iter().zip(&written) {
        assert_eq!(subject, &format!("{}.acme.ticket.created", stream.prefix));
        assert_eq!(msg_id, &sent.id);
        assert_eq!(env, sent);
    }
    let mut conn = pool.acquire().await?;
    wait_for(Duration::from_secs(5), "outbox to drain", || {
        let pool = pool.clone();
        async move {
            outbox::pending(&mut pool.acquire().await.unwrap())
                .await
                .unwrap()
                == 0
        }
    })
    .await?;
    assert_eq!(outbox::pending(&mut conn).await?, 0);

    stop.cancel();
    task.await?;
    stream.delete(&nats_url()).await?;
    db.drop_db().await
}

/// Rows a round published stay until the next round, which deletes them in
/// the statement that reads on; stopping runs that round, so a relay that
/// shuts down leaves nothing to publish again. One `append_all` keeps the
/// order of its events.
#[tokio::test]
async fn published_rows_go_with_the_next_round_or_at_shutdown() -> anyhow::Result<()> {
    let (db, pool, stream, js) = setup().await?;
    let written: Vec<Envelope> = ["c", "a", "b"]
        .into_iter()
        .map(|aggregate| created("acme", aggregate, 1))
        .collect();
    let mut tx = pool.begin().await?;
    outbox::append_all(&mut tx, &written).await?;
    tx.commit().await?;

    // No idle round during the test: only stopping runs one.
    let relay = Relay::new(
        pool.clone(),
        js.clone(),
        relay_config(&stream, 7, Duration::from_secs(3600)),
    );
    let stop = CancellationToken::new();
    let task = tokio::spawn(relay.run(stop.clone(), Duration::from_secs(5)));

    let got = read_all(&js, &stream, written.len()).await?;
    let ids: Vec<&str> = got.iter().map(|(_, id, _)| id.as_str()).collect();
    let sent: Vec<&str> = written.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, sent, "published in the order appended");
    let mut conn = pool.acquire().await?;
    assert_eq!(
        outbox::pending(&mut conn).await?,
        3,
        "published rows wait for the next round"
    );

    stop.cancel();
    task.await?;
    assert_eq!(
        outbox::pending(&mut conn).await?,
        0,
        "stopping deleted them"
    );
    drop(conn);
    stream.delete(&nats_url()).await?;
    db.drop_db().await
}

#[tokio::test]
async fn only_one_relay_publishes_at_a_time() -> anyhow::Result<()> {
    let (db, pool, stream, js) = setup().await?;
    let config = RelayConfig {
        subject_prefix: stream.prefix.clone(),
        batch_size: 3,
        poll_interval: Duration::from_millis(5),
        lock_key: lock_key(&stream.prefix),
    };
    let stop = CancellationToken::new();
    let relays: Vec<_> = (0..3)
        .map(|_| {
            let relay = Relay::new(pool.clone(), js.clone(), config.clone());
            tokio::spawn(relay.run(stop.clone(), Duration::from_secs(5)))
        })
        .collect();
    let mut written = Vec::new();
    for version in 1..=40 {
        let env = created("acme", "one-ticket", version);
        let mut tx = pool.begin().await?;
        outbox::append(&mut tx, &env).await?;
        tx.commit().await?;
        written.push(env);
    }
    let got = read_all(&js, &stream, written.len()).await?;
    let versions: Vec<i64> = got.iter().map(|(_, _, e)| e.aggregate_version).collect();
    assert_eq!(
        versions,
        (1..=40).collect::<Vec<_>>(),
        "per-aggregate order"
    );
    stop.cancel();
    for r in relays {
        r.await?;
    }
    stream.delete(&nats_url()).await?;
    db.drop_db().await
}

#[tokio::test]
async fn one_aggregates_backlog_does_not_hold_back_the_others() -> anyhow::Result<()> {
    let (db, pool, stream, js) = setup().await?;
    // a has three events in a row; b, c and d one each after them.
    let order = [("a", 1), ("a", 2), ("a", 3), ("b", 1), ("c", 1), ("d", 1)];
    for (aggregate, version) in order {
        let mut tx = pool.begin().await?;
        outbox::append(&mut tx, &created("acme", aggregate, version)).await?;
        tx.commit().await?;
    }
    let relay = Relay::new(
        pool.clone(),
        js.clone(),
        relay_config(&stream, 10, Duration::from_millis(20)),
    );
    let stop = CancellationToken::new();
    let task = tokio::spawn(relay.run(stop.clone(), Duration::from_secs(5)));
    let got: Vec<(String, i64)> = read_all(&js, &stream, order.len())
        .await?
        .into_iter()
        .map(|(_, _, e)| (e.aggregate_id, e.aggregate_version))
        .collect();
    stop.cancel();
    task.await?;
    let position = |a: &str, v: i64| got.iter().position(|e| *e == (a.to_owned(), v)).unwrap();
    assert!(position("a", 1) < position("a", 2) && position("a", 2) < position("a", 3));
    for other in ["b", "c", "d"] {
        assert!(
            position(other, 1) < position("a", 2),
            "{other} went out in the first round, beside a's first event: {got:?}"
        );
    }
    stream.delete(&nats_url()).await?;
    db.drop_db().await
}

/// Counts how many times each ticket was handled, in the consumer's own table.
struct CountingHandler;

#[async_trait::async_trait]
impl Handler for CountingHandler {
    async fn handle(&self, tx: &mut PgConnection, event: &Envelope) -> Result<(), HandlerError> {
        sqlx::query(
            "INSERT INTO handled (aggregate_id, times) VALUES ($1, 1) \
             ON CONFLICT (aggregate_id) DO UPDATE SET times = handled.times + 1",
        )
        .bind(&event.aggregate_id)
        .execute(&mut *tx)
        .await?;
        if event.aggregate_id == "poison-once" {
            let seen: i64 = sqlx::query_scalar("SELECT count(*) FROM failures")
                .fetch_one(&mut *tx)
                .await?;
            if seen == 0 {
                // Recorded outside the transaction so the failure is remembered.
                return Err(HandlerError("first attempt fails".into()));
            }
        }
        Ok(())
    }
}

#[tokio::test]
async fn redelivered_and_republished_events_are_applied_once() -> anyhow::Result<()> {
    let (db, pool, stream, js) = setup().await?;
    sqlx::query("CREATE TABLE handled (aggregate_id TEXT PRIMARY KEY, times INT NOT NULL)")
        .execute(&pool)
        .await?;
    sqlx::query("CREATE TABLE failures (n INT)")
        .execute(&pool)
        .await?;

    // Direct: the same event twice is applied once.
    let env = created("acme", "direct", 1);
    assert_eq!(
        consumer::process(&pool, "c1", &env, &CountingHandler)
            .await
            .unwrap(),
        Outcome::Applied
    );
    assert_eq!(
        consumer::process(&pool, "c1", &env, &CountingHandler)
            .await
            .unwrap(),
        Outcome::Duplicate
    );
    // A failing handler commits nothing, not even the idempotency record.
    let poison = created("acme", "poison-once", 1);
    assert!(
        consumer::process(&pool, "c1", &poison, &CountingHandler)
            .await
            .is_err()
    );
    let times: Option<i32> =
        sqlx::query_scalar("SELECT times FROM handled WHERE aggregate_id = 'poison-once'")
            .fetch_optional(&pool)
            .await?;
    assert_eq!(times, None);
    sqlx::query("INSERT INTO failures VALUES (1)")
        .execute(&pool)
        .await?;

    // Through JetStream: publish each event twice under different message ids
    // (a producer retry outside the duplicate window), plus the poison event.
    let events: Vec<_> = (1..=10)
        .map(|v| created("acme", &format!("t{v}"), 1))
        .collect();
    for env in events.iter().chain(std::iter::once(&poison)) {
        for copy in 0..2 {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Nats-Msg-Id", format!("{}-{copy}", env.id).as_str());
            js.publish_with_headers(
                format!("{}.acme.ticket.created", stream.prefix),
                headers,
                env.encode_to_vec().into(),
            )
            .await?
            .await?;
        }
    }
    let s = js.get_stream(&stream.stream).await?;
    let stop = CancellationToken::new();
    let config = ConsumerConfig::new(
        "counting",
        format!("{}.*.ticket.>", stream.prefix),
        Duration::from_millis(50),
    );
    let task = tokio::spawn(consumer::run(
        s.clone(),
        pool.clone(),
        config,
        Arc::new(CountingHandler),
        stop.clone(),
    ));

    wait_for(Duration::from_secs(10), "every event handled", || {
        let pool = pool.clone();
        async move {
            let n: i64 =
                sqlx::query_scalar("SELECT count(*) FROM handled WHERE aggregate_id LIKE 't%'")
                    .fetch_one(&pool)
                    .await
                    .unwrap();
            n == 10
        }
    })
    .await?;
    wait_for(Duration::from_secs(10), "all messages acked", || {
        let s = s.clone();
        async move {
            let Ok(mut c) = s.get_consumer::<pull::Config>("counting").await else {
                return false;
            };
            c.info()
                .await
                .map(|i| i.num_ack_pending == 0 && i.num_pending == 0)
                .unwrap_or(false)
        }
    })
    .await?;
    stop.cancel();
    task.await??;

    let rows: Vec<(String, i32)> =
        sqlx::query_as("SELECT aggregate_id, times FROM handled ORDER BY aggregate_id")
            .fetch_all(&pool)
            .await?;
    let rows: HashMap<_, _> = rows.into_iter().collect();
    assert_eq!(rows.len(), 12, "{rows:?}");
    assert!(
        rows.values().all(|&t| t == 1),
        "each event applied exactly once: {rows:?}"
    );
    stream.delete(&nats_url()).await?;
    db.drop_db().await
}

#[tokio::test]
async fn old_idempotency_records_are_purged_and_recent_ones_kept() -> anyhow::Result<()> {
    let (db, pool, _stream, _js) = setup().await?;
    for (consumer, age_hours) in [
        ("notify", 200),
        ("notify", 200),
        ("notify", 200),
        ("notify", 1),
        ("other", 200),
    ] {
        sqlx::query(
            "INSERT INTO processed_events (consumer, event_id, processed_at) \
             VALUES ($1, $2, now() - make_interval(hours => $3))",
        )
        .bind(consumer)
        .bind(uuid::Uuid::now_v7())
        .bind(age_hours)
        .execute(&pool)
        .await?;
    }
    let week = Duration::from_secs(7 * 24 * 3600);
    let removed = consumer::purge_processed(&pool, "notify", week, 2).await?;
    assert_eq!(removed, 3, "three old records, removed two at a time");
    let left: Vec<(String, i64)> = sqlx::query_as(
        "SELECT consumer, count(*) FROM processed_events GROUP BY consumer ORDER BY consumer",
    )
    .fetch_all(&pool)
    .await?;
    assert_eq!(left, [("notify".to_owned(), 1), ("other".to_owned(), 1)]);
    db.drop_db().await
}
