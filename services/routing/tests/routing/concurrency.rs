//! Two routing replicas, many small agents, hundreds of tickets at once.

use std::{collections::HashMap, time::Duration};

use futures::future::join_all;
use switchboard_proto::{
    common::v1::Channel as Ch,
    events::v1::envelope::Payload,
    routing::v1::{self as pb, Presence},
};
use switchboard_runtime::Role;

use crate::helpers::*;

const AGENTS: usize = 30;
const CAPACITY: i32 = 3;
const TICKETS: usize = 300;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_never_overfill_an_agent_nor_assign_a_ticket_twice() -> anyhow::Result<()> {
    let mut desk = Desk::new().await?;
    desk.routing(Duration::from_secs(120)).await?;
    desk.routing(Duration::from_secs(120)).await?;
    let admin = desk.admin.clone();
    let mut r = desk.routing_client(0).await;
    let mut rr = plain_group("support");
    rr.strategy = pb::Strategy::RoundRobin as i32;
    group(&mut r, &admin, plain_group("sales")).await?;
    group(&mut r, &admin, rr).await?;
    for i in 0..AGENTS {
        // Half the agents in each group, so both strategies race.
        let g = if i % 2 == 0 { "sales" } else { "support" };
        add_agent(
            &mut r,
            &admin,
            agent(&format!("agent-{i:02}"), &[g], &[], &["en"], CAPACITY, 1),
        )
        .await?;
        presence(&mut r, &admin, &format!("agent-{i:02}"), Presence::Online).await?;
    }
    let rules = pb::RoutingRules {
        rules: vec![
            pb::RoutingRule {
                name: "sales".into(),
                enabled: true,
                conditions: Some(switchboard_proto::common::v1::Conditions {
                    all: vec![switchboard_proto::common::v1::Condition {
                        field: "subject".into(),
                        operator: "contains".into(),
                        value: Some(switchboard_proto::common::v1::ConditionValue {
                            kind: Some(switchboard_proto::common::v1::condition_value::Kind::Text(
                                "buy".into(),
                            )),
                        }),
                    }],
                    any: vec![],
                }),
                actions: Some(pb::RoutingActions {
                    group: "sales".into(),
                    ..Default::default()
                }),
            },
            pb::RoutingRule {
                name: "rest".into(),
                enabled: true,
                conditions: None,
                actions: Some(pb::RoutingActions {
                    group: "support".into(),
                    ..Default::default()
                }),
            },
        ],
        version: 0,
    };
    r.update_routing_rules(authed(
        pb::UpdateRoutingRulesRequest { rules: Some(rules) },
        &admin,
    ))
    .await?;

    let token = desk.token("agent-00", Role::Agent);
    let t = desk.tickets().await;
    let created = join_all((0..TICKETS).map(|i| {
        let (mut t, token) = (t.clone(), token.clone());
        async move {
            let subject = if i % 2 == 0 {
                format!("I want to buy {i}")
            } else {
                format!("Broken {i}")
            };
            ticket(&mut t, &token, &subject, Ch::Email, None).await
        }
    }))
    .await
    .into_iter()
    .collect::<Result<Vec<_>, _>>()?;

    // Every ticket ends assigned or queued: 15 agents of 3 per group.
    let slots = AGENTS * CAPACITY as usize;
    let expect_assigned = slots.min(TICKETS);
    let assigned_events = desk
        .wait_events("routing.assigned", expect_assigned)
        .await?;
    let queued_events = desk
        .wait_events("routing.queued", TICKETS - expect_assigned)
        .await?;
    tokio::time::sleep(Duration::from_secs(1)).await;

    let mut t = t;
    let mut per_agent: HashMap<String, usize> = HashMap::new();
    let mut unassigned = 0;
    for tk in &created {
        let now = get(&mut t, &token, &tk.name).await?;
        if now.assignee.is_empty() {
            unassigned += 1;
        } else {
            *per_agent.entry(now.assignee).or_default() += 1;
        }
    }
    let over: Vec<_> = per_agent
        .iter()
        .filter(|(_, n)| **n > CAPACITY as usize)
        .collect();
    assert!(over.is_empty(), "agents over capacity: {over:?}");
    assert_eq!(per_agent.values().sum::<usize>(), expect_assigned);
    assert_eq!(unassigned, TICKETS - expect_assigned);

    let events = desk.events().await?;
    let mut assignments: HashMap<String, usize> = HashMap::new();
    for e in &events {
        if let Some(Payload::TicketAssigned(a)) = &e.payload
            && a.ticket.as_ref().is_some_and(|t| !t.assignee.is_empty())
        {
            *assignments.entry(e.aggregate_id.clone()).or_default() += 1;
        }
    }
    assert!(
        assignments.values().all(|n| *n == 1),
        "a ticket was assigned twice"
    );
    assert_eq!(assignments.len(), expect_assigned);
    let routed: std::collections::HashSet<String> = assigned_events
        .iter()
        .map(|e| e.aggregate_id.clone())
        .collect();
    assert_eq!(
        routed.len(),
        assigned_events.len(),
        "one routing.assigned per ticket"
    );
    let queued: std::collections::HashSet<String> = queued_events
        .iter()
        .map(|e| e.aggregate_id.clone())
        .collect();
    assert_eq!(
        queued.len(),
        queued_events.len(),
        "one routing.queued per stay"
    );

    let mut waiting = 0;
    for g in ["sales", "support"] {
        let q = r
            .get_queue(authed(
                pb::GetQueueRequest {
                    group: format!("groups/{g}"),
                },
                &token,
            ))
            .await?
            .into_inner();
        assert_eq!((q.agents_busy, q.load), (15, 45), "{q:?}");
        waiting += q.waiting;
    }
    assert_eq!(
        waiting as usize,
        TICKETS - expect_assigned,
        "the rest wait in their queues"
    );
    desk.stop().await
}
