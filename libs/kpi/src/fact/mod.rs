//! One ticket's metrics, folded from its events.
//!
//! Durations come in calendar and business seconds; business seconds use
//! the tenant's [`Calendar`] (its hours, holidays and time zone) as it is
//! when folding, so editing the hours re-measures history on the next fold.
//!
//! A ticket merged into another ends there: it is excluded from every
//! resolution metric (solve times, solved counts, wait times, one-touch,
//! reopens share, resolution SLA) yet still counts as created volume, in
//! the backlog until the merge, and for its first reply and rating.

mod event;
mod timeline;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use switchboard_sla::Calendar;
use uuid::Uuid;

pub use event::{Author, Channel, Priority, SlaTarget, SlaTargets, Status, TicketEvent};
pub use timeline::{FoldError, Timeline};

/// A span of time measured on both clocks, in whole seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Elapsed {
    /// Wall-clock seconds.
    pub calendar: i64,
    /// Seconds the desk was open, per the tenant's calendar.
    pub business: i64,
}

impl Elapsed {
    /// `[from, to)` on both clocks; zero when `to <= from` (clock skew
    /// between event producers must not make time negative).
    pub fn between(calendar: &Calendar, from: DateTime<Utc>, to: DateTime<Utc>) -> Self {
        if to <= from {
            return Self::default();
        }
        Self {
            calendar: (to - from).num_seconds(),
            business: calendar.between(from, to).num_seconds(),
        }
    }

    /// The seconds on `basis`.
    pub fn on(self, basis: Basis) -> i64 {
        match basis {
            Basis::Calendar => self.calendar,
            Basis::Business => self.business,
        }
    }
}

impl std::ops::AddAssign for Elapsed {
    fn add_assign(&mut self, other: Self) {
        self.calendar = self.calendar.saturating_add(other.calendar);
        self.business = self.business.saturating_add(other.business);
    }
}

/// Which clock a duration is measured on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// Wall-clock time, nights and weekends included.
    Calendar,
    /// Only the desk's business hours.
    Business,
}

/// One public agent reply.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Reply {
    /// When it was added.
    pub at: DateTime<Utc>,
    /// The agent's user id.
    pub agent: String,
}

/// The requester's latest rating.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Satisfaction {
    /// 1 (very bad) to 5 (very good).
    pub score: u8,
    /// When it was submitted.
    pub at: DateTime<Utc>,
}

impl Satisfaction {
    /// A good rating: 4 or 5. A 3 is rated but not good, so it lowers CSAT.
    pub fn is_good(self) -> bool {
        self.score >= 4
    }
}

/// The merge that ended a duplicate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Merge {
    /// The surviving ticket.
    pub target: Uuid,
    /// When it was merged.
    pub at: DateTime<Utc>,
}

/// A half-open span `[start, end)`; `end` is `None` while it lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Span {
    /// Inclusive start.
    pub start: DateTime<Utc>,
    /// Exclusive end; `None` while still running.
    pub end: Option<DateTime<Utc>>,
}

impl Span {
    /// Whether `at` falls inside.
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        self.start <= at && self.end.is_none_or(|end| at < end)
    }
}

/// One SLA target's outcome for a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct SlaRecord {
    /// The ticket had this target at some point (from creation, a priority
    /// change, or a breach, which implies one).
    pub target: bool,
    /// The first breach of the target; `None` if never breached.
    pub breached_at: Option<DateTime<Utc>>,
}

/// One ticket's metrics as of `as_of`, folded from its events.
///
/// Group-by fields (channel, priority, group, assignee, tags) hold the
/// latest values, so reports group history by where tickets are now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketFact {
    /// The `now` the fact was folded at; open spans run up to it.
    pub as_of: DateTime<Utc>,
    /// When the ticket was created; places it in created volume.
    pub created_at: DateTime<Utc>,
    /// Staff created it (outbound): its opening message is not a reply.
    pub created_by_agent: bool,
    /// Intake channel.
    pub channel: Channel,
    /// Latest priority.
    pub priority: Priority,
    /// Latest group; `None` when none.
    pub group: Option<String>,
    /// Latest assignee; `None` when unassigned.
    pub assignee: Option<String>,
    /// Latest tags.
    pub tags: Vec<String>,
    /// Status as of `as_of`.
    pub status: Status,
    /// When the first public agent reply after creation was added. For an
    /// agent-created ticket the opening message is that agent's, so this is
    /// the next public agent reply. Internal notes, customer and system
    /// messages never count.
    pub first_reply_at: Option<DateTime<Utc>>,
    /// First reply time: creation to [`first_reply_at`](Self::first_reply_at);
    /// `None` until an agent replies publicly.
    pub first_reply: Option<Elapsed>,
    /// When the ticket was first solved (or closed); `None` if never, and
    /// for merged tickets.
    pub first_solved_at: Option<DateTime<Utc>>,
    /// First resolution time: creation to the first solve, kept even if the
    /// ticket was reopened since; `None` if never solved, and for merged
    /// tickets.
    pub first_resolution: Option<Elapsed>,
    /// When the ticket was last solved, while it stays solved or closed;
    /// `None` while unsolved (a reopen clears it), and for merged tickets.
    pub solved_at: Option<DateTime<Utc>>,
    /// Full resolution time: creation to the last solve; `None` while
    /// unsolved and for merged tickets. Differs from first resolution time
    /// only for reopened tickets.
    pub full_resolution: Option<Elapsed>,
    /// Requester wait time: time spent new, open or on hold (the requester
    /// waits on the desk), up to the last solve, or up to `as_of` while
    /// unsolved. Time while solved counts nowhere.
    pub requester_wait: Elapsed,
    /// Agent wait time: time spent pending (the desk waits on the
    /// requester), up to the last solve, or up to `as_of` while unsolved.
    pub agent_wait: Elapsed,
    /// Reopens: moves from solved (or closed) back to any unsolved status.
    pub reopens: u32,
    /// Public agent replies after creation (the opening message of an
    /// agent-created ticket is not one; internal notes never are).
    pub public_agent_replies: u32,
    /// Those replies, for per-agent counts.
    pub replies: Vec<Reply>,
    /// Assignee hops: times the ticket moved to a different agent after its
    /// first assignment. Unassigning alone is no hop; A → none → B is one,
    /// A → none → A is none.
    pub assignee_hops: u32,
    /// Group hops: times the ticket moved to a different group after it
    /// first had one, counted like assignee hops.
    pub group_hops: u32,
    /// One-touch resolution: solved now, with exactly one public agent reply
    /// and never reopened. False for merged tickets.
    pub one_touch: bool,
    /// The latest rating; good means 4 or 5.
    pub satisfaction: Option<Satisfaction>,
    /// Set when this ticket was merged into another; see the module docs for
    /// what that excludes.
    pub merged: Option<Merge>,
    /// Spans the ticket was solved or closed (merges included), oldest
    /// first: outside them, once created, it is in the backlog.
    pub resolved_spans: Vec<Span>,
    /// First-reply SLA: whether the ticket had the target and when it was
    /// breached. Met when the first reply came without a breach.
    pub sla_first_reply: SlaRecord,
    /// Resolution SLA: met when solved without a breach. Merged tickets are
    /// excluded.
    pub sla_resolution: SlaRecord,
}

impl TicketFact {
    /// Folds `events`, in version order and starting with
    /// [`TicketEvent::Created`], as of `now`.
    pub fn fold(
        events: &[TicketEvent],
        calendar: &Calendar,
        now: DateTime<Utc>,
    ) -> Result<Self, FoldError> {
        let (first, rest) = events.split_first().ok_or(FoldError::NotCreated)?;
        let mut timeline = Timeline::start(first)?;
        for event in rest {
            timeline.apply(event)?;
        }
        Ok(timeline.fact(calendar, now))
    }

    /// Whether the ticket counts in the backlog at `at`: created before it
    /// and neither solved nor closed at that instant.
    pub fn in_backlog_at(&self, at: DateTime<Utc>) -> bool {
        self.created_at < at && !self.resolved_spans.iter().any(|s| s.contains(at))
    }

    /// Whether the ticket is still unsolved as of `as_of`.
    pub fn is_unsolved(&self) -> bool {
        !self.status.is_resolved()
    }
}
