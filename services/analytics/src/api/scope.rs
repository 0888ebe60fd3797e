//! Request checks: the range and filter every report takes, and a time
//! series' metric, bucket, zone and grouping. Bad input is
//! INVALID_ARGUMENT naming every bad field.

use chrono::TimeDelta;
use switchboard_kpi::overview::{Bucket, GroupBy, Metric};
use switchboard_kpi::{Basis, Range};
use switchboard_proto::analytics::v1 as pb;
use switchboard_proto::common::v1::TimeRange;
use switchboard_runtime::{Violations, to_status};
use tonic::Status;

use crate::convert::{channel, priority, timestamp};
use crate::issues::{IssueKind, Kinds};
use crate::query::{self, Filter, MAX_FILTER_VALUES};
use crate::report::SeriesAsk;

/// Violations as INVALID_ARGUMENT.
pub fn invalid(v: Violations) -> Status {
    to_status(&v)
}

/// The range and filter of a call that asks for nothing else, or
/// INVALID_ARGUMENT naming every bad field.
pub fn checked_scope(
    range: Option<&TimeRange>,
    filter: Option<&pb::Filter>,
) -> Result<(Range, Filter), Status> {
    let mut v = Violations::default();
    let (range, filter) = scope(range, filter, &mut v);
    let range = v.into_result(range).map_err(invalid)?;
    Ok((range.expect("a range when there are no violations"), filter))
}

/// The range and filter, problems added to `v`.
pub fn scope(
    range: Option<&TimeRange>,
    filter: Option<&pb::Filter>,
    v: &mut Violations,
) -> (Option<Range>, Filter) {
    let range = query::range(
        range.and_then(|r| timestamp(r.start_time.as_ref())),
        range.and_then(|r| timestamp(r.end_time.as_ref())),
        "range",
        v,
    );
    (range, filter_of(filter, v))
}

fn filter_of(raw: Option<&pb::Filter>, v: &mut Violations) -> Filter {
    let Some(raw) = raw else {
        return Filter::default();
    };
    let lists = [
        ("filter.channels", raw.channels.len()),
        ("filter.priorities", raw.priorities.len()),
        ("filter.groups", raw.groups.len()),
        ("filter.assignees", raw.assignees.len()),
        ("filter.tags", raw.tags.len()),
    ];
    for (field, n) in lists {
        if n > MAX_FILTER_VALUES {
            v.add(field, format!("at most {MAX_FILTER_VALUES} values"));
        }
    }
    for (field, values) in [
        ("filter.groups", &raw.groups),
        ("filter.assignees", &raw.assignees),
        ("filter.tags", &raw.tags),
    ] {
        if values.iter().any(|s| s.len() > 256) {
            v.add(field, "values are at most 256 bytes");
        }
    }
    let opt = |s: &String| (!s.is_empty()).then(|| s.clone());
    Filter {
        channels: raw.channels.iter().map(|&c| channel(c)).collect(),
        priorities: raw.priorities.iter().map(|&p| priority(p)).collect(),
        groups: raw.groups.iter().map(opt).collect(),
        assignees: raw.assignees.iter().map(opt).collect(),
        tags: raw.tags.iter().cloned().collect(),
    }
}

fn metric(raw: i32, basis: Basis, v: &mut Violations) -> Option<Metric> {
    use pb::Metric as M;
    Some(match M::try_from(raw).unwrap_or(M::Unspecified) {
        M::Unspecified => {
            v.add("metric", "required");
            return None;
        }
        M::Created => Metric::Created,
        M::Solved => Metric::Solved,
        M::Backlog => Metric::Backlog,
        M::FirstReplyTime => Metric::FirstReplyTime(basis),
        M::FirstResolutionTime => Metric::FirstResolutionTime(basis),
        M::FullResolutionTime => Metric::FullResolutionTime(basis),
        M::RequesterWaitTime => Metric::RequesterWaitTime(basis),
        M::AgentWaitTime => Metric::AgentWaitTime(basis),
        M::Csat => Metric::Csat,
        M::AverageScore => Metric::AverageScore,
        M::OneTouch => Metric::OneTouch,
        M::Reopened => Metric::Reopened,
        M::SlaFirstReply => Metric::SlaFirstReply,
        M::SlaResolution => Metric::SlaResolution,
    })
}

fn group_by(raw: i32) -> Option<GroupBy> {
    use pb::GroupBy as G;
    match G::try_from(raw).unwrap_or(G::Unspecified) {
        G::Unspecified => None,
        G::Channel => Some(GroupBy::Channel),
        G::Priority => Some(GroupBy::Priority),
        G::Group => Some(GroupBy::Group),
        G::Assignee => Some(GroupBy::Assignee),
        G::Tag => Some(GroupBy::Tag),
    }
}

/// A checked time series request, and the zone it names (`None`: the
/// tenant's, which the caller fills in; the request holds UTC until then).
pub fn series_ask(
    r: &pb::QueryTimeSeriesRequest,
) -> Result<(SeriesAsk, Option<chrono_tz::Tz>), Status> {
    let mut v = Violations::default();
    let (range, filter) = scope(r.range.as_ref(), r.filter.as_ref(), &mut v);
    let basis = if r.basis == pb::Basis::Business as i32 {
        Basis::Business
    } else {
        Basis::Calendar
    };
    let metric = metric(r.metric, basis, &mut v);
    let bucket = match pb::Bucket::try_from(r.bucket).unwrap_or(pb::Bucket::Unspecified) {
        pb::Bucket::Hour => Some((Bucket::Hour, TimeDelta::hours(1))),
        pb::Bucket::Day => Some((Bucket::Day, TimeDelta::days(1))),
        pb::Bucket::Week => Some((Bucket::Week, TimeDelta::weeks(1))),
        pb::Bucket::Unspecified => {
            v.add("bucket", "required");
            None
        }
    };
    let zone: Option<chrono_tz::Tz> = if r.time_zone.is_empty() {
        None
    } else {
        match r.time_zone.parse() {
            Ok(tz) => Some(tz),
            Err(_) => {
                v.add("time_zone", "not an IANA time zone such as Europe/Berlin");
                None
            }
        }
    };
    if let (Some(range), Some((_, width))) = (range, bucket)
        && (range.to - range.from).num_seconds() / width.num_seconds() > query::MAX_BUCKETS
    {
        v.add("range", format!("at most {} buckets", query::MAX_BUCKETS));
    }
    v.into_result(()).map_err(invalid)?;
    let ask = SeriesAsk {
        metric: metric.expect("checked"),
        bucket: bucket.expect("checked").0,
        tz: chrono_tz::UTC,
        range: range.expect("checked"),
        group: group_by(r.group_by),
        filter,
    };
    Ok((ask, zone))
}

/// The kinds of top issue a request names (none: every kind), problems
/// added to `v`.
pub fn issue_kinds(raw: &[String], v: &mut Violations) -> Kinds {
    if raw.len() > IssueKind::ALL.len() {
        v.add("kinds", format!("at most {} values", IssueKind::ALL.len()));
        return Kinds::new();
    }
    let mut kinds = Kinds::new();
    for name in raw {
        match IssueKind::parse(name) {
            Some(kind) => {
                kinds.insert(kind);
            }
            None => {
                v.add("kinds", "each one of tag, group, term");
                return Kinds::new();
            }
        }
    }
    if kinds.is_empty() {
        kinds.extend(IssueKind::ALL);
    }
    kinds
}
