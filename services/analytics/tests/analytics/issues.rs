//! Top issues with subject terms through a real stream and database: a
//! burst of tickets whose subjects share a word makes that term the top,
//! rising issue; stop words and one-off words never show; redelivery and a
//! replay into an empty schema give the same list; bad requests name their
//! field.

use chrono::{DateTime, TimeDelta, Utc};
use switchboard_events::Envelope;
use switchboard_proto::{
    analytics::v1::{self as pb, analytics_service_client::AnalyticsServiceClient},
    common::v1::Channel as Ch,
};
use switchboard_runtime::Role;
use tonic::{Code, transport::Channel};

use crate::helpers::*;

/// Thursday 2026-11-19, UTC: the range's first day.
fn thursday() -> DateTime<Utc> {
    day(2026, 11, 19)
}

/// The range asked for: three days from 00:30, so it is read as whole
/// UTC days, whole hours and half-hour slivers; the baseline is the three
/// days before it.
fn asked() -> (DateTime<Utc>, DateTime<Utc>) {
    let from = at(thursday(), 0, 30);
    (from, from + TimeDelta::days(3))
}

fn ticket(when: DateTime<Utc>, subject: &str, tags: &[&str]) -> Vec<Envelope> {
    let tags: Vec<String> = tags.iter().map(|t| t.to_string()).collect();
    Script::created(when, Ch::Email, None, |t| {
        t.subject = subject.into();
        t.tags = tags;
    })
    .events
}

/// Steady traffic in the baseline and the range, one earlier outage, and
/// the burst: 12 outage tickets in the range (3 of them about the VPN and
/// tagged so), in its slivers, hours and days.
fn script() -> (Vec<Envelope>, Vec<Envelope>) {
    let d = thursday();
    let mut steady = Vec::new();
    for k in 0..4 {
        let offset = TimeDelta::hours(5 + 12 * k);
        steady.extend(ticket(
            d - TimeDelta::days(3) + offset,
            "Password reset",
            &[],
        ));
        steady.extend(ticket(d + offset, "password RESET please", &[]));
    }
    steady.extend(ticket(
        at(d - TimeDelta::days(1), 9, 0),
        "Visit in Berlin",
        &[],
    ));
    // In the baseline's last sliver: [00:00, 00:30) of the range's day.
    steady.extend(ticket(at(d, 0, 20), "Is there an outage?", &[]));
    // After the range: not counted.
    steady.extend(ticket(at(d + TimeDelta::days(3), 0, 40), "Outage", &[]));

    let subjects = [
        (at(d, 0, 40), "VPN outage in Berlin", true),
        (at(d, 0, 50), "Outage: the VPN is down", true),
        (at(d, 10, 5), "OUTAGE again", false),
        (at(d, 10, 15), "outage outage outage", false),
        (at(d, 23, 59), "Is there an outage?", false),
        (at(d + TimeDelta::days(1), 8, 0), "Outage on VPN", true),
        (at(d + TimeDelta::days(1), 9, 0), "Site outage", false),
        (
            at(d + TimeDelta::days(1), 16, 0),
            "Outage — ¿otra vez?",
            false,
        ),
        (at(d + TimeDelta::days(2), 1, 0), "outage?", false),
        (at(d + TimeDelta::days(2), 12, 0), "Another outage", false),
        (at(d + TimeDelta::days(2), 23, 30), "Outage again!", false),
        (at(d + TimeDelta::days(3), 0, 10), "Outage!!", false),
    ];
    let mut burst = Vec::new();
    for (when, subject, vpn) in subjects {
        let tags: &[&str] = if vpn { &["vpn"] } else { &[] };
        burst.extend(ticket(when, subject, tags));
    }
    (steady, burst)
}

async fn top(
    client: &mut AnalyticsServiceClient<Channel>,
    token: &str,
    kinds: &[&str],
    limit: i32,
) -> Result<Vec<pb::TopIssue>, tonic::Status> {
    let (from, to) = asked();
    let request = pb::ListTopIssuesRequest {
        range: Some(range(from, to)),
        limit,
        kinds: kinds.iter().map(|k| k.to_string()).collect(),
    };
    Ok(client
        .list_top_issues(authed(request, token))
        .await?
        .into_inner()
        .issues)
}

fn named(issues: &[pb::TopIssue]) -> Vec<(&str, &str, i64, i64)> {
    issues
        .iter()
        .map(|i| (i.kind.as_str(), i.key.as_str(), i.count, i.baseline_count))
        .collect()
}

fn violated_fields(status: &tonic::Status) -> Vec<String> {
    use tonic_types::StatusExt;
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    status
        .get_details_bad_request()
        .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_burst_of_one_subject_word_is_the_top_rising_issue() -> anyhow::Result<()> {
    let desk = Desk::new().await?;
    let replica = desk.replica().await?;
    let pool = desk.pool().await;
    let mut client = replica.client().await;
    let sup = desk.token("sue", Role::Supervisor);
    let (steady, burst) = script();
    let n = steady.len() + burst.len();
    desk.publish(&steady, false).await?;
    desk.publish(&burst, false).await?;
    Desk::wait_applied(&pool, n as i64).await?;

    let issues = top(&mut client, &sup, &[], 0).await?;
    // Outage: 12 in the range, 1 in the baseline's last sliver → 13 / 2.
    // VPN: 3 in the range as a term and as a tag → 4 / 1; the tag first.
    // Password and reset: 4 against 4 → 1.
    assert_eq!(
        named(&issues),
        [
            ("term", "outage", 12, 1),
            ("tag", "vpn", 3, 0),
            ("term", "vpn", 3, 0),
            ("term", "password", 4, 4),
            ("term", "reset", 4, 4),
        ],
        "{issues:?}"
    );
    assert_eq!(issues[0].growth, 6.5);
    assert!(issues[0].growth > 1.0 && issues[3].growth == 1.0);
    // Stop words (is, there, the, on, again, otra…) and words seen in fewer
    // than 3 tickets (berlin, site, another, vez) never show.
    let terms = top(&mut client, &sup, &["term"], 100).await?;
    assert_eq!(terms.len(), 4, "{terms:?}");
    assert!(terms.iter().all(|i| i.kind == "term"));
    let tags = top(&mut client, &sup, &["tag", "tag"], 1).await?;
    assert_eq!(named(&tags), [("tag", "vpn", 3, 0)]);

    // Bad requests change nothing and name their field.
    let bad = top(&mut client, &sup, &["term", "subject"], 0)
        .await
        .expect_err("unknown kind");
    assert_eq!(violated_fields(&bad), ["kinds"]);
    let bad = top(&mut client, &sup, &["tag", "group", "term", "tag"], 0)
        .await
        .expect_err("too many kinds");
    assert_eq!(violated_fields(&bad), ["kinds"]);
    let bad = top(&mut client, &sup, &[], 101)
        .await
        .expect_err("limit over 100");
    assert_eq!(violated_fields(&bad), ["limit"]);
    let agent = desk.token("ann", Role::Agent);
    let denied = top(&mut client, &agent, &[], 0).await.expect_err("agent");
    assert_eq!(denied.code(), Code::PermissionDenied);

    // The burst again (redelivered), then one more outage in the range:
    // only the new ticket counts.
    desk.publish(&burst, true).await?;
    let more = ticket(at(thursday(), 11, 0), "Outage in the app", &[]);
    desk.publish(&more, false).await?;
    Desk::wait_applied(&pool, n as i64 + 1).await?;
    let after = top(&mut client, &sup, &[], 0).await?;
    assert_eq!(named(&after)[0], ("term", "outage", 13, 1));
    assert_eq!(named(&after)[1..], named(&issues)[1..]);

    // Replayed from the stream into an empty schema by a new consumer
    // (the first replica stopped, so it cannot take the replay's messages):
    // the same list.
    replica.stop().await?;
    desk.js
        .get_stream(&desk.stream.stream)
        .await?
        .delete_consumer(switchboard_analytics::CONSUMER)
        .await?;
    let (settings, replay_db) = desk.replay_desk().await?;
    let replay = start(settings, &desk.nats_url).await?;
    let replay_pool = replay_db.pool("analytics").await?;
    Desk::wait_applied(&replay_pool, n as i64 + 1).await?;
    let mut replay_client = replay.client().await;
    assert_eq!(top(&mut replay_client, &sup, &[], 0).await?, after);
    replay.stop().await?;
    replay_pool.close().await;
    replay_db.drop_db().await?;
    desk.stop(vec![]).await
}
