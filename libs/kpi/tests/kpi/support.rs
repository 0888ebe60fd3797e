//! Instants, calendars and event shorthands shared by the fixtures.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use switchboard_kpi::TicketEvent;
use switchboard_kpi::fact::{Author, Channel, Priority, SlaTargets, Status};
use switchboard_sla::{Calendar, WeeklyHours};

pub const HOUR: i64 = 3600;

pub fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
}

pub fn tz(name: &str) -> Tz {
    name.parse().unwrap()
}

/// A wall-clock time in `zone` (the earlier one if it repeats).
pub fn local(zone: &str, y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    tz(zone)
        .with_ymd_and_hms(y, m, d, h, min, 0)
        .earliest()
        .unwrap()
        .with_timezone(&Utc)
}

/// Monday 2025-01-06 00:00 UTC plus `hours`.
pub fn mon(hours: f64) -> DateTime<Utc> {
    utc(2025, 1, 6, 0, 0) + TimeDelta::seconds((hours * HOUR as f64) as i64)
}

/// Mon–Fri 09:00–18:00 in Berlin.
pub fn berlin_office() -> Calendar {
    Calendar::new("Europe/Berlin", WeeklyHours::weekdays(9 * 60, 18 * 60), []).unwrap()
}

/// A customer's email ticket, normal priority, no group, tags, assignee or
/// SLA.
pub fn created(at: DateTime<Utc>) -> TicketEvent {
    TicketEvent::Created {
        at,
        by_agent: false,
        channel: Channel::Email,
        priority: Priority::Normal,
        group: None,
        tags: Vec::new(),
        assignee: None,
        sla: SlaTargets::default(),
    }
}

pub fn reply(at: DateTime<Utc>, agent: &str) -> TicketEvent {
    TicketEvent::Message {
        at,
        public: true,
        author: Author::Agent(agent.into()),
    }
}

pub fn note(at: DateTime<Utc>, agent: &str) -> TicketEvent {
    TicketEvent::Message {
        at,
        public: false,
        author: Author::Agent(agent.into()),
    }
}

pub fn customer(at: DateTime<Utc>) -> TicketEvent {
    TicketEvent::Message {
        at,
        public: true,
        author: Author::Customer,
    }
}

pub fn status(at: DateTime<Utc>, from: Status, to: Status) -> TicketEvent {
    TicketEvent::Status { at, from, to }
}

pub fn assign(at: DateTime<Utc>, assignee: Option<&str>, group: Option<&str>) -> TicketEvent {
    TicketEvent::Assigned {
        at,
        assignee: assignee.map(Into::into),
        group: group.map(Into::into),
    }
}

pub fn rated(at: DateTime<Utc>, score: u8) -> TicketEvent {
    TicketEvent::Rated { at, score }
}
