//! Business-hours calendars and SLA clocks, without I/O.
//!
//! A [`Calendar`] knows when a tenant's desk is open (weekly hours in its
//! time zone, minus holidays); a [`Clock`] measures one SLA target in that
//! business time, paused while the ticket waits on the customer. All
//! arithmetic runs day by day in local time, so daylight-saving changes move
//! opening hours with the wall clock, as people expect.

use std::collections::BTreeSet;

use chrono::{
    DateTime, Datelike, Days, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc,
};
use chrono_tz::Tz;

pub use chrono::TimeDelta;

/// Minutes in a day; an interval may end at 24:00.
pub const DAY_MINUTES: u16 = 1440;
/// Most opening intervals per day.
pub const MAX_INTERVALS_PER_DAY: usize = 8;
/// Most holidays on a calendar.
pub const MAX_HOLIDAYS: usize = 1000;
/// How far ahead due times are searched (ten years); beyond it a target is never due.
const HORIZON_DAYS: u64 = 3660;

/// A configuration problem, addressed by field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct CalendarError {
    /// The offending field, e.g. `hours.days[2][1]`.
    pub field: String,
    /// What is wrong.
    pub reason: String,
}

fn error(field: impl Into<String>, reason: impl Into<String>) -> CalendarError {
    CalendarError {
        field: field.into(),
        reason: reason.into(),
    }
}

/// Open [start, end) minutes of one local day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    /// Minutes after local midnight, 0 to 1439.
    pub start_minute: u16,
    /// Minutes after local midnight, up to 1440 (24:00).
    pub end_minute: u16,
}

/// Opening hours for each weekday, Monday first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WeeklyHours {
    /// `days[0]` is Monday.
    pub days: [Vec<Interval>; 7],
}

impl WeeklyHours {
    /// Open around the clock.
    pub fn always() -> Self {
        let all = vec![Interval {
            start_minute: 0,
            end_minute: DAY_MINUTES,
        }];
        Self {
            days: std::array::from_fn(|_| all.clone()),
        }
    }

    /// Open Monday to Friday from `start_minute` to `end_minute`.
    pub fn weekdays(start_minute: u16, end_minute: u16) -> Self {
        let day = vec![Interval {
            start_minute,
            end_minute,
        }];
        Self {
            days: std::array::from_fn(|i| if i < 5 { day.clone() } else { Vec::new() }),
        }
    }
}

/// When a desk is open.
#[derive(Debug, Clone, PartialEq)]
pub struct Calendar {
    tz: Tz,
    hours: WeeklyHours,
    holidays: BTreeSet<NaiveDate>,
}

impl Calendar {
    /// A validated calendar in the IANA `time_zone`.
    pub fn new(
        time_zone: &str,
        hours: WeeklyHours,
        holidays: impl IntoIterator<Item = NaiveDate>,
    ) -> Result<Self, CalendarError> {
        let tz: Tz = time_zone.parse().map_err(|_| {
            error(
                "time_zone",
                format!("`{time_zone}` is not an IANA time zone such as Europe/Berlin"),
            )
        })?;
        let mut open = false;
        for (d, day) in hours.days.iter().enumerate() {
            if day.len() > MAX_INTERVALS_PER_DAY {
                return Err(error(
                    format!("hours.days[{d}]"),
                    format!("at most {MAX_INTERVALS_PER_DAY} intervals a day"),
                ));
            }
            let mut previous_end = 0;
            for (i, interval) in day.iter().enumerate() {
                let at = format!("hours.days[{d}][{i}]");
                if interval.start_minute >= interval.end_minute || interval.end_minute > DAY_MINUTES
                {
                    return Err(error(at, "needs 0 <= start < end <= 1440 minutes"));
                }
                if i > 0 && interval.start_minute < previous_end {
                    return Err(error(at, "intervals must be sorted and must not overlap"));
                }
                previous_end = interval.end_minute;
                open = true;
            }
        }
        if !open {
            return Err(error(
                "hours",
                "the desk must be open at least one minute a week",
            ));
        }
        let holidays: BTreeSet<NaiveDate> = holidays.into_iter().collect();
        if holidays.len() > MAX_HOLIDAYS {
            return Err(error("holidays", format!("at most {MAX_HOLIDAYS}")));
        }
        Ok(Self {
            tz,
            hours,
            holidays,
        })
    }

    /// Around the clock in UTC, no holidays.
    pub fn always() -> Self {
        Self {
            tz: Tz::UTC,
            hours: WeeklyHours::always(),
            holidays: BTreeSet::new(),
        }
    }

    /// The calendar's time zone.
    pub fn time_zone(&self) -> Tz {
        self.tz
    }

    /// The weekly hours.
    pub fn hours(&self) -> &WeeklyHours {
        &self.hours
    }

    /// The holidays.
    pub fn holidays(&self) -> impl Iterator<Item = &NaiveDate> {
        self.holidays.iter()
    }

    /// The instant a local wall-clock time happens: the earlier one when the
    /// clock falls back, the first instant after the gap when it springs
    /// forward.
    fn instant(&self, date: NaiveDate, minute: u16) -> DateTime<Utc> {
        let (date, minute) = if minute >= DAY_MINUTES {
            (date + Days::new(1), 0)
        } else {
            (date, minute)
        };
        let mut local: NaiveDateTime =
            date.and_time(NaiveTime::MIN) + TimeDelta::minutes(i64::from(minute));
        // Gaps are at most a few hours; step through them.
        for _ in 0..=24 * 60 {
            match self.tz.from_local_datetime(&local) {
                LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => {
                    return t.with_timezone(&Utc);
                }
                LocalResult::None => local += TimeDelta::minutes(1),
            }
        }
        Utc.from_utc_datetime(&local)
    }

    /// The UTC intervals the desk is open on local `date`.
    fn open_on(
        &self,
        date: NaiveDate,
    ) -> impl Iterator<Item = (DateTime<Utc>, DateTime<Utc>)> + '_ {
        let day = if self.holidays.contains(&date) {
            &[][..]
        } else {
            &self.hours.days[date.weekday().num_days_from_monday() as usize][..]
        };
        day.iter()
            .map(move |i| {
                (
                    self.instant(date, i.start_minute),
                    self.instant(date, i.end_minute),
                )
            })
            .filter(|(a, b)| a < b)
    }

    fn local_date(&self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.tz).date_naive()
    }

    /// Whether the desk is open at `at`.
    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        let date = self.local_date(at);
        // An interval ending at 24:00 belongs to the previous local day.
        [date.pred_opt(), Some(date)]
            .into_iter()
            .flatten()
            .any(|d| self.open_on(d).any(|(a, b)| a <= at && at < b))
    }

    /// The instant `amount` of business time after `start`, or `None` when
    /// the calendar has no such time within ten years. A start outside hours
    /// waits for the next opening.
    pub fn add(&self, start: DateTime<Utc>, amount: TimeDelta) -> Option<DateTime<Utc>> {
        let mut remaining = amount.max(TimeDelta::zero());
        let first = self.local_date(start).pred_opt()?;
        for offset in 0..HORIZON_DAYS {
            let date = first.checked_add_days(Days::new(offset))?;
            for (a, b) in self.open_on(date) {
                if b <= start {
                    continue;
                }
                let from = a.max(start);
                let available = b - from;
                if remaining <= available {
                    return Some(from + remaining);
                }
                remaining -= available;
            }
        }
        None
    }

    /// Business time within [from, to).
    pub fn between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> TimeDelta {
        if to <= from {
            return TimeDelta::zero();
        }
        let mut total = TimeDelta::zero();
        let Some(mut date) = self.local_date(from).pred_opt() else {
            return total;
        };
        let last = self.local_date(to);
        while date <= last {
            for (a, b) in self.open_on(date) {
                let (a, b) = (a.max(from), b.min(to));
                if a < b {
                    total += b - a;
                }
            }
            let Some(next) = date.succ_opt() else { break };
            date = next;
        }
        total
    }
}

/// Where a target stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Comfortably within the target.
    OnTrack,
    /// Within the warning lead time of the target.
    Warning,
    /// Past the target.
    Breached,
}

/// One SLA target measured in business time.
///
/// Stored as plain fields: the target, the business time consumed in
/// finished running spans, and when the current span started (`None` while
/// paused).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clock {
    /// The target.
    pub target: TimeDelta,
    /// Business time used by spans that have ended.
    pub consumed: TimeDelta,
    /// Start of the running span; `None` while paused.
    pub running_since: Option<DateTime<Utc>>,
}

impl Clock {
    /// A clock for `target`, running from `started_at`.
    pub fn start(started_at: DateTime<Utc>, target: TimeDelta) -> Self {
        Self {
            target,
            consumed: TimeDelta::zero(),
            running_since: Some(started_at),
        }
    }

    /// Stops counting at `at` (no-op when paused).
    pub fn pause(&mut self, calendar: &Calendar, at: DateTime<Utc>) {
        if let Some(since) = self.running_since.take() {
            self.consumed += calendar.between(since, at);
        }
    }

    /// Counts again from `at` (no-op when running).
    pub fn resume(&mut self, at: DateTime<Utc>) {
        if self.running_since.is_none() {
            self.running_since = Some(at);
        }
    }

    /// Whether the clock is paused.
    pub fn is_paused(&self) -> bool {
        self.running_since.is_none()
    }

    /// Business time used as of `now`.
    pub fn elapsed(&self, calendar: &Calendar, now: DateTime<Utc>) -> TimeDelta {
        self.consumed
            + self
                .running_since
                .map_or(TimeDelta::zero(), |since| calendar.between(since, now))
    }

    /// When the target falls due; `None` while paused (unknown until resumed)
    /// or beyond the calendar's horizon.
    pub fn due_at(&self, calendar: &Calendar) -> Option<DateTime<Utc>> {
        let since = self.running_since?;
        calendar.add(since, self.target - self.consumed)
    }

    /// The stage at `now`, warning `warn_before` (business time) ahead.
    pub fn stage(&self, calendar: &Calendar, now: DateTime<Utc>, warn_before: TimeDelta) -> Stage {
        let elapsed = self.elapsed(calendar, now);
        if elapsed >= self.target {
            Stage::Breached
        } else if elapsed >= self.target - warn_before {
            Stage::Warning
        } else {
            Stage::OnTrack
        }
    }
}

/// Checks one target: 1 minute to 365 days.
pub fn validate_target(field: &str, target: TimeDelta) -> Result<(), CalendarError> {
    if target < TimeDelta::minutes(1) || target > TimeDelta::days(365) {
        return Err(error(field, "must be 1 minute to 365 days"));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
