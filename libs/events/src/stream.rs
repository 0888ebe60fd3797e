//! The one JetStream stream every service publishes to.

use std::time::Duration;

use async_nats::jetstream::{
    self,
    stream::{Config, DiscardPolicy, RetentionPolicy, StorageType},
};
use switchboard_runtime::config::EventSettings;

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
