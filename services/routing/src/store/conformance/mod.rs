//! The behaviour every backend of [`Registry`](super::Registry) and
//! [`Queue`](super::Queue) must show, one suite per trait. Backends' test
//! suites call each function with a fresh, empty store.

pub mod queue;
pub mod registry;

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use switchboard_proto::common::v1::{Channel, Priority};
use switchboard_runtime::TenantId;
use uuid::Uuid;

use crate::domain::{Agent, Capacity, Job};

fn tenant(name: &str) -> TenantId {
    TenantId::parse(name).expect("valid tenant")
}

fn agent(user: &str, groups: &[&str]) -> Agent {
    Agent {
        user: user.into(),
        display_name: format!("Agent {user}"),
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        skills: BTreeMap::from([("billing".to_owned(), 3), ("de".to_owned(), 1)]),
        languages: vec!["de".into(), "en-gb".into()],
        capacity: Capacity {
            default: 2,
            channels: BTreeMap::from([(Channel::Chat, 3), (Channel::Email, 10)]),
        },
        version: 0,
    }
}

/// A fixed instant, whole microseconds so every backend keeps it exactly.
fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap() + TimeDelta::minutes(minutes)
}

fn job(group: &str, priority: Priority, sla_due: Option<i64>, created: i64) -> Job {
    Job {
        ticket: Uuid::now_v7(),
        version: 3,
        group: group.into(),
        channel: Channel::Email as i32,
        priority: priority as i32,
        skills: vec![("billing".into(), 2)],
        language: Some("de".into()),
        sla_due: sla_due.map(at),
        created: at(created),
        rule: Some("vip".into()),
    }
}
