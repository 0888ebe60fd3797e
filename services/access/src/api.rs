//! `AccessService`: tenant admins manage API tokens and read the audit trail.

use chrono::{DateTime, TimeDelta, Utc};
use prost_types::Timestamp;
use switchboard_proto::access::v1::{self as pb, access_service_server::AccessService};
use switchboard_runtime::{
    Caller, DomainError, ErrorKind, Role, Violations,
    auth::{AuditTarget, Scopes, Via},
    caller, db_error_kind, to_status,
};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::{
    store::{AuditFilter, AuditRow, NewToken, Store, StoreError, TokenRecord},
    token,
};

/// Longest token name, in characters.
const MAX_NAME_CHARS: usize = 100;
/// Most scopes one token names.
const MAX_SCOPES: usize = 20;
/// Latest expiry accepted, from now.
const MAX_EXPIRY: TimeDelta = TimeDelta::days(2 * 366);
/// Longest grace of a rotated secret, in seconds.
const MAX_GRACE_SECONDS: u32 = 86_400;
/// Largest audit page.
const MAX_PAGE: i32 = 500;
/// Audit page tokens: a version tag, then the last id seen.
const PAGE_PREFIX: &str = "a1.";

/// The gRPC handlers.
#[derive(Debug, Clone)]
pub struct AccessApi {
    store: Store,
}

impl AccessApi {
    /// Handlers over `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
enum ApiError {
    #[error(transparent)]
    Invalid(#[from] Violations),
    #[error("{0}")]
    Denied(&'static str),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("cannot make a secret: {0}")]
    Random(getrandom::Error),
}

impl DomainError for ApiError {
    fn kind(&self) -> ErrorKind {
        match self {
            ApiError::Invalid(_) => ErrorKind::InvalidArgument,
            ApiError::Denied(_) => ErrorKind::PermissionDenied,
            ApiError::Store(StoreError::Db(e)) => db_error_kind(e),
            ApiError::Store(StoreError::NameTaken) => ErrorKind::AlreadyExists,
            ApiError::Store(StoreError::TooMany) => ErrorKind::ResourceExhausted,
            ApiError::Store(StoreError::NotFound) => ErrorKind::NotFound,
            ApiError::Store(StoreError::Revoked) => ErrorKind::FailedPrecondition,
            ApiError::Random(_) => ErrorKind::Internal,
        }
    }

    fn violations(&self) -> &[switchboard_runtime::FieldViolation] {
        match self {
            ApiError::Invalid(v) => &v.0,
            _ => &[],
        }
    }
}

impl From<ApiError> for Status {
    fn from(e: ApiError) -> Self {
        to_status(&e)
    }
}

/// Token management is for admins signed in as people: a leaked token must
/// not be able to mint itself successors.
fn person_admin<T>(request: &Request<T>) -> Result<Caller, Status> {
    let c = caller(request)?;
    if c.role != Role::Admin || c.via != Via::Person {
        return Err(ApiError::Denied(
            "API tokens are managed by tenant admins signed in as people",
        )
        .into());
    }
    Ok(c.clone())
}

fn token_id(name: &str, field: &str) -> Result<Uuid, Status> {
    name.strip_prefix("api-tokens/")
        .and_then(|id| Uuid::try_parse(id).ok())
        .ok_or_else(|| {
            let mut v = Violations::default();
            v.add(field, "must be `api-tokens/{id}`");
            ApiError::from(v).into()
        })
}

fn timestamp(at: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: at.timestamp(),
        nanos: at.timestamp_subsec_nanos() as i32,
    }
}

fn to_proto(r: &TokenRecord) -> pb::ApiToken {
    pb::ApiToken {
        name: format!("api-tokens/{}", r.id),
        display_name: r.display_name.clone(),
        scopes: r.scopes.clone(),
        expire_time: r.expires_at.map(timestamp),
        created_by: r.created_by.clone(),
        create_time: Some(timestamp(r.created_at)),
        last_use_time: r.last_used_at.map(timestamp),
        revoke_time: r.revoked_at.map(timestamp),
        secret_prefix: r.secret_prefix.clone(),
    }
}

fn audit_to_proto(r: AuditRow) -> pb::AuditEvent {
    pb::AuditEvent {
        name: format!("audit-events/{}", r.id),
        occur_time: Some(timestamp(r.occurred_at)),
        actor: r.actor,
        actor_kind: r.actor_kind,
        actor_role: r.actor_role,
        method: r.method,
        target: r.target,
        outcome: r.outcome,
        request_json: r.request.map(|j| j.to_string()).unwrap_or_default(),
        result_json: r.result.map(|j| j.to_string()).unwrap_or_default(),
    }
}

/// `response` naming `target` for the audit trail.
fn audited<T>(message: T, target: String) -> Response<T> {
    let mut response = Response::new(message);
    response.extensions_mut().insert(AuditTarget(target));
    response
}

/// Longest actor filter, in bytes.
const MAX_ACTOR_BYTES: usize = 256;
/// Longest method filter, in bytes.
const MAX_METHOD_BYTES: usize = 200;

/// A `ListAuditEvents` request, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditQuery {
    /// Events per page.
    pub page_size: i32,
    /// Only events older than this one (the page token).
    pub before: Option<Uuid>,
    /// Which events.
    pub filter: AuditFilter,
}

/// The checked fields of a `ListAuditEvents` request.
pub fn check_audit_query(r: &pb::ListAuditEventsRequest) -> Result<AuditQuery, Violations> {
    let mut v = Violations::default();
    let page_size = match r.page_size {
        0 => 50,
        n @ 1..=MAX_PAGE => n,
        _ => {
            v.add("page_size", format!("0 to {MAX_PAGE}"));
            0
        }
    };
    let before = match r.page_token.as_str() {
        "" => None,
        t => match t
            .strip_prefix(PAGE_PREFIX)
            .and_then(|id| Uuid::try_parse(id).ok())
        {
            Some(id) => Some(id),
            None => {
                v.add("page_token", "not a token from a previous response");
                None
            }
        },
    };
    if r.actor.len() > MAX_ACTOR_BYTES {
        v.add("actor", format!("at most {MAX_ACTOR_BYTES} bytes"));
    }
    if r.method.len() > MAX_METHOD_BYTES || !(r.method.is_empty() || r.method.starts_with('/')) {
        v.add(
            "method",
            format!("a method path starting with `/`, at most {MAX_METHOD_BYTES} bytes"),
        );
    }
    let mut time = |field: &str, t: &Option<Timestamp>| match t {
        None => None,
        Some(t) => {
            let at =
                DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(u32::MAX));
            if at.is_none() {
                v.add(field, "a valid timestamp");
            }
            at
        }
    };
    let start = time("start_time", &r.start_time);
    let end = time("end_time", &r.end_time);
    if let (Some(s), Some(e)) = (start, end)
        && e <= s
    {
        v.add("end_time", "after start_time");
    }
    let nonempty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    v.into_result(AuditQuery {
        page_size,
        before,
        filter: AuditFilter {
            actor: nonempty(&r.actor),
            method: nonempty(&r.method),
            start,
            end,
        },
    })
}

/// A create request's fields, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The trimmed name.
    pub display_name: String,
    /// The scopes in their broadest form.
    pub scopes: Vec<String>,
    /// The expiry, if any.
    pub expires_at: Option<DateTime<Utc>>,
}

/// The checked fields of a create request.
pub fn check_create(
    r: &pb::CreateApiTokenRequest,
    now: DateTime<Utc>,
) -> Result<Checked, Violations> {
    let mut v = Violations::default();
    let name = r.display_name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        v.add(
            "display_name",
            format!("1 to {MAX_NAME_CHARS} characters without control characters"),
        );
    }
    if r.scopes.is_empty() || r.scopes.len() > MAX_SCOPES {
        v.add("scopes", format!("1 to {MAX_SCOPES} scopes"));
    }
    let mut scopes = Scopes::NONE;
    for (i, scope) in r.scopes.iter().enumerate().take(MAX_SCOPES) {
        match Scopes::parse([scope.as_str()]) {
            Ok(s) => scopes = scopes.union(s),
            Err(e) => v.add(format!("scopes[{i}]"), e),
        }
    }
    let expires = match &r.expire_time {
        None => None,
        Some(t) => match DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32) {
            Some(at) if at > now && at <= now + MAX_EXPIRY => Some(at),
            _ => {
                v.add("expire_time", "in the future and at most 2 years ahead");
                None
            }
        },
    };
    v.into_result(Checked {
        display_name: name.to_owned(),
        scopes: scopes.names(),
        expires_at: expires,
    })
}

#[tonic::async_trait]
impl AccessService for AccessApi {
    async fn create_api_token(
        &self,
        request: Request<pb::CreateApiTokenRequest>,
    ) -> Result<Response<pb::CreateApiTokenResponse>, Status> {
        let admin = person_admin(&request)?;
        let Checked {
            display_name,
            scopes,
            expires_at,
        } = check_create(request.get_ref(), Utc::now()).map_err(ApiError::from)?;
        let id = Uuid::now_v7();
        let minted = token::mint(id).map_err(ApiError::Random)?;
        let new = NewToken {
            id,
            display_name,
            scopes,
            secret_hash: minted.hash,
            secret_prefix: minted.shown_prefix,
            expires_at,
            created_by: admin.user.clone(),
        };
        let record = self
            .store
            .create(admin.tenant.as_str(), &new)
            .await
            .map_err(ApiError::from)?;
        tracing::info!(token = %id, "API token created");
        Ok(audited(
            pb::CreateApiTokenResponse {
                token: Some(to_proto(&record)),
                secret: minted.token,
            },
            format!("api-tokens/{id}"),
        ))
    }

    async fn list_api_tokens(
        &self,
        request: Request<pb::ListApiTokensRequest>,
    ) -> Result<Response<pb::ListApiTokensResponse>, Status> {
        let admin = person_admin(&request)?;
        let tokens = self
            .store
            .list(admin.tenant.as_str(), request.get_ref().show_inactive)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(pb::ListApiTokensResponse {
            tokens: tokens.iter().map(to_proto).collect(),
        }))
    }

    async fn rotate_api_token(
        &self,
        request: Request<pb::RotateApiTokenRequest>,
    ) -> Result<Response<pb::CreateApiTokenResponse>, Status> {
        let admin = person_admin(&request)?;
        let r = request.get_ref();
        let id = token_id(&r.name, "name")?;
        if r.grace_seconds > MAX_GRACE_SECONDS {
            let mut v = Violations::default();
            v.add("grace_seconds", format!("0 to {MAX_GRACE_SECONDS}"));
            return Err(ApiError::from(v).into());
        }
        let minted = token::mint(id).map_err(ApiError::Random)?;
        let record = self
            .store
            .rotate(
                admin.tenant.as_str(),
                id,
                &minted.hash,
                &minted.shown_prefix,
                r.grace_seconds,
            )
            .await
            .map_err(ApiError::from)?;
        Ok(audited(
            pb::CreateApiTokenResponse {
                token: Some(to_proto(&record)),
                secret: minted.token,
            },
            r.name.clone(),
        ))
    }

    async fn revoke_api_token(
        &self,
        request: Request<pb::RevokeApiTokenRequest>,
    ) -> Result<Response<pb::ApiToken>, Status> {
        let admin = person_admin(&request)?;
        let name = request.get_ref().name.clone();
        let id = token_id(&name, "name")?;
        let record = self
            .store
            .revoke(admin.tenant.as_str(), id)
            .await
            .map_err(ApiError::from)?;
        tracing::info!(token = %id, "API token revoked");
        Ok(audited(to_proto(&record), name))
    }

    async fn list_audit_events(
        &self,
        request: Request<pb::ListAuditEventsRequest>,
    ) -> Result<Response<pb::ListAuditEventsResponse>, Status> {
        let c = caller(&request)?.clone();
        // Admins, and integrations given `admin` (a SIEM export).
        if c.role != Role::Admin {
            return Err(ApiError::Denied("the audit trail is for tenant admins").into());
        }
        let query = check_audit_query(request.get_ref()).map_err(ApiError::from)?;
        let size = query.page_size;
        let mut rows = self
            .store
            .list_audit(
                c.tenant.as_str(),
                &query.filter,
                query.before,
                i64::from(size) + 1,
            )
            .await
            .map_err(ApiError::from)?;
        let more = rows.len() > size as usize;
        rows.truncate(size as usize);
        let next_page_token = match rows.last() {
            Some(last) if more => format!("{PAGE_PREFIX}{}", last.id.simple()),
            _ => String::new(),
        };
        Ok(Response::new(pb::ListAuditEventsResponse {
            events: rows.into_iter().map(audit_to_proto).collect(),
            next_page_token,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(name: &str, scopes: &[&str]) -> pb::CreateApiTokenRequest {
        pb::CreateApiTokenRequest {
            display_name: name.into(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            expire_time: None,
        }
    }

    #[test]
    fn audit_queries_are_checked_field_by_field() {
        let ok = check_audit_query(&pb::ListAuditEventsRequest {
            method: "/switchboard.routing.v1.RoutingService/".into(),
            actor: "ada".into(),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(ok.page_size, 50);
        assert_eq!(ok.filter.actor.as_deref(), Some("ada"));
        let bad = check_audit_query(&pb::ListAuditEventsRequest {
            page_size: 501,
            page_token: "x".into(),
            method: "RoutingService".into(),
            actor: "a".repeat(257),
            start_time: Some(Timestamp {
                seconds: 100,
                nanos: 0,
            }),
            end_time: Some(Timestamp {
                seconds: 50,
                nanos: 0,
            }),
        })
        .unwrap_err();
        for field in ["page_size", "page_token", "method", "actor", "end_time"] {
            assert!(bad.has(field), "{field}");
        }
    }

    #[test]
    fn create_requests_are_checked_field_by_field() {
        let now = Utc::now();
        let ok = check_create(&request(" CRM ", &["ticket:read", "ticket:write"]), now).unwrap();
        assert_eq!(ok.display_name, "CRM");
        assert_eq!(ok.scopes, ["ticket:write"], "stored in their broadest form");

        let bad = check_create(&request("", &["tickets:read", "admin"]), now).unwrap_err();
        assert!(bad.has("display_name"));
        assert!(bad.has("scopes[0]"));
        assert!(!bad.has("scopes[1]"));
        assert!(
            check_create(&request("x", &[]), now)
                .unwrap_err()
                .has("scopes")
        );

        let mut late = request("x", &["admin"]);
        late.expire_time = Some(timestamp(now + TimeDelta::days(800)));
        assert!(check_create(&late, now).unwrap_err().has("expire_time"));
        late.expire_time = Some(timestamp(now - TimeDelta::seconds(1)));
        assert!(check_create(&late, now).unwrap_err().has("expire_time"));
        late.expire_time = Some(timestamp(now + TimeDelta::days(30)));
        assert!(check_create(&late, now).is_ok());
    }
}
