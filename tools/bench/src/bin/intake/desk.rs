//! The desk every ticket is routed into: tokens, one group of online agents
//! with a catch-all rule, heartbeats that keep them online, and cleanup of
//! routing's Redis keys.

use std::time::Duration;

use anyhow::Context;
use futures::{StreamExt, TryStreamExt};
use switchboard_proto::{
    common::v1::Channel as Ch,
    routing::v1::{self as pb, routing_service_client::RoutingServiceClient},
};
use switchboard_runtime::{Authenticator, Caller, Role, TenantId};
use switchboard_testkit::TEST_JWT_SECRET;
use tonic::{Request, transport::Channel};

/// The tenant every call acts in.
pub const TENANT: &str = "bench";
/// The group the catch-all rule routes to.
pub const GROUP: &str = "intake";
/// A bearer token of `user` in the bench tenant.
pub fn token(user: &str, role: Role) -> String {
    Authenticator::hs256(&secrecy::SecretString::from(TEST_JWT_SECRET)).issue(
        &Caller {
            tenant: TenantId::parse(TENANT).expect("valid"),
            user: user.into(),
            role,
            via: switchboard_runtime::auth::Via::Person,
        },
        Duration::from_secs(3600),
    )
}

pub fn authed<T>(message: T, token: &str) -> anyhow::Result<Request<T>> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    Ok(request)
}

/// One group, `agents` online in it with `seats` tickets each, and a rule
/// that sends every ticket there.
pub async fn setup(
    channel: &Channel,
    admin: &str,
    agents: &[String],
    seats: i32,
) -> anyhow::Result<()> {
    let mut routing = RoutingServiceClient::new(channel.clone());
    let group = pb::Group {
        name: format!("groups/{GROUP}"),
        ..Default::default()
    };
    routing
        .create_group(authed(
            pb::CreateGroupRequest { group: Some(group) },
            admin,
        )?)
        .await
        .context("CreateGroup")?;
    futures::stream::iter(agents.iter().map(|user| {
        let mut routing = routing.clone();
        async move {
            let agent = pb::Agent {
                name: format!("agents/{user}"),
                groups: vec![GROUP.into()],
                // UNSPECIFIED is the limit of every channel.
                capacity: vec![pb::ChannelCapacity {
                    channel: Ch::Unspecified as i32,
                    max: seats,
                }],
                ..Default::default()
            };
            routing
                .create_agent(authed(
                    pb::CreateAgentRequest { agent: Some(agent) },
                    admin,
                )?)
                .await
                .context("CreateAgent")?;
            let online = pb::SetPresenceRequest {
                presence: pb::Presence::Online as i32,
                agent: format!("agents/{user}"),
            };
            routing
                .set_presence(authed(online, admin)?)
                .await
                .context("SetPresence")?;
            anyhow::Ok(())
        }
    }))
    .buffer_unordered(16)
    .try_collect::<()>()
    .await?;
    let rules = pb::RoutingRules {
        rules: vec![pb::RoutingRule {
            name: "everything".into(),
            enabled: true,
            conditions: None,
            actions: Some(pb::RoutingActions {
                group: GROUP.into(),
                ..Default::default()
            }),
        }],
        version: 0,
    };
    routing
        .update_routing_rules(authed(
            pb::UpdateRoutingRulesRequest { rules: Some(rules) },
            admin,
        )?)
        .await
        .context("UpdateRoutingRules")?;
    Ok(())
}

/// Keeps every agent online past the heartbeat window (60 s by default),
/// whatever `--seconds` is.
pub async fn heartbeat(channel: Channel, agents: Vec<String>) {
    let tokens: Vec<String> = agents.iter().map(|u| token(u, Role::Agent)).collect();
    let mut routing = RoutingServiceClient::new(channel);
    loop {
        tokio::time::sleep(Duration::from_secs(20)).await;
        for token in &tokens {
            if let Ok(request) = authed(pb::HeartbeatRequest {}, token)
                && let Err(e) = routing.heartbeat(request).await
            {
                eprintln!("heartbeat failed: {e}");
            }
        }
    }
}

/// Drops the presence, load and hold keys routing kept under this run's prefix.
pub async fn forget_redis_keys(prefix: &str) {
    if let Ok(client) = redis::Client::open("redis://127.0.0.1:6379")
        && let Ok(mut conn) = client.get_multiplexed_async_connection().await
    {
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{prefix}:routing:*"))
            .query_async(&mut conn)
            .await
            .unwrap_or_default();
        if !keys.is_empty() {
            let _: Result<(), _> = redis::cmd("DEL").arg(keys).query_async(&mut conn).await;
        }
    }
}
