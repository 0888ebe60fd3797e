//! Choosing an agent for a job and reserving their capacity: everything a
//! routing decision does before it asks the ticket service to assign.
//!
//! The choice reads this replica's copy of presence and load (see
//! `live::View`), so a decision costs one Redis round trip, the atomic
//! reservation. "Nobody can take it" is only concluded from Redis, read for
//! this decision, never from the copy alone, so a stale copy cannot send a
//! ticket to the queue while an agent has room: either the tenant's epoch
//! has not moved since the copy was read (which proves the copy's "no room"
//! still holds, see `live::room`), or the qualified agents are read again.

use std::time::Duration;

use switchboard_proto::routing::v1::Presence;
use switchboard_runtime::TenantId;

use crate::{
    domain::{Scored, Strategy, pick_scored, qualified},
    live::{Among, Check, Live, LiveError, Reserve, View},
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

fn users<'d>(agents: &[Scored<'d>]) -> Vec<&'d str> {
    agents.iter().map(|a| a.agent.user.as_str()).collect()
}

/// Chooses an agent for `job` by its group's strategy and reserves one unit
/// of their capacity; agents found full or gone by the reservation are
/// skipped for the next best.
pub async fn seat(
    live: &Live,
    t: &TenantId,
    dir: &Directory,
    job: &crate::domain::Job,
    ask: Ask<'_>,
) -> Result<Seat, LiveError> {
    let strategy = dir
        .groups
        .get(&job.group)
        .map_or(Strategy::LeastLoaded, |g| g.strategy);
    // Only agents who could ever take the job are looked up or considered,
    // ranked once per directory and kind of job. (`qualified` includes
    // group membership.)
    let roster = match ask.only {
        Some(_) => None,
        None => Some(dir.roster.fits(&dir.agents, job)),
    };
    let mut agents: Vec<Scored<'_>> = match (&roster, ask.only) {
        (Some(fits), _) => fits
            .iter()
            .map(|f| Scored {
                agent: &dir.agents[f.index],
                limit: f.limit,
                score: f.score,
                presence: Presence::Offline,
                load: 0,
            })
            .collect(),
        (None, only) => only
            .and_then(|u| dir.agent(u))
            .filter(|a| qualified(a, job))
            .map(|a| Scored::new(a, job))
            .into_iter()
            .collect(),
    };
    if agents.is_empty() {
        return Ok(Seat::NoAgent);
    }
    let channel = job.channel();
    let check = if ask.pull {
        Check::Room
    } else {
        Check::OnlineWithRoom
    };
    let rotation = (strategy == Strategy::RoundRobin).then_some(job.group.as_str());
    let view = match &roster {
        // One agent's state is one small read: always the truth.
        None => View {
            agents: live.snapshot(t, channel, &users(&agents)).await?,
            last: None,
            fresh: true,
            epoch: 0,
        },
        Some(fits) => {
            let among = Among {
                dir: dir.roster.id(),
                agents: &dir.agents,
                picks: fits,
            };
            live.view(t, channel, &job.group, among, ask.max_age)
                .await?
        }
    };
    for (a, &(presence, load)) in agents.iter_mut().zip(&view.agents) {
        (a.presence, a.load) = (presence, load);
    }
    let mut fresh = view.fresh;
    loop {
        if ask.pull {
            for a in &mut agents {
                if a.presence == Presence::Away {
                    a.presence = Presence::Online;
                }
            }
        }
        while let Some(i) = pick_scored(strategy, &agents, view.last.as_deref()) {
            let a = &mut agents[i];
            match live
                .reserve(
                    t,
                    job.ticket,
                    &a.agent.user,
                    channel,
                    a.limit,
                    check,
                    rotation,
                )
                .await?
            {
                Reserve::Reserved => return Ok(Seat::Taken(a.agent.user.clone())),
                // Another replica filled the agent since the copy was read.
                Reserve::Full => a.load = a.limit,
                Reserve::NotOnline => a.presence = Presence::Offline,
                Reserve::HeldBy(holder) => return Ok(Seat::Held(holder)),
            }
        }
        if fresh || live.epoch(t).await? == view.epoch {
            return Ok(Seat::NoAgent);
        }
        // Room may have appeared since the copy was read: read these
        // agents' truth before the ticket goes to the queue.
        let (users, limits): (Vec<&str>, Vec<u32>) =
            (users(&agents), agents.iter().map(|a| a.limit).collect());
        for a in &mut agents {
            a.presence = Presence::Offline;
        }
        for (i, presence, load) in live.room(t, channel, &users, &limits, ask.pull).await? {
            (agents[i].presence, agents[i].load) = (presence, load);
        }
        fresh = true;
    }
}

/// Decisions against the real Redis, as two replicas: each `Live` keeps its
/// own copy, so one replica's copy goes stale while the other acts.
#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::{TimeDelta, Utc};
    use switchboard_proto::common::v1::{Channel, Priority};
    use uuid::Uuid;

    use super::*;
    use crate::domain::{Agent, Capacity, Group, Job};

    const REDIS: &str = "redis://127.0.0.1:6379";

    struct Desk {
        prefix: String,
        t: TenantId,
        dir: Directory,
        one: Live,
        two: Live,
    }

    impl Desk {
        /// `users` in group `g`, one email ticket each at most.
        async fn new(users: &[&str]) -> anyhow::Result<Self> {
            let prefix = format!("seattest{}", Uuid::now_v7().simple());
            let agents = users
                .iter()
                .map(|u| Agent {
                    user: (*u).into(),
                    display_name: String::new(),
                    groups: vec!["g".into()],
                    skills: BTreeMap::new(),
                    languages: vec!["en".into()],
                    capacity: Capacity {
                        default: 0,
                        channels: BTreeMap::from([(Channel::Email, 1)]),
                    },
                    version: 1,
                })
                .collect();
            Ok(Self {
                t: TenantId::parse("acme").map_err(anyhow::Error::msg)?,
                dir: Directory::new(1, agents, vec![Group::new("g")], vec![]),
                one: Live::connect(REDIS, &prefix).await?,
                two: Live::connect(REDIS, &prefix).await?,
                prefix,
            })
        }

        async fn presence(&self, live: &Live, user: &str, p: Presence) -> anyhow::Result<()> {
            let deadline = Utc::now() + TimeDelta::hours(1);
            live.set_presence(&self.t, user, p, deadline).await?;
            Ok(())
        }

        /// Places a new ticket through `live`, trusting a copy up to an hour old.
        async fn seat(&self, live: &Live, ticket: Uuid) -> anyhow::Result<Seat> {
            let job = Job {
                ticket,
                version: 1,
                group: "g".into(),
                channel: Channel::Email as i32,
                priority: Priority::Normal as i32,
                skills: vec![],
                language: None,
                sla_due: None,
                created: Utc::now(),
                rule: None,
            };
            let ask = Ask {
                only: None,
                pull: false,
                max_age: Duration::from_secs(3600),
            };
            Ok(seat(live, &self.t, &self.dir, &job, ask).await?)
        }

        async fn clean(self) -> anyhow::Result<()> {
            let client = redis::Client::open(REDIS)?;
            let mut conn = client.get_multiplexed_async_connection().await?;
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(format!("{}:*", self.prefix))
                .query_async(&mut conn)
                .await?;
            if !keys.is_empty() {
                let _: () = redis::cmd("DEL").arg(keys).query_async(&mut conn).await?;
            }
            Ok(())
        }
    }

    #[tokio::test]
    async fn capacity_freed_by_another_replica_is_found_despite_a_young_copy() -> anyhow::Result<()>
    {
        let desk = Desk::new(&["ann"]).await?;
        desk.presence(&desk.one, "ann", Presence::Online).await?;
        let first = Uuid::now_v7();
        assert_eq!(
            desk.seat(&desk.one, first).await?,
            Seat::Taken("ann".into())
        );
        // Replica one's copy now shows ann full, truly: nobody has room.
        assert_eq!(desk.seat(&desk.one, Uuid::now_v7()).await?, Seat::NoAgent);
        // Replica two frees her; one's copy still shows her full.
        assert!(desk.two.release(&desk.t, first, None).await?.is_some());
        assert_eq!(
            desk.seat(&desk.one, Uuid::now_v7()).await?,
            Seat::Taken("ann".into()),
            "the moved epoch sends the decision to Redis, which has room"
        );
        assert_eq!(desk.seat(&desk.two, Uuid::now_v7()).await?, Seat::NoAgent);
        desk.clean().await
    }

    #[tokio::test]
    async fn an_agent_another_replica_brought_online_is_found_despite_a_young_copy()
    -> anyhow::Result<()> {
        let desk = Desk::new(&["ann", "bob"]).await?;
        desk.presence(&desk.one, "ann", Presence::Online).await?;
        assert_eq!(
            desk.seat(&desk.one, Uuid::now_v7()).await?,
            Seat::Taken("ann".into())
        );
        // One's copy shows bob offline; two brings him online.
        desk.presence(&desk.two, "bob", Presence::Online).await?;
        assert_eq!(
            desk.seat(&desk.one, Uuid::now_v7()).await?,
            Seat::Taken("bob".into())
        );
        // Going away frees nothing for automatic routing, but it still
        // moves the epoch; the truth read then finds nobody.
        desk.presence(&desk.two, "bob", Presence::Away).await?;
        assert_eq!(desk.seat(&desk.one, Uuid::now_v7()).await?, Seat::NoAgent);
        desk.clean().await
    }

    #[tokio::test]
    async fn the_epoch_moves_when_room_may_appear_and_only_then() -> anyhow::Result<()> {
        let desk = Desk::new(&["ann", "bob"]).await?;
        let (live, t) = (&desk.one, &desk.t);
        let start = live.epoch(t).await?;
        desk.presence(live, "ann", Presence::Online).await?;
        let online = live.epoch(t).await?;
        assert!(online > start, "coming online");
        desk.presence(live, "ann", Presence::Online).await?;
        assert_eq!(live.epoch(t).await?, online, "no change, no move");
        let ticket = Uuid::now_v7();
        let reserve = |ticket| {
            live.reserve(
                t,
                ticket,
                "ann",
                Channel::Email,
                1,
                Check::OnlineWithRoom,
                None,
            )
        };
        assert_eq!(reserve(ticket).await?, Reserve::Reserved);
        assert_eq!(reserve(Uuid::now_v7()).await?, Reserve::Full);
        assert_eq!(live.epoch(t).await?, online, "taking room never moves it");
        assert!(live.release(t, Uuid::now_v7(), None).await?.is_none());
        assert_eq!(
            live.epoch(t).await?,
            online,
            "releasing nothing frees nothing"
        );
        assert!(live.release(t, ticket, None).await?.is_some());
        assert!(live.epoch(t).await? > online, "a release frees room");
        desk.clean().await
    }

    #[tokio::test]
    async fn the_room_read_returns_only_agents_with_room() -> anyhow::Result<()> {
        let desk = Desk::new(&[]).await?;
        let (live, t) = (&desk.one, &desk.t);
        for (user, p) in [
            ("ann", Presence::Online),
            ("bob", Presence::Online),
            ("cid", Presence::Away),
            ("dan", Presence::Online),
        ] {
            desk.presence(live, user, p).await?;
        }
        for _ in 0..2 {
            let r = live
                .reserve(
                    t,
                    Uuid::now_v7(),
                    "bob",
                    Channel::Email,
                    9,
                    Check::Forced,
                    None,
                )
                .await?;
            assert_eq!(r, Reserve::Reserved);
        }
        let users = ["ann", "bob", "cid", "dan", "eve"];
        // bob holds 2 of 2; eve has no presence at all.
        let limits = [3, 2, 3, 0, 3];
        assert_eq!(
            live.room(t, Channel::Email, &users, &limits, false).await?,
            vec![(0, Presence::Online, 0)]
        );
        assert_eq!(
            live.room(t, Channel::Email, &users, &limits, true).await?,
            vec![(0, Presence::Online, 0), (2, Presence::Away, 0)],
            "an agent pulling work counts while away"
        );
        let many: Vec<String> = (0..2500).map(|i| format!("u{i}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).chain(["ann"]).collect();
        let limits = vec![1; many.len()];
        assert_eq!(
            live.room(t, Channel::Email, &many, &limits, false).await?,
            vec![(2500, Presence::Online, 0)],
            "groups larger than one Lua unpack are read in chunks"
        );
        assert!(
            live.room(t, Channel::Email, &users, &[1], false)
                .await
                .is_err()
        );
        desk.clean().await
    }
}
