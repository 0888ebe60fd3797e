//! The one JetStream stream every service publishes to.

use std::time::Duration;

use async_nats::jetstream::{
    self,
    stream::{Config, DiscardPolicy, RetentionPolicy, StorageType},
};
use switchboard_runtime::{Backoff, config::EventSettings};

/// The stream configuration Switchboard creates when the stream is absent;
/// `deploy/nats/` documents the same for operators who create it themselves.
pub fn stream_config(settings: &EventSettings) -> Config {
    Config {
        name: settings.stream.clone(),
        subjects: vec![format!("{}.>", settings.subject_prefix)],
        retention: RetentionPolicy::Limits,
        storage: StorageType::File,
        discard: DiscardPolicy::Old,
        num_replicas: settings.stream_replicas,
        duplicate_window: Duration::from_secs(settings.duplicate_window_seconds),
        max_age: Duration::from_secs(settings.max_age_hours * 3600),
        ..Default::default()
    }
}

/// Returns the stream, creating it when absent.
pub async fn ensure_stream(
    js: &jetstream::Context,
    settings: &EventSettings,
) -> Result<jetstream::stream::Stream, jetstream::context::CreateStreamError> {
    js.get_or_create_stream(stream_config(settings)).await
}

/// Connects to NATS without waiting for the server: the client keeps
/// retrying in the background, and the relay and readiness checks see the
/// outage instead of the process failing to start.
pub async fn connect(url: &str) -> Result<async_nats::Client, async_nats::ConnectError> {
    async_nats::ConnectOptions::new()
        .name("switchboard")
        .retry_on_initial_connect()
        .connect(url)
        .await
}

/// Like [`connect`], for a connection that only serves live streams
/// (core NATS subscriptions feeding `Watch…` RPCs): each subscription holds
/// at most `subscription_capacity` messages, and NATS drops what a
/// subscriber cannot take (logged and counted) instead of buffering 65,536
/// messages per subscriber.
pub async fn connect_for_streams(
    url: &str,
    subscription_capacity: usize,
) -> Result<async_nats::Client, async_nats::ConnectError> {
    async_nats::ConnectOptions::new()
        .name("switchboard-streams")
        .subscription_capacity(subscription_capacity)
        .event_callback(|event| async move {
            if let async_nats::Event::SlowConsumer(sid) = event {
                metrics::counter!("nats_slow_consumer_total").increment(1);
                tracing::warn!(
                    sid,
                    "a live stream's NATS subscription overflowed; messages dropped"
                );
            }
        })
        .retry_on_initial_connect()
        .connect(url)
        .await
}

/// Creates the stream once NATS answers, retrying until `stop`.
pub async fn ensure_stream_eventually(
    js: jetstream::Context,
    settings: EventSettings,
    stop: tokio_util::sync::CancellationToken,
) {
    let mut backoff = Backoff::default();
    loop {
        match ensure_stream(&js, &settings).await {
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(error = %e, stream = %settings.stream, "cannot create the event stream yet")
            }
        }
        if !backoff.wait(&stop).await {
            return;
        }
    }
}

/// The stream `name`, once it exists (another task creates it); `None` if
/// `stop` comes first.
pub async fn wait_for_stream(
    js: &jetstream::Context,
    name: &str,
    stop: &tokio_util::sync::CancellationToken,
) -> Option<jetstream::stream::Stream> {
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
    loop {
        match js.get_stream(name).await {
            Ok(stream) => return Some(stream),
            Err(e) => tracing::debug!(error = %e, "event stream not there yet"),
        }
        if !backoff.wait(stop).await {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stream operators create by hand (deploy/nats/stream.json) is the
    /// one the services would create, but for production's three replicas.
    #[test]
    fn the_documented_stream_matches_the_default_one() {
        let documented: serde_json::Value =
            serde_json::from_str(include_str!("../../../deploy/nats/stream.json"))
                .expect("valid JSON");
        let settings =
            switchboard_runtime::Settings::load_with_vars(None, Vec::new()).expect("defaults load");
        let ours = stream_config(&settings.events);
        assert_eq!(documented["name"], ours.name);
        assert_eq!(documented["subjects"], serde_json::json!(ours.subjects));
        assert_eq!(documented["retention"], "limits");
        assert_eq!(ours.retention, RetentionPolicy::Limits);
        assert_eq!(documented["storage"], "file");
        assert_eq!(ours.storage, StorageType::File);
        assert_eq!(documented["discard"], "old");
        assert_eq!(ours.discard, DiscardPolicy::Old);
        assert_eq!(
            documented["duplicate_window"],
            ours.duplicate_window.as_nanos() as u64
        );
        assert_eq!(documented["max_age"], ours.max_age.as_nanos() as u64);
        assert_eq!(documented["num_replicas"], 3);
    }
}
