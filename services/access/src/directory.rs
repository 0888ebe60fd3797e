//! API token verification for every replica: records cached for a few
//! seconds (the revocation delay), secrets compared by hash.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use chrono::Utc;
use switchboard_runtime::{
    Caller, Role, TenantId,
    auth::{ApiTokens, AuthError, Scopes, Via},
};
use uuid::Uuid;

use crate::{
    store::{Store, TokenRecord},
    token,
};

/// Records kept at most; past it the cache starts over (a flood of made-up
/// ids must not grow memory).
const MAX_CACHED: usize = 10_000;
/// A use is written back at most this often per token and replica.
const TOUCH_EVERY: Duration = Duration::from_secs(60);

/// The one answer for any token that does not verify, so a caller cannot
/// tell an unknown id from a wrong secret.
const REFUSED: &str = "unknown, revoked or expired API token";

struct Cached {
    at: Instant,
    record: Option<Arc<TokenRecord>>,
}

/// Verifies API tokens against the store, through a short-lived cache.
pub struct Directory {
    store: Store,
    ttl: Duration,
    cache: Mutex<HashMap<Uuid, Cached>>,
    touched: Mutex<HashMap<Uuid, Instant>>,
}

impl Directory {
    /// A directory over `store` whose records live `ttl` in the cache.
    pub fn new(store: Store, ttl: Duration) -> Self {
        Self {
            store,
            ttl,
            cache: Mutex::new(HashMap::new()),
            touched: Mutex::new(HashMap::new()),
        }
    }

    /// The record of `id`, from the cache unless `fresh`.
    async fn record(&self, id: Uuid, fresh: bool) -> Result<Option<Arc<TokenRecord>>, AuthError> {
        if !fresh
            && let Ok(cache) = self.cache.lock()
            && let Some(hit) = cache.get(&id)
            && hit.at.elapsed() < self.ttl
        {
            return Ok(hit.record.clone());
        }
        let record = self
            .store
            .find(id)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "API token lookup failed");
                AuthError::Unavailable("the token directory is out of reach".into())
            })?
            .map(Arc::new);
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= MAX_CACHED {
                cache.clear();
            }
            cache.insert(
                id,
                Cached {
                    at: Instant::now(),
                    record: record.clone(),
                },
            );
        }
        Ok(record)
    }

    /// Writes the use back, at most once a minute per token and replica.
    fn touch(&self, id: Uuid) {
        let due = self.touched.lock().is_ok_and(|mut touched| {
            if touched.len() >= MAX_CACHED {
                touched.clear();
            }
            let due = touched
                .get(&id)
                .is_none_or(|at| at.elapsed() >= TOUCH_EVERY);
            if due {
                touched.insert(id, Instant::now());
            }
            due
        });
        if due {
            let store = self.store.clone();
            tokio::spawn(async move {
                if let Err(e) = store.touch(id).await {
                    tracing::debug!(error = %e, "cannot note an API token's use");
                }
            });
        }
    }
}

/// The caller `record` stands for when `secret` is its secret now.
pub fn caller_for(record: &TokenRecord, secret: &str) -> Result<Caller, AuthError> {
    let refused = || AuthError::Invalid(REFUSED.into());
    let now = Utc::now();
    if record.revoked_at.is_some() || record.expires_at.is_some_and(|at| at <= now) {
        return Err(refused());
    }
    let hash = token::hash(secret);
    let current = hash == record.secret_hash;
    let previous = record.previous_hash.as_ref().is_some_and(|h| *h == hash)
        && record.previous_valid_until.is_some_and(|until| until > now);
    if !(current || previous) {
        return Err(refused());
    }
    let scopes = Scopes::parse(record.scopes.iter().map(String::as_str)).map_err(|_| refused())?;
    let tenant = TenantId::parse(&record.tenant).map_err(|_| refused())?;
    let role = if scopes.is_admin() {
        Role::Admin
    } else {
        Role::Supervisor
    };
    let name = format!("api-tokens/{}", record.id);
    Ok(Caller {
        tenant,
        user: name.clone(),
        role,
        via: Via::Integration {
            token: name,
            name: record.display_name.clone(),
            scopes,
        },
    })
}

#[async_trait::async_trait]
impl ApiTokens for Directory {
    async fn verify(&self, bearer: &str) -> Result<Caller, AuthError> {
        let refused = || AuthError::Invalid(REFUSED.into());
        let (id, secret) = token::parse(bearer).ok_or_else(refused)?;
        let record = self.record(id, false).await?.ok_or_else(refused)?;
        let caller = match caller_for(&record, secret) {
            Ok(caller) => caller,
            // A secret rotated a moment ago is not in the cached record yet:
            // look once more (a wrong secret costs what an unknown id does).
            Err(_) => {
                let latest = self.record(id, true).await?.ok_or_else(refused)?;
                caller_for(&latest, secret)?
            }
        };
        self.touch(id);
        Ok(caller)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    fn record(secret_hash: Vec<u8>) -> TokenRecord {
        TokenRecord {
            id: Uuid::now_v7(),
            tenant: "acme".into(),
            display_name: "crm".into(),
            scopes: vec!["ticket:write".into()],
            secret_hash,
            secret_prefix: "sbt_".into(),
            previous_hash: None,
            previous_valid_until: None,
            expires_at: None,
            created_by: "admin".into(),
            created_at: Utc::now(),
            last_used_at: None,
            revoked_at: None,
        }
    }

    #[test]
    fn only_a_live_record_with_the_right_secret_verifies() {
        let live = record(token::hash("right"));
        let caller = caller_for(&live, "right").unwrap();
        assert_eq!(caller.role, Role::Supervisor);
        assert_eq!(caller.to_actor().id, "crm");
        assert!(caller_for(&live, "wrong").is_err());

        let revoked = TokenRecord {
            revoked_at: Some(Utc::now()),
            ..live.clone()
        };
        assert!(caller_for(&revoked, "right").is_err());
        let expired = TokenRecord {
            expires_at: Some(Utc::now() - TimeDelta::seconds(1)),
            ..live.clone()
        };
        assert!(caller_for(&expired, "right").is_err());
    }

    #[test]
    fn a_rotated_secret_works_only_through_its_grace() {
        let mut rotated = record(token::hash("new"));
        rotated.previous_hash = Some(token::hash("old"));
        rotated.previous_valid_until = Some(Utc::now() + TimeDelta::seconds(60));
        assert!(caller_for(&rotated, "old").is_ok());
        assert!(caller_for(&rotated, "new").is_ok());
        rotated.previous_valid_until = Some(Utc::now() - TimeDelta::seconds(1));
        assert!(caller_for(&rotated, "old").is_err());
    }

    #[test]
    fn the_admin_scope_makes_an_admin() {
        let mut admin = record(token::hash("s"));
        admin.scopes = vec!["admin".into(), "routing:write".into()];
        assert_eq!(caller_for(&admin, "s").unwrap().role, Role::Admin);
    }
}
