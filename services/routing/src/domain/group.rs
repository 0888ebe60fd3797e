//! Groups (queues): how they pick agents and escalate.

use serde::{Deserialize, Serialize};
use switchboard_proto::routing::v1 as pb;
use switchboard_runtime::Violations;

use super::{agent::valid_user, is_slug};

/// How a group picks among eligible agents.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Lowest relative load for the channel; ties to the better skill match.
    #[default]
    LeastLoaded,
    /// Turns in user-id order.
    RoundRobin,
}

/// What happens to an agent's tickets when they go offline.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OfflinePolicy {
    /// They stay assigned.
    #[default]
    Keep,
    /// They are unassigned and routed again.
    Return,
}

/// What an SLA alert does to a ticket of the group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscalationAction {
    /// Raise the priority one step.
    pub raise_priority: bool,
    /// Move the ticket to this group, unassigned.
    pub reassign_group: Option<String>,
    /// Assign the ticket to this user.
    pub reassign_to: Option<String>,
    /// Add this user to the followers.
    pub add_follower: Option<String>,
}

impl EscalationAction {
    fn from_proto(
        at: &str,
        raw: Option<&pb::EscalationAction>,
        v: &mut Violations,
    ) -> Option<Self> {
        let raw = raw?;
        let group = match raw.reassign_group.trim() {
            "" => None,
            g => {
                let g = g.strip_prefix("groups/").unwrap_or(g);
                if !is_slug(g, false) {
                    v.add(
                        format!("{at}.reassign_group"),
                        "a group id: 1 to 64 of a-z, 0-9, `-`, `_`",
                    );
                }
                Some(g.to_owned())
            }
        };
        let user = |field: &str, raw: &str, v: &mut Violations| match raw.trim() {
            "" => None,
            u => {
                if !valid_user(u) {
                    v.add(
                        format!("{at}.{field}"),
                        "a user id: 1 to 128 bytes, no spaces or `/`",
                    );
                }
                Some(u.to_owned())
            }
        };
        let action = EscalationAction {
            raise_priority: raw.raise_priority,
            reassign_group: group,
            reassign_to: user("reassign_to", &raw.reassign_to, v),
            add_follower: user("add_follower", &raw.add_follower, v),
        };
        (action != EscalationAction::default()).then_some(action)
    }

    fn to_proto(&self) -> pb::EscalationAction {
        pb::EscalationAction {
            raise_priority: self.raise_priority,
            reassign_group: self.reassign_group.clone().unwrap_or_default(),
            reassign_to: self.reassign_to.clone().unwrap_or_default(),
            add_follower: self.add_follower.clone().unwrap_or_default(),
        }
    }
}

/// A queue of tickets and the agents who work it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// The id.
    pub id: String,
    /// Shown on dashboards.
    pub display_name: String,
    /// How an agent is picked.
    pub strategy: Strategy,
    /// What an agent going offline does to their tickets.
    pub offline_policy: OfflinePolicy,
    /// On `sla.warning`.
    pub on_warning: Option<EscalationAction>,
    /// On `sla.breached`.
    pub on_breach: Option<EscalationAction>,
    /// Optimistic concurrency version.
    #[serde(default)]
    pub version: i64,
}

/// The id in `groups/{id}`.
pub fn parse_name<'a>(field: &str, name: &'a str, v: &mut Violations) -> Option<&'a str> {
    match name.strip_prefix("groups/") {
        Some(id) if is_slug(id, false) => Some(id),
        _ => {
            v.add(
                field,
                "must be `groups/{group_id}` with 1 to 64 of a-z, 0-9, `-`, `_`",
            );
            None
        }
    }
}

const GROUP_FIELDS: [&str; 5] = [
    "display_name",
    "strategy",
    "offline_policy",
    "on_warning",
    "on_breach",
];

impl Group {
    /// A group with defaults.
    pub fn new(id: impl Into<String>) -> Self {
        Group {
            id: id.into(),
            display_name: String::new(),
            strategy: Strategy::default(),
            offline_policy: OfflinePolicy::default(),
            on_warning: None,
            on_breach: None,
            version: 0,
        }
    }

    /// Validates the fields of `raw` named by `mask` (all when `None`) into `self`.
    pub fn apply(&mut self, raw: &pb::Group, mask: Option<&[String]>, v: &mut Violations) {
        let wants = |f: &str| mask.is_none_or(|m| m.iter().any(|p| p == f));
        if let Some(m) = mask {
            for (i, p) in m.iter().enumerate() {
                if !GROUP_FIELDS.contains(&p.as_str()) {
                    v.add(
                        format!("update_mask.paths[{i}]"),
                        format!("`{p}` cannot be updated; use {}", GROUP_FIELDS.join(", ")),
                    );
                }
            }
        }
        if wants("display_name") {
            let name = raw.display_name.trim();
            if name.chars().count() > 120 || name.chars().any(char::is_control) {
                v.add(
                    "group.display_name",
                    "at most 120 characters without control characters",
                );
            }
            self.display_name = name.to_owned();
        }
        if wants("strategy") {
            self.strategy = match pb::Strategy::try_from(raw.strategy) {
                Ok(pb::Strategy::Unspecified | pb::Strategy::LeastLoaded) => Strategy::LeastLoaded,
                Ok(pb::Strategy::RoundRobin) => Strategy::RoundRobin,
                Err(_) => {
                    v.add(
                        "group.strategy",
                        format!("unknown strategy {}", raw.strategy),
                    );
                    Strategy::LeastLoaded
                }
            };
        }
        if wants("offline_policy") {
            self.offline_policy = match pb::OfflinePolicy::try_from(raw.offline_policy) {
                Ok(pb::OfflinePolicy::Unspecified | pb::OfflinePolicy::Keep) => OfflinePolicy::Keep,
                Ok(pb::OfflinePolicy::Return) => OfflinePolicy::Return,
                Err(_) => {
                    v.add(
                        "group.offline_policy",
                        format!("unknown policy {}", raw.offline_policy),
                    );
                    OfflinePolicy::Keep
                }
            };
        }
        if wants("on_warning") {
            self.on_warning =
                EscalationAction::from_proto("group.on_warning", raw.on_warning.as_ref(), v);
        }
        if wants("on_breach") {
            self.on_breach =
                EscalationAction::from_proto("group.on_breach", raw.on_breach.as_ref(), v);
        }
    }

    /// The wire form.
    pub fn to_proto(&self) -> pb::Group {
        pb::Group {
            name: format!("groups/{}", self.id),
            display_name: self.display_name.clone(),
            strategy: match self.strategy {
                Strategy::LeastLoaded => pb::Strategy::LeastLoaded,
                Strategy::RoundRobin => pb::Strategy::RoundRobin,
            } as i32,
            offline_policy: match self.offline_policy {
                OfflinePolicy::Keep => pb::OfflinePolicy::Keep,
                OfflinePolicy::Return => pb::OfflinePolicy::Return,
            } as i32,
            on_warning: self.on_warning.as_ref().map(EscalationAction::to_proto),
            on_breach: self.on_breach.as_ref().map(EscalationAction::to_proto),
            version: self.version,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_validate_and_round_trip() {
        let raw = pb::Group {
            name: "groups/billing".into(),
            display_name: "Billing".into(),
            strategy: pb::Strategy::RoundRobin as i32,
            offline_policy: pb::OfflinePolicy::Return as i32,
            on_breach: Some(pb::EscalationAction {
                raise_priority: true,
                reassign_group: "groups/tier-2".into(),
                add_follower: "sup".into(),
                ..Default::default()
            }),
            on_warning: Some(pb::EscalationAction::default()),
            version: 0,
        };
        let mut g = Group::new("billing");
        let mut v = Violations::default();
        g.apply(&raw, None, &mut v);
        assert!(v.0.is_empty(), "{v}");
        assert_eq!(g.strategy, Strategy::RoundRobin);
        assert_eq!(g.on_warning, None, "an empty action is no action");
        assert_eq!(
            g.on_breach.as_ref().unwrap().reassign_group.as_deref(),
            Some("tier-2")
        );
        let mut again = Group::new("billing");
        again.apply(&g.to_proto(), None, &mut v);
        assert_eq!(again, g);
    }

    #[test]
    fn bad_values_are_field_violations() {
        let raw = pb::Group {
            strategy: 7,
            on_breach: Some(pb::EscalationAction {
                reassign_group: "Tier 2".into(),
                reassign_to: "a b".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut g = Group::new("x");
        let mut v = Violations::default();
        g.apply(
            &raw,
            Some(&["strategy".into(), "on_breach".into(), "version".into()]),
            &mut v,
        );
        for f in [
            "group.strategy",
            "group.on_breach.reassign_group",
            "group.on_breach.reassign_to",
            "update_mask.paths[2]",
        ] {
            assert!(v.has(f), "{f}: {v}");
        }
        let mut v = Violations::default();
        assert_eq!(parse_name("name", "groups/ok", &mut v), Some("ok"));
        assert_eq!(parse_name("name", "ok", &mut v), None);
        assert!(v.has("name"));
    }
}
