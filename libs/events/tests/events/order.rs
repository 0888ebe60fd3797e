//! Per-aggregate order under failure: a failed event is retried in place,
//! never overtaken by its aggregate's later events.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use prost::Message;
use switchboard_events::consumer::{self, ConsumerConfig, HandlerError, Reactor};
use switchboard_proto::events::v1::Envelope;
use switchboard_testkit::{nats_url, wait_for};
use tokio_util::sync::CancellationToken;

use crate::{created, setup};

/// Records versions per aggregate; `a`'s version 2 fails its first two
/// attempts.
#[derive(Default)]
struct FailV2Twice {
    seen: crate::Versions,
    failures: Mutex<u32>,
}

#[async_trait::async_trait]
impl Reactor for FailV2Twice {
    async fn react(&self, event: &Envelope) -> Result<(), HandlerError> {
        if event.aggregate_id == "a" && event.aggregate_version == 2 {
            let mut failures = self.failures.lock().unwrap();
            if *failures < 2 {
                *failures += 1;
                return Err(HandlerError("v2 fails".into()));
            }
        }
        self.seen.record(event);
        Ok(())
    }
}

#[tokio::test]
async fn a_failing_event_is_never_overtaken_by_its_aggregates_later_events() -> anyhow::Result<()> {
    let (db, _, stream, js) = setup().await?;
    for version in 1..=5 {
        for aggregate in ["a", "b"] {
            js.publish(
                format!("{}.acme.ticket.created", stream.prefix),
                created("acme", aggregate, version).encode_to_vec().into(),
            )
            .await?
            .await?;
        }
    }
    let reactor = Arc::new(FailV2Twice::default());
    let stop = CancellationToken::new();
    let config = ConsumerConfig::new(
        "ordered",
        format!("{}.*.ticket.>", stream.prefix),
        Duration::from_millis(20),
    );
    let task = tokio::spawn(consumer::run_reactor_lanes(
        js.get_stream(&stream.stream).await?,
        config,
        reactor.clone(),
        4,
        stop.clone(),
    ));
    wait_for(Duration::from_secs(10), "both aggregates applied", || {
        let reactor = reactor.clone();
        async move {
            let seen = reactor.seen.lock();
            seen.values().map(Vec::len).sum::<usize>() == 10
        }
    })
    .await?;
    stop.cancel();
    task.await??;
    let seen = reactor.seen.lock().clone();
    assert_eq!(*reactor.failures.lock().unwrap(), 2, "v2 failed twice");
    assert_eq!(seen["a"], [1, 2, 3, 4, 5], "a applied in order");
    assert_eq!(seen["b"], [1, 2, 3, 4, 5], "b applied in order");
    stream.delete(&nats_url()).await?;
    db.drop_db().await
}
