use chrono::{DateTime, Datelike, Days, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

use super::*;

fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
}

fn tz(name: &str) -> Tz {
    name.parse().unwrap()
}

/// A wall-clock time in `zone` (the earlier one if it repeats).
fn local(zone: &str, y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    tz(zone)
        .with_ymd_and_hms(y, m, d, h, min, 0)
        .earliest()
        .unwrap()
        .with_timezone(&Utc)
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// Mon–Fri 09:00–17:00 in `zone`.
fn office(zone: &str, holidays: &[NaiveDate]) -> Calendar {
    Calendar::new(
        zone,
        WeeklyHours::weekdays(9 * 60, 17 * 60),
        holidays.iter().copied(),
    )
    .unwrap()
}

/// Open around the clock but with one far-away holiday, so every query
/// takes the day-by-day path instead of the always-open shortcut.
fn around_the_clock_by_day(zone: &str) -> Calendar {
    Calendar::new(zone, WeeklyHours::always(), [date(2099, 1, 1)]).unwrap()
}

fn interval(start_minute: u16, end_minute: u16) -> Interval {
    Interval {
        start_minute,
        end_minute,
    }
}

/// The business time of one local day, midnight to midnight.
fn day_length(c: &Calendar, zone: &str, y: i32, m: u32, d: u32) -> TimeDelta {
    let next = date(y, m, d).succ_opt().unwrap();
    c.between(
        local(zone, y, m, d, 0, 0),
        local(zone, next.year(), next.month(), next.day(), 0, 0),
    )
}

#[test]
fn always_open_is_wall_time() {
    let c = Calendar::always();
    let start = utc(2026, 11, 23, 22, 30);
    assert_eq!(
        c.add(start, TimeDelta::hours(3)),
        Some(utc(2026, 11, 24, 1, 30))
    );
    assert_eq!(
        c.between(start, utc(2026, 11, 24, 1, 30)),
        TimeDelta::hours(3)
    );
    assert_eq!(
        c.add(start, TimeDelta::days(365)),
        Some(utc(2027, 11, 23, 22, 30))
    );
    assert!(c.is_open(utc(2026, 11, 28, 3, 0)));
    assert_eq!(c.time_zone(), Tz::UTC);
    // The day loop agrees with the shortcut.
    let by_day = around_the_clock_by_day("UTC");
    assert_eq!(
        by_day.add(start, TimeDelta::days(30)),
        c.add(start, TimeDelta::days(30))
    );
}

#[test]
fn office_hours_skip_nights_and_weekends() {
    let c = office("UTC", &[]);
    // Monday 16:00 + 2h → Tuesday 10:00.
    assert_eq!(
        c.add(utc(2026, 11, 23, 16, 0), TimeDelta::hours(2)),
        Some(utc(2026, 11, 24, 10, 0))
    );
    // Friday 16:00 + 2h → Monday 10:00.
    assert_eq!(
        c.add(utc(2026, 11, 27, 16, 0), TimeDelta::hours(2)),
        Some(utc(2026, 11, 30, 10, 0))
    );
    assert_eq!(
        c.between(utc(2026, 11, 27, 16, 0), utc(2026, 11, 30, 10, 0)),
        TimeDelta::hours(2)
    );
    // Exactly a day's hours ends at 17:00, not the next morning.
    assert_eq!(
        c.add(utc(2026, 11, 23, 9, 0), TimeDelta::hours(8)),
        Some(utc(2026, 11, 23, 17, 0))
    );
    assert!(c.is_open(utc(2026, 11, 23, 9, 0)));
    assert!(c.is_open(utc(2026, 11, 23, 16, 59)));
    assert!(!c.is_open(utc(2026, 11, 23, 17, 0)));
    assert!(!c.is_open(utc(2026, 11, 23, 8, 59)));
}

#[test]
fn a_start_outside_hours_waits_for_the_next_opening() {
    let c = office("UTC", &[]);
    // Saturday noon: the clock starts Monday 09:00.
    assert_eq!(
        c.add(utc(2026, 11, 28, 12, 0), TimeDelta::minutes(30)),
        Some(utc(2026, 11, 30, 9, 30))
    );
    // Before opening on a weekday.
    assert_eq!(
        c.add(utc(2026, 11, 24, 7, 0), TimeDelta::hours(1)),
        Some(utc(2026, 11, 24, 10, 0))
    );
    // At closing time.
    assert_eq!(
        c.add(utc(2026, 11, 24, 17, 0), TimeDelta::minutes(1)),
        Some(utc(2026, 11, 25, 9, 1))
    );
    // Zero (or negative) time gives the next opening.
    assert_eq!(
        c.add(utc(2026, 11, 24, 20, 0), TimeDelta::zero()),
        Some(utc(2026, 11, 25, 9, 0))
    );
    assert_eq!(
        c.add(utc(2026, 11, 24, 20, 0), TimeDelta::hours(-3)),
        Some(utc(2026, 11, 25, 9, 0))
    );
    assert_eq!(
        c.between(utc(2026, 11, 28, 0, 0), utc(2026, 11, 30, 0, 0)),
        TimeDelta::zero()
    );
    assert_eq!(
        c.between(utc(2026, 11, 30, 0, 0), utc(2026, 11, 28, 0, 0)),
        TimeDelta::zero(),
        "reversed ranges are empty"
    );
}

#[test]
fn several_intervals_a_day() {
    let lunch = vec![interval(9 * 60, 12 * 60), interval(13 * 60, 17 * 60)];
    let hours = WeeklyHours {
        days: std::array::from_fn(|i| if i < 5 { lunch.clone() } else { Vec::new() }),
    };
    let c = Calendar::new("UTC", hours, []).unwrap();
    assert_eq!(
        c.add(utc(2026, 11, 23, 11, 0), TimeDelta::hours(2)),
        Some(utc(2026, 11, 23, 14, 0))
    );
    assert_eq!(
        c.add(utc(2026, 11, 23, 11, 0), TimeDelta::hours(1)),
        Some(utc(2026, 11, 23, 12, 0))
    );
    assert_eq!(
        c.between(utc(2026, 11, 23, 0, 0), utc(2026, 11, 24, 0, 0)),
        TimeDelta::hours(7)
    );
    assert!(!c.is_open(utc(2026, 11, 23, 12, 30)));
    assert!(c.is_open(utc(2026, 11, 23, 13, 0)));
}

#[test]
fn holidays_are_closed() {
    let christmas = date(2026, 12, 25);
    let c = office("UTC", &[christmas]);
    // Thursday 24th 16:00 + 2h → skips Friday 25th and the weekend → Monday 28th 10:00.
    assert_eq!(
        c.add(utc(2026, 12, 24, 16, 0), TimeDelta::hours(2)),
        Some(utc(2026, 12, 28, 10, 0))
    );
    assert_eq!(
        c.between(utc(2026, 12, 24, 0, 0), utc(2026, 12, 29, 0, 0)),
        TimeDelta::hours(16)
    );
    assert!(!c.is_open(utc(2026, 12, 25, 12, 0)));
    assert!(c.is_open(utc(2026, 12, 24, 12, 0)));
    assert_eq!(c.holidays().collect::<Vec<_>>(), vec![&christmas]);
}

#[test]
fn holidays_are_local_dates() {
    // 25 December in Auckland (+13) runs from 11:00 UTC on the 24th.
    let c = Calendar::new(
        "Pacific/Auckland",
        WeeklyHours::always(),
        [date(2026, 12, 25)],
    )
    .unwrap();
    assert!(!c.is_open(utc(2026, 12, 24, 11, 0)));
    assert!(c.is_open(utc(2026, 12, 24, 10, 59)));
    assert!(c.is_open(utc(2026, 12, 25, 11, 0)));
}

#[test]
fn berlin_days_are_23_and_25_hours_around_the_clock() {
    for c in [
        around_the_clock_by_day("Europe/Berlin"),
        Calendar::new("Europe/Berlin", WeeklyHours::always(), []).unwrap(),
    ] {
        assert_eq!(
            day_length(&c, "Europe/Berlin", 2026, 3, 28),
            TimeDelta::hours(24)
        );
        assert_eq!(
            day_length(&c, "Europe/Berlin", 2026, 3, 29),
            TimeDelta::hours(23)
        );
        assert_eq!(
            day_length(&c, "Europe/Berlin", 2026, 10, 25),
            TimeDelta::hours(25)
        );
        assert_eq!(
            day_length(&c, "Europe/Berlin", 2026, 10, 26),
            TimeDelta::hours(24)
        );
        assert_eq!(
            c.add(
                local("Europe/Berlin", 2026, 3, 29, 0, 0),
                TimeDelta::hours(23)
            ),
            Some(local("Europe/Berlin", 2026, 3, 30, 0, 0))
        );
    }
}

#[test]
fn berlin_nine_to_five_is_unaffected_by_dst() {
    let c = Calendar::new("Europe/Berlin", WeeklyHours::every_day(9 * 60, 17 * 60), []).unwrap();
    assert_eq!(
        day_length(&c, "Europe/Berlin", 2026, 3, 29),
        TimeDelta::hours(8)
    );
    assert_eq!(
        day_length(&c, "Europe/Berlin", 2026, 10, 25),
        TimeDelta::hours(8)
    );
    // Saturday 16:00 CET + 2h → Sunday 10:00 CEST, which is 08:00 UTC.
    assert_eq!(
        c.add(
            local("Europe/Berlin", 2026, 3, 28, 16, 0),
            TimeDelta::hours(2)
        ),
        Some(utc(2026, 3, 29, 8, 0))
    );
    // Saturday 16:00 CEST + 2h → Sunday 10:00 CET, which is 09:00 UTC.
    assert_eq!(
        c.add(
            local("Europe/Berlin", 2026, 10, 24, 16, 0),
            TimeDelta::hours(2)
        ),
        Some(utc(2026, 10, 25, 9, 0))
    );
    assert!(c.is_open(utc(2026, 3, 29, 7, 0)), "09:00 CEST");
    assert!(!c.is_open(utc(2026, 3, 29, 6, 59)));

    // Mon–Fri across the spring weekend: Friday 16:00 CET + 2h → Monday 10:00 CEST.
    let c = office("Europe/Berlin", &[]);
    assert_eq!(
        c.add(
            local("Europe/Berlin", 2026, 3, 27, 16, 0),
            TimeDelta::hours(2)
        ),
        Some(utc(2026, 3, 30, 8, 0))
    );
}

#[test]
fn new_york_follows_its_own_changes() {
    let c = around_the_clock_by_day("America/New_York");
    assert_eq!(
        day_length(&c, "America/New_York", 2026, 3, 8),
        TimeDelta::hours(23)
    );
    assert_eq!(
        day_length(&c, "America/New_York", 2026, 11, 1),
        TimeDelta::hours(25)
    );
    // Europe has not changed yet on 8 March: a different zone, different days.
    assert_eq!(
        day_length(&c, "America/New_York", 2026, 3, 29),
        TimeDelta::hours(24)
    );

    let c = Calendar::new(
        "America/New_York",
        WeeklyHours::every_day(9 * 60, 17 * 60),
        [],
    )
    .unwrap();
    assert_eq!(
        day_length(&c, "America/New_York", 2026, 3, 8),
        TimeDelta::hours(8)
    );
    assert_eq!(
        day_length(&c, "America/New_York", 2026, 11, 1),
        TimeDelta::hours(8)
    );
    // Saturday 18:00 EST + 1h → Sunday 10:00 EDT, which is 14:00 UTC.
    assert_eq!(
        c.add(utc(2026, 3, 7, 23, 0), TimeDelta::hours(1)),
        Some(utc(2026, 3, 8, 14, 0))
    );
    let c = office("America/New_York", &[]);
    assert_eq!(
        c.add(
            local("America/New_York", 2026, 3, 6, 16, 0),
            TimeDelta::hours(2)
        ),
        Some(utc(2026, 3, 9, 14, 0))
    );
    assert_eq!(
        c.add(
            local("America/New_York", 2026, 10, 30, 16, 0),
            TimeDelta::hours(2)
        ),
        Some(utc(2026, 11, 2, 15, 0))
    );
}

#[test]
fn hours_in_a_spring_forward_gap_start_after_it() {
    // 02:00–04:00 every day in Berlin; on 29 March 2026 02:00–03:00 does not exist.
    let c = Calendar::new("Europe/Berlin", WeeklyHours::every_day(120, 240), []).unwrap();
    assert_eq!(
        day_length(&c, "Europe/Berlin", 2026, 3, 29),
        TimeDelta::hours(1),
        "03:00–04:00 CEST is all there is"
    );
    assert_eq!(
        day_length(&c, "Europe/Berlin", 2026, 3, 28),
        TimeDelta::hours(2)
    );
    // The interval opens at the transition, 01:00 UTC (03:00 CEST).
    assert!(c.is_open(utc(2026, 3, 29, 1, 0)));
    assert!(!c.is_open(utc(2026, 3, 29, 0, 59)));

    // An interval wholly inside the gap does not happen that day.
    let c = Calendar::new("Europe/Berlin", WeeklyHours::every_day(120, 150), []).unwrap();
    assert_eq!(
        day_length(&c, "Europe/Berlin", 2026, 3, 29),
        TimeDelta::zero()
    );
    assert_eq!(
        c.add(
            local("Europe/Berlin", 2026, 3, 29, 0, 0),
            TimeDelta::minutes(10)
        ),
        Some(local("Europe/Berlin", 2026, 3, 30, 2, 10))
    );
}

#[test]
fn repeated_wall_times_use_the_earlier_instant() {
    // 02:30–03:00 every day in Berlin. On 25 October 2026 02:30 happens
    // twice; the earlier (00:30 UTC, CEST) opens, and 03:00 CET is 02:00 UTC,
    // so that day's interval lasts 90 minutes.
    let c = Calendar::new("Europe/Berlin", WeeklyHours::every_day(150, 180), []).unwrap();
    assert_eq!(
        day_length(&c, "Europe/Berlin", 2026, 10, 25),
        TimeDelta::minutes(90)
    );
    assert!(c.is_open(utc(2026, 10, 25, 0, 30)));
    assert!(!c.is_open(utc(2026, 10, 25, 0, 29)));
    assert!(c.is_open(utc(2026, 10, 25, 1, 45)), "02:45 CET");
    assert!(!c.is_open(utc(2026, 10, 25, 2, 0)));
}

#[test]
fn falling_back_across_midnight() {
    // Goose Bay fell back at 00:01 ADT on Sunday 7 November 2010 to 23:01
    // AST on Saturday: from 03:01 UTC the local date is Saturday again,
    // though Sunday began at 03:00 UTC.
    let mut hours = WeeklyHours::default();
    hours.days[6].push(interval(0, DAY_MINUTES));
    let c = Calendar::new("America/Goose_Bay", hours, []).unwrap();
    assert!(!c.is_open(utc(2010, 11, 7, 2, 59)));
    assert!(c.is_open(utc(2010, 11, 7, 3, 0)));
    assert!(
        c.is_open(utc(2010, 11, 7, 3, 30)),
        "23:30 AST on Saturday, in Sunday"
    );
    assert_eq!(
        c.between(utc(2010, 11, 6, 0, 0), utc(2010, 11, 7, 3, 30)),
        TimeDelta::minutes(30)
    );
    assert_eq!(
        c.add(utc(2010, 11, 7, 3, 30), TimeDelta::hours(24)),
        Some(utc(2010, 11, 8, 3, 30))
    );
    assert_eq!(
        c.between(utc(2010, 11, 6, 0, 0), utc(2010, 11, 9, 0, 0)),
        TimeDelta::hours(25)
    );
}

#[test]
fn a_day_starting_in_a_gap_starts_at_the_transition() {
    // Chile springs forward at midnight: 6 September 2026 00:00–01:00 is skipped.
    let santiago = tz("America/Santiago");
    assert!(
        santiago
            .with_ymd_and_hms(2026, 9, 6, 0, 30, 0)
            .single()
            .is_none()
    );
    let c = around_the_clock_by_day("America/Santiago");
    let start = utc(2026, 9, 6, 4, 0); // the transition: 01:00 -03
    assert_eq!(
        c.between(local("America/Santiago", 2026, 9, 5, 0, 0), start),
        TimeDelta::hours(24)
    );
    assert_eq!(
        c.between(start, local("America/Santiago", 2026, 9, 7, 0, 0)),
        TimeDelta::hours(23)
    );
    let c = Calendar::new("America/Santiago", WeeklyHours::every_day(0, 60), []).unwrap();
    assert_eq!(
        c.between(utc(2026, 9, 5, 0, 0), utc(2026, 9, 8, 0, 0)),
        TimeDelta::hours(2),
        "00:00–01:00 happens on the 5th and 7th only"
    );
}

#[test]
fn samoa_skipped_a_whole_day() {
    // Samoa moved across the date line: 30 December 2011 never happened there.
    let c = around_the_clock_by_day("Pacific/Apia");
    assert_eq!(
        c.between(
            local("Pacific/Apia", 2011, 12, 29, 0, 0),
            local("Pacific/Apia", 2011, 12, 31, 0, 0)
        ),
        TimeDelta::hours(24)
    );
    let c = Calendar::new("Pacific/Apia", WeeklyHours::every_day(9 * 60, 17 * 60), []).unwrap();
    assert_eq!(
        c.add(
            local("Pacific/Apia", 2011, 12, 29, 16, 0),
            TimeDelta::hours(2)
        ),
        Some(local("Pacific/Apia", 2011, 12, 31, 10, 0))
    );
}

#[test]
fn searches_stop_at_the_horizon() {
    // One minute a week (Monday 09:00), and the next 1000 Mondays off: over
    // nineteen years, so no due time within the horizon.
    let mut hours = WeeklyHours::default();
    hours.days[0].push(interval(540, 541));
    let mondays = (0..1000u64).map(|w| date(2026, 11, 23) + Days::new(7 * w));
    let c = Calendar::new("UTC", hours.clone(), mondays).unwrap();
    assert_eq!(c.add(utc(2026, 11, 22, 0, 0), TimeDelta::minutes(1)), None);
    assert_eq!(
        c.between(utc(2026, 11, 22, 0, 0), utc(2036, 11, 22, 0, 0)),
        TimeDelta::zero()
    );
    // Fewer holidays: found after them.
    let mondays = (0..100u64).map(|w| date(2026, 11, 23) + Days::new(7 * w));
    let c = Calendar::new("UTC", hours.clone(), mondays).unwrap();
    assert_eq!(
        c.add(utc(2026, 11, 22, 0, 0), TimeDelta::minutes(1)),
        Some(utc(2028, 10, 23, 9, 1))
    );
    // A year of business time at a minute a week is out of reach too.
    let c = Calendar::new("UTC", hours, []).unwrap();
    assert_eq!(c.add(utc(2026, 11, 22, 0, 0), TimeDelta::days(365)), None);
    assert_eq!(
        c.add(utc(2026, 11, 22, 0, 0), TimeDelta::minutes(3)),
        Some(utc(2026, 12, 7, 9, 1))
    );
}

#[test]
fn extreme_instants_do_not_panic() {
    for zone in ["Pacific/Kiritimati", "Pacific/Pago_Pago", "UTC"] {
        let c = Calendar::new(zone, WeeklyHours::every_day(9 * 60, 17 * 60), []).unwrap();
        let (min, max) = (DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC);
        let _ = c.is_open(min);
        let _ = c.is_open(max);
        assert_eq!(c.add(max, TimeDelta::days(2)), None, "{zone}");
        assert!(c.between(max - TimeDelta::days(3), max) <= TimeDelta::days(3));
        assert!(c.between(min, min + TimeDelta::days(3)) <= TimeDelta::days(3));
        let _ = c.add(min, TimeDelta::hours(1));
        assert_eq!(c.between(max, min), TimeDelta::zero());
    }
    let c = Calendar::always();
    assert_eq!(c.add(DateTime::<Utc>::MAX_UTC, TimeDelta::minutes(1)), None);
}

/// A small xorshift generator: deterministic, no extra crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn sample_calendars() -> Vec<Calendar> {
    let lunch = vec![interval(9 * 60, 12 * 60), interval(13 * 60, 17 * 60)];
    let mut split = WeeklyHours {
        days: std::array::from_fn(|i| if i < 5 { lunch.clone() } else { Vec::new() }),
    };
    split.days[5].push(interval(0, 90));
    split.days[6].push(interval(22 * 60, DAY_MINUTES));
    vec![
        office(
            "Europe/Berlin",
            &[date(2026, 10, 26), date(2026, 12, 24), date(2026, 12, 25)],
        ),
        office("America/New_York", &[date(2026, 7, 3)]),
        Calendar::new("Europe/Berlin", WeeklyHours::every_day(120, 240), []).unwrap(),
        Calendar::new("Europe/Berlin", WeeklyHours::every_day(150, 180), []).unwrap(),
        Calendar::new("America/New_York", split, [date(2026, 11, 26)]).unwrap(),
        around_the_clock_by_day("Asia/Kolkata"),
        around_the_clock_by_day("America/Santiago"),
        Calendar::new("Australia/Lord_Howe", WeeklyHours::every_day(60, 180), []).unwrap(),
        Calendar::always(),
    ]
}

#[test]
fn between_inverts_add() {
    let calendars = sample_calendars();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for seed in 0..400 {
        let c = &calendars[seed % calendars.len()];
        let start = utc(2026, 1, 1, 0, 0) + TimeDelta::seconds(rng.below(365 * 86_400) as i64);
        let amount = TimeDelta::minutes(rng.below(5 * 24 * 60) as i64 + 1);
        let due = c.add(start, amount).expect("open within the horizon");
        assert!(due > start, "seed {seed}");
        assert_eq!(
            c.between(start, due),
            amount,
            "seed {seed}: {start} + {amount} = {due}"
        );
        // The last second before due was business time.
        assert!(c.is_open(due - TimeDelta::seconds(1)), "seed {seed}");
        // Adding in two steps lands in the same place.
        let first = TimeDelta::minutes(rng.below(amount.num_minutes() as u64) as i64);
        let rest = amount - first;
        assert_eq!(
            c.add(start, first).and_then(|mid| c.add(mid, rest)),
            Some(due),
            "seed {seed}: {first} then {rest}"
        );
        // Business time splits at any point.
        let end = start + TimeDelta::minutes(rng.below(10 * 24 * 60) as i64);
        let cut = start + (end - start) / 2;
        assert_eq!(
            c.between(start, end),
            c.between(start, cut) + c.between(cut, end),
            "seed {seed}"
        );
    }
}

#[test]
fn is_open_agrees_with_between() {
    let calendars = sample_calendars();
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for seed in 0..600 {
        let c = &calendars[seed % calendars.len()];
        // Minute-aligned instants around the DST weekends as well as anywhere.
        let base = match seed % 3 {
            0 => utc(2026, 3, 27, 0, 0),
            1 => utc(2026, 10, 23, 0, 0),
            _ => utc(2026, 1, 1, 0, 0) + TimeDelta::days(rng.below(365) as i64),
        };
        let at = base + TimeDelta::minutes(rng.below(4 * 24 * 60) as i64);
        let next_minute = c.between(at, at + TimeDelta::minutes(1));
        assert_eq!(
            c.is_open(at),
            next_minute > TimeDelta::zero(),
            "seed {seed} at {at}"
        );
    }
}

#[test]
fn always_open_shortcut_agrees_with_the_day_loop() {
    let mut rng = Rng(0xdead_beef_cafe_f00d);
    for zone in ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe"] {
        let fast = Calendar::new(zone, WeeklyHours::always(), []).unwrap();
        let halves = Calendar::new(
            zone,
            WeeklyHours {
                days: std::array::from_fn(|_| vec![interval(0, 720), interval(720, 1440)]),
            },
            [],
        )
        .unwrap();
        let slow = around_the_clock_by_day(zone);
        for _ in 0..50 {
            let from = utc(2026, 1, 1, 0, 0) + TimeDelta::minutes(rng.below(525_600) as i64);
            let to = from + TimeDelta::minutes(rng.below(20_000) as i64);
            assert_eq!(fast.between(from, to), slow.between(from, to));
            assert_eq!(halves.between(from, to), to - from);
            let amount = TimeDelta::minutes(rng.below(20_000) as i64);
            assert_eq!(fast.add(from, amount), slow.add(from, amount));
        }
    }
}

#[test]
fn clocks_pause_while_waiting_on_the_customer() {
    let c = office("UTC", &[]);
    // Monday 09:00, 4h target, pending 10:00–14:00: due at 17:00.
    let mut clock = Clock::start(utc(2026, 11, 23, 9, 0), TimeDelta::hours(4));
    assert!(!clock.is_paused());
    assert_eq!(clock.due_at(&c), Some(utc(2026, 11, 23, 13, 0)));
    clock.pause(&c, utc(2026, 11, 23, 10, 0));
    assert!(clock.is_paused());
    assert_eq!(clock.due_at(&c), None, "unknown while paused");
    assert_eq!(
        clock.elapsed(&c, utc(2026, 11, 23, 13, 0)),
        TimeDelta::hours(1),
        "frozen while paused"
    );
    clock.resume(utc(2026, 11, 23, 14, 0));
    assert!(!clock.is_paused());
    assert_eq!(clock.due_at(&c), Some(utc(2026, 11, 23, 17, 0)));
    assert_eq!(
        clock.elapsed(&c, utc(2026, 11, 23, 15, 0)),
        TimeDelta::hours(2)
    );
    assert_eq!(
        clock.remaining(&c, utc(2026, 11, 23, 15, 0)),
        TimeDelta::hours(2)
    );
    // A second resume does not restart the span.
    clock.resume(utc(2026, 11, 23, 16, 0));
    assert_eq!(clock.running_since(), Some(utc(2026, 11, 23, 14, 0)));
}

#[test]
fn a_pause_over_the_night() {
    let c = office("UTC", &[]);
    // Monday 15:00, 3h target; pending Monday 16:00 to Tuesday 11:00.
    let mut clock = Clock::start(utc(2026, 11, 23, 15, 0), TimeDelta::hours(3));
    clock.pause(&c, utc(2026, 11, 23, 16, 0));
    assert_eq!(clock.consumed(), TimeDelta::hours(1));
    clock.resume(utc(2026, 11, 24, 11, 0));
    assert_eq!(clock.due_at(&c), Some(utc(2026, 11, 24, 13, 0)));
    // Running over a night instead: 16:00–17:00 and Wednesday from 09:00 count.
    let mut clock = Clock::start(utc(2026, 11, 24, 16, 0), TimeDelta::hours(3));
    assert_eq!(clock.due_at(&c), Some(utc(2026, 11, 25, 11, 0)));
    clock.pause(&c, utc(2026, 11, 25, 10, 0));
    clock.pause(&c, utc(2026, 11, 25, 16, 0));
    assert_eq!(
        clock.consumed(),
        TimeDelta::hours(2),
        "a second pause changes nothing"
    );
}

#[test]
fn clocks_round_trip_through_their_parts() {
    let c = office("Europe/Berlin", &[]);
    let mut clock = Clock::start(utc(2026, 11, 23, 9, 0), TimeDelta::hours(4));
    clock.pause(&c, utc(2026, 11, 23, 10, 30));
    let stored = (clock.target(), clock.consumed(), clock.running_since());
    let back = Clock::from_parts(stored.0, stored.1, stored.2);
    assert_eq!(back, clock);
    assert_eq!(stored.1, TimeDelta::minutes(90));
    assert_eq!(stored.2, None);
    let running = Clock::from_parts(
        TimeDelta::hours(4),
        TimeDelta::hours(1),
        Some(utc(2026, 11, 23, 13, 0)),
    );
    // 13:00 UTC is 14:00 in Berlin: three hours left end at 17:00 Berlin, 16:00 UTC.
    assert_eq!(running.due_at(&c), Some(utc(2026, 11, 23, 16, 0)));
}

#[test]
fn stages_move_from_on_track_to_warning_to_breached() {
    let c = Calendar::always();
    let clock = Clock::start(utc(2026, 11, 23, 9, 0), TimeDelta::hours(4));
    let warn = TimeDelta::minutes(30);
    let at = |h, m| clock.stage(&c, utc(2026, 11, 23, h, m), warn);
    assert_eq!(at(12, 0), Stage::OnTrack);
    assert_eq!(at(12, 29), Stage::OnTrack);
    assert_eq!(at(12, 30), Stage::Warning);
    assert_eq!(at(12, 59), Stage::Warning);
    assert_eq!(at(13, 0), Stage::Breached);
    assert_eq!(clock.warning_at(&c, warn), Some(utc(2026, 11, 23, 12, 30)));
    // No lead, no warning.
    assert_eq!(
        clock.stage(&c, utc(2026, 11, 23, 12, 59), TimeDelta::zero()),
        Stage::OnTrack
    );

    // In business time: 2h from Monday 16:00 with 30 minutes' warning.
    let c = office("UTC", &[]);
    let mut clock = Clock::start(utc(2026, 11, 23, 16, 0), TimeDelta::hours(2));
    assert_eq!(clock.warning_at(&c, warn), Some(utc(2026, 11, 24, 9, 30)));
    assert_eq!(clock.due_at(&c), Some(utc(2026, 11, 24, 10, 0)));
    let at = |clock: &Clock, d, h, m| clock.stage(&c, utc(2026, 11, d, h, m), warn);
    assert_eq!(at(&clock, 24, 8, 0), Stage::OnTrack, "the night is free");
    assert_eq!(at(&clock, 24, 9, 30), Stage::Warning);
    assert_eq!(at(&clock, 24, 10, 0), Stage::Breached);
    // Paused in the warning stage, it stays there however long it waits.
    clock.pause(&c, utc(2026, 11, 24, 9, 45));
    assert_eq!(at(&clock, 27, 12, 0), Stage::Warning);
    assert_eq!(clock.warning_at(&c, warn), None);
}

#[test]
fn a_used_up_clock_is_due_at_once() {
    let c = office("UTC", &[]);
    // Already 5h used of a 4h target (e.g. the priority changed), resumed
    // in the evening: due at the next opening, breached from then on.
    let clock = Clock::from_parts(
        TimeDelta::hours(4),
        TimeDelta::hours(5),
        Some(utc(2026, 11, 23, 20, 0)),
    );
    assert_eq!(clock.due_at(&c), Some(utc(2026, 11, 24, 9, 0)));
    assert_eq!(
        clock.stage(&c, utc(2026, 11, 23, 20, 0), TimeDelta::zero()),
        Stage::Breached
    );
    assert_eq!(
        clock.remaining(&c, utc(2026, 11, 24, 10, 0)),
        TimeDelta::hours(-2)
    );
    // Absurd stored values saturate instead of panicking.
    let clock = Clock::from_parts(TimeDelta::MAX, TimeDelta::MIN, Some(utc(2026, 1, 1, 0, 0)));
    assert_eq!(
        clock.stage(&c, utc(2026, 1, 2, 0, 0), TimeDelta::MAX),
        Stage::OnTrack
    );
    assert_eq!(clock.remaining(&c, utc(2026, 1, 2, 0, 0)), TimeDelta::MAX);
    assert_eq!(clock.due_at(&c), None, "beyond the horizon");
}

#[test]
fn bad_calendars_name_the_field() {
    let field = |r: Result<Calendar, CalendarError>| r.unwrap_err().field;
    assert_eq!(
        field(Calendar::new("Mars/Olympus", WeeklyHours::always(), [])),
        "time_zone"
    );
    assert_eq!(
        field(Calendar::new("", WeeklyHours::always(), [])),
        "time_zone"
    );

    // Overlapping.
    let mut hours = WeeklyHours::weekdays(9 * 60, 17 * 60);
    hours.days[2].push(interval(16 * 60, 18 * 60));
    assert_eq!(field(Calendar::new("UTC", hours, [])), "hours.days[2][1]");
    // Unsorted.
    let mut hours = WeeklyHours::weekdays(9 * 60, 17 * 60);
    hours.days[3].insert(0, interval(18 * 60, 19 * 60));
    assert_eq!(field(Calendar::new("UTC", hours, [])), "hours.days[3][1]");
    // Empty and reversed intervals; past 24:00.
    for (bad, at) in [
        (interval(600, 600), "hours.days[0][0]"),
        (interval(700, 600), "hours.days[0][0]"),
        (interval(600, 1441), "hours.days[0][0]"),
    ] {
        let mut hours = WeeklyHours::default();
        hours.days[0].push(bad);
        assert_eq!(field(Calendar::new("UTC", hours, [])), at);
    }
    // Adjacent intervals and 24:00 are fine.
    let mut hours = WeeklyHours::default();
    hours.days[6] = vec![interval(0, 600), interval(600, DAY_MINUTES)];
    assert!(Calendar::new("UTC", hours, []).is_ok());
    // Too many intervals.
    let mut hours = WeeklyHours::default();
    hours.days[4] = (0..9).map(|i| interval(i * 60, i * 60 + 30)).collect();
    assert_eq!(field(Calendar::new("UTC", hours, [])), "hours.days[4]");
    // Never open.
    assert_eq!(
        field(Calendar::new("UTC", WeeklyHours::default(), [])),
        "hours"
    );
    // Too many holidays (duplicates count once).
    let many = (0..1001u64).map(|i| date(2026, 1, 1) + Days::new(i));
    assert_eq!(
        field(Calendar::new("UTC", WeeklyHours::always(), many)),
        "holidays"
    );
    let dup = (0..5000u64).map(|i| date(2026, 1, 1) + Days::new(i % 1000));
    assert!(Calendar::new("UTC", WeeklyHours::always(), dup).is_ok());

    let err = Calendar::new("Nowhere", WeeklyHours::always(), []).unwrap_err();
    assert!(err.to_string().starts_with("time_zone: "), "{err}");
}

#[test]
fn targets_are_a_minute_to_a_year() {
    assert!(validate_target("first_response", TimeDelta::seconds(59)).is_err());
    assert!(validate_target("first_response", TimeDelta::zero()).is_err());
    assert!(validate_target("first_response", TimeDelta::minutes(-5)).is_err());
    assert!(validate_target("first_response", TimeDelta::minutes(1)).is_ok());
    assert!(validate_target("resolution", TimeDelta::days(365)).is_ok());
    let err =
        validate_target("resolution", TimeDelta::days(365) + TimeDelta::seconds(1)).unwrap_err();
    assert_eq!(err.field, "resolution");
    assert_eq!(err.to_string(), "resolution: must be 1 minute to 365 days");

    let policy = Policy {
        first_response: Some(TimeDelta::hours(1)),
        resolution: Some(TimeDelta::days(400)),
    };
    assert_eq!(policy.validate().unwrap_err().field, "resolution");
    let policy = Policy {
        first_response: Some(TimeDelta::seconds(1)),
        resolution: None,
    };
    assert_eq!(policy.validate().unwrap_err().field, "first_response");
    assert!(Policy::default().validate().is_ok());
}
