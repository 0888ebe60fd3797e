use std::{net::SocketAddr, time::Duration};

use async_nats::{HeaderMap, jetstream};
use prost::Message as _;
use switchboard_events::{
    EventBuilder, Payload,
    stream::{connect, ensure_stream},
    subject_of,
};
use switchboard_proto::{
    common::v1::{Actor, ActorKind},
    events::v1::{AgentStatusChanged, Envelope, MessageAdded, TicketCreated},
    notification::v1::{self as pb, notification_service_client::NotificationServiceClient},
    ticket::v1::{Message, Ticket, Visibility},
};
use switchboard_runtime::{App, Authenticator, Caller, Role, Settings, TenantId};
use switchboard_testkit::{TestDb, TestStream, test_env, wait_for};
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;
use tonic::{Request, transport::Channel};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use uuid::Uuid;

/// The domain of the desk's Message-IDs in tests.
pub const DOMAIN: &str = "desk.example.com";
/// The desk's inbound address in tests.
pub const REPLY_TO: &str = "support@desk.example.com";

/// A notification service on its own database and stream, with fast retries.
pub struct Desk {
    pub settings: Settings,
    pub db: TestDb,
    pub stream: TestStream,
    pub nats_url: String,
    pub addr: SocketAddr,
    js: jetstream::Context,
    shutdown: CancellationToken,
    handle: JoinHandle<()>,
}

impl Desk {
    /// Starts the service with SMTP at `smtp` and up to `max_attempts`
    /// attempts per delivery, retrying after 50–400 ms.
    pub async fn start(smtp: SocketAddr, max_attempts: u32) -> anyhow::Result<Self> {
        // The tests' receivers listen on loopback.
        Self::start_allowing(smtp, max_attempts, Some("127.0.0.0/8")).await
    }

    /// As [`Desk::start`], webhooks allowed to reach `allowed` (CIDRs,
    /// comma-separated) besides public addresses; `None`: the default.
    pub async fn start_allowing(
        smtp: SocketAddr,
        max_attempts: u32,
        allowed: Option<&str>,
    ) -> anyhow::Result<Self> {
        let nats_url = switchboard_testkit::nats_url();
        let db = TestDb::create().await?;
        let stream = TestStream::unique();
        let mut env = test_env(&db.url, &nats_url, &stream);
        for (k, v) in [
            ("SMTP_HOST", smtp.ip().to_string()),
            ("SMTP_PORT", smtp.port().to_string()),
            ("FROM", "Acme Support <noreply@desk.example.com>".to_owned()),
            ("REPLY_TO", REPLY_TO.to_owned()),
            ("DOMAIN", DOMAIN.to_owned()),
            ("MAX_ATTEMPTS", max_attempts.to_string()),
            ("RETRY_BASE_MS", "50".to_owned()),
            ("RETRY_MAX_MS", "400".to_owned()),
            ("SEND_TIMEOUT_MS", "3000".to_owned()),
            ("DISPATCH_POLL_MS", "50".to_owned()),
        ] {
            env.push((format!("SWITCHBOARD__NOTIFICATION__{k}"), v));
        }
        if let Some(allowed) = allowed {
            env.push((
                "SWITCHBOARD__NOTIFICATION__WEBHOOK_ALLOWED_CIDRS".into(),
                allowed.into(),
            ));
        }
        let settings = Settings::load_with_vars(None, env)?;
        let js = jetstream::new(connect(&nats_url).await?);
        ensure_stream(&js, &settings.events).await?;

        let shutdown = CancellationToken::new();
        let mut app = App::new(settings.clone(), shutdown.clone());
        switchboard_notification::mount(&mut app, js.clone()).await?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let handle = tokio::spawn(async move {
            app.run(listener).await.expect("server ran");
        });
        let desk = Self {
            settings,
            db,
            stream,
            nats_url,
            addr,
            js,
            shutdown,
            handle,
        };
        let channel = desk.channel().await;
        wait_for(
            Duration::from_secs(30),
            "notification service SERVING",
            || {
                let mut health = HealthClient::new(channel.clone());
                async move {
                    health
                        .check(HealthCheckRequest {
                            service: switchboard_notification::GRPC_NAME.into(),
                        })
                        .await
                        .is_ok_and(|r| r.into_inner().status == ServingStatus::Serving as i32)
                }
            },
        )
        .await?;
        Ok(desk)
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .expect("connect to the notification service")
    }

    pub async fn client(&self) -> NotificationServiceClient<Channel> {
        NotificationServiceClient::new(self.channel().await)
    }

    pub fn token(&self, user: &str, role: Role) -> String {
        let caller = Caller {
            tenant: TenantId::parse("acme").unwrap(),
            user: user.into(),
            role,
            via: switchboard_runtime::auth::Via::Person,
        };
        Authenticator::hs256(&self.settings.auth.jwt_secret)
            .issue(&caller, Duration::from_secs(600))
    }

    /// Publishes `event` as the relay would; `msg_id` stands in for the
    /// `Nats-Msg-Id`, so a test can make NATS deliver the same event twice.
    pub async fn publish_as(&self, event: &Envelope, msg_id: &str) -> anyhow::Result<()> {
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Msg-Id", msg_id);
        let subject = format!("{}.{}", self.stream.prefix, subject_of(event));
        self.js
            .publish_with_headers(subject, headers, event.encode_to_vec().into())
            .await?
            .await?;
        Ok(())
    }

    pub async fn publish(&self, event: &Envelope) -> anyhow::Result<()> {
        self.publish_as(event, &event.id).await
    }

    /// Makes `agents` known as staff, as routing does when they go online
    /// (in-app notifications reach known staff only).
    pub async fn introduce(&self, agents: &[&str]) -> anyhow::Result<()> {
        for a in agents {
            self.publish(&online(a)).await?;
        }
        Ok(())
    }

    pub async fn pool(&self) -> sqlx::PgPool {
        self.db.pool("notification").await.expect("pool")
    }

    /// The `notification.*` events on the stream once `expected` are there.
    pub async fn notification_events(&self, expected: usize) -> anyhow::Result<Vec<Envelope>> {
        let subject = format!("{}.acme.notification.>", self.stream.prefix);
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let events = read_subject(&self.js, &self.stream.stream, &subject).await?;
            if events.len() >= expected {
                return Ok(events);
            }
            anyhow::ensure!(
                std::time::Instant::now() < deadline,
                "only {} of {expected} notification events arrived",
                events.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.handle.await?;
        let _ = self.stream.delete(&self.nats_url).await;
        self.db.drop_db().await
    }
}

async fn read_subject(
    js: &jetstream::Context,
    stream: &str,
    subject: &str,
) -> anyhow::Result<Vec<Envelope>> {
    use async_nats::jetstream::consumer;
    use futures::StreamExt;
    let stream = js.get_stream(stream).await?;
    let consumer = stream
        .create_consumer(consumer::pull::Config {
            filter_subject: subject.to_owned(),
            ack_policy: consumer::AckPolicy::None,
            ..Default::default()
        })
        .await?;
    let pending = consumer.cached_info().num_pending as usize;
    let mut out = Vec::new();
    if pending == 0 {
        return Ok(out);
    }
    let mut batch = consumer.fetch().max_messages(pending).messages().await?;
    while let Some(m) = batch.next().await {
        out.push(Envelope::decode(
            m.map_err(|e| anyhow::anyhow!(e))?.payload.clone(),
        )?);
    }
    Ok(out)
}

pub fn authed<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

/// A ticket of tenant `acme`.
pub struct TicketSpec {
    pub id: Uuid,
    pub number: i64,
    pub subject: String,
    pub requester: String,
    pub assignee: String,
    pub followers: Vec<String>,
}

impl TicketSpec {
    pub fn new(number: i64, subject: &str) -> Self {
        Self {
            id: Uuid::now_v7(),
            number,
            subject: subject.into(),
            requester: format!("customers/{}", Uuid::now_v7()),
            assignee: "agent-ann".into(),
            followers: Vec::new(),
        }
    }

    pub fn ticket(&self, version: i64) -> Ticket {
        Ticket {
            name: format!("tickets/{}", self.id),
            number: self.number,
            subject: self.subject.clone(),
            requester: self.requester.clone(),
            assignee: self.assignee.clone(),
            followers: self.followers.clone(),
            version,
            ..Default::default()
        }
    }

    pub fn builder(&self, version: i64, actor: Actor) -> EventBuilder {
        EventBuilder::new(
            &TenantId::parse("acme").unwrap(),
            "ticket",
            self.id.to_string(),
            version,
        )
        .actor(actor)
    }

    /// `ticket.created` by the requester, whose token names their address.
    pub fn created_by(&self, email: &str) -> Envelope {
        self.builder(1, customer(email)).build(
            "created",
            Payload::TicketCreated(TicketCreated {
                ticket: Some(self.ticket(1)),
                ..Default::default()
            }),
        )
    }

    /// `message.added`; returns the event and the message id.
    pub fn message(
        &self,
        version: i64,
        author: Actor,
        visibility: Visibility,
        body: &str,
        mentions: &[&str],
    ) -> (Envelope, Uuid) {
        let message_id = Uuid::now_v7();
        let event = self.builder(version, author.clone()).build_as(
            "message",
            "added",
            Payload::MessageAdded(MessageAdded {
                ticket: Some(self.ticket(version)),
                message: Some(Message {
                    name: format!("tickets/{}/messages/{message_id}", self.id),
                    author: Some(author),
                    visibility: visibility as i32,
                    body: body.into(),
                    mentions: mentions.iter().map(|m| m.to_string()).collect(),
                    ..Default::default()
                }),
            }),
        );
        (event, message_id)
    }
}

/// Routing's `agent.status_changed` for `agent` going online: what makes
/// the notification service know them as staff.
pub fn online(agent: &str) -> Envelope {
    EventBuilder::new(&TenantId::parse("acme").unwrap(), "agent", agent, 1)
        .actor(Actor {
            kind: ActorKind::System as i32,
            ..Default::default()
        })
        .build(
            "status_changed",
            Payload::AgentStatusChanged(AgentStatusChanged {
                agent: format!("agents/{agent}"),
                ..Default::default()
            }),
        )
}

pub fn agent(id: &str) -> Actor {
    Actor {
        kind: ActorKind::Agent as i32,
        id: id.into(),
        role: switchboard_proto::common::v1::Role::Agent as i32,
    }
}

pub fn customer(email: &str) -> Actor {
    Actor {
        kind: ActorKind::Customer as i32,
        id: email.into(),
        role: switchboard_proto::common::v1::Role::Customer as i32,
    }
}

/// Every delivery of `webhook`, newest first.
pub async fn deliveries(
    client: &mut NotificationServiceClient<Channel>,
    token: &str,
    webhook: &str,
) -> anyhow::Result<Vec<pb::Delivery>> {
    Ok(client
        .list_deliveries(authed(
            pb::ListDeliveriesRequest {
                parent: webhook.into(),
                page_size: 100,
                ..Default::default()
            },
            token,
        ))
        .await?
        .into_inner()
        .deliveries)
}

/// The in-app notifications `token`'s user reads (their own and, for
/// supervisors, the supervisors' inbox), newest first.
pub async fn inbox(
    client: &mut NotificationServiceClient<Channel>,
    token: &str,
) -> anyhow::Result<Vec<pb::Notification>> {
    Ok(client
        .list_notifications(authed(
            pb::ListNotificationsRequest {
                page_size: 100,
                ..Default::default()
            },
            token,
        ))
        .await?
        .into_inner()
        .notifications)
}

/// The status's field violations, as `field` names.
pub fn violated_fields(status: &tonic::Status) -> Vec<String> {
    use tonic_types::StatusExt;
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    status
        .get_details_bad_request()
        .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}

/// A migrated notification schema in a database of its own, with one
/// active catch-all webhook posting to `url` (nothing listens there).
pub async fn store_with_catch_all_webhook(
    url: &str,
) -> anyhow::Result<(TestDb, switchboard_notification::store::PgStore)> {
    let db = TestDb::create().await?;
    let pool = db.pool(switchboard_notification::SERVICE).await?;
    switchboard_events::db::migrate(
        &pool,
        switchboard_notification::SERVICE,
        &switchboard_notification::MIGRATIONS,
    )
    .await?;
    let store = switchboard_notification::store::PgStore::new(pool);
    store
        .create_webhook(
            "acme",
            &switchboard_notification::domain::input::WebhookInput {
                url: url.into(),
                event_types: Vec::new(),
                secret: "whsec_test_0123456789abcdef".into(),
                active: true,
                description: String::new(),
            },
        )
        .await?;
    Ok((db, store))
}
