//! The tenant's switches over the default rules of who hears what.

use std::collections::BTreeSet;

use switchboard_runtime::Violations;

/// Most rule changes one update may carry.
pub const MAX_CHANGES: usize = 50;

/// One default rule of [`super::recipients`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rule {
    /// The requester hears public staff replies by email.
    RequesterMessageAdded,
    /// The requester hears a solve by email, with the survey link.
    RequesterSolved,
    /// The requester hears that the desk waits for their answer.
    RequesterPending,
    /// The requester hears that staff reopened their solved ticket.
    RequesterReopened,
    /// The assignee hears an assignment in-app.
    AssigneeAssigned,
    /// The agent an escalation assigned hears it in-app.
    AssigneeEscalated,
    /// Followers and the assignee hear new messages in-app.
    FollowersMessage,
    /// Followers hear a solve in-app.
    FollowersSolved,
    /// Mentioned agents hear the message in-app.
    Mentions,
    /// The group's agents hear a ticket waiting unassigned in their queue.
    GroupQueued,
    /// The supervisors' inbox hears an SLA breach.
    SupervisorsSlaBreached,
    /// The supervisors' inbox hears an escalation.
    SupervisorsEscalated,
}

impl Rule {
    /// Every rule, in the order the API lists them.
    pub const ALL: [Rule; 12] = [
        Rule::RequesterMessageAdded,
        Rule::RequesterSolved,
        Rule::RequesterPending,
        Rule::RequesterReopened,
        Rule::AssigneeAssigned,
        Rule::AssigneeEscalated,
        Rule::FollowersMessage,
        Rule::FollowersSolved,
        Rule::Mentions,
        Rule::GroupQueued,
        Rule::SupervisorsSlaBreached,
        Rule::SupervisorsEscalated,
    ];

    /// The name tenants and storage use.
    pub fn name(self) -> &'static str {
        match self {
            Rule::RequesterMessageAdded => "requester.message_added",
            Rule::RequesterSolved => "requester.solved",
            Rule::RequesterPending => "requester.pending",
            Rule::RequesterReopened => "requester.reopened",
            Rule::AssigneeAssigned => "assignee.assigned",
            Rule::AssigneeEscalated => "assignee.escalated",
            Rule::FollowersMessage => "followers.message",
            Rule::FollowersSolved => "followers.solved",
            Rule::Mentions => "mentions",
            Rule::GroupQueued => "group.queued",
            Rule::SupervisorsSlaBreached => "supervisors.sla_breached",
            Rule::SupervisorsEscalated => "supervisors.escalated",
        }
    }

    /// The rule called `name`.
    pub fn parse(name: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|r| r.name() == name)
    }

    /// What the rule does, for admins.
    pub fn description(self) -> &'static str {
        match self {
            Rule::RequesterMessageAdded => "Email the requester each public reply by staff.",
            Rule::RequesterSolved => {
                "Email the requester when their ticket is solved, with the survey link."
            }
            Rule::RequesterPending => {
                "Email the requester when the ticket waits for their answer (pending)."
            }
            Rule::RequesterReopened => "Email the requester when staff reopen a solved ticket.",
            Rule::AssigneeAssigned => "Tell an agent in-app when a ticket is assigned to them.",
            Rule::AssigneeEscalated => {
                "Tell an agent in-app when an escalation assigns a ticket to them."
            }
            Rule::FollowersMessage => {
                "Tell followers and the assignee in-app about new messages on the ticket."
            }
            Rule::FollowersSolved => "Tell followers in-app when the ticket is solved.",
            Rule::Mentions => "Tell mentioned agents in-app about the message.",
            Rule::GroupQueued => {
                "Tell a group's agents in-app when a ticket waits unassigned in their queue."
            }
            Rule::SupervisorsSlaBreached => "Tell the supervisors' inbox about SLA breaches.",
            Rule::SupervisorsEscalated => "Tell the supervisors' inbox about escalations.",
        }
    }
}

/// A tenant's rules: every one on unless turned off. Plain data, so
/// [`super::recipients`] needs no I/O to apply it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rules {
    off: BTreeSet<Rule>,
}

impl Rules {
    /// Every rule on: what a tenant that never saved any gets.
    pub fn all_on() -> Self {
        Self::default()
    }

    /// The rules with `off` turned off.
    pub fn with_off(off: impl IntoIterator<Item = Rule>) -> Self {
        Self {
            off: off.into_iter().collect(),
        }
    }

    /// Whether `rule` is on.
    pub fn is_on(&self, rule: Rule) -> bool {
        !self.off.contains(&rule)
    }

    /// Turns `rule` on or off.
    pub fn set(&mut self, rule: Rule, on: bool) {
        if on {
            self.off.remove(&rule);
        } else {
            self.off.insert(rule);
        }
    }

    /// The names of the rules turned off, sorted (as stored).
    pub fn off_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.off.iter().map(|r| r.name().to_owned()).collect();
        names.sort();
        names
    }

    /// Rules from stored names; names no longer known are ignored, so a
    /// retired rule cannot break a tenant.
    pub fn from_off_names(names: &[String]) -> Self {
        Self::with_off(names.iter().filter_map(|n| Rule::parse(n)))
    }
}

/// Checks requested changes (`(name, enabled)` in request order): every
/// name known and listed once, at most [`MAX_CHANGES`].
pub fn validate_changes(changes: &[(String, bool)]) -> Result<Vec<(Rule, bool)>, Violations> {
    let mut v = Violations::default();
    if changes.len() > MAX_CHANGES {
        v.add("rules", format!("at most {MAX_CHANGES} changes"));
        return Err(v);
    }
    let mut out = Vec::with_capacity(changes.len());
    for (i, (name, on)) in changes.iter().enumerate() {
        match Rule::parse(name) {
            Some(rule) if out.iter().any(|(r, _)| *r == rule) => v.add(
                format!("rules[{i}].name"),
                format!("`{name}` is listed twice"),
            ),
            Some(rule) => out.push((rule, *on)),
            None => {
                let shown: String = name.chars().take(64).collect();
                let known: Vec<&str> = Rule::ALL.iter().map(|r| r.name()).collect();
                v.add(
                    format!("rules[{i}].name"),
                    format!("unknown rule `{shown}`; known: {}", known.join(", ")),
                );
            }
        }
    }
    v.into_result(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        for rule in Rule::ALL {
            assert_eq!(Rule::parse(rule.name()), Some(rule));
            assert!(!rule.description().is_empty());
        }
        let names: BTreeSet<_> = Rule::ALL.iter().map(|r| r.name()).collect();
        assert_eq!(names.len(), Rule::ALL.len());
        assert_eq!(Rule::parse("requester"), None);
    }

    #[test]
    fn rules_default_on_and_store_what_is_off() {
        let mut rules = Rules::all_on();
        assert!(Rule::ALL.iter().all(|r| rules.is_on(*r)));
        rules.set(Rule::RequesterPending, false);
        rules.set(Rule::GroupQueued, false);
        rules.set(Rule::GroupQueued, true);
        assert!(!rules.is_on(Rule::RequesterPending));
        assert_eq!(rules.off_names(), ["requester.pending"]);
        let stored = vec!["requester.pending".to_owned(), "retired.rule".to_owned()];
        assert_eq!(Rules::from_off_names(&stored), rules);
    }

    #[test]
    fn changes_name_unknown_and_repeated_rules() {
        let ok = validate_changes(&[("mentions".into(), false)]).unwrap();
        assert_eq!(ok, [(Rule::Mentions, false)]);
        let v = validate_changes(&[
            ("mentions".into(), false),
            ("requester.nope".into(), true),
            ("mentions".into(), true),
        ])
        .unwrap_err();
        assert!(v.has("rules[1].name") && v.has("rules[2].name"), "{v}");
        assert!(!v.has("rules[0].name"));
        assert!(v.to_string().contains("requester.nope"), "{v}");
        let many = vec![("mentions".to_owned(), true); MAX_CHANGES + 1];
        assert!(validate_changes(&many).unwrap_err().has("rules"));
    }
}
