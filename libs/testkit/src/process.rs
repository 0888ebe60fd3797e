//! A `switchboard` process run as operators run it, in a world of its own: a
//! fresh database and a private stream.

use std::{
    process::{Child, Command, ExitStatus, Output, Stdio},
    time::{Duration, Instant},
};

use crate::{TestDb, TestStream, free_port, test_env, wait_for};
use anyhow::Context;
use tonic::transport::Channel;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

/// The isolated world one test (or benchmark) runs the binary in.
pub struct World {
    /// The `switchboard` binary.
    pub bin: std::path::PathBuf,
    /// Its database.
    pub db: TestDb,
    /// Its stream and subject prefix.
    pub stream: TestStream,
    /// The NATS server.
    pub nats_url: String,
}

impl World {
    /// A fresh database and stream for `bin`.
    pub async fn new(bin: impl Into<std::path::PathBuf>) -> anyhow::Result<Self> {
        Ok(Self {
            bin: bin.into(),
            db: TestDb::create().await?,
            stream: TestStream::unique(),
            nats_url: crate::nats_url(),
        })
    }

    /// A `switchboard` command with this world's environment.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.args(args)
            .env_remove("SWITCHBOARD_CONFIG")
            .env_remove("SWITCHBOARD_SERVICES")
            .envs(test_env(&self.db.url, &self.nats_url, &self.stream))
            .env("SWITCHBOARD__LOG__FORMAT", "json");
        cmd
    }

    /// Runs a short command to completion.
    pub fn run(&self, args: &[&str]) -> anyhow::Result<Output> {
        Ok(self.command(args).stdin(Stdio::null()).output()?)
    }

    /// Starts `switchboard serve <args>` on a free port with extra `env`.
    pub fn serve(&self, args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<Server> {
        let port = free_port()?;
        let mut all = vec!["serve"];
        all.extend_from_slice(args);
        let child = self
            .command(&all)
            .env("SWITCHBOARD__GRPC__LISTEN", format!("127.0.0.1:{port}"))
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .context("spawn switchboard serve")?;
        Ok(Server { child, port })
    }

    /// Deletes the stream and drops the database.
    pub async fn drop(self) -> anyhow::Result<()> {
        let _ = self.stream.delete(&self.nats_url).await;
        self.db.drop_db().await
    }
}

/// A running `switchboard serve`; killed if dropped without [`Server::terminate`].
pub struct Server {
    child: Child,
    /// The gRPC port.
    pub port: u16,
}

impl Server {
    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A channel, once the server accepts connections (up to 10 s).
    pub async fn channel(&self) -> anyhow::Result<Channel> {
        let mut last = None;
        for _ in 0..250 {
            match Channel::from_shared(self.url())?.connect().await {
                Ok(channel) => return Ok(channel),
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
        Err(last.expect("tried")).context("switchboard never accepted connections")
    }

    /// Waits until `grpc.health.v1.Health/Check` says SERVING for `service`.
    pub async fn wait_serving(&self, channel: &Channel, service: &str) -> anyhow::Result<()> {
        wait_for(
            Duration::from_secs(20),
            &format!("{service:?} SERVING"),
            || {
                let mut health = HealthClient::new(channel.clone());
                let service = service.to_owned();
                async move {
                    health
                        .check(HealthCheckRequest { service })
                        .await
                        .is_ok_and(|r| r.get_ref().status() == ServingStatus::Serving)
                }
            },
        )
        .await
    }

    /// The exit status if the process has exited, `None` while it runs.
    pub fn try_status(&mut self) -> anyhow::Result<Option<ExitStatus>> {
        Ok(self.child.try_wait()?)
    }

    /// Sends SIGTERM and waits up to `within` for the process to exit.
    ///
    /// Async on purpose: the drain sends HTTP/2 GOAWAY and a PING that this
    /// test's client connections must be polled to answer.
    pub async fn terminate(mut self, within: Duration) -> anyhow::Result<ExitStatus> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        anyhow::ensure!(status.success(), "kill -TERM failed");
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            anyhow::ensure!(
                start.elapsed() < within,
                "still running {within:?} after SIGTERM"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
