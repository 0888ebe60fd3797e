use switchboard_proto::common::v1::{
    Channel, Condition as PbCondition, ConditionValue, Conditions as PbConditions,
    condition_value::Kind,
};

use super::*;
use crate::domain::{Author, Identity};

fn text(field: &str, operator: &str, value: &str) -> PbCondition {
    PbCondition {
        field: field.into(),
        operator: operator.into(),
        value: Some(ConditionValue {
            kind: Some(Kind::Text(value.into())),
        }),
    }
}

fn rule(
    name: &str,
    all: Vec<PbCondition>,
    any: Vec<PbCondition>,
    actions: pb::IntakeActions,
) -> pb::IntakeRule {
    pb::IntakeRule {
        name: name.into(),
        enabled: true,
        conditions: Some(PbConditions { all, any }),
        actions: Some(actions),
    }
}

fn rules() -> Vec<IntakeRule> {
    from_proto(&pb::IntakeRules {
        rules: vec![
            rule(
                "Refunds are urgent",
                vec![],
                vec![
                    text("subject", "contains_any_word", "refund chargeback"),
                    text("description", "contains_any_word", "refund"),
                ],
                pb::IntakeActions {
                    priority: Priority::Urgent as i32,
                    add_tags: vec!["Billing".into()],
                    group: "billing".into(),
                },
            ),
            rule(
                "Big customer",
                vec![text("requester_domain", "is", "bigcorp.com")],
                vec![],
                pb::IntakeActions {
                    add_tags: vec!["vip".into()],
                    group: "key-accounts".into(),
                    ..Default::default()
                },
            ),
            pb::IntakeRule {
                enabled: false,
                ..rule(
                    "Off",
                    vec![],
                    vec![],
                    pb::IntakeActions {
                        priority: Priority::Low as i32,
                        ..Default::default()
                    },
                )
            },
        ],
        version: 0,
    })
    .unwrap()
}

fn new(subject: &str, email: &str) -> NewTicket {
    NewTicket {
        request_id: None,
        subject: subject.into(),
        description: String::new(),
        channel: Channel::Email,
        priority: Priority::Normal,
        identity: Identity::Email(email.into()),
        display_name: String::new(),
        tags: vec![],
        author: Author {
            kind: "customer",
            id: email.into(),
        },
        sla: Default::default(),
        group: None,
        explicit_priority: false,
        custom_fields: Default::default(),
        requester_profile: None,
        attachments: Vec::new(),
    }
}

#[test]
fn matching_rules_apply_in_order() {
    let rules = rules();
    let mut t = new("Refund for order 42", "ann@bigcorp.com");
    assert_eq!(
        apply(&rules, &mut t),
        ["Refunds are urgent", "Big customer"]
    );
    assert_eq!(t.priority, Priority::Urgent);
    assert_eq!(t.tags, ["billing", "vip"]);
    assert_eq!(
        t.group.as_deref(),
        Some("key-accounts"),
        "the later rule's group wins"
    );

    let mut plain = new("Refunded twice?", "bob@example.com");
    assert!(
        apply(&rules, &mut plain).is_empty(),
        "`refunded` is not the word `refund`; disabled rules never apply"
    );
    assert_eq!(plain.priority, Priority::Normal);
}

#[test]
fn an_explicit_priority_is_kept() {
    let mut t = new("refund", "a@example.com");
    t.priority = Priority::Low;
    t.explicit_priority = true;
    apply(&rules(), &mut t);
    assert_eq!(t.priority, Priority::Low);
    assert_eq!(t.tags, ["billing"]);
}

#[test]
fn rule_sets_are_validated_on_save_by_path() {
    let bad = pb::IntakeRules {
        rules: vec![
            rule(
                "Dup",
                vec![text("colour", "is", "red")],
                vec![],
                Default::default(),
            ),
            rule(
                "dup",
                vec![
                    text("channel", "is", "fax"),
                    text("subject", "between", "a"),
                ],
                vec![],
                pb::IntakeActions {
                    priority: 9,
                    add_tags: vec!["no spaces".into()],
                    ..Default::default()
                },
            ),
            rule("", vec![], vec![], Default::default()),
        ],
        version: 0,
    };
    let v = from_proto(&bad).unwrap_err();
    for field in [
        "rules[0].conditions.all[0].field",
        "rules[1].name",
        "rules[1].conditions.all[0].value",
        "rules[1].conditions.all[1].operator",
        "rules[1].actions.priority",
        "rules[1].actions.add_tags[0]",
        "rules[2].name",
    ] {
        assert!(v.has(field), "{field} missing from {v:?}");
    }
}

#[test]
fn rule_sets_round_trip_through_the_wire_form() {
    let rules = rules();
    assert_eq!(from_proto(&to_proto(&rules, 3)).unwrap(), rules);
}

#[test]
fn custom_fields_from_intake_can_be_tested() {
    let gold = from_proto(&pb::IntakeRules {
        rules: vec![rule(
            "Gold plan",
            vec![
                text("custom.plan", "is", "gold"),
                PbCondition {
                    field: "custom.seats".into(),
                    operator: "gt".into(),
                    value: Some(ConditionValue {
                        kind: Some(Kind::Integer(100)),
                    }),
                },
            ],
            vec![],
            pb::IntakeActions {
                priority: Priority::High as i32,
                ..Default::default()
            },
        )],
        version: 0,
    })
    .unwrap();
    let mut t = new("Help", "a@example.com");
    t.custom_fields
        .insert("plan".into(), FieldValue::Text("Gold".into()));
    t.custom_fields
        .insert("seats".into(), FieldValue::Integer(250));
    assert_eq!(apply(&gold, &mut t), ["Gold plan"]);
    assert_eq!(t.priority, Priority::High);
    let mut small = new("Help", "a@example.com");
    small
        .custom_fields
        .insert("plan".into(), FieldValue::Text("gold".into()));
    small
        .custom_fields
        .insert("seats".into(), FieldValue::Integer(3));
    assert!(apply(&gold, &mut small).is_empty());
}
