//! One `switchboard serve` with its own database and stream, tokens of any
//! tenant, user and role, and calls by RPC name with JSON bodies.

use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use prost::Message;
use prost_reflect::DynamicMessage;
use serde_json::Value;
use switchboard_runtime::{Authenticator, Caller, Role, TenantId};
use switchboard_testkit::process::{Server, World};
use tonic::{Code, transport::Channel};

use crate::dynamic::{self, Reply};

/// Path of the binary cargo built for this test.
const BIN: &str = env!("CARGO_BIN_EXE_switchboard");

/// A running desk.
pub struct Desk {
    world: World,
    server: Server,
    /// A channel to the server.
    pub channel: Channel,
    auth: Authenticator,
}

impl Desk {
    /// Starts `switchboard serve` (all services) with extra `env` and waits
    /// until every service is SERVING.
    pub async fn start(env: &[(&str, &str)]) -> anyhow::Result<Self> {
        let world = World::new(BIN).await?;
        let server = world.serve(&[], env)?;
        let channel = server.channel().await?;
        server.wait_serving(&channel, "").await?;
        let settings = switchboard_testkit::settings(&world.db.url, &world.nats_url, &world.stream);
        Ok(Self {
            auth: Authenticator::hs256(&settings.auth.jwt_secret),
            world,
            server,
            channel,
        })
    }

    /// Another `switchboard serve` of the same world (database, stream,
    /// Redis), serving once it is SERVING, and a channel to it.
    pub async fn second_server(&self, env: &[(&str, &str)]) -> anyhow::Result<(Server, Channel)> {
        let server = self.world.serve(&[], env)?;
        let channel = server.channel().await?;
        server.wait_serving(&channel, "").await?;
        Ok((server, channel))
    }

    /// The test's database, stream and NATS server.
    pub fn world(&self) -> &World {
        &self.world
    }

    /// A bearer token for `user` of `tenant` acting as `role`.
    pub fn token(&self, tenant: &str, user: &str, role: Role) -> String {
        let tenant = TenantId::parse(tenant).expect("a valid tenant id");
        let caller = Caller::person(tenant, user, role);
        self.auth.issue(&caller, Duration::from_secs(3600))
    }

    /// A bearer token for `caller`, signed with the server's key.
    pub fn issue(&self, caller: &Caller) -> String {
        self.auth.issue(caller, Duration::from_secs(3600))
    }

    /// Calls `rpc` with the request `body` (protobuf JSON) and returns the
    /// response as JSON, failing unless the call succeeded.
    pub async fn call(&self, token: &str, rpc: &str, body: Value) -> anyhow::Result<Value> {
        let (reply, rpc) = self.try_call(token, rpc, body).await?;
        anyhow::ensure!(
            reply.code == Code::Ok,
            "{} failed: {}",
            rpc.name(),
            reply.summary()
        );
        let first = reply.items.first().cloned().unwrap_or_default();
        let message = DynamicMessage::decode(rpc.output(), first)?;
        Ok(serde_json::to_value(&message)?)
    }

    /// Calls `rpc` with the request `body` (protobuf JSON), whatever it answers.
    pub async fn try_call(
        &self,
        token: &str,
        rpc: &str,
        body: Value,
    ) -> anyhow::Result<(Reply, dynamic::Rpc)> {
        let rpc = dynamic::rpc(rpc);
        let request = dynamic::from_json(rpc.input(), &body)?;
        let bytes = Bytes::from(request.encode_to_vec());
        Ok((
            dynamic::call(&self.channel, &rpc, bytes, Some(token)).await,
            rpc,
        ))
    }

    /// Stops the server and drops the database and stream.
    pub async fn stop(self) -> anyhow::Result<()> {
        drop(self.channel);
        self.server
            .terminate(Duration::from_secs(15))
            .await
            .context("switchboard did not stop")?;
        self.world.drop().await
    }
}

/// `value[key]` as a string, or an error naming what was missing.
pub fn text(value: &Value, key: &str) -> anyhow::Result<String> {
    value
        .get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .with_context(|| format!("no `{key}` in {value}"))
}

/// `value[key]` as an integer (protobuf JSON writes int64 as a string).
pub fn int(value: &Value, key: &str) -> anyhow::Result<i64> {
    match value.get(key) {
        Some(Value::String(s)) => Ok(s.parse()?),
        Some(Value::Number(n)) => n.as_i64().context("an integer"),
        _ => anyhow::bail!("no `{key}` in {value}"),
    }
}
