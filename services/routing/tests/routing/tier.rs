//! `customer.tier` rules: the requester's tier travels on the ticket, so a
//! gold customer's ticket reaches the VIP group without a lookup.

use std::time::Duration;

use prost_types::FieldMask;
use switchboard_proto::{
    common::v1::{Channel as Ch, Condition, ConditionValue, Conditions, condition_value::Kind},
    routing::v1::{self as pb, Presence},
    ticket::v1::{self as tpb, customer_service_client::CustomerServiceClient},
};
use switchboard_runtime::Role;
use tonic_types::StatusExt;

use crate::helpers::*;

fn tier_rule() -> pb::RoutingRule {
    pb::RoutingRule {
        name: "gold customers".into(),
        enabled: true,
        conditions: Some(Conditions {
            all: vec![Condition {
                field: "customer.tier".into(),
                operator: "is".into(),
                value: Some(ConditionValue {
                    kind: Some(Kind::Text("gold".into())),
                }),
            }],
            any: vec![],
        }),
        actions: Some(pb::RoutingActions {
            group: "vip".into(),
            ..Default::default()
        }),
    }
}

fn catch_all() -> pb::RoutingRule {
    pb::RoutingRule {
        name: "everyone else".into(),
        enabled: true,
        conditions: Some(Conditions::default()),
        actions: Some(pb::RoutingActions {
            group: "support".into(),
            ..Default::default()
        }),
    }
}

async fn open(
    t: &mut tpb::ticket_service_client::TicketServiceClient<tonic::transport::Channel>,
    token: &str,
    email: &str,
) -> anyhow::Result<tpb::Ticket> {
    Ok(t.create_ticket(authed(
        tpb::CreateTicketRequest {
            subject: "Where is my order?".into(),
            description: "It has been a week".into(),
            channel: Ch::Email as i32,
            requester: Some(tpb::Requester {
                email: email.into(),
                ..Default::default()
            }),
            ..Default::default()
        },
        token,
    ))
    .await?
    .into_inner())
}

#[tokio::test]
async fn a_gold_customers_ticket_goes_to_the_vip_group_by_the_tier_rule() -> anyhow::Result<()> {
    let mut desk = Desk::new().await?;
    desk.routing(Duration::from_secs(60)).await?;
    let admin = desk.admin.clone();
    let mut r = desk.routing_client(0).await;
    for g in ["vip", "support"] {
        group(&mut r, &admin, plain_group(g)).await?;
    }
    add_agent(&mut r, &admin, agent("vic", &["vip"], &[], &["en"], 5, 5)).await?;
    add_agent(
        &mut r,
        &admin,
        agent("sam", &["support"], &[], &["en"], 5, 5),
    )
    .await?;
    for u in ["vic", "sam"] {
        presence(&mut r, &admin, u, Presence::Online).await?;
    }
    r.update_routing_rules(authed(
        pb::UpdateRoutingRulesRequest {
            rules: Some(pb::RoutingRules {
                rules: vec![tier_rule(), catch_all()],
                version: 0,
            }),
        },
        &admin,
    ))
    .await?;

    // The first ticket makes ada a customer (no tier yet): support.
    let agent_token = desk.token("sam", Role::Agent);
    let mut t = desk.tickets().await;
    let first = open(&mut t, &agent_token, "ada@example.com").await?;
    assert_eq!(first.requester_tier, "");
    assert_eq!(
        assigned(&t, &agent_token, &first.name).await?.group,
        "support"
    );

    let mut customers = CustomerServiceClient::new(desk.ticket_channel().await);
    customers
        .update_customer(authed(
            tpb::UpdateCustomerRequest {
                customer: Some(tpb::Customer {
                    name: first.requester.clone(),
                    tier: "gold".into(),
                    ..Default::default()
                }),
                update_mask: Some(FieldMask {
                    paths: vec!["tier".into()],
                }),
            },
            &admin,
        ))
        .await?;

    let gold = open(&mut t, &agent_token, "ada@example.com").await?;
    assert_eq!(
        gold.requester_tier, "gold",
        "the tier is kept on the ticket"
    );
    let placed = assigned(&t, &agent_token, &gold.name).await?;
    assert_eq!(
        (placed.group.as_str(), placed.assignee.as_str()),
        ("vip", "vic")
    );

    let plain = open(&mut t, &agent_token, "bob@example.com").await?;
    let placed = assigned(&t, &agent_token, &plain.name).await?;
    assert_eq!(
        (placed.group.as_str(), placed.assignee.as_str()),
        ("support", "sam")
    );
    desk.stop().await
}

#[tokio::test]
async fn an_ordering_test_on_the_tier_is_refused_naming_the_condition() -> anyhow::Result<()> {
    let mut desk = Desk::new().await?;
    desk.routing(Duration::from_secs(60)).await?;
    let admin = desk.admin.clone();
    let mut r = desk.routing_client(0).await;
    let mut bad = tier_rule();
    bad.conditions = Some(Conditions {
        all: vec![Condition {
            field: "customer.tier".into(),
            operator: "gt".into(),
            value: Some(ConditionValue {
                kind: Some(Kind::Text("gold".into())),
            }),
        }],
        any: vec![],
    });
    let err = r
        .update_routing_rules(authed(
            pb::UpdateRoutingRulesRequest {
                rules: Some(pb::RoutingRules {
                    rules: vec![bad],
                    version: 0,
                }),
            },
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    let fields: Vec<String> = err
        .get_details_bad_request()
        .expect("field violations")
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert!(!fields.is_empty());
    assert!(
        fields
            .iter()
            .all(|f| f.starts_with("rules.rules[0].conditions.all[0]")),
        "{fields:?}"
    );
    let saved = r
        .get_routing_rules(authed(pb::GetRoutingRulesRequest {}, &admin))
        .await?
        .into_inner();
    assert!(saved.rules.is_empty(), "nothing was saved");
    desk.stop().await
}
