//! A scripted day of events through a real stream and database: the API's
//! numbers, hand-computed; the same numbers after redelivery and after a
//! replay into an empty schema; the business calendar re-measuring.

use chrono::{DateTime, Utc};
use futures::StreamExt;
use switchboard_events::Envelope;
use switchboard_proto::{
    analytics::v1::{self as pb, analytics_service_client::AnalyticsServiceClient},
    common::v1::Channel as Ch,
    ticket::v1::{self as tpb, TicketStatus as S},
};
use switchboard_runtime::Role;
use tonic::{Code, transport::Channel};

use crate::helpers::*;

/// Monday 2026-11-16, UTC.
fn monday() -> DateTime<Utc> {
    day(2026, 11, 16)
}

/// Five tickets on one Monday; comments give each one's hand-computed
/// metrics (minutes).
fn scripted_day() -> (Vec<Envelope>, usize) {
    let d = monday();
    // T1: email, billing, reply after 30, solved at 60, one-touch, rated 5.
    let t1 = Script::created(at(d, 9, 0), Ch::Email, None, |t| {
        t.tags = vec!["refund".into()]
    })
    .assign(at(d, 9, 5), "ann", "billing")
    .reply(at(d, 9, 30), "ann")
    .status(at(d, 10, 0), S::Solved)
    .rate(at(d, 11, 0), 5);
    // T2: chat; reply after 10; pending 09:20–10:10; solved 10:30 (first
    // resolution 80); reopened 11:00; solved 12:00 (full resolution 170);
    // rated 2. Requester wait 10 + 20 + 60 = 90, agent wait 50.
    let t2 = Script::created(at(d, 9, 10), Ch::Chat, None, |_| {})
        .assign(at(d, 9, 15), "bo", "support")
        .reply(at(d, 9, 20), "bo")
        .status(at(d, 9, 20), S::Pending)
        .customer_writes(at(d, 10, 10))
        .status(at(d, 10, 10), S::Open)
        .reply(at(d, 10, 20), "bo")
        .status(at(d, 10, 30), S::Solved)
        .customer_writes(at(d, 11, 0))
        .status(at(d, 11, 0), S::Open)
        .status(at(d, 12, 0), S::Solved)
        .rate(at(d, 12, 30), 2);
    // T3: an agent logs a phone call at 08:00 (the opening message is
    // hers); an internal note; the first reply at 10:30 (150 calendar
    // minutes, 90 business minutes in 09:00–17:00). Still open.
    let t3 = Script::created(at(d, 8, 0), Ch::Phone, Some("ann"), |t| {
        t.assignee = "ann".into();
        t.group = "support".into();
    })
    .note(at(d, 10, 15), "ann")
    .reply(at(d, 10, 30), "ann");
    // T4: a duplicate of T1, merged at 11:30: created volume only.
    let t4 = Script::created(at(d, 11, 0), Ch::Email, None, |_| {}).merge_into(at(d, 11, 30), &t1);
    // T5: urgent web form with both SLA targets; first reply breached at
    // 14:00, reply 14:30 (90), solved 15:00 (120) within the resolution SLA.
    let t5 = Script::created(at(d, 13, 0), Ch::WebForm, None, |t| {
        t.priority = switchboard_proto::common::v1::Priority::Urgent as i32;
        t.sla = Some(tpb::SlaState {
            first_response_due_time: Some(ts(at(d, 14, 0))),
            resolution_due_time: Some(ts(at(d, 17, 0))),
            ..Default::default()
        });
    })
    .assign(at(d, 13, 5), "ann", "support")
    .breach_first_reply(at(d, 14, 0))
    .reply(at(d, 14, 30), "ann")
    .status(at(d, 15, 0), S::Solved);

    let mut events = Vec::new();
    // T2 arrives backwards: the fold must follow versions, not arrival.
    events.extend(t2.events.iter().rev().cloned());
    for s in [&t1, &t3, &t4, &t5] {
        events.extend(s.events.iter().cloned());
    }
    let n = events.len();
    (events, n)
}

fn stats(e: &Option<pb::ElapsedStats>, business: bool) -> pb::DurationStats {
    let e = e.expect("elapsed stats");
    if business { e.business } else { e.calendar }.expect("samples")
}

fn rate(r: &Option<pb::Rate>) -> (i64, i64) {
    let r = r.expect("rate");
    (r.numerator, r.denominator)
}

/// Everything the API says about the day until 23:00, to compare runs.
async fn everything(
    client: &mut AnalyticsServiceClient<Channel>,
    token: &str,
) -> anyhow::Result<(
    pb::Overview,
    pb::ListAgentStatsResponse,
    pb::QueryTimeSeriesResponse,
    pb::SlaReport,
)> {
    let (from, to) = (monday(), monday() + chrono::TimeDelta::hours(23));
    let o = overview(client, token, from, to).await?;
    let agents = client
        .list_agent_stats(authed(
            pb::ListAgentStatsRequest {
                range: Some(range(from, to)),
                filter: None,
            },
            token,
        ))
        .await?
        .into_inner();
    let series = client
        .query_time_series(authed(
            pb::QueryTimeSeriesRequest {
                metric: pb::Metric::Created as i32,
                bucket: pb::Bucket::Hour as i32,
                range: Some(range(from, to)),
                group_by: pb::GroupBy::Channel as i32,
                ..Default::default()
            },
            token,
        ))
        .await?
        .into_inner();
    let sla = client
        .get_sla_report(authed(
            pb::GetSlaReportRequest {
                range: Some(range(from, to)),
                filter: None,
            },
            token,
        ))
        .await?
        .into_inner();
    Ok((o, agents, series, sla))
}

#[tokio::test]
async fn a_scripted_day_gives_hand_computed_numbers_through_redelivery_and_replay()
-> anyhow::Result<()> {
    let desk = Desk::new().await?;
    let replica = desk.replica().await?;
    let pool = desk.pool().await;
    let mut client = replica.client().await;
    let sup = desk.token("sue", Role::Supervisor);
    let (events, n) = scripted_day();
    desk.publish(&events, false).await?;
    Desk::wait_applied(&pool, n as i64).await?;

    let before = everything(&mut client, &sup).await?;
    let (o, agents, series, sla) = &before;
    assert_eq!(o.created, 5);
    assert_eq!(o.solved, 3, "T1, T2, T5; the merged T4 is not solved");
    assert_eq!((o.backlog_at_start, o.backlog_at_end), (0, 1), "T3 is left");
    let frt = stats(&o.first_reply_time, false);
    // T1 30, T2 10, T3 150, T5 90 minutes.
    assert_eq!(frt.count, 4);
    assert_eq!(frt.mean_seconds, 70.0 * 60.0);
    assert_eq!(frt.median_seconds, 60.0 * 60.0);
    assert_eq!(frt.p90_seconds, 150.0 * 60.0);
    let full = stats(&o.full_resolution_time, false);
    // T1 60, T2 170, T5 120.
    assert_eq!((full.count, full.median_seconds), (3, 120.0 * 60.0));
    assert_eq!(full.mean_seconds, 350.0 * 60.0 / 3.0);
    let first = stats(&o.first_resolution_time, false);
    assert_eq!(first.median_seconds, 80.0 * 60.0, "T2's first solve");
    // Requester wait: T1 60, T2 90, T5 120; agent wait: T2 50, others 0.
    assert_eq!(
        stats(&o.requester_wait_time, false).median_seconds,
        90.0 * 60.0
    );
    assert_eq!(stats(&o.agent_wait_time, false).p90_seconds, 50.0 * 60.0);
    assert_eq!(rate(&o.one_touch), (2, 3), "T1 and T5");
    assert_eq!(rate(&o.reopened), (1, 3), "T2");
    assert_eq!(rate(&o.csat), (1, 2));
    assert_eq!(o.average_score, Some(3.5));
    assert_eq!(rate(&o.sla_first_reply), (0, 1), "T5 breached");
    assert_eq!(rate(&o.sla_resolution), (1, 1), "T5 solved in time");
    // Replies on solved tickets: T1 1, T2 2, T5 1.
    assert_eq!(o.replies_per_solved_ticket, Some(4.0 / 3.0));
    let email = o
        .created_by_channel
        .iter()
        .find(|v| v.key == "email")
        .unwrap();
    assert_eq!(email.count, 2, "T1 and the duplicate T4");

    let ann = agents.agents.iter().find(|a| a.agent == "ann").unwrap();
    assert_eq!((ann.solved, ann.public_replies, ann.load), (2, 3, 1));
    let bo = agents.agents.iter().find(|a| a.agent == "bo").unwrap();
    assert_eq!((bo.solved, bo.public_replies, bo.load), (1, 2, 0));
    assert_eq!(stats(&bo.handle_time, false).median_seconds, 170.0 * 60.0);

    let chat = series.series.iter().find(|s| s.key == "chat").unwrap();
    assert_eq!(chat.points.len(), 23);
    assert_eq!(chat.points[9].value, Some(pb::point::Value::Count(1)));
    let urgent = sla
        .by_priority
        .iter()
        .find(|r| r.priority == "urgent")
        .unwrap();
    assert_eq!(rate(&urgent.first_reply), (0, 1));

    // Redelivery, reversed, changes nothing.
    let mut again = events.clone();
    again.reverse();
    desk.publish(&again, true).await?;
    // A fresh event behind the duplicates proves they were consumed.
    let late = Script::created(at(monday(), 23, 0), Ch::Sms, None, |_| {});
    desk.publish(&late.events, false).await?;
    Desk::wait_applied(&pool, n as i64 + 1).await?;
    let after = everything(&mut client, &sup).await?;
    assert_eq!(after, before, "duplicates changed no number");
    let whole_day = overview(
        &mut client,
        &sup,
        monday(),
        monday() + chrono::TimeDelta::days(1),
    )
    .await?;
    assert_eq!((whole_day.created, whole_day.backlog_at_end), (6, 2));

    // Replay: a new consumer from the stream's start into an empty schema,
    // as operators do it: with the replicas stopped (a running one would
    // recreate its durable consumer and share the replay's events).
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
    let replayed = everything(&mut replay_client, &sup).await?;
    assert_eq!(replayed, after, "a replay gives identical numbers");
    replay.stop().await?;
    replay_db.drop_db().await?;
    let replica = desk.replica().await?;
    let mut client = replica.client().await;

    // Business hours Mon–Fri 09:00–17:00: T3's first reply is 90 business
    // minutes, so the mean is (30 + 10 + 90 + 90) / 4 = 55.
    let admin = desk.token("max", Role::Admin);
    let hours = tpb::BusinessHours {
        time_zone: "UTC".into(),
        hours: (1..=5)
            .map(|weekday| tpb::OpeningHours {
                weekday,
                start_minute: 9 * 60,
                end_minute: 17 * 60,
            })
            .collect(),
        holidays: vec![],
    };
    let denied = client
        .update_business_calendar(authed(
            pb::UpdateBusinessCalendarRequest {
                business_hours: Some(hours.clone()),
            },
            &sup,
        ))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    client
        .update_business_calendar(authed(
            pb::UpdateBusinessCalendarRequest {
                business_hours: Some(hours),
            },
            &admin,
        ))
        .await?;
    let o = overview(
        &mut client,
        &sup,
        monday(),
        monday() + chrono::TimeDelta::days(1),
    )
    .await?;
    assert_eq!(stats(&o.first_reply_time, true).mean_seconds, 55.0 * 60.0);
    assert_eq!(stats(&o.first_reply_time, false).mean_seconds, 70.0 * 60.0);

    desk.stop(vec![replica]).await
}

#[tokio::test]
async fn dashboard_export_and_bad_requests() -> anyhow::Result<()> {
    let desk = Desk::new().await?;
    let replica = desk.replica().await?;
    let pool = desk.pool().await;
    let mut client = replica.client().await;
    let sup = desk.token("sue", Role::Supervisor);
    let agent = desk.token("ann", Role::Agent);
    let (events, n) = scripted_day();
    desk.publish(&events, false).await?;
    Desk::wait_applied(&pool, n as i64).await?;

    let mut watch = client
        .watch_dashboard(authed(pb::WatchDashboardRequest::default(), &agent))
        .await?
        .into_inner();
    let first = watch.next().await.expect("a snapshot")?;
    assert_eq!(first.queue_size, 1, "only T3 is unsolved; merged T4 is out");
    assert_eq!(first.unassigned, 0);
    // A new unassigned ticket now is pushed to the watcher.
    let now = Script::created(Utc::now(), Ch::Email, None, |_| {});
    desk.publish(&now.events, false).await?;
    let pushed = loop {
        let d = tokio::time::timeout(std::time::Duration::from_secs(20), watch.next())
            .await?
            .expect("a snapshot")?;
        if d.queue_size == 2 {
            break d;
        }
    };
    assert_eq!(pushed.unassigned, 1);
    assert_eq!(pushed.today.expect("today").created, 1);

    let mut export = client
        .export_ticket_facts(authed(
            pb::ExportTicketFactsRequest {
                range: Some(range(monday(), monday() + chrono::TimeDelta::days(1))),
                filter: Some(pb::Filter {
                    channels: vec![Ch::Email as i32],
                    ..Default::default()
                }),
            },
            &sup,
        ))
        .await?
        .into_inner();
    let mut csv = String::new();
    while let Some(chunk) = export.next().await {
        csv.push_str(std::str::from_utf8(&chunk?.data)?);
    }
    let lines: Vec<&str> = csv.split_terminator("\r\n").collect();
    assert_eq!(lines.len(), 3, "header, T1 and T4: {csv}");
    assert!(lines[0].starts_with("ticket_id,created_at,channel"));
    assert!(lines[1].contains(",refund,solved,false,"), "{}", lines[1]);

    // Reports are for supervisors; bad input names its field.
    let denied = client
        .get_overview(authed(pb::GetOverviewRequest::default(), &agent))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let bad = client
        .query_time_series(authed(
            pb::QueryTimeSeriesRequest {
                range: Some(range(monday(), monday() - chrono::TimeDelta::hours(1))),
                time_zone: "Mars/Olympus".into(),
                ..Default::default()
            },
            &sup,
        ))
        .await
        .unwrap_err();
    assert_eq!(
        violated_fields(&bad),
        ["range", "metric", "bucket", "time_zone"]
    );
    let too_many = client
        .query_time_series(authed(
            pb::QueryTimeSeriesRequest {
                metric: pb::Metric::Created as i32,
                bucket: pb::Bucket::Hour as i32,
                range: Some(range(monday(), monday() + chrono::TimeDelta::days(100))),
                ..Default::default()
            },
            &sup,
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&too_many), ["range"]);

    desk.stop(vec![replica]).await
}

fn violated_fields(status: &tonic::Status) -> Vec<String> {
    use tonic_types::StatusExt;
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    status
        .get_details_bad_request()
        .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}
