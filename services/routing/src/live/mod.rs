//! Redis, the truth routing replicas share: presence with heartbeat
//! deadlines, per-agent per-channel load, and which agent holds which
//! ticket. Reservations are Lua scripts, so check-and-increment is atomic
//! across replicas: no agent exceeds capacity and no ticket is held twice.

pub mod conformance;
mod presence;
mod room;
mod scripts;
mod seats;
mod sheet;
mod view;

use std::sync::Arc;

use redis::{AsyncCommands, Script, aio::ConnectionManager};
use switchboard_proto::{common::v1::Channel, routing::v1::Presence};
use switchboard_runtime::TenantId;
use uuid::Uuid;

use crate::domain::{CHANNELS, channel_name, parse_channel};
pub use presence::Expired;
use scripts::{EXPIRE, HEARTBEAT, RELEASE, RESERVE, ROOM, SET_PRESENCE};
pub use seats::Seats;
use sheet::Sheets;
pub use sheet::{Among, View};

/// A Redis failure.
#[derive(Debug, thiserror::Error)]
#[error("redis: {0}")]
pub struct LiveError(pub String);

impl From<redis::RedisError> for LiveError {
    fn from(e: redis::RedisError) -> Self {
        Self(e.to_string())
    }
}

impl From<redis::ParsingError> for LiveError {
    fn from(e: redis::ParsingError) -> Self {
        Self(e.to_string())
    }
}

type Result<T> = std::result::Result<T, LiveError>;

/// What a reservation checks besides the ticket being free.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// The agent is online and under capacity (automatic routing).
    OnlineWithRoom,
    /// The agent is under capacity, whatever their presence (an agent
    /// pulling work).
    Room,
    /// Nothing: a person assigned the ticket, so the load counts regardless.
    Forced,
}

/// What a reservation attempt found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reserve {
    /// The agent now holds the ticket.
    Reserved,
    /// The agent is at capacity for the channel.
    Full,
    /// The agent is not online.
    NotOnline,
    /// Someone (maybe this agent) holds the ticket already.
    HeldBy(String),
}

fn presence_str(p: Presence) -> &'static str {
    match p {
        Presence::Online => "online",
        Presence::Away => "away",
        Presence::Offline | Presence::Unspecified => "offline",
    }
}

/// Parses stored presence; missing means offline.
pub fn parse_presence(s: Option<&str>) -> Presence {
    match s {
        Some("online") => Presence::Online,
        Some("away") => Presence::Away,
        _ => Presence::Offline,
    }
}

/// Presence, load and holds in Redis, under one key prefix.
#[derive(Clone)]
pub struct Live {
    conn: ConnectionManager,
    prefix: String,
    reserve: Script,
    release: Script,
    set_presence: Script,
    heartbeat: Script,
    expire: Script,
    room: Script,
    sheets: Arc<Sheets>,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl Live {
    /// A client of `url` that connects on first use (and reconnects after
    /// I/O errors), so a process started before Redis answers keeps running
    /// NOT_SERVING instead of exiting; every key starts with `prefix` (so
    /// installations and tests sharing a Redis stay apart).
    pub async fn connect(url: &str, prefix: &str) -> Result<Self> {
        let client = redis::Client::open(url)?;
        let conn = ConnectionManager::new_lazy_with_config(
            client,
            redis::aio::ConnectionManagerConfig::new(),
        )?;
        Ok(Self {
            conn,
            prefix: format!("{prefix}:routing"),
            reserve: Script::new(RESERVE),
            release: Script::new(RELEASE),
            set_presence: Script::new(SET_PRESENCE),
            heartbeat: Script::new(HEARTBEAT),
            expire: Script::new(EXPIRE),
            room: Script::new(ROOM),
            sheets: Arc::default(),
        })
    }

    fn presence_key(&self, t: &TenantId) -> String {
        format!("{}:pres:{}", self.prefix, t.as_str())
    }
    fn load_prefix(&self, t: &TenantId) -> String {
        format!("{}:load:{}:", self.prefix, t.as_str())
    }
    fn load_key(&self, t: &TenantId, c: Channel) -> String {
        format!("{}{}", self.load_prefix(t), channel_name(c))
    }
    fn hold_key(&self, t: &TenantId) -> String {
        format!("{}:hold:{}", self.prefix, t.as_str())
    }
    fn held_prefix(&self, t: &TenantId) -> String {
        format!("{}:held:{}:", self.prefix, t.as_str())
    }
    fn rr_key(&self, t: &TenantId) -> String {
        format!("{}:rr:{}", self.prefix, t.as_str())
    }
    fn epoch_key(&self, t: &TenantId) -> String {
        format!("{}:epoch:{}", self.prefix, t.as_str())
    }
    fn hb_key(&self) -> String {
        format!("{}:hb", self.prefix)
    }
    fn member(t: &TenantId, user: &str) -> String {
        format!("{}/{user}", t.as_str())
    }

    /// Answers PING, for readiness.
    pub async fn ping(&self) -> Result<()> {
        let mut conn = self.conn.clone();
        let _: String = redis::cmd("PING").query_async(&mut conn).await?;
        Ok(())
    }

    /// Presence and load for `channel` of each of `users`, in one round trip.
    pub async fn snapshot(
        &self,
        t: &TenantId,
        channel: Channel,
        users: &[&str],
    ) -> Result<Vec<(Presence, u32)>> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.conn.clone();
        let (pres, loads): (Vec<Option<String>>, Vec<Option<u32>>) = redis::pipe()
            .cmd("HMGET")
            .arg(self.presence_key(t))
            .arg(users)
            .cmd("HMGET")
            .arg(self.load_key(t, channel))
            .arg(users)
            .query_async(&mut conn)
            .await?;
        Ok(pres
            .iter()
            .zip(loads)
            .map(|(p, l)| (parse_presence(p.as_deref()), l.unwrap_or(0)))
            .collect())
    }

    /// One agent's presence and load per channel (channels with load only).
    pub async fn agent_state(
        &self,
        t: &TenantId,
        user: &str,
    ) -> Result<(Presence, Vec<(Channel, u32)>)> {
        let mut conn = self.conn.clone();
        let mut pipe = redis::pipe();
        pipe.cmd("HGET").arg(self.presence_key(t)).arg(user);
        for c in CHANNELS {
            pipe.cmd("HGET").arg(self.load_key(t, c)).arg(user);
        }
        let (pres, loads): (Option<String>, Vec<Option<u32>>) = {
            let mut all: Vec<redis::Value> = pipe.query_async(&mut conn).await?;
            let first = all.remove(0);
            let pres: Option<String> = redis::from_redis_value(first)?;
            let loads = all
                .into_iter()
                .map(redis::from_redis_value)
                .collect::<std::result::Result<Vec<Option<u32>>, _>>()?;
            (pres, loads)
        };
        let loads = CHANNELS
            .into_iter()
            .zip(loads)
            .filter_map(|(c, l)| l.filter(|n| *n > 0).map(|n| (c, n)))
            .collect();
        Ok((parse_presence(pres.as_deref()), loads))
    }

    /// Presence and per-channel loads (in [`CHANNELS`] order) of `users`,
    /// in one round trip, for dashboards.
    pub async fn group_state(
        &self,
        t: &TenantId,
        users: &[&str],
    ) -> Result<Vec<(Presence, [u32; 7])>> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.conn.clone();
        let mut pipe = redis::pipe();
        pipe.cmd("HMGET").arg(self.presence_key(t)).arg(users);
        for c in CHANNELS {
            pipe.cmd("HMGET").arg(self.load_key(t, c)).arg(users);
        }
        let mut all: Vec<redis::Value> = pipe.query_async(&mut conn).await?;
        let pres: Vec<Option<String>> = redis::from_redis_value(all.remove(0))?;
        let mut out: Vec<(Presence, [u32; 7])> = pres
            .iter()
            .map(|p| (parse_presence(p.as_deref()), [0; 7]))
            .collect();
        for (ci, v) in all.into_iter().enumerate() {
            let loads: Vec<Option<u32>> = redis::from_redis_value(v)?;
            for (ui, l) in loads.into_iter().enumerate() {
                out[ui].1[ci] = l.unwrap_or(0);
            }
        }
        Ok(out)
    }

    /// Reserves one unit of `user`'s `channel` capacity for `ticket`, unless
    /// the ticket is held already or `mode`'s checks fail. With
    /// `round_robin`, that group's rotation moves to `user` in the same step.
    #[allow(clippy::too_many_arguments)]
    pub async fn reserve(
        &self,
        t: &TenantId,
        ticket: Uuid,
        user: &str,
        channel: Channel,
        capacity: u32,
        mode: Check,
        round_robin: Option<&str>,
    ) -> Result<Reserve> {
        let mut conn = self.conn.clone();
        let since = self.sheets.now();
        let out: String = self
            .reserve
            .key(self.load_key(t, channel))
            .key(self.hold_key(t))
            .key(format!("{}{user}", self.held_prefix(t)))
            .key(self.presence_key(t))
            .key(self.rr_key(t))
            .arg(user)
            .arg(capacity)
            .arg(ticket.to_string())
            .arg(channel_name(channel))
            .arg(match mode {
                Check::OnlineWithRoom => "0",
                Check::Forced => "1",
                Check::Room => "2",
            })
            .arg(round_robin.unwrap_or(""))
            .invoke_async(&mut conn)
            .await?;
        let (what, detail) = out.split_once(':').unwrap_or((out.as_str(), ""));
        let tenant = t.as_str();
        Ok(match what {
            "ok" => {
                let load = detail.parse().unwrap_or(capacity);
                self.sheets.load(since, tenant, user, channel, load);
                if let Some(group) = round_robin {
                    self.sheets.last(since, tenant, group, user);
                }
                Reserve::Reserved
            }
            "full" => {
                let load = detail.parse().unwrap_or(capacity);
                self.sheets.load(since, tenant, user, channel, load);
                Reserve::Full
            }
            "offline" => {
                let presence = parse_presence(Some(detail));
                self.sheets.presence(since, tenant, user, presence);
                Reserve::NotOnline
            }
            _ => Reserve::HeldBy(detail.to_owned()),
        })
    }

    /// Frees the ticket's hold (only `only`'s, when given); returns the
    /// agent and channel that held it.
    pub async fn release(
        &self,
        t: &TenantId,
        ticket: Uuid,
        only: Option<&str>,
    ) -> Result<Option<(String, Channel)>> {
        let mut conn = self.conn.clone();
        let since = self.sheets.now();
        let out: Option<String> = self
            .release
            .key(self.hold_key(t))
            .key(self.epoch_key(t))
            .arg(ticket.to_string())
            .arg(self.load_prefix(t))
            .arg(self.held_prefix(t))
            .arg(only.unwrap_or(""))
            .invoke_async(&mut conn)
            .await?;
        Ok(out.and_then(|h| {
            let mut parts = h.splitn(3, '|');
            let (user, channel) = (parts.next()?, parse_channel(parts.next()?)?);
            if let Some(load) = parts.next().and_then(|n| n.parse().ok()) {
                self.sheets.load(since, t.as_str(), user, channel, load);
            }
            Some((user.to_owned(), channel))
        }))
    }

    /// The agent holding `ticket`, if any.
    pub async fn holder(&self, t: &TenantId, ticket: Uuid) -> Result<Option<String>> {
        let mut conn = self.conn.clone();
        let h: Option<String> = conn.hget(self.hold_key(t), ticket.to_string()).await?;
        Ok(h.and_then(|h| h.split_once('|').map(|(u, _)| u.to_owned())))
    }

    /// Tickets `user` holds.
    pub async fn held_by(&self, t: &TenantId, user: &str) -> Result<Vec<Uuid>> {
        let mut conn = self.conn.clone();
        let ids: Vec<String> = conn
            .smembers(format!("{}{user}", self.held_prefix(t)))
            .await?;
        Ok(ids.iter().filter_map(|s| Uuid::parse_str(s).ok()).collect())
    }

    /// The tenant's directory revision (bumped on every admin change).
    pub async fn revision(&self, t: &TenantId) -> Result<i64> {
        let mut conn = self.conn.clone();
        let rev: Option<i64> = conn
            .get(format!("{}:rev:{}", self.prefix, t.as_str()))
            .await?;
        Ok(rev.unwrap_or(0))
    }

    /// Tells every replica the tenant's agents, groups or rules changed.
    pub async fn bump_revision(&self, t: &TenantId) -> Result<()> {
        let mut conn = self.conn.clone();
        let _: i64 = conn
            .incr(format!("{}:rev:{}", self.prefix, t.as_str()), 1)
            .await?;
        Ok(())
    }
}
