//! A volume spike in one channel against the same hour of the past three
//! weeks emits exactly one `analytics.anomaly_detected`, even when the
//! spike's events are redelivered and the hour keeps growing.

use chrono::{DateTime, TimeDelta, Utc};
use switchboard_events::{Envelope, Payload};
use switchboard_proto::common::v1::Channel as Ch;

use crate::helpers::*;

/// `n` tickets created in the hour starting at `hour`.
fn tickets(hour: DateTime<Utc>, n: i64, channel: Ch) -> Vec<Envelope> {
    (0..n)
        .flat_map(|i| {
            Script::created(hour + TimeDelta::minutes(i * 3), channel, None, |_| {}).events
        })
        .collect()
}

#[tokio::test]
async fn a_chat_spike_emits_one_anomaly() -> anyhow::Result<()> {
    let desk = Desk::new().await?;
    let replica = desk.replica().await?;
    let pool = desk.pool().await;
    let hour = at(day(2026, 11, 16), 10, 0);

    // Three weeks of 10 emails in this hour, then 10 emails and 8 chats:
    // overall 18 stays under 10 + 3·√10 ≈ 19.5, chat rises from 0 to 8.
    let mut history = Vec::new();
    for week in 1..=3 {
        history.extend(tickets(hour - TimeDelta::weeks(week), 10, Ch::Email));
    }
    desk.publish(&history, false).await?;
    let mut spike = tickets(hour, 10, Ch::Email);
    spike.extend(tickets(hour, 8, Ch::Chat));
    desk.publish(&spike, false).await?;
    Desk::wait_applied(&pool, 48).await?;

    let anomalies = |events: Vec<Envelope>| -> Vec<_> {
        events
            .into_iter()
            .filter_map(|e| match e.payload {
                Some(Payload::AnalyticsAnomalyDetected(a)) => Some((e.r#type, a)),
                _ => None,
            })
            .collect()
    };
    let found = anomalies(desk.events(48 + 1).await?);
    assert_eq!(found.len(), 1, "{found:?}");
    let (kind, anomaly) = &found[0];
    assert_eq!(kind, "analytics.anomaly_detected");
    assert_eq!(
        (anomaly.kind.as_str(), anomaly.key.as_str()),
        ("volume_spike", "channel:chat")
    );
    assert_eq!(anomaly.expected, 0.0);
    assert!(anomaly.observed >= 5.0, "{anomaly:?}");
    assert_eq!(anomaly.window_start_time, Some(ts(hour)));

    // Redelivered spike events and one more chat in the same hour: the
    // window was announced, so nothing new (overall 19 is still normal).
    desk.publish(&spike, true).await?;
    let one_more = tickets(hour + TimeDelta::minutes(59), 1, Ch::Chat);
    desk.publish(&one_more, false).await?;
    Desk::wait_applied(&pool, 49).await?;
    let found = anomalies(desk.events(48 + 18 + 1 + 1).await?);
    assert_eq!(found.len(), 1, "still one anomaly: {found:?}");
    let recorded: i64 = sqlx::query_scalar("SELECT count(*) FROM anomalies")
        .fetch_one(&pool)
        .await?;
    assert_eq!(recorded, 1);

    desk.stop(vec![replica]).await
}
