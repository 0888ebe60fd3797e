//! Desk-wide KPIs over a time range, breakdowns, and time series.

mod metric;
mod series;
mod table;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use metric::{Metric, Value, measure};
pub use series::{Bucket, Point, Series, series};
pub use table::{AgentRow, GroupBy, Volume, agents, volume};

use crate::fact::{Basis, TicketFact};
use crate::stats::{DurationStats, Rate};

/// A half-open interval `[from, to)` of instants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Range {
    /// Inclusive start.
    pub from: DateTime<Utc>,
    /// Exclusive end.
    pub to: DateTime<Utc>,
}

impl Range {
    /// `[from, to)`; empty when `to <= from`.
    pub fn new(from: DateTime<Utc>, to: DateTime<Utc>) -> Self {
        Self { from, to }
    }

    /// Whether `at` falls inside.
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        self.from <= at && at < self.to
    }
}

/// A duration metric's statistics on both clocks.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ElapsedStats {
    /// In wall-clock seconds; `None` without samples.
    pub calendar: Option<DurationStats>,
    /// In business seconds; `None` without samples.
    pub business: Option<DurationStats>,
}

/// The headline KPIs of a range; see each [`Metric`] for what lands in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Overview {
    /// The range measured.
    pub range: Range,
    /// Tickets created in the range, merged ones included.
    pub created: u64,
    /// Tickets solved in the range (last solve, still solved; not merged).
    pub solved: u64,
    /// Backlog at the range's start.
    pub backlog_at_start: u64,
    /// Backlog at the range's end.
    pub backlog_at_end: u64,
    /// First reply time of first replies given in the range.
    pub first_reply: ElapsedStats,
    /// First resolution time of first solves in the range.
    pub first_resolution: ElapsedStats,
    /// Full resolution time of tickets solved in the range.
    pub full_resolution: ElapsedStats,
    /// Requester wait time of tickets solved in the range.
    pub requester_wait: ElapsedStats,
    /// Agent wait time of tickets solved in the range.
    pub agent_wait: ElapsedStats,
    /// CSAT: good (4–5) over all ratings submitted in the range.
    pub csat: Rate,
    /// Mean score of ratings submitted in the range, 1 to 5.
    pub average_score: Option<f64>,
    /// One-touch solves over tickets solved in the range.
    pub one_touch: Rate,
    /// Reopened tickets over tickets solved in the range.
    pub reopened: Rate,
    /// First-reply SLA achievement: met over decided in the range.
    pub sla_first_reply: Rate,
    /// Resolution SLA achievement: met over decided in the range.
    pub sla_resolution: Rate,
    /// Created volume by channel.
    pub by_channel: Vec<Volume>,
    /// Created volume by priority.
    pub by_priority: Vec<Volume>,
    /// Created volume by group.
    pub by_group: Vec<Volume>,
    /// Created volume by tag (a ticket counts once per tag).
    pub by_tag: Vec<Volume>,
    /// One row per agent.
    pub agents: Vec<AgentRow>,
}

/// The KPIs of `facts` over `range`.
pub fn overview(facts: &[TicketFact], range: Range) -> Overview {
    let count = |metric| match measure(facts, metric, range) {
        Value::Count(n) => n,
        _ => 0,
    };
    let rate = |metric| match measure(facts, metric, range) {
        Value::Rate(r) => r,
        _ => Rate::default(),
    };
    let durations = |metric: fn(Basis) -> Metric| {
        let on = |basis| match measure(facts, metric(basis), range) {
            Value::Duration(d) => d,
            _ => None,
        };
        ElapsedStats {
            calendar: on(Basis::Calendar),
            business: on(Basis::Business),
        }
    };
    Overview {
        range,
        created: count(Metric::Created),
        solved: count(Metric::Solved),
        backlog_at_start: backlog(facts, range.from),
        backlog_at_end: backlog(facts, range.to),
        first_reply: durations(Metric::FirstReplyTime),
        first_resolution: durations(Metric::FirstResolutionTime),
        full_resolution: durations(Metric::FullResolutionTime),
        requester_wait: durations(Metric::RequesterWaitTime),
        agent_wait: durations(Metric::AgentWaitTime),
        csat: rate(Metric::Csat),
        average_score: match measure(facts, Metric::AverageScore, range) {
            Value::Average(a) => a,
            _ => None,
        },
        one_touch: rate(Metric::OneTouch),
        reopened: rate(Metric::Reopened),
        sla_first_reply: rate(Metric::SlaFirstReply),
        sla_resolution: rate(Metric::SlaResolution),
        by_channel: volume(facts, range, GroupBy::Channel),
        by_priority: volume(facts, range, GroupBy::Priority),
        by_group: volume(facts, range, GroupBy::Group),
        by_tag: volume(facts, range, GroupBy::Tag),
        agents: agents(facts, range),
    }
}

/// The backlog at `at`: tickets created before it and neither solved nor
/// closed at that instant (a reopened ticket is back in it).
pub fn backlog(facts: &[TicketFact], at: DateTime<Utc>) -> u64 {
    facts.iter().filter(|f| f.in_backlog_at(at)).count() as u64
}
