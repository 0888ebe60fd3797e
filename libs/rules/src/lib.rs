//! Tenant-defined conditions, shared by the ticket service's intake rules
//! and the routing service's routing rules: an `all` list (every condition
//! holds) and an `any` list (at least one holds, when not empty) of
//! field–operator–value conditions, as Zendesk's triggers have them.
//!
//! Conditions are validated against a [`Schema`] when a rule set is saved, so
//! evaluation never meets a type mismatch; it allocates only to fold
//! non-ASCII case.

use std::{collections::BTreeMap, fmt, str::FromStr};

/// Most conditions in one `all` or `any` list.
pub const MAX_CONDITIONS: usize = 50;
/// Longest text value, in bytes.
pub const MAX_VALUE_BYTES: usize = 1024;
/// Most entries in a list value.
pub const MAX_LIST_LEN: usize = 100;

/// What a field holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldKind {
    /// Free text (compared case-insensitively).
    Text,
    /// One of these lower-case values.
    Enum(&'static [&'static str]),
    /// A list of strings, such as tags.
    List,
    /// A whole number.
    Integer,
    /// A flag.
    Bool,
    /// Typed by each value (tenant-defined fields): any operator whose
    /// value has the right shape.
    Dynamic,
}

/// The fields a rule set may mention.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schema {
    fields: BTreeMap<String, FieldKind>,
    prefixes: Vec<(&'static str, FieldKind)>,
}

impl Schema {
    /// A schema of fixed fields.
    pub fn new(fields: impl IntoIterator<Item = (&'static str, FieldKind)>) -> Self {
        Self {
            fields: fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            prefixes: Vec::new(),
        }
    }

    /// Accepts every field starting with `prefix` (e.g. `custom.`) as `kind`.
    pub fn with_prefix(mut self, prefix: &'static str, kind: FieldKind) -> Self {
        self.prefixes.push((prefix, kind));
        self
    }

    /// Adds tenant-defined fields (e.g. `custom.plan`).
    pub fn with(mut self, fields: impl IntoIterator<Item = (String, FieldKind)>) -> Self {
        self.fields.extend(fields);
        self
    }

    /// The kind of `field`, if the schema has it.
    pub fn kind(&self, field: &str) -> Option<&FieldKind> {
        self.fields.get(field).or_else(|| {
            self.prefixes
                .iter()
                .find(|(p, _)| field.len() > p.len() && field.starts_with(p))
                .map(|(_, k)| k)
        })
    }
}

/// How a condition compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    /// Equal (text case-insensitively).
    Is,
    /// Not equal.
    IsNot,
    /// Text contains the value; a list contains the item.
    Contains,
    /// Negation of `contains`.
    NotContains,
    /// Text contains any of the value's words as whole words ("keywords").
    ContainsAnyWord,
    /// Equal to one of the listed values.
    In,
    /// Equal to none of the listed values.
    NotIn,
    /// Greater than (integers).
    Gt,
    /// Less than (integers).
    Lt,
    /// The field has a value.
    Present,
    /// The field has no value.
    Absent,
}

const OPERATORS: [(&str, Operator); 11] = [
    ("is", Operator::Is),
    ("is_not", Operator::IsNot),
    ("contains", Operator::Contains),
    ("not_contains", Operator::NotContains),
    ("contains_any_word", Operator::ContainsAnyWord),
    ("in", Operator::In),
    ("not_in", Operator::NotIn),
    ("gt", Operator::Gt),
    ("lt", Operator::Lt),
    ("present", Operator::Present),
    ("absent", Operator::Absent),
];

impl FromStr for Operator {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OPERATORS
            .iter()
            .find(|(name, _)| *name == s)
            .map(|(_, op)| *op)
            .ok_or_else(|| {
                let names: Vec<&str> = OPERATORS.iter().map(|(n, _)| *n).collect();
                format!("unknown operator `{s}` (one of {})", names.join(", "))
            })
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = OPERATORS
            .iter()
            .find(|(_, op)| op == self)
            .map_or("?", |(n, _)| n);
        f.write_str(name)
    }
}

/// A condition's operand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// For `present` and `absent`.
    None,
    /// Text.
    Text(String),
    /// A whole number.
    Integer(i64),
    /// A flag.
    Bool(bool),
    /// For `in` and `not_in`.
    List(Vec<String>),
}

/// One field–operator–value test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// The field, as the schema names it.
    pub field: String,
    /// The comparison.
    pub operator: Operator,
    /// The operand.
    pub value: Value,
}

/// All of `all`, and (when not empty) any of `any`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conditions {
    /// Every one must hold.
    pub all: Vec<Condition>,
    /// At least one must hold, unless empty.
    pub any: Vec<Condition>,
}

/// A fact about the thing evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fact<'a> {
    /// Text (enum values are passed as text).
    Text(&'a str),
    /// A whole number.
    Integer(i64),
    /// A flag.
    Bool(bool),
    /// A list.
    List(&'a [String]),
}

/// Where evaluation looks facts up.
pub trait Facts {
    /// The fact for `field`, if it has one.
    fn fact(&self, field: &str) -> Option<Fact<'_>>;
}

/// Whether `conditions` hold for `facts`.
pub fn matches(conditions: &Conditions, facts: &impl Facts) -> bool {
    conditions.all.iter().all(|c| holds(c, facts))
        && (conditions.any.is_empty() || conditions.any.iter().any(|c| holds(c, facts)))
}

fn holds(c: &Condition, facts: &impl Facts) -> bool {
    use Operator::*;
    let fact = facts.fact(&c.field);
    match (c.operator, fact, &c.value) {
        (Present, f, _) => f.is_some(),
        (Absent, f, _) => f.is_none(),
        // A missing fact satisfies only the negative operators.
        (IsNot | NotContains | NotIn, None, _) => true,
        (_, None, _) => false,
        (Is, Some(f), v) => equals(f, v),
        (IsNot, Some(f), v) => !equals(f, v),
        (Contains, Some(f), v) => contains(f, v),
        (NotContains, Some(f), v) => !contains(f, v),
        (ContainsAnyWord, Some(Fact::Text(t)), Value::Text(words)) => {
            words.split_whitespace().any(|w| has_word(t, w))
        }
        (In, Some(Fact::Text(t)), Value::List(items)) => items.iter().any(|i| text_eq(t, i)),
        (NotIn, Some(Fact::Text(t)), Value::List(items)) => !items.iter().any(|i| text_eq(t, i)),
        (Gt, Some(Fact::Integer(a)), Value::Integer(b)) => a > *b,
        (Lt, Some(Fact::Integer(a)), Value::Integer(b)) => a < *b,
        _ => false,
    }
}

fn equals(fact: Fact<'_>, value: &Value) -> bool {
    match (fact, value) {
        (Fact::Text(a), Value::Text(b)) => text_eq(a, b),
        (Fact::Integer(a), Value::Integer(b)) => a == *b,
        (Fact::Bool(a), Value::Bool(b)) => a == *b,
        _ => false,
    }
}

fn contains(fact: Fact<'_>, value: &Value) -> bool {
    match (fact, value) {
        (Fact::Text(t), Value::Text(v)) => t.to_lowercase().contains(&v.to_lowercase()),
        (Fact::List(items), Value::Text(v)) => items.iter().any(|i| i.eq_ignore_ascii_case(v)),
        _ => false,
    }
}

/// Case-insensitive equality; allocates only for non-ASCII text.
fn text_eq(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
        || (!(a.is_ascii() && b.is_ascii()) && a.to_lowercase() == b.to_lowercase())
}

/// Whether `word` appears in `text` as a whole word, ignoring case.
fn has_word(text: &str, word: &str) -> bool {
    text.split(|c: char| !c.is_alphanumeric())
        .any(|w| !w.is_empty() && text_eq(w, word))
}

/// One problem in a saved rule set, addressed by path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// E.g. `rules[2].conditions.any[0].value`.
    pub field: String,
    /// What is wrong.
    pub reason: String,
}

/// Every problem with `conditions` against `schema`, under `path`.
pub fn validate(path: &str, conditions: &Conditions, schema: &Schema) -> Vec<Violation> {
    let mut out = Vec::new();
    for (list_name, list) in [("all", &conditions.all), ("any", &conditions.any)] {
        if list.len() > MAX_CONDITIONS {
            out.push(Violation {
                field: format!("{path}.{list_name}"),
                reason: format!("at most {MAX_CONDITIONS} conditions"),
            });
            continue;
        }
        for (i, c) in list.iter().enumerate() {
            let at = format!("{path}.{list_name}[{i}]");
            if let Err(reason) = check(c, schema) {
                let (suffix, reason) = reason;
                out.push(Violation {
                    field: format!("{at}.{suffix}"),
                    reason,
                });
            }
        }
    }
    out
}

type Problem = (&'static str, String);

fn check(c: &Condition, schema: &Schema) -> Result<(), Problem> {
    use Operator::*;
    let Some(kind) = schema.kind(&c.field) else {
        let known: Vec<&str> = schema.fields.keys().map(String::as_str).take(12).collect();
        return Err((
            "field",
            format!("unknown field `{}` (known: {})", c.field, known.join(", ")),
        ));
    };
    let kind_name = match kind {
        FieldKind::Text => "text",
        FieldKind::Enum(_) => "an enum",
        FieldKind::List => "a list",
        FieldKind::Integer => "an integer",
        FieldKind::Bool => "a flag",
        FieldKind::Dynamic => "typed by its value",
    };
    let wrong_op = || {
        (
            "operator",
            format!(
                "`{}` does not apply to `{}`, which is {kind_name}",
                c.operator, c.field
            ),
        )
    };
    match (c.operator, &c.value) {
        (Present | Absent, Value::None) => return Ok(()),
        (Present | Absent, _) => return Err(("value", format!("`{}` takes no value", c.operator))),
        (_, Value::None) => return Err(("value", format!("`{}` needs a value", c.operator))),
        _ => {}
    }
    let allowed = match kind {
        FieldKind::Text => matches!(
            c.operator,
            Is | IsNot | Contains | NotContains | ContainsAnyWord | In | NotIn
        ),
        FieldKind::Enum(_) => matches!(c.operator, Is | IsNot | In | NotIn),
        FieldKind::List => matches!(c.operator, Contains | NotContains),
        FieldKind::Integer => matches!(c.operator, Is | IsNot | Gt | Lt),
        FieldKind::Bool => matches!(c.operator, Is | IsNot),
        FieldKind::Dynamic => true,
    };
    if !allowed {
        return Err(wrong_op());
    }
    let text_ok = |t: &str| -> Result<(), Problem> {
        if t.is_empty() || t.len() > MAX_VALUE_BYTES {
            return Err((
                "value",
                format!("text values are 1 to {MAX_VALUE_BYTES} bytes"),
            ));
        }
        if let FieldKind::Enum(values) = kind
            && !values.iter().any(|v| v.eq_ignore_ascii_case(t))
        {
            return Err((
                "value",
                format!("`{t}` is not a {} (one of {})", c.field, values.join(", ")),
            ));
        }
        Ok(())
    };
    match (&c.value, c.operator) {
        (Value::List(items), In | NotIn) => {
            if items.is_empty() || items.len() > MAX_LIST_LEN {
                return Err(("value", format!("lists hold 1 to {MAX_LIST_LEN} values")));
            }
            items.iter().try_for_each(|i| text_ok(i))
        }
        (_, In | NotIn) => Err(("value", format!("`{}` needs a list of values", c.operator))),
        (Value::Text(t), ContainsAnyWord) if t.split_whitespace().next().is_none() => {
            Err(("value", "name at least one word".to_owned()))
        }
        (Value::Text(t), Gt | Lt) if *kind == FieldKind::Dynamic => Err((
            "value",
            format!("`{}` compares integers; `{t}` is text", c.operator),
        )),
        (Value::Bool(_), op) if *kind == FieldKind::Dynamic && op != Is && op != IsNot => Err((
            "value",
            format!("`{}` does not apply to a flag", c.operator),
        )),
        (Value::Integer(_), Contains | NotContains | ContainsAnyWord)
            if *kind == FieldKind::Dynamic =>
        {
            Err(("value", format!("`{}` needs text", c.operator)))
        }
        (Value::Text(t), _)
            if matches!(
                kind,
                FieldKind::Text | FieldKind::Enum(_) | FieldKind::List | FieldKind::Dynamic
            ) =>
        {
            text_ok(t)
        }
        (Value::Integer(_), _) if matches!(kind, FieldKind::Integer | FieldKind::Dynamic) => Ok(()),
        (Value::Bool(_), _) if matches!(kind, FieldKind::Bool | FieldKind::Dynamic) => Ok(()),
        _ => Err((
            "value",
            format!("`{}` is {kind_name}; the value has another type", c.field),
        )),
    }
}

#[cfg(test)]
mod tests;
