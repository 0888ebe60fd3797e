//! SLA policies and each ticket's SLA clocks: first response and resolution
//! targets per priority, measured in business hours, paused while the ticket
//! waits on the customer, warned about and breached at most once each.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use switchboard_events::{EventBuilder, Payload};
use switchboard_proto::{
    common::v1::{Actor, ActorKind, Priority},
    events::v1::{Envelope, SlaBreached, SlaTargetKind, SlaWarning},
    ticket::v1 as pb,
};
use switchboard_runtime::Violations;
use switchboard_sla::{Calendar, Clock, Interval, WeeklyHours, validate_target};

use super::{Status, Ticket, priority_str, timestamp};

/// Longest target: a year of business minutes.
pub const MAX_TARGET_MINUTES: i32 = 525_600;

/// Targets for one priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Targets {
    /// Until the first public agent reply.
    pub first_response: Option<TimeDelta>,
    /// Until solved.
    pub resolution: Option<TimeDelta>,
}

/// A tenant's validated SLA policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Targets by priority.
    pub targets: BTreeMap<&'static str, Targets>,
    /// Business hours.
    pub calendar: Calendar,
    /// Warning lead time; zero disables warnings.
    pub warn_before: TimeDelta,
    /// Stored version.
    pub version: i64,
}

impl Policy {
    /// Validates a wire policy, collecting every violation.
    pub fn from_proto(raw: &pb::SlaPolicy) -> Result<Self, Violations> {
        let mut v = Violations::default();
        let mut targets = BTreeMap::new();
        for (i, t) in raw.targets.iter().enumerate() {
            let at = |f: &str| format!("policy.targets[{i}].{f}");
            let priority = match Priority::try_from(t.priority) {
                Ok(Priority::Unspecified) | Err(_) => {
                    v.add(at("priority"), format!("unknown priority {}", t.priority));
                    continue;
                }
                Ok(p) => priority_str(p),
            };
            let mut minutes = |field: &str, m: i32| match m {
                0 => None,
                m if !(1..=MAX_TARGET_MINUTES).contains(&m) => {
                    v.add(
                        at(field),
                        format!("must be 0 (none) or 1 to {MAX_TARGET_MINUTES} minutes"),
                    );
                    None
                }
                m => {
                    let d = TimeDelta::minutes(i64::from(m));
                    validate_target(&at(field), d).ok().map(|_| d)
                }
            };
            let target = Targets {
                first_response: minutes("first_response_minutes", t.first_response_minutes),
                resolution: minutes("resolution_minutes", t.resolution_minutes),
            };
            if targets.insert(priority, target).is_some() {
                v.add(
                    at("priority"),
                    format!("{priority} has more than one target"),
                );
            }
        }
        let calendar = match &raw.business_hours {
            None => Calendar::always(),
            Some(hours) => calendar(hours, &mut v).unwrap_or_else(Calendar::always),
        };
        if raw.warning_minutes < 0 || raw.warning_minutes > MAX_TARGET_MINUTES {
            v.add(
                "policy.warning_minutes",
                format!("must be 0 to {MAX_TARGET_MINUTES}"),
            );
        }
        v.into_result(Self {
            targets,
            calendar,
            warn_before: TimeDelta::minutes(i64::from(raw.warning_minutes.max(0))),
            version: raw.version,
        })
    }

    /// The wire form.
    pub fn to_proto(&self) -> pb::SlaPolicy {
        let minutes = |d: Option<TimeDelta>| d.map_or(0, |d| d.num_minutes() as i32);
        let hours = self.calendar.hours();
        pb::SlaPolicy {
            targets: self
                .targets
                .iter()
                .filter_map(|(p, t)| {
                    Some(pb::SlaTarget {
                        priority: super::parse_priority(p)? as i32,
                        first_response_minutes: minutes(t.first_response),
                        resolution_minutes: minutes(t.resolution),
                    })
                })
                .collect(),
            business_hours: Some(pb::BusinessHours {
                time_zone: self.calendar.time_zone().name().to_owned(),
                hours: hours
                    .days
                    .iter()
                    .enumerate()
                    .flat_map(|(d, day)| {
                        day.iter().map(move |i| pb::OpeningHours {
                            weekday: d as i32 + 1,
                            start_minute: i32::from(i.start_minute),
                            end_minute: i32::from(i.end_minute),
                        })
                    })
                    .collect(),
                holidays: self.calendar.holidays().map(|d| d.to_string()).collect(),
            }),
            warning_minutes: self.warn_before.num_minutes() as i32,
            version: self.version,
        }
    }
}

fn calendar(raw: &pb::BusinessHours, v: &mut Violations) -> Option<Calendar> {
    let mut week = WeeklyHours::default();
    for (i, h) in raw.hours.iter().enumerate() {
        if !(1..=7).contains(&h.weekday) {
            v.add(
                format!("policy.business_hours.hours[{i}].weekday"),
                "must be 1 (Monday) to 7 (Sunday)",
            );
            continue;
        }
        let minute = |m: i32| u16::try_from(m).unwrap_or(u16::MAX);
        week.days[(h.weekday - 1) as usize].push(Interval {
            start_minute: minute(h.start_minute),
            end_minute: minute(h.end_minute),
        });
    }
    for day in &mut week.days {
        day.sort_by_key(|i| i.start_minute);
    }
    let mut holidays = Vec::with_capacity(raw.holidays.len());
    for (i, d) in raw.holidays.iter().enumerate() {
        match NaiveDate::parse_from_str(d, "%Y-%m-%d") {
            Ok(date) => holidays.push(date),
            Err(_) => v.add(
                format!("policy.business_hours.holidays[{i}]"),
                "must be a date as YYYY-MM-DD",
            ),
        }
    }
    let zone = if raw.time_zone.is_empty() {
        "UTC"
    } else {
        raw.time_zone.as_str()
    };
    match Calendar::new(zone, week, holidays) {
        Ok(c) => Some(c),
        Err(e) => {
            v.add(format!("policy.business_hours.{}", e.field), e.reason);
            None
        }
    }
}

/// One target's clock and what has been announced about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetState {
    /// Target, in seconds of business time.
    pub target_seconds: i64,
    /// Business seconds used in finished running spans.
    pub consumed_seconds: i64,
    /// Start of the running span; `None` while paused or done.
    pub running_since: Option<DateTime<Utc>>,
    /// When it falls due, while running.
    pub due_at: Option<DateTime<Utc>>,
    /// When to warn, while running and not yet warned.
    pub warn_at: Option<DateTime<Utc>>,
    /// `sla.warning` was emitted.
    pub warned: bool,
    /// `sla.breached` was emitted.
    pub breached: bool,
    /// Met (replied or solved); the clock no longer runs.
    pub done: bool,
}

impl TargetState {
    fn start(target: TimeDelta, at: DateTime<Utc>) -> Self {
        Self {
            target_seconds: target.num_seconds(),
            consumed_seconds: 0,
            running_since: Some(at),
            due_at: None,
            warn_at: None,
            warned: false,
            breached: false,
            done: false,
        }
    }

    fn clock(&self) -> Clock {
        Clock {
            target: TimeDelta::seconds(self.target_seconds),
            consumed: TimeDelta::seconds(self.consumed_seconds),
            running_since: self.running_since,
        }
    }

    fn set_clock(&mut self, clock: &Clock) {
        self.consumed_seconds = clock.consumed.num_seconds();
        self.running_since = clock.running_since;
    }

    /// Recomputes due and warning times from the clock.
    fn schedule(&mut self, policy: &Policy) {
        let clock = self.clock();
        self.due_at = if self.done {
            None
        } else {
            clock.due_at(&policy.calendar)
        };
        self.warn_at = match (self.due_at, self.warned || policy.warn_before.is_zero()) {
            (Some(_), false) => {
                let lead = Clock {
                    target: clock.target - policy.warn_before,
                    ..clock
                };
                lead.due_at(&policy.calendar)
            }
            _ => None,
        };
    }

    /// The next instant the scanner must look at this target.
    fn next_check(&self) -> Option<DateTime<Utc>> {
        if self.done || self.breached {
            return None;
        }
        [self.warn_at.filter(|_| !self.warned), self.due_at]
            .into_iter()
            .flatten()
            .min()
    }
}

/// A ticket's SLA clocks (empty without a policy).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TicketSla {
    /// Until the first public agent reply.
    pub first_response: Option<TargetState>,
    /// Until solved.
    pub resolution: Option<TargetState>,
}

impl TicketSla {
    /// Clocks for a new ticket of `priority`, started `now`.
    pub fn start(policy: &Policy, priority: Priority, now: DateTime<Utc>) -> Self {
        let targets = policy
            .targets
            .get(priority_str(priority))
            .copied()
            .unwrap_or_default();
        let mut sla = Self {
            first_response: targets.first_response.map(|t| TargetState::start(t, now)),
            resolution: targets.resolution.map(|t| TargetState::start(t, now)),
        };
        sla.each(|t| t.schedule(policy));
        sla
    }

    fn each(&mut self, mut f: impl FnMut(&mut TargetState)) {
        self.first_response
            .iter_mut()
            .chain(self.resolution.iter_mut())
            .for_each(&mut f);
    }

    /// When the scanner must next look at the ticket.
    pub fn next_check(&self) -> Option<DateTime<Utc>> {
        self.first_response
            .iter()
            .chain(self.resolution.iter())
            .filter_map(TargetState::next_check)
            .min()
    }

    /// The wire form; `None` without targets.
    pub fn to_proto(&self) -> Option<pb::SlaState> {
        if self.first_response.is_none() && self.resolution.is_none() {
            return None;
        }
        let paused = self
            .first_response
            .iter()
            .chain(self.resolution.iter())
            .any(|t| !t.done && t.running_since.is_none());
        Some(pb::SlaState {
            first_response_due_time: self
                .first_response
                .as_ref()
                .and_then(|t| t.due_at)
                .map(timestamp),
            resolution_due_time: self
                .resolution
                .as_ref()
                .and_then(|t| t.due_at)
                .map(timestamp),
            first_response_breached: self.first_response.as_ref().is_some_and(|t| t.breached),
            resolution_breached: self.resolution.as_ref().is_some_and(|t| t.breached),
            paused,
        })
    }
}

fn waiting(status: Status) -> bool {
    matches!(status, Status::Pending | Status::OnHold)
}

/// Moves `after`'s clocks for the change from `before` at `now`: a first
/// public reply meets the first-response target, solving meets resolution
/// (reopening starts it again where it stopped), waiting on the customer
/// pauses both, and a new priority takes that priority's targets.
pub fn reconcile(before: &Ticket, after: &mut Ticket, policy: &Policy, now: DateTime<Utc>) {
    let cal = &policy.calendar;
    if before.priority != after.priority {
        let targets = policy
            .targets
            .get(priority_str(after.priority))
            .copied()
            .unwrap_or_default();
        retarget(&mut after.sla.first_response, targets.first_response, now);
        retarget(&mut after.sla.resolution, targets.resolution, now);
    }
    let solved = |s: Status| matches!(s, Status::Solved | Status::Closed);
    let stopped = |s: Status| waiting(s) || solved(s);
    if let Some(fr) = &mut after.sla.first_response
        && before.first_response_at.is_none()
        && after.first_response_at.is_some()
    {
        let mut clock = fr.clock();
        clock.pause(cal, now);
        fr.set_clock(&clock);
        fr.done = true;
    }
    if let Some(res) = &mut after.sla.resolution {
        res.done = solved(after.status);
    }
    let (was, is) = (stopped(before.status), stopped(after.status));
    after.sla.each(|t| {
        let mut clock = t.clock();
        if !was && is || t.done {
            clock.pause(cal, now);
        } else if was && !is {
            clock.resume(now);
        }
        t.set_clock(&clock);
        t.schedule(policy);
    });
}

fn retarget(state: &mut Option<TargetState>, target: Option<TimeDelta>, now: DateTime<Utc>) {
    *state = match (state.take(), target) {
        (Some(mut s), Some(t)) => {
            s.target_seconds = t.num_seconds();
            Some(s)
        }
        (None, Some(t)) => Some(TargetState::start(t, now)),
        (_, None) => None,
    };
}

/// What the scanner found due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alert {
    /// Within the warning time.
    Warning(SlaTargetKind, DateTime<Utc>),
    /// Past due.
    Breached(SlaTargetKind, DateTime<Utc>),
}

/// Marks what is due at `now` on `ticket` and returns the alerts to emit;
/// each target warns at most once and breaches at most once.
pub fn scan(ticket: &mut Ticket, now: DateTime<Utc>) -> Vec<Alert> {
    let mut alerts = Vec::new();
    let targets = [
        (
            SlaTargetKind::FirstResponse,
            ticket.sla.first_response.as_mut(),
        ),
        (SlaTargetKind::Resolution, ticket.sla.resolution.as_mut()),
    ];
    for (kind, state) in targets {
        let Some(t) = state else { continue };
        let (Some(due), false) = (t.due_at, t.done) else {
            continue;
        };
        if due <= now && !t.breached {
            t.breached = true;
            t.warned = true;
            alerts.push(Alert::Breached(kind, due));
        } else if t.warn_at.is_some_and(|w| w <= now) && !t.warned {
            t.warned = true;
            alerts.push(Alert::Warning(kind, due));
        }
    }
    alerts
}

/// The event for an alert on `ticket` (its version is not bumped: the
/// ticket did not change, time passed).
pub fn alert_event(ticket: &Ticket, alert: Alert) -> Envelope {
    let builder = EventBuilder::new(
        &ticket.tenant,
        "ticket",
        ticket.id.to_string(),
        ticket.version,
    )
    .actor(Actor {
        kind: ActorKind::System as i32,
        ..Default::default()
    });
    let proto = Some(ticket.to_proto());
    match alert {
        Alert::Warning(kind, due) => builder.build_as(
            "sla",
            "warning",
            Payload::SlaWarning(SlaWarning {
                ticket: proto,
                target: kind as i32,
                due_time: Some(timestamp(due)),
            }),
        ),
        Alert::Breached(kind, due) => builder.build_as(
            "sla",
            "breached",
            Payload::SlaBreached(SlaBreached {
                ticket: proto,
                target: kind as i32,
                due_time: Some(timestamp(due)),
            }),
        ),
    }
}

#[cfg(test)]
mod tests;
