//! Volume spikes found by the ingest: the same hour of past weeks, and
//! each anomaly recorded once per window and announced through the outbox.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::PgConnection;
use switchboard_events::{EventBuilder, Payload, outbox};
use switchboard_kpi::anomaly::Anomaly;
use switchboard_proto::{common::v1 as common, events::v1 as ev};
use switchboard_runtime::TenantId;
use uuid::Uuid;

use crate::convert::to_timestamp;
use crate::ingest::SPIKE_WEEKS;

/// The same hours of past weeks for every `(tenant, key, hour)` of `totals`.
pub(crate) async fn history(
    tx: &mut PgConnection,
    totals: &[(String, String, DateTime<Utc>, i64)],
) -> Result<HashMap<(String, String, DateTime<Utc>), u64>, sqlx::Error> {
    let (mut tenants, mut keys, mut hours) = (vec![], vec![], vec![]);
    for (tenant, key, hour, _) in totals {
        for w in 1..=SPIKE_WEEKS {
            tenants.push(tenant.clone());
            keys.push(key.clone());
            hours.push(*hour - TimeDelta::weeks(w));
        }
    }
    let rows: Vec<(String, String, DateTime<Utc>, i64)> = sqlx::query_as(
        "SELECT v.tenant_id, v.key, v.hour, v.count FROM volume_hours v \
         JOIN UNNEST($1::text[], $2::text[], $3::timestamptz[]) AS q(tenant_id, key, hour) \
           ON v.tenant_id = q.tenant_id AND v.key = q.key AND v.hour = q.hour",
    )
    .bind(&tenants)
    .bind(&keys)
    .bind(&hours)
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(t, k, h, c)| ((t, k, h), u64::try_from(c).unwrap_or(0)))
        .collect())
}

/// Records `anomaly` for its window and writes its event to the outbox;
/// false when this window was announced before.
pub(crate) async fn announce(
    tx: &mut PgConnection,
    tenant: &str,
    start: DateTime<Utc>,
    width: TimeDelta,
    anomaly: &Anomaly,
) -> Result<bool, sqlx::Error> {
    let Ok(tenant_id) = TenantId::parse(tenant) else {
        return Ok(false);
    };
    let kind = match anomaly.metric {
        switchboard_kpi::anomaly::AnomalyMetric::VolumeSpike => "volume_spike",
        switchboard_kpi::anomaly::AnomalyMetric::SlaBreachRate => "sla_breach_rate",
    };
    let id = Uuid::now_v7();
    let inserted = sqlx::query(
        "INSERT INTO anomalies (tenant_id, kind, key, window_start, id, observed, expected, score) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
    )
    .bind(tenant)
    .bind(kind)
    .bind(&anomaly.key)
    .bind(start)
    .bind(id)
    .bind(anomaly.observed)
    .bind(anomaly.expected)
    .bind(anomaly.score)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if !inserted {
        return Ok(false);
    }
    let payload = Payload::AnalyticsAnomalyDetected(ev::AnalyticsAnomalyDetected {
        kind: kind.to_owned(),
        key: anomaly.key.clone(),
        window_start_time: Some(to_timestamp(start)),
        window_end_time: Some(to_timestamp(start + width)),
        observed: anomaly.observed,
        expected: anomaly.expected,
        score: anomaly.score,
    });
    let mut envelope = EventBuilder::new(&tenant_id, "analytics", id.to_string(), 1)
        .actor(common::Actor {
            kind: common::ActorKind::System as i32,
            ..Default::default()
        })
        .build("anomaly_detected", payload);
    envelope.id = id.to_string();
    outbox::append(tx, &envelope).await?;
    tracing::info!(tenant, kind, key = %anomaly.key, observed = anomaly.observed, expected = anomaly.expected, "anomaly detected");
    Ok(true)
}
