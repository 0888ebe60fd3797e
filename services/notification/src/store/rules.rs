//! Tenants' switches over the default rules of who hears what.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::{PgStore, StoreError};
use crate::domain::Rules;

/// A tenant's saved rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedRules {
    /// The rules.
    pub rules: Rules,
    /// Version; 0 before the first save.
    pub version: i64,
    /// When last saved; `None` before the first save.
    pub updated_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct RulesRow {
    disabled: Vec<String>,
    version: i64,
    updated_at: DateTime<Utc>,
}

impl RulesRow {
    fn saved(self) -> SavedRules {
        SavedRules {
            rules: Rules::from_off_names(&self.disabled),
            version: self.version,
            updated_at: Some(self.updated_at),
        }
    }
}

/// The rules of `tenants` that saved any, in one query; tenants missing
/// from the answer have every rule on.
pub async fn rules_of(
    conn: &mut PgConnection,
    tenants: &[&str],
) -> Result<HashMap<String, Rules>, sqlx::Error> {
    if tenants.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(String, Vec<String>)> = sqlx::query_as(
        "SELECT tenant_id, disabled FROM notification_rules WHERE tenant_id = ANY($1::text[])",
    )
    .bind(tenants)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(tenant, off)| (tenant, Rules::from_off_names(&off)))
        .collect())
}

impl PgStore {
    /// The tenant's rules (every one on, version 0, when never saved).
    pub async fn get_rules(&self, tenant: &str) -> Result<SavedRules, StoreError> {
        let row: Option<RulesRow> = sqlx::query_as(
            "SELECT disabled, version, updated_at FROM notification_rules WHERE tenant_id = $1",
        )
        .bind(tenant)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map_or(
            SavedRules {
                rules: Rules::all_on(),
                version: 0,
                updated_at: None,
            },
            RulesRow::saved,
        ))
    }

    /// Replaces the tenant's rules if stored at `version` (0: never saved).
    pub async fn save_rules(
        &self,
        tenant: &str,
        version: i64,
        rules: &Rules,
    ) -> Result<SavedRules, StoreError> {
        let sql = if version == 0 {
            "INSERT INTO notification_rules (tenant_id, disabled, version) \
             SELECT $1, $2, 1 WHERE $3::bigint = 0 \
             ON CONFLICT (tenant_id) DO NOTHING RETURNING disabled, version, updated_at"
        } else {
            "UPDATE notification_rules SET disabled = $2, version = version + 1, updated_at = now() \
             WHERE tenant_id = $1 AND version = $3 RETURNING disabled, version, updated_at"
        };
        let saved: Option<RulesRow> = sqlx::query_as(sql)
            .bind(tenant)
            .bind(rules.off_names())
            .bind(version)
            .fetch_optional(&self.pool)
            .await?;
        match saved {
            Some(row) => Ok(row.saved()),
            None => Err(StoreError::Conflict(self.get_rules(tenant).await?.version)),
        }
    }
}
