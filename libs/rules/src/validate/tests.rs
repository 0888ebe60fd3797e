use super::*;
use crate::model::Operator::{self, *};

const CHANNELS: &[&str] = &["email", "chat", "phone"];

fn schema() -> Schema {
    Schema::new([
        ("channel", FieldKind::Enum(CHANNELS)),
        ("subject", FieldKind::Text),
        ("seats", FieldKind::Integer),
        ("vip", FieldKind::Bool),
        ("tags", FieldKind::List),
    ])
}

fn c(field: &str, op: Operator, value: Value) -> Condition {
    Condition {
        field: field.into(),
        operator: op,
        value,
    }
}

fn text(t: &str) -> Value {
    Value::Text(t.into())
}

fn list(items: &[&str]) -> Value {
    Value::List(items.iter().map(|s| (*s).to_owned()).collect())
}

fn all(conditions: Vec<Condition>) -> Conditions {
    Conditions {
        all: conditions,
        any: vec![],
    }
}

/// The single violation of one condition validated alone at `c.all[0]`.
fn one(condition: Condition) -> Violation {
    let mut v = validate_conditions("c", &all(vec![condition]), &schema());
    assert_eq!(v.len(), 1, "{v:?}");
    v.remove(0)
}

fn rule(name: &str, conditions: Conditions) -> Rule<()> {
    Rule {
        name: name.into(),
        enabled: true,
        conditions,
        actions: (),
    }
}

fn no_actions(_: &str, _: &()) -> Vec<Violation> {
    Vec::new()
}

#[test]
fn a_sound_rule_set_has_no_violations() {
    let conditions = Conditions {
        all: vec![
            c("channel", Is, text("EMAIL")),
            c("channel", NotIn, list(&["chat", "phone"])),
            c("subject", Contains, text("invoice")),
            c("subject", ContainsAnyWord, text("refund, cancel")),
            c("subject", ContainsNoneWord, text("spam")),
            c("subject", In, list(&["a", "b"])),
            c("seats", Gte, Value::Integer(10)),
            c("seats", IsNot, Value::Integer(0)),
            c("vip", Is, Value::Bool(true)),
            c("tags", NotContains, text("spam")),
            c("tags", In, list(&["billing", "eu"])),
        ],
        any: vec![
            c("channel", Present, Value::None),
            c("tags", Absent, Value::None),
        ],
    };
    let rules = [rule("One", conditions), rule("Two", Conditions::default())];
    assert_eq!(validate_rules(&rules, &schema(), no_actions), []);
}

#[test]
fn unknown_fields_name_some_known_ones() {
    let v = one(c("colour", Is, text("red")));
    assert_eq!(v.field, "c.all[0].field");
    assert_eq!(
        v.reason,
        "unknown field `colour`; known fields: channel, seats, subject, tags, vip"
    );
    let near = one(c("Channel", Is, text("email")));
    assert!(near.reason.contains("did you mean `channel`?"), "{near}");
    let empty = one(c("", Is, text("x")));
    assert!(
        empty
            .reason
            .starts_with("the field name is empty; known fields: channel")
    );
}

#[test]
fn unknown_fields_list_only_a_few_of_many() {
    let names: Vec<&'static str> = vec!["f0", "f1", "f2", "f3", "f4", "f5", "f6", "f7", "f8", "f9"];
    let schema = Schema::new(names.into_iter().map(|n| (n, FieldKind::Text)));
    let v = validate_conditions("c", &all(vec![c("x", Is, text("y"))]), &schema);
    assert_eq!(
        v[0].reason,
        "unknown field `x`; known fields: f0, f1, f2, f3, f4, f5, f6, f7 and 2 more"
    );
}

#[test]
fn custom_fields_are_typed_per_tenant() {
    let schema = schema().with_custom([
        ("plan".to_owned(), FieldKind::Enum(&["free", "gold"])),
        ("custom.seats".to_owned(), FieldKind::Integer),
    ]);
    let ok = all(vec![
        c("custom.plan", Is, text("gold")),
        c("custom.seats", Gt, Value::Integer(5)),
    ]);
    assert_eq!(validate_conditions("c", &ok, &schema), []);
    let bad = all(vec![
        c("custom.plan", Is, text("platinum")),
        c("custom.plan", Gt, Value::Integer(1)),
        c("custom.region", Is, text("eu")),
        c("colour", Is, text("red")),
    ]);
    let v = validate_conditions("c", &bad, &schema);
    let reasons: Vec<(&str, &str)> = v
        .iter()
        .map(|v| (v.field.as_str(), v.reason.as_str()))
        .collect();
    assert_eq!(
        reasons,
        [
            (
                "c.all[0].value",
                "`platinum` is not a `custom.plan`; allowed: free, gold"
            ),
            (
                "c.all[1].operator",
                "`gt` needs an integer field; `custom.plan` is an enum"
            ),
            (
                "c.all[2].field",
                "unknown custom field `custom.region`; declared: custom.plan, custom.seats"
            ),
            (
                "c.all[3].field",
                "unknown field `colour`; known fields: channel, seats, subject, tags, vip; \
                 and `custom.<key>` fields"
            ),
        ]
    );
    let none = one(c("custom.plan", Is, text("gold")));
    assert_eq!(
        none.reason,
        "unknown custom field `custom.plan`; this tenant declares no custom fields"
    );
}

#[test]
fn prefixed_dynamic_fields_are_typed_by_their_values() {
    let schema = schema().with_prefix("custom.", FieldKind::Dynamic);
    let ok = all(vec![
        c("custom.plan", Is, text("gold")),
        c("custom.seats", Gt, Value::Integer(5)),
        c("custom.vip", IsNot, Value::Bool(false)),
        c("custom.region", In, list(&["eu", "us"])),
        c("custom.note", ContainsAnyWord, text("urgent")),
    ]);
    assert_eq!(validate_conditions("c", &ok, &schema), []);
    let bad = all(vec![
        c("custom.seats", Gt, text("five")),
        c("custom.", Is, text("x")),
        c("custom.vip", Contains, Value::Bool(true)),
        c("custom.plan", Is, list(&["gold"])),
    ]);
    let v = validate_conditions("c", &bad, &schema);
    let fields: Vec<&str> = v.iter().map(|v| v.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "c.all[0].value",
            "c.all[1].field",
            "c.all[2].value",
            "c.all[3].value"
        ]
    );
    assert_eq!(
        v[0].reason,
        "`gt` on `custom.seats` needs an integer, got text"
    );
    assert_eq!(
        v[1].reason,
        "`custom.` needs a custom field's key after the prefix"
    );
    assert_eq!(
        v[3].reason,
        "`is` on `custom.plan` needs text, an integer or a bool, got a list \
         (use `in` for several values)"
    );
}

#[test]
fn operators_must_suit_the_field_kind() {
    let cases = [
        (
            c("channel", Gt, Value::Integer(1)),
            "`gt` needs an integer field; `channel` is an enum",
        ),
        (
            c("subject", Lte, Value::Integer(1)),
            "`lte` needs an integer field; `subject` is text",
        ),
        (
            c("seats", Contains, text("1")),
            "`contains` needs a text or list field; `seats` is an integer",
        ),
        (
            c("channel", ContainsAnyWord, text("email")),
            "`contains_any_word` needs a text field; `channel` is an enum",
        ),
        (
            c("tags", ContainsNoneWord, text("x")),
            "`contains_none_word` needs a text field; `tags` is a list",
        ),
        (
            c("vip", In, list(&["true"])),
            "`in` needs a text, enum or list field; `vip` is a bool",
        ),
        (
            c("seats", NotIn, list(&["1"])),
            "`not_in` needs a text, enum or list field; `seats` is an integer",
        ),
        (
            c("tags", Is, text("billing")),
            "`is` needs a text, enum, integer or bool field; `tags` is a list \
             (use `contains` to test for one item)",
        ),
        (
            c("channel", NotContains, text("mail")),
            "`not_contains` needs a text or list field; `channel` is an enum \
             (use `in` to allow several values)",
        ),
        (
            c("vip", Gte, Value::Integer(1)),
            "`gte` needs an integer field; `vip` is a bool",
        ),
        (
            c("tags", Lt, Value::Integer(1)),
            "`lt` needs an integer field; `tags` is a list",
        ),
    ];
    for (condition, reason) in cases {
        let v = one(condition);
        assert_eq!(v.field, "c.all[0].operator");
        assert_eq!(v.reason, reason);
    }
}

#[test]
fn values_must_have_the_operators_type() {
    let cases = [
        (
            c("seats", Gt, text("ten")),
            "`gt` on `seats` needs an integer, got text",
        ),
        (
            c("seats", Is, Value::Bool(true)),
            "`is` on `seats` needs an integer, got a bool",
        ),
        (
            c("vip", Is, text("yes")),
            "`is` on `vip` needs true or false, got text",
        ),
        (
            c("subject", Is, Value::Integer(3)),
            "`is` on `subject` needs text, got an integer",
        ),
        (
            c("subject", Is, Value::None),
            "`is` on `subject` needs text, got no value",
        ),
        (
            c("channel", Is, list(&["email"])),
            "`is` on `channel` needs text, got a list (use `in` for several values)",
        ),
        (
            c("channel", In, text("email")),
            "`in` on `channel` needs a list of values, got text (use `is` for one value)",
        ),
        (
            c("subject", ContainsAnyWord, list(&["a"])),
            "`contains_any_word` on `subject` needs text of one or more words, got a list",
        ),
        (
            c("tags", Contains, list(&["a"])),
            "`contains` on `tags` needs text, got a list",
        ),
    ];
    for (condition, reason) in cases {
        let v = one(condition);
        assert_eq!(v.field, "c.all[0].value");
        assert_eq!(v.reason, reason);
    }
}

#[test]
fn enum_values_must_be_allowed_and_are_named() {
    let v = one(c("channel", Is, text("fax")));
    assert_eq!(v.field, "c.all[0].value");
    assert_eq!(
        v.reason,
        "`fax` is not a `channel`; allowed: email, chat, phone"
    );
    let v = validate_conditions(
        "c",
        &all(vec![c(
            "channel",
            In,
            list(&["chat", "fax", "Phone", "pigeon"]),
        )]),
        &schema(),
    );
    let fields: Vec<&str> = v.iter().map(|v| v.field.as_str()).collect();
    assert_eq!(fields, ["c.all[0].value[1]", "c.all[0].value[3]"]);
    assert!(v[1].reason.starts_with("`pigeon` is not a `channel`"));
}

#[test]
fn keyword_values_need_a_word() {
    for (value, reason) in [
        ("", "the value is empty (use `absent` to test for no value)"),
        ("   ", "`contains_any_word` needs at least one word"),
        (" , ", "`contains_any_word` needs at least one word"),
    ] {
        let v = one(c("subject", ContainsAnyWord, text(value)));
        assert_eq!(
            (v.field.as_str(), v.reason.as_str()),
            ("c.all[0].value", reason)
        );
    }
    let v = one(c("subject", ContainsNoneWord, text("\t")));
    assert_eq!(v.reason, "`contains_none_word` needs at least one word");
}

#[test]
fn text_values_are_not_empty_and_not_too_long() {
    let longest = "x".repeat(MAX_VALUE_LEN);
    let too_long = "x".repeat(MAX_VALUE_LEN + 1);
    assert_eq!(
        validate_conditions(
            "c",
            &all(vec![c("subject", Contains, text(&longest))]),
            &schema()
        ),
        []
    );
    let v = one(c("subject", Contains, text(&too_long)));
    assert_eq!(v.field, "c.all[0].value");
    assert_eq!(v.reason, "the value is 1025 bytes; at most 1024");
    let v = one(c("subject", Is, text("")));
    assert_eq!(
        v.reason,
        "the value is empty (use `absent` to test for no value)"
    );
    let v = one(c("tags", In, list(&["ok", too_long.as_str()])));
    assert_eq!(v.field, "c.all[0].value[1]");
    assert!(v.reason.contains("at most 1024"));
}

#[test]
fn list_values_hold_one_to_max_items() {
    let items: Vec<String> = (0..MAX_LIST_LEN).map(|i| format!("t{i}")).collect();
    let longest = c("tags", NotIn, Value::List(items.clone()));
    assert_eq!(validate_conditions("c", &all(vec![longest]), &schema()), []);
    let mut too_many = items;
    too_many.push("one more".into());
    let v = one(c("tags", NotIn, Value::List(too_many)));
    assert_eq!(
        (v.field.as_str(), v.reason.as_str()),
        ("c.all[0].value", "101 values; at most 100")
    );
    let v = one(c("subject", In, Value::List(vec![])));
    assert_eq!(
        (v.field.as_str(), v.reason.as_str()),
        ("c.all[0].value", "`in` needs at least one value")
    );
}

#[test]
fn present_and_absent_take_no_value() {
    let v = one(c("subject", Present, text("x")));
    assert_eq!(v.field, "c.all[0].value");
    assert_eq!(v.reason, "`present` takes no value, got text; remove it");
    let v = one(c("seats", Absent, Value::Integer(0)));
    assert_eq!(
        v.reason,
        "`absent` takes no value, got an integer; remove it"
    );
    assert_eq!(
        validate_conditions(
            "c",
            &all(vec![
                c("tags", Present, Value::None),
                c("vip", Absent, Value::None)
            ]),
            &schema()
        ),
        []
    );
}

#[test]
fn condition_lists_are_limited_separately() {
    let valid = c("vip", Is, Value::Bool(true));
    let at_limit = Conditions {
        all: vec![valid.clone(); MAX_CONDITIONS],
        any: vec![valid.clone(); MAX_CONDITIONS],
    };
    assert_eq!(validate_conditions("c", &at_limit, &schema()), []);
    let over = Conditions {
        all: vec![c("nope", Is, text("x")); MAX_CONDITIONS + 1],
        any: vec![valid; MAX_CONDITIONS + 1],
    };
    assert_eq!(
        validate_conditions("rules[4].conditions", &over, &schema()),
        [
            Violation::new("rules[4].conditions.all", "51 conditions; at most 50"),
            Violation::new("rules[4].conditions.any", "51 conditions; at most 50"),
        ],
        "an oversized list is reported once, not per condition"
    );
}

#[test]
fn violations_are_addressed_under_the_given_path() {
    let conditions = Conditions {
        all: vec![c("vip", Is, Value::Bool(true))],
        any: vec![c("vip", Is, Value::Bool(true)), c("seats", Gt, text("x"))],
    };
    let v = validate_conditions("rules[2].conditions", &conditions, &schema());
    assert_eq!(v[0].field, "rules[2].conditions.any[1].value");
    assert_eq!(
        v[0].to_string(),
        "rules[2].conditions.any[1].value: `gt` on `seats` needs an integer, got text"
    );
    let bare = validate_conditions("", &conditions, &schema());
    assert_eq!(bare[0].field, "any[1].value");
}

#[test]
fn rule_sets_are_limited() {
    let rules: Vec<Rule<()>> = (0..MAX_RULES)
        .map(|i| rule(&format!("rule {i}"), Conditions::default()))
        .collect();
    assert_eq!(validate_rules(&rules, &schema(), no_actions), []);
    let mut over = rules;
    over.push(rule("", all(vec![c("nope", Is, Value::None)])));
    assert_eq!(
        validate_rules(&over, &schema(), no_actions),
        [Violation::new("rules", "201 rules; at most 200")],
        "an oversized set is reported alone"
    );
}

#[test]
fn rule_names_are_present_short_and_unique() {
    let longest = "é".repeat(MAX_NAME_LEN);
    let too_long = "é".repeat(MAX_NAME_LEN + 1);
    let rules = [
        rule("VIP", Conditions::default()),
        rule("", Conditions::default()),
        rule("  ", Conditions::default()),
        rule(&longest, Conditions::default()),
        rule(&too_long, Conditions::default()),
        rule(" vip ", Conditions::default()),
        rule("Other", Conditions::default()),
        rule("OTHER", Conditions::default()),
    ];
    let v = validate_rules(&rules, &schema(), no_actions);
    assert_eq!(
        v,
        [
            Violation::new("rules[1].name", "a rule needs a name"),
            Violation::new("rules[2].name", "a rule needs a name"),
            Violation::new("rules[4].name", "the name is 121 characters; at most 120"),
            Violation::new(
                "rules[5].name",
                "`vip` is already the name of rules[0]; names must be unique, ignoring case"
            ),
            Violation::new(
                "rules[7].name",
                "`OTHER` is already the name of rules[6]; names must be unique, ignoring case"
            ),
        ]
    );
}

#[test]
fn rule_conditions_and_actions_are_checked_at_their_paths() {
    let rules = [
        Rule {
            name: "a".into(),
            enabled: true,
            conditions: all(vec![c("seats", Gt, Value::Integer(1))]),
            actions: 5u8,
        },
        Rule {
            name: "b".into(),
            enabled: false,
            conditions: Conditions {
                all: vec![],
                any: vec![
                    c("vip", Is, Value::Bool(true)),
                    c("channel", Is, text("fax")),
                ],
            },
            actions: 0u8,
        },
    ];
    let mut seen = Vec::new();
    let v = validate_rules(&rules, &schema(), |path, actions: &u8| {
        seen.push(path.to_owned());
        if *actions == 0 {
            vec![Violation::new(format!("{path}.priority"), "must be set")]
        } else {
            vec![]
        }
    });
    assert_eq!(seen, ["rules[0].actions", "rules[1].actions"]);
    let fields: Vec<&str> = v.iter().map(|v| v.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "rules[1].conditions.any[1].value",
            "rules[1].actions.priority"
        ],
        "disabled rules are validated too"
    );
}
