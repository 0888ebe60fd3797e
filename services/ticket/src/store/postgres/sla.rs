//! Tenant settings (SLA policy, intake rules) and the SLA scanner in PostgreSQL.

use chrono::{DateTime, Utc};
use prost::Message as _;
use sqlx::{PgPool, types::Json};
use switchboard_events::outbox;
use switchboard_proto::ticket::v1 as pb;
use switchboard_runtime::TenantId;

use super::rows::{TICKET_COLUMNS, ticket_from_row};
use crate::domain::{
    intake::{self, IntakeRule},
    sla::{self, Policy, alert_event},
};

/// The tenant's policy, decoded and validated again (so a policy saved by an
/// older build that a newer one rejects shows up as an error, not silence).
pub async fn policy(pool: &PgPool, tenant: &TenantId) -> Result<Option<Policy>, sqlx::Error> {
    let row: Option<(Vec<u8>, i64)> =
        sqlx::query_as("SELECT policy, version FROM sla_policies WHERE tenant_id = $1")
            .bind(tenant.as_str())
            .fetch_optional(pool)
            .await?;
    let Some((bytes, version)) = row else {
        return Ok(None);
    };
    let decode = |e: String| sqlx::Error::Decode(e.into());
    let raw = pb::SlaPolicy::decode(bytes.as_slice()).map_err(|e| decode(e.to_string()))?;
    let mut policy = Policy::from_proto(&raw)
        .map_err(|v| decode(format!("stored SLA policy is invalid: {v}")))?;
    policy.version = version;
    Ok(Some(policy))
}

/// Saves `policy` as the tenant's, bumping the version.
pub async fn set_policy(
    pool: &PgPool,
    tenant: &TenantId,
    policy: &Policy,
) -> Result<Policy, sqlx::Error> {
    let version: i64 = sqlx::query_scalar(
        "INSERT INTO sla_policies (tenant_id, policy, version, updated_at) VALUES ($1, $2, 1, now()) \
         ON CONFLICT (tenant_id) DO UPDATE SET policy = EXCLUDED.policy, version = sla_policies.version + 1, \
         updated_at = now() RETURNING version",
    )
    .bind(tenant.as_str())
    .bind(policy.to_proto().encode_to_vec())
    .fetch_one(pool)
    .await?;
    Ok(Policy {
        version,
        ..policy.clone()
    })
}

/// One scanner round. `SKIP LOCKED` hands each due ticket to exactly one
/// scanner; the flags it sets commit with the events, so a ticket is never
/// announced twice for the same target.
pub async fn scan(pool: &PgPool, now: DateTime<Utc>, limit: i64) -> Result<usize, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let rows = sqlx::query(&format!(
        "SELECT {TICKET_COLUMNS} FROM tickets WHERE sla_next_check_at <= $1 \
         ORDER BY sla_next_check_at LIMIT $2 FOR UPDATE SKIP LOCKED"
    ))
    .bind(now)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    let mut events = Vec::new();
    for row in &rows {
        let mut ticket = ticket_from_row(row)?;
        let alerts = sla::scan(&mut ticket, now);
        sqlx::query("UPDATE tickets SET sla = $2, sla_next_check_at = $3 WHERE id = $1")
            .bind(ticket.id)
            .bind(Json(&ticket.sla))
            .bind(ticket.sla.next_check())
            .execute(&mut *tx)
            .await?;
        events.extend(alerts.into_iter().map(|alert| alert_event(&ticket, alert)));
    }
    outbox::append_all(&mut tx, &events).await?;
    tx.commit().await?;
    Ok(rows.len())
}

/// The tenant's intake rules, validated again on the way out.
pub async fn intake_rules(
    pool: &PgPool,
    tenant: &TenantId,
) -> Result<(Vec<IntakeRule>, i64), sqlx::Error> {
    let row: Option<(Vec<u8>, i64)> =
        sqlx::query_as("SELECT rules, version FROM intake_rules WHERE tenant_id = $1")
            .bind(tenant.as_str())
            .fetch_optional(pool)
            .await?;
    let Some((bytes, version)) = row else {
        return Ok((Vec::new(), 0));
    };
    let decode = |e: String| sqlx::Error::Decode(e.into());
    let raw = pb::IntakeRules::decode(bytes.as_slice()).map_err(|e| decode(e.to_string()))?;
    let rules = intake::from_proto(&raw)
        .map_err(|v| decode(format!("stored intake rules are invalid: {v}")))?;
    Ok((rules, version))
}

/// Saves the tenant's intake rules, bumping the version.
pub async fn set_intake_rules(
    pool: &PgPool,
    tenant: &TenantId,
    rules: &[IntakeRule],
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO intake_rules (tenant_id, rules, version, updated_at) VALUES ($1, $2, 1, now()) \
         ON CONFLICT (tenant_id) DO UPDATE SET rules = EXCLUDED.rules, version = intake_rules.version + 1, \
         updated_at = now() RETURNING version",
    )
    .bind(tenant.as_str())
    .bind(intake::to_proto(rules, 0).encode_to_vec())
    .fetch_one(pool)
    .await
}
