//! Every handler the shared consumer calls runs in the trace its event was
//! published in.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::{propagation::TraceContextPropagator, trace::SdkTracerProvider};
use prost::Message;
use sqlx::PgConnection;
use switchboard_events::consumer::{
    BatchHandler, Consumer, ConsumerConfig, Handler, HandlerError, Reactor,
};
use switchboard_proto::events::v1::{Envelope, TraceContext};
use switchboard_testkit::{nats_url, wait_for};
use tokio_util::sync::CancellationToken;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;

use crate::{created, setup};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

/// The trace id of the span each event was handled in, per event id.
#[derive(Default)]
struct TraceRecorder {
    seen: Mutex<Vec<(String, String)>>,
}

impl TraceRecorder {
    fn record(&self, event: &Envelope) {
        let trace_id = tracing::Span::current()
            .context()
            .span()
            .span_context()
            .trace_id()
            .to_string();
        self.seen.lock().unwrap().push((event.id.clone(), trace_id));
    }
}

#[async_trait::async_trait]
impl Reactor for TraceRecorder {
    async fn react(&self, event: &Envelope) -> Result<(), HandlerError> {
        self.record(event);
        Ok(())
    }
}

#[async_trait::async_trait]
impl Handler for TraceRecorder {
    async fn handle(&self, _tx: &mut PgConnection, event: &Envelope) -> Result<(), HandlerError> {
        self.record(event);
        Ok(())
    }
}

#[async_trait::async_trait]
impl BatchHandler for TraceRecorder {
    async fn handle_batch(&self, events: &[Envelope]) -> Result<(), HandlerError> {
        for event in events {
            self.record(event);
        }
        Ok(())
    }
}

/// An event published inside trace [`TRACE_ID`].
fn traced(aggregate: &str) -> Envelope {
    let mut env = created("acme", aggregate, 1);
    env.trace = Some(TraceContext {
        traceparent: format!("00-{TRACE_ID}-00f067aa0ba902b7-01"),
        tracestate: String::new(),
    });
    env
}

#[tokio::test]
async fn recorded_reactor_and_batched_handlers_run_in_the_events_trace() -> anyhow::Result<()> {
    // A current-thread runtime: the subscriber set here sees every task.
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let provider = SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    let _default = tracing::subscriber::set_default(subscriber);

    let (db, pool, stream, js) = setup().await?;
    let events: Vec<Envelope> = ["a", "b", "c"].into_iter().map(traced).collect();
    for env in &events {
        js.publish(
            format!("{}.acme.ticket.created", stream.prefix),
            env.encode_to_vec().into(),
        )
        .await?
        .await?;
    }
    let stop = CancellationToken::new();
    let s = js.get_stream(&stream.stream).await?;
    let config = |name: &str| {
        ConsumerConfig::new(
            name,
            format!("{}.*.ticket.>", stream.prefix),
            Duration::from_millis(50),
        )
    };
    let recorders: Vec<(&str, Arc<TraceRecorder>)> = ["recorded", "reactor", "batched"]
        .into_iter()
        .map(|name| (name, Arc::new(TraceRecorder::default())))
        .collect();
    let consumers = [
        Consumer::recorded(config("recorded"), pool.clone(), recorders[0].1.clone()),
        Consumer::reactor(config("reactor"), recorders[1].1.clone()),
        Consumer::batched(config("batched"), recorders[2].1.clone(), 10),
    ];
    let tasks: Vec<_> = consumers
        .into_iter()
        .map(|c| {
            let (s, stop) = (s.clone(), stop.clone());
            tokio::spawn(async move { c.run_once(s, &stop).await })
        })
        .collect();
    let expected = events.len();
    for (name, recorder) in &recorders {
        wait_for(Duration::from_secs(10), name, || {
            let recorder = recorder.clone();
            async move { recorder.seen.lock().unwrap().len() >= expected }
        })
        .await?;
    }
    stop.cancel();
    for task in tasks {
        task.await??;
    }
    for (name, recorder) in &recorders {
        let seen = recorder.seen.lock().unwrap().clone();
        assert_eq!(seen.len(), events.len(), "{name}: {seen:?}");
        for (event_id, trace_id) in &seen {
            assert_eq!(
                trace_id, TRACE_ID,
                "{name} handled {event_id} outside its trace"
            );
        }
    }
    stream.delete(&nats_url()).await?;
    db.drop_db().await
}
