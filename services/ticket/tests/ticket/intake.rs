//! Intake rules over gRPC: validated on save, applied at creation.

use switchboard_proto::{
    common::v1::{Condition, ConditionValue, Conditions, Priority, condition_value::Kind},
    ticket::v1::{
        CreateTicketRequest, GetIntakeRulesRequest, IntakeActions, IntakeRule, IntakeRules,
        Requester, UpdateIntakeRulesRequest,
    },
};
use switchboard_runtime::Role;
use switchboard_testkit::nats_url;
use tonic::Code;
use tonic_types::StatusExt;

use crate::helpers::{Running, authed};

fn keyword_rule(operator: &str) -> IntakeRules {
    IntakeRules {
        rules: vec![IntakeRule {
            name: "Outages are urgent".into(),
            enabled: true,
            conditions: Some(Conditions {
                all: vec![Condition {
                    field: "subject".into(),
                    operator: operator.into(),
                    value: Some(ConditionValue {
                        kind: Some(Kind::Text("down outage".into())),
                    }),
                }],
                any: vec![],
            }),
            actions: Some(IntakeActions {
                priority: Priority::Urgent as i32,
                add_tags: vec!["outage".into()],
                group: "sre".into(),
            }),
        }],
        version: 0,
    }
}

#[tokio::test]
async fn intake_rules_set_priority_tags_and_group_of_new_tickets() -> anyhow::Result<()> {
    let app = Running::start(&nats_url()).await?;
    let mut c = app.client().await;
    let agent = app.token("acme", "agent-7", Role::Agent);
    let admin = app.token("acme", "root", Role::Admin);
    let update = |rules| UpdateIntakeRulesRequest { rules: Some(rules) };

    assert_eq!(
        c.update_intake_rules(authed(update(keyword_rule("contains_any_word")), &agent))
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    let err = c
        .update_intake_rules(authed(update(keyword_rule("sounds_like")), &admin))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let field = &err.get_details_bad_request().unwrap().field_violations[0];
    assert_eq!(field.field, "rules[0].conditions.all[0].operator");
    assert!(
        field.description.contains("sounds_like"),
        "{}",
        field.description
    );
    assert_eq!(
        c.get_intake_rules(authed(GetIntakeRulesRequest {}, &agent))
            .await?
            .into_inner()
            .version,
        0,
        "nothing saved"
    );

    let saved = c
        .update_intake_rules(authed(update(keyword_rule("contains_any_word")), &admin))
        .await?
        .into_inner();
    assert_eq!(saved.version, 1);
    assert_eq!(
        c.get_intake_rules(authed(GetIntakeRulesRequest {}, &agent))
            .await?
            .into_inner(),
        saved
    );

    let create = |subject: &str| CreateTicketRequest {
        subject: subject.into(),
        requester: Some(Requester {
            email: "ada@example.com".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let urgent = c
        .create_ticket(authed(create("Checkout is DOWN"), &agent))
        .await?
        .into_inner();
    assert_eq!(
        (urgent.priority(), urgent.group.as_str()),
        (Priority::Urgent, "sre")
    );
    assert_eq!(urgent.tags, ["outage"]);
    let calm = c
        .create_ticket(authed(create("Downgrade my plan"), &agent))
        .await?
        .into_inner();
    assert_eq!(
        (calm.priority(), calm.group.as_str()),
        (Priority::Normal, "")
    );
    app.stop().await
}

#[tokio::test]
async fn rules_can_test_the_requesters_tier() -> anyhow::Result<()> {
    use prost_types::FieldMask;
    use switchboard_proto::ticket::v1::{
        Customer, UpdateCustomerRequest, customer_service_client::CustomerServiceClient,
    };

    let app = Running::start(&nats_url()).await?;
    let mut c = app.client().await;
    let mut customers = CustomerServiceClient::connect(format!("http://{}", app.addr)).await?;
    let agent = app.token("acme", "agent-7", Role::Agent);
    let admin = app.token("acme", "root", Role::Admin);
    let gold = IntakeRules {
        rules: vec![IntakeRule {
            name: "Gold customers first".into(),
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
            actions: Some(IntakeActions {
                priority: Priority::High as i32,
                ..Default::default()
            }),
        }],
        version: 0,
    };
    c.update_intake_rules(authed(
        UpdateIntakeRulesRequest { rules: Some(gold) },
        &admin,
    ))
    .await?;
    let create = || CreateTicketRequest {
        subject: "Hello".into(),
        requester: Some(Requester {
            email: "ada@example.com".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let first = c
        .create_ticket(authed(create(), &agent))
        .await?
        .into_inner();
    assert_eq!(
        first.priority(),
        Priority::Normal,
        "a new customer has no tier"
    );

    let update = UpdateCustomerRequest {
        customer: Some(Customer {
            name: first.requester.clone(),
            tier: "Gold".into(),
            ..Default::default()
        }),
        update_mask: Some(FieldMask {
            paths: vec!["tier".into()],
        }),
    };
    let profile = customers
        .update_customer(authed(update, &agent))
        .await?
        .into_inner();
    assert_eq!((profile.tier.as_str(), profile.version), ("gold", 2));
    let second = c
        .create_ticket(authed(create(), &agent))
        .await?
        .into_inner();
    assert_eq!(second.priority(), Priority::High);
    app.stop().await
}
