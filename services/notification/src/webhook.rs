//! Webhook bodies (the event in the protobuf JSON mapping) and the HTTP
//! client that POSTs them, signed.

use std::{
    future::Future,
    net::{IpAddr, SocketAddr},
    pin::Pin,
    sync::{Arc, LazyLock},
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Uri, header};
use hyper_rustls::HttpsConnector;
use hyper_util::{
    client::legacy::{
        Client,
        connect::{HttpConnector, dns::Name},
    },
    rt::{TokioExecutor, TokioTimer},
};
use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage};
use serde::Serialize;
use serde_json::Value;
use switchboard_proto::events::v1::Envelope;

use crate::domain::{egress::EgressPolicy, signing};

/// The protobuf type of every webhook's `event`.
pub const ENVELOPE_TYPE: &str = "switchboard.events.v1.Envelope";

/// Header with the delivery id, the same on every retry.
pub const DELIVERY_HEADER: &str = "Switchboard-Delivery";
/// Header with the attempt's Unix time in seconds.
pub const TIMESTAMP_HEADER: &str = "Switchboard-Timestamp";
/// Header with `v1=<hex HMAC-SHA256 of "<timestamp>.<body>">`.
pub const SIGNATURE_HEADER: &str = "Switchboard-Signature";
/// Header with the event type.
pub const EVENT_TYPE_HEADER: &str = "Switchboard-Event-Type";

static POOL: LazyLock<DescriptorPool> = LazyLock::new(|| {
    DescriptorPool::decode(switchboard_proto::FILE_DESCRIPTOR_SET)
        .expect("the compiled descriptor set decodes")
});

/// The JSON body for `event`: `{"id", "type", "protobuf_type",
/// "payload_type", "event"}`, as a value (see [`body_text`]).
pub fn body(event: &Envelope) -> Value {
    serde_json::from_str(&body_text(event)).expect("the body is JSON")
}

/// The JSON body for `event` as it is stored and sent: serialized straight
/// from the reflected message, without building a [`Value`] of it first.
pub fn body_text(event: &Envelope) -> String {
    #[derive(Serialize)]
    struct Body<'a> {
        id: &'a str,
        r#type: &'a str,
        protobuf_type: &'a str,
        payload_type: &'a str,
        event: Option<&'a DynamicMessage>,
    }
    let descriptor = POOL
        .get_message_by_name(ENVELOPE_TYPE)
        .expect("the envelope is in the descriptor set");
    let message = DynamicMessage::decode(descriptor.clone(), event.encode_to_vec().as_slice())
        .expect("an encoded envelope decodes");
    let payload_type = descriptor
        .oneofs()
        .find(|o| o.name() == "payload")
        .and_then(|o| o.fields().find(|f| message.has_field(f)))
        .and_then(|f| f.kind().as_message().map(|m| m.full_name().to_owned()))
        .unwrap_or_default();
    let mut body = Body {
        id: &event.id,
        r#type: &event.r#type,
        protobuf_type: ENVELOPE_TYPE,
        payload_type: &payload_type,
        event: Some(&message),
    };
    serde_json::to_string(&body).unwrap_or_else(|_| {
        // An event the JSON mapping cannot express goes out without it.
        body.event = None;
        serde_json::to_string(&body).expect("strings serialize")
    })
}

/// A webhook POST that did not get a 2xx.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct PostError {
    /// The HTTP status, 0 when none came.
    pub status: u16,
    /// What went wrong.
    pub message: String,
}

/// POSTs signed webhook bodies.
#[async_trait::async_trait]
pub trait WebhookClient: Send + Sync + 'static {
    /// POSTs `body` to `url`; `Ok` with the status on a 2xx.
    async fn post(
        &self,
        url: &str,
        secret: &str,
        delivery_id: &str,
        event_type: &str,
        body: &[u8],
    ) -> Result<u16, PostError>;
}

/// Headers every attempt carries besides the body's.
struct Signed<'a> {
    delivery_id: &'a str,
    event_type: &'a str,
    timestamp: String,
    signature: String,
}

impl<'a> Signed<'a> {
    fn new(secret: &str, delivery_id: &'a str, event_type: &'a str, body: &[u8]) -> Self {
        let timestamp = chrono::Utc::now().timestamp();
        Self {
            delivery_id,
            event_type,
            signature: signing::sign(secret, timestamp, body),
            timestamp: timestamp.to_string(),
        }
    }
}

/// What a delivery to a target the egress policy refuses records: the same
/// whatever is there, so the delivery log tells an admin nothing about the
/// desk's own network.
pub const BLOCKED: &str = "target address not allowed (internal addresses are refused; see notification.webhook_allowed_cidrs)";

/// A connection refused by the egress policy.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("{BLOCKED}")]
pub struct Blocked;

/// Resolves names for both HTTP clients, keeping only the addresses the
/// egress policy permits, so a name that resolves (or is rebound) to an
/// internal address is never connected to.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    egress: Arc<EgressPolicy>,
}

impl GuardedResolver {
    async fn resolve(
        egress: Arc<EgressPolicy>,
        host: String,
    ) -> Result<std::vec::IntoIter<SocketAddr>, BoxError> {
        let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
        let permitted: Vec<SocketAddr> = found
            .into_iter()
            .filter(|a| egress.permits(a.ip()))
            .collect();
        if permitted.is_empty() {
            return Err(Box::new(Blocked));
        }
        Ok(permitted.into_iter())
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl tower::Service<Name> for GuardedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        Box::pin(Self::resolve(self.egress.clone(), name.as_str().to_owned()))
    }
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let (egress, host) = (self.egress.clone(), name.as_str().to_owned());
        Box::pin(async move {
            let addrs = Self::resolve(egress, host).await?;
            Ok(Box::new(addrs) as reqwest::dns::Addrs)
        })
    }
}

/// The HTTP client: hyper over pooled keep-alive connections (rustls for
/// `https`), which costs a fraction of reqwest's CPU per request. A URL
/// with credentials in it (`https://user:pass@host/`) goes through reqwest,
/// which turns them into HTTP basic auth. Both connect only where the
/// egress policy permits: literal addresses are checked before sending,
/// names as they resolve; neither follows redirects or uses a proxy.
#[derive(Debug, Clone)]
pub struct HttpWebhookClient {
    client: Client<HttpsConnector<HttpConnector<GuardedResolver>>, Full<Bytes>>,
    with_credentials: reqwest::Client,
    timeout: Duration,
    egress: Arc<EgressPolicy>,
}

/// What the client sends as `User-Agent`.
const USER_AGENT: &str = "Switchboard-Webhooks/1";

/// Most of a response's body read (and dropped) so its connection can be
/// used again; a larger body closes the connection instead.
const DRAINED: usize = 64 * 1024;

impl HttpWebhookClient {
    /// A client whose requests time out after `timeout`, connecting only
    /// where `egress` permits.
    pub fn new(timeout: Duration, egress: Arc<EgressPolicy>) -> Self {
        // The roots and protocol versions reqwest's `rustls-tls` uses.
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        })
        .with_no_client_auth();
        let resolver = GuardedResolver {
            egress: egress.clone(),
        };
        let mut http = HttpConnector::new_with_resolver(resolver.clone());
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(timeout));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        // hyper never follows redirects: a receiver's redirect must not move
        // a signed body elsewhere.
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(connector);
        let with_credentials = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(USER_AGENT)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(resolver))
            .build()
            .expect("the HTTP client builds");
        Self {
            client,
            with_credentials,
            timeout,
            egress,
        }
    }

    async fn post_hyper(
        &self,
        uri: Uri,
        signed: Signed<'_>,
        body: &[u8],
    ) -> Result<u16, PostError> {
        let mut request = Request::post(uri)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "*/*")
            .header(header::USER_AGENT, USER_AGENT)
            .header(DELIVERY_HEADER, signed.delivery_id)
            .header(TIMESTAMP_HEADER, signed.timestamp)
            .header(EVENT_TYPE_HEADER, signed.event_type)
            .header(SIGNATURE_HEADER, signed.signature);
        for (name, value) in trace_headers() {
            request = request.header(name, value);
        }
        let request = request
            .body(Full::new(Bytes::copy_from_slice(body)))
            .map_err(|e| failed(&e))?;
        let deadline = tokio::time::Instant::now() + self.timeout;
        let response = tokio::time::timeout_at(deadline, self.client.request(request))
            .await
            .map_err(|_| PostError {
                status: 0,
                message: "request failed: operation timed out".into(),
            })?
            .map_err(|e| failed(&e))?;
        let status = response.status();
        // The status decides; the body is read only so the connection can
        // carry the next request, and only while the deadline allows.
        let mut body = response.into_body();
        let _ = tokio::time::timeout_at(deadline, async {
            let mut read = 0;
            while let Some(Ok(frame)) = body.frame().await {
                read += frame.data_ref().map_or(0, Bytes::len);
                if read > DRAINED {
                    break;
                }
            }
        })
        .await;
        outcome(status.as_u16(), status.is_success(), &status)
    }

    async fn post_reqwest(
        &self,
        url: &str,
        signed: Signed<'_>,
        body: &[u8],
    ) -> Result<u16, PostError> {
        let mut request = self
            .with_credentials
            .post(url)
            .header("Content-Type", "application/json")
            .header(DELIVERY_HEADER, signed.delivery_id)
            .header(TIMESTAMP_HEADER, signed.timestamp)
            .header(EVENT_TYPE_HEADER, signed.event_type)
            .header(SIGNATURE_HEADER, signed.signature);
        for (name, value) in trace_headers() {
            request = request.header(name, value);
        }
        let response = request
            .body(body.to_vec())
            .send()
            .await
            .map_err(|e| failed(&e.without_url()))?;
        let status = response.status();
        outcome(status.as_u16(), status.is_success(), &status)
    }
}

#[async_trait::async_trait]
impl WebhookClient for HttpWebhookClient {
    async fn post(
        &self,
        url: &str,
        secret: &str,
        delivery_id: &str,
        event_type: &str,
        body: &[u8],
    ) -> Result<u16, PostError> {
        // Names are checked as they resolve; a literal address never is
        // resolved, so it is checked here, as the URL parser normalises it
        // (`http://2130706433/` is 127.0.0.1).
        let literal = reqwest::Url::parse(url).ok().and_then(|u| {
            u.host_str()?
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .ok()
        });
        if literal.is_some_and(|ip| !self.egress.permits(ip)) {
            return Err(blocked());
        }
        let signed = Signed::new(secret, delivery_id, event_type, body);
        match url.parse::<Uri>() {
            Ok(uri)
                if matches!(uri.scheme_str(), Some("http" | "https"))
                    && uri.authority().is_some_and(|a| !a.as_str().contains('@')) =>
            {
                self.post_hyper(uri, signed, body).await
            }
            // Credentials in the URL, or a URL only reqwest's parser takes.
            _ => self.post_reqwest(url, signed, body).await,
        }
    }
}

/// The W3C trace context of the attempt's span (`traceparent`, and
/// `tracestate` when set), so the receiver can continue the trace.
fn trace_headers() -> impl Iterator<Item = (String, String)> {
    switchboard_runtime::telemetry::current_trace_headers().into_iter()
}

fn outcome(code: u16, success: bool, status: &dyn std::fmt::Display) -> Result<u16, PostError> {
    if success {
        Ok(code)
    } else {
        Err(PostError {
            status: code,
            message: format!("receiver answered {status}"),
        })
    }
}

fn failed(e: &(dyn std::error::Error + 'static)) -> PostError {
    let mut source = Some(e);
    while let Some(s) = source {
        if s.is::<Blocked>() {
            return blocked();
        }
        source = s.source();
    }
    // hyper's errors never carry the URL, which may hold credentials.
    PostError {
        status: 0,
        message: format!("request failed: {}", chain(e)),
    }
}

fn blocked() -> PostError {
    PostError {
        status: 0,
        message: BLOCKED.to_owned(),
    }
}

/// `e` and its sources, `: `-separated.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_proto::{
        events::v1::{TicketCreated, envelope::Payload},
        ticket::v1::Ticket,
    };

    #[test]
    fn bodies_carry_the_event_in_proto_json_and_its_type_names() {
        let event = Envelope {
            id: "0190".into(),
            r#type: "ticket.created".into(),
            tenant_id: "acme".into(),
            aggregate_version: 1,
            occurred_at: Some(prost_types::Timestamp {
                seconds: 1_700_000_000,
                nanos: 0,
            }),
            payload: Some(Payload::TicketCreated(TicketCreated {
                ticket: Some(Ticket {
                    name: "tickets/t".into(),
                    number: 5,
                    subject: "Help".into(),
                    ..Default::default()
                }),
                ..Default::default()
            })),
            ..Default::default()
        };
        let b = body(&event);
        assert_eq!(b["type"], "ticket.created");
        assert_eq!(b["protobuf_type"], ENVELOPE_TYPE);
        assert_eq!(b["payload_type"], "switchboard.events.v1.TicketCreated");
        assert_eq!(b["event"]["tenantId"], "acme");
        assert_eq!(b["event"]["ticketCreated"]["ticket"]["subject"], "Help");
        assert_eq!(b["event"]["occurredAt"], "2023-11-14T22:13:20Z");
        // The text stored and sent is the same JSON, its fields in the
        // documented order.
        let text = body_text(&event);
        assert!(
            text.starts_with(r#"{"id":"0190","type":"ticket.created","#),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), b);
    }
}
