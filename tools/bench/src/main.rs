//! `make bench`: durable CreateTicket throughput and latency against the real
//! stack, printed beside a baseline measured on the same PostgreSQL in the
//! same run (single-row insert transactions, as pgbench's simplest script),
//! plus the server's memory; then CreateTicket with rate limiting on beside
//! off (limits far above the load, so every call pays the Redis check and
//! none is refused). Figures, not assertions: machines are shared.

use std::{
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context;
use clap::Parser;
use hdrhistogram::Histogram;
use sqlx::postgres::PgPoolOptions;
use switchboard_proto::ticket::v1::{
    CreateTicketRequest, Requester, ticket_service_client::TicketServiceClient,
};
use switchboard_runtime::{Authenticator, Caller, Role, TenantId};
use switchboard_testkit::{
    TEST_JWT_SECRET,
    process::{Server, World},
};
use tonic::{Request, transport::Channel};

/// Measures ticket intake against a `switchboard serve --services ticket` process.
#[derive(Debug, Parser)]
struct Args {
    /// The switchboard binary (a release build gives meaningful figures).
    #[arg(long, default_value = "target/release/switchboard")]
    bin: PathBuf,
    /// Seconds per measurement.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Concurrent callers, comma separated.
    #[arg(long, default_value = "1,8,32,64", value_delimiter = ',')]
    concurrency: Vec<usize>,
    /// Concurrent callers of the rate limits on/off comparison.
    #[arg(long, default_value = "8,64", value_delimiter = ',')]
    limits_concurrency: Vec<usize>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.bin.exists(),
        "{} not found; run `cargo build --release -p switchboard`",
        args.bin.display()
    );
    let world = World::new(&args.bin).await?;
    world.run(&["migrate", "--services", "ticket"])?;
    // Server pool plus baseline pool stay under PostgreSQL's default 100
    // connections.
    let (server, channel) = start(&world, &[]).await?;
    let idle = rss_kib(server.pid())?;

    let token = Authenticator::hs256(&secrecy::SecretString::from(TEST_JWT_SECRET)).issue(
        &Caller {
            tenant: TenantId::parse("bench").expect("valid"),
            user: "bench-agent".into(),
            role: Role::Agent,
            via: switchboard_runtime::auth::Via::Person,
        },
        Duration::from_secs(3600),
    );
    let duration = Duration::from_secs(args.seconds);

    println!(
        "durable CreateTicket (ticket, customer, first message, outbox row in one transaction)"
    );
    println!("target: >= 8,000/s, p99 < 20 ms at half that load; >= 40% of the baseline");
    println!("rate limits on, as by default (caller and tenant checked in Redis per call)");
    println!(
        "server pool {SERVER_POOL} connections, baseline pool up to {BASELINE_POOL}, {}s per row\n",
        args.seconds
    );
    println!(
        "{:>5} | {:>14} {:>9} {:>9} | {:>17} | {:>6}",
        "conc", "CreateTicket/s", "p50 ms", "p99 ms", "baseline insert/s", "ratio"
    );
    for &c in &args.concurrency {
        let (rate, hist) = create_tickets(&channel, &token, c, duration).await?;
        let baseline = baseline_inserts(&world.db.url, c, duration).await?;
        println!(
            "{c:>5} | {rate:>14.0} {:>9.2} {:>9.2} | {baseline:>17.0} | {:>5.0}%",
            hist.value_at_quantile(0.50) as f64 / 1000.0,
            hist.value_at_quantile(0.99) as f64 / 1000.0,
            100.0 * rate / baseline
        );
    }
    let peak = peak_rss_kib(server.pid())?;
    println!(
        "\nserver memory: idle {:.1} MiB, peak {:.1} MiB (target < 30 MiB idle, < 200 MiB under load)",
        idle as f64 / 1024.0,
        peak as f64 / 1024.0
    );

    let status = server.terminate(Duration::from_secs(30)).await?;
    anyhow::ensure!(status.success(), "server exited with {status}");

    limits_on_beside_off(&world, &token, &args, duration).await?;
    world.drop().await
}

/// Starts `switchboard serve --services ticket` in `world` with extra `env`
/// and waits until it serves.
async fn start(world: &World, env: &[(&str, &str)]) -> anyhow::Result<(Server, Channel)> {
    let pool_size = SERVER_POOL.to_string();
    let mut all = vec![
        ("SWITCHBOARD__DATABASE__MAX_CONNECTIONS", pool_size.as_str()),
        ("SWITCHBOARD__LOG__LEVEL", "warn"),
    ];
    all.extend_from_slice(env);
    let server = world.serve(&["--services", "ticket"], &all)?;
    let channel = server.channel().await?;
    server
        .wait_serving(&channel, "switchboard.ticket.v1.TicketService")
        .await?;
    Ok((server, channel))
}

/// CreateTicket with rate limiting on (the test settings' limits, far above
/// this load: every call runs the Lua script, none is refused) beside off
/// (`limits.enabled = false`), one server at a time, alternating per row so
/// drift in the database's size falls on both.
async fn limits_on_beside_off(
    world: &World,
    token: &str,
    args: &Args,
    duration: Duration,
) -> anyhow::Result<()> {
    println!(
        "\nCreateTicket with rate limiting on beside off (same database, one server at a time)"
    );
    println!(
        "{:>5} | {:>10} {:>9} | {:>10} {:>9} | {:>6}",
        "conc", "off /s", "p99 ms", "on /s", "p99 ms", "on/off"
    );
    for &c in &args.limits_concurrency {
        let mut rows = Vec::new();
        for env in [&[("SWITCHBOARD__LIMITS__ENABLED", "false")][..], &[]] {
            let (server, channel) = start(world, env).await?;
            rows.push(create_tickets(&channel, token, c, duration).await?);
            drop(channel);
            let status = server.terminate(Duration::from_secs(30)).await?;
            anyhow::ensure!(status.success(), "server exited with {status}");
        }
        let [(off, off_hist), (on, on_hist)] =
            <[_; 2]>::try_from(rows).map_err(|_| anyhow::anyhow!("two runs per row"))?;
        println!(
            "{c:>5} | {off:>10.0} {:>9.2} | {on:>10.0} {:>9.2} | {:>5.0}%",
            off_hist.value_at_quantile(0.99) as f64 / 1000.0,
            on_hist.value_at_quantile(0.99) as f64 / 1000.0,
            100.0 * on / off
        );
    }
    Ok(())
}

/// Database connections the server may open.
const SERVER_POOL: u32 = 32;
/// Connections the baseline may open.
const BASELINE_POOL: u32 = 48;

/// `concurrency` callers creating tickets back to back for `duration`.
async fn create_tickets(
    channel: &Channel,
    token: &str,
    concurrency: usize,
    duration: Duration,
) -> anyhow::Result<(f64, Histogram<u64>)> {
    let deadline = Instant::now() + duration;
    let token: Arc<str> = format!("Bearer {token}").into();
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let mut client = TicketServiceClient::new(channel.clone());
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new(3)?;
            let mut n = 0u64;
            while Instant::now() < deadline {
                let mut request = Request::new(CreateTicketRequest {
                    subject: format!("Bench ticket {worker}-{n}"),
                    description: "Generated by make bench".into(),
                    // A few hundred customers: most calls find an existing one.
                    requester: Some(Requester {
                        email: format!("customer{}@example.com", (worker as u64 * 7919 + n) % 500),
                        ..Default::default()
                    }),
                    ..Default::default()
                });
                request
                    .metadata_mut()
                    .insert("authorization", token.parse()?);
                let start = Instant::now();
                client
                    .create_ticket(request)
                    .await
                    .context("CreateTicket")?;
                hist.record(start.elapsed().as_micros() as u64)?;
                n += 1;
            }
            anyhow::Ok(hist)
        }));
    }
    let start = Instant::now();
    let mut total = Histogram::<u64>::new(3)?;
    for task in tasks {
        total.add(task.await??)?;
    }
    Ok((
        total.len() as f64 / start.elapsed().as_secs_f64().max(duration.as_secs_f64()),
        total,
    ))
}

/// The same database's ceiling for one-row durable transactions.
async fn baseline_inserts(
    url: &str,
    concurrency: usize,
    duration: Duration,
) -> anyhow::Result<f64> {
    let pool = PgPoolOptions::new()
        .max_connections(concurrency as u32)
        .connect(url)
        .await?;
    sqlx::query("CREATE TABLE IF NOT EXISTS public.bench_baseline (id BIGSERIAL PRIMARY KEY, payload TEXT NOT NULL)")
        .execute(&pool)
        .await?;
    let deadline = Instant::now() + duration;
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                sqlx::query("INSERT INTO public.bench_baseline (payload) VALUES ($1)")
                    .bind("baseline")
                    .execute(&pool)
                    .await?;
                n += 1;
            }
            anyhow::Ok(n)
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await??;
    }
    pool.close().await;
    Ok(total as f64 / duration.as_secs_f64())
}

fn status_kib(pid: u32, key: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("{key} missing from /proc/{pid}/status"))
}

fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    status_kib(pid, "VmRSS:")
}

fn peak_rss_kib(pid: u32) -> anyhow::Result<u64> {
    status_kib(pid, "VmHWM:")
}
