//! The aggregate path against the fact path on real PostgreSQL: the
//! scripted week goes through the ingest in small batches, so stored facts
//! change (reopens, group and agent moves, new tags and priorities) and
//! their aggregate rows must be corrected; after each batch every report
//! read from rows and samples equals the same report computed fact by fact
//! with `switchboard-kpi` (medians and p90s read from histogram buckets
//! within the documented 1/128; exactly on the exact path), top issues
//! with subject terms included. Rebuilding the rows from the facts, and
//! replaying the events into an empty schema in reverse, give the very
//! same rows, term counts included.

use std::collections::BTreeSet;

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;
use sqlx::PgPool;
use switchboard_analytics::issues::{self, IssueKind, Kinds};
use switchboard_analytics::query::{self, Filter};
use switchboard_analytics::report::{self, Desk, SeriesAsk};
use switchboard_analytics::{Ingest, calendar, remeasure, state};
use switchboard_kpi::fact::Priority;
use switchboard_kpi::overview::{self as kpi, Bucket, GroupBy, Metric, Value};
use switchboard_kpi::{Basis, Range, TicketFact};
use switchboard_proto::ticket::v1 as tpb;
use switchboard_testkit::TestDb;

use crate::helpers::TENANT;
use crate::near::{close, close_kpi, close_pb, filters};
use crate::week::{batches, monday, subjects};

async fn fresh() -> anyhow::Result<(TestDb, PgPool)> {
    let db = TestDb::create().await?;
    let pool = db.pool("analytics").await?;
    switchboard_events::db::migrate(&pool, "analytics", &switchboard_analytics::MIGRATIONS).await?;
    // Berlin, Monday to Friday 09:00–17:00: the rows' days are Berlin days.
    let hours = tpb::BusinessHours {
        time_zone: "Europe/Berlin".into(),
        hours: (1..=5)
            .map(|weekday| tpb::OpeningHours {
                weekday,
                start_minute: 9 * 60,
                end_minute: 17 * 60,
            })
            .collect(),
        holidays: vec![],
    };
    let cal = calendar::from_proto(Some(&hours), "hours").expect("valid");
    remeasure(&pool, TENANT, Some(&hours), &cal).await?;
    Ok((db, pool))
}

type Rows = Vec<(i16, i16, DateTime<Utc>, Vec<u8>, Vec<u8>)>;
type TermRows = Vec<(i16, DateTime<Utc>, String, i64)>;

/// Every stored row the reports read, in a fixed order.
async fn snapshot(pool: &PgPool) -> anyhow::Result<(Rows, i64, TermRows)> {
    let rows = sqlx::query_as(
        "SELECT grain, dim, start, nums, hist FROM aggregates ORDER BY grain, dim, start",
    )
    .fetch_all(pool)
    .await?;
    let hours: i64 = sqlx::query_scalar("SELECT count(*) FROM fact_hours")
        .fetch_one(pool)
        .await?;
    let terms = sqlx::query_as(
        "SELECT grain, start, term, count FROM term_volume ORDER BY grain, start, term",
    )
    .fetch_all(pool)
    .await?;
    Ok((rows, hours, terms))
}

/// Every report over several ranges and filters, both ways.
async fn compare(pool: &PgPool, zone: Tz) -> anyhow::Result<()> {
    let facts: Vec<TicketFact> =
        sqlx::query_scalar::<_, String>("SELECT fact::text FROM ticket_facts")
            .fetch_all(pool)
            .await?
            .iter()
            .map(|j| serde_json::from_str(j))
            .collect::<Result<_, _>>()?;
    let desk = Desk {
        pool,
        tenant: TENANT,
        zone,
    };
    let m = monday();
    let ranges = [
        // Partial hours and partial days at both ends.
        Range::new(
            m + TimeDelta::milliseconds(26_243_500),
            m + TimeDelta::seconds(567_665),
        ),
        // Whole Berlin days, Monday to Friday.
        Range::new(
            m - TimeDelta::hours(1),
            m + TimeDelta::days(5) - TimeDelta::hours(1),
        ),
        // Two days or less: computed exactly.
        Range::new(
            m + TimeDelta::hours(34),
            m + TimeDelta::minutes(64 * 60 + 30),
        ),
        // Everything.
        Range::new(m - TimeDelta::days(1), m + TimeDelta::days(14)),
    ];
    let all: Vec<&TicketFact> = facts.iter().collect();
    // The live queue from the fact columns and the latest samples, at a
    // few instants just after replies (so agents are active then).
    let replies: BTreeSet<_> = facts
        .iter()
        .flat_map(|f| f.replies.iter().map(|r| r.at))
        .collect();
    for now in replies
        .iter()
        .step_by(17)
        .map(|at| *at + TimeDelta::minutes(9))
    {
        let want = query::queue(&all, now);
        let (size, unassigned, desk, oldest) = state::queue(pool, TENANT).await?;
        assert_eq!(
            (size, unassigned, desk),
            (want.size, want.unassigned, want.waiting_on_desk)
        );
        let wait = oldest.map_or(0.0, |c| (now - c).num_seconds().max(0) as f64);
        assert_eq!(wait, want.longest_first_reply_wait, "at {now}");
        let active = state::active_agents(pool, TENANT, now, query::ACTIVE_WINDOW).await?;
        assert_eq!(active, want.agents_active, "at {now}");
        assert!(want.agents_active > 0 && want.size > 0);
    }
    let subjects = subjects();
    let kinds: Kinds = IssueKind::ALL.into_iter().collect();
    let mut terms_ranked = 0;
    for range in ranges {
        let short = range.to - range.from <= report::EXACT_UP_TO;
        let got = report::top_issues(desk, range, &kinds, 100).await?;
        assert_eq!(
            got,
            issues::top_issues(&all, &subjects, range, &kinds, 100),
            "top issues {range:?}"
        );
        terms_ranked += got.iter().filter(|i| i.kind == IssueKind::Term).count();
        for filter in filters() {
            let strict = short;
            let what = format!("{range:?} {filter:?}");
            let selected: Vec<&TicketFact> = facts.iter().filter(|f| filter.matches(f)).collect();
            let want = query::overview(&selected, range);
            let mut got = report::overview(desk, range, &filter).await?;
            for (g, w) in [
                (&mut got.first_reply_time, &want.first_reply_time),
                (&mut got.first_resolution_time, &want.first_resolution_time),
                (&mut got.full_resolution_time, &want.full_resolution_time),
                (&mut got.requester_wait_time, &want.requester_wait_time),
                (&mut got.agent_wait_time, &want.agent_wait_time),
            ] {
                close_pb(g, w, strict, &what);
            }
            assert_eq!(got, want, "overview {what}");
            if filter.is_empty() {
                assert!(
                    want.created > 0 && want.solved > 0,
                    "the range holds tickets: {what}"
                );
            }

            let want = kpi::agents(selected.iter().copied(), range);
            let mut got = report::agents(desk, range, &filter).await?;
            assert_eq!(got.len(), want.len(), "agents {what}");
            for (g, w) in got.iter_mut().zip(&want) {
                close_kpi(&mut g.handle_time, &w.handle_time, strict, &what);
            }
            assert_eq!(got, want, "agents {what}");

            let (total, by) = report::sla(desk, range, &filter).await?;
            for (metric, measure) in [
                (
                    Metric::SlaFirstReply,
                    switchboard_analytics::cells::Measure::SlaFirstReply,
                ),
                (
                    Metric::SlaResolution,
                    switchboard_analytics::cells::Measure::SlaResolution,
                ),
            ] {
                let want = kpi::measure(selected.iter().copied(), metric, range);
                assert_eq!(Value::Rate(total.rate(measure)), want, "sla {what}");
                for p in [
                    Priority::Urgent,
                    Priority::High,
                    Priority::Normal,
                    Priority::Low,
                ] {
                    let want = kpi::measure(
                        selected.iter().copied().filter(|f| f.priority == p),
                        metric,
                        range,
                    );
                    let got = by
                        .get(p.as_str())
                        .map(|c| c.rate(measure))
                        .unwrap_or_default();
                    assert_eq!(Value::Rate(got), want, "sla {p:?} {what}");
                }
            }
        }
    }
    assert!(
        terms_ranked > 10,
        "subject terms were ranked: {terms_ranked}"
    );
    let [two_channels, one_tag, two_dims] = [1, 2, 3].map(|i| filters()[i].clone());
    let (berlin, kolkata) = (chrono_tz::Europe::Berlin, chrono_tz::Asia::Kolkata);
    let none = Filter::default;
    let asks = [
        (
            Metric::Created,
            Bucket::Day,
            berlin,
            Some(GroupBy::Tag),
            none(),
        ),
        (
            Metric::FirstReplyTime(Basis::Business),
            Bucket::Day,
            berlin,
            None,
            none(),
        ),
        (
            Metric::Backlog,
            Bucket::Day,
            berlin,
            Some(GroupBy::Group),
            none(),
        ),
        (
            Metric::FullResolutionTime(Basis::Calendar),
            Bucket::Hour,
            chrono_tz::UTC,
            None,
            none(),
        ),
        (Metric::Csat, Bucket::Week, berlin, None, none()),
        (
            Metric::SlaFirstReply,
            Bucket::Day,
            kolkata,
            Some(GroupBy::Priority),
            none(),
        ),
        (
            Metric::AgentWaitTime(Basis::Calendar),
            Bucket::Day,
            berlin,
            Some(GroupBy::Assignee),
            none(),
        ),
        (
            Metric::Created,
            Bucket::Day,
            berlin,
            None,
            two_channels.clone(),
        ),
        (
            Metric::Solved,
            Bucket::Day,
            berlin,
            Some(GroupBy::Channel),
            two_channels,
        ),
        (
            Metric::RequesterWaitTime(Basis::Calendar),
            Bucket::Day,
            berlin,
            Some(GroupBy::Tag),
            one_tag.clone(),
        ),
        (Metric::Backlog, Bucket::Hour, berlin, None, one_tag),
        (
            Metric::AverageScore,
            Bucket::Day,
            berlin,
            Some(GroupBy::Assignee),
            two_dims.clone(),
        ),
        (
            Metric::Backlog,
            Bucket::Day,
            kolkata,
            Some(GroupBy::Channel),
            two_dims,
        ),
    ];
    for range in [ranges[0], ranges[2]] {
        for (metric, bucket, tz, group, filter) in asks.clone() {
            let strict = range.to - range.from <= report::EXACT_UP_TO;
            let what = format!("{metric:?} {bucket:?} {tz} {group:?} {filter:?} {range:?}");
            let selected = facts.iter().filter(|f| filter.matches(f));
            let want = kpi::series(selected, metric, bucket, tz, range, group);
            let ask = SeriesAsk {
                metric,
                bucket,
                tz,
                range,
                group,
                filter,
            };
            let mut got = report::series(desk, &ask).await?;
            assert_eq!(got.len(), want.len(), "{what}");
            for (g, w) in got.iter_mut().zip(&want) {
                for (gp, wp) in g.points.iter_mut().zip(&w.points) {
                    if let (Value::Duration(Some(g)), Value::Duration(Some(w))) =
                        (&mut gp.value, &wp.value)
                    {
                        close(g, w, strict, &what);
                    }
                }
            }
            assert_eq!(got, want, "{what}");
        }
    }
    Ok(())
}

#[tokio::test]
async fn aggregate_rows_give_the_fact_path_numbers_through_changes_rebuilds_and_replay()
-> anyhow::Result<()> {
    let (db, pool) = fresh().await?;
    let zone = chrono_tz::Europe::Berlin;
    let ingest = Ingest::new(pool.clone());
    let batches = batches();
    for batch in &batches {
        // Small transactions: a ticket's events land in several, so its
        // stored fact (and its share of the rows) changes in between.
        for chunk in batch.chunks(97) {
            ingest.apply(chunk).await?;
        }
        compare(&pool, zone).await?;
    }
    let odd: i64 = sqlx::query_scalar("SELECT count(*) FROM ticket_facts WHERE $1 = ANY(tags)")
        .bind(crate::week::ODD_TAG)
        .fetch_one(&pool)
        .await?;
    assert!(odd > 10, "tags are stored as they are: {odd}");
    let before = snapshot(&pool).await?;
    assert!(
        before.0.len() > 500 && before.1 > 250,
        "rows were written: {} aggregate rows, {} hour index entries",
        before.0.len(),
        before.1
    );
    let keys: BTreeSet<i16> = before.0.iter().map(|r| r.1).collect();
    assert_eq!(keys.len(), 7, "every dimension has rows");
    let terms: BTreeSet<&str> = before.2.iter().map(|r| r.2.as_str()).collect();
    assert!(
        terms.contains("refund") && terms.contains("rückerstattung") && !terms.contains("the"),
        "subject terms are counted: {terms:?}"
    );

    // Re-measuring in the same calendar rebuilds the rows from the facts.
    let hours: Vec<u8> = sqlx::query_scalar("SELECT business_hours FROM tenants")
        .fetch_one(&pool)
        .await?;
    let raw: tpb::BusinessHours = prost::Message::decode(hours.as_slice())?;
    let cal = calendar::from_proto(Some(&raw), "hours").expect("valid");
    remeasure(&pool, TENANT, Some(&raw), &cal).await?;
    assert_eq!(
        snapshot(&pool).await?,
        before,
        "a rebuild gives the same rows"
    );

    // So does the backfill, a few facts per transaction.
    for sql in [
        "DELETE FROM aggregates",
        "DELETE FROM fact_hours",
        "UPDATE ticket_facts SET samples = NULL",
    ] {
        sqlx::query(sql).execute(&pool).await?;
    }
    let n = switchboard_analytics::backfill(&pool, 7).await?;
    assert!(n > 80, "{n} facts backfilled");
    assert_eq!(
        snapshot(&pool).await?,
        before,
        "a backfill gives the same rows"
    );
    compare(&pool, zone).await?;

    // A replay of every event at once, newest first, into an empty schema.
    let (replay_db, replay) = fresh().await?;
    let mut all: Vec<_> = batches.concat();
    all.reverse();
    let replayed = Ingest::new(replay.clone());
    for chunk in all.chunks(200) {
        replayed.apply(chunk).await?;
    }
    assert_eq!(
        snapshot(&replay).await?,
        before,
        "a replay gives the same rows"
    );
    replay.close().await;
    replay_db.drop_db().await?;
    pool.close().await;
    db.drop_db().await
}
