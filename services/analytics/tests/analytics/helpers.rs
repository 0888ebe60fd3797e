use std::{net::SocketAddr, time::Duration};

use async_nats::jetstream;
use chrono::{DateTime, TimeZone, Utc};
use prost::Message;
use switchboard_events::{
    Envelope, Payload,
    stream::{connect, ensure_stream},
};
use switchboard_proto::{
    analytics::v1::{self as pb, analytics_service_client::AnalyticsServiceClient},
    common::v1::{self as common, Actor, ActorKind},
    events::v1 as ev,
    ticket::v1 as tpb,
};
use switchboard_runtime::{App, Authenticator, Caller, Role, Settings, TenantId};
use switchboard_testkit::{TestDb, TestStream, settings, wait_for};
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;
use tonic::{Request, transport::Channel};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use uuid::Uuid;

pub const TENANT: &str = "acme";

/// One database and one event stream.
pub struct Desk {
    pub settings: Settings,
    pub db: TestDb,
    pub stream: TestStream,
    pub nats_url: String,
    pub js: jetstream::Context,
}

/// An analytics service running in this process.
pub struct Replica {
    pub addr: SocketAddr,
    shutdown: CancellationToken,
    handle: JoinHandle<()>,
}

impl Desk {
    pub async fn new() -> anyhow::Result<Self> {
        let nats_url = switchboard_testkit::nats_url();
        let db = TestDb::create().await?;
        let stream = TestStream::unique();
        let settings = settings(&db.url, &nats_url, &stream);
        let js = jetstream::new(connect(&nats_url).await?);
        ensure_stream(&js, &settings.events).await?;
        Ok(Self {
            settings,
            db,
            stream,
            nats_url,
            js,
        })
    }

    /// The same stream, read into a fresh empty database.
    pub async fn replay_desk(&self) -> anyhow::Result<(Settings, TestDb)> {
        let db = TestDb::create().await?;
        Ok((settings(&db.url, &self.nats_url, &self.stream), db))
    }

    pub async fn replica(&self) -> anyhow::Result<Replica> {
        start(self.settings.clone(), &self.nats_url).await
    }

    pub fn token(&self, user: &str, role: Role) -> String {
        let caller = Caller {
            tenant: TenantId::parse(TENANT).unwrap(),
            user: user.into(),
            role,
            via: switchboard_runtime::auth::Via::Person,
        };
        Authenticator::hs256(&self.settings.auth.jwt_secret)
            .issue(&caller, Duration::from_secs(600))
    }

    pub async fn pool(&self) -> sqlx::PgPool {
        self.db.pool("analytics").await.expect("pool")
    }

    /// Publishes `events` in order with their ids as `Nats-Msg-Id`, or with
    /// fresh message ids (`redeliver`), so JetStream does not drop them and
    /// the consumer sees them again.
    pub async fn publish(&self, events: &[Envelope], redeliver: bool) -> anyhow::Result<()> {
        for e in events {
            let mut headers = async_nats::HeaderMap::new();
            let msg_id = if redeliver {
                Uuid::now_v7().to_string()
            } else {
                e.id.clone()
            };
            headers.insert("Nats-Msg-Id", msg_id.as_str());
            let subject = format!("{}.{}.{}", self.stream.prefix, e.tenant_id, e.r#type);
            self.js
                .publish_with_headers(subject, headers, e.encode_to_vec().into())
                .await?
                .await?;
        }
        Ok(())
    }

    /// Waits until the analytics schema of `pool` holds `n` ticket events.
    pub async fn wait_applied(pool: &sqlx::PgPool, n: i64) -> anyhow::Result<()> {
        wait_for(Duration::from_secs(30), "events applied", || async {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM ticket_events")
                .fetch_one(pool)
                .await
                .is_ok_and(|c| c == n)
        })
        .await
    }

    /// Every event on the stream (exactly `expected` of them).
    pub async fn events(&self, expected: usize) -> anyhow::Result<Vec<Envelope>> {
        switchboard_testkit::read_stream(&self.nats_url, &self.stream.stream, expected)
            .await?
            .into_iter()
            .map(|m| Ok(Envelope::decode(m.payload)?))
            .collect()
    }

    pub async fn stop(self, replicas: Vec<Replica>) -> anyhow::Result<()> {
        for r in replicas {
            r.stop().await?;
        }
        let _ = self.stream.delete(&self.nats_url).await;
        self.db.drop_db().await
    }
}

/// Starts the analytics service on `settings` and waits until SERVING.
pub async fn start(settings: Settings, nats_url: &str) -> anyhow::Result<Replica> {
    let js = jetstream::new(connect(nats_url).await?);
    let shutdown = CancellationToken::new();
    let mut app = App::new(settings, shutdown.clone());
    switchboard_analytics::mount(&mut app, js).await?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let handle = tokio::spawn(async move {
        app.run(listener).await.expect("server ran");
    });
    let replica = Replica {
        addr,
        shutdown,
        handle,
    };
    let channel = replica.channel().await;
    wait_for(Duration::from_secs(30), "analytics SERVING", || {
        let mut health = HealthClient::new(channel.clone());
        async move {
            health
                .check(HealthCheckRequest {
                    service: switchboard_analytics::GRPC_NAME.into(),
                })
                .await
                .is_ok_and(|r| r.into_inner().status == ServingStatus::Serving as i32)
        }
    })
    .await?;
    Ok(replica)
}

impl Replica {
    pub async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .expect("connect to the analytics service")
    }

    pub async fn client(&self) -> AnalyticsServiceClient<Channel> {
        AnalyticsServiceClient::new(self.channel().await)
    }

    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.handle.await?;
        Ok(())
    }
}

pub fn authed<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

pub fn ts(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: 0,
    }
}

pub fn range(from: DateTime<Utc>, to: DateTime<Utc>) -> common::TimeRange {
    common::TimeRange {
        start_time: Some(ts(from)),
        end_time: Some(ts(to)),
    }
}

/// `h:m` UTC on `day`.
pub fn at(day: DateTime<Utc>, h: u32, m: u32) -> DateTime<Utc> {
    day + chrono::TimeDelta::minutes(i64::from(h * 60 + m))
}

/// Midnight UTC of a date.
pub fn day(y: i32, mo: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, 0, 0, 0).unwrap()
}

pub fn staff(id: &str) -> Actor {
    Actor {
        kind: ActorKind::Agent as i32,
        id: id.into(),
        role: common::Role::Agent as i32,
    }
}

fn customer() -> Actor {
    Actor {
        kind: ActorKind::Customer as i32,
        id: "cust".into(),
        role: common::Role::Customer as i32,
    }
}

/// One ticket's events as the ticket service would publish them: the
/// ticket's state after each change and its version.
pub struct Script {
    pub ticket: tpb::Ticket,
    pub id: Uuid,
    pub events: Vec<Envelope>,
}

impl Script {
    /// `ticket.created` at `when`; `by` is the staff member who opened it
    /// (None: the customer).
    pub fn created(
        when: DateTime<Utc>,
        channel: common::Channel,
        by: Option<&str>,
        edit: impl FnOnce(&mut tpb::Ticket),
    ) -> Self {
        let id = Uuid::now_v7();
        let mut ticket = tpb::Ticket {
            name: format!("tickets/{id}"),
            subject: "Help".into(),
            status: tpb::TicketStatus::New as i32,
            priority: common::Priority::Normal as i32,
            channel: channel as i32,
            version: 1,
            create_time: Some(ts(when)),
            ..Default::default()
        };
        edit(&mut ticket);
        let mut script = Self {
            ticket,
            id,
            events: Vec::new(),
        };
        let actor = by.map_or_else(customer, staff);
        let payload = Payload::TicketCreated(ev::TicketCreated {
            ticket: Some(script.ticket.clone()),
            ..Default::default()
        });
        script.push(when, "ticket.created", actor, payload);
        script
    }

    pub fn push(&mut self, when: DateTime<Utc>, kind: &str, actor: Actor, payload: Payload) {
        self.events.push(Envelope {
            id: Uuid::now_v7().to_string(),
            r#type: kind.into(),
            occurred_at: Some(ts(when)),
            tenant_id: TENANT.into(),
            aggregate_type: "ticket".into(),
            aggregate_id: self.id.to_string(),
            aggregate_version: self.ticket.version,
            actor: Some(actor),
            trace: None,
            payload: Some(payload),
        });
    }

    pub fn bump(&mut self) {
        self.ticket.version += 1;
    }

    pub fn assign(mut self, when: DateTime<Utc>, agent: &str, group: &str) -> Self {
        self.bump();
        self.ticket.assignee = agent.into();
        self.ticket.group = group.into();
        let payload = Payload::TicketAssigned(ev::TicketAssigned {
            ticket: Some(self.ticket.clone()),
            ..Default::default()
        });
        self.push(when, "ticket.assigned", staff("supervisor"), payload);
        self
    }

    fn message(mut self, when: DateTime<Utc>, author: Actor, public: bool) -> Self {
        self.bump();
        let visibility = if public {
            tpb::Visibility::Public
        } else {
            tpb::Visibility::Internal
        };
        let payload = Payload::MessageAdded(ev::MessageAdded {
            ticket: Some(self.ticket.clone()),
            message: Some(tpb::Message {
                author: Some(author.clone()),
                visibility: visibility as i32,
                body: "text".into(),
                ..Default::default()
            }),
        });
        self.push(when, "message.added", author, payload);
        self
    }

    pub fn reply(self, when: DateTime<Utc>, agent: &str) -> Self {
        self.message(when, staff(agent), true)
    }

    pub fn note(self, when: DateTime<Utc>, agent: &str) -> Self {
        self.message(when, staff(agent), false)
    }

    pub fn customer_writes(self, when: DateTime<Utc>) -> Self {
        self.message(when, customer(), true)
    }

    pub fn status(mut self, when: DateTime<Utc>, to: tpb::TicketStatus) -> Self {
        self.bump();
        let from = self.ticket.status;
        self.ticket.status = to as i32;
        let payload = Payload::TicketStatusChanged(ev::TicketStatusChanged {
            ticket: Some(self.ticket.clone()),
            from,
            to: to as i32,
        });
        self.push(when, "ticket.status_changed", staff("agent"), payload);
        self
    }

    pub fn rate(mut self, when: DateTime<Utc>, score: i32) -> Self {
        self.bump();
        let satisfaction = tpb::Satisfaction {
            score,
            ..Default::default()
        };
        self.ticket.satisfaction = Some(satisfaction.clone());
        let payload = Payload::SatisfactionSubmitted(ev::SatisfactionSubmitted {
            ticket: Some(self.ticket.clone()),
            satisfaction: Some(satisfaction),
        });
        self.push(when, "satisfaction.submitted", customer(), payload);
        self
    }

    pub fn breach_first_reply(mut self, when: DateTime<Utc>) -> Self {
        self.bump();
        let payload = Payload::SlaBreached(ev::SlaBreached {
            ticket: Some(self.ticket.clone()),
            target: ev::SlaTargetKind::FirstResponse as i32,
            due_time: Some(ts(when)),
        });
        self.push(when, "sla.breached", staff("system"), payload);
        self
    }

    /// `ticket.merged` and `ticket.status_changed` to closed, at one
    /// version, as the ticket service publishes a merge's source.
    pub fn merge_into(mut self, when: DateTime<Utc>, target: &Script) -> Self {
        self.bump();
        let from = self.ticket.status;
        self.ticket.status = tpb::TicketStatus::Closed as i32;
        self.ticket.merged_into = target.ticket.name.clone();
        let payload = Payload::TicketMerged(ev::TicketMerged {
            source: Some(self.ticket.clone()),
            target: Some(target.ticket.clone()),
        });
        self.push(when, "ticket.merged", staff("ann"), payload);
        let payload = Payload::TicketStatusChanged(ev::TicketStatusChanged {
            ticket: Some(self.ticket.clone()),
            from,
            to: tpb::TicketStatus::Closed as i32,
        });
        self.push(when, "ticket.status_changed", staff("ann"), payload);
        self
    }
}

/// The overview of `[from, to)` as a supervisor sees it.
pub async fn overview(
    client: &mut AnalyticsServiceClient<Channel>,
    token: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> anyhow::Result<pb::Overview> {
    Ok(client
        .get_overview(authed(
            pb::GetOverviewRequest {
                range: Some(range(from, to)),
                filter: None,
            },
            token,
        ))
        .await?
        .into_inner())
}
