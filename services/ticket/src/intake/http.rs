//! `POST /v1/inbound/email`: inbound mail as webhook relays post it, the raw
//! RFC 5322 message as the body (`message/rfc822` or
//! `application/octet-stream`).
//!
//! The call goes through the `IngestEmail` handler itself, with the caller
//! the gRPC interceptor would attach, so its authorization, threading and
//! de-duplication apply unchanged. The answer is JSON
//! `{outcome, ticket_id, ticket_number, message_id, reason}`: 200 when the
//! mail is on a ticket (`created`, `appended`, or a `duplicate` of one that
//! is), 202 when it was deliberately `ignored` (auto-replies, bounces).
//! Errors use the same shape with `outcome: "rejected"`, and the status a
//! webhook sender understands: 400, 401, 403, 413, 415, or 5xx to retry.

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::{DefaultBodyLimit, FromRequest, Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use bytes::Bytes;
use serde::Serialize;
use switchboard_proto::ticket::v1::{
    IngestEmailRequest, IngestOutcome, IntakeResponse, intake_service_server::IntakeService,
};
use switchboard_runtime::Authenticator;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::{Code, Status};

use super::IntakeApi;

/// Where raw inbound mail is posted.
pub const INBOUND_EMAIL_PATH: &str = "/v1/inbound/email";

/// Body types a raw message may come as.
const MEDIA_TYPES: [&str; 2] = ["message/rfc822", "application/octet-stream"];

/// What a post did, or why it was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct InboundReply {
    /// `created`, `appended`, `duplicate`, `ignored`, or `rejected`.
    pub outcome: String,
    /// The ticket's id, when the mail is on one.
    pub ticket_id: Option<String>,
    /// The ticket's number (`T-<n>`), when the mail is on one.
    pub ticket_number: Option<i64>,
    /// The desk's id of the message written, when one was.
    pub message_id: Option<String>,
    /// Why: how the mail was threaded, or what is wrong with the request.
    pub reason: String,
}

/// The gRPC method this route stands in for, whose scope it needs.
const INGEST_EMAIL_PATH: &str = "/switchboard.ticket.v1.IntakeService/IngestEmail";

struct Inbound {
    intake: IntakeApi,
    auth: Authenticator,
}

/// The HTTP routes of intake, over the same handlers as its gRPC API.
pub fn router(intake: IntakeApi, auth: Authenticator) -> Router {
    let limit = intake.limits.max_raw_bytes;
    Router::new()
        .route(INBOUND_EMAIL_PATH, post(inbound_email))
        // The same bound the mail parser puts on a raw message over gRPC.
        .layer(DefaultBodyLimit::max(limit))
        .with_state(Arc::new(Inbound { intake, auth }))
}

/// Serves `router` on `listener` until `shutdown`, then finishes the
/// requests in flight.
pub async fn serve(listener: TcpListener, router: Router, shutdown: CancellationToken) {
    let served = axum::serve(listener, router)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await;
    if let Err(e) = served {
        tracing::error!(error = %e, "inbound HTTP server failed");
    }
}

#[tracing::instrument(skip_all, fields(status))]
async fn inbound_email(State(inbound): State<Arc<Inbound>>, request: Request) -> Response {
    let response = ingest(&inbound, request).await;
    let status = response.status().as_u16();
    tracing::Span::current().record("status", status);
    metrics::counter!("inbound_http_requests_total", "status" => status.to_string()).increment(1);
    response
}

/// Authenticates before reading the body, so an anonymous sender cannot
/// make the service buffer megabytes.
async fn ingest(inbound: &Inbound, request: Request) -> Response {
    // Mail posted here is what IngestEmail would take: the same scope.
    let caller = match inbound
        .auth
        .authorize(request.headers(), INGEST_EMAIL_PATH)
        .await
    {
        Ok(caller) => caller,
        Err(status) => return refusal(&status),
    };
    if let Err(reason) = check_media_type(request.headers()) {
        return rejected(StatusCode::UNSUPPORTED_MEDIA_TYPE, reason);
    }
    let limit = inbound.intake.limits.max_raw_bytes;
    if declared_length(request.headers()).is_some_and(|n| n > limit as u64) {
        return too_large(limit);
    }
    let raw = match Bytes::from_request(request, &()).await {
        Ok(raw) => raw,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return too_large(limit);
        }
        Err(rejection) => return rejected(StatusCode::BAD_REQUEST, rejection.body_text()),
    };
    let mut call = tonic::Request::new(IngestEmailRequest { raw: raw.into() });
    call.extensions_mut().insert(caller);
    match inbound.intake.ingest_email(call).await {
        Ok(reply) => accepted(reply.into_inner()),
        Err(status) => refusal(&status),
    }
}

/// Why the body's declared type is not a raw message, if it is not.
fn check_media_type(headers: &HeaderMap) -> Result<(), String> {
    let media_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if MEDIA_TYPES.contains(&media_type.as_str()) {
        return Ok(());
    }
    Err(format!(
        "the body must be the raw message as {}, not `{media_type}`",
        MEDIA_TYPES.join(" or ")
    ))
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

fn too_large(limit: usize) -> Response {
    rejected(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("the message is larger than {limit} bytes"),
    )
}

fn accepted(reply: IntakeResponse) -> Response {
    let (outcome, status) = match IngestOutcome::try_from(reply.outcome) {
        Ok(IngestOutcome::Created) => ("created", StatusCode::OK),
        Ok(IngestOutcome::Appended) => ("appended", StatusCode::OK),
        Ok(IngestOutcome::Duplicate) => ("duplicate", StatusCode::OK),
        Ok(IngestOutcome::Ignored) => ("ignored", StatusCode::ACCEPTED),
        _ => ("unspecified", StatusCode::OK),
    };
    let ticket = reply.ticket.as_ref();
    let body = InboundReply {
        outcome: outcome.into(),
        ticket_id: ticket
            .and_then(|t| t.name.strip_prefix("tickets/"))
            .map(str::to_owned),
        ticket_number: ticket.map(|t| t.number),
        message_id: reply
            .message
            .as_ref()
            .and_then(|m| m.name.rsplit_once("/messages/"))
            .map(|(_, id)| id.to_owned()),
        reason: reply.reason,
    };
    (status, Json(body)).into_response()
}

/// The HTTP status for a gRPC one, with its message as the reason.
fn refusal(status: &Status) -> Response {
    let code = match status.code() {
        Code::InvalidArgument | Code::OutOfRange => StatusCode::BAD_REQUEST,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted | Code::FailedPrecondition => StatusCode::CONFLICT,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let mut response = rejected(code, status.message().to_owned());
    if code == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

fn rejected(status: StatusCode, reason: String) -> Response {
    let body = InboundReply {
        outcome: "rejected".into(),
        ticket_id: None,
        ticket_number: None,
        message_id: None,
        reason,
    };
    (status, Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_raw_message_media_types_are_accepted() {
        let mut headers = HeaderMap::new();
        assert!(check_media_type(&headers).is_err(), "no Content-Type");
        for ok in ["message/rfc822", "Application/Octet-Stream; charset=binary"] {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(ok));
            assert!(check_media_type(&headers).is_ok(), "{ok}");
        }
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
        let reason = check_media_type(&headers).unwrap_err();
        assert!(reason.contains("not `text/html`"), "{reason}");
    }

    #[test]
    fn grpc_refusals_keep_their_meaning_over_http() {
        let cases = [
            (Status::invalid_argument("raw: bad"), 400),
            (Status::unauthenticated("no token"), 401),
            (Status::permission_denied("staff only"), 403),
            (Status::unavailable("store down"), 503),
            (Status::internal("bug"), 500),
        ];
        for (status, http) in cases {
            assert_eq!(refusal(&status).status().as_u16(), http, "{status:?}");
        }
        let unauthenticated = refusal(&Status::unauthenticated("x"));
        assert_eq!(
            unauthenticated.headers()[header::WWW_AUTHENTICATE],
            "Bearer"
        );
    }
}
