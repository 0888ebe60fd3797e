//! Bearer JWT authentication: turns `authorization: Bearer …` into a [`Caller`].

use std::{fmt, str::FromStr, sync::Arc, time::Duration};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use switchboard_proto::common::v1 as pb;
use tonic::{Request, Status, service::Interceptor};

/// Longest tenant id; tenants appear as one NATS subject token.
pub const MAX_TENANT_LEN: usize = 63;
/// Longest lifetime (`exp - iat`) of a token unless configured otherwise.
pub const DEFAULT_MAX_LIFETIME: Duration = Duration::from_secs(7 * 86_400);
/// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
const LEEWAY_SECONDS: u64 = 30;
/// Longest user id accepted in a token.
pub const MAX_USER_LEN: usize = 256;

/// What a caller may act as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// An end customer.
    Customer,
    /// A support agent.
    Agent,
    /// A supervising agent.
    Supervisor,
    /// A tenant administrator.
    Admin,
}

impl Role {
    /// Agents, supervisors and admins: the desk's staff.
    pub fn is_staff(self) -> bool {
        self != Role::Customer
    }

    /// The wire enum.
    pub fn to_proto(self) -> pb::Role {
        match self {
            Role::Customer => pb::Role::Customer,
            Role::Agent => pb::Role::Agent,
            Role::Supervisor => pb::Role::Supervisor,
            Role::Admin => pb::Role::Admin,
        }
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "customer" => Ok(Role::Customer),
            "agent" => Ok(Role::Agent),
            "supervisor" => Ok(Role::Supervisor),
            "admin" => Ok(Role::Admin),
            other => Err(format!(
                "unknown role `{other}` (expected customer, agent, supervisor or admin)"
            )),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Customer => "customer",
            Role::Agent => "agent",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
        })
    }
}

/// A tenant id: lowercase letters, digits, `-` and `_`, starting with a
/// letter or digit, at most 63 bytes, so it is safe as a NATS subject token.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(String);

impl TenantId {
    /// Validates `raw` as a tenant id.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let ok_first = raw
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        let ok_rest = raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if raw.len() <= MAX_TENANT_LEN && ok_first && ok_rest {
            Ok(Self(raw.to_owned()))
        } else {
            Err(format!(
                "tenant id `{}` must be 1-{MAX_TENANT_LEN} of a-z, 0-9, `-`, `_`, starting with a letter or digit",
                raw.chars().take(80).collect::<String>()
            ))
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The authenticated party behind a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Tenant every read and write is scoped to.
    pub tenant: TenantId,
    /// User id (for a customer: their email address or customer id).
    pub user: String,
    /// Role the caller acts in.
    pub role: Role,
}

impl Caller {
    /// The caller as an event actor.
    pub fn to_actor(&self) -> pb::Actor {
        let kind = match self.role {
            Role::Customer => pb::ActorKind::Customer,
            _ => pb::ActorKind::Agent,
        };
        pb::Actor {
            kind: kind as i32,
            id: self.user.clone(),
            role: self.role.to_proto() as i32,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    tenant: String,
    role: Role,
    iat: u64,
    exp: u64,
}

/// Why a token was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    /// No `authorization` metadata.
    #[error("missing `authorization: Bearer <token>` metadata")]
    Missing,
    /// Present but not `Bearer <token>`.
    #[error("`authorization` metadata must be `Bearer <token>`")]
    Malformed,
    /// Signature, expiry or claims are wrong.
    #[error("invalid bearer token: {0}")]
    Invalid(String),
}

impl From<AuthError> for Status {
    fn from(err: AuthError) -> Self {
        Status::unauthenticated(err.to_string())
    }
}

/// Signs and verifies HS256 bearer tokens.
#[derive(Clone)]
pub struct Authenticator {
    inner: Arc<Keys>,
}

struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    max_lifetime: Duration,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Authenticator { .. }")
    }
}

impl Authenticator {
    /// An authenticator for the HS256 `secret`.
    pub fn hs256(secret: &SecretString) -> Self {
        let key = secret.expose_secret().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub", "iat"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECONDS;
        Self {
            inner: Arc::new(Keys {
                encoding: EncodingKey::from_secret(key),
                decoding: DecodingKey::from_secret(key),
                validation,
                max_lifetime: DEFAULT_MAX_LIFETIME,
            }),
        }
    }

    /// The same keys, refusing tokens whose `exp - iat` exceeds `max`.
    pub fn with_max_lifetime(self, max: Duration) -> Self {
        let keys = &*self.inner;
        Self {
            inner: Arc::new(Keys {
                encoding: keys.encoding.clone(),
                decoding: keys.decoding.clone(),
                validation: keys.validation.clone(),
                max_lifetime: max,
            }),
        }
    }

    /// Signs a token for `caller`, valid for `ttl`.
    pub fn issue(&self, caller: &Caller, ttl: Duration) -> String {
        let now = jsonwebtoken::get_current_timestamp();
        let claims = Claims {
            sub: caller.user.clone(),
            tenant: caller.tenant.as_str().to_owned(),
            role: caller.role,
            iat: now,
            exp: now + ttl.as_secs(),
        };
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.inner.encoding,
        )
        .expect("HS256 signing with an in-memory key cannot fail")
    }

    /// Verifies a raw token and yields its caller.
    pub fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        let data =
            jsonwebtoken::decode::<Claims>(token, &self.inner.decoding, &self.inner.validation)
                .map_err(|e| AuthError::Invalid(e.to_string()))?;
        let claims = data.claims;
        // jsonwebtoken checks `exp` and `nbf` but not `iat`: a token minted
        // for the future, or for longer than allowed, is refused here.
        let now = jsonwebtoken::get_current_timestamp();
        if claims.iat > now + LEEWAY_SECONDS {
            return Err(AuthError::Invalid("`iat` is in the future".into()));
        }
        if claims.exp.saturating_sub(claims.iat) > self.inner.max_lifetime.as_secs() {
            return Err(AuthError::Invalid(format!(
                "token lifetime exceeds the maximum of {} s",
                self.inner.max_lifetime.as_secs()
            )));
        }
        let tenant = TenantId::parse(&claims.tenant).map_err(AuthError::Invalid)?;
        if claims.sub.is_empty() || claims.sub.len() > MAX_USER_LEN {
            return Err(AuthError::Invalid(format!(
                "`sub` must be 1-{MAX_USER_LEN} bytes"
            )));
        }
        Ok(Caller {
            tenant,
            user: claims.sub,
            role: claims.role,
        })
    }

    /// Verifies an `authorization` header value.
    pub fn verify_header(&self, value: Option<&str>) -> Result<Caller, AuthError> {
        let value = value.ok_or(AuthError::Missing)?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or(AuthError::Malformed)?;
        self.verify(token.trim())
    }
}

impl Interceptor for Authenticator {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let header = match request.metadata().get("authorization") {
            None => None,
            Some(v) => Some(v.to_str().map_err(|_| Status::from(AuthError::Malformed))?),
        };
        let caller = self.verify_header(header)?;
        request.extensions_mut().insert(caller);
        Ok(request)
    }
}

/// The caller the interceptor attached to `request`.
pub fn caller<T>(request: &Request<T>) -> Result<&Caller, Status> {
    request
        .extensions()
        .get::<Caller>()
        .ok_or_else(|| Status::unauthenticated("request was not authenticated"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(secret: &str) -> Authenticator {
        Authenticator::hs256(&SecretString::from(secret.to_owned()))
    }

    fn acme_agent() -> Caller {
        Caller {
            tenant: TenantId::parse("acme").unwrap(),
            user: "u-1".into(),
            role: Role::Agent,
        }
    }

    #[test]
    fn issued_tokens_verify_to_the_same_caller() {
        let a = auth("0123456789abcdef0123456789abcdef");
        let token = a.issue(&acme_agent(), Duration::from_secs(60));
        assert_eq!(
            a.verify_header(Some(&format!("Bearer {token}"))).unwrap(),
            acme_agent()
        );
    }

    #[test]
    fn wrong_key_missing_and_malformed_are_refused() {
        let a = auth("0123456789abcdef0123456789abcdef");
        let b = auth("fedcba9876543210fedcba9876543210");
        let token = b.issue(&acme_agent(), Duration::from_secs(60));
        assert!(matches!(
            a.verify_header(Some(&format!("Bearer {token}"))),
            Err(AuthError::Invalid(_))
        ));
        assert_eq!(a.verify_header(None), Err(AuthError::Missing));
        assert_eq!(
            a.verify_header(Some(&format!("Basic {token}"))),
            Err(AuthError::Malformed)
        );
    }

    #[test]
    fn expired_tokens_are_refused() {
        let a = auth("0123456789abcdef0123456789abcdef");
        let now = jsonwebtoken::get_current_timestamp();
        let claims = Claims {
            sub: "u".into(),
            tenant: "acme".into(),
            role: Role::Admin,
            iat: now - 7200,
            exp: now - 3600,
        };
        let token = jsonwebtoken::encode(&Header::default(), &claims, &a.inner.encoding).unwrap();
        let err = a.verify(&token).unwrap_err().to_string();
        assert!(err.contains("Expired"), "{err}");
    }

    fn signed(a: &Authenticator, claims: serde_json::Value) -> String {
        jsonwebtoken::encode(&Header::default(), &claims, &a.inner.encoding).unwrap()
    }

    fn claims(iat: u64, exp: u64) -> serde_json::Value {
        serde_json::json!({"sub": "u", "tenant": "acme", "role": "admin", "iat": iat, "exp": exp})
    }

    #[test]
    fn tokens_not_yet_valid_are_refused() {
        let a = auth("0123456789abcdef0123456789abcdef");
        let now = jsonwebtoken::get_current_timestamp();
        let mut future_nbf = claims(now, now + 600);
        future_nbf["nbf"] = (now + 300).into();
        assert!(a.verify(&signed(&a, future_nbf)).is_err());
        let future_iat = claims(now + 300, now + 600);
        assert!(a.verify(&signed(&a, future_iat)).is_err());
        // Clock skew within the leeway is tolerated.
        let mut skewed = claims(now + 10, now + 600);
        skewed["nbf"] = (now + 10).into();
        assert!(a.verify(&signed(&a, skewed)).is_ok());
    }

    #[test]
    fn tokens_living_longer_than_the_maximum_are_refused() {
        let a =
            auth("0123456789abcdef0123456789abcdef").with_max_lifetime(Duration::from_secs(3600));
        let now = jsonwebtoken::get_current_timestamp();
        let err = a
            .verify(&signed(&a, claims(now, now + 3601 + 60)))
            .unwrap_err();
        assert!(err.to_string().contains("lifetime"), "{err}");
        assert!(a.verify(&signed(&a, claims(now, now + 3600))).is_ok());
        // Without `iat` the lifetime cannot be known.
        let no_iat =
            serde_json::json!({"sub": "u", "tenant": "acme", "role": "admin", "exp": now + 60});
        assert!(a.verify(&signed(&a, no_iat)).is_err());
    }

    #[test]
    fn tenant_ids_must_be_subject_safe() {
        assert!(TenantId::parse("acme-co_1").is_ok());
        for bad in ["", "Acme", "a.b", "a*", "a>", "-x", &"a".repeat(64)] {
            assert!(TenantId::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn roles_round_trip_through_text() {
        for role in [Role::Customer, Role::Agent, Role::Supervisor, Role::Admin] {
            assert_eq!(role.to_string().parse::<Role>().unwrap(), role);
        }
        assert!("root".parse::<Role>().is_err());
    }
}
