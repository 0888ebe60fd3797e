//! Tenant templates and user preferences.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::{PgStore, StoreError};
use crate::domain::{
    Channel,
    input::{Preferences, QuietHours},
    templates::TemplateParts,
};

/// A tenant's template.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TemplateRow {
    /// Subject.
    pub subject: String,
    /// Text part.
    pub text_body: String,
    /// HTML part.
    pub html_body: String,
    /// Version.
    pub version: i64,
    /// Last saved.
    pub updated_at: DateTime<Utc>,
}

impl TemplateRow {
    /// The template's parts.
    pub fn parts(&self) -> TemplateParts {
        TemplateParts {
            subject: self.subject.clone(),
            text_body: self.text_body.clone(),
            html_body: self.html_body.clone(),
        }
    }
}

/// The tenant's template of `kind` in `locale`, if it has one.
pub async fn template(
    conn: &mut PgConnection,
    tenant: &str,
    kind: &str,
    locale: &str,
) -> Result<Option<TemplateRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT subject, text_body, html_body, version, updated_at FROM templates \
         WHERE tenant_id = $1 AND kind = $2 AND locale = $3",
    )
    .bind(tenant)
    .bind(kind)
    .bind(locale)
    .fetch_optional(conn)
    .await
}

/// A template's key: (tenant, kind, locale).
pub type TemplateKey = (String, String, String);

/// The tenant templates among `keys`, in one query.
pub async fn templates(
    conn: &mut PgConnection,
    keys: &[TemplateKey],
) -> Result<HashMap<TemplateKey, TemplateRow>, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Keyed {
        tenant_id: String,
        kind: String,
        locale: String,
        #[sqlx(flatten)]
        row: TemplateRow,
    }
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let tenants: Vec<&str> = keys.iter().map(|k| k.0.as_str()).collect();
    let kinds: Vec<&str> = keys.iter().map(|k| k.1.as_str()).collect();
    let locales: Vec<&str> = keys.iter().map(|k| k.2.as_str()).collect();
    let rows: Vec<Keyed> = sqlx::query_as(
        "SELECT t.tenant_id, t.kind, t.locale, t.subject, t.text_body, t.html_body, t.version, \
           t.updated_at FROM templates t \
         JOIN unnest($1::text[], $2::text[], $3::text[]) AS k(tenant_id, kind, locale) \
           USING (tenant_id, kind, locale)",
    )
    .bind(tenants)
    .bind(kinds)
    .bind(locales)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|k| ((k.tenant_id, k.kind, k.locale), k.row))
        .collect())
}

#[derive(sqlx::FromRow)]
struct PrefRow {
    muted_event_types: Vec<String>,
    muted_channels: Vec<String>,
    quiet_start: Option<i32>,
    quiet_end: Option<i32>,
    time_zone: String,
    version: i64,
}

impl PrefRow {
    fn preferences(self) -> Preferences {
        let quiet = match (self.quiet_start, self.quiet_end, self.time_zone.parse()) {
            (Some(s), Some(e), Ok(tz)) => Some(QuietHours {
                start_minute: s as u32,
                end_minute: e as u32,
                tz,
            }),
            _ => None,
        };
        Preferences {
            muted_event_types: self.muted_event_types,
            muted_channels: self
                .muted_channels
                .iter()
                .filter_map(|c| Channel::parse(c))
                .collect(),
            quiet,
        }
    }
}

const PREF_COLUMNS: &str =
    "muted_event_types, muted_channels, quiet_start, quiet_end, time_zone, version";

/// `user`'s preferences and their version (defaults and 0 when never saved).
pub async fn preferences(
    conn: &mut PgConnection,
    tenant: &str,
    user: &str,
) -> Result<(Preferences, i64), sqlx::Error> {
    let row: Option<PrefRow> = sqlx::query_as(&format!(
        "SELECT {PREF_COLUMNS} FROM preferences WHERE tenant_id = $1 AND user_id = $2"
    ))
    .bind(tenant)
    .bind(user)
    .fetch_optional(conn)
    .await?;
    Ok(row.map_or((Preferences::default(), 0), |r| {
        let version = r.version;
        (r.preferences(), version)
    }))
}

/// The saved preferences among `keys` (tenant, user), in one query; users
/// missing from the answer never saved any (the defaults apply).
pub async fn preferences_of(
    conn: &mut PgConnection,
    keys: &[(String, String)],
) -> Result<HashMap<(String, String), Preferences>, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Keyed {
        tenant_id: String,
        user_id: String,
        #[sqlx(flatten)]
        row: PrefRow,
    }
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let (tenants, users): (Vec<&str>, Vec<&str>) =
        keys.iter().map(|(t, u)| (t.as_str(), u.as_str())).unzip();
    let rows: Vec<Keyed> = sqlx::query_as(&format!(
        "SELECT tenant_id, user_id, {PREF_COLUMNS} FROM preferences \
         JOIN unnest($1::text[], $2::text[]) AS k(tenant_id, user_id) USING (tenant_id, user_id)"
    ))
    .bind(tenants)
    .bind(users)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|k| ((k.tenant_id, k.user_id), k.row.preferences()))
        .collect())
}

impl PgStore {
    /// Saves a tenant template if the stored one is at `version` (0: none).
    pub async fn save_template(
        &self,
        tenant: &str,
        kind: &str,
        locale: &str,
        version: i64,
        parts: &TemplateParts,
    ) -> Result<TemplateRow, StoreError> {
        let saved: Option<TemplateRow> = sqlx::query_as(
            "INSERT INTO templates (tenant_id, kind, locale, subject, text_body, html_body, version) \
             SELECT $1, $2, $3, $4, $5, $6, 1 WHERE $7::bigint = 0 \
             ON CONFLICT (tenant_id, kind, locale) DO NOTHING \
             RETURNING subject, text_body, html_body, version, updated_at",
        )
        .bind(tenant)
        .bind(kind)
        .bind(locale)
        .bind(&parts.subject)
        .bind(&parts.text_body)
        .bind(&parts.html_body)
        .bind(version)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(row) = saved {
            return Ok(row);
        }
        let updated: Option<TemplateRow> = sqlx::query_as(
            "UPDATE templates SET subject = $4, text_body = $5, html_body = $6, \
               version = version + 1, updated_at = now() \
             WHERE tenant_id = $1 AND kind = $2 AND locale = $3 AND version = $7 \
             RETURNING subject, text_body, html_body, version, updated_at",
        )
        .bind(tenant)
        .bind(kind)
        .bind(locale)
        .bind(&parts.subject)
        .bind(&parts.text_body)
        .bind(&parts.html_body)
        .bind(version)
        .fetch_optional(&self.pool)
        .await?;
        match updated {
            Some(row) => Ok(row),
            None => {
                let mut conn = self.pool.acquire().await?;
                let stored = template(&mut conn, tenant, kind, locale).await?;
                Err(StoreError::Conflict(stored.map_or(0, |t| t.version)))
            }
        }
    }

    /// A tenant template, read outside a transaction.
    pub async fn get_template(
        &self,
        tenant: &str,
        kind: &str,
        locale: &str,
    ) -> Result<Option<TemplateRow>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        Ok(template(&mut conn, tenant, kind, locale).await?)
    }

    /// `user`'s preferences, read outside a transaction.
    pub async fn get_preferences(
        &self,
        tenant: &str,
        user: &str,
    ) -> Result<(Preferences, i64), StoreError> {
        let mut conn = self.pool.acquire().await?;
        Ok(preferences(&mut conn, tenant, user).await?)
    }

    /// Replaces `user`'s preferences if stored at `version` (0: never saved).
    pub async fn save_preferences(
        &self,
        tenant: &str,
        user: &str,
        version: i64,
        p: &Preferences,
    ) -> Result<i64, StoreError> {
        let channels: Vec<&str> = p.muted_channels.iter().map(|c| c.as_str()).collect();
        let (start, end, tz) = match &p.quiet {
            Some(q) => (
                Some(q.start_minute as i32),
                Some(q.end_minute as i32),
                q.tz.name().to_owned(),
            ),
            None => (None, None, String::new()),
        };
        let sql = if version == 0 {
            "INSERT INTO preferences (tenant_id, user_id, muted_event_types, muted_channels, \
               quiet_start, quiet_end, time_zone, version) \
             SELECT $1, $2, $3, $4, $5, $6, $7, 1 WHERE $8::bigint = 0 \
             ON CONFLICT (tenant_id, user_id) DO NOTHING RETURNING version"
        } else {
            "UPDATE preferences SET muted_event_types = $3, muted_channels = $4, quiet_start = $5, \
               quiet_end = $6, time_zone = $7, version = version + 1 \
             WHERE tenant_id = $1 AND user_id = $2 AND version = $8 RETURNING version"
        };
        let saved: Option<i64> = sqlx::query_scalar(sql)
            .bind(tenant)
            .bind(user)
            .bind(&p.muted_event_types)
            .bind(&channels)
            .bind(start)
            .bind(end)
            .bind(tz)
            .bind(version)
            .fetch_optional(&self.pool)
            .await?;
        match saved {
            Some(v) => Ok(v),
            None => Err(StoreError::Conflict(
                self.get_preferences(tenant, user).await?.1,
            )),
        }
    }
}
