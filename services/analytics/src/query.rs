//! Request rules and the numbers the API adds to `switchboard-kpi`: filters,
//! per-solve means, solved volume, the live dashboard and CSV rows (top
//! issues are in [`crate::issues`]). No I/O.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, TimeDelta, Utc};
use switchboard_kpi::fact::{Channel, Priority};
use switchboard_kpi::overview::{GroupBy, Volume, count_rows};
use switchboard_kpi::{Range, TicketFact};
use switchboard_proto::analytics::v1 as pb;
use switchboard_runtime::Violations;

use crate::sample::Dims;

/// Longest range a query may cover.
pub const MAX_RANGE_DAYS: i64 = 400;
/// Most buckets a time series may have.
pub const MAX_BUCKETS: i64 = 2000;
/// Most values in one filter list.
pub const MAX_FILTER_VALUES: usize = 50;

/// Which tickets to count; empty lists do not filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Channels.
    pub channels: BTreeSet<Channel>,
    /// Priorities.
    pub priorities: BTreeSet<Priority>,
    /// Groups; `None` selects tickets in no group.
    pub groups: BTreeSet<Option<String>>,
    /// Assignees; `None` selects unassigned tickets.
    pub assignees: BTreeSet<Option<String>>,
    /// Any of these tags.
    pub tags: BTreeSet<String>,
}

impl Filter {
    /// Whether nothing is filtered.
    pub fn is_empty(&self) -> bool {
        self.channels.is_empty()
            && self.priorities.is_empty()
            && self.groups.is_empty()
            && self.assignees.is_empty()
            && self.tags.is_empty()
    }

    /// Whether `fact` passes, by its current values.
    pub fn matches(&self, fact: &TicketFact) -> bool {
        (self.channels.is_empty() || self.channels.contains(&fact.channel))
            && (self.priorities.is_empty() || self.priorities.contains(&fact.priority))
            && (self.groups.is_empty() || self.groups.contains(&fact.group))
            && (self.assignees.is_empty() || self.assignees.contains(&fact.assignee))
            && (self.tags.is_empty() || fact.tags.iter().any(|t| self.tags.contains(t)))
    }

    /// [`matches`](Self::matches) on a ticket's stored dimensions.
    pub fn matches_dims(&self, dims: &Dims) -> bool {
        (self.channels.is_empty() || self.channels.contains(&dims.channel))
            && (self.priorities.is_empty() || self.priorities.contains(&dims.priority))
            && (self.groups.is_empty() || self.groups.contains(&dims.group))
            && (self.assignees.is_empty() || self.assignees.contains(&dims.assignee))
            && (self.tags.is_empty() || dims.tags.iter().any(|t| self.tags.contains(t)))
    }
}

/// `[from, to)` checked: both set, in order, at most `max_days` long.
pub fn range(
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    field: &str,
    v: &mut Violations,
) -> Option<Range> {
    let (Some(from), Some(to)) = (from, to) else {
        v.add(field, "start_time and end_time are required");
        return None;
    };
    if to <= from {
        v.add(field, "end_time must be after start_time");
        return None;
    }
    if to - from > TimeDelta::days(MAX_RANGE_DAYS) {
        v.add(field, format!("at most {MAX_RANGE_DAYS} days"));
        return None;
    }
    Some(Range::new(from, to))
}

/// The overview of `facts` over `range`, computed fact by fact with
/// `switchboard-kpi`: the definition that [`crate::report::overview`],
/// which reads aggregate rows and samples instead, must agree with.
pub fn overview(facts: &[&TicketFact], range: Range) -> pb::Overview {
    let o = switchboard_kpi::overview::overview(facts.iter().copied(), range);
    let (replies, hops, group_hops) = per_solve(facts, range);
    crate::wire::overview(
        &o,
        replies,
        hops,
        group_hops,
        solved_volume(facts, range, GroupBy::Channel),
        solved_volume(facts, range, GroupBy::Group),
    )
}

/// Means per ticket solved in `range`: replies, assignee hops, group hops.
pub fn per_solve(facts: &[&TicketFact], range: Range) -> (Option<f64>, Option<f64>, Option<f64>) {
    let (mut n, mut replies, mut hops, mut group_hops) = (0u64, 0u64, 0u64, 0u64);
    for f in facts {
        if f.solved_at.is_some_and(|at| range.contains(at)) {
            n += 1;
            replies += u64::from(f.public_agent_replies);
            hops += u64::from(f.assignee_hops);
            group_hops += u64::from(f.group_hops);
        }
    }
    let mean = |sum: u64| (n > 0).then(|| sum as f64 / n as f64);
    (mean(replies), mean(hops), mean(group_hops))
}

/// Tickets solved in `range` per key of `by`, largest first.
pub fn solved_volume(facts: &[&TicketFact], range: Range, by: GroupBy) -> Vec<Volume> {
    let mut counts: BTreeMap<Option<&str>, u64> = BTreeMap::new();
    let mut keys = Vec::new();
    for f in facts {
        if f.solved_at.is_some_and(|at| range.contains(at)) {
            by.key_refs(f, &mut keys);
            for key in &keys {
                *counts.entry(*key).or_default() += 1;
            }
        }
    }
    count_rows(counts)
}

/// The live queue numbers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Queue {
    /// Unsolved tickets.
    pub size: u64,
    /// Unsolved and unassigned.
    pub unassigned: u64,
    /// Unsolved and waiting on the desk (new, open, on hold).
    pub waiting_on_desk: u64,
    /// Age of the oldest unsolved ticket without a first reply, seconds.
    pub longest_first_reply_wait: f64,
    /// Agents with a public reply in the 15 minutes before `now`.
    pub agents_active: u64,
}

/// How long an agent counts as active after a public reply.
pub const ACTIVE_WINDOW: TimeDelta = TimeDelta::minutes(15);

/// The queue as of `now`. Merged tickets are out of it.
pub fn queue(facts: &[&TicketFact], now: DateTime<Utc>) -> Queue {
    use switchboard_kpi::fact::Status;
    let mut q = Queue::default();
    let mut active = BTreeSet::new();
    for f in facts {
        for r in f.replies.iter().rev() {
            if r.at <= now && now - r.at <= ACTIVE_WINDOW {
                active.insert(r.agent.as_str());
            } else if r.at < now - ACTIVE_WINDOW {
                break;
            }
        }
        if !f.is_unsolved() || f.merged.is_some() {
            continue;
        }
        q.size += 1;
        q.unassigned += u64::from(f.assignee.is_none());
        q.waiting_on_desk += u64::from(f.status != Status::Pending);
        if f.first_reply_at.is_none() {
            let wait = (now - f.created_at).num_seconds().max(0) as f64;
            q.longest_first_reply_wait = q.longest_first_reply_wait.max(wait);
        }
    }
    q.agents_active = active.len() as u64;
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    use switchboard_kpi::TicketEvent;
    use switchboard_kpi::fact::{Author, SlaTargets, Status};
    use switchboard_sla::Calendar;

    fn t(minutes: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + minutes * 60, 0).unwrap()
    }

    fn fact(created: i64, tags: &[&str], more: &[TicketEvent]) -> TicketFact {
        let mut events = vec![TicketEvent::Created {
            at: t(created),
            by_agent: false,
            channel: Channel::Email,
            priority: Priority::Normal,
            group: None,
            tags: tags.iter().map(|s| s.to_string()).collect(),
            assignee: None,
            sla: SlaTargets::default(),
        }];
        events.extend_from_slice(more);
        crate::ingest::fold(&events, &Calendar::always()).unwrap()
    }

    #[test]
    fn the_queue_counts_unsolved_waiting_and_active_agents() {
        let reply = |at, agent: &str| TicketEvent::Message {
            at: t(at),
            public: true,
            author: Author::Agent(agent.into()),
        };
        let to = |at, to| TicketEvent::Status {
            at: t(at),
            from: Status::New,
            to,
        };
        let facts = [
            // Waiting 60 minutes for a first reply.
            fact(0, &[], &[]),
            // Answered by ann 5 minutes ago, now pending on the customer.
            fact(10, &[], &[reply(55, "ann"), to(55, Status::Pending)]),
            // Solved by bo 20 minutes ago: out of the queue, bo not active.
            fact(20, &[], &[reply(40, "bo"), to(40, Status::Solved)]),
        ];
        let refs: Vec<&TicketFact> = facts.iter().collect();
        let q = queue(&refs, t(60));
        assert_eq!((q.size, q.unassigned, q.waiting_on_desk), (2, 2, 1));
        assert_eq!(q.longest_first_reply_wait, 3600.0);
        assert_eq!(q.agents_active, 1);
    }

    #[test]
    fn a_filter_matches_every_non_empty_list() {
        let f = fact(0, &["vip"], &[]);
        assert!(Filter::default().matches(&f));
        let mut only = Filter::default();
        only.tags.insert("vip".into());
        only.groups.insert(None);
        assert!(only.matches(&f));
        only.channels.insert(Channel::Chat);
        assert!(!only.matches(&f));
    }

    #[test]
    fn ranges_are_bounded_and_ordered() {
        let t = |h: i64| DateTime::from_timestamp(h * 3600, 0).unwrap();
        let mut v = Violations::default();
        assert!(range(Some(t(2)), Some(t(1)), "range", &mut v).is_none());
        assert!(range(None, Some(t(1)), "range", &mut v).is_none());
        assert!(range(Some(t(0)), Some(t(24 * 401)), "range", &mut v).is_none());
        assert_eq!(v.0.len(), 3);
        let mut ok = Violations::default();
        assert!(range(Some(t(0)), Some(t(24)), "range", &mut ok).is_some());
        assert!(ok.0.is_empty());
    }
}
