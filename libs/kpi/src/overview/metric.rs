//! Which instant places each metric in a range, and how samples add up.
//!
//! A measure belongs to the range holding the instant it became known:
//! created volume by creation, first reply time by the first reply, first
//! resolution time by the first solve, everything about a finished ticket
//! (solves, full resolution, waits, one-touch, reopens) by its last solve,
//! ratings by their submission, an SLA outcome by the breach or, without
//! one, by the reply or solve that met it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Range;
use crate::fact::{Basis, TicketFact};
use crate::stats::{DurationStats, Rate};

/// A metric that [`measure`] and [`series`](super::series) can compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Tickets created in the range (merged ones included).
    Created,
    /// Tickets whose last solve falls in the range and that are still
    /// solved or closed (merged ones excluded).
    Solved,
    /// Tickets in the backlog at the range's end.
    Backlog,
    /// First reply times of first replies given in the range.
    FirstReplyTime(Basis),
    /// First resolution times of first solves in the range.
    FirstResolutionTime(Basis),
    /// Full resolution times of tickets solved in the range.
    FullResolutionTime(Basis),
    /// Requester wait times of tickets solved in the range.
    RequesterWaitTime(Basis),
    /// Agent wait times of tickets solved in the range.
    AgentWaitTime(Basis),
    /// Good ratings over ratings submitted in the range.
    Csat,
    /// Mean 1–5 score of ratings submitted in the range.
    AverageScore,
    /// One-touch solves over tickets solved in the range.
    OneTouch,
    /// Reopened tickets over tickets solved in the range.
    Reopened,
    /// First-reply targets met over those decided in the range.
    SlaFirstReply,
    /// Resolution targets met over those decided in the range.
    SlaResolution,
}

/// A metric's value over a range.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Value {
    /// A number of tickets.
    Count(u64),
    /// Duration statistics; `None` without samples.
    Duration(Option<DurationStats>),
    /// A share.
    Rate(Rate),
    /// A mean; `None` without samples.
    Average(Option<f64>),
}

/// One ticket's contribution to a metric.
#[derive(Clone, Copy)]
pub(crate) enum Sample {
    One,
    Seconds(i64),
    Hit(bool),
    Score(u8),
}

/// Where `fact` lands for `metric` and what it adds; `None` when it does not
/// take part. [`Metric::Backlog`] is a state, not an event, so never here.
pub(crate) fn sample(fact: &TicketFact, metric: Metric) -> Option<(DateTime<Utc>, Sample)> {
    use Metric::*;
    let solved = fact.solved_at;
    match metric {
        Created => Some((fact.created_at, Sample::One)),
        Solved => solved.map(|at| (at, Sample::One)),
        Backlog => None,
        FirstReplyTime(b) => Some((
            fact.first_reply_at?,
            Sample::Seconds(fact.first_reply?.on(b)),
        )),
        FirstResolutionTime(b) => Some((
            fact.first_solved_at?,
            Sample::Seconds(fact.first_resolution?.on(b)),
        )),
        FullResolutionTime(b) => Some((solved?, Sample::Seconds(fact.full_resolution?.on(b)))),
        RequesterWaitTime(b) => Some((solved?, Sample::Seconds(fact.requester_wait.on(b)))),
        AgentWaitTime(b) => Some((solved?, Sample::Seconds(fact.agent_wait.on(b)))),
        Csat => fact.satisfaction.map(|s| (s.at, Sample::Hit(s.is_good()))),
        AverageScore => fact.satisfaction.map(|s| (s.at, Sample::Score(s.score))),
        OneTouch => Some((solved?, Sample::Hit(fact.one_touch))),
        Reopened => Some((solved?, Sample::Hit(fact.reopens > 0))),
        SlaFirstReply => {
            let sla = fact.sla_first_reply;
            let decided = sla.breached_at.or(fact.first_reply_at)?;
            sla.target
                .then_some((decided, Sample::Hit(sla.breached_at.is_none())))
        }
        SlaResolution => {
            let sla = fact.sla_resolution;
            if !sla.target || fact.merged.is_some() {
                return None;
            }
            let decided = sla.breached_at.or(solved)?;
            Some((decided, Sample::Hit(sla.breached_at.is_none())))
        }
    }
}

/// Samples of one metric added up.
#[derive(Default)]
pub(crate) struct Tally {
    count: u64,
    seconds: Vec<i64>,
    rate: Rate,
    score_sum: u64,
}

impl Tally {
    pub(crate) fn add(&mut self, sample: Sample) {
        self.count += 1;
        match sample {
            Sample::One => {}
            Sample::Seconds(s) => self.seconds.push(s),
            Sample::Hit(hit) => self.rate.record(hit),
            Sample::Score(score) => self.score_sum += u64::from(score),
        }
    }

    pub(crate) fn value(&self, metric: Metric) -> Value {
        use Metric::*;
        match metric {
            Created | Solved | Backlog => Value::Count(self.count),
            FirstReplyTime(_)
            | FirstResolutionTime(_)
            | FullResolutionTime(_)
            | RequesterWaitTime(_)
            | AgentWaitTime(_) => Value::Duration(DurationStats::of(&self.seconds)),
            Csat | OneTouch | Reopened | SlaFirstReply | SlaResolution => Value::Rate(self.rate),
            AverageScore => {
                Value::Average((self.count > 0).then(|| self.score_sum as f64 / self.count as f64))
            }
        }
    }
}

/// `metric` over `facts` in `range`; [`Metric::Backlog`] counts the backlog
/// at `range.to`.
pub fn measure<'a>(
    facts: impl IntoIterator<Item = &'a TicketFact>,
    metric: Metric,
    range: Range,
) -> Value {
    measure_many(facts, &[metric], range)
        .pop()
        .unwrap_or(Value::Count(0))
}

/// Each of `metrics` over `facts` in `range`, in one pass over the facts
/// (a report of many metrics over many tickets is bound by memory reads,
/// not by arithmetic).
pub fn measure_many<'a>(
    facts: impl IntoIterator<Item = &'a TicketFact>,
    metrics: &[Metric],
    range: Range,
) -> Vec<Value> {
    let mut tallies: Vec<Tally> = metrics.iter().map(|_| Tally::default()).collect();
    for fact in facts {
        for (tally, &metric) in tallies.iter_mut().zip(metrics) {
            if metric == Metric::Backlog {
                if fact.in_backlog_at(range.to) {
                    tally.add(Sample::One);
                }
            } else if let Some((at, s)) = sample(fact, metric)
                && range.contains(at)
            {
                tally.add(s);
            }
        }
    }
    tallies
        .iter()
        .zip(metrics)
        .map(|(t, &m)| t.value(m))
        .collect()
}
