//! Desk-wide KPIs over a time range, breakdowns, and time series.

mod metric;
mod series;
mod table;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use metric::{Metric, Value, measure, measure_many};
pub use series::{Bucket, Point, Series, series};
pub use table::{AgentRow, GroupBy, Volume, agents, count_rows, volume, volumes};

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

/// The KPIs of `facts` over `range`; `facts` is walked once per metric, so
/// pass a cheap iterator (a slice, or a filter over one).
pub fn overview<'a, I>(facts: I, range: Range) -> Overview
where
    I: IntoIterator<Item = &'a TicketFact> + Clone,
{
    use Metric::*;
    let metrics = [
        Created,
        Solved,
        Backlog,
        FirstReplyTime(Basis::Calendar),
        FirstReplyTime(Basis::Business),
        FirstResolutionTime(Basis::Calendar),
        FirstResolutionTime(Basis::Business),
        FullResolutionTime(Basis::Calendar),
        FullResolutionTime(Basis::Business),
        RequesterWaitTime(Basis::Calendar),
        RequesterWaitTime(Basis::Business),
        AgentWaitTime(Basis::Calendar),
        AgentWaitTime(Basis::Business),
        Csat,
        AverageScore,
        OneTouch,
        Reopened,
        SlaFirstReply,
        SlaResolution,
    ];
    let values = measure_many(facts.clone(), &metrics, range);
    let value = |metric: Metric| metrics.iter().position(|m| *m == metric).map(|i| values[i]);
    let count = |metric| match value(metric) {
        Some(Value::Count(n)) => n,
        _ => 0,
    };
    let rate = |metric| match value(metric) {
        Some(Value::Rate(r)) => r,
        _ => Rate::default(),
    };
    let durations = |metric: fn(Basis) -> Metric| {
        let on = |basis| match value(metric(basis)) {
            Some(Value::Duration(d)) => d,
            _ => None,
        };
        ElapsedStats {
            calendar: on(Basis::Calendar),
            business: on(Basis::Business),
        }
    };
    let mut volumes = volumes(
        facts.clone(),
        range,
        &[
            GroupBy::Channel,
            GroupBy::Priority,
            GroupBy::Group,
            GroupBy::Tag,
        ],
    )
    .into_iter();
    let mut next_volume = || volumes.next().unwrap_or_default();
    Overview {
        range,
        created: count(Created),
        solved: count(Solved),
        backlog_at_start: backlog(facts.clone(), range.from),
        backlog_at_end: count(Backlog),
        first_reply: durations(FirstReplyTime),
        first_resolution: durations(FirstResolutionTime),
        full_resolution: durations(FullResolutionTime),
        requester_wait: durations(RequesterWaitTime),
        agent_wait: durations(AgentWaitTime),
        csat: rate(Csat),
        average_score: match value(AverageScore) {
            Some(Value::Average(a)) => a,
            _ => None,
        },
        one_touch: rate(OneTouch),
        reopened: rate(Reopened),
        sla_first_reply: rate(SlaFirstReply),
        sla_resolution: rate(SlaResolution),
        by_channel: next_volume(),
        by_priority: next_volume(),
        by_group: next_volume(),
        by_tag: next_volume(),
        agents: agents(facts.clone(), range),
    }
}

/// The backlog at `at`: tickets created before it and neither solved nor
/// closed at that instant (a reopened ticket is back in it).
pub fn backlog<'a>(facts: impl IntoIterator<Item = &'a TicketFact>, at: DateTime<Utc>) -> u64 {
    facts.into_iter().filter(|f| f.in_backlog_at(at)).count() as u64
}
