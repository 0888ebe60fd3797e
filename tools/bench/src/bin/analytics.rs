//! Analytics: event ingest (events/s through the service's batch writer) and the latency of an
//! overview and a 90-day daily time series over N tickets (1,000,000 by default), each beside a
//! plain SQL aggregate over the same rows in the same run, and the peak RSS of the service part.
//! Figures, not assertions.
//!
//! `cargo run --release -p switchboard-bench --bin analytics -- --tickets 200000`
//! (or `ANALYTICS_BENCH_TICKETS=200000`). The load and the queries run as two child processes, so
//! the queries' RSS is the service's alone; `--keep` keeps the database, and `--phase queries
//! --database NAME` measures the queries again against it.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use chrono::{DateTime, TimeDelta, Utc};
use clap::Parser;
use hdrhistogram::Histogram;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};
use switchboard_analytics::{AnalyticsApi, Changes, Ingest, convert, ingest};
use switchboard_events::{Envelope, Payload};
use switchboard_proto::analytics::v1::{self as pb, analytics_service_server::AnalyticsService};
use switchboard_proto::common::v1::{self as common, TimeRange};
use switchboard_proto::events::v1 as ev;
use switchboard_proto::ticket::v1 as tpb;
use switchboard_runtime::{Caller, Role, TenantId};
use switchboard_sla::Calendar;
use uuid::Uuid;

/// Measures the analytics read path and ingest.
#[derive(Debug, Parser)]
struct Args {
    /// Tickets in the generated history.
    #[arg(long, env = "ANALYTICS_BENCH_TICKETS", default_value_t = 1_000_000)]
    tickets: usize,
    /// Of those, tickets whose events go through the ingest path (the rest are bulk loaded).
    #[arg(long, default_value_t = 20_000)]
    ingest_tickets: usize,
    /// Repetitions of each query.
    #[arg(long, default_value_t = 15)]
    repeat: usize,
    /// A PostgreSQL superuser URL; a throwaway database is created beside it and dropped.
    #[arg(long, default_value = "postgres://postgres@localhost:5432/postgres")]
    database_url: String,
    /// Keep the database afterwards (its name is printed).
    #[arg(long)]
    keep: bool,
    /// Run only this phase, against `--database`.
    #[arg(long, value_enum, requires = "database")]
    phase: Option<Phase>,
    /// The database a `--phase` runs against.
    #[arg(long)]
    database: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Phase {
    /// Ingest, bulk load, aggregate, baseline table.
    Load,
    /// The timed queries, in a process that did nothing else.
    Queries,
}

const TENANT: &str = "bench";
const DAYS: i64 = 120;
const AGENTS: u64 = 200;
const GROUPS: u64 = 12;
const TAGS: u64 = 40;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.tickets > 0, "nothing to measure");
    if let (Some(phase), Some(name)) = (args.phase, &args.database) {
        let options = PgConnectOptions::from_str(&args.database_url)?
            .database(name)
            .options([("search_path", "analytics")]);
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        let r = match phase {
            Phase::Load => load(&args, &pool).await,
            Phase::Queries => queries(&args, &pool).await,
        };
        pool.close().await;
        return r;
    }
    let mut admin = PgConnection::connect(&args.database_url)
        .await
        .with_context(|| format!("PostgreSQL is not reachable at {}", args.database_url))?;
    let name = format!("an_bench_{}", Uuid::now_v7().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await?;
    let result = (|| {
        for phase in ["load", "queries"] {
            let status = std::process::Command::new(std::env::current_exe()?)
                .args(std::env::args_os().skip(1))
                .args(["--phase", phase, "--database", &name])
                .status()?;
            anyhow::ensure!(status.success(), "the {phase} phase failed: {status}");
        }
        Ok(())
    })();
    if args.keep {
        println!("database kept: {name}");
    } else {
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut admin)
            .await?;
    }
    result
}

/// The newest instant of the generated history.
fn end() -> DateTime<Utc> {
    DateTime::from_timestamp(1_790_000_000, 0).expect("a valid instant")
}

async fn load(args: &Args, pool: &PgPool) -> anyhow::Result<()> {
    switchboard_events::db::migrate(pool, "analytics", &switchboard_analytics::MIGRATIONS).await?;
    let start = end() - TimeDelta::days(DAYS);
    println!(
        "analytics: {} tickets over {DAYS} days, 1 tenant, {AGENTS} agents, {GROUPS} groups, {TAGS} tags; \
         ~4.3 events per ticket (created, assigned, reply, solved for 90%, rating for 30%)",
        args.tickets
    );

    // Ingest: the consumer's batch writer (dedupe, re-fold per ticket, hourly volume, spike
    // check), 1,000 events per transaction, in stream order.
    let ingest_tickets = args.ingest_tickets.min(args.tickets);
    let mut envelopes = Vec::new();
    for i in 0..ingest_tickets {
        envelopes.extend(ticket_events(i as u64, start, DAYS));
    }
    envelopes.sort_by_key(|e| e.occurred_at.as_ref().map(|t| t.seconds));
    let writer = Ingest::new(pool.clone());
    let t = Instant::now();
    for batch in envelopes.chunks(switchboard_analytics::BATCH) {
        writer.apply(batch).await?;
    }
    let took = t.elapsed();
    let ingest_rate = envelopes.len() as f64 / took.as_secs_f64();
    println!(
        "ingest: {} events of {ingest_tickets} tickets in {:.1} s = {:.0} events/s (batches of {})",
        envelopes.len(),
        took.as_secs_f64(),
        ingest_rate,
        switchboard_analytics::BATCH
    );
    let t = Instant::now();
    writer
        .apply(&envelopes[..switchboard_analytics::BATCH.min(envelopes.len())])
        .await?;
    println!(
        "ingest baseline: the same first batch redelivered (only the dedupe insert) in {:.1} ms",
        t.elapsed().as_secs_f64() * 1000.0
    );

    // The rest: folded here with the service's own mapping and fold, bulk loaded, then given
    // their samples and aggregate rows by the service's own backfill (the writer the ingest uses).
    let t = Instant::now();
    bulk_load(pool, ingest_tickets..args.tickets, start).await?;
    baseline_table(pool).await?;
    println!(
        "bulk load of the remaining facts and the baseline table: {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let aggregated = switchboard_analytics::backfill(pool, 20_000).await?;
    sqlx::query("ANALYZE").execute(pool).await?;
    println!(
        "aggregates: {aggregated} bulk-loaded facts through the service's writer in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM aggregates")
        .fetch_one(pool)
        .await?;
    println!("aggregate rows (hours and days, every dimension key): {rows}");
    Ok(())
}

async fn queries(args: &Args, pool: &PgPool) -> anyhow::Result<()> {
    let end = end();
    println!(
        "the queries' process starts at RSS {:.0} MiB",
        rss_kib("VmRSS:")? as f64 / 1024.0
    );
    let (from30, from90) = (end - TimeDelta::days(30), end - TimeDelta::days(90));
    let api = AnalyticsApi::new(Arc::new(Changes::default()), pool.clone());
    let caller = Caller {
        tenant: TenantId::parse(TENANT).expect("valid"),
        user: "sue".into(),
        role: Role::Supervisor,
        via: switchboard_runtime::auth::Via::Person,
    };
    let last30 = range(end - TimeDelta::days(30), end);
    let last90 = range(end - TimeDelta::days(90), end);

    let overview = measure(args.repeat, || {
        let request = authed(overview_request(last30), &caller);
        let api = api.clone();
        async move { api.get_overview(request).await.map(|_| ()) }
    })
    .await?;
    let series = measure(args.repeat, || {
        let request = authed(series_request(last90), &caller);
        let api = api.clone();
        async move { api.query_time_series(request).await.map(|_| ()) }
    })
    .await?;
    let filtered = measure(args.repeat.min(3), || {
        let request = authed(
            pb::GetOverviewRequest {
                range: Some(last30),
                filter: Some(pb::Filter {
                    channels: vec![common::Channel::Email as i32],
                    groups: vec!["group-1".into()],
                    ..Default::default()
                }),
            },
            &caller,
        );
        let api = api.clone();
        async move { api.get_overview(request).await.map(|_| ()) }
    })
    .await?;
    let sql_overview = measure(args.repeat, || async {
        sqlx::query(SQL_OVERVIEW)
            .bind(from30)
            .bind(end)
            .fetch_one(pool)
            .await
            .map(|_| ())
    })
    .await?;
    let sql_series = measure(args.repeat, || async {
        sqlx::query(SQL_SERIES)
            .bind(from90)
            .bind(end)
            .fetch_all(pool)
            .await
            .map(|_| ())
    })
    .await?;

    println!(
        "\n{:<44} {:>10} {:>10} {:>10}",
        "query (ms)", "p50", "p90", "max"
    );
    for (label, h) in [
        ("GetOverview, last 30 days (all KPIs)", &overview),
        ("  baseline: SQL aggregate, same rows", &sql_overview),
        ("  filtered by channel and group (samples)", &filtered),
        ("QueryTimeSeries first reply, 90 days daily", &series),
        ("  baseline: SQL GROUP BY day, same rows", &sql_series),
    ] {
        println!(
            "{label:<44} {:>10.1} {:>10.1} {:>10.1}",
            h.value_at_quantile(0.5) as f64 / 1000.0,
            h.value_at_quantile(0.9) as f64 / 1000.0,
            h.max() as f64 / 1000.0
        );
    }
    println!(
        "\nratio (baseline p50 / service p50): overview {:.2}x, series {:.2}x",
        sql_overview.value_at_quantile(0.5) as f64 / overview.value_at_quantile(0.5).max(1) as f64,
        sql_series.value_at_quantile(0.5) as f64 / series.value_at_quantile(0.5).max(1) as f64,
    );

    // Under load: the consumer's writer applies the events of more tickets, all of the last two
    // days (live traffic), while the overview and the series repeat.
    let live = {
        let pool = pool.clone();
        let (first, n) = (args.tickets as u64, args.ingest_tickets as u64);
        tokio::spawn(async move { live_ingest(&pool, first..first + n, end).await })
    };
    let (mut overview_live, mut series_live) =
        (Histogram::<u64>::new(3)?, Histogram::<u64>::new(3)?);
    while !live.is_finished() {
        for (call, h) in [(0, &mut overview_live), (1, &mut series_live)] {
            let t = Instant::now();
            if call == 0 {
                api.get_overview(authed(overview_request(last30), &caller))
                    .await?;
            } else {
                api.query_time_series(authed(series_request(last90), &caller))
                    .await?;
            }
            h.record(t.elapsed().as_micros().max(1) as u64)?;
        }
    }
    let (events, took) = live.await??;
    println!(
        "under load: {events} events of {} more tickets (the last two days) applied at {:.0} events/s \
         meanwhile; GetOverview p50 {:.1} ms ({} calls), QueryTimeSeries p50 {:.1} ms ({} calls)",
        args.ingest_tickets,
        events as f64 / took.as_secs_f64(),
        overview_live.value_at_quantile(0.5) as f64 / 1000.0,
        overview_live.len(),
        series_live.value_at_quantile(0.5) as f64 / 1000.0,
        series_live.len(),
    );
    println!(
        "RSS at the end: {:.0} MiB; peak RSS of this process (the service under the loads above): {:.0} MiB",
        rss_kib("VmRSS:")? as f64 / 1024.0,
        rss_kib("VmHWM:")? as f64 / 1024.0
    );
    Ok(())
}

fn overview_request(range: TimeRange) -> pb::GetOverviewRequest {
    pb::GetOverviewRequest {
        range: Some(range),
        filter: None,
    }
}

fn series_request(range: TimeRange) -> pb::QueryTimeSeriesRequest {
    pb::QueryTimeSeriesRequest {
        metric: pb::Metric::FirstReplyTime as i32,
        bucket: pb::Bucket::Day as i32,
        range: Some(range),
        ..Default::default()
    }
}

/// Applies the events of tickets `ids`, created in the two days before `end`, through the
/// consumer's writer: in time order per 2,000 tickets, 1,000 events per transaction. Returns the
/// events applied and how long it took.
async fn live_ingest(
    pool: &PgPool,
    ids: std::ops::Range<u64>,
    end: DateTime<Utc>,
) -> anyhow::Result<(usize, std::time::Duration)> {
    let writer = Ingest::new(pool.clone());
    let ids: Vec<u64> = ids.collect();
    let (t, mut events) = (Instant::now(), 0);
    for group in ids.chunks(2000) {
        let mut envelopes: Vec<Envelope> = group
            .iter()
            .flat_map(|&i| ticket_events(i, end - TimeDelta::days(2), 2))
            .collect();
        envelopes.sort_by_key(|e| e.occurred_at.as_ref().map(|t| t.seconds));
        for batch in envelopes.chunks(switchboard_analytics::BATCH) {
            writer.apply(batch).await?;
        }
        events += envelopes.len();
    }
    Ok((events, t.elapsed()))
}

/// The headline numbers the SQL baseline computes (counts, duration medians and p90s, CSAT,
/// one-touch), from a flat table of the same facts.
const SQL_OVERVIEW: &str = "
SELECT
  (SELECT count(*) FROM bench_flat WHERE created_at >= $1 AND created_at < $2),
  (SELECT count(*) FROM bench_flat WHERE solved_at >= $1 AND solved_at < $2),
  (SELECT percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY first_reply_s)
     FROM bench_flat WHERE first_reply_at >= $1 AND first_reply_at < $2),
  (SELECT percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY full_resolution_s)
     FROM bench_flat WHERE solved_at >= $1 AND solved_at < $2),
  (SELECT avg((score >= 4)::int) FROM bench_flat WHERE rated_at >= $1 AND rated_at < $2),
  (SELECT avg(one_touch::int) FROM bench_flat WHERE solved_at >= $1 AND solved_at < $2),
  (SELECT count(*) FROM bench_flat WHERE created_at < $2 AND (solved_at IS NULL OR solved_at >= $2))";

/// Daily first reply time over 90 days.
const SQL_SERIES: &str = "
SELECT date_trunc('day', first_reply_at) AS day, count(*), avg(first_reply_s),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY first_reply_s)
FROM bench_flat WHERE first_reply_at >= $1 AND first_reply_at < $2 GROUP BY 1 ORDER BY 1";

async fn measure<F, Fut, E>(repeat: usize, mut call: F) -> anyhow::Result<Histogram<u64>>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), E>>,
    E: std::fmt::Debug,
{
    let mut h = Histogram::<u64>::new(3)?;
    // One warm-up call (connections, PostgreSQL buffers).
    call().await.map_err(|e| anyhow::anyhow!("{e:?}"))?;
    for _ in 0..repeat.max(1) {
        let t = Instant::now();
        call().await.map_err(|e| anyhow::anyhow!("{e:?}"))?;
        h.record(t.elapsed().as_micros().max(1) as u64)?;
    }
    Ok(h)
}

fn authed<T>(message: T, caller: &Caller) -> tonic::Request<T> {
    let mut r = tonic::Request::new(message);
    r.extensions_mut().insert(caller.clone());
    r
}

fn range(from: DateTime<Utc>, to: DateTime<Utc>) -> TimeRange {
    TimeRange {
        start_time: Some(convert::to_timestamp(from)),
        end_time: Some(convert::to_timestamp(to)),
    }
}

/// Folds tickets `ids` with the service's mapping and fold and writes their facts.
async fn bulk_load(
    pool: &PgPool,
    ids: std::ops::Range<usize>,
    start: DateTime<Utc>,
) -> anyhow::Result<()> {
    let calendar = Calendar::always();
    let ids: Vec<usize> = ids.collect();
    for part in ids.chunks(20_000) {
        let (mut tickets, mut versions, mut created, mut facts) = (vec![], vec![], vec![], vec![]);
        for &i in part {
            let envelopes = ticket_events(i as u64, start, DAYS);
            let mut events = Vec::new();
            let mut version = 0;
            for e in &envelopes {
                if let Some(m) = convert::map_envelope(e) {
                    version = m.version;
                    events.extend(m.events);
                }
            }
            let fact = ingest::fold(&events, &calendar).context("a created event")?;
            tickets.push(Uuid::parse_str(&envelopes[0].aggregate_id)?);
            versions.push(version);
            created.push(fact.created_at);
            facts.push(serde_json::to_string(&fact)?);
        }
        let tenants = vec![TENANT; tickets.len()];
        sqlx::query(
            "INSERT INTO ticket_facts (tenant_id, ticket_id, version, created_at, fact) \
             SELECT t, k, v, c, f::jsonb FROM UNNEST($1::text[], $2::uuid[], $3::bigint[], $4::timestamptz[], $5::text[]) \
             AS u(t, k, v, c, f)",
        )
        .bind(&tenants)
        .bind(&tickets)
        .bind(&versions)
        .bind(&created)
        .bind(&facts)
        .execute(pool)
        .await?;
    }
    Ok(())
}

/// The baseline's flat table: the same facts as plain columns, indexed by each instant.
async fn baseline_table(pool: &PgPool) -> anyhow::Result<()> {
    for sql in [
        "CREATE TABLE bench_flat AS SELECT \
           (fact->>'created_at')::timestamptz AS created_at, \
           (fact->>'solved_at')::timestamptz AS solved_at, \
           (fact->>'first_reply_at')::timestamptz AS first_reply_at, \
           (fact->'first_reply'->>'calendar')::bigint AS first_reply_s, \
           (fact->'full_resolution'->>'calendar')::bigint AS full_resolution_s, \
           (fact->'satisfaction'->>'at')::timestamptz AS rated_at, \
           (fact->'satisfaction'->>'score')::int AS score, \
           (fact->>'one_touch')::bool AS one_touch \
         FROM ticket_facts",
        "CREATE INDEX ON bench_flat (created_at)",
        "CREATE INDEX ON bench_flat (solved_at)",
        "CREATE INDEX ON bench_flat (first_reply_at)",
        "CREATE INDEX ON bench_flat (rated_at)",
        "ANALYZE bench_flat",
    ] {
        sqlx::query(sql).execute(pool).await?;
    }
    Ok(())
}

/// SplitMix64 of `x`: reproducible pseudo-random numbers per ticket.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Ticket `i`'s events as the ticket service publishes them; created within `days` of `start`.
fn ticket_events(i: u64, start: DateTime<Utc>, days: i64) -> Vec<Envelope> {
    let r = |salt: u64| mix(i.wrapping_mul(31).wrapping_add(salt));
    let id = Uuid::from_u64_pair(0x0190_0000_0000_7000, i);
    let created = start + TimeDelta::seconds((r(1) % (days as u64 * 86_400)) as i64);
    let mut ticket = tpb::Ticket {
        name: format!("tickets/{id}"),
        status: tpb::TicketStatus::New as i32,
        channel: (r(2) % 7 + 1) as i32,
        priority: (r(3) % 4 + 1) as i32,
        group: format!("group-{}", r(4) % GROUPS),
        tags: (0..=(r(5) % 2))
            .map(|k| format!("tag-{}", r(6 + k) % TAGS))
            .collect(),
        version: 1,
        ..Default::default()
    };
    let agent = format!("agent-{}", r(8) % AGENTS);
    let staff = common::Actor {
        kind: common::ActorKind::Agent as i32,
        id: agent.clone(),
        role: common::Role::Agent as i32,
    };
    let customer = common::Actor {
        kind: common::ActorKind::Customer as i32,
        ..Default::default()
    };
    let mut out = Vec::new();
    let envelope = |ticket: &tpb::Ticket,
                    at: DateTime<Utc>,
                    kind: &str,
                    actor: &common::Actor,
                    payload: Payload| Envelope {
        id: Uuid::from_u64_pair(i, ticket.version as u64).to_string(),
        r#type: kind.into(),
        occurred_at: Some(convert::to_timestamp(at)),
        tenant_id: TENANT.into(),
        aggregate_type: "ticket".into(),
        aggregate_id: id.to_string(),
        aggregate_version: ticket.version,
        actor: Some(actor.clone()),
        trace: None,
        payload: Some(payload),
    };
    // The customer opened it, so the agent's reply is the first reply.
    let opened = ev::TicketCreated {
        ticket: Some(ticket.clone()),
        ..Default::default()
    };
    out.push(envelope(
        &ticket,
        created,
        "ticket.created",
        &customer,
        Payload::TicketCreated(opened),
    ));
    let assigned = created + TimeDelta::minutes((r(9) % 30) as i64);
    ticket.version += 1;
    ticket.assignee = agent.clone();
    out.push(envelope(
        &ticket,
        assigned,
        "ticket.assigned",
        &staff,
        Payload::TicketAssigned(ev::TicketAssigned {
            ticket: Some(ticket.clone()),
            ..Default::default()
        }),
    ));
    let replied = assigned + TimeDelta::minutes((r(10) % 480) as i64);
    ticket.version += 1;
    out.push(envelope(
        &ticket,
        replied,
        "message.added",
        &staff,
        Payload::MessageAdded(ev::MessageAdded {
            ticket: None,
            message: Some(tpb::Message {
                author: Some(common::Actor {
                    kind: common::ActorKind::Agent as i32,
                    id: agent.clone(),
                    role: common::Role::Agent as i32,
                }),
                visibility: tpb::Visibility::Public as i32,
                ..Default::default()
            }),
        }),
    ));
    if r(11) % 10 == 0 {
        return out;
    }
    let solved = replied + TimeDelta::minutes((r(12) % 2880) as i64);
    ticket.version += 1;
    let from = ticket.status;
    ticket.status = tpb::TicketStatus::Solved as i32;
    out.push(envelope(
        &ticket,
        solved,
        "ticket.status_changed",
        &staff,
        Payload::TicketStatusChanged(ev::TicketStatusChanged {
            ticket: None,
            from,
            to: ticket.status,
        }),
    ));
    if r(13) % 10 < 3 {
        ticket.version += 1;
        out.push(envelope(
            &ticket,
            solved + TimeDelta::hours(2),
            "satisfaction.submitted",
            &customer,
            Payload::SatisfactionSubmitted(ev::SatisfactionSubmitted {
                ticket: None,
                satisfaction: Some(tpb::Satisfaction {
                    score: (r(14) % 5 + 1) as i32,
                    ..Default::default()
                }),
            }),
        ));
    }
    out
}

/// A `/proc/self/status` line's value in KiB, e.g. `VmRSS:` (now) or `VmHWM:` (peak).
fn rss_kib(field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("{field} missing from /proc/self/status"))
}
