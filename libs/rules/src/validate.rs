//! Checking a rule set when it is saved, so evaluation can trust it.

use std::collections::{HashMap, hash_map::Entry};

use crate::{
    MAX_CONDITIONS, MAX_LIST_LEN, MAX_NAME_LEN, MAX_RULES, MAX_VALUE_LEN,
    model::{Condition, Conditions, Operator, Rule, Value},
    schema::{CUSTOM_PREFIX, FieldKind, Schema},
    text,
};

/// How many field names an "unknown field" message lists.
const KNOWN_LISTED: usize = 8;

/// One problem found when saving a rule set, addressed by path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct Violation {
    /// Where, e.g. `rules[2].conditions.any[0].value`.
    pub field: String,
    /// What is wrong, for the person who wrote the rule.
    pub reason: String,
}

impl Violation {
    /// A violation at `field`; also for callers' action validators.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Every problem with `conditions` against `schema`, addressed under `path`
/// (e.g. `rules[2].conditions`).
///
/// A list over [`MAX_CONDITIONS`] is reported once and its conditions are not
/// checked, so an oversized request costs no more than a normal one.
pub fn validate_conditions(path: &str, conditions: &Conditions, schema: &Schema) -> Vec<Violation> {
    let mut out = Vec::new();
    for (name, list) in [("all", &conditions.all), ("any", &conditions.any)] {
        let at = join(path, name);
        if list.len() > MAX_CONDITIONS {
            out.push(Violation::new(
                at,
                format!("{} conditions; at most {MAX_CONDITIONS}", list.len()),
            ));
            continue;
        }
        for (i, c) in list.iter().enumerate() {
            check_condition(&format!("{at}[{i}]"), c, schema, &mut out);
        }
    }
    out
}

/// Every problem with a rule set: its size, each rule's name (non-empty,
/// at most [`MAX_NAME_LEN`] characters, unique ignoring case and surrounding
/// space), conditions, and actions as `validate_actions` judges them (it is
/// given the path prefix `rules[i].actions`).
///
/// A set over [`MAX_RULES`] is reported alone, without checking its rules.
pub fn validate_rules<A>(
    rules: &[Rule<A>],
    schema: &Schema,
    mut validate_actions: impl FnMut(&str, &A) -> Vec<Violation>,
) -> Vec<Violation> {
    if rules.len() > MAX_RULES {
        return vec![Violation::new(
            "rules",
            format!("{} rules; at most {MAX_RULES}", rules.len()),
        )];
    }
    let mut out = Vec::new();
    let mut first_with_name: HashMap<String, usize> = HashMap::with_capacity(rules.len());
    for (i, rule) in rules.iter().enumerate() {
        let at = format!("rules[{i}]");
        let name = rule.name.trim();
        let chars = name.chars().count();
        let name_problem = if name.is_empty() {
            Some("a rule needs a name".to_owned())
        } else if chars > MAX_NAME_LEN {
            Some(format!(
                "the name is {chars} characters; at most {MAX_NAME_LEN}"
            ))
        } else {
            match first_with_name.entry(name.to_lowercase()) {
                Entry::Occupied(first) => Some(format!(
                    "`{name}` is already the name of rules[{}]; names must be unique, ignoring case",
                    first.get()
                )),
                Entry::Vacant(slot) => {
                    slot.insert(i);
                    None
                }
            }
        };
        if let Some(reason) = name_problem {
            out.push(Violation::new(format!("{at}.name"), reason));
        }
        out.extend(validate_conditions(
            &format!("{at}.conditions"),
            &rule.conditions,
            schema,
        ));
        out.extend(validate_actions(&format!("{at}.actions"), &rule.actions));
    }
    out
}

/// The value shape an operator needs on a field kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Text,
    Words,
    Integer,
    Bool,
    List,
    /// Text, integer or bool: `is` on a field typed by its value.
    Scalar,
}

impl Expect {
    fn describe(self) -> &'static str {
        match self {
            Expect::Text => "text",
            Expect::Words => "text of one or more words",
            Expect::Integer => "an integer",
            Expect::Bool => "true or false",
            Expect::List => "a list of values",
            Expect::Scalar => "text, an integer or a bool",
        }
    }
}

/// What `op` needs of `kind`, or `None` when it does not apply to it.
fn expect(op: Operator, kind: FieldKind) -> Option<Expect> {
    use FieldKind as K;
    use Operator::*;
    Some(match (kind, op) {
        (K::Text | K::Dynamic, Contains | NotContains) => Expect::Text,
        (K::Text | K::Dynamic, ContainsAnyWord | ContainsNoneWord) => Expect::Words,
        (K::Text | K::Enum(_), Is | IsNot) => Expect::Text,
        (K::Text | K::Enum(_) | K::List | K::Dynamic, In | NotIn) => Expect::List,
        (K::Integer | K::Dynamic, Gt | Gte | Lt | Lte) | (K::Integer, Is | IsNot) => {
            Expect::Integer
        }
        (K::Bool, Is | IsNot) => Expect::Bool,
        (K::List, Contains | NotContains) => Expect::Text,
        (K::Dynamic, Is | IsNot) => Expect::Scalar,
        _ => return None,
    })
}

/// The kinds `op` applies to, for "operator not valid" messages.
fn needs(op: Operator) -> &'static str {
    use Operator::*;
    match op {
        Is | IsNot => "a text, enum, integer or bool field",
        Contains | NotContains => "a text or list field",
        ContainsAnyWord | ContainsNoneWord => "a text field",
        In | NotIn => "a text, enum or list field",
        Gt | Gte | Lt | Lte => "an integer field",
        Present | Absent => "any field",
    }
}

fn check_condition(at: &str, c: &Condition, schema: &Schema, out: &mut Vec<Violation>) {
    use Operator::*;
    let op = c.operator;
    let field = c.field.as_str();
    let Some(&kind) = schema.kind(field) else {
        out.push(Violation::new(
            format!("{at}.field"),
            unknown_field(field, schema),
        ));
        return;
    };
    let value_at = format!("{at}.value");
    if matches!(op, Present | Absent) {
        if c.value != Value::None {
            out.push(Violation::new(
                value_at,
                format!(
                    "`{op}` takes no value, got {}; remove it",
                    c.value.describe()
                ),
            ));
        }
        return;
    }
    let Some(expected) = expect(op, kind) else {
        let hint = match (kind, op) {
            (FieldKind::List, Is | IsNot) => " (use `contains` to test for one item)",
            (FieldKind::Enum(_), Contains | NotContains) => " (use `in` to allow several values)",
            _ => "",
        };
        out.push(Violation::new(
            format!("{at}.operator"),
            format!(
                "`{op}` needs {}; `{field}` is {}{hint}",
                needs(op),
                kind.describe()
            ),
        ));
        return;
    };
    match (expected, &c.value) {
        (Expect::Text | Expect::Scalar, Value::Text(t)) => {
            check_text(&value_at, t, field, kind, out);
        }
        (Expect::Words, Value::Text(t)) => {
            if check_text(&value_at, t, field, kind, out) && text::words(t).next().is_none() {
                out.push(Violation::new(
                    value_at,
                    format!("`{op}` needs at least one word"),
                ));
            }
        }
        (Expect::Integer | Expect::Scalar, Value::Integer(_))
        | (Expect::Bool | Expect::Scalar, Value::Bool(_)) => {}
        (Expect::List, Value::List(items)) => {
            if items.is_empty() {
                out.push(Violation::new(
                    value_at,
                    format!("`{op}` needs at least one value"),
                ));
            } else if items.len() > MAX_LIST_LEN {
                out.push(Violation::new(
                    value_at,
                    format!("{} values; at most {MAX_LIST_LEN}", items.len()),
                ));
            } else {
                for (j, item) in items.iter().enumerate() {
                    check_text(&format!("{value_at}[{j}]"), item, field, kind, out);
                }
            }
        }
        (expected, value) => {
            let hint = match (op, value) {
                (Is | IsNot, Value::List(_)) => " (use `in` for several values)",
                (In | NotIn, Value::Text(_)) => " (use `is` for one value)",
                _ => "",
            };
            out.push(Violation::new(
                value_at,
                format!(
                    "`{op}` on `{field}` needs {}, got {}{hint}",
                    expected.describe(),
                    value.describe()
                ),
            ));
        }
    }
}

/// Checks one text value (or list item); `true` when it is fine.
fn check_text(at: &str, t: &str, field: &str, kind: FieldKind, out: &mut Vec<Violation>) -> bool {
    let reason = if t.is_empty() {
        "the value is empty (use `absent` to test for no value)".to_owned()
    } else if t.len() > MAX_VALUE_LEN {
        format!("the value is {} bytes; at most {MAX_VALUE_LEN}", t.len())
    } else if let FieldKind::Enum(allowed) = kind
        && !allowed.iter().any(|a| text::eq_ci(a, t))
    {
        format!("`{t}` is not a `{field}`; allowed: {}", allowed.join(", "))
    } else {
        return true;
    };
    out.push(Violation::new(at, reason));
    false
}

/// Explains an unknown field, naming some that exist.
fn unknown_field(field: &str, schema: &Schema) -> String {
    if let Some(key) = field.strip_prefix(CUSTOM_PREFIX) {
        let declared: Vec<String> = schema
            .custom_keys()
            .map(|k| format!("{CUSTOM_PREFIX}{k}"))
            .collect();
        return if key.is_empty() {
            format!("`{field}` needs a custom field's key after the prefix")
        } else if declared.is_empty() {
            format!("unknown custom field `{field}`; this tenant declares no custom fields")
        } else {
            format!(
                "unknown custom field `{field}`; declared: {}",
                listing(declared.iter().map(String::as_str), declared.len())
            )
        };
    }
    let count = schema.fixed_names().count();
    let mut known = listing(schema.fixed_names(), count);
    if schema.custom_keys().next().is_some() || schema.prefixes().next().is_some() {
        known.push_str("; and `custom.<key>` fields");
    }
    let head = if field.is_empty() {
        "the field name is empty".to_owned()
    } else {
        format!("unknown field `{field}`")
    };
    match schema.fixed_names().find(|k| text::eq_ci(k, field)) {
        Some(near) => format!("{head}; did you mean `{near}`? known fields: {known}"),
        None => format!("{head}; known fields: {known}"),
    }
}

/// The first few names, and how many more there are.
fn listing<'a>(names: impl Iterator<Item = &'a str>, count: usize) -> String {
    let mut out = names.take(KNOWN_LISTED).collect::<Vec<_>>().join(", ");
    if count > KNOWN_LISTED {
        out.push_str(&format!(" and {} more", count - KNOWN_LISTED));
    }
    if out.is_empty() {
        out.push_str("none");
    }
    out
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

#[cfg(test)]
mod tests;
