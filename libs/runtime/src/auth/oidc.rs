//! Tokens from an identity provider: RS256, ES256 or EdDSA JWTs verified
//! against the issuer's JWKS, with its claims mapped to tenant, user and role.
//!
//! Parsed keys are cached; the hot path is one map lookup and one signature
//! check. An unknown `kid` (the provider rotated its keys) refetches the set,
//! at most once per `auth.jwks_min_refresh_seconds` per issuer, and callers
//! arriving during a fetch wait for it instead of starting their own.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, RwLock},
    time::{Duration, Instant},
};

use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};
use serde_json::{Map, Value};

use super::{AuthError, Caller, LEEWAY_SECONDS, Role, TenantId, check_claims};
use crate::config::{AuthSettings, IssuerSettings};

/// Largest JWKS document accepted from an issuer.
const MAX_JWKS_BYTES: usize = 256 * 1024;
/// How long a JWKS fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// The `iss` claim of `token`, read without verifying anything: it only
/// picks which issuer's keys verify the token.
pub(super) fn unverified_issuer(token: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Iss {
        iss: Option<String>,
    }
    jsonwebtoken::dangerous::insecure_decode_claims::<Iss>(token)
        .ok()
        .and_then(|c| c.iss)
}

/// One configured identity provider.
#[derive(Clone)]
pub struct Issuer {
    inner: Arc<IssuerInner>,
}

struct IssuerInner {
    settings: IssuerSettings,
    /// One validation per accepted algorithm: `jsonwebtoken` wants every
    /// algorithm of a validation to match the key's family.
    validations: Vec<(Algorithm, Validation)>,
    max_lifetime: Duration,
    jwks: Jwks,
    verified: Verified,
}

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer")
            .field("issuer", &self.inner.settings.issuer)
            .finish_non_exhaustive()
    }
}

/// The algorithm names `auth.issuers[].algorithms` accepts.
pub fn parse_algorithm(name: &str) -> Option<Algorithm> {
    match name {
        "RS256" => Some(Algorithm::RS256),
        "RS384" => Some(Algorithm::RS384),
        "RS512" => Some(Algorithm::RS512),
        "PS256" => Some(Algorithm::PS256),
        "ES256" => Some(Algorithm::ES256),
        "ES384" => Some(Algorithm::ES384),
        "EdDSA" => Some(Algorithm::EdDSA),
        _ => None,
    }
}

impl Issuer {
    /// The issuer `settings` describe (validated by the configuration:
    /// names outside [`parse_algorithm`] are ignored here).
    pub fn new(settings: &IssuerSettings, auth: &AuthSettings) -> Self {
        let validations = settings
            .algorithms
            .iter()
            .filter_map(|a| parse_algorithm(a))
            .map(|alg| {
                let mut validation = Validation::new(alg);
                validation.set_issuer(&[&settings.issuer]);
                validation.set_audience(&[&settings.audience]);
                validation.set_required_spec_claims(&["exp", "iss", "aud"]);
                validation.validate_nbf = true;
                validation.leeway = LEEWAY_SECONDS;
                (alg, validation)
            })
            .collect();
        Self {
            inner: Arc::new(IssuerInner {
                settings: settings.clone(),
                validations,
                max_lifetime: auth.max_token_lifetime(),
                verified: Verified::default(),
                jwks: Jwks::new(
                    settings.jwks_url.clone(),
                    Duration::from_secs(auth.jwks_min_refresh_seconds),
                ),
            }),
        }
    }

    /// The `iss` this issuer's tokens carry.
    pub fn issuer(&self) -> &str {
        &self.inner.settings.issuer
    }

    /// Fetches the issuer's keys now (at start and periodically), whatever
    /// the refresh limit says.
    pub async fn refresh(&self) -> Result<usize, String> {
        self.inner.jwks.fetch().await
    }

    /// The caller `token` (whose `iss` is this issuer) stands for.
    pub async fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        let now = jsonwebtoken::get_current_timestamp();
        if let Some(caller) = self.inner.verified.get(token, now) {
            return Ok(caller);
        }
        let (caller, exp) = self.verify_signed(token).await?;
        self.inner.verified.put(token, caller.clone(), exp, now);
        Ok(caller)
    }

    /// [`Issuer::verify`] without the cache: the signature checked, the
    /// claims mapped; with the token's `exp`.
    async fn verify_signed(&self, token: &str) -> Result<(Caller, u64), AuthError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| AuthError::Invalid(e.to_string()))?;
        let Some((_, validation)) = self
            .inner
            .validations
            .iter()
            .find(|(alg, _)| *alg == header.alg)
        else {
            return Err(AuthError::Invalid(format!(
                "algorithm {:?} is not accepted from issuer `{}`",
                header.alg,
                self.issuer()
            )));
        };
        let key = self.inner.jwks.key(header.kid.as_deref()).await?;
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key, validation)
            .map_err(|e| AuthError::Invalid(e.to_string()))?
            .claims;
        let exp = claims.get("exp").and_then(Value::as_u64).unwrap_or(0);
        Ok((self.map_claims(&claims)?, exp))
    }

    /// Tenant, user and role from the provider's claims, as configured.
    fn map_claims(&self, claims: &Map<String, Value>) -> Result<Caller, AuthError> {
        let s = &self.inner.settings;
        let text = |name: &str| claims.get(name).and_then(Value::as_str);
        let user = text(&s.user_claim)
            .ok_or_else(|| AuthError::Invalid(format!("claim `{}` is missing", s.user_claim)))?;
        let number = |name: &str| claims.get(name).and_then(Value::as_u64);
        let exp = number("exp").unwrap_or(0);
        // Providers that omit `iat` are judged by `exp` alone.
        let iat = number("iat").unwrap_or_else(|| exp.min(jsonwebtoken::get_current_timestamp()));
        check_claims(iat, exp, user, self.inner.max_lifetime)?;
        let tenant = match (&s.tenant, &s.tenant_claim) {
            (Some(fixed), _) => fixed.as_str(),
            (None, Some(claim)) => text(claim)
                .ok_or_else(|| AuthError::Invalid(format!("claim `{claim}` is missing")))?,
            (None, None) => return Err(AuthError::Invalid("issuer names no tenant".into())),
        };
        let tenant = TenantId::parse(tenant).map_err(AuthError::Invalid)?;
        let role = self.role(claims)?;
        Ok(Caller::person(tenant, user, role))
    }

    /// The highest role any of the provider's role values maps to, else the
    /// issuer's default role.
    fn role(&self, claims: &Map<String, Value>) -> Result<Role, AuthError> {
        let s = &self.inner.settings;
        let values: Vec<&str> = match s.role_claim.as_deref().and_then(|c| claims.get(c)) {
            Some(Value::String(one)) => vec![one.as_str()],
            Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        values
            .iter()
            .filter_map(|v| s.roles.get(*v).copied())
            .max()
            .or(s.default_role)
            .ok_or_else(|| {
                AuthError::Invalid(format!(
                    "no role: claim `{}` holds none of the mapped values",
                    s.role_claim.as_deref().unwrap_or("")
                ))
            })
    }
}

/// Tokens verified before, until their `exp`: an asymmetric signature costs
/// hundreds of microseconds, and a console sends the same token on every
/// call. A token is immutable, so its verdict holds until it expires.
#[derive(Default)]
struct Verified(Mutex<HashMap<String, (Caller, u64)>>);

/// Tokens remembered at most; past it expired ones go, then all.
const MAX_VERIFIED: usize = 10_000;

impl Verified {
    fn get(&self, token: &str, now: u64) -> Option<Caller> {
        let cache = self.0.lock().ok()?;
        let (caller, exp) = cache.get(token)?;
        (*exp > now).then(|| caller.clone())
    }

    fn put(&self, token: &str, caller: Caller, exp: u64, now: u64) {
        let Ok(mut cache) = self.0.lock() else {
            return;
        };
        if cache.len() >= MAX_VERIFIED {
            cache.retain(|_, (_, exp)| *exp > now);
            if cache.len() >= MAX_VERIFIED {
                cache.clear();
            }
        }
        cache.insert(token.to_owned(), (caller, exp));
    }
}

/// An issuer's signing keys by `kid`, parsed once.
struct Jwks {
    url: String,
    min_refresh: Duration,
    http: reqwest::Client,
    keys: RwLock<Arc<HashMap<String, Arc<DecodingKey>>>>,
    /// When the set was last fetched; held across a fetch so concurrent
    /// misses wait for it instead of fetching too.
    fetched: tokio::sync::Mutex<Option<Instant>>,
}

impl Jwks {
    fn new(url: String, min_refresh: Duration) -> Self {
        Self {
            url,
            min_refresh,
            http: reqwest::Client::builder()
                .timeout(FETCH_TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default(),
            keys: RwLock::new(Arc::new(HashMap::new())),
            fetched: tokio::sync::Mutex::new(None),
        }
    }

    fn cached(&self, kid: Option<&str>) -> Option<Arc<DecodingKey>> {
        let keys = self.keys.read().map(|k| Arc::clone(&k)).ok()?;
        match kid {
            Some(kid) => keys.get(kid).cloned(),
            // A provider with a single key may leave `kid` out.
            None if keys.len() == 1 => keys.values().next().cloned(),
            None => None,
        }
    }

    async fn key(&self, kid: Option<&str>) -> Result<Arc<DecodingKey>, AuthError> {
        if let Some(key) = self.cached(kid) {
            return Ok(key);
        }
        {
            let mut fetched = self.fetched.lock().await;
            // Someone else may have fetched while this caller waited.
            if let Some(key) = self.cached(kid) {
                return Ok(key);
            }
            let recent = fetched.is_some_and(|at| at.elapsed() < self.min_refresh);
            if !recent {
                *fetched = Some(Instant::now());
                if let Err(e) = self.load().await {
                    metrics::counter!("auth_jwks_fetches_total", "outcome" => "failed")
                        .increment(1);
                    tracing::warn!(url = %self.url, error = %e, "JWKS fetch failed");
                    if self.is_empty() {
                        return Err(AuthError::Unavailable(
                            "the identity provider's keys are out of reach".into(),
                        ));
                    }
                }
            }
        }
        self.cached(kid).ok_or_else(|| {
            AuthError::Invalid(format!(
                "signing key {} is not in the issuer's key set",
                kid.map_or("(no kid)".to_owned(), |k| format!(
                    "`{}`",
                    k.chars().take(64).collect::<String>()
                ))
            ))
        })
    }

    fn is_empty(&self) -> bool {
        self.keys.read().map(|k| k.is_empty()).unwrap_or(true)
    }

    async fn fetch(&self) -> Result<usize, String> {
        let mut fetched = self.fetched.lock().await;
        *fetched = Some(Instant::now());
        self.load().await
    }

    /// Fetches and parses the key set, replacing the cache on success.
    async fn load(&self) -> Result<usize, String> {
        let mut response = self
            .http
            .get(&self.url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| e.to_string())?;
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(format!("key set larger than {MAX_JWKS_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        let set: JwkSet = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
        let keys = parse_keys(&set);
        if keys.is_empty() {
            return Err("the key set holds no usable signing key".into());
        }
        let count = keys.len();
        if let Ok(mut slot) = self.keys.write() {
            *slot = Arc::new(keys);
        }
        metrics::counter!("auth_jwks_fetches_total", "outcome" => "ok").increment(1);
        Ok(count)
    }
}

/// The signing keys of `set` by `kid` (keys for encryption or of unknown
/// types are skipped; a key without `kid` is kept under "").
fn parse_keys(set: &JwkSet) -> HashMap<String, Arc<DecodingKey>> {
    set.keys
        .iter()
        .filter(|jwk| {
            !matches!(
                jwk.common.public_key_use,
                Some(jsonwebtoken::jwk::PublicKeyUse::Encryption)
            )
        })
        .filter_map(|jwk| {
            let key = DecodingKey::from_jwk(jwk).ok()?;
            Some((jwk.common.key_id.clone().unwrap_or_default(), Arc::new(key)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Role, TenantId};

    fn ann() -> Caller {
        Caller::person(TenantId::parse("acme").unwrap(), "ann", Role::Agent)
    }

    #[test]
    fn verified_tokens_are_remembered_until_they_expire() {
        let cache = Verified::default();
        cache.put("t1", ann(), 1_000, 500);
        assert_eq!(cache.get("t1", 999), Some(ann()));
        assert_eq!(cache.get("t1", 1_000), None, "expired at exp");
        assert_eq!(cache.get("t2", 500), None);
    }

    #[test]
    fn the_cache_stays_bounded() {
        let cache = Verified::default();
        for i in 0..MAX_VERIFIED {
            cache.put(&format!("old-{i}"), ann(), 10, 0);
        }
        // Full of tokens that expired by now: they make room.
        cache.put("new", ann(), 1_000, 20);
        let len = cache.0.lock().unwrap().len();
        assert_eq!(len, 1);
        assert_eq!(cache.get("new", 30), Some(ann()));
    }
}
