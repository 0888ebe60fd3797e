//! Each replica keeps every tenant's ticket facts in memory and catches up
//! with the database by `rev` before answering, so queries run over plain
//! slices and any replica sees what any consumer wrote.

use std::collections::HashMap;
use std::sync::Arc;

use futures::TryStreamExt;
use sqlx::PgPool;
use switchboard_kpi::TicketFact;
use switchboard_sla::Calendar;
use tokio::sync::{Mutex, OwnedRwLockReadGuard, RwLock, watch};
use uuid::Uuid;

/// One tenant's facts.
#[derive(Debug)]
pub struct TenantFacts {
    /// The highest fact revision loaded.
    pub rev: i64,
    /// Ticket ids, parallel to `facts`.
    pub ids: Vec<Uuid>,
    /// The facts, in load order.
    pub facts: Vec<TicketFact>,
    index: HashMap<Uuid, usize>,
    /// The tenant's business calendar.
    pub calendar: Calendar,
}

impl TenantFacts {
    fn empty() -> Self {
        Self {
            rev: 0,
            ids: Vec::new(),
            facts: Vec::new(),
            index: HashMap::new(),
            calendar: Calendar::always(),
        }
    }

    fn upsert(&mut self, id: Uuid, fact: TicketFact) {
        match self.index.get(&id) {
            Some(&i) => self.facts[i] = fact,
            None => {
                self.index.insert(id, self.facts.len());
                self.ids.push(id);
                self.facts.push(fact);
            }
        }
    }
}

/// The facts of every tenant asked about so far.
#[derive(Debug)]
pub struct FactCache {
    pool: PgPool,
    tenants: Mutex<HashMap<String, Arc<RwLock<TenantFacts>>>>,
    changed: watch::Sender<u64>,
}

impl FactCache {
    /// A cache over the analytics schema's `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            tenants: Mutex::new(HashMap::new()),
            changed: watch::channel(0).0,
        }
    }

    /// Tells dashboard watchers that this replica applied new events.
    pub fn notify_changed(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Changes signalled by [`notify_changed`](Self::notify_changed).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// `tenant`'s facts, caught up with the database.
    pub async fn snapshot(
        &self,
        tenant: &str,
    ) -> Result<OwnedRwLockReadGuard<TenantFacts>, sqlx::Error> {
        let entry = {
            let mut tenants = self.tenants.lock().await;
            tenants
                .entry(tenant.to_owned())
                .or_insert_with(|| Arc::new(RwLock::new(TenantFacts::empty())))
                .clone()
        };
        {
            let mut facts = entry.write().await;
            self.refresh(tenant, &mut facts).await?;
        }
        Ok(entry.read_owned().await)
    }

    /// Forgets `tenant`'s facts (after a calendar change re-measured them
    /// all, reloading is as cheap as catching up).
    pub async fn forget(&self, tenant: &str) {
        self.tenants.lock().await.remove(tenant);
    }

    async fn refresh(&self, tenant: &str, facts: &mut TenantFacts) -> Result<(), sqlx::Error> {
        let raw: Option<Option<Vec<u8>>> =
            sqlx::query_scalar("SELECT business_hours FROM tenants WHERE tenant_id = $1")
                .bind(tenant)
                .fetch_optional(&self.pool)
                .await?;
        facts.calendar = crate::decode_calendar(raw.flatten().as_deref());
        let mut rows = sqlx::query_as::<_, (Uuid, i64, String)>(
            "SELECT ticket_id, rev, fact::text FROM ticket_facts WHERE tenant_id = $1 AND rev > $2",
        )
        .bind(tenant)
        .bind(facts.rev)
        .fetch(&self.pool);
        while let Some((id, rev, json)) = rows.try_next().await? {
            match serde_json::from_str::<TicketFact>(&json) {
                Ok(fact) => facts.upsert(id, fact),
                Err(e) => tracing::error!(error = %e, ticket = %id, "unreadable fact skipped"),
            }
            facts.rev = facts.rev.max(rev);
        }
        Ok(())
    }
}
