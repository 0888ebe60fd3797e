//! `switchboard-kpi` values → the analytics v1 messages.

use switchboard_kpi::overview::{AgentRow, ElapsedStats, Overview, Series, Value, Volume};
use switchboard_kpi::{DurationStats, Rate};
use switchboard_proto::analytics::v1 as pb;
use switchboard_proto::common::v1::TimeRange;

use crate::convert::to_timestamp;

/// Statistics of durations.
pub fn duration(s: &DurationStats) -> pb::DurationStats {
    pb::DurationStats {
        count: s.count as i64,
        mean_seconds: s.mean,
        median_seconds: s.median,
        p90_seconds: s.p90,
    }
}

/// Both clocks; `None` when neither has samples.
pub fn elapsed(e: &ElapsedStats) -> Option<pb::ElapsedStats> {
    (e.calendar.is_some() || e.business.is_some()).then(|| pb::ElapsedStats {
        calendar: e.calendar.as_ref().map(duration),
        business: e.business.as_ref().map(duration),
    })
}

/// A share.
pub fn rate(r: Rate) -> pb::Rate {
    pb::Rate {
        numerator: r.numerator as i64,
        denominator: r.denominator as i64,
        value: r.value(),
    }
}

/// A measured rate (anything else is an empty rate).
pub fn rate_of(value: Value) -> pb::Rate {
    match value {
        Value::Rate(r) => rate(r),
        _ => rate(Rate::default()),
    }
}

fn volumes(v: &[Volume]) -> Vec<pb::Volume> {
    v.iter()
        .map(|v| pb::Volume {
            key: v.key.clone().unwrap_or_default(),
            count: v.count as i64,
        })
        .collect()
}

/// The overview with the API's extra numbers.
pub fn overview(
    o: &Overview,
    replies: Option<f64>,
    hops: Option<f64>,
    group_hops: Option<f64>,
    solved_by_channel: Vec<Volume>,
    solved_by_group: Vec<Volume>,
) -> pb::Overview {
    pb::Overview {
        range: Some(TimeRange {
            start_time: Some(to_timestamp(o.range.from)),
            end_time: Some(to_timestamp(o.range.to)),
        }),
        created: o.created as i64,
        solved: o.solved as i64,
        backlog_at_start: o.backlog_at_start as i64,
        backlog_at_end: o.backlog_at_end as i64,
        first_reply_time: elapsed(&o.first_reply),
        first_resolution_time: elapsed(&o.first_resolution),
        full_resolution_time: elapsed(&o.full_resolution),
        requester_wait_time: elapsed(&o.requester_wait),
        agent_wait_time: elapsed(&o.agent_wait),
        csat: Some(rate(o.csat)),
        average_score: o.average_score,
        one_touch: Some(rate(o.one_touch)),
        reopened: Some(rate(o.reopened)),
        sla_first_reply: Some(rate(o.sla_first_reply)),
        sla_resolution: Some(rate(o.sla_resolution)),
        replies_per_solved_ticket: replies,
        assignee_hops_per_solved_ticket: hops,
        group_hops_per_solved_ticket: group_hops,
        created_by_channel: volumes(&o.by_channel),
        created_by_priority: volumes(&o.by_priority),
        created_by_group: volumes(&o.by_group),
        created_by_tag: volumes(&o.by_tag),
        solved_by_channel: volumes(&solved_by_channel),
        solved_by_group: volumes(&solved_by_group),
    }
}

/// One agent's row.
pub fn agent(a: &AgentRow) -> pb::AgentStats {
    pb::AgentStats {
        agent: a.agent.clone(),
        solved: a.solved as i64,
        public_replies: a.public_replies as i64,
        handle_time: elapsed(&a.handle_time),
        load: a.load as i64,
    }
}

/// One chart line.
pub fn series(s: &Series) -> pb::Series {
    pb::Series {
        key: s.key.clone().unwrap_or_default(),
        points: s
            .points
            .iter()
            .map(|p| pb::Point {
                start_time: Some(to_timestamp(p.start)),
                end_time: Some(to_timestamp(p.end)),
                value: match p.value {
                    Value::Count(n) => Some(pb::point::Value::Count(n as i64)),
                    Value::Duration(d) => Some(pb::point::Value::Duration(
                        d.as_ref().map(duration).unwrap_or_default(),
                    )),
                    Value::Rate(r) => Some(pb::point::Value::Rate(rate(r))),
                    Value::Average(a) => a.map(pb::point::Value::Average),
                },
            })
            .collect(),
    }
}
