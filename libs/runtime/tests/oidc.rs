//! Tokens from an identity provider, verified against keys served over HTTP
//! by a local JWKS endpoint, as a real provider serves them.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicUsize, Ordering},
};

use axum::{Router, extract::State, routing::get};
use jsonwebtoken::{Algorithm, EncodingKey, Header, jwk::Jwk};
use serde_json::json;
use switchboard_runtime::{Authenticator, Role, Settings, auth::AuthError, config::IssuerSettings};

const ISSUER: &str = "https://idp.test/realms/acme";
const AUDIENCE: &str = "switchboard";

/// A signing key of the test provider.
struct Key {
    kid: &'static str,
    alg: Algorithm,
    encoding: EncodingKey,
}

impl Key {
    fn new(kid: &'static str, alg: Algorithm, pem: &str) -> Self {
        let encoding = match alg {
            Algorithm::ES256 => EncodingKey::from_ec_pem(pem.as_bytes()),
            Algorithm::EdDSA => EncodingKey::from_ed_pem(pem.as_bytes()),
            _ => EncodingKey::from_rsa_pem(pem.as_bytes()),
        }
        .expect("a test key");
        Self { kid, alg, encoding }
    }

    fn jwk(&self) -> serde_json::Value {
        let mut jwk =
            serde_json::to_value(Jwk::from_encoding_key(&self.encoding, self.alg).unwrap())
                .unwrap();
        jwk["kid"] = self.kid.into();
        jwk["use"] = "sig".into();
        jwk
    }

    fn sign(&self, claims: serde_json::Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.to_owned());
        jsonwebtoken::encode(&header, &claims, &self.encoding).unwrap()
    }
}

fn rsa() -> Key {
    Key::new("rsa-1", Algorithm::RS256, include_str!("keys/rsa.pem"))
}

fn rsa_next() -> Key {
    Key::new("rsa-2", Algorithm::RS256, include_str!("keys/rsa-next.pem"))
}

fn ec() -> Key {
    Key::new("ec-1", Algorithm::ES256, include_str!("keys/ec.pem"))
}

fn ed() -> Key {
    Key::new("ed-1", Algorithm::EdDSA, include_str!("keys/ed25519.pem"))
}

/// The provider's JWKS endpoint: the key set it serves now, and how often
/// it was fetched.
#[derive(Clone, Default)]
struct Provider {
    keys: Arc<Mutex<Vec<serde_json::Value>>>,
    fetches: Arc<AtomicUsize>,
}

impl Provider {
    fn publish(&self, keys: &[&Key]) {
        *self.keys.lock().unwrap() = keys.iter().map(|k| k.jwk()).collect();
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    async fn serve(&self) -> String {
        async fn jwks(State(p): State<Provider>) -> axum::Json<serde_json::Value> {
            p.fetches.fetch_add(1, Ordering::SeqCst);
            axum::Json(json!({ "keys": *p.keys.lock().unwrap() }))
        }
        let app = Router::new()
            .route("/certs", get(jwks))
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}/certs")
    }
}

fn issuer(jwks_url: String) -> IssuerSettings {
    IssuerSettings {
        issuer: ISSUER.into(),
        jwks_url,
        audience: AUDIENCE.into(),
        tenant: None,
        tenant_claim: Some("org".into()),
        user_claim: "email".into(),
        role_claim: Some("groups".into()),
        roles: [
            ("desk-agents".to_owned(), Role::Agent),
            ("desk-admins".to_owned(), Role::Admin),
        ]
        .into(),
        default_role: None,
        algorithms: ["RS256", "ES256", "EdDSA"].map(String::from).to_vec(),
    }
}

fn authenticator(issuer: IssuerSettings, min_refresh_seconds: u64) -> Authenticator {
    let mut settings = Settings::load(None).expect("defaults load");
    settings.auth.issuers = vec![issuer];
    settings.auth.jwks_min_refresh_seconds = min_refresh_seconds;
    Authenticator::from_settings(&settings.auth)
}

fn claims(groups: serde_json::Value) -> serde_json::Value {
    let now = jsonwebtoken::get_current_timestamp();
    json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "0f9c", "email": "ana@acme.test",
        "org": "acme", "groups": groups, "iat": now, "exp": now + 300,
    })
}

#[tokio::test]
async fn rs256_es256_and_eddsa_tokens_map_to_tenant_user_and_highest_role() {
    let provider = Provider::default();
    let (rsa, ec, ed) = (rsa(), ec(), ed());
    provider.publish(&[&rsa, &ec, &ed]);
    let auth = authenticator(issuer(provider.serve().await), 30);

    for key in [&rsa, &ec, &ed] {
        let token = key.sign(claims(json!(["staff", "desk-agents", "desk-admins"])));
        let caller = auth
            .verify(&token)
            .await
            .unwrap_or_else(|e| panic!("{:?}: {e}", key.alg));
        assert_eq!(caller.tenant.as_str(), "acme");
        assert_eq!(caller.user, "ana@acme.test");
        assert_eq!(caller.role, Role::Admin, "the highest mapped role wins");
    }
    // One key set fetch served all three, and later calls hit the cache.
    assert_eq!(provider.fetches(), 1);
    let single = rsa.sign(claims(json!("desk-agents")));
    assert_eq!(auth.verify(&single).await.unwrap().role, Role::Agent);
    assert_eq!(provider.fetches(), 1);
}

#[tokio::test]
async fn wrong_audience_issuer_role_or_algorithm_is_refused() {
    let provider = Provider::default();
    let rsa = rsa();
    provider.publish(&[&rsa]);
    let auth = authenticator(issuer(provider.serve().await), 30);

    let mut wrong_aud = claims(json!(["desk-agents"]));
    wrong_aud["aud"] = "another-app".into();
    assert!(matches!(
        auth.verify(&rsa.sign(wrong_aud)).await,
        Err(AuthError::Invalid(_))
    ));

    let mut unknown_iss = claims(json!(["desk-agents"]));
    unknown_iss["iss"] = "https://evil.test".into();
    let err = auth.verify(&rsa.sign(unknown_iss)).await.unwrap_err();
    assert!(err.to_string().contains("not configured"), "{err}");

    let no_role = claims(json!(["staff"]));
    let err = auth.verify(&rsa.sign(no_role)).await.unwrap_err();
    assert!(err.to_string().contains("no role"), "{err}");

    let mut bad_tenant = claims(json!(["desk-agents"]));
    bad_tenant["org"] = "Not A Tenant".into();
    assert!(auth.verify(&rsa.sign(bad_tenant)).await.is_err());

    // The provider's public key used as an HMAC secret must not verify.
    let hmac = EncodingKey::from_secret(rsa.jwk()["n"].as_str().unwrap().as_bytes());
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("rsa-1".into());
    let confused = jsonwebtoken::encode(&header, &claims(json!(["desk-admins"])), &hmac).unwrap();
    let err = auth.verify(&confused).await.unwrap_err();
    assert!(err.to_string().contains("not accepted"), "{err}");

    let mut expired = claims(json!(["desk-agents"]));
    expired["exp"] = (jsonwebtoken::get_current_timestamp() - 600).into();
    expired["iat"] = (jsonwebtoken::get_current_timestamp() - 900).into();
    assert!(auth.verify(&rsa.sign(expired)).await.is_err());
}

/// A provider serving one key, an authenticator with `min_refresh_seconds`
/// that has verified a token of it (one fetch), and the provider's next key.
async fn before_rotation(min_refresh_seconds: u64) -> (Provider, Authenticator, Key, Key) {
    let provider = Provider::default();
    let (old, new) = (rsa(), rsa_next());
    provider.publish(&[&old]);
    let auth = authenticator(issuer(provider.serve().await), min_refresh_seconds);
    auth.verify(&old.sign(claims(json!("desk-agents"))))
        .await
        .unwrap();
    assert_eq!(provider.fetches(), 1);
    (provider, auth, old, new)
}

#[tokio::test]
async fn a_rotated_key_is_fetched_once_and_unknown_kids_cannot_force_fetches() {
    let (provider, auth, old, new) = before_rotation(3600).await;

    // The provider rotates within the hour-long refresh limit: a token with
    // the new key is refused without a fetch until the set is fetched again.
    provider.publish(&[&old, &new]);
    let rotated = new.sign(claims(json!("desk-agents")));
    let refused = auth.verify(&rotated).await;
    assert!(
        refused.is_err(),
        "a miss inside the refresh limit must not fetch"
    );
    assert_eq!(provider.fetches(), 1);

    // A scheduled refresh (what `App` runs every jwks_refresh_seconds) picks
    // the new key up; then it verifies without another fetch.
    auth.issuers()[0].refresh().await.unwrap();
    assert_eq!(provider.fetches(), 2);
    assert!(auth.verify(&rotated).await.is_ok());

    // A flood of made-up kids costs no fetch at all.
    for i in 0..50 {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(format!("made-up-{i}"));
        let forged =
            jsonwebtoken::encode(&header, &claims(json!("desk-agents")), &new.encoding).unwrap();
        let err = auth.verify(&forged).await.unwrap_err();
        assert!(
            err.to_string().contains("not in the issuer's key set"),
            "{err}"
        );
    }
    assert_eq!(provider.fetches(), 2);
}

#[tokio::test]
async fn an_unknown_kid_refetches_after_the_refresh_limit_and_misses_coalesce() {
    // No refresh limit: every miss may fetch (the setting's floor is 1 s).
    let (provider, auth, old, new) = before_rotation(0).await;
    provider.publish(&[&old, &new]);

    // Twenty callers with the new key at once: one fetch serves them all.
    let rotated = new.sign(claims(json!("desk-agents")));
    let calls = (0..20).map(|_| {
        let (auth, token) = (auth.clone(), rotated.clone());
        tokio::spawn(async move { auth.verify(&token).await })
    });
    for call in futures::future::join_all(calls).await {
        assert!(call.unwrap().is_ok());
    }
    assert_eq!(provider.fetches(), 2);
}

#[tokio::test]
async fn a_provider_out_of_reach_is_unavailable_not_unauthenticated() {
    let auth = authenticator(issuer("http://127.0.0.1:9/certs".into()), 30);
    let err = auth
        .verify(&rsa().sign(claims(json!("desk-agents"))))
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::Unavailable(_)), "{err:?}");
    assert_eq!(tonic::Status::from(err).code(), tonic::Code::Unavailable);
}
