//! Business-hours calendars and SLA clocks, without I/O.
//!
//! A [`Calendar`] knows when a tenant's desk is open (weekly hours in its
//! time zone, minus holidays); a [`Clock`] measures one SLA target in that
//! business time, paused while the ticket waits on the customer. All
//! arithmetic runs day by day in local time, so daylight-saving changes move
//! opening hours with the wall clock, as people expect: 09:00–17:00 stays
//! eight hours on the day the clocks change, while a desk open around the
//! clock gets a 23- or 25-hour day.

mod calendar;
mod clock;

pub use calendar::{
    Calendar, DAY_MINUTES, HORIZON_DAYS, Interval, MAX_HOLIDAYS, MAX_INTERVALS_PER_DAY, WeeklyHours,
};
pub use chrono::TimeDelta;
pub use clock::{Clock, Stage};

/// A configuration problem, addressed by field so callers can report it as
/// a field violation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct CalendarError {
    /// The offending field, e.g. `time_zone`, `hours.days[2][1]`, `holidays`.
    pub field: String,
    /// What is wrong, for a human.
    pub reason: String,
}

impl CalendarError {
    pub(crate) fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Shortest allowed target; anything shorter is a typo, not a service level.
pub const MIN_TARGET: TimeDelta = TimeDelta::minutes(1);
/// Longest allowed target, so due times stay within the calendar horizon for
/// any reasonable calendar.
pub const MAX_TARGET: TimeDelta = TimeDelta::days(365);

/// Checks one target is between [`MIN_TARGET`] and [`MAX_TARGET`]; `field`
/// names it in the error.
pub fn validate_target(field: &str, target: TimeDelta) -> Result<(), CalendarError> {
    if target < MIN_TARGET || target > MAX_TARGET {
        return Err(CalendarError::new(field, "must be 1 minute to 365 days"));
    }
    Ok(())
}

/// The targets of one SLA policy row; `None` means no target of that kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Policy {
    /// Business time until the first public agent reply.
    pub first_response: Option<TimeDelta>,
    /// Business time until the ticket is solved.
    pub resolution: Option<TimeDelta>,
}

impl Policy {
    /// Checks every present target, naming `first_response` or `resolution`.
    pub fn validate(&self) -> Result<(), CalendarError> {
        for (field, target) in [
            ("first_response", self.first_response),
            ("resolution", self.resolution),
        ] {
            if let Some(t) = target {
                validate_target(field, t)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
