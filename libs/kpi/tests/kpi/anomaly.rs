use switchboard_kpi::Rate;
use switchboard_kpi::anomaly::{
    Anomaly, AnomalyMetric, BreachConfig, SpikeConfig, breach_rate_jump, volume_spike,
};

fn spike(history: &[u64], observed: u64) -> Option<Anomaly> {
    volume_spike("all", history, observed, &SpikeConfig::default())
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn a_spike_fires_and_a_normal_hour_does_not() {
    // Mean 10, stddev √2, spread floored at √10 ≈ 3.162: threshold ≈ 19.49.
    let history = [10, 12, 8, 10];
    let a = spike(&history, 20).unwrap();
    assert_eq!(a.metric, AnomalyMetric::VolumeSpike);
    assert_eq!(a.key, "all");
    assert_eq!((a.observed, a.expected), (20.0, 10.0));
    assert!(close(a.score, 10.0 / 10f64.sqrt()), "{}", a.score);
    assert_eq!(spike(&history, 19), None);
    assert_eq!(spike(&history, 10), None);
}

#[test]
fn flat_zero_history_needs_the_minimum_increase() {
    let zeros = [0, 0, 0, 0];
    assert_eq!(spike(&zeros, 0), None);
    // Above 0 + 3 × 1 but short of 5 more tickets.
    assert_eq!(spike(&zeros, 4), None);
    let a = spike(&zeros, 5).unwrap();
    assert_eq!((a.observed, a.expected, a.score), (5.0, 0.0, 5.0));
    // Even a spread floor of zero divides by nothing.
    let bare = SpikeConfig {
        min_spread: 0.0,
        ..SpikeConfig::default()
    };
    assert_eq!(volume_spike("all", &zeros, 50, &bare), None);
}

#[test]
fn flat_busy_history_uses_the_poisson_spread() {
    let fifties = [50, 50, 50, 50];
    // √50 ≈ 7.07, so 56 is noise and the threshold is ≈ 71.2.
    assert_eq!(spike(&fifties, 56), None);
    assert_eq!(spike(&fifties, 71), None);
    let a = spike(&fifties, 72).unwrap();
    assert!(close(a.score, 22.0 / 50f64.sqrt()));
}

#[test]
fn a_noisy_history_raises_the_bar() {
    // Mean 10, stddev 10: threshold 40.
    let noisy = [0, 20, 0, 20];
    assert_eq!(spike(&noisy, 40), None);
    assert!(close(spike(&noisy, 41).unwrap().score, 3.1));
}

#[test]
fn too_little_history_decides_nothing() {
    assert_eq!(spike(&[10, 10], 100), None);
    assert_eq!(spike(&[], 100), None);
    let two_weeks = SpikeConfig {
        min_weeks: 2,
        ..SpikeConfig::default()
    };
    assert!(volume_spike("all", &[10, 10], 100, &two_weeks).is_some());
}

#[test]
fn breach_rate_jump_fires_with_enough_evidence() {
    let config = BreachConfig::default();
    let baseline = Rate::new(10, 200);
    let a = breach_rate_jump("group:billing", Rate::new(10, 20), baseline, &config).unwrap();
    assert_eq!(a.metric, AnomalyMetric::SlaBreachRate);
    assert_eq!(a.key, "group:billing");
    assert_eq!((a.observed, a.expected), (0.5, 0.05));
    // Pooled 20/220; se = √(p̄(1−p̄)(1/20 + 1/200)).
    let pooled: f64 = 20.0 / 220.0;
    let se = (pooled * (1.0 - pooled) * (1.0 / 20.0 + 1.0 / 200.0)).sqrt();
    assert!(close(a.score, 0.45 / se));
    assert!(a.score > 6.67 && a.score < 6.68, "{}", a.score);
}

#[test]
fn breach_rate_needs_a_sample_a_jump_and_significance() {
    let config = BreachConfig::default();
    let baseline = Rate::new(10, 200);
    // 10 of 15: too few decided targets.
    assert_eq!(
        breach_rate_jump("all", Rate::new(10, 15), baseline, &config),
        None
    );
    // 15% vs 5%: ten points, but z ≈ 1.8.
    assert_eq!(
        breach_rate_jump("all", Rate::new(3, 20), baseline, &config),
        None
    );
    // No baseline to compare with.
    assert_eq!(
        breach_rate_jump("all", Rate::new(20, 20), Rate::new(0, 5), &config),
        None
    );
    // Nothing ever breached, or everything always: no division by zero.
    assert_eq!(
        breach_rate_jump("all", Rate::new(0, 40), Rate::new(0, 400), &config),
        None
    );
    assert_eq!(
        breach_rate_jump("all", Rate::new(40, 40), Rate::new(400, 400), &config),
        None
    );
}
