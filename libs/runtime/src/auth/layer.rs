//! The tower layer in front of every authenticated gRPC service: refuses a
//! peer over its failed-authentication limit, verifies the bearer credential
//! (asynchronously: an issuer's keys or an API token may need a lookup),
//! spends the caller's and tenant's rate limits, checks an integration's or
//! service's scopes against the method, and hands the handler the [`Caller`].

use std::{
    convert::Infallible,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use tonic::{Status, body::Body, server::NamedService, transport::server::TcpConnectInfo};
use tower::{Layer, Service};

use bytes::Bytes;
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use switchboard_proto::json::{self, Side};

use super::{AuditRecord, AuditTarget, Authenticator, Caller, Via, scope};

/// Wraps services in [`Authenticated`].
#[derive(Debug, Clone)]
pub struct AuthLayer {
    auth: Authenticator,
}

impl AuthLayer {
    /// A layer verifying with `auth`.
    pub fn new(auth: Authenticator) -> Self {
        Self { auth }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = Authenticated<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Authenticated {
            inner,
            auth: self.auth.clone(),
        }
    }
}

/// A service whose calls all carry a verified [`Caller`].
#[derive(Debug, Clone)]
pub struct Authenticated<S> {
    inner: S,
    auth: Authenticator,
}

impl<S: NamedService> NamedService for Authenticated<S> {
    const NAME: &'static str = S::NAME;
}

impl<S> Service<http::Request<Body>> for Authenticated<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        // The ready service is the one to call; a fresh clone takes its
        // place for the next call (tower's clone-and-swap).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let auth = self.auth.clone();
        Box::pin(async move {
            let path = request.uri().path().to_owned();
            let peer = peer(&request);
            let limiter = auth.limiter();
            // A peer over its failed-authentication limit is refused before
            // its credential costs anything.
            if let Some(Err(refusal)) = peer.map(|ip| limiter.check_peer(ip)) {
                return Ok(Status::from(refusal).into_http());
            }
            let caller = match auth.verified(request.headers()).await {
                Ok(caller) => caller,
                Err(status) => {
                    // Only the caller's own fault counts: not a provider or
                    // directory out of reach.
                    if status.code() == tonic::Code::Unauthenticated
                        && let Some(ip) = peer
                        && let Err(refusal) = limiter.failed_auth(ip).await
                    {
                        return Ok(Status::from(refusal).into_http());
                    }
                    return Ok(status.into_http());
                }
            };
            let admitted = match limiter.admit(&caller).await {
                Ok(()) => permitted(&caller, &path),
                Err(refusal) => Err(Status::from(refusal)),
            };
            if !super::audited(&path) {
                return match admitted {
                    Ok(()) => {
                        request.extensions_mut().insert(caller);
                        inner.call(request).await
                    }
                    Err(status) => Ok(status.into_http()),
                };
            }
            // Audited calls are unary and small: their bodies are read whole
            // so the trail shows what was asked and what came of it.
            let (parts, body) = request.into_parts();
            let Ok((asked, _)) = buffered(body).await else {
                return Ok(
                    Status::invalid_argument("the request body could not be read").into_http(),
                );
            };
            let mut request = http::Request::from_parts(parts, replay(asked.clone(), None));
            let response = match admitted {
                Ok(()) => {
                    request.extensions_mut().insert(caller.clone());
                    inner.call(request).await?
                }
                Err(status) => status.into_http(),
            };
            let (parts, body) = response.into_parts();
            let Ok((answer, trailers)) = buffered(body).await else {
                return Ok(Status::internal("the response could not be read").into_http());
            };
            let ended = outcome(&parts.headers, trailers.as_ref());
            let mut entry = record(caller, path, ended, &parts.extensions);
            let response = http::Response::from_parts(parts, replay(answer.clone(), trailers));
            entry.request = json::framed_to_json(&entry.method, Side::Request, &asked);
            if entry.outcome == tonic::Code::Ok {
                entry.result = json::framed_to_json(&entry.method, Side::Response, &answer);
            }
            auth.audit(entry);
            Ok(response)
        })
    }
}

/// The address of the peer that sent `request`, when it came over TCP.
fn peer<B>(request: &http::Request<B>) -> Option<std::net::IpAddr> {
    request
        .extensions()
        .get::<TcpConnectInfo>()
        .and_then(TcpConnectInfo::remote_addr)
        .map(|addr| addr.ip())
}

impl Authenticator {
    /// The caller of a call to `path` with `headers`, or the status that
    /// refuses it: UNAUTHENTICATED for a bad credential, RESOURCE_EXHAUSTED
    /// over a caller's or tenant's rate limit, PERMISSION_DENIED when the
    /// credential's scopes do not cover the method.
    pub async fn authorize(&self, headers: &http::HeaderMap, path: &str) -> Result<Caller, Status> {
        let caller = self.verified(headers).await?;
        self.limiter().admit(&caller).await?;
        permitted(&caller, path)?;
        Ok(caller)
    }

    /// The caller `headers` prove, or UNAUTHENTICATED (UNAVAILABLE when the
    /// credential cannot be checked now).
    async fn verified(&self, headers: &http::HeaderMap) -> Result<Caller, Status> {
        let value = match headers.get(http::header::AUTHORIZATION) {
            None => None,
            Some(v) => Some(v.to_str().map_err(|_| {
                refused(super::AuthError::Malformed.reason());
                Status::from(super::AuthError::Malformed)
            })?),
        };
        self.verify_header(value).await.map_err(|e| {
            refused(e.reason());
            Status::from(e)
        })
    }
}

/// Largest body of an audited call that is read whole.
const MAX_AUDITED_BODY: usize = 8 << 20;

/// A body read whole, with its trailers.
async fn buffered(body: Body) -> Result<(Bytes, Option<http::HeaderMap>), ()> {
    let collected = http_body_util::Limited::new(body, MAX_AUDITED_BODY)
        .collect()
        .await
        .map_err(|_| ())?;
    let trailers = collected.trailers().cloned();
    Ok((collected.to_bytes(), trailers))
}

/// A body that yields `data`, then `trailers`; an empty one stays empty, so
/// a trailers-only answer (an error) still ends with its headers.
fn replay(data: Bytes, trailers: Option<http::HeaderMap>) -> Body {
    if data.is_empty() && trailers.is_none() {
        return Body::empty();
    }
    let frames = [Some(Frame::data(data)), trailers.map(Frame::trailers)]
        .into_iter()
        .flatten()
        .map(Ok::<_, Infallible>);
    Body::new(StreamBody::new(futures::stream::iter(frames)))
}

/// How a call ended: errors are trailers-only responses with the status in
/// the headers; otherwise it is in the trailers.
fn outcome(headers: &http::HeaderMap, trailers: Option<&http::HeaderMap>) -> tonic::Code {
    headers
        .get("grpc-status")
        .or_else(|| trailers.and_then(|t| t.get("grpc-status")))
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
        .map_or(tonic::Code::Unknown, tonic::Code::from_i32)
}

/// The audit record of `caller`'s call to `path`.
fn record(
    caller: Caller,
    path: String,
    outcome: tonic::Code,
    extensions: &http::Extensions,
) -> AuditRecord {
    let target = extensions
        .get::<AuditTarget>()
        .map(|t| t.0.clone())
        .unwrap_or_default();
    let actor = caller.to_actor().id;
    AuditRecord {
        actor_kind: caller.kind(),
        actor_role: caller.role,
        tenant: caller.tenant,
        actor,
        method: path,
        target,
        outcome,
        request: None,
        result: None,
    }
}

fn refused(reason: &'static str) {
    metrics::counter!("auth_refusals_total", "reason" => reason).increment(1);
}

/// Whether `caller`'s scopes cover `path`; people are judged by role in the
/// handlers instead.
pub fn permitted(caller: &Caller, path: &str) -> Result<(), Status> {
    if caller.via == Via::Person {
        return Ok(());
    }
    if let Via::Service { methods, .. } = &caller.via
        && !methods.is_empty()
        && !methods.iter().any(|m| m == path)
    {
        refused("scope");
        return Err(Status::permission_denied(format!(
            "this service credential may call only {}, not {path}",
            methods.join(", ")
        )));
    }
    let scopes = caller.scopes();
    let allowed = scope::required(path).is_some_and(|(area, access)| scopes.allows(area, access));
    if allowed {
        return Ok(());
    }
    refused("scope");
    let needed = match scope::required(path) {
        Some((area, scope::Access::Read)) => format!("`{}:read`", area.as_str()),
        Some((area, scope::Access::Write)) => format!("`{}:write`", area.as_str()),
        None => "a scope no credential of this kind holds".to_owned(),
    };
    Err(Status::permission_denied(format!(
        "this credential's scopes ({}) do not include {needed}, which {path} needs",
        scopes.names().join(" ")
    )))
}

#[cfg(test)]
mod tests {
    use super::super::{Access, Area, Role, Scopes, TenantId};
    use super::*;

    fn integration(scopes: Scopes) -> Caller {
        Caller {
            via: Via::Integration {
                token: "api-tokens/1".into(),
                name: "crm".into(),
                scopes,
            },
            ..Caller::person(
                TenantId::parse("acme").unwrap(),
                "api-tokens/1",
                Role::Agent,
            )
        }
    }

    #[test]
    fn scopes_gate_integrations_and_people_pass() {
        let read = integration(Scopes::NONE.with(Area::Ticket, Access::Read));
        let get = "/switchboard.ticket.v1.TicketService/GetTicket";
        let create = "/switchboard.ticket.v1.TicketService/CreateTicket";
        let other = "/switchboard.routing.v1.RoutingService/ListAgents";
        assert!(permitted(&read, get).is_ok());
        let denied = permitted(&read, create).unwrap_err();
        assert_eq!(denied.code(), tonic::Code::PermissionDenied);
        assert!(denied.message().contains("`ticket:write`"), "{denied:?}");
        assert!(permitted(&read, other).is_err());
        let person = Caller::person(TenantId::parse("acme").unwrap(), "u", Role::Agent);
        assert!(permitted(&person, create).is_ok());

        let assign = "/switchboard.ticket.v1.TicketService/AssignTicket";
        let service = Caller {
            via: Via::Service {
                name: "routing".into(),
                scopes: Scopes::NONE.with(Area::Ticket, Access::Write),
                methods: vec![assign.into()],
            },
            ..person
        };
        assert!(permitted(&service, assign).is_ok());
        let denied = permitted(&service, create).unwrap_err();
        assert!(denied.message().contains("may call only"), "{denied:?}");
    }
}
