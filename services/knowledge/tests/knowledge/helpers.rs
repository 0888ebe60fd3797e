use std::{net::SocketAddr, time::Duration};

use async_nats::jetstream;
use prost::Message;
use switchboard_events::stream::{connect, ensure_stream};
use switchboard_proto::{
    events::v1::Envelope,
    knowledge::v1::{self as pb, knowledge_service_client::KnowledgeServiceClient},
};
use switchboard_runtime::{App, Authenticator, Caller, Role, Settings, TenantId};
use switchboard_testkit::{TestDb, TestStream, settings, wait_for};
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;
use tonic::{Code, Request, transport::Channel};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

/// One database and one event stream that any number of knowledge replicas share.
pub struct Desk {
    pub settings: Settings,
    pub db: TestDb,
    pub stream: TestStream,
    pub nats_url: String,
}

/// One knowledge replica running in this process.
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
        })
    }

    /// Starts a replica and waits until it reports SERVING (schema migrated,
    /// index built from the database).
    pub async fn replica(&self) -> anyhow::Result<Replica> {
        let js = jetstream::new(connect(&self.nats_url).await?);
        let shutdown = CancellationToken::new();
        let mut app = App::new(self.settings.clone(), shutdown.clone());
        switchboard_knowledge::mount(&mut app, js).await?;
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
        wait_for(Duration::from_secs(30), "knowledge replica SERVING", || {
            let mut health = HealthClient::new(channel.clone());
            async move {
                health
                    .check(HealthCheckRequest {
                        service: switchboard_knowledge::GRPC_NAME.into(),
                    })
                    .await
                    .is_ok_and(|r| r.into_inner().status == ServingStatus::Serving as i32)
            }
        })
        .await?;
        Ok(replica)
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
        self.db.pool("knowledge").await.expect("pool")
    }

    /// Every event on this desk's stream, in stream order.
    pub async fn events(&self, expected: usize) -> anyhow::Result<Vec<Envelope>> {
        switchboard_testkit::read_stream(&self.nats_url, &self.stream.stream, expected)
            .await?
            .into_iter()
            .map(|m| Ok(Envelope::decode(m.payload)?))
            .collect()
    }

    pub async fn stop(self, replicas: Vec<Replica>) -> anyhow::Result<()> {
        for r in replicas {
            r.shutdown.cancel();
            r.handle.await?;
        }
        let _ = self.stream.delete(&self.nats_url).await;
        self.db.drop_db().await
    }
}

impl Replica {
    pub async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .expect("connect to the knowledge service")
    }

    pub async fn client(&self) -> KnowledgeServiceClient<Channel> {
        KnowledgeServiceClient::new(self.channel().await)
    }
}

pub fn authed<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

/// Staff and customer tokens of tenant `acme`.
pub struct Tokens {
    pub agent: String,
    pub admin: String,
    pub customer: String,
}

impl Tokens {
    pub fn new(desk: &Desk) -> Self {
        Self {
            agent: desk.token("acme", "agent-ann", Role::Agent),
            admin: desk.token("acme", "admin-max", Role::Admin),
            customer: desk.token("acme", "cust@example.com", Role::Customer),
        }
    }
}

/// A draft with the given title, body and locale.
pub fn draft(title: &str, body: &str, locale: &str) -> pb::CreateArticleRequest {
    pb::CreateArticleRequest {
        title: title.into(),
        summary: String::new(),
        body_markdown: body.into(),
        locale: locale.into(),
        ..Default::default()
    }
}

/// Creates and publishes an article; returns it published.
pub async fn publish(
    client: &mut KnowledgeServiceClient<Channel>,
    token: &str,
    request: pb::CreateArticleRequest,
) -> anyhow::Result<pb::Article> {
    let created = client
        .create_article(authed(request, token))
        .await?
        .into_inner();
    Ok(client
        .publish_article(authed(
            pb::ChangeArticleStatusRequest {
                name: created.name,
                expected_version: created.version,
            },
            token,
        ))
        .await?
        .into_inner())
}

/// The status's field violations, as `field` names.
pub fn violated_fields(status: &tonic::Status) -> Vec<String> {
    use tonic_types::StatusExt;
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    status
        .get_details_bad_request()
        .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}

/// Searches as `token`; returns hit names in order.
pub async fn search_names(
    client: &mut KnowledgeServiceClient<Channel>,
    token: &str,
    query: &str,
    locale: &str,
) -> anyhow::Result<Vec<String>> {
    let hits = client
        .search_articles(authed(
            pb::SearchArticlesRequest {
                query: query.into(),
                locale: locale.into(),
                ..Default::default()
            },
            token,
        ))
        .await?
        .into_inner()
        .hits;
    Ok(hits
        .into_iter()
        .map(|h| h.article.unwrap_or_default().name)
        .collect())
}
