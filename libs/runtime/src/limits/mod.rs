//! Rate limits of authenticated calls, shared by every replica through Redis.
//!
//! Three limits, each a GCRA budget ([`gcra`]) under one Redis key:
//! - per caller (a person in a tenant, or an integration's API token),
//! - per tenant (all its callers together),
//! - failed authentications per peer address.
//!
//! A call's caller and tenant budgets are checked together by one Lua script
//! on Redis's clock and spent only if both allow. While Redis is out of
//! reach the limiter fails open to the same limits kept in this process's
//! memory (logged once per outage), and asks Redis again after a
//! [`Backoff`]. A peer over its failed-authentication limit is remembered
//! locally until its wait is over, so a flood of bad credentials is refused
//! without verifying each one.

pub mod gcra;
mod local;
mod shared;

use std::{
    collections::HashMap,
    fmt,
    net::IpAddr,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use secrecy::ExposeSecret;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::{
    Backoff, Caller, Settings,
    auth::Via,
    config::{LimitSettings, RateSettings},
};
use gcra::Quota;

/// Peers remembered as blocked at most; past it, those whose wait is over
/// are dropped, and if that is not enough the memory starts over.
const MAX_BLOCKED: usize = 10_000;

/// Which limit refused a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    /// One caller's calls (`limits.caller`).
    Caller,
    /// One tenant's calls (`limits.tenant`).
    Tenant,
    /// Failed authentications from one peer address (`limits.failed_auth`).
    FailedAuth,
}

impl Limit {
    /// The `limit` label of `rate_limited_total`.
    pub fn label(self) -> &'static str {
        match self {
            Limit::Caller => "caller",
            Limit::Tenant => "tenant",
            Limit::FailedAuth => "failed_auth",
        }
    }
}

/// A configured limit: GCRA's quota and the rate as the operator wrote it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Bound {
    quota: Quota,
    per_second: f64,
}

impl Bound {
    fn new(rate: RateSettings) -> Option<Self> {
        Some(Self {
            quota: Quota::new(rate.per_second, rate.burst)?,
            per_second: rate.per_second,
        })
    }
}

/// A call refused by a limit.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// The limit it is over.
    pub limit: Limit,
    /// How long until the same call would be allowed.
    pub retry_after: Duration,
    /// Whose limit: the tenant, for [`Limit::Tenant`].
    whose: String,
    bound: Bound,
}

impl Refusal {
    fn new(limit: Limit, bound: Bound, retry_after: Duration, whose: String) -> Self {
        metrics::counter!("rate_limited_total", "limit" => limit.label()).increment(1);
        Self {
            limit,
            retry_after,
            whose,
            bound,
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.limit {
            Limit::Caller => "rate limit exceeded: this caller may make".to_owned(),
            Limit::Tenant => format!("rate limit exceeded: tenant `{}` may make", self.whose),
            Limit::FailedAuth => {
                "too many failed authentications from this address: it may fail".to_owned()
            }
        };
        write!(
            f,
            "{what} {} calls per second in bursts of up to {} (`limits.{}`); retry in {} ms",
            self.bound.per_second,
            self.bound.quota.burst(),
            self.limit.label(),
            self.retry_after.as_millis()
        )
    }
}

impl From<Refusal> for Status {
    fn from(refusal: Refusal) -> Self {
        Status::with_error_details(
            Code::ResourceExhausted,
            refusal.to_string(),
            ErrorDetails::with_retry_info(Some(refusal.retry_after)),
        )
    }
}

/// A caller's and a tenant's limits.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Pair {
    caller: Bound,
    tenant: Bound,
}

/// The limits of every call this process serves.
#[derive(Clone, Default)]
pub struct Limiter {
    /// `None` when limits are off.
    inner: Option<Arc<Inner>>,
}

impl fmt::Debug for Limiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Limiter")
            .field("enabled", &self.inner.is_some())
            .finish_non_exhaustive()
    }
}

struct Inner {
    prefix: String,
    defaults: Pair,
    tenants: HashMap<String, Pair>,
    failed_auth: Bound,
    /// `None` when Redis's URL is unusable: this process's memory only.
    shared: Option<shared::Shared>,
    local: local::Local,
    /// Whether Redis failed last time it was asked.
    down: AtomicBool,
    outage: Mutex<Outage>,
    blocked: Mutex<HashMap<IpAddr, Instant>>,
}

/// When to ask Redis again during an outage.
struct Outage {
    probing: bool,
    retry_at: Instant,
    backoff: Backoff,
}

/// How a check reached its answer.
enum Route {
    /// Redis, as usual (`probe`: the one call asking during an outage).
    Shared { probe: bool },
    /// This process's memory.
    Local,
}

impl Limiter {
    /// No limits: every call is allowed.
    pub const fn disabled() -> Self {
        Self { inner: None }
    }

    /// The limiter `settings.limits` describe, on `settings.redis.url`.
    pub fn from_settings(settings: &Settings) -> Self {
        let limits = &settings.limits;
        if !limits.enabled {
            return Self::disabled();
        }
        Self::new(
            limits,
            settings.redis.url.expose_secret(),
            limits.key_prefix_or(&settings.events.subject_prefix),
        )
    }

    /// Enforces `limits` (whatever `enabled` says) in Redis at `redis_url`
    /// under keys starting with `prefix`. Limits that settings validation
    /// would refuse are left out.
    pub fn new(limits: &LimitSettings, redis_url: &str, prefix: String) -> Self {
        let bound = |rate| Bound::new(rate);
        let (Some(caller), Some(tenant), Some(failed_auth)) = (
            bound(limits.caller),
            bound(limits.tenant),
            bound(limits.failed_auth),
        ) else {
            tracing::error!("invalid rate limits; calls are not limited");
            return Self::disabled();
        };
        let defaults = Pair { caller, tenant };
        let tenants = limits
            .tenants
            .iter()
            .filter_map(|(id, own)| {
                Some((
                    id.clone(),
                    Pair {
                        caller: bound(own.caller.over(limits.caller))?,
                        tenant: bound(own.tenant.over(limits.tenant))?,
                    },
                ))
            })
            .collect();
        let shared = match shared::Shared::new(redis_url, limits.redis_timeout()) {
            Ok(shared) => Some(shared),
            Err(e) => {
                tracing::error!(error = %e, "unusable redis.url: rate limits are kept in this process's memory only");
                None
            }
        };
        Self {
            inner: Some(Arc::new(Inner {
                prefix,
                defaults,
                tenants,
                failed_auth,
                shared,
                local: local::Local::default(),
                down: AtomicBool::new(false),
                outage: Mutex::new(Outage {
                    probing: false,
                    retry_at: Instant::now(),
                    backoff: Backoff::default(),
                }),
                blocked: Mutex::new(HashMap::new()),
            })),
        }
    }

    /// Whether calls are limited.
    pub fn enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// Whether the last check fell back to this process's memory (Redis out
    /// of reach).
    pub fn is_local(&self) -> bool {
        self.inner
            .as_ref()
            .is_some_and(|i| i.shared.is_none() || i.down.load(Ordering::Relaxed))
    }

    /// Spends one call of `caller`'s and its tenant's budgets, or refuses
    /// it and spends nothing. Switchboard's own services are not limited.
    pub async fn admit(&self, caller: &Caller) -> Result<(), Refusal> {
        let Some(inner) = &self.inner else {
            return Ok(());
        };
        if matches!(caller.via, Via::Service { .. }) {
            return Ok(());
        }
        let tenant = caller.tenant.as_str();
        let pair = inner.tenants.get(tenant).unwrap_or(&inner.defaults);
        let keys = [
            (
                format!("{}:c:{tenant}:{}", inner.prefix, caller.user),
                pair.caller.quota,
            ),
            (format!("{}:t:{tenant}", inner.prefix), pair.tenant.quota),
        ];
        match inner.check(&keys).await {
            None => Ok(()),
            Some((0, wait)) => Err(Refusal::new(
                Limit::Caller,
                pair.caller,
                gcra::retry_after(wait),
                tenant.to_owned(),
            )),
            Some((_, wait)) => Err(Refusal::new(
                Limit::Tenant,
                pair.tenant,
                gcra::retry_after(wait),
                tenant.to_owned(),
            )),
        }
    }

    /// Refuses a call from `peer` while it is over its failed-authentication
    /// limit, without looking at the credential (this process's memory only).
    pub fn check_peer(&self, peer: IpAddr) -> Result<(), Refusal> {
        let Some(inner) = &self.inner else {
            return Ok(());
        };
        let peer = network(peer);
        let mut blocked = inner.blocked.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(&until) = blocked.get(&peer) else {
            return Ok(());
        };
        let now = Instant::now();
        if until <= now {
            blocked.remove(&peer);
            return Ok(());
        }
        Err(Refusal::new(
            Limit::FailedAuth,
            inner.failed_auth,
            (until - now).max(Duration::from_millis(1)),
            String::new(),
        ))
    }

    /// Counts a failed authentication from `peer`; once over the limit the
    /// call is refused as such and the peer is blocked until its wait is over.
    pub async fn failed_auth(&self, peer: IpAddr) -> Result<(), Refusal> {
        let Some(inner) = &self.inner else {
            return Ok(());
        };
        let peer = network(peer);
        let key = [(
            format!("{}:p:{peer}", inner.prefix),
            inner.failed_auth.quota,
        )];
        let Some((_, wait)) = inner.check(&key).await else {
            return Ok(());
        };
        let wait = gcra::retry_after(wait);
        let mut blocked = inner.blocked.lock().unwrap_or_else(PoisonError::into_inner);
        if blocked.len() >= MAX_BLOCKED {
            let now = Instant::now();
            blocked.retain(|_, until| *until > now);
            if blocked.len() >= MAX_BLOCKED {
                blocked.clear();
            }
        }
        blocked.insert(peer, Instant::now() + wait);
        Err(Refusal::new(
            Limit::FailedAuth,
            inner.failed_auth,
            wait,
            String::new(),
        ))
    }
}

impl Inner {
    /// Checks `keys` in Redis, or in memory while Redis is out of reach.
    async fn check(&self, keys: &[(String, Quota)]) -> Option<(usize, u64)> {
        if let (Some(shared), Route::Shared { probe }) = (&self.shared, self.route()) {
            match shared.check(keys).await {
                Ok(answer) => {
                    self.answered();
                    return answer;
                }
                Err(e) => self.failed(probe, &e),
            }
        }
        self.local.check(keys)
    }

    /// Redis while it answers; during an outage only the one call that is due
    /// to try it again.
    fn route(&self) -> Route {
        if !self.down.load(Ordering::Acquire) {
            return Route::Shared { probe: false };
        }
        let mut outage = self.outage.lock().unwrap_or_else(PoisonError::into_inner);
        if outage.probing || Instant::now() < outage.retry_at {
            return Route::Local;
        }
        outage.probing = true;
        Route::Shared { probe: true }
    }

    fn answered(&self) {
        if !self.down.load(Ordering::Acquire) {
            return;
        }
        let mut outage = self.outage.lock().unwrap_or_else(PoisonError::into_inner);
        outage.probing = false;
        outage.backoff.reset();
        if self.down.swap(false, Ordering::AcqRel) {
            metrics::gauge!("rate_limit_local").set(0.0);
            tracing::info!("rate limits are shared through redis again");
        }
    }

    fn failed(&self, probe: bool, error: &shared::StoreError) {
        let mut outage = self.outage.lock().unwrap_or_else(PoisonError::into_inner);
        let began = !self.down.swap(true, Ordering::AcqRel);
        if began {
            metrics::counter!("rate_limit_fallbacks_total").increment(1);
            metrics::gauge!("rate_limit_local").set(1.0);
            tracing::warn!(
                error = %error,
                "redis is out of reach: rate limits fall back to this process's memory"
            );
        }
        // Calls already on their way when Redis went do not push the next
        // try further out; the first failure and each failed probe do.
        if began || probe {
            outage.probing = false;
            outage.retry_at = Instant::now() + outage.backoff.next_delay();
        }
    }
}

/// The address a peer's failures count against: an IPv4 address, or an
/// IPv6 peer's /64 (one host usually holds a whole /64).
fn network(peer: IpAddr) -> IpAddr {
    match peer.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_peers_count_by_their_64_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(network(a), network(b));
        assert_ne!(network(a), network(c));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(network(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn refusals_name_the_limit_and_carry_retry_info() {
        let bound = Bound::new(RateSettings {
            per_second: 0.5,
            burst: 3,
        })
        .unwrap();
        let refusal = Refusal::new(
            Limit::Tenant,
            bound,
            Duration::from_millis(1500),
            "acme".into(),
        );
        let status = Status::from(refusal);
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert!(status.message().contains("tenant `acme`"), "{status:?}");
        assert!(status.message().contains("`limits.tenant`"), "{status:?}");
        assert!(
            status.message().contains("0.5 calls per second"),
            "{status:?}"
        );
        let retry = status.get_details_retry_info().expect("a RetryInfo detail");
        assert_eq!(retry.retry_delay, Some(Duration::from_millis(1500)));
    }

    #[tokio::test]
    async fn disabled_limits_allow_everything() {
        let limiter = Limiter::disabled();
        let caller = Caller::person(
            crate::TenantId::parse("acme").unwrap(),
            "u",
            crate::Role::Agent,
        );
        for _ in 0..1000 {
            assert!(limiter.admit(&caller).await.is_ok());
        }
        let peer: IpAddr = "192.0.2.1".parse().unwrap();
        assert!(limiter.failed_auth(peer).await.is_ok());
        assert!(limiter.check_peer(peer).is_ok());
    }
}
