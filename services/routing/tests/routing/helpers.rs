use std::{net::SocketAddr, time::Duration};

use async_nats::jetstream;
use prost::Message;
use switchboard_events::stream::{connect, ensure_stream};
use switchboard_proto::{
    common::v1::{Channel as Ch, Priority},
    events::v1::Envelope,
    routing::v1::{self as pb, routing_service_client::RoutingServiceClient},
    ticket::v1::{self as tpb, ticket_service_client::TicketServiceClient},
};
use switchboard_routing::{MountOptions, RouterOptions};
use switchboard_runtime::{App, Authenticator, Caller, Role, Settings, TenantId};
use switchboard_testkit::{TestDb, TestStream, test_env, wait_for};
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;
use tonic::{Request, transport::Channel};
use uuid::Uuid;

/// A server running in this process.
pub struct Server {
    pub addr: SocketAddr,
    shutdown: CancellationToken,
    handle: JoinHandle<()>,
}

impl Server {
    async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .expect("connect")
    }
}

/// One database, stream and Redis prefix; the ticket service; and any number
/// of routing replicas.
pub struct Desk {
    pub settings: Settings,
    pub db: TestDb,
    pub stream: TestStream,
    pub nats_url: String,
    pub ticket: Server,
    pub admin: String,
    replicas: Vec<Server>,
}

async fn serve(app: App, listener: TcpListener) -> Server {
    let addr = listener.local_addr().unwrap();
    let shutdown = app.shutdown_token();
    let handle = tokio::spawn(async move {
        app.run(listener).await.expect("server ran");
    });
    Server {
        addr,
        shutdown,
        handle,
    }
}

impl Desk {
    /// The ticket service, serving.
    pub async fn new() -> anyhow::Result<Self> {
        let nats_url = switchboard_testkit::nats_url();
        let db = TestDb::create().await?;
        let stream = TestStream::unique();
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let ticket_url = format!("http://{}", listener.local_addr()?);
        let mut env = test_env(&db.url, &nats_url, &stream);
        env.push(("SWITCHBOARD__CLIENTS__TICKET_URL".into(), ticket_url));
        env.push(("SWITCHBOARD__DATABASE__MAX_CONNECTIONS".into(), "16".into()));
        let settings = Settings::load_with_vars(None, env)?;
        let js = jetstream::new(connect(&nats_url).await?);
        ensure_stream(&js, &settings.events).await?;
        let mut app = App::new(settings.clone(), CancellationToken::new());
        switchboard_ticket::mount(&mut app, js).await?;
        let ticket = serve(app, listener).await;
        let admin = token(&settings, "acme", "admin-max", Role::Admin);
        Ok(Self {
            settings,
            db,
            stream,
            nats_url,
            ticket,
            admin,
            replicas: Vec::new(),
        })
    }

    /// Starts a routing replica with a `heartbeat` window and waits until it serves.
    pub async fn routing(&mut self, heartbeat: Duration) -> anyhow::Result<usize> {
        self.routing_sweeping(heartbeat, Duration::from_millis(200))
            .await
    }

    /// A routing replica whose sweep (missed heartbeats, queue retries) runs
    /// every `sweep_every`.
    pub async fn routing_sweeping(
        &mut self,
        heartbeat: Duration,
        sweep_every: Duration,
    ) -> anyhow::Result<usize> {
        let js = jetstream::new(connect(&self.nats_url).await?);
        let mut app = App::new(self.settings.clone(), CancellationToken::new());
        let options = MountOptions {
            router: RouterOptions {
                heartbeat_window: heartbeat,
                lease: Duration::from_secs(10),
                ..RouterOptions::default()
            },
            sweep_every,
            ..MountOptions::default()
        };
        switchboard_routing::mount_with(&mut app, js, options).await?;
        let server = serve(app, TcpListener::bind("127.0.0.1:0").await?).await;
        let channel = server.channel().await;
        wait_for(Duration::from_secs(30), "routing SERVING", || {
            let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
            async move {
                health
                    .check(tonic_health::pb::HealthCheckRequest {
                        service: switchboard_routing::GRPC_NAME.into(),
                    })
                    .await
                    .is_ok_and(|r| r.into_inner().status == 1)
            }
        })
        .await?;
        self.replicas.push(server);
        Ok(self.replicas.len() - 1)
    }

    /// Waits until routing has handled every ticket event on the stream, so
    /// no reaction to an earlier event races what the test does next.
    pub async fn routing_idle(&self) -> anyhow::Result<()> {
        self.routing_idle_past(0).await
    }

    /// [`Desk::routing_idle`], once routing has also been handed stream
    /// message `seq` or a later one (a stream recreated under it starts
    /// counting again, so "nothing pending" alone could be said too early).
    pub async fn routing_idle_past(&self, seq: u64) -> anyhow::Result<()> {
        let js = jetstream::new(connect(&self.nats_url).await?);
        let stream = js.get_stream(&self.settings.events.stream).await?;
        wait_for(
            Duration::from_secs(30),
            "routing to handle every ticket event",
            || {
                let stream = stream.clone();
                async move {
                    stream
                        .consumer_info(switchboard_routing::consumer::TICKETS_CONSUMER)
                        .await
                        .is_ok_and(|i| {
                            i.delivered.stream_sequence >= seq
                                && i.num_pending == 0
                                && i.num_ack_pending == 0
                        })
                }
            },
        )
        .await
    }

    /// Routing's health status on `replica` (1 SERVING, 2 NOT_SERVING).
    pub async fn health(&self, replica: usize) -> i32 {
        let mut health = tonic_health::pb::health_client::HealthClient::new(
            self.replicas[replica].channel().await,
        );
        health
            .check(tonic_health::pb::HealthCheckRequest {
                service: switchboard_routing::GRPC_NAME.into(),
            })
            .await
            .map(|r| r.into_inner().status)
            .unwrap_or(0)
    }

    pub fn token(&self, user: &str, role: Role) -> String {
        token(&self.settings, "acme", user, role)
    }

    pub async fn routing_client(&self, replica: usize) -> RoutingServiceClient<Channel> {
        RoutingServiceClient::new(self.replicas[replica].channel().await)
    }

    pub async fn tickets(&self) -> TicketServiceClient<Channel> {
        TicketServiceClient::new(self.ticket.channel().await)
    }

    /// A connection to the ticket service (for its other services).
    pub async fn ticket_channel(&self) -> Channel {
        self.ticket.channel().await
    }

    /// Every event on the stream so far.
    pub async fn events(&self) -> anyhow::Result<Vec<Envelope>> {
        let js = jetstream::new(connect(&self.nats_url).await?);
        let mut stream = js.get_stream(&self.stream.stream).await?;
        // The first `count` events; later ones are read next time.
        let count = stream.info().await?.state.messages as usize;
        let consumer = stream
            .create_consumer(jetstream::consumer::pull::Config {
                ack_policy: jetstream::consumer::AckPolicy::None,
                ..Default::default()
            })
            .await?;
        let mut messages = consumer.messages().await?;
        let mut out = Vec::with_capacity(count);
        while out.len() < count {
            let m = tokio::time::timeout(
                Duration::from_secs(10),
                futures::StreamExt::next(&mut messages),
            )
            .await?
            .ok_or_else(|| anyhow::anyhow!("stream closed"))??;
            out.push(Envelope::decode(m.payload.clone())?);
        }
        Ok(out)
    }

    /// Events of `type`, waiting until at least `n` arrived.
    pub async fn wait_events(&self, kind: &str, n: usize) -> anyhow::Result<Vec<Envelope>> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let found: Vec<Envelope> = self
                .events()
                .await?
                .into_iter()
                .filter(|e| e.r#type == kind)
                .collect();
            if found.len() >= n {
                return Ok(found);
            }
            if tokio::time::Instant::now() > deadline {
                let mut kinds = std::collections::BTreeMap::new();
                for e in self.events().await? {
                    *kinds.entry(e.r#type).or_insert(0) += 1;
                }
                eprintln!("events so far: {kinds:?}");
                anyhow::bail!("only {} of {n} `{kind}` events arrived", found.len());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Publishes an event as its producer would (for SLA alerts).
    pub async fn publish(&self, envelope: &Envelope) -> anyhow::Result<()> {
        let js = jetstream::new(connect(&self.nats_url).await?);
        let subject = format!(
            "{}.{}",
            self.stream.prefix,
            switchboard_events::subject_of(envelope)
        );
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", envelope.id.as_str());
        js.publish_with_headers(subject, headers, envelope.encode_to_vec().into())
            .await?
            .await?;
        Ok(())
    }

    pub async fn stop(self) -> anyhow::Result<()> {
        for s in self.replicas.into_iter().chain([self.ticket]) {
            s.shutdown.cancel();
            let _ = s.handle.await;
        }
        // Forget this test's Redis keys.
        if let Ok(client) = redis::Client::open("redis://127.0.0.1:6379")
            && let Ok(mut conn) = client.get_multiplexed_async_connection().await
        {
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(format!("{}:routing:*", self.stream.prefix))
                .query_async(&mut conn)
                .await
                .unwrap_or_default();
            if !keys.is_empty() {
                let _: Result<(), _> = redis::cmd("DEL").arg(keys).query_async(&mut conn).await;
            }
        }
        let _ = self.stream.delete(&self.nats_url).await;
        self.db.drop_db().await
    }
}

fn token(settings: &Settings, tenant: &str, user: &str, role: Role) -> String {
    let caller = Caller {
        tenant: TenantId::parse(tenant).unwrap(),
        user: user.into(),
        role,
        via: switchboard_runtime::auth::Via::Person,
    };
    Authenticator::hs256(&settings.auth.jwt_secret).issue(&caller, Duration::from_secs(600))
}

pub fn authed<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

pub async fn group(
    c: &mut RoutingServiceClient<Channel>,
    admin: &str,
    g: pb::Group,
) -> anyhow::Result<pb::Group> {
    Ok(
        c.create_group(authed(pb::CreateGroupRequest { group: Some(g) }, admin))
            .await?
            .into_inner(),
    )
}

pub fn plain_group(id: &str) -> pb::Group {
    pb::Group {
        name: format!("groups/{id}"),
        ..Default::default()
    }
}

/// An agent in `groups` with `skills`, speaking `languages`, taking `email`
/// email tickets and `chat` chats at once.
pub fn agent(
    user: &str,
    groups: &[&str],
    skills: &[(&str, i32)],
    languages: &[&str],
    email: i32,
    chat: i32,
) -> pb::Agent {
    pb::Agent {
        name: format!("agents/{user}"),
        display_name: user.to_uppercase(),
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        skills: skills
            .iter()
            .map(|(n, l)| pb::Skill {
                name: (*n).into(),
                level: *l,
            })
            .collect(),
        languages: languages.iter().map(|l| (*l).to_owned()).collect(),
        capacity: vec![
            pb::ChannelCapacity {
                channel: Ch::Email as i32,
                max: email,
            },
            pb::ChannelCapacity {
                channel: Ch::Chat as i32,
                max: chat,
            },
        ],
        ..Default::default()
    }
}

pub async fn add_agent(
    c: &mut RoutingServiceClient<Channel>,
    admin: &str,
    a: pb::Agent,
) -> anyhow::Result<pb::Agent> {
    Ok(
        c.create_agent(authed(pb::CreateAgentRequest { agent: Some(a) }, admin))
            .await?
            .into_inner(),
    )
}

pub async fn presence(
    c: &mut RoutingServiceClient<Channel>,
    admin: &str,
    user: &str,
    p: pb::Presence,
) -> anyhow::Result<pb::Agent> {
    Ok(c.set_presence(authed(
        pb::SetPresenceRequest {
            presence: p as i32,
            agent: format!("agents/{user}"),
        },
        admin,
    ))
    .await?
    .into_inner())
}

/// A new ticket; `language` becomes the `language` custom field.
pub async fn ticket(
    c: &mut TicketServiceClient<Channel>,
    token: &str,
    subject: &str,
    channel: Ch,
    language: Option<&str>,
) -> anyhow::Result<tpb::Ticket> {
    let custom_fields = language
        .map(|l| {
            [(
                "language".to_owned(),
                tpb::FieldValue {
                    kind: Some(tpb::field_value::Kind::Text(l.into())),
                },
            )]
            .into()
        })
        .unwrap_or_default();
    Ok(c.create_ticket(authed(
        tpb::CreateTicketRequest {
            subject: subject.into(),
            description: format!("{subject}, please help"),
            channel: channel as i32,
            priority: Priority::Normal as i32,
            requester: Some(tpb::Requester {
                email: "ada@example.com".into(),
                ..Default::default()
            }),
            custom_fields,
            ..Default::default()
        },
        token,
    ))
    .await?
    .into_inner())
}

pub async fn get(
    c: &mut TicketServiceClient<Channel>,
    token: &str,
    name: &str,
) -> anyhow::Result<tpb::Ticket> {
    Ok(
        c.get_ticket(authed(tpb::GetTicketRequest { name: name.into() }, token))
            .await?
            .into_inner(),
    )
}

/// Waits until the ticket has an assignee; returns the ticket.
pub async fn assigned(
    c: &TicketServiceClient<Channel>,
    token: &str,
    name: &str,
) -> anyhow::Result<tpb::Ticket> {
    let found = std::sync::Arc::new(std::sync::Mutex::new(None));
    wait_for(Duration::from_secs(15), &format!("{name} assigned"), || {
        let (mut c, token, name, found) =
            (c.clone(), token.to_owned(), name.to_owned(), found.clone());
        async move {
            match get(&mut c, &token, &name).await {
                Ok(t) if !t.assignee.is_empty() => {
                    *found.lock().unwrap() = Some(t);
                    true
                }
                _ => false,
            }
        }
    })
    .await?;
    Ok(found.lock().unwrap().take().unwrap())
}

pub fn id_of(name: &str) -> Uuid {
    Uuid::parse_str(name.trim_start_matches("tickets/")).unwrap()
}
