use chrono::{DateTime, TimeDelta, Timelike, Utc};
use chrono_tz::Tz;
use switchboard_kpi::fact::Status::*;
use switchboard_kpi::overview::{Bucket, GroupBy, Series, Value, series};
use switchboard_kpi::{Basis, DurationStats, Metric, Range, TicketEvent, TicketFact};
use switchboard_sla::Calendar;

use crate::support::*;

fn fact(events: &[TicketEvent]) -> TicketFact {
    TicketFact::fold(events, &Calendar::always(), utc(2026, 1, 1, 0, 0)).unwrap()
}

fn born(at: DateTime<Utc>) -> TicketFact {
    fact(&[created(at)])
}

fn counts(s: &Series) -> Vec<u64> {
    s.points
        .iter()
        .map(|p| match p.value {
            Value::Count(n) => n,
            other => panic!("not a count: {other:?}"),
        })
        .collect()
}

fn starts(s: &Series) -> Vec<DateTime<Utc>> {
    s.points.iter().map(|p| p.start).collect()
}

fn one(facts: &[TicketFact], metric: Metric, bucket: Bucket, zone: &str, range: Range) -> Series {
    let mut all = series(facts, metric, bucket, tz(zone), range, None);
    assert_eq!(all.len(), 1);
    all.remove(0)
}

#[test]
fn days_follow_berlin_across_the_spring_change() {
    let facts = [
        born(utc(2025, 3, 29, 12, 0)),
        // Sunday 23:30 CEST: still the 30th locally.
        born(utc(2025, 3, 30, 21, 30)),
        // Monday 00:30 and 00:59 CEST: the 31st, though 23:30 in CET terms.
        born(utc(2025, 3, 30, 22, 30)),
        born(utc(2025, 3, 30, 22, 59)),
    ];
    let range = Range::new(
        local("Europe/Berlin", 2025, 3, 29, 0, 0),
        local("Europe/Berlin", 2025, 4, 1, 0, 0),
    );
    let s = one(&facts, Metric::Created, Bucket::Day, "Europe/Berlin", range);
    assert_eq!(s.key, None);
    assert_eq!(
        starts(&s),
        vec![
            utc(2025, 3, 28, 23, 0),
            utc(2025, 3, 29, 23, 0),
            utc(2025, 3, 30, 22, 0),
        ]
    );
    assert_eq!(s.points[1].end - s.points[1].start, TimeDelta::hours(23));
    assert_eq!(s.points[2].end, utc(2025, 3, 31, 22, 0));
    assert_eq!(counts(&s), vec![1, 1, 2]);
}

#[test]
fn the_autumn_day_is_25_hours() {
    // 23:30 CET on the 26th; a fixed +2 offset would call it the 27th.
    let facts = [born(utc(2025, 10, 26, 22, 30))];
    let range = Range::new(
        local("Europe/Berlin", 2025, 10, 25, 0, 0),
        local("Europe/Berlin", 2025, 10, 27, 0, 0),
    );
    let s = one(&facts, Metric::Created, Bucket::Day, "Europe/Berlin", range);
    assert_eq!(
        starts(&s),
        vec![utc(2025, 10, 24, 22, 0), utc(2025, 10, 25, 22, 0)]
    );
    assert_eq!(s.points[1].end - s.points[1].start, TimeDelta::hours(25));
    assert_eq!(counts(&s), vec![0, 1]);
}

#[test]
fn hours_skip_the_missing_local_hour() {
    let range = Range::new(utc(2025, 3, 29, 23, 0), utc(2025, 3, 30, 2, 0));
    let s = one(&[], Metric::Created, Bucket::Hour, "Europe/Berlin", range);
    let berlin: Tz = tz("Europe/Berlin");
    let labels: Vec<u32> = s
        .points
        .iter()
        .map(|p| p.start.with_timezone(&berlin).hour())
        .collect();
    assert_eq!(labels, vec![0, 1, 3]);
    assert_eq!(counts(&s), vec![0, 0, 0]);
}

#[test]
fn hours_follow_a_half_hour_offset() {
    let facts = [
        // Before the range, though inside its first bucket.
        born(utc(2025, 1, 6, 3, 45)),
        born(utc(2025, 1, 6, 4, 10)),
        born(utc(2025, 1, 6, 4, 45)),
        born(utc(2025, 1, 6, 5, 29)),
        born(utc(2025, 1, 6, 5, 30)),
    ];
    let range = Range::new(utc(2025, 1, 6, 4, 0), utc(2025, 1, 6, 6, 0));
    let s = one(&facts, Metric::Created, Bucket::Hour, "Asia/Kolkata", range);
    assert_eq!(
        starts(&s),
        vec![
            utc(2025, 1, 6, 3, 30),
            utc(2025, 1, 6, 4, 30),
            utc(2025, 1, 6, 5, 30),
        ]
    );
    assert_eq!(counts(&s), vec![1, 2, 1]);
}

#[test]
fn weeks_start_on_local_monday() {
    let facts = [
        born(utc(2025, 3, 25, 12, 0)),
        born(utc(2025, 3, 27, 10, 0)),
        // Sunday 23:30 CEST.
        born(utc(2025, 3, 30, 21, 30)),
        // Monday 00:30 CEST.
        born(utc(2025, 3, 30, 22, 30)),
    ];
    // From a Wednesday: the first bucket still starts on Monday.
    let range = Range::new(utc(2025, 3, 26, 0, 0), utc(2025, 4, 6, 22, 0));
    let s = one(
        &facts,
        Metric::Created,
        Bucket::Week,
        "Europe/Berlin",
        range,
    );
    assert_eq!(
        starts(&s),
        vec![utc(2025, 3, 23, 23, 0), utc(2025, 3, 30, 22, 0)]
    );
    assert_eq!(s.points[0].end - s.points[0].start, TimeDelta::hours(167));
    assert_eq!(counts(&s), vec![2, 1]);
}

#[test]
fn grouped_series_are_zero_filled_per_key() {
    use switchboard_kpi::fact::{Channel, Priority, SlaTargets};
    let chat = TicketEvent::Created {
        at: mon(9.0),
        by_agent: false,
        channel: Channel::Chat,
        priority: Priority::Normal,
        group: None,
        tags: Vec::new(),
        assignee: None,
        sla: SlaTargets::default(),
    };
    let facts = [born(mon(8.0)), fact(&[chat]), born(mon(34.0))];
    let range = Range::new(mon(0.0), mon(48.0));
    let lines = series(
        &facts,
        Metric::Created,
        Bucket::Day,
        tz("UTC"),
        range,
        Some(GroupBy::Channel),
    );
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0].key.as_deref(), Some("chat"));
    assert_eq!(counts(&lines[0]), vec![1, 0]);
    assert_eq!(lines[1].key.as_deref(), Some("email"));
    assert_eq!(counts(&lines[1]), vec![1, 1]);
}

#[test]
fn durations_land_where_they_complete_and_backlog_at_bucket_ends() {
    let facts = [
        fact(&[created(mon(8.0)), reply(mon(9.0), "ana")]),
        // Created Monday, replied Tuesday: a Tuesday first reply.
        fact(&[
            created(mon(23.0)),
            reply(mon(25.0), "ana"),
            status(mon(36.0), New, Solved),
        ]),
        fact(&[
            created(mon(34.0)),
            reply(mon(34.5), "bo"),
            status(mon(35.0), New, Solved),
        ]),
    ];
    let range = Range::new(mon(0.0), mon(48.0));
    let s = one(
        &facts,
        Metric::FirstReplyTime(Basis::Calendar),
        Bucket::Day,
        "UTC",
        range,
    );
    let stats: Vec<Option<DurationStats>> = s
        .points
        .iter()
        .map(|p| match p.value {
            Value::Duration(d) => d,
            other => panic!("not a duration: {other:?}"),
        })
        .collect();
    assert_eq!(
        stats,
        vec![
            Some(DurationStats {
                count: 1,
                mean: 3600.0,
                median: 3600.0,
                p90: 3600.0,
            }),
            Some(DurationStats {
                count: 2,
                mean: 4500.0,
                median: 4500.0,
                p90: 7200.0,
            }),
        ]
    );
    let backlog = one(&facts, Metric::Backlog, Bucket::Day, "UTC", range);
    assert_eq!(counts(&backlog), vec![2, 1]);
    let empty = one(
        &facts,
        Metric::Csat,
        Bucket::Day,
        "UTC",
        Range::new(mon(0.0), mon(0.0)),
    );
    assert!(empty.points.is_empty());
}
