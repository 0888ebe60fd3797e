//! Escalation on SLA alerts, by group policy.

use std::time::Duration;

use switchboard_events::{EventBuilder, Payload};
use switchboard_proto::{
    common::v1::{Channel as Ch, Priority},
    events::v1::{self as ev, envelope::Payload as P},
    routing::v1::{self as pb, Presence},
};
use switchboard_runtime::{Role, TenantId};

use crate::helpers::*;

#[tokio::test]
async fn a_breach_raises_priority_adds_a_follower_and_moves_the_ticket() -> anyhow::Result<()> {
    let mut desk = Desk::new().await?;
    desk.routing(Duration::from_secs(60)).await?;
    let admin = desk.admin.clone();
    let mut r = desk.routing_client(0).await;
    let mut billing = plain_group("billing");
    billing.on_breach = Some(pb::EscalationAction {
        raise_priority: true,
        reassign_group: "tier-2".into(),
        add_follower: "lead".into(),
        ..Default::default()
    });
    group(&mut r, &admin, billing).await?;
    group(&mut r, &admin, plain_group("tier-2")).await?;
    add_agent(
        &mut r,
        &admin,
        agent("ann", &["billing"], &[], &["en"], 5, 5),
    )
    .await?;
    add_agent(
        &mut r,
        &admin,
        agent("ted", &["tier-2"], &[], &["en"], 5, 5),
    )
    .await?;
    for u in ["ann", "ted"] {
        presence(&mut r, &admin, u, Presence::Online).await?;
    }
    let rules = pb::RoutingRules {
        rules: vec![pb::RoutingRule {
            name: "billing".into(),
            enabled: true,
            conditions: None,
            actions: Some(pb::RoutingActions {
                group: "billing".into(),
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
    let token = desk.token("ann", Role::Agent);
    let mut t = desk.tickets().await;
    let tk = ticket(&mut t, &token, "Invoice wrong", Ch::Email, None).await?;
    let before = assigned(&t, &token, &tk.name).await?;
    assert_eq!(before.assignee, "ann");

    // The ticket service's scanner would publish this when the due time passes.
    let tenant = TenantId::parse("acme").unwrap();
    let breach = EventBuilder::new(
        &tenant,
        "ticket",
        id_of(&tk.name).to_string(),
        before.version,
    )
    .build_as(
        "sla",
        "breached",
        Payload::SlaBreached(ev::SlaBreached {
            ticket: Some(before.clone()),
            target: ev::SlaTargetKind::FirstResponse as i32,
            due_time: None,
        }),
    );
    desk.publish(&breach).await?;
    let escalated = desk.wait_events("routing.escalated", 1).await?;
    let Some(P::RoutingEscalated(e)) = &escalated[0].payload else {
        panic!("payload")
    };
    assert_eq!(e.trigger, "sla.breached");
    assert_eq!(
        e.actions,
        ["raise_priority", "add_follower", "reassign_group"]
    );
    assert_eq!(
        (e.group.as_str(), e.new_group.as_str()),
        ("billing", "tier-2")
    );

    let after = assigned(&t, &token, &tk.name).await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let mut after = after;
    while after.assignee != "ted" {
        assert!(
            tokio::time::Instant::now() < deadline,
            "still with {}",
            after.assignee
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        after = get(&mut t, &token, &tk.name).await?;
    }
    assert_eq!(after.group, "tier-2");
    assert_eq!(after.priority, Priority::High as i32);
    assert!(after.followers.contains(&"lead".to_owned()));
    let ann = r
        .get_agent(authed(
            pb::GetAgentRequest {
                name: "agents/ann".into(),
            },
            &token,
        ))
        .await?
        .into_inner();
    assert!(
        ann.load.is_empty(),
        "ann no longer holds it: {:?}",
        ann.load
    );

    // Another alert about the same ticket follows tier-2's policy: none.
    let again = EventBuilder::new(
        &tenant,
        "ticket",
        id_of(&tk.name).to_string(),
        before.version,
    )
    .build_as(
        "sla",
        "breached",
        Payload::SlaBreached(ev::SlaBreached {
            ticket: Some(before.clone()),
            target: ev::SlaTargetKind::Resolution as i32,
            due_time: None,
        }),
    );
    desk.publish(&again).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        desk.events()
            .await?
            .iter()
            .filter(|e| e.r#type == "routing.escalated")
            .count(),
        1
    );
    desk.stop().await
}
