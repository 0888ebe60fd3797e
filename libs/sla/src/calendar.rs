//! Weekly hours, holidays and business-time arithmetic in a local time zone.

use std::collections::BTreeSet;

use chrono::{
    DateTime, Datelike, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeDelta,
    TimeZone, Utc,
};
use chrono_tz::Tz;

use crate::CalendarError;

/// Minutes in a day; an interval may end at 24:00.
pub const DAY_MINUTES: u16 = 1440;
/// Most opening intervals per day (so at most 56 a week).
pub const MAX_INTERVALS_PER_DAY: usize = 8;
/// Most holidays on a calendar.
pub const MAX_HOLIDAYS: usize = 1000;
/// How many local days [`Calendar::add`] searches before giving up (about
/// ten years): a sparse calendar with many holidays may have no business
/// time for years, and a search must end.
pub const HORIZON_DAYS: u32 = 3660;

/// Open `[start, end)` minutes of one local day.
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
    /// `days[0]` is Monday; each day's intervals sorted and non-overlapping.
    pub days: [Vec<Interval>; 7],
}

impl WeeklyHours {
    /// Open around the clock, every day.
    pub fn always() -> Self {
        Self::every_day(0, DAY_MINUTES)
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

    /// Open every day, weekends included, from `start_minute` to `end_minute`.
    pub fn every_day(start_minute: u16, end_minute: u16) -> Self {
        let day = vec![Interval {
            start_minute,
            end_minute,
        }];
        Self {
            days: std::array::from_fn(|_| day.clone()),
        }
    }

    fn is_always(&self) -> bool {
        self.days.iter().all(|d| {
            d.first().is_some_and(|i| i.start_minute == 0)
                && d.last().is_some_and(|i| i.end_minute == DAY_MINUTES)
                && d.windows(2).all(|w| w[0].end_minute == w[1].start_minute)
        })
    }
}

/// When a desk is open: weekly hours in a time zone, minus holidays.
///
/// Holidays are local dates; an interval belongs to the local day it starts
/// on. Local times are mapped to instants with the earlier instant when the
/// clocks fall back and the end of the gap when they spring forward, so a
/// day's intervals never overlap in UTC.
#[derive(Debug, Clone, PartialEq)]
pub struct Calendar {
    tz: Tz,
    hours: WeeklyHours,
    holidays: BTreeSet<NaiveDate>,
    /// Open every instant, so business time is wall time; skips the day loop
    /// for the default calendar.
    always_open: bool,
}

impl Calendar {
    /// A validated calendar in the IANA `time_zone`: each interval has
    /// `0 <= start < end <= 1440`, each day's intervals are sorted and do not
    /// overlap, at most [`MAX_INTERVALS_PER_DAY`] a day, at least one open
    /// minute a week, and at most [`MAX_HOLIDAYS`] distinct holidays.
    pub fn new(
        time_zone: &str,
        hours: WeeklyHours,
        holidays: impl IntoIterator<Item = NaiveDate>,
    ) -> Result<Self, CalendarError> {
        let tz: Tz = time_zone.parse().map_err(|_| {
            CalendarError::new(
                "time_zone",
                format!("`{time_zone}` is not an IANA time zone such as Europe/Berlin"),
            )
        })?;
        let mut open = false;
        for (d, day) in hours.days.iter().enumerate() {
            if day.len() > MAX_INTERVALS_PER_DAY {
                return Err(CalendarError::new(
                    format!("hours.days[{d}]"),
                    format!("at most {MAX_INTERVALS_PER_DAY} intervals a day"),
                ));
            }
            let mut previous_end = 0;
            for (i, interval) in day.iter().enumerate() {
                let field = format!("hours.days[{d}][{i}]");
                if interval.start_minute >= interval.end_minute || interval.end_minute > DAY_MINUTES
                {
                    return Err(CalendarError::new(
                        field,
                        "needs 0 <= start < end <= 1440 minutes",
                    ));
                }
                if interval.start_minute < previous_end {
                    return Err(CalendarError::new(
                        field,
                        "intervals must be sorted and must not overlap",
                    ));
                }
                previous_end = interval.end_minute;
                open = true;
            }
        }
        if !open {
            return Err(CalendarError::new(
                "hours",
                "the desk must be open at least one minute a week",
            ));
        }
        let mut set = BTreeSet::new();
        for date in holidays {
            set.insert(date);
            // Checked while collecting so a huge input is refused early.
            if set.len() > MAX_HOLIDAYS {
                return Err(CalendarError::new(
                    "holidays",
                    format!("at most {MAX_HOLIDAYS} holidays"),
                ));
            }
        }
        let always_open = set.is_empty() && hours.is_always();
        Ok(Self {
            tz,
            hours,
            holidays: set,
            always_open,
        })
    }

    /// Around the clock in UTC, no holidays: the calendar for tenants that
    /// configured no business hours.
    pub fn always() -> Self {
        Self {
            tz: Tz::UTC,
            hours: WeeklyHours::always(),
            holidays: BTreeSet::new(),
            always_open: true,
        }
    }

    /// The calendar's time zone.
    pub fn time_zone(&self) -> Tz {
        self.tz
    }

    /// The weekly hours, as validated.
    pub fn hours(&self) -> &WeeklyHours {
        &self.hours
    }

    /// The holidays, in date order.
    pub fn holidays(&self) -> impl Iterator<Item = &NaiveDate> {
        self.holidays.iter()
    }

    /// Whether the desk is open at `at`.
    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        if self.always_open {
            return true;
        }
        let date = self.local_date(at);
        // Neighbouring days too: where the clocks fall back across midnight
        // an instant's local date can be a day behind the interval holding it.
        [date.pred_opt(), Some(date), date.succ_opt()]
            .into_iter()
            .flatten()
            .any(|d| self.open_on(d).any(|(a, b)| a <= at && at < b))
    }

    /// The instant `amount` of business time after `start`, or `None` when
    /// that lies beyond [`HORIZON_DAYS`] local days from `start` (or beyond
    /// what `DateTime` can hold).
    ///
    /// A `start` outside hours waits for the next opening, so a zero amount
    /// gives the next open instant; a negative amount counts as zero. An
    /// amount used up exactly at a closing time gives that closing time.
    pub fn add(&self, start: DateTime<Utc>, amount: TimeDelta) -> Option<DateTime<Utc>> {
        let mut remaining = amount.max(TimeDelta::zero());
        if self.always_open {
            return start.checked_add_signed(remaining);
        }
        let first = self.local_date(start);
        let mut date = first.pred_opt().unwrap_or(first);
        for _ in 0..HORIZON_DAYS {
            for (a, b) in self.open_on(date) {
                if b <= start {
                    continue;
                }
                let from = a.max(start);
                let available = b - from;
                if remaining <= available {
                    return from.checked_add_signed(remaining);
                }
                remaining -= available;
            }
            date = date.succ_opt()?;
        }
        None
    }

    /// Business time within `[from, to)`; zero if `to <= from`.
    ///
    /// Runs one step per local day in the range: cheap for SLA spans, not
    /// meant for centuries (except on an always-open calendar).
    pub fn between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> TimeDelta {
        if to <= from {
            return TimeDelta::zero();
        }
        if self.always_open {
            return to - from;
        }
        let first = self.local_date(from);
        let last = self.local_date(to);
        let last = last.succ_opt().unwrap_or(last);
        let mut date = first.pred_opt().unwrap_or(first);
        let mut total = TimeDelta::zero();
        loop {
            for (a, b) in self.open_on(date) {
                let (a, b) = (a.max(from), b.min(to));
                if a < b {
                    total += b - a;
                }
            }
            match date.succ_opt() {
                Some(next) if date < last => date = next,
                _ => return total,
            }
        }
    }

    /// The UTC intervals the desk is open on local `date`, in order.
    fn open_on(
        &self,
        date: NaiveDate,
    ) -> impl Iterator<Item = (DateTime<Utc>, DateTime<Utc>)> + '_ {
        let day: &[Interval] = if self.holidays.contains(&date) {
            &[]
        } else {
            &self.hours.days[date.weekday().num_days_from_monday() as usize]
        };
        day.iter()
            .map(move |i| {
                (
                    self.instant(date, i.start_minute),
                    self.instant(date, i.end_minute),
                )
            })
            // An interval inside a spring-forward gap does not happen.
            .filter(|(a, b)| a < b)
    }

    /// The local date at `at`, without chrono's panic at the ends of its range.
    fn local_date(&self, at: DateTime<Utc>) -> NaiveDate {
        let utc = at.naive_utc();
        utc.checked_add_signed(TimeDelta::seconds(self.offset_seconds(&utc)))
            .unwrap_or(utc)
            .date()
    }

    fn offset_seconds(&self, utc: &NaiveDateTime) -> i64 {
        i64::from(
            self.tz
                .offset_from_utc_datetime(utc)
                .fix()
                .local_minus_utc(),
        )
    }

    /// The instant local `date` reaches `minute` (1440 is the next midnight):
    /// the earlier one when the wall clock repeats, the first instant after
    /// the gap when it skips that time.
    fn instant(&self, date: NaiveDate, minute: u16) -> DateTime<Utc> {
        let Some(local) = date
            .and_time(NaiveTime::MIN)
            .checked_add_signed(TimeDelta::minutes(i64::from(minute)))
        else {
            return DateTime::<Utc>::MAX_UTC;
        };
        match self.tz.from_local_datetime(&local) {
            LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.with_timezone(&Utc),
            LocalResult::None => self.first_reaching(local),
        }
    }

    /// The first instant whose wall-clock reading is at least `local`: for a
    /// skipped time, the transition that ends the gap. Searches by bisection
    /// rather than stepping so gaps of any size (Samoa skipped a whole day)
    /// cost the same; this is also exact for transitions off the minute.
    fn first_reaching(&self, local: NaiveDateTime) -> DateTime<Utc> {
        let target = local.and_utc().timestamp();
        let reading = |t: i64| {
            DateTime::from_timestamp(t, 0).map(|u| t + self.offset_seconds(&u.naive_utc()))
        };
        // Offsets are under a day either way, so two days each side bracket it.
        const WINDOW: i64 = 2 * 86_400;
        let (mut lo, mut hi) = (target - WINDOW, target + WINDOW);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            match reading(mid) {
                Some(r) if r >= target => hi = mid,
                Some(_) => lo = mid,
                // Only at the ends of chrono's range.
                None => break,
            }
        }
        DateTime::from_timestamp(hi, 0).unwrap_or(if hi > 0 {
            DateTime::<Utc>::MAX_UTC
        } else {
            DateTime::<Utc>::MIN_UTC
        })
    }
}
