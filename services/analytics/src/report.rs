//! The reports, built from what [`crate::read`] adds up: which source
//! answers a request, and the `switchboard-kpi` numbers from the totals.
//!
//! Aggregate rows answer when the filter is empty or names keys of one
//! dimension the report can sum (a set of channels, say) and the range is
//! longer than [`EXACT_UP_TO`]: every count, mean and rate is exact, and
//! medians and p90s come from histogram buckets (within 1/128, see
//! [`crate::sketch`]). Otherwise every sample in the range is read (of
//! tickets passing the filter): a range of at most [`EXACT_UP_TO`] keeps
//! exact seconds, so every number is exact as the fact path's always was;
//! a longer one buckets durations too, so its memory stays bounded.

use std::collections::BTreeMap;

use chrono::TimeDelta;
use chrono_tz::Tz;
use sqlx::PgPool;
use switchboard_kpi::overview::{
    AgentRow, ElapsedStats, GroupBy, Metric, Overview, Volume, count_rows,
};
use switchboard_kpi::{Basis, Range};
use switchboard_proto::analytics::v1 as pb;

use crate::backlog::levels;
use crate::cells::{Cells, Kind, Measure, Measures, Span};
use crate::issues::{
    IssueCounts, IssueKind, Kinds, MIN_TERM_TICKETS, TopIssue, baseline_of, rank_issues,
};
use crate::query::Filter;
use crate::read::{Line, Mode, Totals, gather};
use crate::sample::Dim;
use crate::{state, terms, wire};

pub use crate::series::{SeriesAsk, series};

/// Ranges at most this long are computed exactly from samples.
pub const EXACT_UP_TO: TimeDelta = TimeDelta::days(2);

/// One tenant's data.
#[derive(Debug, Clone, Copy)]
pub struct Desk<'a> {
    /// The analytics schema.
    pub pool: &'a PgPool,
    /// The tenant.
    pub tenant: &'a str,
    /// The tenant's time zone (its rows' days).
    pub zone: Tz,
}

/// How a filter can be read from rows.
pub(crate) enum Scope {
    /// No filter.
    All,
    /// The keys of one dimension, which add up (a ticket has one channel;
    /// for tags only a single tag, as "any of" several does not add up).
    Keys(Line),
    /// Only by testing each ticket.
    Tickets,
}

pub(crate) fn scope(filter: &Filter) -> Scope {
    let one = |dim: Dim, keys: Vec<Option<String>>| {
        Scope::Keys(Line {
            dim,
            keys: Some(keys.into_iter().collect()),
        })
    };
    let named = |v: Vec<&str>| v.into_iter().map(|s| Some(s.to_owned())).collect();
    let lists = [
        !filter.channels.is_empty(),
        !filter.priorities.is_empty(),
        !filter.groups.is_empty(),
        !filter.assignees.is_empty(),
        !filter.tags.is_empty(),
    ];
    match lists.iter().filter(|l| **l).count() {
        0 => Scope::All,
        1 if !filter.channels.is_empty() => one(
            Dim::Channel,
            named(filter.channels.iter().map(|c| c.as_str()).collect()),
        ),
        1 if !filter.priorities.is_empty() => one(
            Dim::Priority,
            named(filter.priorities.iter().map(|p| p.as_str()).collect()),
        ),
        1 if !filter.groups.is_empty() => one(Dim::Group, filter.groups.iter().cloned().collect()),
        1 if !filter.assignees.is_empty() => {
            one(Dim::Assignee, filter.assignees.iter().cloned().collect())
        }
        1 if filter.tags.len() == 1 => {
            one(Dim::Tag, filter.tags.iter().cloned().map(Some).collect())
        }
        _ => Scope::Tickets,
    }
}

pub(crate) fn short(range: Range) -> bool {
    range.to - range.from <= EXACT_UP_TO
}

/// The dimension a group-by is.
pub fn dim_of(by: GroupBy) -> Dim {
    match by {
        GroupBy::Channel => Dim::Channel,
        GroupBy::Priority => Dim::Priority,
        GroupBy::Group => Dim::Group,
        GroupBy::Assignee => Dim::Assignee,
        GroupBy::Tag => Dim::Tag,
    }
}

/// The measure behind `metric` and the kind of value it gives
/// ([`Metric::Backlog`] is levels, not a measure: `None`).
pub fn measure_of(metric: Metric) -> Option<(Measure, Kind)> {
    use Metric as K;
    Some(match metric {
        K::Created => (Measure::Created, Kind::Count),
        K::Solved => (Measure::Solved, Kind::Count),
        K::Backlog => return None,
        K::FirstReplyTime(b) => (Measure::of(Span::FirstReply, b), Kind::Duration),
        K::FirstResolutionTime(b) => (Measure::of(Span::FirstResolution, b), Kind::Duration),
        K::FullResolutionTime(b) => (Measure::of(Span::FullResolution, b), Kind::Duration),
        K::RequesterWaitTime(b) => (Measure::of(Span::RequesterWait, b), Kind::Duration),
        K::AgentWaitTime(b) => (Measure::of(Span::AgentWait, b), Kind::Duration),
        K::Csat => (Measure::Csat, Kind::Rate),
        K::AverageScore => (Measure::Score, Kind::Average),
        K::OneTouch => (Measure::OneTouch, Kind::Rate),
        K::Reopened => (Measure::Reopened, Kind::Rate),
        K::SlaFirstReply => (Measure::SlaFirstReply, Kind::Rate),
        K::SlaResolution => (Measure::SlaResolution, Kind::Rate),
    })
}

pub(crate) static EMPTY: std::sync::LazyLock<Cells> = std::sync::LazyLock::new(Cells::default);

fn line<'t>(totals: &'t Totals, dim: Dim, key: Option<&str>) -> &'t Cells {
    totals.get(&(dim, key.map(str::to_owned))).unwrap_or(&EMPTY)
}

/// `m` per key of `dim`, largest first (keys without any left out).
fn volume(totals: &Totals, dim: Dim, m: Measure) -> Vec<Volume> {
    count_rows(
        totals
            .iter()
            .filter(|((d, _), c)| *d == dim && c.count(m) > 0)
            .map(|((_, key), c)| (key.as_deref(), c.count(m)))
            .collect(),
    )
}

fn elapsed(cells: &Cells, span: Span) -> ElapsedStats {
    ElapsedStats {
        calendar: cells.duration(Measure::of(span, Basis::Calendar)),
        business: cells.duration(Measure::of(span, Basis::Business)),
    }
}

/// The overview of `range` for tickets passing `filter`.
pub async fn overview(
    d: Desk<'_>,
    range: Range,
    filter: &Filter,
) -> Result<pb::Overview, sqlx::Error> {
    let lines = [Dim::All, Dim::Channel, Dim::Priority, Dim::Group, Dim::Tag].map(Line::all);
    let mode = if filter.is_empty() && !short(range) {
        Mode::Rows(&[Dim::All], Measures::ALL)
    } else {
        Mode::Samples(filter, short(range))
    };
    let exact = (!filter.is_empty()).then_some(filter);
    let (backlog_lines, ranges, ends) = ([Line::all(Dim::All)], [range], [range.from, range.to]);
    // Two connections at once: the totals and the backlog read apart.
    let (totals, at) = tokio::try_join!(
        gather(d.pool, d.tenant, d.zone, &ranges, &lines, mode),
        levels(d.pool, d.tenant, d.zone, &ends, &backlog_lines, exact),
    )?;
    let totals = totals.into_iter().next().unwrap_or_default();
    let backlog = |i: usize| {
        let level = at[i].get(&(Dim::All, None)).copied().unwrap_or(0);
        u64::try_from(level).unwrap_or(0)
    };
    let all = line(&totals, Dim::All, None);
    let o = Overview {
        range,
        created: all.count(Measure::Created),
        solved: all.count(Measure::Solved),
        backlog_at_start: backlog(0),
        backlog_at_end: backlog(1),
        first_reply: elapsed(all, Span::FirstReply),
        first_resolution: elapsed(all, Span::FirstResolution),
        full_resolution: elapsed(all, Span::FullResolution),
        requester_wait: elapsed(all, Span::RequesterWait),
        agent_wait: elapsed(all, Span::AgentWait),
        csat: all.rate(Measure::Csat),
        average_score: all.mean(Measure::Score),
        one_touch: all.rate(Measure::OneTouch),
        reopened: all.rate(Measure::Reopened),
        sla_first_reply: all.rate(Measure::SlaFirstReply),
        sla_resolution: all.rate(Measure::SlaResolution),
        by_channel: volume(&totals, Dim::Channel, Measure::Created),
        by_priority: volume(&totals, Dim::Priority, Measure::Created),
        by_group: volume(&totals, Dim::Group, Measure::Created),
        by_tag: volume(&totals, Dim::Tag, Measure::Created),
        agents: Vec::new(),
    };
    Ok(wire::overview(
        &o,
        all.mean(Measure::Replies),
        all.mean(Measure::AssigneeHops),
        all.mean(Measure::GroupHops),
        volume(&totals, Dim::Channel, Measure::Solved),
        volume(&totals, Dim::Group, Measure::Solved),
    ))
}

/// The agent table of `range` for tickets passing `filter`.
pub async fn agents(
    d: Desk<'_>,
    range: Range,
    filter: &Filter,
) -> Result<Vec<AgentRow>, sqlx::Error> {
    let lines = [Line::all(Dim::Replier), Line::all(Dim::Assignee)];
    let mode = if filter.is_empty() && !short(range) {
        let handle = Measures::only(Measure::FullResolutionCalendar);
        Mode::Rows(
            &[Dim::Assignee],
            handle.with(Measure::FullResolutionBusiness),
        )
    } else {
        Mode::Samples(filter, short(range))
    };
    let totals = gather(d.pool, d.tenant, d.zone, &[range], &lines, mode)
        .await?
        .pop()
        .unwrap_or_default();
    let mut rows: BTreeMap<String, AgentRow> = BTreeMap::new();
    fn row<'r>(rows: &'r mut BTreeMap<String, AgentRow>, agent: &str) -> &'r mut AgentRow {
        rows.entry(agent.to_owned()).or_insert_with(|| AgentRow {
            agent: agent.to_owned(),
            solved: 0,
            public_replies: 0,
            handle_time: ElapsedStats {
                calendar: None,
                business: None,
            },
            load: 0,
        })
    }
    for ((dim, key), cells) in &totals {
        let Some(agent) = key else { continue };
        match dim {
            Dim::Replier => {
                row(&mut rows, agent).public_replies = cells.count(Measure::PublicReplies)
            }
            Dim::Assignee => {
                let r = row(&mut rows, agent);
                // Solved with a full resolution time, as the table counts.
                r.solved = cells.count(Measure::FullResolutionCalendar);
                r.handle_time = elapsed(cells, Span::FullResolution);
            }
            _ => {}
        }
    }
    for (agent, n) in state::load(d.pool, d.tenant, filter).await? {
        row(&mut rows, &agent).load = n;
    }
    Ok(rows
        .into_values()
        .filter(|r| r.solved > 0 || r.public_replies > 0 || r.load > 0)
        .collect())
}

/// SLA outcomes of `range` for tickets passing `filter`: all, and per
/// priority name.
pub async fn sla(
    d: Desk<'_>,
    range: Range,
    filter: &Filter,
) -> Result<(Cells, BTreeMap<String, Cells>), sqlx::Error> {
    let (lines, summed, mode) = match scope(filter) {
        _ if short(range) => (
            vec![Line::all(Dim::All), Line::all(Dim::Priority)],
            false,
            Mode::Samples(filter, short(range)),
        ),
        Scope::All => (
            vec![Line::all(Dim::All), Line::all(Dim::Priority)],
            false,
            Mode::Rows(&[], Measures::NONE),
        ),
        Scope::Keys(line) if line.dim == Dim::Priority => {
            (vec![line], true, Mode::Rows(&[], Measures::NONE))
        }
        _ => (
            vec![Line::all(Dim::All), Line::all(Dim::Priority)],
            false,
            Mode::Samples(filter, short(range)),
        ),
    };
    let totals = gather(d.pool, d.tenant, d.zone, &[range], &lines, mode)
        .await?
        .pop()
        .unwrap_or_default();
    let mut total = Cells::default();
    let mut by = BTreeMap::new();
    for ((dim, key), cells) in totals {
        match (dim, key) {
            (Dim::All, _) => total = cells,
            (Dim::Priority, Some(p)) => {
                if summed {
                    total.merge(&cells, 1);
                }
                by.insert(p, cells);
            }
            _ => {}
        }
    }
    Ok((total, by))
}

/// The top issues of `range` among `kinds`, as [`crate::issues`] defines
/// them: tags and groups from the aggregate rows (or the samples of a short
/// range), subject terms from their own rows (exact at any length). The
/// baseline is read only for terms frequent enough to be listed.
pub async fn top_issues(
    d: Desk<'_>,
    range: Range,
    kinds: &Kinds,
    limit: usize,
) -> Result<Vec<TopIssue>, sqlx::Error> {
    let before = baseline_of(range);
    let mut counts = IssueCounts::new();
    let lines: Vec<Line> = [(IssueKind::Tag, Dim::Tag), (IssueKind::Group, Dim::Group)]
        .into_iter()
        .filter(|(kind, _)| kinds.contains(kind))
        .map(|(_, dim)| Line::all(dim))
        .collect();
    if !lines.is_empty() {
        let none = Filter::default();
        let mode = if short(range) {
            Mode::Samples(&none, true)
        } else {
            Mode::Rows(&[], Measures::NONE)
        };
        let totals = gather(d.pool, d.tenant, d.zone, &[before, range], &lines, mode).await?;
        for (slot, totals) in totals.iter().enumerate() {
            for ((dim, key), cells) in totals {
                let (Some(key), n) = (key, cells.count(Measure::Created)) else {
                    continue;
                };
                let kind = if *dim == Dim::Tag {
                    IssueKind::Tag
                } else {
                    IssueKind::Group
                };
                let c = counts.entry((kind, key.clone())).or_default();
                if slot == 1 {
                    c.0 += n;
                } else {
                    c.1 += n;
                }
            }
        }
    }
    if kinds.contains(&IssueKind::Term) {
        let now = terms::volume(d.pool, d.tenant, range, None).await?;
        let frequent: Vec<String> = now
            .iter()
            .filter(|(_, n)| **n >= MIN_TERM_TICKETS)
            .map(|(term, _)| term.clone())
            .collect();
        let then = terms::volume(d.pool, d.tenant, before, Some(&frequent)).await?;
        for (term, n) in now {
            let baseline = then.get(&term).copied().unwrap_or(0);
            counts.insert((IssueKind::Term, term), (n, baseline));
        }
    }
    Ok(rank_issues(counts, limit))
}
