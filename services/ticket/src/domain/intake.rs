//! Intake rules: tenant-defined, ordered rules that set a new ticket's
//! priority, tags and group from what it says and where it came from.

use std::collections::HashSet;

use switchboard_proto::{common::v1::Priority, ticket::v1 as pb};
use switchboard_rules::{
    Conditions, Fact, Facts, FieldKind, Schema, matches, validate_conditions,
    wire::{conditions_from_proto, conditions_to_proto},
};
use switchboard_runtime::Violations;

use super::{MAX_TAGS, NewTicket, channel_str, fields::FieldValue, normalize_tags};

/// Most intake rules per tenant.
pub const MAX_RULES: usize = 100;
/// Longest rule name, in characters.
pub const MAX_RULE_NAME_CHARS: usize = 120;

const CHANNELS: &[&str] = &["email", "chat", "phone", "social", "sms", "web_form", "api"];

/// The fields intake conditions may test.
pub fn schema() -> Schema {
    Schema::new([
        ("channel", FieldKind::Enum(CHANNELS)),
        ("subject", FieldKind::Text),
        ("description", FieldKind::Text),
        ("tags", FieldKind::List),
        ("requester_email", FieldKind::Text),
        ("requester_domain", FieldKind::Text),
        ("customer.tier", FieldKind::Text),
        ("customer.tags", FieldKind::List),
    ])
    .with_prefix(switchboard_rules::CUSTOM_PREFIX, FieldKind::Dynamic)
}

/// What a matching rule does.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Actions {
    /// Sets the priority.
    pub priority: Option<Priority>,
    /// Adds tags.
    pub add_tags: Vec<String>,
    /// Sets the group.
    pub group: Option<String>,
}

/// One validated rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntakeRule {
    /// Unique name.
    pub name: String,
    /// Disabled rules are kept but skipped.
    pub enabled: bool,
    /// When it applies.
    pub conditions: Conditions,
    /// What it does.
    pub actions: Actions,
}

/// Validates a rule set, collecting every violation by path.
pub fn from_proto(raw: &pb::IntakeRules) -> Result<Vec<IntakeRule>, Violations> {
    let mut v = Violations::default();
    if raw.rules.len() > MAX_RULES {
        v.add(
            "rules",
            format!("at most {MAX_RULES} rules, got {}", raw.rules.len()),
        );
        return Err(v);
    }
    let schema = schema();
    let mut names = HashSet::new();
    let mut rules = Vec::with_capacity(raw.rules.len());
    for (i, r) in raw.rules.iter().enumerate() {
        let at = |f: &str| format!("rules[{i}].{f}");
        let name = r.name.trim();
        if name.is_empty() || name.chars().count() > MAX_RULE_NAME_CHARS {
            v.add(at("name"), format!("1 to {MAX_RULE_NAME_CHARS} characters"));
        } else if !names.insert(name.to_lowercase()) {
            v.add(at("name"), format!("`{name}` is used by an earlier rule"));
        }
        let conditions = conditions_from_proto(&at("conditions"), r.conditions.as_ref(), &mut v);
        for problem in validate_conditions(&at("conditions"), &conditions, &schema) {
            v.add(problem.field, problem.reason);
        }
        let a = r.actions.clone().unwrap_or_default();
        let priority = match Priority::try_from(a.priority) {
            Ok(Priority::Unspecified) => None,
            Ok(p) => Some(p),
            Err(_) => {
                v.add(
                    at("actions.priority"),
                    format!("unknown priority {}", a.priority),
                );
                None
            }
        };
        let mut tag_errors = Violations::default();
        let add_tags = normalize_tags(&a.add_tags, &mut tag_errors);
        for e in tag_errors.0 {
            v.add(
                format!(
                    "{}.{}",
                    at("actions"),
                    e.field.replacen("tags", "add_tags", 1)
                ),
                e.description,
            );
        }
        let group = match a.group.trim() {
            "" => None,
            g if g.len() > 128 => {
                v.add(at("actions.group"), "at most 128 bytes");
                None
            }
            g => Some(g.to_owned()),
        };
        rules.push(IntakeRule {
            name: name.to_owned(),
            enabled: r.enabled,
            conditions,
            actions: Actions {
                priority,
                add_tags,
                group,
            },
        });
    }
    v.into_result(rules)
}

/// The wire form of a rule set.
pub fn to_proto(rules: &[IntakeRule], version: i64) -> pb::IntakeRules {
    pb::IntakeRules {
        rules: rules
            .iter()
            .map(|r| pb::IntakeRule {
                name: r.name.clone(),
                enabled: r.enabled,
                conditions: Some(conditions_to_proto(&r.conditions)),
                actions: Some(pb::IntakeActions {
                    priority: r.actions.priority.map_or(0, |p| p as i32),
                    add_tags: r.actions.add_tags.clone(),
                    group: r.actions.group.clone().unwrap_or_default(),
                }),
            })
            .collect(),
        version,
    }
}

impl Facts for NewTicket {
    fn fact(&self, field: &str) -> Option<Fact<'_>> {
        let email = match &self.identity {
            super::Identity::Email(e) => Some(e.as_str()),
            _ => None,
        };
        match field {
            "channel" => Some(Fact::Text(channel_str(self.channel))),
            "subject" => Some(Fact::Text(&self.subject)),
            "description" => {
                (!self.description.is_empty()).then_some(Fact::Text(&self.description))
            }
            "tags" => Some(Fact::List(&self.tags)),
            "requester_email" => email.map(Fact::Text),
            "requester_domain" => email
                .and_then(|e| e.rsplit_once('@'))
                .map(|(_, d)| Fact::Text(d)),
            "customer.tier" => self
                .requester_profile
                .as_ref()
                .filter(|p| !p.tier.is_empty())
                .map(|p| Fact::Text(&p.tier)),
            "customer.tags" => self.requester_profile.as_ref().map(|p| Fact::List(&p.tags)),
            custom => custom
                .strip_prefix("custom.")
                .and_then(|key| self.custom_fields.get(key))
                .map(|v| match v {
                    FieldValue::Text(t) => Fact::Text(t),
                    FieldValue::Integer(i) => Fact::Integer(*i),
                    FieldValue::Flag(b) => Fact::Bool(*b),
                }),
        }
    }
}

/// Whether any enabled rule tests the requester's profile (which then has
/// to be looked up before the rules run).
pub fn needs_profile(rules: &[IntakeRule]) -> bool {
    rules
        .iter()
        .filter(|r| r.enabled)
        .flat_map(|r| r.conditions.all.iter().chain(&r.conditions.any))
        .any(|c| c.field.starts_with("customer."))
}

/// Applies every enabled matching rule to `new`, in order. Returns the names
/// of the rules that applied.
pub fn apply(rules: &[IntakeRule], new: &mut NewTicket) -> Vec<String> {
    let mut applied = Vec::new();
    for rule in rules.iter().filter(|r| r.enabled) {
        if !matches(&rule.conditions, new) {
            continue;
        }
        if let Some(p) = rule.actions.priority
            && !new.explicit_priority
        {
            new.priority = p;
        }
        for tag in &rule.actions.add_tags {
            if new.tags.len() < MAX_TAGS && !new.tags.contains(tag) {
                new.tags.push(tag.clone());
            }
        }
        if let Some(g) = &rule.actions.group {
            new.group = Some(g.clone());
        }
        applied.push(rule.name.clone());
    }
    applied
}

#[cfg(test)]
mod tests;
