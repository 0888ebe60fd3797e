//! Reactor lanes: no idempotency record, per-aggregate order, overlap across
//! aggregates, and redelivery of a failed reaction.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use prost::Message;
use switchboard_events::consumer::{self, ConsumerConfig, HandlerError, Reactor};
use switchboard_proto::events::v1::Envelope;
use switchboard_testkit::{nats_url, wait_for};
use tokio_util::sync::CancellationToken;

use crate::{created, setup};

/// Records the versions each aggregate was seen with, how many reactions
/// overlapped at most, and fails `flaky`'s first attempt.
#[derive(Default)]
struct Recorder {
    seen: crate::Versions,
    in_flight: AtomicUsize,
    most: AtomicUsize,
    failed_once: Mutex<bool>,
}

#[async_trait::async_trait]
impl Reactor for Recorder {
    async fn react(&self, event: &Envelope) -> Result<(), HandlerError> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(5)).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        if event.aggregate_id == "flaky" {
            let mut failed = self.failed_once.lock().unwrap();
            if !*failed {
                *failed = true;
                return Err(HandlerError("first attempt fails".into()));
            }
        }
        self.seen.record(event);
        Ok(())
    }
}

#[tokio::test]
async fn reactor_lanes_keep_each_aggregates_order_overlap_others_and_retry_failures()
-> anyhow::Result<()> {
    let (db, _, stream, js) = setup().await?;
    let mut events = Vec::new();
    for version in 1..=5 {
        for a in 0..8 {
            events.push(created("acme", &format!("t{a}"), version));
        }
    }
    events.push(created("acme", "flaky", 1));
    for env in &events {
        js.publish(
            format!("{}.acme.ticket.created", stream.prefix),
            env.encode_to_vec().into(),
        )
        .await?
        .await?;
    }
    let recorder = Arc::new(Recorder::default());
    let stop = CancellationToken::new();
    let config = ConsumerConfig::new(
        "reacting",
        format!("{}.*.ticket.>", stream.prefix),
        Duration::from_millis(50),
    );
    let task = tokio::spawn(consumer::run_reactor_lanes(
        js.get_stream(&stream.stream).await?,
        config,
        recorder.clone(),
        4,
        stop.clone(),
    ));
    wait_for(Duration::from_secs(10), "every event reacted to", || {
        let recorder = recorder.clone();
        async move {
            let seen = recorder.seen.lock();
            seen.len() == 9 && seen.values().map(Vec::len).sum::<usize>() == 41
        }
    })
    .await?;
    stop.cancel();
    task.await??;

    let seen = recorder.seen.lock().clone();
    for a in 0..8 {
        assert_eq!(
            seen[&format!("t{a}")],
            [1, 2, 3, 4, 5],
            "t{a} in stream order"
        );
    }
    assert_eq!(seen["flaky"], [1], "the failed reaction came back once");
    assert!(
        recorder.most.load(Ordering::SeqCst) > 1,
        "different aggregates were handled side by side"
    );
    stream.delete(&nats_url()).await?;
    db.drop_db().await
}
