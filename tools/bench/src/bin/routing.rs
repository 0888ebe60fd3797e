//! Routing decisions with 1,000 agents and 10,000 waiting tickets, against the
//! real Redis: each decision evaluates the routing rules, reads the group's
//! presence and per-channel load from the replica's copy (read again from
//! Redis when older than the service's default age), picks an agent by the
//! group's strategy and reserves capacity atomically with the Lua script, or,
//! when nobody has room, confirms that from Redis before the ticket would
//! queue — everything routing does before it calls AssignTicket
//! (`seat::seat`). Printed beside two
//! baselines from the same run: the same decision with no Redis at all
//! (rules and pick in memory), and a bare Redis round trip (PING), the floor
//! of any decision that consults shared state. Each decider run is also split
//! by outcome (placed; qualified agents all full, so queued after reading
//! Redis; nobody in the group qualified, so queued without Redis), since the
//! three cost differently. Figures, not assertions.
//!
//! `cargo run --release -p switchboard-bench --bin routing`

use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};

use clap::Parser;
use hdrhistogram::Histogram;
use switchboard_proto::{
    common::v1::{self as common, Channel, Priority, condition_value::Kind},
    routing::v1::{self as pb, Presence},
    ticket::v1::TicketStatus,
};
use switchboard_routing::{
    RouterOptions,
    domain::{
        Agent, Capacity, Group, Job, Scored, Strategy, TicketView, decide, pick_scored, rules,
    },
    live::Live,
    router::Directory,
    seat::{Ask, Seat, seat},
};
use switchboard_runtime::TenantId;
use uuid::Uuid;

/// Measures routing decisions.
#[derive(Debug, Parser)]
struct Args {
    /// Agents, spread over the groups.
    #[arg(long, default_value_t = 1_000)]
    agents: usize,
    /// Waiting tickets to place (one decision each).
    #[arg(long, default_value_t = 10_000)]
    tickets: usize,
    /// Groups (queues); every agent works in one.
    #[arg(long, default_value_t = 4)]
    groups: usize,
    /// Concurrent deciders in the throughput run (routing replicas' consumers).
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Redis URL.
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
}

const SKILLS: [&str; 6] = [
    "refunds", "invoices", "hardware", "network", "accounts", "api",
];
const LANGS: [&str; 4] = ["en", "de", "fr", "es"];

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.agents > 0 && args.tickets > 0 && args.groups > 0,
        "nothing to measure"
    );
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(args))
}

fn rule_set(groups: usize) -> anyhow::Result<Vec<switchboard_routing::domain::RoutingRule>> {
    // 20 rules: keyword rules per skill, then channel rules, then a catch-all.
    let text = |field: &str, op: &str, v: &str| common::Condition {
        field: field.into(),
        operator: op.into(),
        value: Some(common::ConditionValue {
            kind: Some(Kind::Text(v.into())),
        }),
    };
    let mut list = Vec::new();
    for i in 0..19 {
        let skill = SKILLS[i % SKILLS.len()];
        let condition = if i < 12 {
            text(
                "subject",
                "contains_any_word",
                &format!("{skill} issue{i} problem{i}"),
            )
        } else {
            text("tags", "contains", &format!("tag{i}"))
        };
        list.push(pb::RoutingRule {
            name: format!("rule {i}"),
            enabled: true,
            conditions: Some(common::Conditions {
                all: vec![condition],
                any: vec![],
            }),
            actions: Some(pb::RoutingActions {
                group: format!("g{}", i % groups),
                required_skills: vec![pb::Skill {
                    name: skill.into(),
                    level: 2,
                }],
                ..Default::default()
            }),
        });
    }
    list.push(pb::RoutingRule {
        name: "rest".into(),
        enabled: true,
        conditions: None,
        actions: Some(pb::RoutingActions {
            group: "g0".into(),
            ..Default::default()
        }),
    });
    rules::from_proto(&pb::RoutingRules {
        rules: list,
        version: 0,
    })
    .map_err(|v| anyhow::anyhow!("{v}"))
}

fn agents(n: usize, groups: usize, tickets: usize) -> Vec<Agent> {
    // Enough email capacity in all for every ticket, so the run drains the queue.
    let per_agent = (tickets.div_ceil(n) as u32 + 2).max(3);
    (0..n)
        .map(|i| Agent {
            user: format!("agent-{i:04}"),
            display_name: String::new(),
            groups: vec![format!("g{}", i % groups)],
            skills: SKILLS
                .iter()
                .enumerate()
                .map(|(j, s)| ((*s).to_owned(), ((i + j) % 5 + 1) as u8))
                .collect(),
            languages: vec![LANGS[i % LANGS.len()].to_owned(), "en".to_owned()],
            capacity: Capacity {
                default: 0,
                channels: BTreeMap::from([(Channel::Email, per_agent), (Channel::Chat, 2)]),
            },
            version: 1,
        })
        .collect()
}

fn tickets(n: usize) -> Vec<TicketView> {
    let now = chrono::Utc::now();
    (0..n)
        .map(|i| TicketView {
            id: Uuid::now_v7(),
            version: 1,
            channel: Channel::Email,
            priority: Priority::Normal,
            status: TicketStatus::New,
            subject: format!(
                "{} issue{} with order {i}",
                SKILLS[i % SKILLS.len()],
                i % 12
            ),
            description: "Something is wrong, please help me with it".into(),
            tags: vec![format!("tag{}", i % 19)],
            group: None,
            assignee: None,
            followers: vec![],
            language: (i % 3 == 0).then(|| LANGS[i % LANGS.len()].to_owned()),
            tier: (i % 5 == 0).then(|| "gold".to_owned()),
            custom: BTreeMap::new(),
            sla_due: None,
            created: now,
        })
        .collect()
}

fn job(dir: &Directory, t: &TicketView) -> Option<Job> {
    let d = decide(&dir.rules, t, false)?;
    Some(Job {
        ticket: t.id,
        version: t.version,
        group: d.group,
        channel: t.channel as i32,
        priority: t.priority as i32,
        skills: d.skills,
        language: d.language,
        sla_due: t.sla_due,
        created: t.created,
        rule: d.rule,
    })
}

/// How a measured call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// An agent took the ticket (or a baseline call succeeded).
    Placed,
    /// Qualified agents exist, but none had room: the ticket would queue.
    Queued,
    /// Nobody in the group could ever take it (e.g. nobody speaks its
    /// language): decided without Redis.
    Unqualified,
}

impl From<bool> for Outcome {
    fn from(ok: bool) -> Self {
        if ok { Outcome::Placed } else { Outcome::Queued }
    }
}

/// One decision as routing makes it: rules, then `seat` (the replica's copy
/// of presence and load, the pick, the atomic reservation).
async fn decide_and_reserve(
    live: &Live,
    tenant: &TenantId,
    dir: &Directory,
    t: &TicketView,
) -> anyhow::Result<Outcome> {
    let Some(job) = job(dir, t) else {
        return Ok(Outcome::Unqualified);
    };
    let ask = Ask {
        only: None,
        pull: false,
        max_age: RouterOptions::default().view_age,
    };
    Ok(match seat(live, tenant, dir, &job, ask).await? {
        Seat::Taken(_) => Outcome::Placed,
        // Told apart after the decision, so the measured call is the same.
        _ if dir.roster.fits(&dir.agents, &job).is_empty() => Outcome::Unqualified,
        _ => Outcome::Queued,
    })
}

struct Figures {
    hist: Histogram<u64>,
    /// Latency of the calls by outcome.
    placed: Histogram<u64>,
    queued: Histogram<u64>,
    unqualified: Histogram<u64>,
    per_second: f64,
}

fn ms(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

impl Figures {
    fn line(&self, what: &str) -> String {
        format!(
            "{what:<44} {:>9.0}/s   p50 {:>7.3} ms   p99 {:>7.3} ms   ({} placed)",
            self.per_second,
            ms(&self.hist, 0.5),
            ms(&self.hist, 0.99),
            self.placed.len()
        )
    }

    /// The decisions by outcome: those that placed the ticket, those that
    /// found every qualified agent full (read from Redis) and those that
    /// found nobody qualified (no Redis at all) cost differently.
    fn outcomes(&self) -> String {
        let part = |what: &str, h: &Histogram<u64>| {
            format!(
                "  {what:<42} {:>9} decisions   p50 {:>7.3} ms   p99 {:>7.3} ms",
                h.len(),
                ms(h, 0.5),
                ms(h, 0.99)
            )
        };
        format!(
            "{}\n{}\n{}",
            part("of which placed", &self.placed),
            part("of which qualified agents were full (queued)", &self.queued),
            part("of which nobody qualified (queued)", &self.unqualified)
        )
    }
}

async fn measure<F, Fut>(n: usize, concurrency: usize, f: F) -> anyhow::Result<Figures>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<Outcome>> + Send,
{
    let f = Arc::new(f);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..concurrency {
        let f = f.clone();
        tasks.push(tokio::spawn(async move {
            // Placed, queued, unqualified.
            let mut by = [
                Histogram::<u64>::new(3)?,
                Histogram::<u64>::new(3)?,
                Histogram::<u64>::new(3)?,
            ];
            let mut i = w;
            while i < n {
                let t = Instant::now();
                let outcome = f(i).await?;
                let took = t.elapsed().as_micros().max(1) as u64;
                by[outcome as usize].record(took)?;
                i += concurrency;
            }
            anyhow::Ok(by)
        }));
    }
    let mut hist = Histogram::<u64>::new(3)?;
    let mut all = [
        Histogram::<u64>::new(3)?,
        Histogram::<u64>::new(3)?,
        Histogram::<u64>::new(3)?,
    ];
    for t in tasks {
        for (sum, h) in all.iter_mut().zip(t.await??) {
            hist.add(&h)?;
            sum.add(h)?;
        }
    }
    let [placed, queued, unqualified] = all;
    Ok(Figures {
        hist,
        placed,
        queued,
        unqualified,
        per_second: n as f64 / start.elapsed().as_secs_f64(),
    })
}

async fn run(args: Args) -> anyhow::Result<()> {
    let prefix = format!("benchrt{}", Uuid::now_v7().simple());
    let tenant = TenantId::parse("bench").map_err(|e| anyhow::anyhow!(e))?;
    let live = Live::connect(&args.redis_url, &prefix).await?;
    let groups: Vec<Group> = (0..args.groups)
        .map(|i| {
            let mut g = Group::new(format!("g{i}"));
            if i % 2 == 1 {
                g.strategy = Strategy::RoundRobin;
            }
            g
        })
        .collect();
    let dir = Arc::new(Directory::new(
        0,
        agents(args.agents, args.groups, args.tickets),
        groups,
        rule_set(args.groups)?,
    ));
    let deadline = chrono::Utc::now() + chrono::TimeDelta::hours(1);
    for a in &dir.agents {
        live.set_presence(&tenant, &a.user, Presence::Online, deadline)
            .await?;
    }
    let waiting = Arc::new(tickets(args.tickets));
    println!(
        "routing decisions: rules + the replica's copy of presence and load + pick + atomic reservation (Lua), real Redis"
    );
    println!(
        "{} agents in {} groups (least-loaded and round-robin), {} rules, {} waiting email tickets, 1 in 3 with a language\n",
        args.agents,
        args.groups,
        dir.rules.len(),
        args.tickets
    );

    // Baseline 1: the decision in memory as `seat` makes it (rules, the
    // directory's qualified agents for the job, the pick), every agent
    // online and empty.
    let mem = {
        let (dir, waiting) = (dir.clone(), waiting.clone());
        measure(args.tickets, 1, move |i| {
            let (dir, waiting) = (dir.clone(), waiting.clone());
            async move {
                let Some(job) = job(&dir, &waiting[i]) else {
                    return Ok(Outcome::Unqualified);
                };
                let strategy = dir
                    .groups
                    .get(&job.group)
                    .map_or(Strategy::LeastLoaded, |g| g.strategy);
                let c: Vec<Scored<'_>> = dir
                    .roster
                    .fits(&dir.agents, &job)
                    .iter()
                    .map(|f| Scored {
                        agent: &dir.agents[f.index],
                        limit: f.limit,
                        score: f.score,
                        presence: Presence::Online,
                        load: 0,
                    })
                    .collect();
                Ok(pick_scored(strategy, &c, None).is_some().into())
            }
        })
        .await?
    };
    // Baseline 2: a bare Redis round trip.
    let ping = {
        let live = live.clone();
        measure(args.tickets, 1, move |_| {
            let live = live.clone();
            async move {
                live.ping().await?;
                Ok(Outcome::Placed)
            }
        })
        .await?
    };
    let ping_n = {
        let live = live.clone();
        measure(args.tickets, args.concurrency, move |_| {
            let live = live.clone();
            async move {
                live.ping().await?;
                Ok(Outcome::Placed)
            }
        })
        .await?
    };

    // Where a decision's time goes: reading one group's live state.
    let snap = {
        let (live, tenant, dir) = (live.clone(), tenant.clone(), dir.clone());
        measure(args.tickets.min(5_000), 1, move |i| {
            let (live, tenant, dir) = (live.clone(), tenant.clone(), dir.clone());
            async move {
                let group = format!("g{}", i % dir.groups.len());
                let users: Vec<&str> = dir.members(&group).map(|a| a.user.as_str()).collect();
                let read = live.snapshot(&tenant, Channel::Email, &users).await?;
                Ok((!read.is_empty()).into())
            }
        })
        .await?
    };

    // Half the queue one decision at a time (latency), half with concurrency.
    let half = args.tickets / 2;
    let one = {
        let (live, tenant, dir, waiting) =
            (live.clone(), tenant.clone(), dir.clone(), waiting.clone());
        measure(half, 1, move |i| {
            let (live, tenant, dir, waiting) =
                (live.clone(), tenant.clone(), dir.clone(), waiting.clone());
            async move { decide_and_reserve(&live, &tenant, &dir, &waiting[i]).await }
        })
        .await?
    };
    let many = {
        let (live, tenant, dir, waiting) =
            (live.clone(), tenant.clone(), dir.clone(), waiting.clone());
        measure(args.tickets - half, args.concurrency, move |i| {
            let (live, tenant, dir, waiting) =
                (live.clone(), tenant.clone(), dir.clone(), waiting.clone());
            async move { decide_and_reserve(&live, &tenant, &dir, &waiting[half + i]).await }
        })
        .await?
    };

    println!("{}", one.line("decision (1 decider)"));
    println!("{}", one.outcomes());
    println!(
        "{}",
        many.line(&format!("decision ({} deciders)", args.concurrency))
    );
    println!("{}", many.outcomes());
    println!(
        "{}",
        mem.line("baseline: same decision in memory, no Redis")
    );
    println!("{}", snap.line("part: one group's presence + load read"));
    println!("{}", ping.line("baseline: Redis PING (1 caller)"));
    println!(
        "{}",
        ping_n.line(&format!(
            "baseline: Redis PING ({} callers)",
            args.concurrency
        ))
    );
    println!(
        "\ndecision p99 / PING p99 (1 caller): {:.1}x; decisions/s ({} deciders) / PING/s: {:.2}",
        one.hist.value_at_quantile(0.99) as f64 / ping.hist.value_at_quantile(0.99).max(1) as f64,
        args.concurrency,
        many.per_second / ping_n.per_second
    );

    // Leave nothing behind in the shared Redis.
    let client = redis::Client::open(args.redis_url.as_str())?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut conn)
        .await?;
    for chunk in keys.chunks(500) {
        let _: () = redis::cmd("DEL").arg(chunk).query_async(&mut conn).await?;
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
    Ok(())
}
