//! Intake → assigned: the time from sending CreateTicket until the ticket's
//! `ticket.assigned` event is on NATS (ticket.created → outbox relay →
//! routing's durable consumer → AssignTicket → ticket.assigned → relay),
//! with tickets offered open loop at a fixed rate to one
//! `switchboard serve --services ticket,routing` process. Beside it, from the
//! same run: the CreateTicket response alone and the ticket.created event's
//! arrival. Figures, not assertions.
//!
//! `target/release/intake --bin target/release/switchboard --rate 500 --seconds 10`

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::Context;
use clap::Parser;
use futures::StreamExt;
use hdrhistogram::Histogram;
use prost::Message;
use switchboard_proto::{
    common::v1::{Channel as Ch, Priority},
    events::v1::{Envelope, TicketAssigned, TicketCreated, envelope::Payload},
    ticket::v1::{CreateTicketRequest, Requester, ticket_service_client::TicketServiceClient},
};
use switchboard_runtime::Role;
use switchboard_testkit::process::World;
use tokio::{task::JoinSet, time::MissedTickBehavior};
use tonic::{Request, transport::Channel};

use crate::desk::{TENANT, forget_redis_keys, heartbeat, setup, token};

mod desk;
mod scrape;

/// Measures intake → assigned latency at a fixed offered rate.
#[derive(Debug, Parser)]
struct Args {
    /// The switchboard binary (a release build gives meaningful figures).
    #[arg(long, default_value = "target/release/switchboard")]
    bin: PathBuf,
    /// Tickets offered per second.
    #[arg(long, default_value_t = 500.0)]
    rate: f64,
    /// Seconds of offered load.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Online agents in the one group every ticket is routed to.
    #[arg(long, default_value_t = 200)]
    agents: usize,
    /// Connections each service's database pool may open (the default is
    /// `database.max_connections`' own).
    #[arg(long, default_value_t = 8)]
    pool: u32,
    /// Seconds after the last CreateTicket response to wait for assignments.
    #[arg(long, default_value_t = 5)]
    grace: u64,
}

/// Tickets routed before measuring, to warm connections and prove the setup.
const WARMUP: usize = 20;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.bin.exists(),
        "{} not found; run `cargo build --release -p switchboard`",
        args.bin.display()
    );
    anyhow::ensure!(args.rate > 0.0 && args.seconds > 0 && args.agents > 0);
    let world = World::new(&args.bin).await?;
    let result = run(&args, &world).await;
    forget_redis_keys(&world.stream.prefix).await;
    world.drop().await?;
    result
}

async fn run(args: &Args, world: &World) -> anyhow::Result<()> {
    let migrated = world.run(&["migrate", "--services", "ticket,routing"])?;
    anyhow::ensure!(
        migrated.status.success(),
        "migrate failed: {}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    let metrics = scrape::free_addr()?;
    let metrics_listen = metrics.to_string();
    let pool = args.pool.to_string();
    let server = world.serve(
        &["--services", "ticket,routing"],
        &[
            ("SWITCHBOARD__DATABASE__MAX_CONNECTIONS", &pool),
            ("SWITCHBOARD__LOG__LEVEL", "warn"),
            ("SWITCHBOARD__METRICS__LISTEN", &metrics_listen),
        ],
    )?;
    let channel = server.channel().await?;
    for service in [
        "switchboard.ticket.v1.TicketService",
        "switchboard.routing.v1.RoutingService",
    ] {
        server.wait_serving(&channel, service).await?;
    }

    // Every ticket, warm-up included, finds a free seat: no ticket waits in
    // the queue, so the figure is routing's latency, not capacity's.
    let total = (args.rate * args.seconds as f64).ceil() as usize + WARMUP;
    let per_agent = total.div_ceil(args.agents) as i32 + 1;
    anyhow::ensure!(
        per_agent <= 1000,
        "{total} tickets need more than 1000 seats per agent; raise --agents"
    );
    let admin = token("bench-admin", Role::Admin);
    let agents: Vec<String> = (0..args.agents).map(|i| format!("agent-{i:04}")).collect();
    setup(&channel, &admin, &agents, per_agent).await?;
    let heartbeats = tokio::spawn(heartbeat(channel.clone(), agents.clone()));

    let seen = Arc::new(Mutex::new(Seen::default()));
    let nats = switchboard_testkit::connect_nats(&world.nats_url).await?;
    let subscriber = nats
        .subscribe(format!("{}.{TENANT}.ticket.*", world.stream.prefix))
        .await?;
    // The server knows the subscription before the first ticket exists.
    nats.flush().await?;
    let watcher = tokio::spawn(watch(subscriber, seen.clone()));

    let creator = format!("Bearer {}", token("bench-intake", Role::Agent));
    let tickets = TicketServiceClient::new(channel.clone());
    warm_up(&tickets, &creator, &seen).await?;

    println!("intake → assigned (ticket.created → routing → AssignTicket → ticket.assigned)");
    println!("target: p99 < 50 ms at 500 tickets/s");
    println!(
        "one process serving ticket,routing; {} agents online in one group, {per_agent} email seats each; catch-all rule; pools {} per service",
        args.agents, args.pool
    );
    println!(
        "outbox relay: woken on commit, else polls every 20 ms (testkit's SWITCHBOARD__EVENTS__RELAY_POLL_INTERVAL_MS)\n"
    );

    let cpu_before = cpu_seconds(server.pid())?;
    let sent = offer(&tickets, &creator, args.rate, args.seconds).await;
    let created: Vec<&Sent> = sent.iter().filter(|s| s.name.is_some()).collect();
    let failed = sent.len() - created.len();
    if let Some(e) = sent.iter().find_map(|s| s.error.as_ref()) {
        println!("first CreateTicket error: {e}");
    }
    anyhow::ensure!(!created.is_empty(), "no CreateTicket succeeded");
    let first_send = sent.iter().map(|s| s.sent).min().expect("sent some");
    let last_response = sent.iter().map(|s| s.done).max().expect("sent some");

    // Wait out the grace for assignments still on their way.
    let deadline = last_response + Duration::from_secs(args.grace);
    while Instant::now() < deadline {
        let pending = {
            let seen = seen.lock().expect("not poisoned");
            created.iter().any(|s| {
                !seen
                    .assigned
                    .contains_key(s.name.as_deref().expect("created"))
            })
        };
        if !pending {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let cpu = cpu_seconds(server.pid())? - cpu_before;
    let waited = first_send.elapsed().as_secs_f64();
    let rss = status_kib(server.pid(), "VmRSS:")?;
    let peak = status_kib(server.pid(), "VmHWM:")?;
    heartbeats.abort();
    watcher.abort();

    let seen = std::mem::take(&mut *seen.lock().expect("not poisoned"));
    let mut to_assigned = Histogram::<u64>::new(3)?;
    let mut to_response = Histogram::<u64>::new(3)?;
    let mut to_created = Histogram::<u64>::new(3)?;
    let mut routing_leg = Histogram::<u64>::new(3)?;
    let mut last_assigned = first_send;
    for s in &created {
        let name = s.name.as_deref().expect("created");
        to_response.record(micros(s.done - s.sent))?;
        if let Some(at) = seen.created.get(name) {
            to_created.record(micros(at.saturating_duration_since(s.sent)))?;
        }
        if let Some(&at) = seen.assigned.get(name) {
            to_assigned.record(micros(at.saturating_duration_since(s.sent)))?;
            last_assigned = last_assigned.max(at);
            if let Some(&created) = seen.created.get(name) {
                routing_leg.record(micros(at.saturating_duration_since(created)))?;
            }
        }
    }
    let assigned = to_assigned.len() as usize;
    let window = (last_response - first_send).as_secs_f64();
    println!(
        "offered {:.0}/s for {} s: sent {}, achieved {:.0}/s (CreateTicket responses over {window:.2} s)",
        args.rate,
        args.seconds,
        sent.len(),
        created.len() as f64 / window
    );
    println!(
        "created {}, failed {failed}; assigned {assigned} ({:.0}/s), not assigned within {} s grace {}; ticket.created seen {}\n",
        created.len(),
        assigned as f64 / (last_assigned - first_send).as_secs_f64().max(f64::EPSILON),
        args.grace,
        created.len() - assigned,
        to_created.len()
    );
    println!(
        "{:<40} | {:>8} {:>8} {:>8} {:>8}",
        "ms", "p50", "p90", "p99", "max"
    );
    row("intake → ticket.assigned seen", &to_assigned);
    row("baseline: CreateTicket response", &to_response);
    row("baseline: intake → ticket.created seen", &to_created);
    row("ticket.created seen → ticket.assigned", &routing_leg);
    println!(
        "\nserver (ticket + routing): RSS {:.1} MiB now, peak {:.1} MiB; CPU {cpu:.1} s over the {:.1} s from first send to end of wait ({:.2} cores)",
        rss as f64 / 1024.0,
        peak as f64 / 1024.0,
        waited,
        cpu / waited
    );
    match scrape::fetch(metrics).await {
        Ok(text) => {
            println!(
                "\nwhere the server spent it (its histograms, warm-up included) | {:>7} {:>8} {:>8} {:>8}",
                "count", "mean ms", "p50", "p99"
            );
            for name in [
                "grpc_server_handling_seconds",
                "events_handle_seconds",
                "events_dispatch_wait_seconds",
            ] {
                scrape::print(&text, name);
            }
        }
        Err(e) => println!("server metrics not read: {e:#}"),
    }
    anyhow::ensure!(
        assigned > 0,
        "no measured ticket was assigned: the setup is wrong"
    );

    let status = server.terminate(Duration::from_secs(30)).await?;
    anyhow::ensure!(status.success(), "server exited with {status}");
    Ok(())
}

/// When each ticket's events were first seen, by ticket name.
#[derive(Debug, Default)]
struct Seen {
    created: HashMap<String, Instant>,
    assigned: HashMap<String, Instant>,
}

/// One CreateTicket call.
#[derive(Debug)]
struct Sent {
    /// Just before the request went to the client.
    sent: Instant,
    /// When the response (or error) came back.
    done: Instant,
    /// `tickets/{id}` on success.
    name: Option<String>,
    error: Option<String>,
}

/// Records the first sight of each ticket's created and assigned events.
async fn watch(mut subscriber: async_nats::Subscriber, seen: Arc<Mutex<Seen>>) {
    while let Some(message) = subscriber.next().await {
        let at = Instant::now();
        let Ok(envelope) = Envelope::decode(message.payload) else {
            continue;
        };
        let mut seen = seen.lock().expect("not poisoned");
        match envelope.payload {
            Some(Payload::TicketCreated(TicketCreated {
                ticket: Some(t), ..
            })) => {
                seen.created.entry(t.name).or_insert(at);
            }
            Some(Payload::TicketAssigned(TicketAssigned {
                ticket: Some(t), ..
            })) if !t.assignee.is_empty() => {
                seen.assigned.entry(t.name).or_insert(at);
            }
            _ => {}
        }
    }
}

fn create_request(creator: &str, n: usize) -> anyhow::Result<Request<CreateTicketRequest>> {
    let mut request = Request::new(CreateTicketRequest {
        subject: format!("Intake bench ticket {n}"),
        description: "Generated by make bench".into(),
        channel: Ch::Email as i32,
        priority: Priority::Normal as i32,
        requester: Some(Requester {
            email: format!("customer{}@example.com", n % 500),
            ..Default::default()
        }),
        ..Default::default()
    });
    request
        .metadata_mut()
        .insert("authorization", creator.parse()?);
    Ok(request)
}

/// Routes a few tickets first; none assigned within 15 s means the setup
/// (agents, rule, routing's call to the ticket service) is broken.
async fn warm_up(
    tickets: &TicketServiceClient<Channel>,
    creator: &str,
    seen: &Mutex<Seen>,
) -> anyhow::Result<()> {
    let mut names = Vec::with_capacity(WARMUP);
    for n in 0..WARMUP {
        let created = tickets
            .clone()
            .create_ticket(create_request(creator, 1_000_000 + n)?)
            .await
            .context("warm-up CreateTicket")?;
        names.push(created.into_inner().name);
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let done = {
            let seen = seen.lock().expect("not poisoned");
            names
                .iter()
                .filter(|n| seen.assigned.contains_key(*n))
                .count()
        };
        if done == WARMUP {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{done} of {WARMUP} warm-up tickets assigned within 15 s: the setup is wrong"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sends CreateTicket at `rate` per second for `seconds`, each call in a
/// task of its own so a slow response never delays the next send.
async fn offer(
    tickets: &TicketServiceClient<Channel>,
    creator: &str,
    rate: f64,
    seconds: u64,
) -> Vec<Sent> {
    let total = (rate * seconds as f64).ceil() as usize;
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    // Ticks missed while the machine was busy fire at once: the offered rate holds.
    ticks.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let mut calls = JoinSet::new();
    for n in 0..total {
        ticks.tick().await;
        let mut client = tickets.clone();
        let request = create_request(creator, n);
        calls.spawn(async move {
            let sent = Instant::now();
            let result = match request {
                Ok(request) => client
                    .create_ticket(request)
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            let (name, error) = match result {
                Ok(ticket) => (Some(ticket.into_inner().name), None),
                Err(e) => (None, Some(e)),
            };
            Sent {
                sent,
                done: Instant::now(),
                name,
                error,
            }
        });
    }
    calls.join_all().await
}

fn micros(d: Duration) -> u64 {
    d.as_micros() as u64
}

fn row(label: &str, hist: &Histogram<u64>) {
    let ms = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "{label:<40} | {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
        ms(0.50),
        ms(0.90),
        ms(0.99),
        hist.max() as f64 / 1000.0
    );
}

fn status_kib(pid: u32, key: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("{key} missing from /proc/{pid}/status"))
}

/// User plus system CPU time of `pid`, in seconds.
fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the parenthesised command name start at `state` (field
    // 3); utime and stime are fields 14 and 15, in clock ticks of 1/100 s
    // (USER_HZ on Linux).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .context("malformed /proc stat")?
        .1
        .split_whitespace()
        .collect();
    let ticks = |i: usize| -> anyhow::Result<f64> {
        Ok(fields.get(i).context("short /proc stat")?.parse::<f64>()?)
    };
    Ok((ticks(11)? + ticks(12)?) / 100.0)
}
