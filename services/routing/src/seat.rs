//! Choosing an agent for a job and reserving their capacity: everything a
//! routing decision does before it asks the ticket service to assign.
//!
//! The choice reads this replica's copy of presence and load (see
//! `live::View`), so a decision costs one Redis round trip, the atomic
//! reservation. "Nobody can take it" is only concluded from state read
//! from Redis for this decision, never from the copy alone, so a stale
//! copy cannot send a ticket to the queue while an agent has room.

use std::time::Duration;

use switchboard_proto::routing::v1::Presence;
use switchboard_runtime::TenantId;

use crate::{
    domain::{Agent, Candidate, Job, Strategy, pick, qualified},
    live::{Check, Live, LiveError, Reserve, View},
    router::Directory,
};

/// What choosing an agent found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seat {
    /// This agent now holds the ticket.
    Taken(String),
    /// Nobody eligible has room.
    NoAgent,
    /// Another routing attempt holds the ticket.
    Held(String),
}

/// How a decision is made.
#[derive(Debug, Clone, Copy)]
pub struct Ask<'a> {
    /// Only this agent may take it (an agent pulling work, or a drain).
    pub only: Option<&'a str>,
    /// The agent asked for work, so being away does not stop them.
    pub pull: bool,
    /// How old this replica's copy of the live state may be.
    pub max_age: Duration,
}

/// Chooses an agent for `job` by its group's strategy and reserves one unit
/// of their capacity; agents found full or gone by the reservation are
/// skipped for the next best.
pub async fn seat(
    live: &Live,
    t: &TenantId,
    dir: &Directory,
    job: &Job,
    ask: Ask<'_>,
) -> Result<Seat, LiveError> {
    let strategy = dir
        .groups
        .get(&job.group)
        .map_or(Strategy::LeastLoaded, |g| g.strategy);
    // Only agents who could ever take the job are looked up or considered.
    // (`qualified` includes group membership.)
    let agents: Vec<&Agent> = match ask.only {
        Some(u) => dir
            .agent(u)
            .into_iter()
            .filter(|a| qualified(a, job))
            .collect(),
        None => dir
            .members(&job.group)
            .filter(|a| qualified(a, job))
            .collect(),
    };
    if agents.is_empty() {
        return Ok(Seat::NoAgent);
    }
    let channel = job.channel();
    let users: Vec<&str> = agents.iter().map(|a| a.user.as_str()).collect();
    let check = if ask.pull {
        Check::Room
    } else {
        Check::OnlineWithRoom
    };
    let rotation = (strategy == Strategy::RoundRobin).then_some(job.group.as_str());
    let mut view = match ask.only {
        // One agent's state is one small read: always the truth.
        Some(_) => View {
            agents: live.snapshot(t, channel, &users).await?,
            last: None,
            fresh: true,
        },
        None => {
            live.view(t, channel, &job.group, &users, ask.max_age)
                .await?
        }
    };
    loop {
        let mut candidates: Vec<Candidate<'_>> = agents
            .iter()
            .zip(&view.agents)
            .map(|(agent, &(presence, load))| Candidate {
                agent,
                presence: if ask.pull && presence == Presence::Away {
                    Presence::Online
                } else {
                    presence
                },
                load,
            })
            .collect();
        while let Some(i) = pick(strategy, &candidates, job, view.last.as_deref()) {
            let agent = candidates[i].agent;
            let limit = agent.capacity.limit(channel);
            match live
                .reserve(t, job.ticket, &agent.user, channel, limit, check, rotation)
                .await?
            {
                Reserve::Reserved => return Ok(Seat::Taken(agent.user.clone())),
                // Another replica filled the agent since the copy was read.
                Reserve::Full | Reserve::NotOnline => {
                    candidates.swap_remove(i);
                }
                Reserve::HeldBy(holder) => return Ok(Seat::Held(holder)),
            }
        }
        if view.fresh {
            return Ok(Seat::NoAgent);
        }
        // The copy says nobody has room: read these agents' truth before
        // the ticket goes to the queue.
        view = View {
            agents: live.snapshot(t, channel, &users).await?,
            last: view.last,
            fresh: true,
        };
    }
}
