use chrono::TimeZone;

use super::*;

fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
}

fn local(tz: Tz, y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    tz.with_ymd_and_hms(y, m, d, h, min, 0)
        .unwrap()
        .with_timezone(&Utc)
}

/// Mon–Fri 09:00–17:00 in `tz`.
fn office(tz: &str, holidays: &[NaiveDate]) -> Calendar {
    Calendar::new(
        tz,
        WeeklyHours::weekdays(9 * 60, 17 * 60),
        holidays.iter().copied(),
    )
    .unwrap()
}

#[test]
fn around_the_clock_adds_plain_time() {
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
    // Saturday noon: the clock starts Monday 09:00.
    assert_eq!(
        c.add(utc(2026, 11, 28, 12, 0), TimeDelta::minutes(30)),
        Some(utc(2026, 11, 30, 9, 30))
    );
    // Exactly the end of a day's hours lands at 17:00, not the next morning.
    assert_eq!(
        c.add(utc(2026, 11, 23, 9, 0), TimeDelta::hours(8)),
        Some(utc(2026, 11, 23, 17, 0))
    );
    assert!(c.is_open(utc(2026, 11, 23, 9, 0)));
    assert!(!c.is_open(utc(2026, 11, 23, 17, 0)));
    assert!(!c.is_open(utc(2026, 11, 28, 12, 0)));
}

#[test]
fn holidays_are_closed() {
    let christmas = NaiveDate::from_ymd_opt(2026, 12, 25).unwrap();
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
}

#[test]
fn local_hours_follow_daylight_saving_changes() {
    let berlin: Tz = "Europe/Berlin".parse().unwrap();
    let c = office("Europe/Berlin", &[]);
    // Friday 27 March 2026 16:00 CET + 2h → Monday 30 March 10:00 CEST: the
    // opening hour moved an hour earlier in UTC over the weekend.
    let due = c
        .add(local(berlin, 2026, 3, 27, 16, 0), TimeDelta::hours(2))
        .unwrap();
    assert_eq!(due, local(berlin, 2026, 3, 30, 10, 0));
    assert_eq!(due, utc(2026, 3, 30, 8, 0));

    // Around the clock in Berlin: the spring-forward day has 23 hours and
    // the fall-back day 25.
    let all = Calendar::new("Europe/Berlin", WeeklyHours::always(), []).unwrap();
    let day = |d: u32, m: u32| {
        all.between(
            local(berlin, 2026, m, d, 0, 0),
            local(berlin, 2026, m, d + 1, 0, 0),
        )
    };
    assert_eq!(day(29, 3), TimeDelta::hours(23));
    assert_eq!(day(25, 10), TimeDelta::hours(25));
    assert_eq!(day(26, 10), TimeDelta::hours(24));

    // New York: 9–17 stays 9–17 local across its own change (8 March 2026).
    let ny: Tz = "America/New_York".parse().unwrap();
    let c = office("America/New_York", &[]);
    assert_eq!(
        c.add(local(ny, 2026, 3, 6, 16, 0), TimeDelta::hours(2)),
        Some(local(ny, 2026, 3, 9, 10, 0))
    );
}

#[test]
fn hours_starting_in_a_gap_start_after_it() {
    // 02:00–04:00 every day in Berlin; on 29 March 2026 02:00 does not exist.
    let hours = WeeklyHours {
        days: std::array::from_fn(|_| {
            vec![Interval {
                start_minute: 120,
                end_minute: 240,
            }]
        }),
    };
    let c = Calendar::new("Europe/Berlin", hours, []).unwrap();
    let berlin: Tz = "Europe/Berlin".parse().unwrap();
    let that_day = c.between(
        local(berlin, 2026, 3, 29, 0, 0),
        local(berlin, 2026, 3, 29, 12, 0),
    );
    assert_eq!(
        that_day,
        TimeDelta::hours(1),
        "03:00–04:00 CEST is all there is"
    );
}

#[test]
fn between_inverts_add() {
    let calendars = [
        office(
            "Europe/Berlin",
            &[NaiveDate::from_ymd_opt(2026, 10, 26).unwrap()],
        ),
        office("America/New_York", &[]),
        Calendar::new("Asia/Kolkata", WeeklyHours::always(), []).unwrap(),
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..300 {
        let c = &calendars[(next() % 3) as usize];
        let start = utc(2026, 1, 1, 0, 0) + TimeDelta::minutes((next() % (365 * 24 * 60)) as i64);
        let amount = TimeDelta::minutes((next() % (5 * 24 * 60)) as i64 + 1);
        let due = c.add(start, amount).expect("open within the horizon");
        assert_eq!(c.between(start, due), amount, "start {start} + {amount}");
        assert!(due > start);
    }
}

#[test]
fn clocks_pause_while_waiting_on_the_customer() {
    let c = office("UTC", &[]);
    // Monday 09:00, 4h target, pending 10:00–14:00: due at 17:00.
    let mut clock = Clock::start(utc(2026, 11, 23, 9, 0), TimeDelta::hours(4));
    assert_eq!(clock.due_at(&c), Some(utc(2026, 11, 23, 13, 0)));
    clock.pause(&c, utc(2026, 11, 23, 10, 0));
    assert!(clock.is_paused());
    assert_eq!(clock.due_at(&c), None);
    assert_eq!(
        clock.elapsed(&c, utc(2026, 11, 23, 13, 0)),
        TimeDelta::hours(1)
    );
    clock.resume(utc(2026, 11, 23, 14, 0));
    assert_eq!(clock.due_at(&c), Some(utc(2026, 11, 23, 17, 0)));

    // Paused over a night: Monday 16:00–Tuesday 11:00; 1h used before.
    let mut clock = Clock::start(utc(2026, 11, 23, 15, 0), TimeDelta::hours(3));
    clock.pause(&c, utc(2026, 11, 23, 16, 0));
    clock.resume(utc(2026, 11, 24, 11, 0));
    assert_eq!(clock.due_at(&c), Some(utc(2026, 11, 24, 13, 0)));
    clock.pause(&c, utc(2026, 11, 24, 12, 0));
    clock.pause(&c, utc(2026, 11, 24, 16, 0));
    assert_eq!(
        clock.consumed,
        TimeDelta::hours(2),
        "a second pause changes nothing"
    );
}

#[test]
fn stages_move_from_on_track_to_warning_to_breached() {
    let c = Calendar::always();
    let clock = Clock::start(utc(2026, 11, 23, 9, 0), TimeDelta::hours(4));
    let warn = TimeDelta::minutes(30);
    assert_eq!(
        clock.stage(&c, utc(2026, 11, 23, 12, 0), warn),
        Stage::OnTrack
    );
    assert_eq!(
        clock.stage(&c, utc(2026, 11, 23, 12, 30), warn),
        Stage::Warning
    );
    assert_eq!(
        clock.stage(&c, utc(2026, 11, 23, 13, 0), warn),
        Stage::Breached
    );
}

#[test]
fn bad_calendars_name_the_field() {
    let bad_tz = Calendar::new("Mars/Olympus", WeeklyHours::always(), []).unwrap_err();
    assert_eq!(bad_tz.field, "time_zone");
    let mut hours = WeeklyHours::weekdays(9 * 60, 17 * 60);
    hours.days[2].push(Interval {
        start_minute: 16 * 60,
        end_minute: 18 * 60,
    });
    assert_eq!(
        Calendar::new("UTC", hours, []).unwrap_err().field,
        "hours.days[2][1]"
    );
    let mut hours = WeeklyHours::default();
    assert_eq!(
        Calendar::new("UTC", hours.clone(), []).unwrap_err().field,
        "hours"
    );
    hours.days[0].push(Interval {
        start_minute: 600,
        end_minute: 1500,
    });
    assert_eq!(
        Calendar::new("UTC", hours, []).unwrap_err().field,
        "hours.days[0][0]"
    );
    let many = (0..1001).map(|i| NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + Days::new(i));
    assert_eq!(
        Calendar::new("UTC", WeeklyHours::always(), many)
            .unwrap_err()
            .field,
        "holidays"
    );
    assert!(validate_target("first_response", TimeDelta::seconds(30)).is_err());
    assert!(validate_target("resolution", TimeDelta::days(366)).is_err());
    assert!(validate_target("resolution", TimeDelta::hours(8)).is_ok());
}
