//! Anomalies worth a supervisor's attention: a volume spike against the
//! same hour of past weeks, and a jump in the SLA breach rate.
//!
//! Each test needs a statistical surprise *and* a practical size, so a
//! quiet queue going from 0 to 2 tickets, or a busy one from 500 to 540,
//! raises nothing.

use serde::{Deserialize, Serialize};

use crate::stats::Rate;

/// What an anomaly is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnomalyMetric {
    /// Tickets created in an hour.
    VolumeSpike,
    /// Share of SLA targets breached.
    SlaBreachRate,
}

/// A detected anomaly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Anomaly {
    /// What jumped.
    pub metric: AnomalyMetric,
    /// Where, as the caller named it (e.g. `all`, `group:billing`).
    pub key: String,
    /// The current value: a count, or a rate from 0 to 1.
    pub observed: f64,
    /// The baseline it was compared with.
    pub expected: f64,
    /// How surprising, in standard errors above the baseline.
    pub score: f64,
}

/// Thresholds for [`volume_spike`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SpikeConfig {
    /// Standard deviations above the mean a count must exceed (default 3).
    pub k: f64,
    /// Tickets above the mean a count must reach (default 5).
    pub min_increase: f64,
    /// Weeks of history needed to judge at all (default 3).
    pub min_weeks: usize,
    /// Smallest spread assumed, so a flat history does not make every
    /// extra ticket infinitely surprising (default 1 ticket).
    pub min_spread: f64,
}

impl Default for SpikeConfig {
    fn default() -> Self {
        Self {
            k: 3.0,
            min_increase: 5.0,
            min_weeks: 3,
            min_spread: 1.0,
        }
    }
}

/// Whether `observed` tickets in the current hour spike above `history`, the
/// same local hour of the week in each of the last weeks.
///
/// The baseline is the history's mean μ; its spread is the population
/// standard deviation, but at least √μ (counts of independent arrivals vary
/// that much: Poisson) and at least `min_spread`. A spike needs
/// `observed > μ + k·spread` and `observed − μ ≥ min_increase`; its score is
/// `(observed − μ) / spread`. `None` with fewer than `min_weeks` weeks.
pub fn volume_spike(
    key: &str,
    history: &[u64],
    observed: u64,
    config: &SpikeConfig,
) -> Option<Anomaly> {
    if history.is_empty() || history.len() < config.min_weeks {
        return None;
    }
    let n = history.len() as f64;
    let mean = history.iter().map(|&c| c as f64).sum::<f64>() / n;
    let variance = history
        .iter()
        .map(|&c| (c as f64 - mean).powi(2))
        .sum::<f64>()
        / n;
    let spread = variance.sqrt().max(mean.sqrt()).max(config.min_spread);
    let observed = observed as f64;
    let increase = observed - mean;
    let spike = observed > mean + config.k * spread && increase >= config.min_increase;
    // A zero or negative `min_spread` on a zero history would divide by zero.
    (spike && spread > 0.0).then(|| Anomaly {
        metric: AnomalyMetric::VolumeSpike,
        key: key.to_owned(),
        observed,
        expected: mean,
        score: increase / spread,
    })
}

/// Thresholds for [`breach_rate_jump`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BreachConfig {
    /// Standard errors the jump must reach (default 3).
    pub k: f64,
    /// Decided targets needed in both the current window and the baseline
    /// (default 20).
    pub min_sample: u64,
    /// Rise in the breach rate needed, as a fraction (default 0.10: ten
    /// percentage points).
    pub min_jump: f64,
}

impl Default for BreachConfig {
    fn default() -> Self {
        Self {
            k: 3.0,
            min_sample: 20,
            min_jump: 0.10,
        }
    }
}

/// Whether the breach rate `current` (breached over decided targets) jumped
/// above `baseline` (the same over a longer past window).
///
/// Uses the two-proportion z-test with the pooled rate p̄:
/// `z = (p₁ − p₀) / √(p̄(1 − p̄)(1/n₁ + 1/n₀))`. A jump needs both samples of
/// at least `min_sample`, `p₁ − p₀ ≥ min_jump` and `z ≥ k`. When p̄ is 0 or 1
/// the rates are equal, so nothing is divided by zero.
pub fn breach_rate_jump(
    key: &str,
    current: Rate,
    baseline: Rate,
    config: &BreachConfig,
) -> Option<Anomaly> {
    if current.denominator < config.min_sample.max(1)
        || baseline.denominator < config.min_sample.max(1)
    {
        return None;
    }
    let (p1, p0) = (current.value()?, baseline.value()?);
    let (n1, n0) = (current.denominator as f64, baseline.denominator as f64);
    let pooled = (current.numerator + baseline.numerator) as f64 / (n1 + n0);
    let se = (pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n0)).sqrt();
    if se <= 0.0 || p1 - p0 < config.min_jump {
        return None;
    }
    let z = (p1 - p0) / se;
    (z >= config.k).then(|| Anomaly {
        metric: AnomalyMetric::SlaBreachRate,
        key: key.to_owned(),
        observed: p1,
        expected: p0,
        score: z,
    })
}
