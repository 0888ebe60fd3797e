//! Rate limits against the real Redis on 127.0.0.1:6379, each test under a
//! key prefix of its own: two limiters on one prefix are two replicas.

use std::{
    collections::BTreeMap,
    convert::Infallible,
    future::Future,
    hash::{BuildHasher, RandomState},
    net::{IpAddr, SocketAddr},
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use secrecy::SecretString;
use switchboard_runtime::{
    Authenticator, Caller, Limiter, Role, Settings, TenantId,
    auth::AuthLayer,
    config::{LimitSettings, RateOverride, RateSettings, TenantLimitSettings},
    limits::Limit,
};
use switchboard_testkit::{
    proxy::{Mode, TcpProxy},
    wait_for,
};
use tonic::{Code, Status, body::Body, transport::server::TcpConnectInfo};
use tonic_types::StatusExt;
use tower::{Layer, Service};

const REDIS: &str = "redis://127.0.0.1:6379";

/// A prefix no other test (or run) uses.
fn prefix() -> String {
    let n = RandomState::new().hash_one(std::process::id());
    format!("sbtest-limits-{n:016x}")
}

/// The defaults with `caller`, `tenant` and `failed_auth` bursts as given
/// and a rate of one call every 100 s, so nothing refills during a test.
fn low(caller: u32, tenant: u32, failed_auth: u32) -> LimitSettings {
    let rate = |burst| RateSettings {
        per_second: 0.01,
        burst,
    };
    LimitSettings {
        caller: rate(caller),
        tenant: rate(tenant),
        failed_auth: rate(failed_auth),
        tenants: BTreeMap::new(),
        ..Settings::load(None).expect("defaults load").limits
    }
}

fn person(tenant: &str, user: &str) -> Caller {
    Caller::person(TenantId::parse(tenant).unwrap(), user, Role::Agent)
}

/// How many of `n` calls by `caller` are allowed.
async fn allowed(limiter: &Limiter, caller: &Caller, n: usize) -> usize {
    let mut allowed = 0;
    for _ in 0..n {
        if limiter.admit(caller).await.is_ok() {
            allowed += 1;
        }
    }
    allowed
}

/// A port nothing listens on.
fn dead_redis() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("redis://127.0.0.1:{port}")
}

#[tokio::test]
async fn a_burst_over_the_caller_limit_is_refused_with_a_retry_after_and_replicas_share_it() {
    let prefix = prefix();
    let settings = low(5, 100, 100);
    let one = Limiter::new(&settings, REDIS, prefix.clone());
    let two = Limiter::new(&settings, REDIS, prefix.clone());
    let ana = person("acme", "ana");

    assert_eq!(allowed(&one, &ana, 3).await, 3);
    assert_eq!(allowed(&two, &ana, 2).await, 2);
    for limiter in [&one, &two] {
        let refusal = limiter.admit(&ana).await.unwrap_err();
        assert_eq!(refusal.limit, Limit::Caller);
        // One call every 100 s: the sixth waits about that long.
        assert!(
            refusal.retry_after > Duration::from_secs(90)
                && refusal.retry_after <= Duration::from_secs(100),
            "{refusal:?}"
        );
        let status = Status::from(refusal);
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert!(status.message().contains("`limits.caller`"), "{status:?}");
        assert!(status.get_details_retry_info().is_some(), "{status:?}");
    }
    assert!(!one.is_local() && !two.is_local());

    // Another user of the tenant and another tenant are unaffected.
    assert_eq!(allowed(&two, &person("acme", "bo"), 5).await, 5);
    assert_eq!(allowed(&one, &person("globex", "ana"), 5).await, 5);
    // The budgets are Redis keys: ana, bo, globex's ana, acme and globex.
    assert_eq!(forget(&prefix).await, 5);
}

#[tokio::test]
async fn a_tenant_limit_binds_all_its_callers_and_a_tenant_may_have_its_own() {
    let mut settings = low(3, 5, 100);
    settings.tenants.insert(
        "big".into(),
        TenantLimitSettings {
            caller: RateOverride {
                per_second: None,
                burst: Some(8),
            },
            tenant: RateOverride {
                per_second: None,
                burst: Some(20),
            },
        },
    );
    let prefix = prefix();
    let limiter = Limiter::new(&settings, REDIS, prefix.clone());

    assert_eq!(allowed(&limiter, &person("acme", "ana"), 3).await, 3);
    assert_eq!(allowed(&limiter, &person("acme", "bo"), 2).await, 2);
    let refusal = limiter.admit(&person("acme", "cy")).await.unwrap_err();
    assert_eq!(refusal.limit, Limit::Tenant);
    assert!(refusal.to_string().contains("tenant `acme`"), "{refusal}");

    // `big` has its own, larger limits.
    assert_eq!(allowed(&limiter, &person("big", "ana"), 10).await, 8);
    assert_eq!(allowed(&limiter, &person("big", "bo"), 10).await, 8);
    forget(&prefix).await;
}

/// Deletes every key under `prefix`, returning how many there were.
async fn forget(prefix: &str) -> usize {
    let client = redis::Client::open(REDIS).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    if !keys.is_empty() {
        let _: () = redis::cmd("DEL")
            .arg(&keys)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    keys.len()
}

#[tokio::test]
async fn with_redis_out_of_reach_each_process_still_limits_on_its_own() {
    let limiter = Limiter::new(&low(4, 100, 100), &dead_redis(), prefix());
    let ana = person("acme", "ana");
    assert_eq!(allowed(&limiter, &ana, 10).await, 4);
    assert!(limiter.is_local());
    let refusal = limiter.admit(&ana).await.unwrap_err();
    assert_eq!(refusal.limit, Limit::Caller);
    assert_eq!(allowed(&limiter, &person("globex", "ana"), 10).await, 4);
}

#[tokio::test]
async fn a_redis_outage_falls_back_to_memory_and_its_end_shares_the_budget_again() {
    let redis: SocketAddr = "127.0.0.1:6379".parse().unwrap();
    let proxy = TcpProxy::start(redis, Mode::Up).await.unwrap();
    let prefix = prefix();
    let limiter = Limiter::new(
        &low(3, 100, 100),
        &format!("redis://{}", proxy.addr()),
        prefix.clone(),
    );
    let ana = person("acme", "ana");
    assert_eq!(allowed(&limiter, &ana, 5).await, 3);
    assert!(!limiter.is_local());

    // Redis hangs: each check gives up after `redis_timeout_ms` and the
    // process limits on its own, from a fresh budget.
    proxy.set(Mode::Blackhole);
    assert_eq!(allowed(&limiter, &ana, 5).await, 3);
    assert!(limiter.is_local());

    // Back: a later check finds Redis again, and ana's budget there is
    // still spent.
    proxy.set(Mode::Up);
    let bo = person("acme", "bo");
    wait_for(
        Duration::from_secs(10),
        "the limiter to use redis again",
        || {
            let (limiter, bo) = (limiter.clone(), bo.clone());
            async move {
                let _ = limiter.admit(&bo).await;
                !limiter.is_local()
            }
        },
    )
    .await
    .unwrap();
    let refusal = limiter.admit(&ana).await.unwrap_err();
    assert!(refusal.retry_after > Duration::from_secs(90), "{refusal:?}");
    forget(&prefix).await;
}

/// The handler behind the auth layer: answers every call OK.
#[derive(Clone)]
struct Ok200;

impl Service<http::Request<Body>> for Ok200 {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Request<Body>) -> Self::Future {
        Box::pin(async { Ok(http::Response::new(Body::empty())) })
    }
}

/// The status the auth layer answers a call from `peer` with `token`.
async fn call<S>(service: &mut S, peer: &str, token: &str) -> Code
where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>,
{
    let peer: IpAddr = peer.parse().unwrap();
    let request = http::Request::builder()
        .uri("/switchboard.ticket.v1.TicketService/GetTicket")
        .header("authorization", format!("Bearer {token}"))
        .extension(TcpConnectInfo {
            local_addr: None,
            remote_addr: Some(SocketAddr::new(peer, 40000)),
        })
        .body(Body::empty())
        .unwrap();
    let response = service.call(request).await.unwrap();
    Status::from_header_map(response.headers()).map_or(Code::Ok, |s| s.code())
}

#[tokio::test]
async fn a_peer_over_its_failed_authentications_is_refused_before_its_credential_is_checked() {
    let auth = Authenticator::hs256(&SecretString::from("limits-test-secret-0123456789abcdef"));
    let prefix = prefix();
    auth.set_limiter(Limiter::new(&low(100, 100, 3), REDIS, prefix.clone()));
    let good = auth.issue(&person("acme", "ana"), Duration::from_secs(60));
    let mut service = AuthLayer::new(auth).layer(Ok200);
    let (bad_peer, other_peer) = ("192.0.2.7", "192.0.2.8");

    assert_eq!(call(&mut service, bad_peer, &good).await, Code::Ok);
    for _ in 0..3 {
        assert_eq!(
            call(&mut service, bad_peer, "not-a-token").await,
            Code::Unauthenticated
        );
    }
    assert_eq!(
        call(&mut service, bad_peer, "not-a-token").await,
        Code::ResourceExhausted
    );
    // Blocked: even a good credential is refused, unchecked.
    assert_eq!(
        call(&mut service, bad_peer, &good).await,
        Code::ResourceExhausted
    );
    assert_eq!(call(&mut service, other_peer, &good).await, Code::Ok);
    forget(&prefix).await;
}
