//! What a call pays before its handler runs: verifying its bearer token
//! (an HS256 local token; an ES256 token of an identity provider whose keys
//! are cached, served by a local JWKS endpoint; an integration's API token
//! found in the access directory with its cache warm) and spending its rate
//! limits (caller and tenant together, one Lua script on the real Redis),
//! beside a bare Redis round trip (PING) from the same run. Each figure is
//! calls one after another on one task, timed one by one. Figures, not
//! assertions.
//!
//! `cargo run --release -p switchboard-bench --bin auth`

use std::{
    future::Future,
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{Json, Router, routing::get};
use clap::Parser;
use hdrhistogram::Histogram;
use jsonwebtoken::{Algorithm, EncodingKey, Header, jwk::Jwk};
use secrecy::SecretString;
use serde_json::json;
use switchboard_access::{
    Directory, Store,
    store::NewToken,
    token::{self, Minted},
};
use switchboard_runtime::{Authenticator, Caller, Limiter, Role, TenantId, config::IssuerSettings};
use switchboard_testkit::{TEST_JWT_SECRET, TestDb, TestStream, nats_url};
use uuid::Uuid;

/// Measures bearer-token verification and the rate-limit check per call.
#[derive(Debug, Parser)]
struct Args {
    /// Calls per figure.
    #[arg(long, default_value_t = 20_000)]
    calls: u64,
    /// Redis URL.
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
}

const ISSUER: &str = "https://idp.bench/realms/bench";
const AUDIENCE: &str = "switchboard";
/// The runtime's test key (libs/runtime/tests/keys): any P-256 key will do.
const EC_PEM: &str = include_str!("../../../../libs/runtime/tests/keys/ec.pem");

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let tenant = TenantId::parse("bench").expect("valid");
    let person = Caller::person(tenant.clone(), "bench-agent", Role::Agent);

    println!(
        "token verification and rate limiting, per call ({} calls each, one after another)",
        args.calls
    );
    println!("target: a few µs per verification, no network on the hot path\n");
    println!(
        "{:<52} | {:>9} {:>9} {:>9}",
        "", "mean µs", "p50 µs", "p99 µs"
    );

    // HS256: the installation's own key.
    let local = Authenticator::hs256(&SecretString::from(TEST_JWT_SECRET));
    let hs256 = local.issue(&person, Duration::from_secs(3600));
    row("HS256 local token", args.calls, || async {
        local.verify(&hs256).await.map(drop)
    })
    .await?;

    // ES256 from an identity provider, its key set fetched once and cached.
    let key = EncodingKey::from_ec_pem(EC_PEM.as_bytes())?;
    let jwks_url = serve_jwks(&key).await?;
    let mut settings =
        switchboard_testkit::settings("postgres://unused", &nats_url(), &TestStream::unique());
    settings.auth.issuers = vec![IssuerSettings {
        issuer: ISSUER.into(),
        jwks_url,
        audience: AUDIENCE.into(),
        tenant: Some("bench".into()),
        tenant_claim: None,
        user_claim: "sub".into(),
        role_claim: None,
        roles: Default::default(),
        default_role: Some(Role::Agent),
        algorithms: vec!["ES256".into()],
    }];
    let oidc = Authenticator::from_settings(&settings.auth);
    for issuer in oidc.issuers() {
        issuer.refresh().await.map_err(anyhow::Error::msg)?;
    }
    let sign = |jti: u64| {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some("bench-1".into());
        let now = jsonwebtoken::get_current_timestamp();
        let claims = json!({
            "iss": ISSUER, "aud": AUDIENCE, "sub": "bench-agent", "jti": jti,
            "iat": now, "exp": now + 3600,
        });
        jsonwebtoken::encode(&header, &claims, &key)
    };
    // Each token's first use checks its signature; later uses of the same
    // token (a console's every call) find the verdict cached until `exp`.
    let fresh = (0..args.calls).map(sign).collect::<Result<Vec<_>, _>>()?;
    let next = std::sync::atomic::AtomicUsize::new(0);
    row(
        "ES256 provider token, first use (signature)",
        args.calls,
        || async {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            oidc.verify(&fresh[i % fresh.len()]).await.map(drop)
        },
    )
    .await?;
    let es256 = sign(u64::MAX)?;
    row(
        "ES256 provider token, seen before (cached)",
        args.calls,
        || async { oidc.verify(&es256).await.map(drop) },
    )
    .await?;

    // An integration's API token, its record in the directory's cache.
    let db = TestDb::create().await?;
    let result = api_tokens(&db, &args, &local).await;
    db.drop_db().await?;
    result?;

    // The rate-limit check every call makes, beside a bare round trip.
    let limiter = Limiter::new(
        &settings.limits,
        &args.redis_url,
        format!("{}:limits", TestStream::unique().prefix),
    );
    let client = redis::Client::open(args.redis_url.as_str())?;
    let conn = client.get_multiplexed_async_connection().await?;
    row("baseline: Redis PING", args.calls, || {
        let mut conn = conn.clone();
        async move {
            redis::cmd("PING")
                .query_async::<String>(&mut conn)
                .await
                .map(drop)
        }
    })
    .await?;
    row(
        "rate limits: caller + tenant (one Lua script)",
        args.calls,
        || async {
            limiter
                .admit(&person)
                .await
                .map_err(|r| anyhow::anyhow!("{r}"))
        },
    )
    .await?;
    // The test settings' limits are far above this rate, so every call is
    // allowed and each key expires a millisecond after its call.
    anyhow::ensure!(
        !limiter.is_local(),
        "the limiter fell back to memory: is Redis up at {}?",
        args.redis_url
    );
    Ok(())
}

/// The API token figure: a token created in a fresh access schema, verified
/// through the directory every process uses (5 s record cache, warm).
async fn api_tokens(db: &TestDb, args: &Args, auth: &Authenticator) -> anyhow::Result<()> {
    let settings = switchboard_testkit::settings(&db.url, &nats_url(), &TestStream::unique());
    switchboard_access::migrate(&settings).await?;
    let pool = switchboard_events::db::pool(&settings.database, switchboard_access::SCHEMA)?;
    let store = Store::new(pool.clone());
    let id = Uuid::now_v7();
    let Minted {
        token: secret,
        hash,
        shown_prefix,
    } = token::mint(id)?;
    store
        .create(
            "bench",
            &NewToken {
                id,
                display_name: "bench integration".into(),
                scopes: vec!["ticket:write".into()],
                secret_hash: hash,
                secret_prefix: shown_prefix,
                expires_at: None,
                created_by: "bench".into(),
            },
        )
        .await?;
    let ttl = Duration::from_secs(settings.auth.api_token_cache_seconds);
    auth.set_api_tokens(Arc::new(Directory::new(store, ttl)));
    row("API token (directory cache warm)", args.calls, || async {
        auth.verify(&secret).await.map(drop)
    })
    .await?;
    pool.close().await;
    Ok(())
}

/// Runs `call` `calls` times after a short warm-up and prints its timings.
async fn row<F, Fut, E>(label: &str, calls: u64, mut call: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Into<anyhow::Error>,
{
    for _ in 0..(calls / 10).max(1) {
        call().await.map_err(Into::into)?;
    }
    let mut hist = Histogram::<u64>::new(3)?;
    let start = Instant::now();
    for _ in 0..calls {
        let one = Instant::now();
        call().await.map_err(Into::into)?;
        hist.record(one.elapsed().as_nanos() as u64)?;
    }
    let mean = start.elapsed().as_nanos() as f64 / calls as f64 / 1000.0;
    println!(
        "{label:<52} | {mean:>9.2} {:>9.2} {:>9.2}",
        hist.value_at_quantile(0.50) as f64 / 1000.0,
        hist.value_at_quantile(0.99) as f64 / 1000.0
    );
    Ok(())
}

/// Serves `key`'s public half as a one-key JWKS; returns its URL.
async fn serve_jwks(key: &EncodingKey) -> anyhow::Result<String> {
    let mut jwk = serde_json::to_value(Jwk::from_encoding_key(key, Algorithm::ES256)?)?;
    jwk["kid"] = "bench-1".into();
    jwk["use"] = "sig".into();
    let set = json!({ "keys": [jwk] });
    let app = Router::new().route("/certs", get(move || async move { Json(set.clone()) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(format!("http://{addr}/certs"))
}
