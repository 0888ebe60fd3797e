//! A jump in the SLA breach rate of one hour against the week before it
//! emits exactly one `analytics.anomaly_detected` saying it is the breach
//! rate, even when the hour's events are redelivered and it keeps
//! breaching.

use chrono::{DateTime, TimeDelta, Utc};
use switchboard_events::{Envelope, Payload};
use switchboard_proto::{common::v1::Channel as Ch, events::v1 as ev, ticket::v1 as tpb};

use crate::helpers::*;

/// The hour that jumps: Wednesday 2026-11-18, 14:00 UTC.
fn hour() -> DateTime<Utc> {
    at(day(2026, 11, 18), 14, 0)
}

/// A ticket created at `created` with a first-reply target due at `due`,
/// then answered in time at `reply`, or breached at `due`.
fn ticket(created: DateTime<Utc>, due: DateTime<Utc>, reply: Option<DateTime<Utc>>) -> Script {
    let s = Script::created(created, Ch::Email, None, |t| {
        t.sla = Some(tpb::SlaState {
            first_response_due_time: Some(ts(due)),
            ..Default::default()
        });
    });
    match reply {
        Some(when) => s.reply(when, "ann"),
        None => s.breach_first_reply(due),
    }
}

/// `met` targets met and `breached` breached, all decided from `start`
/// on, two minutes apart, for tickets created two hours before.
fn decided(start: DateTime<Utc>, met: i64, breached: i64) -> Vec<Envelope> {
    (0..met + breached)
        .flat_map(|i| {
            let decided = start + TimeDelta::minutes(2 * i);
            let created = decided - TimeDelta::hours(2);
            let script = if i < met {
                ticket(created, decided + TimeDelta::minutes(30), Some(decided))
            } else {
                ticket(created, decided, None)
            };
            script.events
        })
        .collect()
}

fn anomalies(events: Vec<Envelope>) -> Vec<(String, ev::AnalyticsAnomalyDetected)> {
    events
        .into_iter()
        .filter_map(|e| match e.payload {
            Some(Payload::AnalyticsAnomalyDetected(a)) => Some((e.r#type, a)),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_breach_rate_jump_emits_one_anomaly() -> anyhow::Result<()> {
    let desk = Desk::new().await?;
    let replica = desk.replica().await?;
    let pool = desk.pool().await;

    // The day before: 28 of 30 first replies in time (a 2/30 breach rate).
    let baseline = decided(hour() - TimeDelta::days(1), 28, 2);
    desk.publish(&baseline, false).await?;
    Desk::wait_applied(&pool, baseline.len() as i64).await?;
    // Nothing unusual yet.
    let quiet = anomalies(desk.events(baseline.len()).await?);
    assert!(quiet.is_empty(), "{quiet:?}");

    // The hour: 5 in time, then 20 breached.
    let jump = decided(hour(), 5, 20);
    desk.publish(&jump, false).await?;
    let applied = baseline.len() + jump.len();
    Desk::wait_applied(&pool, applied as i64).await?;
    let found = anomalies(desk.events(applied + 1).await?);
    assert_eq!(found.len(), 1, "{found:?}");
    let (kind, anomaly) = &found[0];
    assert_eq!(kind, "analytics.anomaly_detected");
    assert_eq!(
        (anomaly.kind.as_str(), anomaly.key.as_str()),
        ("sla_breach_rate", "all")
    );
    assert_eq!(anomaly.window_start_time, Some(ts(hour())));
    assert_eq!(
        anomaly.window_end_time,
        Some(ts(hour() + TimeDelta::hours(1)))
    );
    assert!((anomaly.expected - 2.0 / 30.0).abs() < 1e-12, "{anomaly:?}");
    // Announced once at least 20 targets were decided in the hour, at
    // most 5 of them met; which batch crossed the line is the consumer's.
    assert!(
        (0.75..=0.8 + 1e-12).contains(&anomaly.observed),
        "{anomaly:?}"
    );
    assert!(anomaly.score >= 3.0, "{anomaly:?}");

    // The hour's events redelivered, and one more breach in it: the
    // window was announced, so nothing new.
    desk.publish(&jump, true).await?;
    let more = decided(hour() + TimeDelta::minutes(55), 0, 1);
    desk.publish(&more, false).await?;
    Desk::wait_applied(&pool, (applied + more.len()) as i64).await?;
    let total = applied + jump.len() + more.len() + 1;
    let found = anomalies(desk.events(total).await?);
    assert_eq!(found.len(), 1, "still one anomaly: {found:?}");
    let recorded: Vec<(String, String)> = sqlx::query_as("SELECT kind, key FROM anomalies")
        .fetch_all(&pool)
        .await?;
    assert_eq!(recorded, [("sla_breach_rate".into(), "all".into())]);

    desk.stop(vec![replica]).await
}
