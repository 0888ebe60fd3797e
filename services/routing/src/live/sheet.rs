//! A replica's own copy of each tenant's presence, per-channel loads and
//! round-robin positions, so a routing decision reads memory and makes one
//! Redis round trip (the reservation) instead of three. The copy may lag
//! what other replicas did by up to its age; the reservation script still
//! checks the truth, so a stale copy can make a choice less than ideal but
//! never wrong, and every answer the scripts give corrects it.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use switchboard_proto::{common::v1::Channel, routing::v1::Presence};
use switchboard_runtime::TenantId;

use super::{Live, Result, parse_presence};
use crate::domain::CHANNELS;

/// One agent as last seen: presence and load per channel (in [`CHANNELS`] order).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Seen {
    pub presence: Presence,
    pub load: [u32; CHANNELS.len()],
}

/// One tenant's copy.
#[derive(Debug)]
pub(super) struct Sheet {
    read: Instant,
    agents: HashMap<String, Seen>,
    last: HashMap<String, String>,
}

impl Sheet {
    /// A copy read from Redis just now.
    pub fn new(agents: HashMap<String, Seen>, last: HashMap<String, String>) -> Self {
        Self {
            read: Instant::now(),
            agents,
            last,
        }
    }
}

/// The index of `channel` in [`CHANNELS`]; `None` for an unspecified one.
pub(super) fn slot(channel: Channel) -> Option<usize> {
    CHANNELS.iter().position(|c| *c == channel)
}

/// Every tenant's copy, shared by the clones of one `Live`.
#[derive(Debug, Default)]
pub(super) struct Sheets {
    tenants: Mutex<HashMap<String, Sheet>>,
}

/// What a decision reads from a copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    /// Presence and the channel's load of each user asked about, in order.
    pub agents: Vec<(Presence, u32)>,
    /// The group's last round-robin pick.
    pub last: Option<String>,
    /// Whether this was read from Redis for this call.
    pub fresh: bool,
}

impl Sheets {
    fn with<R>(&self, f: impl FnOnce(&mut HashMap<String, Sheet>) -> R) -> R {
        // A panic while holding the lock leaves a copy that is at worst
        // stale, which the reservation script tolerates by design.
        let mut tenants = self
            .tenants
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut tenants)
    }

    /// `users`' presence and `slot` load from the tenant's copy, if it is
    /// younger than `max_age`.
    pub fn view(
        &self,
        tenant: &str,
        slot: usize,
        group: &str,
        users: &[&str],
        max_age: Duration,
    ) -> Option<View> {
        self.with(|tenants| {
            let sheet = tenants.get(tenant)?;
            if sheet.read.elapsed() > max_age {
                return None;
            }
            Some(View {
                agents: users
                    .iter()
                    .map(|u| {
                        sheet
                            .agents
                            .get(*u)
                            .map_or((Presence::Offline, 0), |s| (s.presence, s.load[slot]))
                    })
                    .collect(),
                last: sheet.last.get(group).cloned(),
                fresh: false,
            })
        })
    }

    /// Replaces the tenant's copy.
    pub fn put(&self, tenant: &str, sheet: Sheet) {
        self.with(|tenants| tenants.insert(tenant.to_owned(), sheet));
    }

    fn update(&self, tenant: &str, user: &str, f: impl FnOnce(&mut Seen)) {
        self.with(|tenants| {
            if let Some(sheet) = tenants.get_mut(tenant) {
                f(sheet.agents.entry(user.to_owned()).or_default());
            }
        });
    }

    /// Records a presence the scripts reported.
    pub fn presence(&self, tenant: &str, user: &str, presence: Presence) {
        self.update(tenant, user, |s| s.presence = presence);
    }

    /// Records a load the scripts reported.
    pub fn load(&self, tenant: &str, user: &str, channel: Channel, load: u32) {
        if let Some(i) = slot(channel) {
            self.update(tenant, user, |s| s.load[i] = load);
        }
    }

    /// Records the group's round-robin pick.
    pub fn last(&self, tenant: &str, group: &str, user: &str) {
        self.with(|tenants| {
            if let Some(sheet) = tenants.get_mut(tenant) {
                sheet.last.insert(group.to_owned(), user.to_owned());
            }
        });
    }
}

impl Live {
    /// Presence and `channel` load of `users`, and `group`'s last
    /// round-robin pick, from this replica's copy when it is younger than
    /// `max_age`, else read again from Redis (one round trip for the tenant).
    pub async fn view(
        &self,
        t: &TenantId,
        channel: Channel,
        group: &str,
        users: &[&str],
        max_age: Duration,
    ) -> Result<View> {
        let Some(i) = slot(channel) else {
            let agents = self.snapshot(t, channel, users).await?;
            return Ok(View {
                agents,
                last: None,
                fresh: true,
            });
        };
        if let Some(v) = self.sheets.view(t.as_str(), i, group, users, max_age) {
            return Ok(v);
        }
        self.sheets.put(t.as_str(), self.read_sheet(t).await?);
        let mut v = self
            .sheets
            .view(t.as_str(), i, group, users, Duration::MAX)
            .unwrap_or_else(|| View {
                agents: vec![(Presence::Offline, 0); users.len()],
                last: None,
                fresh: true,
            });
        v.fresh = true;
        Ok(v)
    }

    /// The tenant's whole live state: presence, every channel's load and
    /// the round-robin positions.
    async fn read_sheet(&self, t: &TenantId) -> Result<Sheet> {
        let mut pipe = redis::pipe();
        pipe.cmd("HGETALL").arg(self.presence_key(t));
        for c in CHANNELS {
            pipe.cmd("HGETALL").arg(self.load_key(t, c));
        }
        pipe.cmd("HGETALL").arg(self.rr_key(t));
        let mut conn = self.conn.clone();
        let mut all: Vec<redis::Value> = pipe.query_async(&mut conn).await?;
        let last: HashMap<String, String> =
            redis::from_redis_value(all.pop().unwrap_or(redis::Value::Nil))?;
        let presence: HashMap<String, String> = redis::from_redis_value(all.remove(0))?;
        let loads = all
            .into_iter()
            .map(redis::from_redis_value::<HashMap<String, u32>>)
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let mut agents: HashMap<String, Seen> = presence
            .into_iter()
            .map(|(user, p)| {
                let seen = Seen {
                    presence: parse_presence(Some(&p)),
                    ..Seen::default()
                };
                (user, seen)
            })
            .collect();
        for (i, load) in loads.into_iter().enumerate() {
            for (user, n) in load {
                agents.entry(user).or_default().load[i] = n;
            }
        }
        Ok(Sheet::new(agents, last))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sheets() -> Sheets {
        let s = Sheets::default();
        let mut load = [0; CHANNELS.len()];
        load[slot(Channel::Chat).unwrap()] = 2;
        s.put(
            "t",
            Sheet::new(
                HashMap::from([(
                    "ana".to_owned(),
                    Seen {
                        presence: Presence::Online,
                        load,
                    },
                )]),
                HashMap::from([("g".to_owned(), "ana".to_owned())]),
            ),
        );
        s
    }

    #[test]
    fn a_view_reads_the_channel_and_defaults_unknown_agents_to_offline() {
        let s = sheets();
        let chat = slot(Channel::Chat).unwrap();
        let v = s
            .view("t", chat, "g", &["ana", "bo"], Duration::from_secs(5))
            .unwrap();
        assert_eq!(
            v.agents,
            vec![(Presence::Online, 2), (Presence::Offline, 0)]
        );
        assert_eq!(v.last.as_deref(), Some("ana"));
        let email = slot(Channel::Email).unwrap();
        let v = s
            .view("t", email, "other", &["ana"], Duration::from_secs(5))
            .unwrap();
        assert_eq!((v.agents, v.last), (vec![(Presence::Online, 0)], None));
        assert!(
            s.view("u", chat, "g", &["ana"], Duration::from_secs(5))
                .is_none()
        );
    }

    #[test]
    fn an_old_copy_is_not_read() {
        let s = sheets();
        std::thread::sleep(Duration::from_millis(5));
        assert!(
            s.view("t", 0, "g", &["ana"], Duration::from_millis(1))
                .is_none()
        );
    }

    #[test]
    fn reported_truth_corrects_the_copy() {
        let s = sheets();
        s.presence("t", "bo", Presence::Away);
        s.load("t", "ana", Channel::Chat, 3);
        s.last("t", "g", "bo");
        // Nothing is recorded for a tenant without a copy: it is read whole later.
        s.load("u", "ana", Channel::Chat, 9);
        let chat = slot(Channel::Chat).unwrap();
        let v = s
            .view("t", chat, "g", &["ana", "bo"], Duration::from_secs(5))
            .unwrap();
        assert_eq!(v.agents, vec![(Presence::Online, 3), (Presence::Away, 0)]);
        assert_eq!(v.last.as_deref(), Some("bo"));
        assert!(
            s.view("u", chat, "g", &["ana"], Duration::from_secs(5))
                .is_none()
        );
    }
}
