//! Routing's events, built for the outbox.

use std::time::Duration;

use prost_types::Timestamp;
use switchboard_events::{Envelope, EventBuilder, Payload};
use switchboard_proto::{
    common::v1::{Actor, ActorKind, Priority},
    events::v1 as ev,
    routing::v1::Presence,
};
use switchboard_runtime::TenantId;

use crate::{domain::Job, tickets::ROUTING_USER};

fn system() -> Actor {
    Actor {
        kind: ActorKind::System as i32,
        id: ROUTING_USER.into(),
        ..Default::default()
    }
}

fn on_ticket(t: &TenantId, ticket: uuid::Uuid, version: i64) -> EventBuilder {
    EventBuilder::new(t, "ticket", ticket.to_string(), version).actor(system())
}

/// `routing.assigned`.
pub fn assigned(
    t: &TenantId,
    job: &Job,
    user: &str,
    version: i64,
    reason: &str,
    waited: Option<Duration>,
) -> Envelope {
    on_ticket(t, job.ticket, version).build_as(
        "routing",
        "assigned",
        Payload::RoutingAssigned(ev::RoutingAssigned {
            ticket: format!("tickets/{}", job.ticket),
            assignee: user.into(),
            group: job.group.clone(),
            channel: job.channel,
            reason: reason.into(),
            rule: job.rule.clone().unwrap_or_default(),
            waited_ms: waited.map_or(0, |w| w.as_millis() as i64),
        }),
    )
}

/// Most group members one `routing.queued` names.
pub const QUEUED_MEMBERS: usize = 200;

/// `routing.queued`; `members` are the group's agents (at most
/// [`QUEUED_MEMBERS`]).
pub fn queued(t: &TenantId, job: &Job, position: i64, members: Vec<String>) -> Envelope {
    on_ticket(t, job.ticket, job.version).build_as(
        "routing",
        "queued",
        Payload::RoutingQueued(ev::RoutingQueued {
            ticket: format!("tickets/{}", job.ticket),
            group: job.group.clone(),
            priority: job.priority,
            position_hint: position,
            members,
        }),
    )
}

/// What one escalation did.
#[derive(Debug, Clone)]
pub struct Escalated<'a> {
    /// The ticket id.
    pub ticket: uuid::Uuid,
    /// Its version after the escalation.
    pub version: i64,
    /// Its group when the alert came.
    pub group: &'a str,
    /// `sla.warning` or `sla.breached`.
    pub trigger: &'a str,
    /// What was done.
    pub actions: &'a [&'static str],
    /// The priority after.
    pub priority: Priority,
    /// Group and assignee after.
    pub new_group: &'a str,
    /// Assignee after.
    pub new_assignee: &'a str,
}

/// `routing.escalated`.
pub fn escalated(t: &TenantId, e: &Escalated<'_>) -> Envelope {
    on_ticket(t, e.ticket, e.version).build_as(
        "routing",
        "escalated",
        Payload::RoutingEscalated(ev::RoutingEscalated {
            ticket: format!("tickets/{}", e.ticket),
            group: e.group.into(),
            trigger: e.trigger.into(),
            actions: e.actions.iter().map(|a| (*a).to_owned()).collect(),
            priority: e.priority as i32,
            new_group: e.new_group.into(),
            new_assignee: e.new_assignee.into(),
        }),
    )
}

/// `agent.status_changed`; the version is the change time in milliseconds,
/// which orders one agent's changes.
pub fn status_changed(
    t: &TenantId,
    user: &str,
    from: Presence,
    to: Presence,
    reason: &str,
) -> Envelope {
    let now = chrono::Utc::now();
    EventBuilder::new(t, "agent", user, now.timestamp_millis())
        .actor(system())
        .build(
            "status_changed",
            Payload::AgentStatusChanged(ev::AgentStatusChanged {
                agent: format!("agents/{user}"),
                from: from as i32,
                to: to as i32,
                reason: reason.into(),
                change_time: Some(Timestamp {
                    seconds: now.timestamp(),
                    nanos: now.timestamp_subsec_nanos() as i32,
                }),
            }),
        )
}
