//! Poison events go to the dead letters after `max_deliver` attempts and
//! the events after them flow; a dead letter replays; a consumer whose
//! stream is deleted under it comes back once it is recreated.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use prost::Message;
use switchboard_events::{
    consumer::{BatchHandler, Consumer, ConsumerConfig, ConsumerState, HandlerError, Reactor},
    deadletter::DeadLetters,
    stream::ensure_stream,
};
use switchboard_proto::events::v1::Envelope;
use switchboard_testkit::{nats_url, wait_for};
use tokio_util::sync::CancellationToken;

use crate::{created, event_settings, setup};

/// Records versions per aggregate; `poison` v2 fails until `healed`.
#[derive(Default)]
struct Poisoned {
    seen: crate::Versions,
    attempts: AtomicUsize,
    healed: AtomicBool,
}

impl Poisoned {
    fn check(&self, event: &Envelope) -> Result<(), HandlerError> {
        if event.aggregate_id == "poison"
            && event.aggregate_version == 2
            && !self.healed.load(Ordering::SeqCst)
        {
            self.attempts.fetch_add(1, Ordering::SeqCst);
            return Err(HandlerError("cannot apply v2".into()));
        }
        Ok(())
    }

    fn record(&self, event: &Envelope) {
        self.seen.record(event);
    }

    fn count(&self) -> usize {
        self.seen.lock().values().map(Vec::len).sum()
    }
}

#[async_trait::async_trait]
impl Reactor for Poisoned {
    async fn react(&self, event: &Envelope) -> Result<(), HandlerError> {
        self.check(event)?;
        self.record(event);
        Ok(())
    }
}

#[async_trait::async_trait]
impl BatchHandler for Poisoned {
    async fn handle_batch(&self, events: &[Envelope]) -> Result<(), HandlerError> {
        for e in events {
            self.check(e)?;
        }
        for e in events {
            self.record(e);
        }
        Ok(())
    }
}

async fn publish_versions(
    js: &async_nats::jetstream::Context,
    prefix: &str,
    aggregates: &[&str],
) -> anyhow::Result<()> {
    for version in 1..=3 {
        for a in aggregates {
            js.publish(
                format!("{prefix}.acme.ticket.created"),
                created("acme", a, version).encode_to_vec().into(),
            )
            .await?
            .await?;
        }
    }
    Ok(())
}

async fn poison_reaches_the_dead_letters(batched: bool) -> anyhow::Result<()> {
    let (db, _, stream, js) = setup().await?;
    let settings = event_settings(&stream);
    publish_versions(&js, &stream.prefix, &["poison", "fine"]).await?;
    let handler = Arc::new(Poisoned::default());
    let mut config = ConsumerConfig::new(
        "poisoned",
        format!("{}.*.ticket.>", stream.prefix),
        Duration::from_millis(10),
    )
    .with_settings(&settings);
    config.retry_max_delay = Duration::from_millis(20);
    assert_eq!(config.max_deliver, 3);
    let dead = DeadLetters::new(js.clone(), &settings);
    let consumer = if batched {
        Consumer::batched(config, handler.clone(), 16)
    } else {
        Consumer::reactor(config, handler.clone()).lanes(4)
    };
    let stop = CancellationToken::new();
    let task = tokio::spawn(consumer.dead_letters(dead.clone()).run(
        js.clone(),
        stream.stream.clone(),
        stop.clone(),
    ));

    wait_for(
        Duration::from_secs(10),
        "all but the poison applied",
        || {
            let handler = handler.clone();
            async move { handler.count() == 5 }
        },
    )
    .await?;
    {
        let seen = handler.seen.lock();
        assert_eq!(seen["fine"], [1, 2, 3]);
        assert_eq!(
            seen["poison"],
            [1, 3],
            "v3 flowed once v2 was dead-lettered"
        );
    }
    // A failed batch blames none of its events: the poison then has its
    // `max_deliver` attempts of its own.
    assert_eq!(
        handler.attempts.load(Ordering::SeqCst),
        3 + usize::from(batched),
        "max_deliver attempts"
    );
    let letters = dead.list(Some("poisoned")).await?;
    assert_eq!(letters.len(), 1, "{letters:?}");
    let letter = &letters[0];
    assert_eq!(letter.consumer, "poisoned");
    assert_eq!(letter.error, "cannot apply v2");
    assert_eq!(letter.attempts, 3);
    assert_eq!(
        letter.subject,
        format!("{}.acme.ticket.created", stream.prefix)
    );
    let event = letter.event().expect("the event's bytes");
    assert_eq!(
        (event.aggregate_id.as_str(), event.aggregate_version),
        ("poison", 2)
    );

    // Once the cause is fixed, a replay applies it and empties the list.
    handler.healed.store(true, Ordering::SeqCst);
    dead.replay(letter.sequence).await?;
    wait_for(
        Duration::from_secs(10),
        "the replayed event applied",
        || {
            let handler = handler.clone();
            async move { handler.count() == 6 }
        },
    )
    .await?;
    assert_eq!(handler.seen.lock()["poison"], [1, 3, 2]);
    assert!(dead.list(None).await?.is_empty());

    stop.cancel();
    task.await?;
    stream.delete(&nats_url()).await?;
    db.drop_db().await
}

#[tokio::test]
async fn a_poison_event_is_dead_lettered_after_max_deliver_and_later_events_flow()
-> anyhow::Result<()> {
    poison_reaches_the_dead_letters(false).await
}

#[tokio::test]
async fn in_batch_mode_one_poison_event_does_not_hold_back_its_batch() -> anyhow::Result<()> {
    poison_reaches_the_dead_letters(true).await
}

#[tokio::test]
async fn a_consumer_whose_stream_is_deleted_comes_back_when_it_is_recreated() -> anyhow::Result<()>
{
    let (db, _, stream, js) = setup().await?;
    let settings = event_settings(&stream);
    let handler = Arc::new(Poisoned::default());
    let consumer = Consumer::reactor(
        ConsumerConfig::new(
            "phoenix",
            format!("{}.*.ticket.>", stream.prefix),
            Duration::from_millis(10),
        ),
        handler.clone(),
    );
    let health = consumer.health();
    assert_eq!(health.state(), ConsumerState::Starting);
    assert!(health.check().is_err());
    let stop = CancellationToken::new();
    let task = tokio::spawn(consumer.run(js.clone(), stream.stream.clone(), stop.clone()));

    let mut states = health.subscribe();
    states.wait_for(|s| *s == ConsumerState::Up).await?;
    publish_versions(&js, &stream.prefix, &["before"]).await?;
    wait_for(
        Duration::from_secs(10),
        "events before the deletion",
        || {
            let handler = handler.clone();
            async move { handler.count() == 3 }
        },
    )
    .await?;

    js.delete_stream(&stream.stream).await?;
    tokio::time::timeout(
        Duration::from_secs(60),
        states.wait_for(|s| matches!(s, ConsumerState::Down(_))),
    )
    .await??;
    let why = health.check().unwrap_err();
    assert!(why.contains("phoenix"), "{why}");

    ensure_stream(&js, &settings).await?;
    tokio::time::timeout(
        Duration::from_secs(60),
        states.wait_for(|s| *s == ConsumerState::Up),
    )
    .await??;
    assert!(health.check().is_ok());
    publish_versions(&js, &stream.prefix, &["after"]).await?;
    wait_for(
        Duration::from_secs(10),
        "events after the recreation",
        || {
            let handler = handler.clone();
            async move { handler.count() == 6 }
        },
    )
    .await?;
    assert_eq!(handler.seen.lock()["after"], [1, 2, 3]);

    stop.cancel();
    task.await?;
    stream.delete(&nats_url()).await?;
    db.drop_db().await
}

#[tokio::test]
async fn looking_at_dead_letters_that_never_were_finds_none_and_creates_nothing()
-> anyhow::Result<()> {
    let (db, _, stream, js) = setup().await?;
    let dead = DeadLetters::new(js.clone(), &event_settings(&stream));
    assert!(dead.list(None).await?.is_empty());
    let err = dead.replay(1).await.unwrap_err().to_string();
    assert!(err.contains("no dead letter 1"), "{err}");
    assert!(
        js.get_stream(format!("{}_DLQ", stream.stream))
            .await
            .is_err(),
        "no dead-letter stream was created"
    );
    stream.delete(&nats_url()).await?;
    db.drop_db().await
}
