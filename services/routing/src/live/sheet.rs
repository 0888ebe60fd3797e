//! A replica's own copy of each tenant's presence, per-channel loads and
//! round-robin positions, so a routing decision reads memory and makes one
//! Redis round trip (the reservation) instead of three. The copy may lag
//! what other replicas did by up to its age; the reservation script still
//! checks the truth, so a stale copy can make a choice less than ideal but
//! never wrong, and every answer the scripts give corrects it.
//!
//! Each copy also remembers the tenant's epoch (see `live::room`) as it was
//! just before the copy was read: while the epoch has not moved, nothing
//! freed capacity or changed presence since, so every agent the copy shows
//! without room (offline, away or full) still has none.
//!
//! Agents sit in numbered slots that outlive each copy, and the copy keeps
//! where a directory's agents sit, so a decision reads its candidates by
//! index instead of looking each user id up.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use switchboard_proto::{common::v1::Channel, routing::v1::Presence};

use crate::domain::{Agent, CHANNELS, Fit};

/// One agent as last seen: presence and load per channel (in [`CHANNELS`] order).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Seen {
    pub presence: Presence,
    pub load: [u32; CHANNELS.len()],
}

/// One tenant's state as read from Redis, after reading its `epoch`.
#[derive(Debug, Default)]
pub(super) struct Sheet {
    pub epoch: i64,
    pub agents: HashMap<String, Seen>,
    pub last: HashMap<String, String>,
}

/// A sheet in use, by slot.
#[derive(Debug)]
struct Copy {
    read: Instant,
    epoch: i64,
    /// When it was put, in [`Sheets::now`]'s count.
    put: u64,
    seen: Vec<Seen>,
    last: HashMap<String, String>,
}

/// Where each agent of one directory sits.
#[derive(Debug)]
struct Layout {
    dir: u64,
    /// The slot numbering it was worked out for: its round and size.
    round: u64,
    known: usize,
    slots: Vec<Option<usize>>,
}

#[derive(Debug, Default)]
struct Tenant {
    /// User id to slot; only grows, until a read finds it mostly departed
    /// agents and numbering starts a new round.
    slots: HashMap<String, usize>,
    round: u64,
    copy: Option<Copy>,
    layout: Option<Layout>,
}

fn slot_of(slots: &mut HashMap<String, usize>, user: &str) -> usize {
    if let Some(s) = slots.get(user) {
        return *s;
    }
    let s = slots.len();
    slots.insert(user.to_owned(), s);
    s
}

#[derive(Debug, Default)]
struct Tenants {
    /// Copies put so far.
    puts: u64,
    by_id: HashMap<String, Tenant>,
}

/// The index of `channel` in [`CHANNELS`]; `None` for an unspecified one.
pub(super) fn slot(channel: Channel) -> Option<usize> {
    CHANNELS.iter().position(|c| *c == channel)
}

/// Every tenant's copy, shared by the clones of one `Live`.
#[derive(Debug, Default)]
pub(super) struct Sheets {
    tenants: Mutex<Tenants>,
    /// One reader of each tenant's copy at a time: deciders finding it old
    /// together wait for one read instead of each reading the whole tenant.
    reading: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// The agents a decision asks about: some of a directory's agents.
#[derive(Debug, Clone, Copy)]
pub struct Among<'a> {
    /// Tells directories apart (their roster's id), so the copy can keep
    /// where one directory's agents sit.
    pub dir: u64,
    /// The directory's agents.
    pub agents: &'a [Agent],
    /// The ones asked about.
    pub picks: &'a [Fit],
}

/// What a decision reads from a copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    /// Presence and the channel's load of each agent asked about, in order.
    pub agents: Vec<(Presence, u32)>,
    /// The group's last round-robin pick.
    pub last: Option<String>,
    /// Whether this was read from Redis for this call.
    pub fresh: bool,
    /// The tenant's epoch from just before the copy was read.
    pub epoch: i64,
}

impl Sheets {
    fn with<R>(&self, f: impl FnOnce(&mut Tenants) -> R) -> R {
        // A panic while holding the lock leaves a copy that is at worst
        // stale, which the reservation script tolerates by design.
        let mut tenants = self.tenants.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut tenants)
    }

    /// The `picks` of `among` with their presence and `slot` load, from
    /// the tenant's copy if it is younger than `max_age`.
    pub fn view(
        &self,
        tenant: &str,
        slot: usize,
        group: &str,
        among: Among<'_>,
        max_age: Duration,
    ) -> Option<View> {
        self.with(|tenants| {
            let Tenant {
                slots,
                round,
                copy,
                layout,
            } = tenants.by_id.get_mut(tenant)?;
            let copy = copy.as_ref().filter(|c| c.read.elapsed() <= max_age)?;
            let (dir, agents) = (among.dir, among.agents);
            let current = layout.as_ref().is_some_and(|l| {
                (l.dir, l.round, l.known, l.slots.len()) == (dir, *round, slots.len(), agents.len())
            });
            if !current {
                let slots_of = agents.iter().map(|a| slots.get(&a.user).copied());
                *layout = Some(Layout {
                    dir,
                    round: *round,
                    known: slots.len(),
                    slots: slots_of.collect(),
                });
            }
            let layout = layout.as_ref()?;
            let agents = among.picks.iter().map(|f| {
                layout
                    .slots
                    .get(f.index)
                    .copied()
                    .flatten()
                    .and_then(|s| copy.seen.get(s))
                    .map_or((Presence::Offline, 0), |s| (s.presence, s.load[slot]))
            });
            Some(View {
                agents: agents.collect(),
                last: copy.last.get(group).cloned(),
                fresh: false,
                epoch: copy.epoch,
            })
        })
    }

    /// Replaces the tenant's copy with one just read.
    pub fn put(&self, tenant: &str, sheet: Sheet) {
        self.with(|tenants| {
            tenants.puts += 1;
            let put = tenants.puts;
            let t = tenants.by_id.entry(tenant.to_owned()).or_default();
            if t.slots.len() > 2 * sheet.agents.len() + 1024 {
                t.slots.clear();
                t.round += 1;
            }
            let mut seen = vec![Seen::default(); t.slots.len()];
            for (user, s) in sheet.agents {
                let i = slot_of(&mut t.slots, &user);
                if seen.len() <= i {
                    seen.resize(i + 1, Seen::default());
                }
                seen[i] = s;
            }
            t.copy = Some(Copy {
                read: Instant::now(),
                epoch: sheet.epoch,
                put,
                seen,
                last: sheet.last,
            });
        });
    }

    /// A mark to take before asking Redis something whose answer will
    /// correct the copies (see [`Sheets::presence`]).
    pub fn now(&self) -> u64 {
        self.with(|tenants| tenants.puts)
    }

    /// The lock that lets one caller at a time read `tenant`'s copy.
    pub fn reading(&self, tenant: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut reading = self.reading.lock().unwrap_or_else(PoisonError::into_inner);
        match reading.get(tenant) {
            Some(lock) => lock.clone(),
            None => reading.entry(tenant.to_owned()).or_default().clone(),
        }
    }

    /// Applies an answer asked for after `since` (a [`Sheets::now`]) to the
    /// tenant's copy, unless the copy was put after that: the copy may
    /// have been read after the answer was given (and after the epoch
    /// moved past it), and the older answer must not overwrite what the
    /// copy's epoch vouches for.
    fn update(
        &self,
        since: u64,
        tenant: &str,
        user: Option<&str>,
        f: impl FnOnce(&mut Copy, usize),
    ) {
        self.with(|tenants| {
            let Some(Tenant { slots, copy, .. }) = tenants.by_id.get_mut(tenant) else {
                return;
            };
            let Some(copy) = copy.as_mut().filter(|c| c.put <= since) else {
                return;
            };
            let i = user.map_or(0, |u| slot_of(slots, u));
            if user.is_some() && copy.seen.len() <= i {
                copy.seen.resize(i + 1, Seen::default());
            }
            f(copy, i);
        });
    }

    /// Records a presence a script reported, asked for after `since`.
    pub fn presence(&self, since: u64, tenant: &str, user: &str, presence: Presence) {
        self.update(since, tenant, Some(user), |c, i| {
            c.seen[i].presence = presence;
        });
    }

    /// Records a load a script reported, asked for after `since`.
    pub fn load(&self, since: u64, tenant: &str, user: &str, channel: Channel, load: u32) {
        if let Some(ch) = slot(channel) {
            self.update(since, tenant, Some(user), |c, i| c.seen[i].load[ch] = load);
        }
    }

    /// Records the group's round-robin pick, made after `since`.
    pub fn last(&self, since: u64, tenant: &str, group: &str, user: &str) {
        self.update(since, tenant, None, |c, _| {
            c.last.insert(group.to_owned(), user.to_owned());
        });
    }
}

#[cfg(test)]
#[path = "sheet_tests.rs"]
mod tests;
