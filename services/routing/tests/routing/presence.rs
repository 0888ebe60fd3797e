//! Presence, heartbeats and the queue dashboard stream.

use std::time::Duration;

use futures::StreamExt;
use switchboard_proto::{
    common::v1::Channel as Ch,
    events::v1::envelope::Payload,
    routing::v1::{self as pb, Presence},
};
use switchboard_runtime::Role;

use crate::helpers::*;

#[tokio::test]
async fn a_missed_heartbeat_makes_an_agent_offline_and_their_tickets_return() -> anyhow::Result<()>
{
    let mut desk = Desk::new().await?;
    desk.routing(Duration::from_secs(1)).await?;
    let admin = desk.admin.clone();
    let mut r = desk.routing_client(0).await;
    let mut support = plain_group("support");
    support.offline_policy = pb::OfflinePolicy::Return as i32;
    group(&mut r, &admin, support).await?;
    add_agent(
        &mut r,
        &admin,
        agent("ann", &["support"], &[], &["en"], 5, 5),
    )
    .await?;
    add_agent(
        &mut r,
        &admin,
        agent("bob", &["support"], &[], &["en"], 5, 5),
    )
    .await?;
    let rules = pb::RoutingRules {
        rules: vec![pb::RoutingRule {
            name: "all".into(),
            enabled: true,
            conditions: None,
            actions: Some(pb::RoutingActions {
                group: "support".into(),
                ..Default::default()
            }),
        }],
        version: 0,
    };
    r.update_routing_rules(authed(
        pb::UpdateRoutingRulesRequest { rules: Some(rules) },
        &admin,
    ))
    .await?;
    let ann = desk.token("ann", Role::Agent);
    let bob = desk.token("bob", Role::Agent);
    r.set_presence(authed(
        pb::SetPresenceRequest {
            presence: Presence::Online as i32,
            agent: String::new(),
        },
        &ann,
    ))
    .await?;
    let mut t = desk.tickets().await;
    let tk = ticket(&mut t, &ann, "Help", Ch::Email, None).await?;
    assert_eq!(assigned(&t, &ann, &tk.name).await?.assignee, "ann");

    // Bob keeps his heartbeat up; ann stops.
    r.set_presence(authed(
        pb::SetPresenceRequest {
            presence: Presence::Online as i32,
            agent: String::new(),
        },
        &bob,
    ))
    .await?;
    let beats = tokio::spawn({
        let (mut r, bob) = (r.clone(), bob.clone());
        async move {
            for _ in 0..20 {
                let _ = r.heartbeat(authed(pb::HeartbeatRequest {}, &bob)).await;
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    });
    let missed = desk.wait_events("agent.status_changed", 3).await?;
    let Some(Payload::AgentStatusChanged(change)) = &missed[2].payload else {
        panic!("payload")
    };
    assert_eq!(
        (change.agent.as_str(), change.reason.as_str()),
        ("agents/ann", "heartbeat_missed")
    );
    assert_eq!(
        (change.from, change.to),
        (Presence::Online as i32, Presence::Offline as i32)
    );
    let got = r
        .get_agent(authed(
            pb::GetAgentRequest {
                name: "agents/ann".into(),
            },
            &ann,
        ))
        .await?
        .into_inner();
    assert_eq!(got.presence, Presence::Offline as i32);
    let late = r
        .heartbeat(authed(pb::HeartbeatRequest {}, &ann))
        .await
        .unwrap_err();
    assert_eq!(
        late.code(),
        tonic::Code::FailedPrecondition,
        "a late heartbeat does not bring her back: {late:?}"
    );

    // The group returns an offline agent's tickets: bob, still beating, gets it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let now = get(&mut t, &ann, &tk.name).await?;
        if now.assignee == "bob" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "ticket still with {:?}",
            now.assignee
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let bob_agent = r
        .get_agent(authed(
            pb::GetAgentRequest {
                name: "agents/bob".into(),
            },
            &bob,
        ))
        .await?
        .into_inner();
    assert_eq!(
        bob_agent.presence,
        Presence::Online as i32,
        "heartbeats kept bob online"
    );
    let ann_agent = r
        .get_agent(authed(
            pb::GetAgentRequest {
                name: "agents/ann".into(),
            },
            &ann,
        ))
        .await?
        .into_inner();
    assert!(
        ann_agent.load.is_empty(),
        "ann's load was released: {:?}",
        ann_agent.load
    );
    beats.abort();
    desk.stop().await
}

#[tokio::test]
async fn an_offline_agents_heartbeat_is_refused_and_changes_nothing() -> anyhow::Result<()> {
    let mut desk = Desk::new().await?;
    desk.routing(Duration::from_secs(30)).await?;
    let admin = desk.admin.clone();
    let mut r = desk.routing_client(0).await;
    group(&mut r, &admin, plain_group("support")).await?;
    add_agent(
        &mut r,
        &admin,
        agent("ann", &["support"], &[], &["en"], 5, 5),
    )
    .await?;
    let ann = desk.token("ann", Role::Agent);
    let refused = r
        .heartbeat(authed(pb::HeartbeatRequest {}, &ann))
        .await
        .unwrap_err();
    assert_eq!(
        refused.code(),
        tonic::Code::FailedPrecondition,
        "{refused:?}"
    );
    assert!(
        refused.message().contains("SetPresence"),
        "{}",
        refused.message()
    );
    assert_eq!(
        presence_of(&mut r, &ann, "agents/ann").await?,
        Presence::Offline as i32
    );

    // Once online, heartbeats keep her there.
    r.set_presence(authed(
        pb::SetPresenceRequest {
            presence: Presence::Online as i32,
            agent: String::new(),
        },
        &ann,
    ))
    .await?;
    let beat = r
        .heartbeat(authed(pb::HeartbeatRequest {}, &ann))
        .await?
        .into_inner();
    assert_eq!(beat.presence, Presence::Online as i32);
    assert!(beat.expire_time.is_some());
    assert_eq!(
        presence_of(&mut r, &ann, "agents/ann").await?,
        Presence::Online as i32
    );
    desk.stop().await
}

#[tokio::test]
async fn the_queue_stream_sends_changes() -> anyhow::Result<()> {
    let mut desk = Desk::new().await?;
    desk.routing(Duration::from_secs(60)).await?;
    let admin = desk.admin.clone();
    let mut r = desk.routing_client(0).await;
    group(&mut r, &admin, plain_group("support")).await?;
    add_agent(
        &mut r,
        &admin,
        agent("ann", &["support"], &[], &["en"], 1, 1),
    )
    .await?;
    let mut watch = r
        .watch_queue(authed(
            pb::WatchQueueRequest {
                group: "groups/support".into(),
            },
            &admin,
        ))
        .await?
        .into_inner();
    let first = watch.next().await.unwrap()?;
    assert_eq!(
        (first.waiting, first.agents_offline, first.agents_online),
        (0, 1, 0)
    );
    presence(&mut r, &admin, "ann", Presence::Online).await?;
    let next = tokio::time::timeout(Duration::from_secs(10), watch.next())
        .await?
        .unwrap()?;
    assert_eq!(
        (next.agents_online, next.agents_offline, next.capacity),
        (1, 0, 2),
        "{next:?}"
    );
    desk.stop().await
}

async fn presence_of(
    r: &mut pb::routing_service_client::RoutingServiceClient<tonic::transport::Channel>,
    token: &str,
    name: &str,
) -> anyhow::Result<i32> {
    Ok(
        r.get_agent(authed(pb::GetAgentRequest { name: name.into() }, token))
            .await?
            .into_inner()
            .presence,
    )
}

#[tokio::test]
async fn a_callers_queue_streams_past_the_cap_are_refused_and_a_freed_slot_is_reusable()
-> anyhow::Result<()> {
    let mut desk = Desk::new().await?;
    desk.routing(Duration::from_secs(60)).await?;
    let admin = desk.admin.clone();
    let mut r = desk.routing_client(0).await;
    group(&mut r, &admin, plain_group("support")).await?;
    let watch = || {
        authed(
            pb::WatchQueueRequest {
                group: "groups/support".into(),
            },
            &admin,
        )
    };
    let mut open = Vec::new();
    for _ in 0..desk.settings.streams.max_per_caller {
        open.push(r.watch_queue(watch()).await?.into_inner());
    }
    let refused = r.watch_queue(watch()).await.unwrap_err();
    assert_eq!(
        refused.code(),
        tonic::Code::ResourceExhausted,
        "{refused:?}"
    );
    assert!(refused.message().contains("max_per_caller"), "{refused:?}");

    open.pop();
    switchboard_testkit::wait_for(Duration::from_secs(10), "the dropped stream's slot", || {
        let mut r = r.clone();
        let request = watch();
        async move { r.watch_queue(request).await.is_ok() }
    })
    .await?;
    desk.stop().await
}
