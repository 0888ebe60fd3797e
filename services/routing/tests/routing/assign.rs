//! Assignment by rules, skills and languages; the queue; freeing capacity.

use std::time::{Duration, Instant};

use switchboard_proto::routing::v1::routing_service_client::RoutingServiceClient;

use prost_types::FieldMask;
use switchboard_proto::{
    common::v1::{Channel as Ch, Condition, ConditionValue, Conditions, condition_value::Kind},
    events::v1::envelope::Payload,
    routing::v1::{self as pb, Presence},
    ticket::v1 as tpb,
};
use switchboard_runtime::Role;
use tonic::{Code, transport::Channel};
use tonic_types::StatusExt;

use crate::helpers::*;

fn cond(field: &str, op: &str, text: &str) -> Condition {
    Condition {
        field: field.into(),
        operator: op.into(),
        value: Some(ConditionValue {
            kind: Some(Kind::Text(text.into())),
        }),
    }
}

fn rule(name: &str, all: Vec<Condition>, group: &str, skills: &[(&str, i32)]) -> pb::RoutingRule {
    pb::RoutingRule {
        name: name.into(),
        enabled: true,
        conditions: Some(Conditions { all, any: vec![] }),
        actions: Some(pb::RoutingActions {
            group: group.into(),
            required_skills: skills
                .iter()
                .map(|(n, l)| pb::Skill {
                    name: (*n).into(),
                    level: *l,
                })
                .collect(),
            ..Default::default()
        }),
    }
}

/// One catch-all rule that sends every ticket to `group`.
async fn route_everything_to(
    r: &mut RoutingServiceClient<Channel>,
    admin: &str,
    group: &str,
) -> anyhow::Result<()> {
    let rules = pb::RoutingRules {
        rules: vec![rule("all", vec![], group, &[])],
        version: 0,
    };
    r.update_routing_rules(authed(
        pb::UpdateRoutingRulesRequest { rules: Some(rules) },
        admin,
    ))
    .await?;
    Ok(())
}

#[tokio::test]
async fn new_tickets_go_to_the_agent_the_rules_skills_and_languages_pick() -> anyhow::Result<()> {
    let mut desk = Desk::new().await?;
    desk.routing(Duration::from_secs(60)).await?;
    let admin = desk.admin.clone();
    let mut r = desk.routing_client(0).await;
    for g in ["billing", "support"] {
        group(&mut r, &admin, plain_group(g)).await?;
    }
    add_agent(
        &mut r,
        &admin,
        agent("ann", &["billing"], &[("refunds", 2)], &["en"], 5, 2),
    )
    .await?;
    add_agent(
        &mut r,
        &admin,
        agent("bob", &["billing"], &[("refunds", 4)], &["en"], 5, 2),
    )
    .await?;
    add_agent(
        &mut r,
        &admin,
        agent("dora", &["support"], &[], &["de"], 5, 2),
    )
    .await?;
    add_agent(
        &mut r,
        &admin,
        agent("eve", &["support"], &[], &["en"], 5, 2),
    )
    .await?;
    for u in ["ann", "bob", "dora", "eve"] {
        presence(&mut r, &admin, u, Presence::Online).await?;
    }
    let rules = pb::RoutingRules {
        rules: vec![
            rule(
                "refunds",
                vec![cond("subject", "contains_any_word", "refund chargeback")],
                "billing",
                &[("refunds", 3)],
            ),
            rule("everything else", vec![], "support", &[]),
        ],
        version: 0,
    };
    r.update_routing_rules(authed(
        pb::UpdateRoutingRulesRequest { rules: Some(rules) },
        &admin,
    ))
    .await?;

    let agent_token = desk.token("eve", Role::Agent);
    let mut t = desk.tickets().await;
    let started = Instant::now();
    let refund = ticket(&mut t, &agent_token, "Refund for order 42", Ch::Email, None).await?;
    let got = assigned(&t, &agent_token, &refund.name).await?;
    println!("ticket.created -> assigned in {:?}", started.elapsed());
    assert_eq!(
        got.assignee, "bob",
        "only bob has refunds at level 3 or more"
    );
    assert_eq!(got.group, "billing");

    let german = ticket(
        &mut t,
        &agent_token,
        "Drucker kaputt",
        Ch::Chat,
        Some("de-CH"),
    )
    .await?;
    assert_eq!(
        assigned(&t, &agent_token, &german.name).await?.assignee,
        "dora",
        "the German speaker"
    );
    let english = ticket(&mut t, &agent_token, "Printer broken", Ch::Chat, Some("en")).await?;
    assert_eq!(
        assigned(&t, &agent_token, &english.name).await?.assignee,
        "eve"
    );

    let events = desk.wait_events("routing.assigned", 3).await?;
    let Some(Payload::RoutingAssigned(first)) = &events[0].payload else {
        panic!("payload")
    };
    assert_eq!(
        (
            first.assignee.as_str(),
            first.rule.as_str(),
            first.reason.as_str()
        ),
        ("bob", "refunds", "rule")
    );
    assert_eq!(first.ticket, refund.name);

    let bob = r
        .get_agent(authed(
            pb::GetAgentRequest {
                name: "agents/bob".into(),
            },
            &agent_token,
        ))
        .await?
        .into_inner();
    assert_eq!(bob.presence, Presence::Online as i32);
    assert_eq!(
        bob.load,
        [pb::ChannelLoad {
            channel: Ch::Email as i32,
            load: 1
        }]
    );
    desk.stop().await
}

#[tokio::test]
async fn with_nobody_online_tickets_queue_and_go_out_as_agents_come_online_or_finish()
-> anyhow::Result<()> {
    let mut desk = Desk::new().await?;
    // Only the triggers under test hand out the one seat: a queue retry
    // racing them could give it to the newer ticket (the queue's order is
    // kept by each trigger, not across concurrent ones).
    desk.routing_sweeping(Duration::from_secs(60), Duration::from_secs(3600))
        .await?;
    let admin = desk.admin.clone();
    let mut r = desk.routing_client(0).await;
    group(&mut r, &admin, plain_group("support")).await?;
    add_agent(
        &mut r,
        &admin,
        agent("ann", &["support"], &[], &["en"], 1, 1),
    )
    .await?;
    route_everything_to(&mut r, &admin, "support").await?;

    let token = desk.token("ann", Role::Agent);
    let mut t = desk.tickets().await;
    let first = ticket(&mut t, &token, "First", Ch::Email, None).await?;
    let second = ticket(&mut t, &token, "Second", Ch::Email, None).await?;
    // Each names the group's agents, whom notification tells.
    for e in desk.wait_events("routing.queued", 2).await? {
        let Some(Payload::RoutingQueued(q)) = &e.payload else {
            panic!("not a routing.queued payload: {e:?}")
        };
        assert_eq!(q.members, ["ann"]);
    }
    let queue = r
        .get_queue(authed(
            pb::GetQueueRequest {
                group: "groups/support".into(),
            },
            &token,
        ))
        .await?
        .into_inner();
    assert_eq!((queue.waiting, queue.agents_offline), (2, 1));
    let waiting = get(&mut t, &token, &first.name).await?;
    assert!(waiting.assignee.is_empty());
    assert_eq!(waiting.group, "support", "the ticket shows where it waits");

    // Online with room for one email: the older ticket goes first, once
    // routing has handled the events of showing the group on both (a late
    // one would route its ticket again, racing the drain).
    desk.wait_events("ticket.assigned", 2).await?;
    desk.routing_idle().await?;
    presence(&mut r, &admin, "ann", Presence::Online).await?;
    assert_eq!(assigned(&t, &token, &first.name).await?.assignee, "ann");
    let queue = r
        .get_queue(authed(
            pb::GetQueueRequest {
                group: "groups/support".into(),
            },
            &token,
        ))
        .await?
        .into_inner();
    assert_eq!(
        (queue.waiting, queue.agents_busy, queue.load),
        (1, 1, 1),
        "{queue:?}"
    );
    assert!(
        get(&mut t, &token, &second.name).await?.assignee.is_empty(),
        "ann is at capacity"
    );

    // Solving the first frees ann for the second.
    let current = get(&mut t, &token, &first.name).await?;
    t.update_ticket(authed(
        tpb::UpdateTicketRequest {
            ticket: Some(tpb::Ticket {
                name: first.name.clone(),
                status: tpb::TicketStatus::Solved as i32,
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["status".into()],
            }),
            expected_version: current.version,
        },
        &token,
    ))
    .await?;
    assert_eq!(assigned(&t, &token, &second.name).await?.assignee, "ann");
    let assigned_events = desk.wait_events("routing.assigned", 2).await?;
    assert!(assigned_events.iter().all(|e| matches!(&e.payload, Some(Payload::RoutingAssigned(a)) if a.reason == "queue" && a.waited_ms > 0)));
    desk.stop().await
}

#[tokio::test]
async fn away_agents_pull_work_with_claim_next() -> anyhow::Result<()> {
    let mut desk = Desk::new().await?;
    desk.routing(Duration::from_secs(60)).await?;
    let admin = desk.admin.clone();
    let mut r = desk.routing_client(0).await;
    group(&mut r, &admin, plain_group("support")).await?;
    add_agent(
        &mut r,
        &admin,
        agent("ann", &["support"], &[], &["en"], 5, 5),
    )
    .await?;
    route_everything_to(&mut r, &admin, "support").await?;
    let ann = desk.token("ann", Role::Agent);

    let err = r
        .claim_next(authed(pb::ClaimNextRequest::default(), &ann))
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Code::FailedPrecondition,
        "offline agents cannot claim"
    );
    r.set_presence(authed(
        pb::SetPresenceRequest {
            presence: Presence::Away as i32,
            agent: String::new(),
        },
        &ann,
    ))
    .await?;
    let mut t = desk.tickets().await;
    let chat = ticket(&mut t, &ann, "Chat", Ch::Chat, None).await?;
    let email = ticket(&mut t, &ann, "Mail", Ch::Email, None).await?;
    desk.wait_events("routing.queued", 2).await?;
    let got = claim(&mut r, &ann, vec![Ch::Email as i32]).await?;
    assert_eq!(got, email.name, "only email was asked for");
    assert_eq!(get(&mut t, &ann, &email.name).await?.assignee, "ann");
    assert!(get(&mut t, &ann, &chat.name).await?.assignee.is_empty());
    let got = claim(&mut r, &ann, vec![]).await?;
    assert_eq!(got, chat.name);
    let none = r
        .claim_next(authed(pb::ClaimNextRequest::default(), &ann))
        .await?
        .into_inner();
    assert_eq!(none.ticket, "", "nothing left");
    desk.stop().await
}

/// `ClaimNext` until it gives a ticket (for two seconds at most): the
/// replica's queue sweep leases a waiting ticket for a moment now and then,
/// and a claim in that moment finds nothing, as a person clicking again would.
async fn claim(
    r: &mut RoutingServiceClient<tonic::transport::Channel>,
    token: &str,
    channels: Vec<i32>,
) -> anyhow::Result<String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    loop {
        let got = r
            .claim_next(authed(
                pb::ClaimNextRequest {
                    channels: channels.clone(),
                },
                token,
            ))
            .await?
            .into_inner();
        if !got.ticket.is_empty() || tokio::time::Instant::now() > deadline {
            return Ok(got.ticket);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn admin_apis_validate_authorize_and_version() -> anyhow::Result<()> {
    let mut desk = Desk::new().await?;
    desk.routing(Duration::from_secs(60)).await?;
    let admin = desk.admin.clone();
    let agent_token = desk.token("ann", Role::Agent);
    let customer = desk.token("ada@example.com", Role::Customer);
    let mut r = desk.routing_client(0).await;

    let err = r
        .create_group(authed(
            pb::CreateGroupRequest {
                group: Some(plain_group("x")),
            },
            &agent_token,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let err = r
        .list_groups(authed(pb::ListGroupsRequest {}, &customer))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);

    let bad = pb::RoutingRules {
        rules: vec![rule(
            "bad",
            vec![cond("channel", "is", "fax"), cond("mood", "is", "x")],
            "",
            &[("refunds", 7)],
        )],
        version: 0,
    };
    let err = r
        .update_routing_rules(authed(
            pb::UpdateRoutingRulesRequest { rules: Some(bad) },
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let fields: Vec<String> = err
        .get_details_bad_request()
        .unwrap()
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect();
    for f in [
        "rules.rules[0].conditions.all[0].value",
        "rules.rules[0].conditions.all[1].field",
        "rules.rules[0].actions.group",
        "rules.rules[0].actions.required_skills[0].level",
    ] {
        assert!(fields.contains(&f.to_owned()), "{f} not in {fields:?}");
    }
    let saved = r
        .get_routing_rules(authed(pb::GetRoutingRulesRequest {}, &admin))
        .await?
        .into_inner();
    assert_eq!(
        (saved.rules.len(), saved.version),
        (0, 0),
        "a refused rule set changes nothing"
    );

    let err = r
        .create_agent(authed(
            pb::CreateAgentRequest {
                agent: Some(agent("x y", &["Bad"], &[("s", 0)], &["!"], -1, 2)),
            },
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(
        err.get_details_bad_request()
            .unwrap()
            .field_violations
            .len(),
        5,
        "{err:?}"
    );

    let created = add_agent(
        &mut r,
        &admin,
        agent("ann", &["support"], &[], &["en"], 2, 2),
    )
    .await?;
    let err = r
        .create_agent(authed(
            pb::CreateAgentRequest {
                agent: Some(agent("ann", &[], &[], &[], 1, 1)),
            },
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);
    let update = |version| pb::UpdateAgentRequest {
        agent: Some(pb::Agent {
            name: "agents/ann".into(),
            languages: vec!["fr".into()],
            ..Default::default()
        }),
        update_mask: Some(FieldMask {
            paths: vec!["languages".into()],
        }),
        expected_version: version,
    };
    let updated = r
        .update_agent(authed(update(created.version), &admin))
        .await?
        .into_inner();
    assert_eq!(
        (
            updated.languages.as_slice(),
            updated.version,
            updated.groups.len()
        ),
        (&["fr".to_owned()][..], 2, 1)
    );
    let err = r
        .update_agent(authed(update(created.version), &admin))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Aborted, "a stale version is refused");
    let err = r
        .get_agent(authed(
            pb::GetAgentRequest {
                name: "agents/nobody".into(),
            },
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = r
        .get_queue(authed(
            pb::GetQueueRequest {
                group: "groups/nope".into(),
            },
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = r
        .get_queue(authed(
            pb::GetQueueRequest {
                group: "nope".into(),
            },
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    desk.stop().await
}

#[tokio::test]
async fn a_waiting_ticket_a_person_moves_to_another_group_is_routed_there() -> anyhow::Result<()> {
    let mut desk = Desk::new().await?;
    desk.routing(Duration::from_secs(60)).await?;
    let admin = desk.admin.clone();
    let mut r = desk.routing_client(0).await;
    group(&mut r, &admin, plain_group("support")).await?;
    group(&mut r, &admin, plain_group("billing")).await?;
    add_agent(
        &mut r,
        &admin,
        agent("ann", &["support"], &[], &["en"], 1, 1),
    )
    .await?;
    add_agent(
        &mut r,
        &admin,
        agent("bob", &["billing"], &[], &["en"], 1, 1),
    )
    .await?;
    route_everything_to(&mut r, &admin, "support").await?;
    presence(&mut r, &admin, "bob", Presence::Online).await?;

    // Nobody in support is online: it waits there.
    let token = desk.token("bob", Role::Agent);
    let mut t = desk.tickets().await;
    let waiting = ticket(&mut t, &token, "Invoice twice", Ch::Email, None).await?;
    desk.wait_events("routing.queued", 1).await?;
    desk.routing_idle().await?;
    let shown = get(&mut t, &token, &waiting.name).await?;
    assert_eq!(
        (shown.group.as_str(), shown.assignee.as_str()),
        ("support", "")
    );

    // A person moves it, still unassigned, to billing: billing's agent gets it.
    t.assign_ticket(authed(
        tpb::AssignTicketRequest {
            name: waiting.name.clone(),
            assignee: String::new(),
            group: "billing".into(),
            expected_version: shown.version,
        },
        &admin,
    ))
    .await?;
    let moved = assigned(&t, &token, &waiting.name).await?;
    assert_eq!(
        (moved.group.as_str(), moved.assignee.as_str()),
        ("billing", "bob")
    );
    desk.stop().await
}
