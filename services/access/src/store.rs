//! Tokens and the audit trail in PostgreSQL (the pool's `search_path` is the
//! access schema).

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, QueryBuilder};
use switchboard_runtime::auth::AuditRecord;
use uuid::Uuid;

/// Live tokens one tenant may hold.
pub const MAX_LIVE_TOKENS: i64 = 100;

/// A token as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TokenRecord {
    /// Its id.
    pub id: Uuid,
    /// Its tenant.
    pub tenant: String,
    /// The admin's name for it.
    pub display_name: String,
    /// Its scope strings.
    pub scopes: Vec<String>,
    /// SHA-256 of its secret.
    pub secret_hash: Vec<u8>,
    /// The token's first characters.
    pub secret_prefix: String,
    /// SHA-256 of the secret before the last rotation.
    pub previous_hash: Option<Vec<u8>>,
    /// Until when the previous secret works.
    pub previous_valid_until: Option<DateTime<Utc>>,
    /// When it expires by itself.
    pub expires_at: Option<DateTime<Utc>>,
    /// Who created it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// Its last use, to the minute.
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// What creating a token stores.
#[derive(Debug, Clone)]
pub struct NewToken {
    /// Its id.
    pub id: Uuid,
    /// Its name.
    pub display_name: String,
    /// Its scope strings (already checked).
    pub scopes: Vec<String>,
    /// SHA-256 of its secret.
    pub secret_hash: Vec<u8>,
    /// The token's first characters.
    pub secret_prefix: String,
    /// When it expires.
    pub expires_at: Option<DateTime<Utc>>,
    /// Who creates it.
    pub created_by: String,
}

/// A row of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditRow {
    /// Its id (UUIDv7: time ordered).
    pub id: Uuid,
    /// When the call ended.
    pub occurred_at: DateTime<Utc>,
    /// Who called.
    pub actor: String,
    /// `person`, `integration` or `service`.
    pub actor_kind: String,
    /// Their role.
    pub actor_role: String,
    /// The gRPC method.
    pub method: String,
    /// The resource acted on, or "".
    pub target: String,
    /// The status code name.
    pub outcome: String,
    /// What was asked, as JSON.
    pub request: Option<serde_json::Value>,
    /// What came of it, as JSON.
    pub result: Option<serde_json::Value>,
}

/// Which audit events a listing keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only this actor's.
    pub actor: Option<String>,
    /// Only this method's, or this service's when it ends in `/`.
    pub method: Option<String>,
    /// Only those that ended at or after this.
    pub start: Option<DateTime<Utc>>,
    /// Only those that ended before this.
    pub end: Option<DateTime<Utc>>,
}

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed.
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// A live token of the tenant already has this name.
    #[error("a live token is already named that")]
    NameTaken,
    /// The tenant holds [`MAX_LIVE_TOKENS`] live tokens.
    #[error("the tenant already has {MAX_LIVE_TOKENS} live tokens")]
    TooMany,
    /// No such token in the tenant.
    #[error("no such token")]
    NotFound,
    /// The token was revoked before.
    #[error("the token is already revoked")]
    Revoked,
}

/// Tokens and the audit trail.
#[derive(Debug, Clone)]
pub struct Store {
    pool: PgPool,
}

const TOKEN_COLUMNS: &str = "id, tenant, display_name, scopes, secret_hash, secret_prefix, \
     previous_hash, previous_valid_until, expires_at, created_by, created_at, last_used_at, \
     revoked_at";

impl Store {
    /// A store over `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// The pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Stores `new` in `tenant`, refusing a taken name or one token too many.
    pub async fn create(&self, tenant: &str, new: &NewToken) -> Result<TokenRecord, StoreError> {
        let mut tx = self.pool.begin().await?;
        // Serialises creations per tenant, so the cap holds under races.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('api_tokens:' || $1))")
            .bind(tenant)
            .execute(&mut *tx)
            .await?;
        let live: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM api_tokens WHERE tenant = $1 AND revoked_at IS NULL",
        )
        .bind(tenant)
        .fetch_one(&mut *tx)
        .await?;
        if live >= MAX_LIVE_TOKENS {
            return Err(StoreError::TooMany);
        }
        let inserted = sqlx::query_as::<_, TokenRecord>(&format!(
            "INSERT INTO api_tokens (id, tenant, display_name, scopes, secret_hash, \
             secret_prefix, expires_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             RETURNING {TOKEN_COLUMNS}"
        ))
        .bind(new.id)
        .bind(tenant)
        .bind(&new.display_name)
        .bind(&new.scopes)
        .bind(&new.secret_hash)
        .bind(&new.secret_prefix)
        .bind(new.expires_at)
        .bind(&new.created_by)
        .fetch_one(&mut *tx)
        .await;
        let record = match inserted {
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(StoreError::NameTaken);
            }
            other => other?,
        };
        tx.commit().await?;
        Ok(record)
    }

    /// The tenant's tokens, newest first; revoked and expired ones too when
    /// `inactive`.
    pub async fn list(&self, tenant: &str, inactive: bool) -> Result<Vec<TokenRecord>, StoreError> {
        Ok(sqlx::query_as::<_, TokenRecord>(&format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE tenant = $1 AND ($2 OR \
             (revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now()))) \
             ORDER BY created_at DESC, id DESC LIMIT 1000"
        ))
        .bind(tenant)
        .bind(inactive)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The token `id` of any tenant (the verifier knows no tenant yet).
    pub async fn find(&self, id: Uuid) -> Result<Option<TokenRecord>, StoreError> {
        Ok(sqlx::query_as::<_, TokenRecord>(&format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Gives token `id` of `tenant` a new secret; the old one works for
    /// `grace_seconds` more.
    pub async fn rotate(
        &self,
        tenant: &str,
        id: Uuid,
        secret_hash: &[u8],
        secret_prefix: &str,
        grace_seconds: u32,
    ) -> Result<TokenRecord, StoreError> {
        let rotated = sqlx::query_as::<_, TokenRecord>(&format!(
            "UPDATE api_tokens SET \
               previous_hash = CASE WHEN $5 > 0 THEN secret_hash END, \
               previous_valid_until = CASE WHEN $5 > 0 THEN now() + make_interval(secs => $5) END, \
               secret_hash = $3, secret_prefix = $4 \
             WHERE id = $1 AND tenant = $2 AND revoked_at IS NULL \
             RETURNING {TOKEN_COLUMNS}"
        ))
        .bind(id)
        .bind(tenant)
        .bind(secret_hash)
        .bind(secret_prefix)
        .bind(f64::from(grace_seconds))
        .fetch_optional(&self.pool)
        .await?;
        match rotated {
            Some(record) => Ok(record),
            None => Err(self.why_not_live(tenant, id).await?),
        }
    }

    /// Revokes token `id` of `tenant`.
    pub async fn revoke(&self, tenant: &str, id: Uuid) -> Result<TokenRecord, StoreError> {
        let revoked = sqlx::query_as::<_, TokenRecord>(&format!(
            "UPDATE api_tokens SET revoked_at = now(), previous_hash = NULL \
             WHERE id = $1 AND tenant = $2 AND revoked_at IS NULL RETURNING {TOKEN_COLUMNS}"
        ))
        .bind(id)
        .bind(tenant)
        .fetch_optional(&self.pool)
        .await?;
        match revoked {
            Some(record) => Ok(record),
            None => Err(self.why_not_live(tenant, id).await?),
        }
    }

    async fn why_not_live(&self, tenant: &str, id: Uuid) -> Result<StoreError, StoreError> {
        let exists: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM api_tokens WHERE id = $1 AND tenant = $2)",
        )
        .bind(id)
        .bind(tenant)
        .fetch_one(&self.pool)
        .await?;
        Ok(if exists {
            StoreError::Revoked
        } else {
            StoreError::NotFound
        })
    }

    /// Notes that token `id` was used now.
    pub async fn touch(&self, id: Uuid) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE api_tokens SET last_used_at = date_trunc('minute', now()) WHERE id = $1",
        )
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Appends `records` to their tenants' trails in one statement.
    pub async fn append_audit(&self, records: &[AuditRecord]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let mut insert = QueryBuilder::<Postgres>::new(
            "INSERT INTO audit_events (id, tenant, occurred_at, actor, actor_kind, actor_role, \
             method, target, outcome, request, result) ",
        );
        insert.push_values(records, |mut row, r| {
            row.push_bind(Uuid::now_v7())
                .push_bind(r.tenant.as_str().to_owned())
                .push("now()")
                .push_bind(r.actor.clone())
                .push_bind(r.actor_kind)
                .push_bind(r.actor_role.to_string())
                .push_bind(r.method.clone())
                .push_bind(r.target.clone())
                .push_bind(code_name(r.outcome))
                .push_bind(r.request.clone())
                .push_bind(r.result.clone());
        });
        insert.build().execute(&self.pool).await?;
        Ok(())
    }

    /// A page of `tenant`'s trail that passes `filter`, newest first,
    /// older than `before`.
    pub async fn list_audit(
        &self,
        tenant: &str,
        filter: &AuditFilter,
        before: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<AuditRow>, StoreError> {
        Ok(sqlx::query_as::<_, AuditRow>(
            "SELECT id, occurred_at, actor, actor_kind, actor_role, method, target, outcome, \
             request, result FROM audit_events WHERE tenant = $1 AND ($2::uuid IS NULL OR id < $2) \
               AND ($4::text IS NULL OR actor = $4) \
               AND ($5::text IS NULL OR method = $5 \
                    OR (right($5, 1) = '/' AND starts_with(method, $5))) \
               AND ($6::timestamptz IS NULL OR occurred_at >= $6) \
               AND ($7::timestamptz IS NULL OR occurred_at < $7) \
             ORDER BY id DESC LIMIT $3",
        )
        .bind(tenant)
        .bind(before)
        .bind(limit)
        .bind(filter.actor.as_deref())
        .bind(filter.method.as_deref())
        .bind(filter.start)
        .bind(filter.end)
        .fetch_all(&self.pool)
        .await?)
    }
}

/// The canonical name of a status code (`OK`, `PERMISSION_DENIED`, …).
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "CANCELLED",
        Unknown => "UNKNOWN",
        InvalidArgument => "INVALID_ARGUMENT",
        DeadlineExceeded => "DEADLINE_EXCEEDED",
        NotFound => "NOT_FOUND",
        AlreadyExists => "ALREADY_EXISTS",
        PermissionDenied => "PERMISSION_DENIED",
        ResourceExhausted => "RESOURCE_EXHAUSTED",
        FailedPrecondition => "FAILED_PRECONDITION",
        Aborted => "ABORTED",
        OutOfRange => "OUT_OF_RANGE",
        Unimplemented => "UNIMPLEMENTED",
        Internal => "INTERNAL",
        Unavailable => "UNAVAILABLE",
        DataLoss => "DATA_LOSS",
        Unauthenticated => "UNAUTHENTICATED",
    }
}
