//! Routing rules: ordered, tenant-defined; the first enabled rule whose
//! conditions hold picks the group and the skills a ticket needs. Conditions
//! have the shape intake rules have (`libs/rules`).

use std::collections::HashSet;

use switchboard_proto::{common::v1::Priority, routing::v1 as pb};
use switchboard_rules::{
    FieldKind, Schema, matches, validate_conditions,
    wire::{conditions_from_proto, conditions_to_proto},
};
use switchboard_runtime::Violations;

use super::{is_slug, ticket::TicketView};

/// Most routing rules per tenant.
pub const MAX_RULES: usize = 200;
/// Most required skills per rule.
pub const MAX_REQUIRED_SKILLS: usize = 10;
/// Most tags a rule adds.
pub const MAX_ADD_TAGS: usize = 20;

const CHANNELS: &[&str] = &["email", "chat", "phone", "social", "sms", "web_form", "api"];
const PRIORITIES: &[&str] = &["low", "normal", "high", "urgent"];

/// The fields routing conditions may test.
pub fn schema() -> Schema {
    Schema::new([
        ("channel", FieldKind::Enum(CHANNELS)),
        ("priority", FieldKind::Enum(PRIORITIES)),
        ("subject", FieldKind::Text),
        ("description", FieldKind::Text),
        ("tags", FieldKind::List),
        ("group", FieldKind::Text),
        ("language", FieldKind::Text),
        ("customer.tier", FieldKind::Text),
    ])
    .with_prefix(switchboard_rules::CUSTOM_PREFIX, FieldKind::Dynamic)
}

/// What a matching rule decides.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Actions {
    /// The target group id.
    pub group: String,
    /// Skill and minimum level.
    pub required_skills: Vec<(String, u8)>,
    /// New priority.
    pub priority: Option<Priority>,
    /// Tags to add.
    pub add_tags: Vec<String>,
}

/// One validated routing rule.
pub type RoutingRule = switchboard_rules::Rule<Actions>;

/// Validates a whole rule set, every problem addressed by path under `rules`.
pub fn from_proto(raw: &pb::RoutingRules) -> Result<Vec<RoutingRule>, Violations> {
    let mut v = Violations::default();
    if raw.rules.len() > MAX_RULES {
        v.add(
            "rules.rules",
            format!("at most {MAX_RULES} rules, got {}", raw.rules.len()),
        );
        return Err(v);
    }
    let schema = schema();
    let mut names = HashSet::new();
    let mut rules = Vec::with_capacity(raw.rules.len());
    for (i, r) in raw.rules.iter().enumerate() {
        let at = |f: &str| format!("rules.rules[{i}].{f}");
        let name = r.name.trim();
        if name.is_empty() || name.chars().count() > switchboard_rules::MAX_NAME_LEN {
            v.add(
                at("name"),
                format!("1 to {} characters", switchboard_rules::MAX_NAME_LEN),
            );
        } else if !names.insert(name.to_lowercase()) {
            v.add(at("name"), format!("`{name}` is used by an earlier rule"));
        }
        let conditions = conditions_from_proto(&at("conditions"), r.conditions.as_ref(), &mut v);
        for problem in validate_conditions(&at("conditions"), &conditions, &schema) {
            v.add(problem.field, problem.reason);
        }
        let a = r.actions.clone().unwrap_or_default();
        let group = a
            .group
            .strip_prefix("groups/")
            .unwrap_or(&a.group)
            .trim()
            .to_owned();
        if !is_slug(&group, false) {
            v.add(
                at("actions.group"),
                "required: a group id, 1 to 64 of a-z, 0-9, `-`, `_`",
            );
        }
        if a.required_skills.len() > MAX_REQUIRED_SKILLS {
            v.add(
                at("actions.required_skills"),
                format!("at most {MAX_REQUIRED_SKILLS}"),
            );
        }
        let mut skills = Vec::new();
        for (j, s) in a
            .required_skills
            .iter()
            .take(MAX_REQUIRED_SKILLS)
            .enumerate()
        {
            if !is_slug(&s.name, true) {
                v.add(
                    at(&format!("actions.required_skills[{j}].name")),
                    "1 to 64 of a-z, 0-9, `-`, `_`, `.`",
                );
            } else if !(1..=5).contains(&s.level) {
                v.add(
                    at(&format!("actions.required_skills[{j}].level")),
                    "must be 1 to 5",
                );
            } else {
                skills.push((s.name.clone(), s.level as u8));
            }
        }
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
        if a.add_tags.len() > MAX_ADD_TAGS {
            v.add(at("actions.add_tags"), format!("at most {MAX_ADD_TAGS}"));
        }
        let mut add_tags = Vec::new();
        for (j, t) in a.add_tags.iter().take(MAX_ADD_TAGS).enumerate() {
            let tag = t.trim().to_lowercase();
            if tag.is_empty()
                || tag.chars().count() > 64
                || tag.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                v.add(
                    at(&format!("actions.add_tags[{j}]")),
                    "1 to 64 characters without spaces",
                );
            } else if !add_tags.contains(&tag) {
                add_tags.push(tag);
            }
        }
        rules.push(RoutingRule {
            name: name.to_owned(),
            enabled: r.enabled,
            conditions,
            actions: Actions {
                group,
                required_skills: skills,
                priority,
                add_tags,
            },
        });
    }
    v.into_result(rules)
}

/// The wire form of a rule set.
pub fn to_proto(rules: &[RoutingRule], version: i64) -> pb::RoutingRules {
    pb::RoutingRules {
        rules: rules
            .iter()
            .map(|r| pb::RoutingRule {
                name: r.name.clone(),
                enabled: r.enabled,
                conditions: Some(conditions_to_proto(&r.conditions)),
                actions: Some(pb::RoutingActions {
                    group: r.actions.group.clone(),
                    required_skills: r
                        .actions
                        .required_skills
                        .iter()
                        .map(|(name, level)| pb::Skill {
                            name: name.clone(),
                            level: i32::from(*level),
                        })
                        .collect(),
                    priority: r.actions.priority.map_or(0, |p| p as i32),
                    add_tags: r.actions.add_tags.clone(),
                }),
            })
            .collect(),
        version,
    }
}

/// Where a ticket goes and who may take it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The group id.
    pub group: String,
    /// The rule that decided; `None` when the ticket's own group was used.
    pub rule: Option<String>,
    /// Skills an agent needs, with minimum levels.
    pub skills: Vec<(String, u8)>,
    /// A language the agent must speak.
    pub language: Option<String>,
    /// A priority to set on the ticket, when it differs.
    pub priority: Option<Priority>,
    /// Tags to add to the ticket (those it lacks).
    pub add_tags: Vec<String>,
}

/// Decides where `ticket` goes. The first enabled matching rule wins; with
/// `keep_group` (a ticket that returns to the queue, or was moved by
/// escalation) the ticket's own group stands and a rule only contributes
/// its skills when it targets that group. `None`: nobody routes it.
pub fn decide(rules: &[RoutingRule], ticket: &TicketView, keep_group: bool) -> Option<Decision> {
    let rule = rules
        .iter()
        .find(|r| r.enabled && matches(&r.conditions, ticket));
    let (group, rule) = match (keep_group, ticket.group.as_deref(), rule) {
        (true, Some(own), Some(r)) if r.actions.group == own => (own.to_owned(), Some(r)),
        (true, Some(own), _) => (own.to_owned(), None),
        (_, _, Some(r)) => (r.actions.group.clone(), Some(r)),
        (false, Some(own), None) => (own.to_owned(), None),
        (_, None, None) => return None,
    };
    let (skills, priority, add_tags) = match rule {
        Some(r) => (
            r.actions.required_skills.clone(),
            r.actions.priority.filter(|p| *p != ticket.priority),
            r.actions
                .add_tags
                .iter()
                .filter(|t| !ticket.tags.contains(t))
                .cloned()
                .collect(),
        ),
        None => (Vec::new(), None, Vec::new()),
    };
    Some(Decision {
        group,
        rule: rule.map(|r| r.name.clone()),
        skills,
        language: ticket.language.clone(),
        priority,
        add_tags,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ticket::tests::ticket;
    use switchboard_proto::common::v1::{
        Condition as PbCondition, ConditionValue, Conditions as PbConditions, condition_value::Kind,
    };

    fn cond(field: &str, op: &str, text: &str) -> PbCondition {
        PbCondition {
            field: field.into(),
            operator: op.into(),
            value: Some(ConditionValue {
                kind: Some(Kind::Text(text.into())),
            }),
        }
    }

    fn rule(
        name: &str,
        all: Vec<PbCondition>,
        any: Vec<PbCondition>,
        group: &str,
        skills: &[(&str, i32)],
    ) -> pb::RoutingRule {
        pb::RoutingRule {
            name: name.into(),
            enabled: true,
            conditions: Some(PbConditions { all, any }),
            actions: Some(pb::RoutingActions {
                group: group.into(),
                required_skills: skills
                    .iter()
                    .map(|(n, l)| pb::Skill {
                        name: (*n).into(),
                        level: *l,
                    })
                    .collect(),
                ..Default::default()
            }),
        }
    }

    fn rules(list: Vec<pb::RoutingRule>) -> Vec<RoutingRule> {
        from_proto(&pb::RoutingRules {
            rules: list,
            version: 0,
        })
        .expect("valid rules")
    }

    #[test]
    fn the_first_matching_rule_decides_group_and_skills() {
        let set = rules(vec![
            rule(
                "chat vip",
                vec![cond("channel", "is", "chat")],
                vec![],
                "vip",
                &[],
            ),
            rule(
                "refunds",
                vec![],
                vec![
                    cond("subject", "contains_any_word", "refund chargeback"),
                    cond("tags", "contains", "refund"),
                ],
                "billing",
                &[("refunds", 3)],
            ),
            rule("everything", vec![], vec![], "general", &[]),
        ]);
        let t = ticket();
        let d = decide(&set, &t, false).unwrap();
        assert_eq!(d.group, "billing");
        assert_eq!(d.rule.as_deref(), Some("refunds"));
        assert_eq!(d.skills, [("refunds".to_owned(), 3)]);

        let mut chat = ticket();
        chat.channel = switchboard_proto::common::v1::Channel::Chat;
        assert_eq!(decide(&set, &chat, false).unwrap().group, "vip");

        let mut other = ticket();
        other.subject = "Hello".into();
        other.tags.clear();
        assert_eq!(
            decide(&set, &other, false).unwrap().rule.as_deref(),
            Some("everything")
        );
    }

    #[test]
    fn disabled_rules_and_no_match_fall_back_to_the_ticket_group() {
        let mut list = vec![rule(
            "refunds",
            vec![cond("subject", "contains", "refund")],
            vec![],
            "billing",
            &[],
        )];
        list[0].enabled = false;
        let set = rules(list);
        let mut t = ticket();
        assert_eq!(
            decide(&set, &t, false),
            None,
            "no rule and no group: nobody routes it"
        );
        t.group = Some("support".into());
        let d = decide(&set, &t, false).unwrap();
        assert_eq!((d.group.as_str(), d.rule), ("support", None));
    }

    #[test]
    fn keep_group_holds_the_tickets_group_and_takes_skills_only_from_its_rules() {
        let set = rules(vec![rule(
            "refunds",
            vec![cond("subject", "contains", "refund")],
            vec![],
            "billing",
            &[("refunds", 2)],
        )]);
        let mut t = ticket();
        t.group = Some("tier-2".into());
        let d = decide(&set, &t, true).unwrap();
        assert_eq!(d.group, "tier-2");
        assert!(d.skills.is_empty());
        t.group = Some("billing".into());
        assert_eq!(
            decide(&set, &t, true).unwrap().skills,
            [("refunds".to_owned(), 2)]
        );
        assert_eq!(decide(&set, &t, false).unwrap().group, "billing");
    }

    #[test]
    fn decisions_carry_language_priority_and_only_new_tags() {
        let mut r = rule(
            "urgent words",
            vec![cond("description", "contains_any_word", "twice")],
            vec![],
            "billing",
            &[],
        );
        let actions = r.actions.as_mut().unwrap();
        actions.priority = Priority::Urgent as i32;
        actions.add_tags = vec!["billing".into(), "Double-Charge".into()];
        let set = rules(vec![r]);
        let mut t = ticket();
        t.language = Some("de".into());
        let d = decide(&set, &t, false).unwrap();
        assert_eq!(d.priority, Some(Priority::Urgent));
        assert_eq!(d.add_tags, ["double-charge"]);
        assert_eq!(d.language.as_deref(), Some("de"));
        t.priority = Priority::Urgent;
        assert_eq!(
            decide(&set, &t, false).unwrap().priority,
            None,
            "an unchanged priority is no change"
        );
    }

    #[test]
    fn rule_sets_are_validated_by_path() {
        let mut bad = rule(
            "x",
            vec![cond("channel", "is", "fax"), cond("mood", "is", "bad")],
            vec![],
            "",
            &[("refunds", 9)],
        );
        bad.conditions.as_mut().unwrap().any.push(PbCondition {
            field: "subject".into(),
            operator: "between".into(),
            value: None,
        });
        let dup = rule("X", vec![], vec![], "ok", &[]);
        let err = from_proto(&pb::RoutingRules {
            rules: vec![bad, dup],
            version: 0,
        })
        .unwrap_err();
        for f in [
            "rules.rules[0].conditions.all[0].value",
            "rules.rules[0].conditions.all[1].field",
            "rules.rules[0].conditions.any[0].operator",
            "rules.rules[0].actions.group",
            "rules.rules[0].actions.required_skills[0].level",
            "rules.rules[1].name",
        ] {
            assert!(err.has(f), "{f} missing from {err}");
        }
    }

    #[test]
    fn rule_sets_round_trip_through_the_wire_form() {
        let set = rules(vec![rule(
            "a",
            vec![cond("language", "is", "de")],
            vec![],
            "german",
            &[("de", 1)],
        )]);
        let again = from_proto(&to_proto(&set, 4)).unwrap();
        assert_eq!(again, set);
        let too_many = pb::RoutingRules {
            rules: vec![pb::RoutingRule::default(); MAX_RULES + 1],
            version: 0,
        };
        assert!(from_proto(&too_many).unwrap_err().has("rules.rules"));
    }
}
