//! The tenant's business calendar, in which business-time durations are
//! measured.
//!
//! Ticket events do not carry the SLA policy's hours, and analytics reads no
//! other service's tables, so the calendar is analytics' own setting
//! (`UpdateBusinessCalendar`, the same `BusinessHours` shape as the ticket
//! service's SLA policy). Until it is set the desk is open around the clock
//! in UTC, so business time equals calendar time.

use chrono::NaiveDate;
use switchboard_proto::ticket::v1 as tpb;
use switchboard_runtime::Violations;
use switchboard_sla::{Calendar, Interval, WeeklyHours};

/// Most holidays a calendar may list.
pub const MAX_HOLIDAYS: usize = 1000;

/// Most opening intervals in total (8 per weekday).
pub const MAX_INTERVALS: usize = 56;

/// The calendar `raw` describes (`None`: around the clock in UTC), or every
/// problem with it under `field`.
pub fn from_proto(raw: Option<&tpb::BusinessHours>, field: &str) -> Result<Calendar, Violations> {
    let Some(raw) = raw else {
        return Ok(Calendar::always());
    };
    let mut v = Violations::default();
    if raw.hours.len() > MAX_INTERVALS {
        v.add(format!("{field}.hours"), format!("at most {MAX_INTERVALS}"));
    }
    if raw.holidays.len() > MAX_HOLIDAYS {
        v.add(
            format!("{field}.holidays"),
            format!("at most {MAX_HOLIDAYS}"),
        );
    }
    let mut week = WeeklyHours::default();
    for (i, h) in raw.hours.iter().enumerate().take(MAX_INTERVALS) {
        if !(1..=7).contains(&h.weekday) {
            v.add(
                format!("{field}.hours[{i}].weekday"),
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
    let mut holidays = Vec::new();
    for (i, d) in raw.holidays.iter().enumerate().take(MAX_HOLIDAYS) {
        match NaiveDate::parse_from_str(d, "%Y-%m-%d") {
            Ok(date) => holidays.push(date),
            Err(_) => v.add(
                format!("{field}.holidays[{i}]"),
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
        Ok(calendar) if v.0.is_empty() => Ok(calendar),
        Ok(_) => Err(v),
        Err(e) => {
            v.add(format!("{field}.{}", e.field), e.reason);
            Err(v)
        }
    }
}

/// The wire form of `calendar`.
pub fn to_proto(calendar: &Calendar) -> tpb::BusinessHours {
    tpb::BusinessHours {
        time_zone: calendar.time_zone().name().to_owned(),
        hours: calendar
            .hours()
            .days
            .iter()
            .enumerate()
            .flat_map(|(d, day)| {
                day.iter().map(move |i| tpb::OpeningHours {
                    weekday: d as i32 + 1,
                    start_minute: i32::from(i.start_minute),
                    end_minute: i32::from(i.end_minute),
                })
            })
            .collect(),
        holidays: calendar.holidays().map(|d| d.to_string()).collect(),
    }
}
