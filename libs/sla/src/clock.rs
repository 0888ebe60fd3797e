//! SLA clocks: one target measured in business time, with pauses.

use chrono::{DateTime, TimeDelta, Utc};

use crate::Calendar;

/// Where a target stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// More than the warning lead time left.
    OnTrack,
    /// Within the warning lead time of the target.
    Warning,
    /// The target is used up.
    Breached,
}

/// One SLA target (first response or resolution) measured in business time,
/// paused while the ticket waits on the customer.
///
/// # Representation
///
/// Three plain values, meant to be stored as columns as they are:
///
/// - `target`: the business time allowed;
/// - `consumed`: business time used by running spans that have ended (each
///   [`pause`](Self::pause) folds the span into it);
/// - `running_since`: when the current running span began, `None` while
///   paused.
///
/// The start time and the pauses themselves are not kept: the due time only
/// depends on how much business time is left and since when it runs, which
/// also keeps a stored clock valid when the calendar is edited later (spans
/// already folded keep the business time they had).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clock {
    /// The business time allowed.
    pub target: TimeDelta,
    /// Business time used by spans that have ended.
    pub consumed: TimeDelta,
    /// Start of the running span; `None` while paused.
    pub running_since: Option<DateTime<Utc>>,
}

impl Clock {
    /// A clock for `target`, running from `started_at`.
    pub fn start(started_at: DateTime<Utc>, target: TimeDelta) -> Self {
        Self::from_parts(target, TimeDelta::zero(), Some(started_at))
    }

    /// A clock rebuilt from stored values (see the type's representation).
    pub fn from_parts(
        target: TimeDelta,
        consumed: TimeDelta,
        running_since: Option<DateTime<Utc>>,
    ) -> Self {
        Self {
            target,
            consumed,
            running_since,
        }
    }

    /// The business time allowed.
    pub fn target(&self) -> TimeDelta {
        self.target
    }

    /// Business time used by spans that have ended.
    pub fn consumed(&self) -> TimeDelta {
        self.consumed
    }

    /// Start of the running span; `None` while paused.
    pub fn running_since(&self) -> Option<DateTime<Utc>> {
        self.running_since
    }

    /// Stops counting at `at`, folding the span's business time into
    /// `consumed`; a no-op when already paused. The calendar is needed here
    /// because only business time is kept.
    pub fn pause(&mut self, calendar: &Calendar, at: DateTime<Utc>) {
        if let Some(since) = self.running_since.take() {
            self.consumed = saturating_add(self.consumed, calendar.between(since, at));
        }
    }

    /// Counts again from `at`; a no-op when running.
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
        match self.running_since {
            Some(since) => saturating_add(self.consumed, calendar.between(since, now)),
            None => self.consumed,
        }
    }

    /// Business time left as of `now`; negative once breached.
    pub fn remaining(&self, calendar: &Calendar, now: DateTime<Utc>) -> TimeDelta {
        saturating_sub(self.target, self.elapsed(calendar, now))
    }

    /// When the target falls due given the pauses so far.
    ///
    /// `None` while paused (unknown until resumed) or when the calendar has
    /// no such business time within its horizon. If the target was already
    /// used up before the current span began, the real due time is gone with
    /// the folded spans, so this gives the span's first business instant,
    /// which is already past for any caller checking "due <= now".
    pub fn due_at(&self, calendar: &Calendar) -> Option<DateTime<Utc>> {
        self.due_with_lead(calendar, TimeDelta::zero())
    }

    /// When the clock enters [`Stage::Warning`] for a `warn_before` lead
    /// (business time before due); `None` as for [`due_at`](Self::due_at).
    pub fn warning_at(&self, calendar: &Calendar, warn_before: TimeDelta) -> Option<DateTime<Utc>> {
        self.due_with_lead(calendar, warn_before.max(TimeDelta::zero()))
    }

    fn due_with_lead(&self, calendar: &Calendar, lead: TimeDelta) -> Option<DateTime<Utc>> {
        let since = self.running_since?;
        let left = saturating_sub(saturating_sub(self.target, lead), self.consumed);
        calendar.add(since, left)
    }

    /// The stage at `now`, warning `warn_before` (business time) ahead of
    /// due; a zero or negative lead never warns.
    pub fn stage(&self, calendar: &Calendar, now: DateTime<Utc>, warn_before: TimeDelta) -> Stage {
        let elapsed = self.elapsed(calendar, now);
        if elapsed >= self.target {
            Stage::Breached
        } else if warn_before > TimeDelta::zero()
            && elapsed >= saturating_sub(self.target, warn_before)
        {
            Stage::Warning
        } else {
            Stage::OnTrack
        }
    }
}

/// Stored values come from outside; overflow must not panic.
fn saturating_add(a: TimeDelta, b: TimeDelta) -> TimeDelta {
    a.checked_add(&b).unwrap_or(if b > TimeDelta::zero() {
        TimeDelta::MAX
    } else {
        TimeDelta::MIN
    })
}

fn saturating_sub(a: TimeDelta, b: TimeDelta) -> TimeDelta {
    a.checked_sub(&b).unwrap_or(if b < TimeDelta::zero() {
        TimeDelta::MAX
    } else {
        TimeDelta::MIN
    })
}
