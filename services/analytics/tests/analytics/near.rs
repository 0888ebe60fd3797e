//! Comparing a report read from aggregate rows with the same report
//! computed fact by fact: medians and p90s within the documented bound,
//! everything else equal; and the filters the comparison runs under.

use switchboard_analytics::query::Filter;
use switchboard_kpi::DurationStats;
use switchboard_kpi::fact::{Channel, Priority};
use switchboard_kpi::overview as kpi;
use switchboard_proto::analytics::v1 as pb;

/// The median and p90 of `got` within the documented bound of `want`
/// (exactly when `strict`), then set to `want`'s so the rest compares whole.
pub fn close(got: &mut DurationStats, want: &DurationStats, strict: bool, what: &str) {
    assert_eq!((got.count, got.mean), (want.count, want.mean), "{what}");
    for (g, w) in [(got.median, want.median), (got.p90, want.p90)] {
        let bound = if strict { 0.0 } else { w / 128.0 };
        assert!((g - w).abs() <= bound, "{what}: {g} vs exact {w}");
    }
    (got.median, got.p90) = (want.median, want.p90);
}

pub fn close_pb(
    got: &mut Option<pb::ElapsedStats>,
    want: &Option<pb::ElapsedStats>,
    strict: bool,
    what: &str,
) {
    let (Some(got), Some(want)) = (got, want) else {
        return;
    };
    for (g, w) in [
        (&mut got.calendar, &want.calendar),
        (&mut got.business, &want.business),
    ] {
        if let (Some(g), Some(w)) = (g, w) {
            let mut s = DurationStats {
                count: g.count as u64,
                mean: g.mean_seconds,
                median: g.median_seconds,
                p90: g.p90_seconds,
            };
            let ws = DurationStats {
                count: w.count as u64,
                mean: w.mean_seconds,
                median: w.median_seconds,
                p90: w.p90_seconds,
            };
            close(&mut s, &ws, strict, what);
            (g.median_seconds, g.p90_seconds) = (s.median, s.p90);
        }
    }
}

pub fn close_kpi(got: &mut kpi::ElapsedStats, want: &kpi::ElapsedStats, strict: bool, what: &str) {
    for (g, w) in [
        (&mut got.calendar, &want.calendar),
        (&mut got.business, &want.business),
    ] {
        if let (Some(g), Some(w)) = (g, w) {
            close(g, w, strict, what);
        }
    }
}

/// No filter, filters the rows answer (keys of one dimension), and ones
/// only testing each ticket answers.
pub fn filters() -> Vec<Filter> {
    let two_channels = Filter {
        channels: [Channel::Email, Channel::Chat].into(),
        ..Filter::default()
    };
    let one_tag = Filter {
        tags: ["t1".to_owned()].into(),
        ..Filter::default()
    };
    let two_dims = Filter {
        channels: [Channel::Email].into(),
        groups: [Some("g1".to_owned()), None].into(),
        ..Filter::default()
    };
    // Tickets whose awkward tag must survive storage and the SQL filter.
    let odd = Filter {
        tags: [crate::week::ODD_TAG.to_owned(), "none".to_owned()].into(),
        priorities: [Priority::Low, Priority::Normal].into(),
        ..Filter::default()
    };
    vec![Filter::default(), two_channels, one_tag, two_dims, odd]
}
