//! Breakdowns: created volume per key, and the agent table.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{ElapsedStats, Range};
use crate::fact::TicketFact;
use crate::stats::DurationStats;

/// A ticket attribute to break metrics down by; tickets are keyed by their
/// latest values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// Intake channel, e.g. `email`.
    Channel,
    /// Priority, e.g. `urgent`.
    Priority,
    /// Group id; `None` for tickets in no group.
    Group,
    /// Assignee id; `None` for unassigned tickets.
    Assignee,
    /// Each tag; a ticket counts once per distinct tag, so these do not sum
    /// to the total. `None` for untagged tickets.
    Tag,
}

impl GroupBy {
    /// The keys `fact` falls under (one, except for tags).
    pub fn keys(self, fact: &TicketFact) -> Vec<Option<String>> {
        match self {
            GroupBy::Channel => vec![Some(fact.channel.as_str().to_owned())],
            GroupBy::Priority => vec![Some(fact.priority.as_str().to_owned())],
            GroupBy::Group => vec![fact.group.clone()],
            GroupBy::Assignee => vec![fact.assignee.clone()],
            GroupBy::Tag if fact.tags.is_empty() => vec![None],
            GroupBy::Tag => fact
                .tags
                .iter()
                .collect::<BTreeSet<_>>()
                .into_iter()
                .map(|t| Some(t.clone()))
                .collect(),
        }
    }
}

impl GroupBy {
    /// [`keys`](Self::keys) without copying: appends to `out` (cleared
    /// first), for hot loops over many facts.
    pub fn key_refs<'f>(self, fact: &'f TicketFact, out: &mut Vec<Option<&'f str>>) {
        out.clear();
        match self {
            GroupBy::Channel => out.push(Some(fact.channel.as_str())),
            GroupBy::Priority => out.push(Some(fact.priority.as_str())),
            GroupBy::Group => out.push(fact.group.as_deref()),
            GroupBy::Assignee => out.push(fact.assignee.as_deref()),
            GroupBy::Tag if fact.tags.is_empty() => out.push(None),
            GroupBy::Tag => {
                out.extend(fact.tags.iter().map(|t| Some(t.as_str())));
                out.sort_unstable();
                out.dedup();
            }
        }
    }
}

/// Counts per key, built from borrowed keys and copied once at the end.
pub fn count_rows(counts: BTreeMap<Option<&str>, u64>) -> Vec<Volume> {
    let mut rows: Vec<Volume> = counts
        .into_iter()
        .map(|(key, count)| Volume {
            key: key.map(str::to_owned),
            count,
        })
        .collect();
    // Stable: equal counts keep the map's key order.
    rows.sort_by_key(|row| std::cmp::Reverse(row.count));
    rows
}

/// Created tickets under one key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Volume {
    /// The key; `None` for "no group", "unassigned" or "untagged".
    pub key: Option<String>,
    /// Tickets created in the range under it.
    pub count: u64,
}

/// Tickets created in `range` per key of `by`, largest first (ties by key).
pub fn volume<'a>(
    facts: impl IntoIterator<Item = &'a TicketFact>,
    range: Range,
    by: GroupBy,
) -> Vec<Volume> {
    volumes(facts, range, &[by]).pop().unwrap_or_default()
}

/// [`volume`] for each of `bys`, in one pass over the facts.
pub fn volumes<'a>(
    facts: impl IntoIterator<Item = &'a TicketFact>,
    range: Range,
    bys: &[GroupBy],
) -> Vec<Vec<Volume>> {
    let mut counts: Vec<BTreeMap<Option<&str>, u64>> =
        bys.iter().map(|_| BTreeMap::new()).collect();
    let mut keys = Vec::new();
    for fact in facts.into_iter().filter(|f| range.contains(f.created_at)) {
        for (by, counts) in bys.iter().zip(counts.iter_mut()) {
            by.key_refs(fact, &mut keys);
            for key in &keys {
                *counts.entry(*key).or_default() += 1;
            }
        }
    }
    counts.into_iter().map(count_rows).collect()
}

/// One agent's work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentRow {
    /// The agent's user id.
    pub agent: String,
    /// Tickets solved in the range and assigned to the agent (a solved
    /// ticket cannot be reassigned, so that is who solved it).
    pub solved: u64,
    /// Public replies the agent wrote in the range, on any ticket.
    pub public_replies: u64,
    /// Handle time: creation to last solve (full resolution time) of the
    /// agent's solved tickets; the median is the headline.
    pub handle_time: ElapsedStats,
    /// Current load: unsolved tickets assigned to the agent as of the facts'
    /// `as_of`, whatever the range.
    pub load: u64,
}

#[derive(Default)]
struct Work {
    solved: u64,
    replies: u64,
    calendar: Vec<i64>,
    business: Vec<i64>,
    load: u64,
}

/// The agent table for `range`, by agent id; agents with nothing solved,
/// no replies and no load are left out.
pub fn agents<'a>(facts: impl IntoIterator<Item = &'a TicketFact>, range: Range) -> Vec<AgentRow> {
    let mut work: BTreeMap<&str, Work> = BTreeMap::new();
    for fact in facts {
        for reply in fact.replies.iter().filter(|r| range.contains(r.at)) {
            work.entry(&reply.agent).or_default().replies += 1;
        }
        let Some(agent) = fact.assignee.as_deref() else {
            continue;
        };
        if fact.is_unsolved() {
            work.entry(agent).or_default().load += 1;
        }
        if let (Some(at), Some(time)) = (fact.solved_at, fact.full_resolution)
            && range.contains(at)
        {
            let w = work.entry(agent).or_default();
            w.solved += 1;
            w.calendar.push(time.calendar);
            w.business.push(time.business);
        }
    }
    work.into_iter()
        .map(|(agent, w)| AgentRow {
            agent: agent.to_owned(),
            solved: w.solved,
            public_replies: w.replies,
            handle_time: ElapsedStats {
                calendar: DurationStats::of(&w.calendar),
                business: DurationStats::of(&w.business),
            },
            load: w.load,
        })
        .collect()
}
