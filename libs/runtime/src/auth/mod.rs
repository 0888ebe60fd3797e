//! Bearer authentication: turns `authorization: Bearer …` into a [`Caller`].
//!
//! Three kinds of credential reach the same [`Authenticator`]:
//! - tokens signed with the installation's HS256 key (`switchboard token`,
//!   local use, tests, and services' own narrow credentials),
//! - tokens from an identity provider (OIDC), verified against its JWKS,
//! - API tokens of integrations (`sbt_…`), looked up in [`ApiTokens`].
//!
//! The [`layer`] checks every call before its handler runs: who is calling
//! and, for integrations and services, whether their scopes cover the method.

pub mod layer;
mod local;
pub mod oidc;
pub mod scope;

use std::{fmt, str::FromStr, sync::Arc, time::Duration};

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use switchboard_proto::common::v1 as pb;
use tonic::{Request, Status};

pub use layer::AuthLayer;
pub use oidc::Issuer;
pub use scope::{Access, Area, Scopes};

use crate::{config::AuthSettings, limits::Limiter};

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

/// How a caller proved who they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// A person's token (local key or identity provider): every scope, limited
    /// by role in the handlers.
    Person,
    /// An integration's API token, named by its admin.
    Integration {
        /// The token's id (`api-tokens/<id>`).
        token: String,
        /// The token's name, shown as the actor in events and the audit trail.
        name: String,
        /// What the token may call.
        scopes: Scopes,
    },
    /// Another Switchboard service, with a narrow credential.
    Service {
        /// The calling service (`routing`, …).
        name: String,
        /// What the credential may call.
        scopes: Scopes,
        /// When not empty, the only methods (full gRPC paths) it may call,
        /// however broad its scopes.
        methods: Vec<String>,
    },
}

/// The authenticated party behind a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Tenant every read and write is scoped to.
    pub tenant: TenantId,
    /// User id (for a customer: their email address or customer id; for an
    /// integration: `api-tokens/<id>`; for a service: `service:<name>`).
    pub user: String,
    /// Role the caller acts in.
    pub role: Role,
    /// The credential's kind and scopes.
    pub via: Via,
}

impl Caller {
    /// A person acting as `role` in `tenant`.
    pub fn person(tenant: TenantId, user: impl Into<String>, role: Role) -> Self {
        Self {
            tenant,
            user: user.into(),
            role,
            via: Via::Person,
        }
    }

    /// What the caller's credential may call.
    pub fn scopes(&self) -> Scopes {
        match &self.via {
            Via::Person => Scopes::ALL,
            Via::Integration { scopes, .. } | Via::Service { scopes, .. } => *scopes,
        }
    }

    /// `person`, `integration` or `service`: the audit trail's actor kind.
    pub fn kind(&self) -> &'static str {
        match self.via {
            Via::Person => "person",
            Via::Integration { .. } => "integration",
            Via::Service { .. } => "service",
        }
    }

    /// The caller as an event actor.
    pub fn to_actor(&self) -> pb::Actor {
        let (kind, id) = match &self.via {
            Via::Person if self.role == Role::Customer => (pb::ActorKind::Customer, &self.user),
            Via::Person => (pb::ActorKind::Agent, &self.user),
            Via::Integration { name, .. } => (pb::ActorKind::Integration, name),
            Via::Service { name, .. } => (pb::ActorKind::System, name),
        };
        pb::Actor {
            kind: kind as i32,
            id: id.clone(),
            role: self.role.to_proto() as i32,
        }
    }
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
    /// The token could not be checked right now (its issuer's keys or the
    /// token directory are out of reach).
    #[error("cannot verify the bearer token right now: {0}")]
    Unavailable(String),
}

impl AuthError {
    /// The metric label of the refusal.
    pub fn reason(&self) -> &'static str {
        match self {
            AuthError::Missing => "missing",
            AuthError::Malformed => "malformed",
            AuthError::Invalid(_) => "invalid",
            AuthError::Unavailable(_) => "unavailable",
        }
    }
}

impl From<AuthError> for Status {
    fn from(err: AuthError) -> Self {
        match err {
            AuthError::Unavailable(_) => Status::unavailable(err.to_string()),
            _ => Status::unauthenticated(err.to_string()),
        }
    }
}

/// The prefix of every API token; nothing else starts with it.
pub const API_TOKEN_PREFIX: &str = "sbt_";

/// Where API tokens are looked up (implemented by `switchboard-access`).
#[async_trait::async_trait]
pub trait ApiTokens: Send + Sync + 'static {
    /// The caller `token` (which starts with [`API_TOKEN_PREFIX`]) stands for.
    async fn verify(&self, token: &str) -> Result<Caller, AuthError>;
}

/// One audited call, as the auth layer saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    /// Whose trail it belongs to.
    pub tenant: TenantId,
    /// A person's user id, an integration's token name, or a service's name.
    pub actor: String,
    /// `person`, `integration` or `service`.
    pub actor_kind: &'static str,
    /// The role the actor held.
    pub actor_role: Role,
    /// The full gRPC method path.
    pub method: String,
    /// The resource acted on, when the handler named one ([`AuditTarget`]).
    pub target: String,
    /// How the call ended.
    pub outcome: tonic::Code,
    /// What was asked, as JSON with secrets redacted.
    pub request: Option<serde_json::Value>,
    /// What came of it when it succeeded (the state after the change), as
    /// JSON with secrets redacted.
    pub result: Option<serde_json::Value>,
}

/// The resource a handler acted on, put in its response's extensions so the
/// audit trail can name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditTarget(pub String);

/// Where audited calls are written (implemented by `switchboard-access`).
pub trait AuditSink: Send + Sync + 'static {
    /// Takes `record` without waiting: the call it describes has ended.
    fn record(&self, record: AuditRecord);
}

/// Methods whose calls change how the desk works (settings, rules, people,
/// integrations) or what it holds of a person (erasure, export, retention):
/// every call to them, allowed or not, is audited. Access's own writes are
/// audited too (see [`audited`]).
pub const AUDITED_METHODS: [&str; 20] = [
    "/switchboard.analytics.v1.AnalyticsService/UpdateBusinessCalendar",
    "/switchboard.routing.v1.RoutingService/CreateAgent",
    "/switchboard.routing.v1.RoutingService/UpdateAgent",
    "/switchboard.routing.v1.RoutingService/DeleteAgent",
    "/switchboard.routing.v1.RoutingService/CreateGroup",
    "/switchboard.routing.v1.RoutingService/UpdateGroup",
    "/switchboard.routing.v1.RoutingService/DeleteGroup",
    "/switchboard.routing.v1.RoutingService/UpdateRoutingRules",
    "/switchboard.notification.v1.NotificationService/CreateWebhook",
    "/switchboard.notification.v1.NotificationService/UpdateWebhook",
    "/switchboard.notification.v1.NotificationService/DeleteWebhook",
    "/switchboard.notification.v1.NotificationService/RedeliverDelivery",
    "/switchboard.notification.v1.NotificationService/UpdateTemplate",
    "/switchboard.notification.v1.NotificationService/UpdateNotificationRules",
    "/switchboard.ticket.v1.TicketService/UpdateSlaPolicy",
    "/switchboard.ticket.v1.TicketService/UpdateIntakeRules",
    "/switchboard.ticket.v1.CustomerService/MergeCustomers",
    "/switchboard.ticket.v1.PrivacyService/EraseCustomer",
    "/switchboard.ticket.v1.PrivacyService/ExportCustomer",
    "/switchboard.ticket.v1.PrivacyService/UpdateRetentionPolicy",
];

/// Whether calls to `path` go to the audit trail.
pub fn audited(path: &str) -> bool {
    AUDITED_METHODS.contains(&path) || scope::required(path) == Some((Area::Access, Access::Write))
}

/// Verifies bearer credentials of every kind.
#[derive(Clone)]
pub struct Authenticator {
    inner: Arc<Inner>,
}

struct Inner {
    local: local::Local,
    issuers: Vec<Issuer>,
    api_tokens: std::sync::OnceLock<Arc<dyn ApiTokens>>,
    audit: std::sync::OnceLock<Arc<dyn AuditSink>>,
    limiter: std::sync::OnceLock<Limiter>,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("issuers", &self.inner.issuers.len())
            .field("api_tokens", &self.inner.api_tokens.get().is_some())
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// Verifies (and issues) HS256 tokens signed with `secret` only.
    pub fn hs256(secret: &SecretString) -> Self {
        Self::from_parts(local::Local::new(secret, DEFAULT_MAX_LIFETIME), Vec::new())
    }

    /// The verifier `settings` describe: the local key and every configured
    /// identity provider.
    pub fn from_settings(settings: &AuthSettings) -> Self {
        let local = local::Local::new(&settings.jwt_secret, settings.max_token_lifetime());
        let issuers = settings
            .issuers
            .iter()
            .map(|s| Issuer::new(s, settings))
            .collect();
        Self::from_parts(local, issuers)
    }

    fn from_parts(local: local::Local, issuers: Vec<Issuer>) -> Self {
        Self {
            inner: Arc::new(Inner {
                local,
                issuers,
                api_tokens: std::sync::OnceLock::new(),
                audit: std::sync::OnceLock::new(),
                limiter: std::sync::OnceLock::new(),
            }),
        }
    }

    /// The same verifier accepting local tokens that live at most `max`.
    pub fn with_max_lifetime(self, max: Duration) -> Self {
        let local = self.inner.local.with_max_lifetime(max);
        Self::from_parts(local, self.inner.issuers.clone())
    }

    /// Looks API tokens up in `tokens` from now on; the first call wins.
    pub fn set_api_tokens(&self, tokens: Arc<dyn ApiTokens>) {
        let _ = self.inner.api_tokens.set(tokens);
    }

    /// Writes audited calls to `sink` from now on; the first call wins.
    pub fn set_audit(&self, sink: Arc<dyn AuditSink>) {
        let _ = self.inner.audit.set(sink);
    }

    /// Limits calls with `limiter` from now on; the first call wins.
    pub fn set_limiter(&self, limiter: Limiter) {
        let _ = self.inner.limiter.set(limiter);
    }

    /// The rate limits calls pass through (none until [`Self::set_limiter`]).
    pub fn limiter(&self) -> &Limiter {
        static NONE: Limiter = Limiter::disabled();
        self.inner.limiter.get().unwrap_or(&NONE)
    }

    /// Hands `record` to the audit sink, if there is one.
    pub fn audit(&self, record: AuditRecord) {
        if let Some(sink) = self.inner.audit.get() {
            sink.record(record);
        }
    }

    /// The configured identity providers.
    pub fn issuers(&self) -> &[Issuer] {
        &self.inner.issuers
    }

    /// Signs a token for `caller`, valid for `ttl`, with the local key.
    pub fn issue(&self, caller: &Caller, ttl: Duration) -> String {
        self.inner.local.issue(caller, ttl)
    }

    /// The caller a bearer `token` of any kind stands for.
    pub async fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        if token.starts_with(API_TOKEN_PREFIX) {
            let tokens = self.inner.api_tokens.get().ok_or_else(|| {
                AuthError::Invalid("API tokens are not accepted by this server".into())
            })?;
            return tokens.verify(token).await;
        }
        match oidc::unverified_issuer(token) {
            Some(iss) => match self.inner.issuers.iter().find(|i| i.issuer() == iss) {
                Some(issuer) => issuer.verify(token).await,
                // Our own tokens carry no `iss`: a foreign one is named.
                None => Err(AuthError::Invalid(format!(
                    "issuer `{}` is not configured (auth.issuers)",
                    iss.chars().take(120).collect::<String>()
                ))),
            },
            None => self.inner.local.verify(token),
        }
    }

    /// The caller of a call whose `authorization` value is `value`.
    pub async fn verify_header(&self, value: Option<&str>) -> Result<Caller, AuthError> {
        self.verify(bearer(value)?).await
    }
}

/// The token in an `authorization: Bearer <token>` value.
pub fn bearer(value: Option<&str>) -> Result<&str, AuthError> {
    let value = value.ok_or(AuthError::Missing)?;
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .ok_or(AuthError::Malformed)
}

/// Refuses `iat` in the future, a lifetime above `max`, and a bad user id;
/// `jsonwebtoken` checks `exp` and `nbf` but not these.
fn check_claims(iat: u64, exp: u64, user: &str, max: Duration) -> Result<(), AuthError> {
    let now = jsonwebtoken::get_current_timestamp();
    if iat > now + LEEWAY_SECONDS {
        return Err(AuthError::Invalid("`iat` is in the future".into()));
    }
    if exp.saturating_sub(iat) > max.as_secs() {
        return Err(AuthError::Invalid(format!(
            "token lifetime exceeds the maximum of {} s",
            max.as_secs()
        )));
    }
    if user.is_empty() || user.len() > MAX_USER_LEN || user.chars().any(char::is_control) {
        return Err(AuthError::Invalid(format!(
            "the user id must be 1-{MAX_USER_LEN} bytes without control characters"
        )));
    }
    Ok(())
}

/// The authenticated caller the auth layer attached to `request`.
pub fn caller<T>(request: &Request<T>) -> Result<&Caller, Status> {
    request
        .extensions()
        .get::<Caller>()
        .ok_or_else(|| Status::unauthenticated("request was not authenticated"))
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn integrations_act_under_their_token_name() {
        let caller = Caller {
            via: Via::Integration {
                token: "api-tokens/1".into(),
                name: "CRM sync".into(),
                scopes: Scopes::NONE.with(Area::Ticket, Access::Read),
            },
            ..Caller::person(
                TenantId::parse("acme").unwrap(),
                "api-tokens/1",
                Role::Agent,
            )
        };
        let actor = caller.to_actor();
        assert_eq!(actor.kind(), pb::ActorKind::Integration);
        assert_eq!(actor.id, "CRM sync");
        assert!(!caller.scopes().allows(Area::Ticket, Access::Write));
    }
}
