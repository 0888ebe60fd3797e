use std::{net::SocketAddr, time::Duration};

use async_nats::jetstream;
use prost::Message;
use switchboard_events::stream::{connect, ensure_stream};
use switchboard_proto::{
    events::v1::Envelope, ticket::v1::ticket_service_client::TicketServiceClient,
};
use switchboard_runtime::{App, Authenticator, Caller, Role, Settings, TenantId};
use switchboard_testkit::{TestDb, TestStream, settings};
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;
use tonic::{Request, transport::Channel};

/// A ticket service running in this process on an ephemeral port.
pub struct Running {
    pub addr: SocketAddr,
    /// The inbound-mail HTTP endpoint, when the test's settings enable it.
    pub inbound_http: Option<SocketAddr>,
    pub settings: Settings,
    pub db: TestDb,
    pub stream: TestStream,
    pub nats_url: String,
    /// The server's stream budget, to see how many streams it holds.
    pub streams: switchboard_runtime::Streams,
    shutdown: CancellationToken,
    handle: JoinHandle<()>,
}

impl Running {
    pub async fn start(nats_url: &str) -> anyhow::Result<Self> {
        Self::start_with(nats_url, |_| {}).await
    }

    /// Like [`Running::start`], with `configure` applied to the settings.
    pub async fn start_with(
        nats_url: &str,
        configure: impl FnOnce(&mut Settings),
    ) -> anyhow::Result<Self> {
        let db = TestDb::create().await?;
        let stream = TestStream::unique();
        let mut settings = settings(&db.url, nats_url, &stream);
        configure(&mut settings);
        let js = jetstream::new(connect(nats_url).await?);
        ensure_stream(&js, &settings.events).await?;
        let shutdown = CancellationToken::new();
        let mut app = App::new(settings.clone(), shutdown.clone());
        let mounted = switchboard_ticket::mount(&mut app, js).await?;
        let streams = app.streams();
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let handle = tokio::spawn(async move {
            app.run(listener).await.expect("server ran");
        });
        Ok(Self {
            addr,
            inbound_http: mounted.inbound_http,
            settings,
            db,
            stream,
            nats_url: nats_url.to_owned(),
            streams,
            shutdown,
            handle,
        })
    }

    pub async fn client(&self) -> TicketServiceClient<Channel> {
        TicketServiceClient::connect(format!("http://{}", self.addr))
            .await
            .expect("connect to the ticket service")
    }

    pub fn token(&self, tenant: &str, user: &str, role: Role) -> String {
        let caller = Caller {
            tenant: TenantId::parse(tenant).unwrap(),
            user: user.into(),
            role,
            via: switchboard_runtime::auth::Via::Person,
        };
        Authenticator::hs256(&self.settings.auth.jwt_secret)
            .issue(&caller, Duration::from_secs(600))
    }

    pub async fn pool(&self) -> sqlx::PgPool {
        self.db.pool("ticket").await.expect("pool")
    }

    /// Every event on this test's stream, in stream order.
    pub async fn events(&self, expected: usize) -> anyhow::Result<Vec<(String, String, Envelope)>> {
        switchboard_testkit::read_stream(&self.nats_url, &self.stream.stream, expected)
            .await?
            .into_iter()
            .map(|m| Ok((m.subject, m.msg_id, Envelope::decode(m.payload)?)))
            .collect()
    }

    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.handle.await?;
        let _ = self.stream.delete(&self.nats_url).await;
        self.db.drop_db().await
    }
}

pub fn authed<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}
