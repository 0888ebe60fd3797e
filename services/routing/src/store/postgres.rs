//! PostgreSQL: agents, groups, routing rules and the waiting queue, with
//! routing's events written to the outbox in the same transactions.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use prost::Message;
use sqlx::{PgPool, Row, postgres::PgRow};

use switchboard_events::{Envelope, outbox, outbox::OutboxRow};
use switchboard_proto::routing::v1 as pb;
use switchboard_runtime::TenantId;
use tokio::sync::Notify;
use uuid::Uuid;

use super::{AssignedEvent, Queue, QueuedEvent, Registry, Result, StoreError, Waiting};
use crate::domain::{Agent, Capacity, Group, Job, RoutingRule, rules};

/// Routing's tables.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    waker: Option<Arc<Notify>>,
}

fn agent_from_row(row: &PgRow) -> Result<Agent> {
    let skills: sqlx::types::Json<BTreeMap<String, u8>> = row.try_get("skills")?;
    let capacity: sqlx::types::Json<BTreeMap<String, u32>> = row.try_get("capacity")?;
    Ok(Agent {
        user: row.try_get("user_id")?,
        display_name: row.try_get("display_name")?,
        groups: row.try_get("groups")?,
        skills: skills.0,
        languages: row.try_get("languages")?,
        capacity: Capacity::from_map(&capacity.0),
        version: row.try_get("version")?,
    })
}

fn group_from_row(row: &PgRow) -> Result<Group> {
    let body: sqlx::types::Json<Group> = row.try_get("body")?;
    let mut group = body.0;
    group.version = row.try_get("version")?;
    Ok(group)
}

const AGENT_COLUMNS: &str = "user_id, display_name, groups, skills, languages, capacity, version";

impl PgStore {
    /// A store on `pool` (its search path is the routing schema).
    pub fn new(pool: PgPool) -> Self {
        Self { pool, waker: None }
    }

    /// Wakes the outbox relay after each commit that wrote an event.
    pub fn with_relay_waker(mut self, waker: Arc<Notify>) -> Self {
        self.waker = Some(waker);
        self
    }

    /// The pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    fn wake(&self) {
        if let Some(w) = &self.waker {
            w.notify_one();
        }
    }
}

#[async_trait]
impl Registry for PgStore {
    /// Registers an agent.
    async fn create_agent(&self, tenant: &TenantId, a: &Agent) -> Result<Agent> {
        let row = sqlx::query(&format!(
            "INSERT INTO agents (tenant, user_id, display_name, groups, skills, languages, capacity) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING {AGENT_COLUMNS}"
        ))
        .bind(tenant.as_str())
        .bind(&a.user)
        .bind(&a.display_name)
        .bind(&a.groups)
        .bind(sqlx::types::Json(&a.skills))
        .bind(&a.languages)
        .bind(sqlx::types::Json(a.capacity.to_map()))
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::AlreadyExists(format!("agents/{}", a.user)))?;
        agent_from_row(&row)
    }

    /// One agent.
    async fn get_agent(&self, tenant: &TenantId, user: &str) -> Result<Agent> {
        let row = sqlx::query(&format!(
            "SELECT {AGENT_COLUMNS} FROM agents WHERE tenant = $1 AND user_id = $2"
        ))
        .bind(tenant.as_str())
        .bind(user)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("agents/{user}")))?;
        agent_from_row(&row)
    }

    /// Agents in user-id order after `after`, of `group` when given.
    async fn list_agents(
        &self,
        tenant: &TenantId,
        group: Option<&str>,
        after: &str,
        limit: i64,
    ) -> Result<Vec<Agent>> {
        let rows = sqlx::query(&format!(
            "SELECT {AGENT_COLUMNS} FROM agents WHERE tenant = $1 AND user_id > $2 \
             AND ($3::text IS NULL OR $3 = ANY(groups)) ORDER BY user_id LIMIT $4"
        ))
        .bind(tenant.as_str())
        .bind(after)
        .bind(group)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(agent_from_row).collect()
    }

    /// Stores `a` if its version is still `expected`.
    async fn update_agent(&self, tenant: &TenantId, a: &Agent, expected: i64) -> Result<Agent> {
        let row = sqlx::query(&format!(
            "UPDATE agents SET display_name = $3, groups = $4, skills = $5, languages = $6, capacity = $7, \
             version = version + 1 WHERE tenant = $1 AND user_id = $2 AND version = $8 RETURNING {AGENT_COLUMNS}"
        ))
        .bind(tenant.as_str())
        .bind(&a.user)
        .bind(&a.display_name)
        .bind(&a.groups)
        .bind(sqlx::types::Json(&a.skills))
        .bind(&a.languages)
        .bind(sqlx::types::Json(a.capacity.to_map()))
        .bind(expected)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => agent_from_row(&row),
            None => {
                let current = self.get_agent(tenant, &a.user).await?.version;
                Err(StoreError::Conflict { expected, current })
            }
        }
    }

    /// Removes an agent.
    async fn delete_agent(&self, tenant: &TenantId, user: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM agents WHERE tenant = $1 AND user_id = $2")
            .bind(tenant.as_str())
            .bind(user)
            .execute(&self.pool)
            .await?
            .rows_affected();
        if done == 0 {
            return Err(StoreError::NotFound(format!("agents/{user}")));
        }
        Ok(())
    }

    /// Creates a group.
    async fn create_group(&self, tenant: &TenantId, g: &Group) -> Result<Group> {
        let row = sqlx::query(
            "INSERT INTO groups (tenant, id, body) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING body, version",
        )
        .bind(tenant.as_str())
        .bind(&g.id)
        .bind(sqlx::types::Json(g))
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::AlreadyExists(format!("groups/{}", g.id)))?;
        group_from_row(&row)
    }

    /// One group.
    async fn get_group(&self, tenant: &TenantId, id: &str) -> Result<Group> {
        let row = sqlx::query("SELECT body, version FROM groups WHERE tenant = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("groups/{id}")))?;
        group_from_row(&row)
    }

    /// The tenant's groups in id order (at most 500).
    async fn list_groups(&self, tenant: &TenantId) -> Result<Vec<Group>> {
        let rows =
            sqlx::query("SELECT body, version FROM groups WHERE tenant = $1 ORDER BY id LIMIT 500")
                .bind(tenant.as_str())
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(group_from_row).collect()
    }

    /// Stores `g` if its version is still `expected`.
    async fn update_group(&self, tenant: &TenantId, g: &Group, expected: i64) -> Result<Group> {
        let row = sqlx::query(
            "UPDATE groups SET body = $3, version = version + 1 WHERE tenant = $1 AND id = $2 AND version = $4 \
             RETURNING body, version",
        )
        .bind(tenant.as_str())
        .bind(&g.id)
        .bind(sqlx::types::Json(g))
        .bind(expected)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => group_from_row(&row),
            None => {
                let current = self.get_group(tenant, &g.id).await?.version;
                Err(StoreError::Conflict { expected, current })
            }
        }
    }

    /// Removes a group and its queue.
    async fn delete_group(&self, tenant: &TenantId, id: &str) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("DELETE FROM groups WHERE tenant = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if done == 0 {
            return Err(StoreError::NotFound(format!("groups/{id}")));
        }
        sqlx::query("DELETE FROM waiting WHERE tenant = $1 AND group_id = $2")
            .bind(tenant.as_str())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The tenant's rule set and its version (empty, 0 when never saved).
    async fn rules(&self, tenant: &TenantId) -> Result<(Vec<RoutingRule>, i64)> {
        let row = sqlx::query("SELECT rules, version FROM routing_rules WHERE tenant = $1")
            .bind(tenant.as_str())
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else {
            return Ok((Vec::new(), 0));
        };
        let bytes: Vec<u8> = row.try_get("rules")?;
        let raw = pb::RoutingRules::decode(bytes.as_slice())
            .map_err(|e| StoreError::Db(sqlx::Error::Decode(Box::new(e))))?;
        // Saved rules were valid; a rule that no longer validates (a newer
        // schema) is dropped rather than stopping all routing.
        let rules = rules::from_proto(&raw).unwrap_or_default();
        Ok((rules, row.try_get("version")?))
    }

    /// Replaces the rule set; returns the new version.
    async fn put_rules(&self, tenant: &TenantId, rules: &[RoutingRule]) -> Result<i64> {
        let encoded = rules::to_proto(rules, 0).encode_to_vec();
        let version: i64 = sqlx::query_scalar(
            "INSERT INTO routing_rules (tenant, rules, version) VALUES ($1, $2, 1) \
             ON CONFLICT (tenant) DO UPDATE SET rules = EXCLUDED.rules, version = routing_rules.version + 1 \
             RETURNING version",
        )
        .bind(tenant.as_str())
        .bind(encoded)
        .fetch_one(&self.pool)
        .await?;
        Ok(version)
    }
}

#[async_trait]
impl Queue for PgStore {
    /// Puts `job` in its group's queue (or updates its entry); the event is
    /// written only when the ticket was not waiting yet. Returns whether it
    /// was new.
    async fn enqueue(&self, tenant: &TenantId, job: &Job, event: QueuedEvent<'_>) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let inserted: bool = sqlx::query_scalar(
            "INSERT INTO waiting (tenant, ticket_id, group_id, priority, sla_due, created_at, job) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (tenant, ticket_id) DO UPDATE SET group_id = EXCLUDED.group_id, \
                 priority = EXCLUDED.priority, sla_due = EXCLUDED.sla_due, job = EXCLUDED.job, \
                 lease_until = '-infinity' \
             RETURNING (xmax = 0)",
        )
        .bind(tenant.as_str())
        .bind(job.ticket)
        .bind(&job.group)
        .bind(job.priority)
        .bind(job.sla_due)
        .bind(job.created)
        .bind(sqlx::types::Json(job))
        .fetch_one(&mut *tx)
        .await?;
        if inserted {
            let waiting: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM waiting WHERE tenant = $1 AND group_id = $2",
            )
            .bind(tenant.as_str())
            .bind(&job.group)
            .fetch_one(&mut *tx)
            .await?;
            outbox::append(&mut tx, &event(waiting)).await?;
        }
        tx.commit().await?;
        if inserted {
            self.wake();
        }
        Ok(inserted)
    }

    /// Records an assignment: the ticket leaves the queue and `event` is
    /// published. Returns how long it had waited.
    async fn assigned(
        &self,
        tenant: &TenantId,
        ticket: Uuid,
        event: AssignedEvent<'_>,
    ) -> Result<()> {
        // Most tickets are assigned without ever waiting: one statement
        // publishes their event unless a queue row exists, and only then
        // does a transaction delete the row and tell how long it waited.
        let row = OutboxRow::new(&event(None))?;
        let queued: Option<DateTime<Utc>> = sqlx::query_scalar(&format!(
            "WITH w AS (SELECT enqueued_at FROM waiting WHERE tenant = $1 AND ticket_id = $2), \
             o AS (INSERT INTO outbox ({}) SELECT $3, $4, $5, $6, $7, $8, $9 \
                   WHERE NOT EXISTS (SELECT 1 FROM w)) \
             SELECT enqueued_at FROM w",
            OutboxRow::COLUMNS
        ))
        .bind(tenant.as_str())
        .bind(ticket)
        .bind(row.event_id)
        .bind(row.subject)
        .bind(row.aggregate_id)
        .bind(row.aggregate_version)
        .bind(row.payload)
        .bind(row.traceparent)
        .bind(row.tracestate)
        .fetch_optional(&self.pool)
        .await?;
        if queued.is_none() {
            self.wake();
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        let enqueued: Option<DateTime<Utc>> = sqlx::query_scalar(
            "DELETE FROM waiting WHERE tenant = $1 AND ticket_id = $2 RETURNING enqueued_at",
        )
        .bind(tenant.as_str())
        .bind(ticket)
        .fetch_optional(&mut *tx)
        .await?;
        let waited = enqueued.map(|t| (Utc::now() - t).to_std().unwrap_or_default());
        outbox::append(&mut tx, &event(waited)).await?;
        tx.commit().await?;
        self.wake();
        Ok(())
    }

    /// Takes a ticket out of the queue; whether it was there.
    async fn remove_waiting(&self, tenant: &TenantId, ticket: Uuid) -> Result<bool> {
        Ok(
            sqlx::query("DELETE FROM waiting WHERE tenant = $1 AND ticket_id = $2")
                .bind(tenant.as_str())
                .bind(ticket)
                .execute(&self.pool)
                .await?
                .rows_affected()
                == 1,
        )
    }

    /// The group whose queue the ticket is in.
    async fn waiting_group(&self, tenant: &TenantId, ticket: Uuid) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT group_id FROM waiting WHERE tenant = $1 AND ticket_id = $2")
                .bind(tenant.as_str())
                .bind(ticket)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Sets a waiting ticket's priority (after an escalation).
    async fn reprioritize(&self, tenant: &TenantId, ticket: Uuid, priority: i32) -> Result<()> {
        sqlx::query(
            "UPDATE waiting SET priority = $3, job = jsonb_set(job, '{priority}', to_jsonb($3)) \
             WHERE tenant = $1 AND ticket_id = $2",
        )
        .bind(tenant.as_str())
        .bind(ticket)
        .bind(priority)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Leases up to `limit` waiting tickets of `groups` (all groups when
    /// `None`) in queue order, for `lease`: other replicas skip them until
    /// they are assigned, released or the lease runs out.
    async fn lease(
        &self,
        tenant: &TenantId,
        groups: Option<&[String]>,
        limit: i64,
        lease: Duration,
    ) -> Result<Vec<Waiting>> {
        let rows = sqlx::query(
            "UPDATE waiting w SET lease_until = now() + make_interval(secs => $4) \
             FROM (SELECT ticket_id FROM waiting WHERE tenant = $1 AND lease_until < now() \
                     AND ($2::text[] IS NULL OR group_id = ANY($2)) \
                   ORDER BY priority DESC, sla_due ASC NULLS LAST, created_at, ticket_id \
                   LIMIT $3 FOR UPDATE SKIP LOCKED) picked \
             WHERE w.tenant = $1 AND w.ticket_id = picked.ticket_id \
             RETURNING w.job, w.enqueued_at",
        )
        .bind(tenant.as_str())
        .bind(groups)
        .bind(limit)
        .bind(lease.as_secs_f64())
        .fetch_all(&self.pool)
        .await?;
        let mut out: Vec<Waiting> = rows
            .iter()
            .map(|r| {
                let job: sqlx::types::Json<Job> = r.try_get("job")?;
                Ok(Waiting {
                    job: job.0,
                    enqueued_at: r.try_get("enqueued_at")?,
                })
            })
            .collect::<Result<_>>()?;
        // RETURNING does not keep the subquery's order.
        out.sort_by(|a, b| crate::domain::queue_order(&a.job, &b.job));
        Ok(out)
    }

    /// Ends a lease early, so the ticket can be tried again at once.
    async fn unlease(&self, tenant: &TenantId, ticket: Uuid) -> Result<()> {
        sqlx::query(
            "UPDATE waiting SET lease_until = '-infinity' WHERE tenant = $1 AND ticket_id = $2",
        )
        .bind(tenant.as_str())
        .bind(ticket)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every (tenant, group) with waiting tickets.
    async fn groups_waiting(&self) -> Result<Vec<(String, String)>> {
        Ok(
            sqlx::query_as("SELECT DISTINCT tenant, group_id FROM waiting LIMIT 10000")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// Waiting count and the oldest ticket's enqueue time for one group.
    async fn queue_depth(
        &self,
        tenant: &TenantId,
        group: &str,
    ) -> Result<(i64, Option<DateTime<Utc>>)> {
        let row = sqlx::query("SELECT count(*) AS n, min(enqueued_at) AS oldest FROM waiting WHERE tenant = $1 AND group_id = $2")
            .bind(tenant.as_str())
            .bind(group)
            .fetch_one(&self.pool)
            .await?;
        Ok((row.try_get("n")?, row.try_get("oldest")?))
    }

    /// Writes one event on its own.
    async fn emit(&self, event: &Envelope) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        outbox::append(&mut conn, event).await?;
        self.wake();
        Ok(())
    }
}
