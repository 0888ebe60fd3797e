//! Claims and their leases against real PostgreSQL: a claimed delivery is
//! no one else's until its lease runs out or it is released, an outcome
//! counts only under the claim that is current, a stopping dispatcher
//! hands back what it claimed but never started, and every queued delivery
//! names a notification recorded with it.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use switchboard_notification::{
    batch::{apply_batch, apply_batch_handing},
    consumer::{HandlerConfig, Notifier},
    dispatch::Dispatcher,
    domain::retry::RetryPolicy,
    email::{EmailSender, OutgoingEmail, SendError},
    handoff::Handoff,
    store::{Outcome, PgStore},
    webhook::{PostError, WebhookClient},
};
use switchboard_testkit::TestDb;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::helpers::TicketSpec;

const HOUR: Duration = Duration::from_secs(3600);

fn notifier() -> Notifier {
    Notifier {
        config: HandlerConfig {
            domain: "desk.example.com".into(),
            survey_url: String::new(),
            max_attempts: 3,
        },
    }
}

/// A dispatcher sending through `gate`, with hour-long claims.
fn dispatcher(store: &PgStore, gate: &Arc<Gate>, concurrency: usize) -> Dispatcher {
    Dispatcher {
        store: store.clone(),
        email: gate.clone(),
        webhooks: gate.clone(),
        policy: RetryPolicy {
            max_attempts: 3,
            base: Duration::from_millis(50),
            max: Duration::from_millis(400),
        },
        poll: Duration::from_millis(50),
        concurrency,
        lease: HOUR,
        wake: Arc::new(Notify::new()),
        relay_wake: Arc::new(Notify::new()),
    }
}

/// A migrated schema with one catch-all webhook and `events` tickets
/// created through the consumer's batch path.
async fn queued(events: usize) -> anyhow::Result<(TestDb, PgStore, i64)> {
    let (db, store) =
        crate::helpers::store_with_catch_all_webhook("http://127.0.0.1:9/hook").await?;
    let batch: Vec<_> = (0..events)
        .map(|i| TicketSpec::new(i as i64 + 1, "Claims").created_by("ann@example.com"))
        .collect();
    apply_batch(store.pool(), "notification-test", &notifier(), &batch).await?;
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM deliveries")
        .fetch_one(store.pool())
        .await?;
    anyhow::ensure!(total >= events as i64, "each ticket reaches the webhook");
    Ok((db, store, total))
}

#[tokio::test]
async fn a_claim_holds_until_released_or_run_out_and_only_the_current_one_records()
-> anyhow::Result<()> {
    let (db, store, total) = queued(1).await?;
    let first = store.claim_due(100, HOUR).await?;
    assert_eq!(first.len() as i64, total);
    assert!(
        store.claim_due(100, HOUR).await?.is_empty(),
        "claimed deliveries are no one else's"
    );

    // Released under its own claim, it is due again at once.
    let mine: Vec<_> = first.iter().map(|c| (c.id, c.leased_until)).collect();
    store.release(&mine).await?;
    let short = store.claim_due(100, Duration::from_millis(200)).await?;
    assert_eq!(short.len() as i64, total);
    let c = &short[0];
    assert_eq!(c.attempts, 0);

    // Once that lease runs out, the next claim takes it over.
    let waited = std::time::Instant::now();
    let current = loop {
        let next = store.claim_due(100, HOUR).await?;
        if let Some(n) = next.into_iter().find(|n| n.id == c.id) {
            break n;
        }
        anyhow::ensure!(
            waited.elapsed() < Duration::from_secs(10),
            "the lapsed claim was never taken over"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(current.leased_until > c.leased_until);
    assert_eq!(current.attempts, 0, "a lapsed claim made no attempt");

    // The lapsed claim can neither release nor record it any more.
    store.release(&[(c.id, c.leased_until)]).await?;
    assert!(store.claim_due(100, HOUR).await?.is_empty());
    let delivered = Outcome::Delivered { status: 204 };
    let mut tx = store.pool().begin().await?;
    let stale = PgStore::finish(&mut tx, &[(c.id, c.leased_until, &delivered)]).await?;
    assert!(stale.is_empty());
    let recorded = PgStore::finish(&mut tx, &[(c.id, current.leased_until, &delivered)]).await?;
    assert_eq!(recorded.into_iter().collect::<Vec<_>>(), [c.id]);
    // Recorded once: the same claim cannot finish it twice.
    let again = PgStore::finish(&mut tx, &[(c.id, current.leased_until, &delivered)]).await?;
    assert!(again.is_empty());
    tx.commit().await?;
    let (status, attempts): (String, i32) =
        sqlx::query_as("SELECT status, attempts FROM deliveries WHERE id = $1")
            .bind(c.id)
            .fetch_one(store.pool())
            .await?;
    assert_eq!((status.as_str(), attempts), ("delivered", 1));
    store.pool().close().await;
    db.drop_db().await
}

/// Both transports: every send counts, and waits for a permit.
struct Gate {
    started: AtomicUsize,
    sending: Notify,
    open: Semaphore,
}

impl Gate {
    fn closed() -> Self {
        Self {
            started: AtomicUsize::new(0),
            sending: Notify::new(),
            open: Semaphore::new(0),
        }
    }

    async fn pass(&self) {
        self.started.fetch_add(1, Ordering::SeqCst);
        self.sending.notify_one();
        self.open.acquire().await.expect("open").forget();
    }
}

#[async_trait::async_trait]
impl EmailSender for Gate {
    async fn send(&self, _: &OutgoingEmail) -> Result<(), SendError> {
        self.pass().await;
        Ok(())
    }
}

#[async_trait::async_trait]
impl WebhookClient for Gate {
    async fn post(&self, _: &str, _: &str, _: &str, _: &str, _: &[u8]) -> Result<u16, PostError> {
        self.pass().await;
        Ok(204)
    }
}

#[tokio::test]
async fn a_stopping_dispatcher_finishes_its_send_and_releases_what_it_did_not_start()
-> anyhow::Result<()> {
    let (db, store, total) = queued(6).await?;
    let gate = Arc::new(Gate::closed());
    // One send at a time: the claimer keeps more claimed behind it.
    let dispatcher = dispatcher(&store, &gate, 1);
    let stop = CancellationToken::new();
    let running = tokio::spawn(dispatcher.run(None, stop.clone()));
    gate.sending.notified().await;
    stop.cancel();
    gate.open.add_permits(1);
    tokio::time::timeout(Duration::from_secs(30), running).await??;

    assert_eq!(
        gate.started.load(Ordering::SeqCst),
        1,
        "nothing starts after stop"
    );
    let (delivered, announced): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM deliveries WHERE status = 'delivered' AND attempts = 1), \
                (SELECT count(*) FROM outbox)",
    )
    .fetch_one(store.pool())
    .await?;
    assert_eq!(
        (delivered, announced),
        (1, 1),
        "the send in flight is recorded and announced"
    );
    // Claimed but never started, the rest are due again at once, not an
    // hour later; none was attempted.
    let rest = store.claim_due(100, HOUR).await?;
    assert_eq!(rest.len() as i64, total - 1);
    assert!(rest.iter().all(|c| c.attempts == 0));
    store.pool().close().await;
    db.drop_db().await
}

#[tokio::test]
async fn every_delivery_of_a_batch_with_repeats_names_its_own_recorded_notification()
-> anyhow::Result<()> {
    let (db, store, _) = queued(0).await?;
    let handler = notifier();
    let a = TicketSpec::new(1, "Repeat").created_by("ann@example.com");
    let b = TicketSpec::new(2, "Once").created_by("bob@example.com");
    let batch = [a.clone(), b.clone(), a.clone(), a];
    apply_batch(store.pool(), "notification-test", &handler, &batch).await?;
    apply_batch(store.pool(), "notification-other", &handler, &batch).await?;

    // No key ties a delivery to its notification any more: the consumer
    // does, queueing deliveries only for notifications it just recorded.
    let (deliveries, matched, distinct): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*), count(n.id), count(DISTINCT d.notification_id) \
         FROM deliveries d LEFT JOIN notifications n \
           ON n.id = d.notification_id AND n.event_id = d.event_id AND n.channel = d.channel",
    )
    .fetch_one(store.pool())
    .await?;
    let expected: i64 =
        sqlx::query_scalar("SELECT count(*) FROM notifications WHERE channel <> 'in_app'")
            .fetch_one(store.pool())
            .await?;
    assert!(expected >= 2, "both tickets reach the webhook");
    assert_eq!(
        (deliveries, matched, distinct),
        (expected, expected, expected)
    );
    let per_event: Vec<i64> = sqlx::query_scalar(
        "SELECT count(*) FROM deliveries WHERE channel = 'webhook' GROUP BY event_id ORDER BY 1",
    )
    .fetch_all(store.pool())
    .await?;
    assert_eq!(
        per_event,
        [1, 1],
        "one webhook delivery per event, repeats or not"
    );
    store.pool().close().await;
    db.drop_db().await
}

#[tokio::test]
async fn the_consumer_hands_its_dispatcher_what_fits_and_leaves_the_rest_to_claims()
-> anyhow::Result<()> {
    let (db, store, _) = queued(0).await?;
    let (handoff, handed) = Handoff::new(store.clone(), HOUR, 2);
    let batch: Vec<_> = (0..5)
        .map(|i| TicketSpec::new(i + 1, "Handed").created_by("ann@example.com"))
        .collect();
    apply_batch_handing(
        store.pool(),
        "notification-test",
        &notifier(),
        &batch,
        Some(&handoff),
    )
    .await?;
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM deliveries")
        .fetch_one(store.pool())
        .await?;
    assert!(total >= 5);
    // Two fit: they are claimed already, the rest are due for any claim.
    let rest = store.claim_due(100, HOUR).await?;
    assert_eq!(rest.len() as i64, total - 2);

    let gate = Arc::new(Gate::closed());
    gate.open.add_permits(100);
    let stop = CancellationToken::new();
    let running = tokio::spawn(dispatcher(&store, &gate, 4).run(Some(handed), stop.clone()));
    let mut delivered = Vec::new();
    let waited = std::time::Instant::now();
    while delivered.len() < 2 {
        anyhow::ensure!(
            waited.elapsed() < Duration::from_secs(30),
            "the handed deliveries were never sent"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        delivered = sqlx::query_scalar(
            "SELECT id FROM deliveries WHERE status = 'delivered' AND attempts = 1",
        )
        .fetch_all(store.pool())
        .await?;
    }
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(30), running).await??;
    assert_eq!(gate.started.load(Ordering::SeqCst), 2, "each sent once");
    assert!(
        delivered
            .iter()
            .all(|id: &Uuid| rest.iter().all(|c| c.id != *id))
    );
    let announced: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox")
        .fetch_one(store.pool())
        .await?;
    assert_eq!(announced, 2);
    store.pool().close().await;
    db.drop_db().await
}

#[tokio::test]
async fn deliveries_handed_to_a_stopped_dispatcher_are_released() -> anyhow::Result<()> {
    let (db, store, _) = queued(0).await?;
    let (handoff, handed) = Handoff::new(store.clone(), HOUR, 10);
    let event = TicketSpec::new(1, "Late").created_by("ann@example.com");
    let mut tx = store.pool().begin().await?;
    let claimed = notifier()
        .apply_handing(&mut tx, &[&event], Some(&handoff))
        .await?;
    assert!(!claimed.is_empty());
    tx.commit().await?;
    assert!(
        store.claim_due(100, HOUR).await?.is_empty(),
        "queued claimed"
    );
    // The dispatcher stops between the commit and the handing over.
    drop(handed);
    let n = claimed.len();
    handoff.hand(claimed).await;
    assert_eq!(store.claim_due(100, HOUR).await?.len(), n);
    // And once it has stopped, nothing more is claimed for it.
    let next = TicketSpec::new(2, "Later").created_by("ann@example.com");
    let mut tx = store.pool().begin().await?;
    let claimed = notifier()
        .apply_handing(&mut tx, &[&next], Some(&handoff))
        .await?;
    tx.commit().await?;
    assert!(claimed.is_empty());
    assert!(!store.claim_due(100, HOUR).await?.is_empty());
    store.pool().close().await;
    db.drop_db().await
}
