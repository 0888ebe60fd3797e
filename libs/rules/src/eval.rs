//! Deciding whether conditions hold for a set of facts.

use std::cmp::Ordering;

use crate::{
    facts::{Fact, Facts},
    model::{Condition, Conditions, Operator, Rule, Value},
    text,
};

/// Whether `conditions` hold for `facts`; no conditions at all always hold.
pub fn matches(conditions: &Conditions, facts: &(impl Facts + ?Sized)) -> bool {
    conditions.all.iter().all(|c| holds(c, facts))
        && (conditions.any.is_empty() || conditions.any.iter().any(|c| holds(c, facts)))
}

/// The enabled rules whose conditions hold for `facts`, in rule-set order.
pub fn matching<'r, A>(
    rules: &'r [Rule<A>],
    facts: &(impl Facts + ?Sized),
) -> impl Iterator<Item = &'r Rule<A>> {
    rules
        .iter()
        .filter(move |r| r.enabled && matches(&r.conditions, facts))
}

/// Whether one condition holds. A value of the wrong type for the fact
/// (which validation prevents) makes positive operators false, and so their
/// negations true.
fn holds(c: &Condition, facts: &(impl Facts + ?Sized)) -> bool {
    use Operator::*;
    let Some(fact) = facts.fact(&c.field) else {
        // "Not X" is true of something that has no value at all, as in
        // Zendesk: a ticket without a language is not in German.
        return matches!(
            c.operator,
            Absent | IsNot | NotIn | NotContains | ContainsNoneWord
        );
    };
    match c.operator {
        Present => !fact.is_empty(),
        Absent => fact.is_empty(),
        Is => equals(fact, &c.value),
        IsNot => !equals(fact, &c.value),
        Contains => contains(fact, &c.value),
        NotContains => !contains(fact, &c.value),
        ContainsAnyWord => any_word(fact, &c.value),
        ContainsNoneWord => !any_word(fact, &c.value),
        In => one_of(fact, &c.value),
        NotIn => !one_of(fact, &c.value),
        Gt => compare(fact, &c.value).is_some_and(Ordering::is_gt),
        Gte => compare(fact, &c.value).is_some_and(Ordering::is_ge),
        Lt => compare(fact, &c.value).is_some_and(Ordering::is_lt),
        Lte => compare(fact, &c.value).is_some_and(Ordering::is_le),
    }
}

fn equals(fact: Fact<'_>, value: &Value) -> bool {
    match (fact, value) {
        (Fact::Text(a), Value::Text(b)) => text::eq_ci(a, b),
        (Fact::Integer(a), Value::Integer(b)) => a == *b,
        (Fact::Bool(a), Value::Bool(b)) => a == *b,
        _ => false,
    }
}

fn contains(fact: Fact<'_>, value: &Value) -> bool {
    match (fact, value) {
        (Fact::Text(t), Value::Text(v)) => text::contains_ci(t, v),
        (Fact::List(items), Value::Text(v)) => items.iter().any(|i| text::eq_ci(i, v)),
        _ => false,
    }
}

fn any_word(fact: Fact<'_>, value: &Value) -> bool {
    match (fact, value) {
        (Fact::Text(t), Value::Text(v)) => text::words(v).any(|w| text::has_word(t, w)),
        _ => false,
    }
}

fn one_of(fact: Fact<'_>, value: &Value) -> bool {
    let Value::List(wanted) = value else {
        return false;
    };
    let listed = |s: &str| wanted.iter().any(|w| text::eq_ci(s, w));
    match fact {
        Fact::Text(t) => listed(t),
        Fact::List(items) => items.iter().any(|i| listed(i)),
        Fact::Integer(_) | Fact::Bool(_) => false,
    }
}

fn compare(fact: Fact<'_>, value: &Value) -> Option<Ordering> {
    match (fact, value) {
        (Fact::Integer(a), Value::Integer(b)) => Some(a.cmp(b)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::FactMap;

    fn ticket() -> FactMap {
        FactMap::from([
            ("channel".to_owned(), "email".into()),
            ("subject".to_owned(), "Refund please! Invoice WRONG".into()),
            ("description".to_owned(), "".into()),
            ("seats".to_owned(), 12.into()),
            ("vip".to_owned(), true.into()),
            (
                "tags".to_owned(),
                vec!["billing".to_owned(), "EU".to_owned()].into(),
            ),
            ("customer.tags".to_owned(), Vec::<String>::new().into()),
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

    fn only(condition: Condition) -> Conditions {
        Conditions {
            all: vec![condition],
            any: vec![],
        }
    }

    /// Asserts each case both alone in `all` and alone in `any`, so either
    /// list's handling is covered by every operator case.
    fn check(cases: Vec<(Condition, bool)>) {
        let facts = ticket();
        for (condition, expected) in cases {
            assert_eq!(
                matches(&only(condition.clone()), &facts),
                expected,
                "all: {condition:?}"
            );
            let any = Conditions {
                all: vec![],
                any: vec![condition.clone()],
            };
            assert_eq!(matches(&any, &facts), expected, "any: {condition:?}");
        }
    }

    use Operator::*;

    #[test]
    fn text_operators() {
        check(vec![
            (c("subject", Is, text("refund please! invoice wrong")), true),
            (c("subject", Is, text("refund please")), false),
            (c("subject", IsNot, text("refund please")), true),
            (
                c("subject", IsNot, text("REFUND PLEASE! INVOICE WRONG")),
                false,
            ),
            (c("subject", Contains, text("invoice wrong")), true),
            (c("subject", Contains, text("invoices")), false),
            (c("subject", NotContains, text("invoices")), true),
            (c("subject", NotContains, text("Invoice")), false),
            (c("subject", ContainsAnyWord, text("cancel refund")), true),
            (
                c("subject", ContainsAnyWord, text("cancel refunded")),
                false,
            ),
            (
                c("subject", ContainsNoneWord, text("cancel chargeback")),
                true,
            ),
            (
                c("subject", ContainsNoneWord, text("cancel, invoice")),
                false,
            ),
            (c("channel", In, list(&["chat", "EMAIL"])), true),
            (c("channel", In, list(&["chat", "phone"])), false),
            (c("channel", NotIn, list(&["chat", "phone"])), true),
            (c("channel", NotIn, list(&["email"])), false),
            (c("subject", Present, Value::None), true),
            (c("description", Present, Value::None), false),
            (c("description", Absent, Value::None), true),
            (c("subject", Absent, Value::None), false),
        ]);
    }

    #[test]
    fn enum_operators_compare_the_value_name_as_text() {
        check(vec![
            (c("channel", Is, text("Email")), true),
            (c("channel", Is, text("chat")), false),
            (c("channel", IsNot, text("chat")), true),
            (c("channel", IsNot, text("email")), false),
        ]);
    }

    #[test]
    fn integer_operators() {
        check(vec![
            (c("seats", Is, Value::Integer(12)), true),
            (c("seats", Is, Value::Integer(13)), false),
            (c("seats", IsNot, Value::Integer(13)), true),
            (c("seats", IsNot, Value::Integer(12)), false),
            (c("seats", Gt, Value::Integer(11)), true),
            (c("seats", Gt, Value::Integer(12)), false),
            (c("seats", Gte, Value::Integer(12)), true),
            (c("seats", Gte, Value::Integer(13)), false),
            (c("seats", Lt, Value::Integer(13)), true),
            (c("seats", Lt, Value::Integer(12)), false),
            (c("seats", Lte, Value::Integer(12)), true),
            (c("seats", Lte, Value::Integer(11)), false),
            (c("seats", Present, Value::None), true),
            (c("seats", Absent, Value::None), false),
        ]);
    }

    #[test]
    fn bool_operators() {
        check(vec![
            (c("vip", Is, Value::Bool(true)), true),
            (c("vip", Is, Value::Bool(false)), false),
            (c("vip", IsNot, Value::Bool(false)), true),
            (c("vip", IsNot, Value::Bool(true)), false),
            (c("vip", Present, Value::None), true),
            (c("vip", Absent, Value::None), false),
        ]);
    }

    #[test]
    fn list_operators() {
        check(vec![
            (c("tags", Contains, text("Billing")), true),
            (c("tags", Contains, text("bill")), false),
            (c("tags", NotContains, text("sales")), true),
            (c("tags", NotContains, text("eu")), false),
            (c("tags", In, list(&["sales", "eu"])), true),
            (c("tags", In, list(&["sales", "us"])), false),
            (c("tags", NotIn, list(&["sales", "us"])), true),
            (c("tags", NotIn, list(&["billing"])), false),
            (c("tags", Present, Value::None), true),
            (c("customer.tags", Present, Value::None), false),
            (c("customer.tags", Absent, Value::None), true),
            (c("tags", Absent, Value::None), false),
            (c("customer.tags", Contains, text("x")), false),
            (c("customer.tags", NotContains, text("x")), true),
        ]);
    }

    #[test]
    fn missing_facts_satisfy_only_absent_and_negations() {
        let value = |op: Operator| match op {
            In | NotIn => list(&["x"]),
            Gt | Gte | Lt | Lte => Value::Integer(0),
            Present | Absent => Value::None,
            _ => text("x"),
        };
        let expected_true = [Absent, IsNot, NotIn, NotContains, ContainsNoneWord];
        for op in Operator::ALL {
            let condition = c("language", op, value(op));
            assert_eq!(
                matches(&only(condition), &ticket()),
                expected_true.contains(&op),
                "{op} on a missing fact"
            );
        }
    }

    #[test]
    fn values_of_the_wrong_type_never_match_positively() {
        check(vec![
            (c("seats", Is, text("12")), false),
            (c("seats", IsNot, text("12")), true),
            (c("subject", Gt, Value::Integer(1)), false),
            (c("vip", Contains, text("true")), false),
            (c("seats", In, list(&["12"])), false),
            (c("channel", In, text("email")), false),
            (c("tags", ContainsAnyWord, text("billing")), false),
        ]);
    }

    #[test]
    fn all_and_any_combine() {
        let facts = ticket();
        let yes = c("channel", Is, text("email"));
        let no = c("channel", Is, text("chat"));
        let set = |all: Vec<Condition>, any: Vec<Condition>| Conditions { all, any };
        assert!(matches(&Conditions::default(), &facts), "empty matches all");
        assert!(matches(
            &set(vec![yes.clone(), yes.clone()], vec![]),
            &facts
        ));
        assert!(!matches(
            &set(vec![yes.clone(), no.clone()], vec![]),
            &facts
        ));
        assert!(matches(&set(vec![], vec![no.clone(), yes.clone()]), &facts));
        assert!(!matches(&set(vec![], vec![no.clone(), no.clone()]), &facts));
        assert!(matches(
            &set(vec![yes.clone()], vec![no.clone(), yes.clone()]),
            &facts
        ));
        assert!(!matches(&set(vec![yes.clone()], vec![no.clone()]), &facts));
        assert!(
            !matches(&set(vec![no], vec![yes]), &facts),
            "all fails first"
        );
    }

    #[test]
    fn keywords_match_whole_words_only() {
        let facts = |subject: &str| FactMap::from([("subject".to_owned(), subject.into())]);
        let refund = only(c("subject", ContainsAnyWord, text("refund")));
        assert!(matches(&refund, &facts("Refund please!")));
        assert!(matches(&refund, &facts("need a REFUND")));
        assert!(!matches(&refund, &facts("I was refunded")));
        assert!(!matches(&refund, &facts("nonrefundable")));
        let none = only(c("subject", ContainsNoneWord, text("refund")));
        assert!(matches(&none, &facts("I was refunded")));
        assert!(!matches(&none, &facts("refund!")));
    }

    #[test]
    fn matching_yields_enabled_matching_rules_in_order() {
        let rule = |name: &str, enabled: bool, condition: Condition| Rule {
            name: name.into(),
            enabled,
            conditions: only(condition),
            actions: name.len(),
        };
        let rules = [
            rule("vip", true, c("vip", Is, Value::Bool(true))),
            rule("off", false, c("vip", Is, Value::Bool(true))),
            rule("chat", true, c("channel", Is, text("chat"))),
            rule(
                "refund",
                true,
                c("subject", ContainsAnyWord, text("refund")),
            ),
            rule("fallback", true, c("seats", Present, Value::None)),
        ];
        let names: Vec<&str> = matching(&rules, &ticket())
            .map(|r| r.name.as_str())
            .collect();
        assert_eq!(names, ["vip", "refund", "fallback"]);
        assert_eq!(matching(&rules, &ticket()).next().unwrap().actions, 3);
        let facts: &dyn Facts = &ticket();
        assert_eq!(
            matching(&rules, facts).count(),
            3,
            "works through dyn Facts"
        );
        assert_eq!(matching(&rules[1..3], &ticket()).count(), 0);
    }
}
