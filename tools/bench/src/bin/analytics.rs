//! Analytics: event ingest (events/s through the service's batch writer) and the latency of an
//! overview and a 90-day daily time series over N tickets (1,000,000 by default), each beside a
//! plain SQL aggregate over the same rows in the same run. Figures, not assertions.
//!
//! `cargo run --release -p switchboard-bench --bin analytics -- --tickets 200000`
//! (or `ANALYTICS_BENCH_TICKETS=200000`).

use std::str::FromStr;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use chrono::{DateTime, TimeDelta, Utc};
use clap::Parser;
use hdrhistogram::Histogram;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};
use switchboard_analytics::{AnalyticsApi, FactCache, Ingest, convert, ingest};
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
    let mut admin = PgConnection::connect(&args.database_url)
        .await
        .with_context(|| format!("PostgreSQL is not reachable at {}", args.database_url))?;
    let name = format!("an_bench_{}", Uuid::now_v7().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await?;
    let options = PgConnectOptions::from_str(&args.database_url)?
        .database(&name)
        .options([("search_path", "analytics")]);
    let result = async {
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        let r = run(&args, &pool).await;
        pool.close().await;
        r
    }
    .await;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await?;
    result
}

async fn run(args: &Args, pool: &PgPool) -> anyhow::Result<()> {
    switchboard_events::db::migrate(pool, "analytics", &switchboard_analytics::MIGRATIONS).await?;
    let end = DateTime::from_timestamp(1_790_000_000, 0).expect("a valid instant");
    let start = end - TimeDelta::days(DAYS);
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
        envelopes.extend(ticket_events(i as u64, start));
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

    // The rest: folded here with the service's own mapping and fold, bulk loaded.
    let t = Instant::now();
    bulk_load(pool, ingest_tickets..args.tickets, start).await?;
    baseline_table(pool).await?;
    println!(
        "bulk load of the remaining facts and the baseline table: {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let cache = Arc::new(FactCache::new(pool.clone()));
    let t = Instant::now();
    let loaded = cache.snapshot(TENANT).await?.facts.len();
    println!(
        "cache: {loaded} facts loaded from PostgreSQL in {:.1} s, RSS {:.0} MiB",
        t.elapsed().as_secs_f64(),
        rss_kib()? as f64 / 1024.0
    );
    let (from30, from90) = (end - TimeDelta::days(30), end - TimeDelta::days(90));
    // The computation alone: the overview over the cached slice, no refresh or request.
    let compute = {
        let snapshot = cache.snapshot(TENANT).await?;
        let window = switchboard_kpi::Range::new(from30, end);
        measure(args.repeat, || {
            let relevant: Vec<&switchboard_kpi::TicketFact> = snapshot
                .facts
                .iter()
                .filter(|f| switchboard_analytics::query::relevant(f, window))
                .collect();
            let o = switchboard_analytics::api::overview(&relevant, window);
            std::future::ready(if o.created > 0 {
                Ok(())
            } else {
                Err("no tickets")
            })
        })
        .await?
    };
    let api = AnalyticsApi::new(cache, pool.clone());
    let caller = Caller {
        tenant: TenantId::parse(TENANT).expect("valid"),
        user: "sue".into(),
        role: Role::Supervisor,
    };
    let last30 = range(end - TimeDelta::days(30), end);
    let last90 = range(end - TimeDelta::days(90), end);

    let overview = measure(args.repeat, || {
        let request = authed(
            pb::GetOverviewRequest {
                range: Some(last30),
                filter: None,
            },
            &caller,
        );
        let api = api.clone();
        async move { api.get_overview(request).await.map(|_| ()) }
    })
    .await?;
    let series = measure(args.repeat, || {
        let request = authed(
            pb::QueryTimeSeriesRequest {
                metric: pb::Metric::FirstReplyTime as i32,
                bucket: pb::Bucket::Day as i32,
                range: Some(last90),
                ..Default::default()
            },
            &caller,
        );
        let api = api.clone();
        async move { api.query_time_series(request).await.map(|_| ()) }
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
        ("  of which computing over the cached facts", &compute),
        ("  baseline: SQL aggregate, same rows", &sql_overview),
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
    println!("RSS at the end: {:.0} MiB", rss_kib()? as f64 / 1024.0);
    Ok(())
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
    // One warm-up call (the service's first call also catches its cache up).
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
            let envelopes = ticket_events(i as u64, start);
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

/// Ticket `i`'s events as the ticket service publishes them.
fn ticket_events(i: u64, start: DateTime<Utc>) -> Vec<Envelope> {
    let r = |salt: u64| mix(i.wrapping_mul(31).wrapping_add(salt));
    let id = Uuid::from_u64_pair(0x0190_0000_0000_7000, i);
    let created = start + TimeDelta::seconds((r(1) % (DAYS as u64 * 86_400)) as i64);
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

fn rss_kib() -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("VmRSS missing from /proc/self/status")
}
