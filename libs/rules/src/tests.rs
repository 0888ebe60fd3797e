use std::collections::HashMap;

use super::*;

struct Map(HashMap<&'static str, Owned>);

enum Owned {
    Text(&'static str),
    Int(i64),
    Bool(bool),
    List(Vec<String>),
}

impl Facts for Map {
    fn fact(&self, field: &str) -> Option<Fact<'_>> {
        self.0.get(field).map(|o| match o {
            Owned::Text(t) => Fact::Text(t),
            Owned::Int(i) => Fact::Integer(*i),
            Owned::Bool(b) => Fact::Bool(*b),
            Owned::List(l) => Fact::List(l),
        })
    }
}

fn ticket() -> Map {
    Map(HashMap::from([
        ("channel", Owned::Text("email")),
        ("subject", Owned::Text("Refund please! Invoice wrong")),
        ("seats", Owned::Int(12)),
        ("vip", Owned::Bool(true)),
        ("tags", Owned::List(vec!["billing".into(), "eu".into()])),
    ]))
}

fn schema() -> Schema {
    Schema::new([
        ("channel", FieldKind::Enum(&["email", "chat", "phone"])),
        ("subject", FieldKind::Text),
        ("seats", FieldKind::Integer),
        ("vip", FieldKind::Bool),
        ("tags", FieldKind::List),
        ("language", FieldKind::Text),
    ])
}

fn c(field: &str, op: &str, value: Value) -> Condition {
    Condition {
        field: field.into(),
        operator: op.parse().unwrap(),
        value,
    }
}

fn text(t: &str) -> Value {
    Value::Text(t.into())
}

#[test]
fn every_operator_decides_true_and_false() {
    let t = ticket();
    let cases = [
        (c("channel", "is", text("EMAIL")), true),
        (c("channel", "is", text("chat")), false),
        (c("channel", "is_not", text("chat")), true),
        (c("subject", "contains", text("invoice")), true),
        (c("subject", "not_contains", text("invoice")), false),
        (c("tags", "contains", text("billing")), true),
        (c("tags", "contains", text("sales")), false),
        (
            c("subject", "contains_any_word", text("refund cancel")),
            true,
        ),
        (c("subject", "contains_any_word", text("refunded")), false),
        (
            c(
                "channel",
                "in",
                Value::List(vec!["chat".into(), "email".into()]),
            ),
            true,
        ),
        (
            c("channel", "not_in", Value::List(vec!["chat".into()])),
            true,
        ),
        (c("seats", "gt", Value::Integer(10)), true),
        (c("seats", "lt", Value::Integer(10)), false),
        (c("seats", "is", Value::Integer(12)), true),
        (c("vip", "is", Value::Bool(true)), true),
        (c("vip", "is_not", Value::Bool(true)), false),
        (c("language", "present", Value::None), false),
        (c("language", "absent", Value::None), true),
        (c("language", "is", text("de")), false),
        (c("language", "is_not", text("de")), true),
    ];
    for (condition, expected) in cases {
        let all = Conditions {
            all: vec![condition.clone()],
            any: vec![],
        };
        assert_eq!(matches(&all, &t), expected, "{condition:?}");
    }
}

#[test]
fn all_and_any_combine() {
    let t = ticket();
    let yes = c("channel", "is", text("email"));
    let no = c("channel", "is", text("chat"));
    assert!(
        matches(&Conditions::default(), &t),
        "no conditions match everything"
    );
    assert!(matches(
        &Conditions {
            all: vec![yes.clone()],
            any: vec![no.clone(), yes.clone()]
        },
        &t
    ));
    assert!(!matches(
        &Conditions {
            all: vec![yes.clone()],
            any: vec![no.clone()]
        },
        &t
    ));
    assert!(!matches(
        &Conditions {
            all: vec![yes, no],
            any: vec![]
        },
        &t
    ));
}

#[test]
fn validation_explains_each_mistake_by_path() {
    let conditions = Conditions {
        all: vec![
            c("colour", "is", text("red")),
            c("seats", "contains", text("1")),
            c("channel", "is", text("fax")),
            c("seats", "gt", text("ten")),
            c("language", "present", text("x")),
            c("subject", "contains_any_word", text("  ")),
        ],
        any: vec![
            c("channel", "in", text("email")),
            c("subject", "is", Value::None),
        ],
    };
    let v = validate("rules[3].conditions", &conditions, &schema());
    let fields: Vec<&str> = v.iter().map(|v| v.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "rules[3].conditions.all[0].field",
            "rules[3].conditions.all[1].operator",
            "rules[3].conditions.all[2].value",
            "rules[3].conditions.all[3].value",
            "rules[3].conditions.all[4].value",
            "rules[3].conditions.all[5].value",
            "rules[3].conditions.any[0].value",
            "rules[3].conditions.any[1].value",
        ]
    );
    assert!(v[0].reason.contains("unknown field `colour`"));
    assert!(v[1].reason.contains("an integer"));
    assert!(v[2].reason.contains("one of email, chat, phone"));
    let too_many = Conditions {
        all: vec![c("vip", "is", Value::Bool(true)); MAX_CONDITIONS + 1],
        any: vec![],
    };
    assert_eq!(validate("c", &too_many, &schema())[0].field, "c.all");
    assert!(
        "between"
            .parse::<Operator>()
            .unwrap_err()
            .contains("contains_any_word")
    );
}

#[test]
fn operator_names_round_trip() {
    for (name, op) in OPERATORS {
        assert_eq!(name.parse::<Operator>(), Ok(op));
        assert_eq!(op.to_string(), name);
    }
}

#[test]
fn prefixed_fields_are_typed_by_their_values() {
    let schema = schema().with_prefix("custom.", FieldKind::Dynamic);
    let ok = Conditions {
        all: vec![
            c("custom.plan", "is", text("gold")),
            c("custom.seats", "gt", Value::Integer(5)),
        ],
        any: vec![],
    };
    assert!(validate("c", &ok, &schema).is_empty());
    let bad = Conditions {
        all: vec![
            c("custom.seats", "gt", text("five")),
            c("custom.", "is", text("x")),
            c("custom.vip", "contains", Value::Bool(true)),
        ],
        any: vec![],
    };
    let fields: Vec<String> = validate("c", &bad, &schema)
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(
        fields,
        ["c.all[0].value", "c.all[1].field", "c.all[2].value"]
    );
}
