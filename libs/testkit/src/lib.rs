//! Test helpers that talk to real servers: an isolated PostgreSQL database per
//! test, an isolated JetStream stream and subject prefix per test, a private
//! `nats-server` process for outage tests, receivers for webhooks and OTLP
//! traces, and polling waits.
//!
//! Servers are found at their standard loopback ports unless
//! `SWITCHBOARD_TEST_PG_URL` / `SWITCHBOARD_TEST_NATS_URL` say otherwise. A
//! missing server fails the test with a message naming it; nothing is skipped.

use std::{
    future::Future,
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

pub mod hooks;
pub mod otlp;
pub mod process;
pub mod proxy;
pub mod smtp;

use anyhow::{Context, bail};
use sqlx::{Connection, PgConnection, PgPool, postgres::PgPoolOptions};
use switchboard_runtime::Settings;
use uuid::Uuid;

/// The PostgreSQL server tests use (a superuser connection to any database).
pub fn pg_admin_url() -> String {
    std::env::var("SWITCHBOARD_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// The NATS server (with JetStream) tests use.
pub fn nats_url() -> String {
    std::env::var("SWITCHBOARD_TEST_NATS_URL")
        .unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
}

/// A fresh, uniquely named database, dropped by [`TestDb::drop_db`].
#[derive(Debug)]
pub struct TestDb {
    /// Database name.
    pub name: String,
    /// URL of the database.
    pub url: String,
}

impl TestDb {
    /// Creates a new empty database on the test server.
    pub async fn create() -> anyhow::Result<Self> {
        let admin = pg_admin_url();
        let mut conn = PgConnection::connect(&admin).await.with_context(|| {
            format!(
                "PostgreSQL is not reachable at {admin} (set SWITCHBOARD_TEST_PG_URL, or run .ci/run to start it)"
            )
        })?;
        let name = format!("sbtest_{}", Uuid::now_v7().simple());
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await?;
        let url = replace_db(&admin, &name);
        Ok(Self { name, url })
    }

    /// A pool on the database, with `search_path` set to `schema`.
    pub async fn pool(&self, schema: &str) -> anyhow::Result<PgPool> {
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .after_connect({
                let schema = schema.to_owned();
                move |conn, _| {
                    let schema = schema.clone();
                    Box::pin(async move {
                        sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query(&format!("SET search_path TO {schema}"))
                            .execute(&mut *conn)
                            .await?;
                        Ok(())
                    })
                }
            })
            .connect(&self.url)
            .await?;
        Ok(pool)
    }

    /// Drops the database (closing other sessions).
    pub async fn drop_db(self) -> anyhow::Result<()> {
        let mut conn = PgConnection::connect(&pg_admin_url()).await?;
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&mut conn)
        .await?;
        Ok(())
    }
}

fn replace_db(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let base = match base.rfind('/') {
        Some(i) if i > "postgres://".len() => &base[..i],
        _ => base,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

/// A unique subject prefix and stream name for one test, so tests share the
/// NATS server without seeing each other's events.
#[derive(Debug, Clone)]
pub struct TestStream {
    /// Subject prefix (`events.subject_prefix`).
    pub prefix: String,
    /// Stream name (`events.stream`).
    pub stream: String,
}

impl TestStream {
    /// A new unique prefix and stream name.
    pub fn unique() -> Self {
        let id = Uuid::now_v7().simple().to_string();
        Self {
            prefix: format!("sbt{id}"),
            stream: format!("SBT{}", id.to_uppercase()),
        }
    }

    /// Deletes the stream and its dead letters from `url`'s server, if
    /// they exist.
    pub async fn delete(&self, url: &str) -> anyhow::Result<()> {
        let client = connect_nats(url).await?;
        let js = async_nats::jetstream::new(client);
        let _ = js.delete_stream(&self.stream).await;
        let _ = js.delete_stream(format!("{}_DLQ", self.stream)).await;
        Ok(())
    }
}

/// Connects to NATS, failing with a message that names the server.
pub async fn connect_nats(url: &str) -> anyhow::Result<async_nats::Client> {
    async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(3))
        .connect(url)
        .await
        .with_context(|| {
            format!("NATS is not reachable at {url} (set SWITCHBOARD_TEST_NATS_URL, or run .ci/run to start it with JetStream)")
        })
}

/// The `SWITCHBOARD__*` environment of a process under test: given database,
/// NATS and stream, an ephemeral gRPC port, metrics off, a short drain, and
/// rate limits still checked (in Redis, under the stream's prefix) but far
/// above what any test sends from one caller and one address (tests of the
/// limits set their own).
pub fn test_env(db_url: &str, nats_url: &str, stream: &TestStream) -> Vec<(String, String)> {
    [
        ("SWITCHBOARD__GRPC__LISTEN", "127.0.0.1:0"),
        ("SWITCHBOARD__METRICS__LISTEN", ""),
        ("SWITCHBOARD__DATABASE__URL", db_url),
        ("SWITCHBOARD__DATABASE__MAX_CONNECTIONS", "8"),
        ("SWITCHBOARD__NATS__URL", nats_url),
        ("SWITCHBOARD__EVENTS__STREAM", &stream.stream),
        ("SWITCHBOARD__EVENTS__SUBJECT_PREFIX", &stream.prefix),
        ("SWITCHBOARD__EVENTS__RELAY_POLL_INTERVAL_MS", "20"),
        ("SWITCHBOARD__SHUTDOWN__GRACE_SECONDS", "5"),
        ("SWITCHBOARD__AUTH__JWT_SECRET", TEST_JWT_SECRET),
        ("SWITCHBOARD__LIMITS__CALLER__PER_SECOND", UNLIMITED),
        ("SWITCHBOARD__LIMITS__CALLER__BURST", UNLIMITED),
        ("SWITCHBOARD__LIMITS__TENANT__PER_SECOND", UNLIMITED),
        ("SWITCHBOARD__LIMITS__TENANT__BURST", UNLIMITED),
        ("SWITCHBOARD__LIMITS__FAILED_AUTH__PER_SECOND", UNLIMITED),
        ("SWITCHBOARD__LIMITS__FAILED_AUTH__BURST", UNLIMITED),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .chain([(
        "SWITCHBOARD__ATTACHMENTS__LOCAL_DIR".to_owned(),
        attachments_dir(stream).display().to_string(),
    )])
    .collect()
}

/// The highest rate and burst a limit may name: no test comes near it.
const UNLIMITED: &str = "1000000";

/// The attachment directory of the test that owns `stream`.
pub fn attachments_dir(stream: &TestStream) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("switchboard-test-{}", stream.prefix))
}

/// Settings built from [`test_env`], for services run inside the test.
pub fn settings(db_url: &str, nats_url: &str, stream: &TestStream) -> Settings {
    Settings::load_with_vars(None, test_env(db_url, nats_url, stream))
        .expect("test settings are valid")
}

/// The signing key [`settings`] configures.
pub const TEST_JWT_SECRET: &str = "switchboard-test-secret-0123456789abcdef";

/// A `nats-server` process of the test's own, on a free port with its own
/// JetStream directory, that can be stopped and started again.
pub struct NatsServer {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

impl NatsServer {
    /// Starts a server and waits until it accepts connections.
    pub async fn start() -> anyhow::Result<Self> {
        let port = free_port()?;
        let mut server = Self {
            child: None,
            port,
            dir: tempfile::tempdir()?,
        };
        server.restart().await?;
        Ok(server)
    }

    /// The server's URL.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills the server (as a crash would).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and store.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.stop();
        let binary = nats_server_binary();
        let child = Command::new(&binary)
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| {
                format!(
                    "cannot start {} (install nats-server, or set SWITCHBOARD_TEST_NATS_SERVER)",
                    binary.display()
                )
            })?;
        self.child = Some(child);
        let url = self.url();
        wait_for(
            Duration::from_secs(10),
            "private nats-server to accept connections",
            || {
                let url = url.clone();
                async move { connect_nats(&url).await.is_ok() }
            },
        )
        .await
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn nats_server_binary() -> PathBuf {
    if let Ok(path) = std::env::var("SWITCHBOARD_TEST_NATS_SERVER") {
        return PathBuf::from(path);
    }
    for candidate in [
        "/usr/sbin/nats-server",
        "/usr/local/bin/nats-server",
        "/usr/bin/nats-server",
    ] {
        if std::path::Path::new(candidate).exists() {
            return PathBuf::from(candidate);
        }
    }
    PathBuf::from("nats-server")
}

/// One message read back from a test stream.
#[derive(Debug, Clone)]
pub struct StreamMessage {
    /// The subject it was published on.
    pub subject: String,
    /// Its `Nats-Msg-Id` header, empty when absent.
    pub msg_id: String,
    /// The raw payload.
    pub payload: bytes::Bytes,
}

/// Reads exactly `expected` messages from `stream` in stream order, failing if
/// fewer arrive within 30 s of each other or any more follow within half a second.
pub async fn read_stream(
    nats_url: &str,
    stream: &str,
    expected: usize,
) -> anyhow::Result<Vec<StreamMessage>> {
    use async_nats::jetstream::{self, consumer};
    use futures::StreamExt;

    let js = jetstream::new(connect_nats(nats_url).await?);
    let consumer = js
        .get_stream(stream)
        .await?
        .create_consumer(consumer::pull::Config {
            ack_policy: consumer::AckPolicy::None,
            ..Default::default()
        })
        .await?;
    let mut messages = consumer.messages().await?;
    let mut out = Vec::new();
    while out.len() < expected {
        let next = tokio::time::timeout(Duration::from_secs(30), messages.next())
            .await
            .map_err(|_| anyhow::anyhow!("only {} of {expected} events arrived", out.len()))?;
        let m = next.context("stream closed")??;
        let msg_id = m
            .headers
            .as_ref()
            .and_then(|h| h.get("Nats-Msg-Id"))
            .map(|v| v.to_string())
            .unwrap_or_default();
        out.push(StreamMessage {
            subject: m.subject.to_string(),
            msg_id,
            payload: m.payload.clone(),
        });
    }
    let extra = tokio::time::timeout(Duration::from_millis(500), messages.next()).await;
    anyhow::ensure!(extra.is_err(), "more than {expected} events on the stream");
    Ok(out)
}

/// A TCP port nothing listens on right now.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Polls `check` every 20 ms until it is true, failing after `deadline`.
pub async fn wait_for<F, Fut>(deadline: Duration, what: &str, mut check: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return Ok(());
        }
        if start.elapsed() > deadline {
            bail!("timed out after {deadline:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_is_replaced_in_urls() {
        assert_eq!(
            replace_db("postgres://postgres@127.0.0.1:5432/postgres", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            replace_db("postgres://u@h/postgres?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(replace_db("postgres://u@h", "x"), "postgres://u@h/x");
    }
}
