//! Conditions and rules as tenants write them.

use std::{fmt, str::FromStr};

/// How a condition compares a field with its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    /// Equal; text ignores case.
    Is,
    /// Not equal.
    IsNot,
    /// Text holds the value as a substring (ignoring case); a list holds it
    /// as an item.
    Contains,
    /// Negation of [`Operator::Contains`].
    NotContains,
    /// Text holds any of the value's words as a whole word, ignoring case
    /// ("keywords in the subject").
    ContainsAnyWord,
    /// Negation of [`Operator::ContainsAnyWord`].
    ContainsNoneWord,
    /// Equal to one of the listed values (a list field: any item is).
    In,
    /// Negation of [`Operator::In`].
    NotIn,
    /// Greater than.
    Gt,
    /// Greater than or equal.
    Gte,
    /// Less than.
    Lt,
    /// Less than or equal.
    Lte,
    /// The field has a non-empty value.
    Present,
    /// The field is missing or empty.
    Absent,
}

/// Every operator name, in the order [`Operator::ALL`] lists them.
const NAMES: &str = "is, is_not, contains, not_contains, contains_any_word, \
     contains_none_word, in, not_in, gt, gte, lt, lte, present, absent";

impl Operator {
    /// Every operator, for listings and exhaustive tests.
    pub const ALL: [Operator; 14] = [
        Operator::Is,
        Operator::IsNot,
        Operator::Contains,
        Operator::NotContains,
        Operator::ContainsAnyWord,
        Operator::ContainsNoneWord,
        Operator::In,
        Operator::NotIn,
        Operator::Gt,
        Operator::Gte,
        Operator::Lt,
        Operator::Lte,
        Operator::Present,
        Operator::Absent,
    ];

    /// The snake_case name used on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Operator::Is => "is",
            Operator::IsNot => "is_not",
            Operator::Contains => "contains",
            Operator::NotContains => "not_contains",
            Operator::ContainsAnyWord => "contains_any_word",
            Operator::ContainsNoneWord => "contains_none_word",
            Operator::In => "in",
            Operator::NotIn => "not_in",
            Operator::Gt => "gt",
            Operator::Gte => "gte",
            Operator::Lt => "lt",
            Operator::Lte => "lte",
            Operator::Present => "present",
            Operator::Absent => "absent",
        }
    }
}

/// An operator name that is not one of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown operator `{name}`; expected one of {NAMES}")]
pub struct ParseOperatorError {
    /// The name as given.
    pub name: String,
}

/// Lets callers record the error as a field violation's description.
impl From<ParseOperatorError> for String {
    fn from(e: ParseOperatorError) -> Self {
        e.to_string()
    }
}

impl FromStr for Operator {
    type Err = ParseOperatorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Operator::ALL
            .into_iter()
            .find(|op| op.as_str() == s)
            .ok_or_else(|| ParseOperatorError { name: s.to_owned() })
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A condition's operand.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Value {
    /// No operand, for `present` and `absent`.
    #[default]
    None,
    /// Text, or an enum value.
    Text(String),
    /// A whole number.
    Integer(i64),
    /// A flag.
    Bool(bool),
    /// Several values, for `in` and `not_in`.
    List(Vec<String>),
}

impl Value {
    /// How messages name the value's type ("got text").
    pub(crate) fn describe(&self) -> &'static str {
        match self {
            Value::None => "no value",
            Value::Text(_) => "text",
            Value::Integer(_) => "an integer",
            Value::Bool(_) => "a bool",
            Value::List(_) => "a list",
        }
    }
}

/// One field–operator–value test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// The field, as the schema names it (`subject`, `custom.plan`).
    pub field: String,
    /// The comparison.
    pub operator: Operator,
    /// The operand.
    pub value: Value,
}

/// Every condition of `all`, and at least one of `any` unless it is empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conditions {
    /// Every one must hold.
    pub all: Vec<Condition>,
    /// At least one must hold, unless the list is empty.
    pub any: Vec<Condition>,
}

impl Conditions {
    /// Every condition, `all` first, e.g. to see which fields a rule reads.
    pub fn iter(&self) -> impl Iterator<Item = &Condition> {
        self.all.iter().chain(&self.any)
    }
}

/// One named, ordered rule; `A` is what the service does when it matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule<A> {
    /// Unique within its rule set, ignoring case.
    pub name: String,
    /// Disabled rules are kept but never match.
    pub enabled: bool,
    /// When the rule applies.
    pub conditions: Conditions,
    /// What applying it does.
    pub actions: A,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_names_round_trip() {
        for op in Operator::ALL {
            assert_eq!(op.as_str().parse::<Operator>(), Ok(op));
            assert_eq!(op.to_string(), op.as_str());
        }
        let names: Vec<&str> = Operator::ALL.iter().map(|op| op.as_str()).collect();
        assert_eq!(names.join(", "), NAMES, "the error lists every operator");
    }

    #[test]
    fn unknown_operators_are_refused_with_the_valid_names() {
        for bad in ["between", "IS", " is", "", "isnot", "contains-any-word"] {
            let err = bad.parse::<Operator>().unwrap_err();
            assert_eq!(err.name, bad);
            let message: String = err.into();
            assert!(
                message.starts_with(&format!(
                    "unknown operator `{bad}`; expected one of is, is_not"
                )),
                "{message}"
            );
            assert!(message.ends_with("present, absent"), "{message}");
        }
    }

    #[test]
    fn conditions_iterate_all_then_any() {
        let c = |field: &str| Condition {
            field: field.into(),
            operator: Operator::Present,
            value: Value::None,
        };
        let conditions = Conditions {
            all: vec![c("a"), c("b")],
            any: vec![c("c")],
        };
        let fields: Vec<&str> = conditions.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["a", "b", "c"]);
        assert_eq!(Value::default(), Value::None);
    }
}
