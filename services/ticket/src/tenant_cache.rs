//! A short-lived cache of each tenant's intake rules and SLA policy, read on
//! every ticket change. Updates through this process take effect at once;
//! other replicas see them within [`TTL`].

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use switchboard_runtime::TenantId;

use crate::{
    domain::{intake::IntakeRule, sla::Policy},
    store::{StoreError, TicketStore},
};

/// How long a tenant's settings are reused.
pub const TTL: Duration = Duration::from_secs(2);
/// Tenants kept before the cache starts over (bounds memory).
const MAX_TENANTS: usize = 10_000;

/// One tenant's settings.
#[derive(Debug, Default)]
pub struct TenantSettings {
    /// Intake rules, in order.
    pub rules: Vec<IntakeRule>,
    /// SLA policy, if any.
    pub policy: Option<Policy>,
}

/// The cache.
#[derive(Default)]
pub struct TenantCache {
    entries: Mutex<HashMap<TenantId, (Instant, Arc<TenantSettings>)>>,
}

impl TenantCache {
    /// The tenant's settings, from the cache or the store.
    pub async fn get(
        &self,
        store: &dyn TicketStore,
        tenant: &TenantId,
    ) -> Result<Arc<TenantSettings>, StoreError> {
        if let Some((at, settings)) = self.lock().get(tenant)
            && at.elapsed() < TTL
        {
            return Ok(settings.clone());
        }
        let (rules, _) = store.intake_rules(tenant).await?;
        let policy = store.sla_policy(tenant).await?;
        let settings = Arc::new(TenantSettings { rules, policy });
        let mut entries = self.lock();
        if entries.len() >= MAX_TENANTS {
            entries.clear();
        }
        entries.insert(tenant.clone(), (Instant::now(), settings.clone()));
        Ok(settings)
    }

    /// Forgets a tenant after its settings changed here.
    pub fn forget(&self, tenant: &TenantId) {
        self.lock().remove(tenant);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TenantId, (Instant, Arc<TenantSettings>)>> {
        // A panic while holding the lock cannot leave the map inconsistent.
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
