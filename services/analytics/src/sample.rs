//! One ticket's contributions to the metrics: each instant at which its
//! fact lands in some measure (see `switchboard_kpi::overview::Metric` for
//! which instant places which metric), with what it adds, and the keys it
//! is grouped under. Aggregate rows are sums of these, so a changed fact
//! is corrected by subtracting its old samples and adding its new ones.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use switchboard_kpi::fact::{Channel, Priority};
use switchboard_kpi::{Basis, Elapsed, TicketFact};

use crate::cells::{Cells, Measure, Span};

/// What a ticket adds at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum What {
    /// Created: created volume.
    Created,
    /// The ticket enters (+1) or leaves (-1) the backlog for every instant
    /// after this one.
    Backlog(i8),
    /// First reply time.
    FirstReply(Elapsed),
    /// First resolution time.
    FirstResolution(Elapsed),
    /// The last solve of a ticket still solved: everything measured then.
    Solved(Box<Solve>),
    /// A rating's score.
    Rated(u8),
    /// The first-reply SLA decided: met or not.
    SlaFirstReply(bool),
    /// The resolution SLA decided: met or not.
    SlaResolution(bool),
    /// A public reply by this agent (counted under the agent only).
    Reply(String),
}

/// What a solve adds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Solve {
    /// Public agent replies on the ticket.
    pub replies: u32,
    /// Assignee hops.
    pub assignee_hops: u32,
    /// Group hops.
    pub group_hops: u32,
    /// One-touch.
    pub one_touch: bool,
    /// Reopened at least once.
    pub reopened: bool,
    /// Full resolution time.
    pub full_resolution: Option<Elapsed>,
    /// Requester wait time.
    pub requester_wait: Elapsed,
    /// Agent wait time.
    pub agent_wait: Elapsed,
}

/// One contribution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Where it lands.
    pub at: DateTime<Utc>,
    /// What it adds.
    pub what: What,
}

/// The ticket's current group-by values (reports group history by where
/// tickets are now).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dims {
    /// Channel.
    pub channel: Channel,
    /// Priority.
    pub priority: Priority,
    /// Group.
    pub group: Option<String>,
    /// Assignee.
    pub assignee: Option<String>,
    /// Distinct tags, sorted.
    pub tags: Vec<String>,
}

/// A line of a report: the whole desk, or one key of a dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dim {
    /// Every ticket (key `None`).
    All,
    /// By channel.
    Channel,
    /// By priority.
    Priority,
    /// By group; `None` is no group.
    Group,
    /// By assignee; `None` is unassigned.
    Assignee,
    /// By each tag; `None` is untagged.
    Tag,
    /// Public replies by the agent who wrote them.
    Replier,
}

impl Dim {
    /// Every dimension, in stored order.
    pub const ALL: [Dim; 7] = [
        Dim::All,
        Dim::Channel,
        Dim::Priority,
        Dim::Group,
        Dim::Assignee,
        Dim::Tag,
        Dim::Replier,
    ];

    /// The stored number.
    pub fn code(self) -> i16 {
        self as i16
    }

    /// The dimension stored as `code`.
    pub fn from_code(code: i16) -> Option<Self> {
        usize::try_from(code)
            .ok()
            .and_then(|i| Self::ALL.get(i))
            .copied()
    }
}

/// A line's key as stored: `""` for none, else `+` and the value, so an
/// empty tag and no tag stay apart.
pub fn key_text(key: Option<&str>) -> String {
    key.map_or_else(String::new, |k| format!("+{k}"))
}

/// The key stored as `text`.
pub fn key_of(text: &str) -> Option<String> {
    text.strip_prefix('+').map(str::to_owned)
}

impl Dims {
    /// `fact`'s current values.
    pub fn of(fact: &TicketFact) -> Self {
        let mut tags = fact.tags.clone();
        tags.sort_unstable();
        tags.dedup();
        Self {
            channel: fact.channel,
            priority: fact.priority,
            group: fact.group.clone(),
            assignee: fact.assignee.clone(),
            tags,
        }
    }

    /// The keys an item of kind `what` counts under in `dim` (none when it
    /// does not count there: replies only under their agent, everything
    /// else under every dimension but that one).
    pub fn keys<'a>(&'a self, dim: Dim, what: &'a What, out: &mut Vec<Option<&'a str>>) {
        out.clear();
        match (dim, what) {
            (Dim::Replier, What::Reply(agent)) => out.push(Some(agent)),
            (Dim::Replier, _) | (_, What::Reply(_)) => {}
            _ => self.ticket_keys(dim, out),
        }
    }

    /// The keys the ticket itself is under in `dim` (none for
    /// [`Dim::Replier`]).
    pub fn ticket_keys<'a>(&'a self, dim: Dim, out: &mut Vec<Option<&'a str>>) {
        out.clear();
        match dim {
            Dim::Replier => {}
            Dim::All => out.push(None),
            Dim::Channel => out.push(Some(self.channel.as_str())),
            Dim::Priority => out.push(Some(self.priority.as_str())),
            Dim::Group => out.push(self.group.as_deref()),
            Dim::Assignee => out.push(self.assignee.as_deref()),
            Dim::Tag if self.tags.is_empty() => out.push(None),
            Dim::Tag => out.extend(self.tags.iter().map(|t| Some(t.as_str()))),
        }
    }
}

/// A ticket's dimensions and contributions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Samples {
    /// Where it is grouped.
    pub dims: Dims,
    /// What it adds, and when.
    pub items: Vec<Item>,
}

impl Samples {
    /// What `fact` contributes; the same rules as `switchboard-kpi`'s
    /// metrics, instant by instant.
    pub fn of(fact: &TicketFact) -> Self {
        let mut items = vec![Item {
            at: fact.created_at,
            what: What::Created,
        }];
        backlog(fact, &mut items);
        let mut push = |at: Option<DateTime<Utc>>, what: What| {
            if let Some(at) = at {
                items.push(Item { at, what });
            }
        };
        if let Some(e) = fact.first_reply {
            push(fact.first_reply_at, What::FirstReply(e));
        }
        if let Some(e) = fact.first_resolution {
            push(fact.first_solved_at, What::FirstResolution(e));
        }
        let solve = Solve {
            replies: fact.public_agent_replies,
            assignee_hops: fact.assignee_hops,
            group_hops: fact.group_hops,
            one_touch: fact.one_touch,
            reopened: fact.reopens > 0,
            full_resolution: fact.full_resolution,
            requester_wait: fact.requester_wait,
            agent_wait: fact.agent_wait,
        };
        push(fact.solved_at, What::Solved(Box::new(solve)));
        if let Some(s) = fact.satisfaction {
            push(Some(s.at), What::Rated(s.score));
        }
        let sla = fact.sla_first_reply;
        if sla.target {
            let met = sla.breached_at.is_none();
            push(
                sla.breached_at.or(fact.first_reply_at),
                What::SlaFirstReply(met),
            );
        }
        let sla = fact.sla_resolution;
        if sla.target && fact.merged.is_none() {
            let met = sla.breached_at.is_none();
            push(sla.breached_at.or(fact.solved_at), What::SlaResolution(met));
        }
        for r in &fact.replies {
            push(Some(r.at), What::Reply(r.agent.clone()));
        }
        Self {
            dims: Dims::of(fact),
            items,
        }
    }
}

/// What one ticket adds to one period or bucket: its own measures, and
/// its public replies per agent (which count under the agent, not the
/// ticket's keys).
#[derive(Debug, Clone, Default)]
pub struct Part {
    /// The ticket's measures.
    pub cells: Cells,
    /// Public replies per agent.
    pub replies: BTreeMap<String, i64>,
}

impl Part {
    /// Empty; `raw` keeps exact seconds.
    pub fn new(raw: bool) -> Self {
        Self {
            cells: Cells::new(raw),
            replies: BTreeMap::new(),
        }
    }

    /// Adds `what`, times `sign`.
    pub fn add(&mut self, what: &What, sign: i64) {
        match what {
            What::Reply(agent) => *self.replies.entry(agent.clone()).or_default() += sign,
            what => what.add_to(&mut self.cells, sign),
        }
    }
}

/// The backlog as steps: a ticket is in it at `t` when created before `t`
/// and in no resolved span `[start, end)` holding `t`. Every step is
/// placed so that the backlog at `t` is the sum of the steps strictly
/// before `t`: entering at creation, leaving just before a span starts
/// (a nanosecond, so the span's first instant is out), coming back just
/// before it ends; none before creation (so a ticket solved the instant
/// it was created is never in it).
fn backlog(fact: &TicketFact, items: &mut Vec<Item>) {
    let c = fact.created_at;
    let step = |at: DateTime<Utc>| (at - TimeDelta::nanoseconds(1)).max(c);
    items.push(Item {
        at: c,
        what: What::Backlog(1),
    });
    for span in &fact.resolved_spans {
        items.push(Item {
            at: step(span.start),
            what: What::Backlog(-1),
        });
        if let Some(end) = span.end {
            items.push(Item {
                at: step(end),
                what: What::Backlog(1),
            });
        }
    }
}

impl What {
    /// Adds this contribution, times `sign`, to `cells`.
    pub fn add_to(&self, cells: &mut Cells, sign: i64) {
        use Measure as M;
        let both = |cells: &mut Cells, span: Span, e: Elapsed| {
            cells.add(M::of(span, Basis::Calendar), e.calendar, sign);
            cells.add(M::of(span, Basis::Business), e.business, sign);
        };
        match self {
            What::Created => cells.add(M::Created, 0, sign),
            What::Backlog(step) => cells.add(M::Backlog, 0, sign * i64::from(*step)),
            What::FirstReply(e) => both(cells, Span::FirstReply, *e),
            What::FirstResolution(e) => both(cells, Span::FirstResolution, *e),
            What::Solved(s) => {
                cells.add(M::Solved, 0, sign);
                cells.add(M::Replies, i64::from(s.replies), sign);
                cells.add(M::AssigneeHops, i64::from(s.assignee_hops), sign);
                cells.add(M::GroupHops, i64::from(s.group_hops), sign);
                cells.add(M::OneTouch, i64::from(s.one_touch), sign);
                cells.add(M::Reopened, i64::from(s.reopened), sign);
                if let Some(e) = s.full_resolution {
                    both(cells, Span::FullResolution, e);
                }
                both(cells, Span::RequesterWait, s.requester_wait);
                both(cells, Span::AgentWait, s.agent_wait);
            }
            What::Rated(score) => {
                cells.add(M::Csat, i64::from(*score >= 4), sign);
                cells.add(M::Score, i64::from(*score), sign);
            }
            What::SlaFirstReply(met) => cells.add(M::SlaFirstReply, i64::from(*met), sign),
            What::SlaResolution(met) => cells.add(M::SlaResolution, i64::from(*met), sign),
            What::Reply(_) => cells.add(M::PublicReplies, 0, sign),
        }
    }
}

#[cfg(test)]
#[path = "sample_tests.rs"]
mod tests;
