//! The wire form of conditions (`switchboard.common.v1.Conditions`), shared
//! by every rule set that uses them: ticket intake rules and routing rules.

use switchboard_proto::common::v1::{self as common, condition_value::Kind};
use switchboard_runtime::Violations;

use crate::{Condition, Conditions, MAX_CONDITIONS, Value};

/// Conditions from the wire, reporting bad operators under
/// `{path}.all[i].operator` / `{path}.any[i].operator`. Reads at most one
/// condition past [`MAX_CONDITIONS`], enough for validation to refuse the
/// list without holding all of it.
pub fn conditions_from_proto(
    path: &str,
    raw: Option<&common::Conditions>,
    v: &mut Violations,
) -> Conditions {
    let Some(raw) = raw else {
        return Conditions::default();
    };
    let mut list = |name: &str, items: &[common::Condition]| {
        items
            .iter()
            .take(MAX_CONDITIONS + 1)
            .enumerate()
            .filter_map(|(i, c)| match c.operator.parse() {
                Ok(operator) => Some(Condition {
                    field: c.field.clone(),
                    operator,
                    value: value(c.value.as_ref()),
                }),
                Err(reason) => {
                    v.add(format!("{path}.{name}[{i}].operator"), reason);
                    None
                }
            })
            .collect()
    };
    let all = list("all", &raw.all);
    let any = list("any", &raw.any);
    Conditions { all, any }
}

/// The wire form of `conditions`.
pub fn conditions_to_proto(conditions: &Conditions) -> common::Conditions {
    let list = |list: &[Condition]| {
        list.iter()
            .map(|c| common::Condition {
                field: c.field.clone(),
                operator: c.operator.to_string(),
                value: value_to_proto(&c.value),
            })
            .collect()
    };
    common::Conditions {
        all: list(&conditions.all),
        any: list(&conditions.any),
    }
}

fn value(raw: Option<&common::ConditionValue>) -> Value {
    match raw.and_then(|v| v.kind.as_ref()) {
        None => Value::None,
        Some(Kind::Text(t)) => Value::Text(t.clone()),
        Some(Kind::Integer(i)) => Value::Integer(*i),
        Some(Kind::Flag(b)) => Value::Bool(*b),
        Some(Kind::List(l)) => Value::List(l.values.clone()),
    }
}

fn value_to_proto(v: &Value) -> Option<common::ConditionValue> {
    let kind = match v {
        Value::None => return None,
        Value::Text(t) => Kind::Text(t.clone()),
        Value::Integer(i) => Kind::Integer(*i),
        Value::Bool(b) => Kind::Flag(*b),
        Value::List(l) => Kind::List(common::StringList { values: l.clone() }),
    };
    Some(common::ConditionValue { kind: Some(kind) })
}
