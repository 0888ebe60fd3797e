use switchboard_kpi::stats::nearest_rank;
use switchboard_kpi::{DurationStats, Rate};

#[test]
fn odd_set_has_a_middle_value() {
    let s = DurationStats::of(&[50, 10, 30]).unwrap();
    assert_eq!(s.count, 3);
    assert_eq!(s.mean, 30.0);
    assert_eq!(s.median, 30.0);
    // Rank ⌈0.9 × 3⌉ = 3.
    assert_eq!(s.p90, 50.0);
}

#[test]
fn even_set_median_averages_the_middle_pair() {
    let s = DurationStats::of(&[40, 10, 30, 20]).unwrap();
    assert_eq!(s.count, 4);
    assert_eq!(s.mean, 25.0);
    assert_eq!(s.median, 25.0);
    // Rank ⌈0.9 × 4⌉ = 4.
    assert_eq!(s.p90, 40.0);
}

#[test]
fn p90_of_ten_values_is_the_ninth() {
    let values: Vec<i64> = (1..=10).rev().map(|i| i * 60).collect();
    let s = DurationStats::of(&values).unwrap();
    assert_eq!(s.p90, 540.0);
    assert_eq!(s.median, 330.0);
    assert_eq!(s.mean, 330.0);
}

#[test]
fn one_sample_and_none() {
    let s = DurationStats::of(&[7]).unwrap();
    assert_eq!((s.count, s.mean, s.median, s.p90), (1, 7.0, 7.0, 7.0));
    assert_eq!(DurationStats::of(&[]), None);
}

#[test]
fn nearest_rank_edges() {
    let sorted = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
    assert_eq!(nearest_rank(&sorted, 0), Some(1));
    assert_eq!(nearest_rank(&sorted, 50), Some(6));
    // ⌈0.9 × 11⌉ = ⌈9.9⌉ = 10.
    assert_eq!(nearest_rank(&sorted, 90), Some(10));
    assert_eq!(nearest_rank(&sorted, 100), Some(11));
    assert_eq!(nearest_rank(&sorted, 250), Some(11));
    assert_eq!(nearest_rank(&[], 90), None);
}

#[test]
fn huge_durations_do_not_overflow_the_mean() {
    let s = DurationStats::of(&[i64::MAX, i64::MAX]).unwrap();
    assert_eq!(s.mean, i64::MAX as f64);
}

#[test]
fn rate_value_and_empty() {
    let mut r = Rate::default();
    assert_eq!(r.value(), None);
    r.record(true);
    r.record(false);
    r.record(true);
    r.record(true);
    assert_eq!(r, Rate::new(3, 4));
    assert_eq!(r.value(), Some(0.75));
    assert_eq!(Rate::new(0, 5).value(), Some(0.0));
}
