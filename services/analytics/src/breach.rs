//! SLA breach-rate jumps found by the ingest: the share of SLA targets
//! (first reply and resolution) decided in one UTC hour that were
//! breached, against the same share over the [`BREACH_BASELINE`] before
//! it, both read from the whole desk's hourly aggregate rows as the batch
//! left them; each hour announced at most once through the outbox.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::PgConnection;
use switchboard_kpi::Rate;
use switchboard_kpi::anomaly::{BreachConfig, breach_rate_jump};

use crate::anomaly::announce;
use crate::cells::{Cells, Measure, Measures};
use crate::convert::Mapped;
use crate::packed::{add_cells, unpack};
use crate::period::{Grain, HOUR, hour_of};
use crate::sample::{Dim, key_text};

/// How far back the baseline of an hour reaches.
pub const BREACH_BASELINE: TimeDelta = TimeDelta::days(7);

/// The key a desk-wide breach rate is announced under.
pub const BREACH_KEY: &str = "all";

/// Targets decided and breached, per UTC hour.
type Decided = BTreeMap<DateTime<Utc>, (u64, u64)>;

/// Tests every hour that `fresh` events fall in (where their decisions
/// land) for a breach-rate jump; returns how many were announced.
pub(crate) async fn check(
    tx: &mut PgConnection,
    fresh: &[&Mapped],
    config: &BreachConfig,
) -> Result<usize, sqlx::Error> {
    let mut hours: BTreeMap<&str, BTreeSet<DateTime<Utc>>> = BTreeMap::new();
    for m in fresh {
        hours.entry(&m.tenant).or_default().insert(hour_of(m.at));
    }
    let mut announced = 0;
    for (tenant, hours) in hours {
        let (Some(first), Some(last)) = (hours.first(), hours.last()) else {
            continue;
        };
        let decided = decided(tx, tenant, *first - BREACH_BASELINE, *last + HOUR).await?;
        for hour in hours {
            let (current, baseline) = rates(&decided, hour);
            if let Some(anomaly) = breach_rate_jump(BREACH_KEY, current, baseline, config)
                && announce(tx, tenant, hour, HOUR, &anomaly).await?
            {
                announced += 1;
            }
        }
    }
    Ok(announced)
}

/// The breach rate of `hour` and of the baseline before it: breached over
/// decided targets.
fn rates(decided: &Decided, hour: DateTime<Utc>) -> (Rate, Rate) {
    let (n, breached) = decided.get(&hour).copied().unwrap_or_default();
    let (mut base_n, mut base_breached) = (0, 0);
    for (d, b) in decided.range(hour - BREACH_BASELINE..hour).map(|(_, v)| v) {
        base_n += d;
        base_breached += b;
    }
    (Rate::new(breached, n), Rate::new(base_breached, base_n))
}

/// The SLA targets decided and breached in each UTC hour of `[from, to)`,
/// from the whole desk's hourly rows.
async fn decided(
    tx: &mut PgConnection,
    tenant: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Decided, sqlx::Error> {
    let rows: Vec<(DateTime<Utc>, Vec<u8>)> = sqlx::query_as(
        "SELECT start, nums FROM aggregates \
         WHERE tenant_id = $1 AND grain = $2 AND dim = $3 AND start >= $4 AND start < $5",
    )
    .bind(tenant)
    .bind(Grain::Hour.code())
    .bind(Dim::All.code())
    .bind(from)
    .bind(to)
    .fetch_all(&mut *tx)
    .await?;
    let whole_desk = key_text(None);
    let mut out = Decided::new();
    for (start, nums) in rows {
        let mut cells = Cells::default();
        let read = unpack(&nums).and_then(|parts| {
            parts
                .into_iter()
                .filter(|(key, _)| *key == whole_desk)
                .try_for_each(|(_, part)| add_cells(&mut cells, part, &[], 1, Measures::NONE))
        });
        if let Err(e) = read {
            tracing::error!(error = %e, "aggregate row unreadable; left out of the breach rate");
            continue;
        }
        let (mut n, mut met) = (0, 0);
        for m in [Measure::SlaFirstReply, Measure::SlaResolution] {
            let rate = cells.rate(m);
            n += rate.denominator;
            met += rate.numerator;
        }
        if n > 0 {
            out.insert(start, (n, n.saturating_sub(met)));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(hours: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 / 3600 * 3600 + hours * 3600, 0).unwrap()
    }

    #[test]
    fn an_hour_is_compared_with_the_week_before_it_only() {
        let decided: Decided = [
            // Older than the baseline: ignored.
            (h(-169), (100, 100)),
            (h(-168), (30, 3)),
            (h(-1), (10, 1)),
            (h(0), (25, 20)),
            // After the hour: ignored.
            (h(1), (50, 50)),
        ]
        .into_iter()
        .collect();
        let (current, baseline) = rates(&decided, h(0));
        assert_eq!(current, Rate::new(20, 25));
        assert_eq!(baseline, Rate::new(4, 40));
        let anomaly = breach_rate_jump(BREACH_KEY, current, baseline, &BreachConfig::default())
            .expect("80% against 10% over 25 and 40 targets");
        assert_eq!((anomaly.observed, anomaly.expected), (0.8, 0.1));
        // An hour with nothing decided has no rate to jump.
        let (current, _) = rates(&decided, h(5));
        assert_eq!(current, Rate::new(0, 0));
    }
}
