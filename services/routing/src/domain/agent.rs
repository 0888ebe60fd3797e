//! Agents: who they are, what they know and how much they can hold.

use std::collections::BTreeMap;

use switchboard_proto::{common::v1::Channel, routing::v1 as pb};
use switchboard_runtime::Violations;

use super::{channel_name, is_slug};

/// Most groups an agent works in.
pub const MAX_GROUPS: usize = 50;
/// Most skills per agent.
pub const MAX_SKILLS: usize = 50;
/// Most languages per agent.
pub const MAX_LANGUAGES: usize = 20;
/// Highest capacity of one channel.
pub const MAX_CAPACITY: u32 = 1000;
/// Longest user id, in bytes.
pub const MAX_USER_BYTES: usize = 128;

/// How many tickets of each channel an agent holds at most.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capacity {
    /// The limit of channels not listed.
    pub default: u32,
    /// Per-channel limits.
    pub channels: BTreeMap<Channel, u32>,
}

impl Capacity {
    /// The limit for `channel`.
    pub fn limit(&self, channel: Channel) -> u32 {
        self.channels.get(&channel).copied().unwrap_or(self.default)
    }

    /// Storage form: channel name (`*` for the default) to limit.
    pub fn to_map(&self) -> BTreeMap<String, u32> {
        let mut map: BTreeMap<String, u32> = self
            .channels
            .iter()
            .map(|(c, n)| (channel_name(*c).to_owned(), *n))
            .collect();
        if self.default > 0 {
            map.insert("*".into(), self.default);
        }
        map
    }

    /// Reads [`Capacity::to_map`]'s form, skipping unknown channels.
    pub fn from_map(map: &BTreeMap<String, u32>) -> Self {
        let mut cap = Capacity::default();
        for (name, n) in map {
            match super::parse_channel(name) {
                Some(Channel::Unspecified) => cap.default = *n,
                Some(c) => {
                    cap.channels.insert(c, *n);
                }
                None => {}
            }
        }
        cap
    }
}

/// Someone who answers tickets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agent {
    /// The user id (the token's `sub`).
    pub user: String,
    /// Shown on dashboards.
    pub display_name: String,
    /// Group ids, sorted and unique.
    pub groups: Vec<String>,
    /// Skill name to level 1..=5.
    pub skills: BTreeMap<String, u8>,
    /// Lower-case BCP 47 tags.
    pub languages: Vec<String>,
    /// Limits per channel.
    pub capacity: Capacity,
    /// Optimistic concurrency version.
    pub version: i64,
}

impl Agent {
    /// The agent's level in `skill`, 0 when it lacks it.
    pub fn level(&self, skill: &str) -> u8 {
        self.skills.get(skill).copied().unwrap_or(0)
    }

    /// Whether the agent speaks `language`: the same tag, or the same primary
    /// language when either side has no region (`de` serves `de-CH`).
    pub fn speaks(&self, language: &str) -> bool {
        // Borrowed slices, not copies: this runs for every member of a group
        // on every decision for a ticket with a language.
        fn primary(t: &str) -> &str {
            t.split('-').next().unwrap_or("")
        }
        let regional = language.contains('-');
        self.languages.iter().any(|l| {
            l.eq_ignore_ascii_case(language)
                || ((!l.contains('-') || !regional)
                    && primary(l).eq_ignore_ascii_case(primary(language)))
        })
    }

    /// Whether the agent works in `group`.
    pub fn in_group(&self, group: &str) -> bool {
        self.groups
            .binary_search_by(|g| g.as_str().cmp(group))
            .is_ok()
    }

    /// The wire form, without presence and load.
    pub fn to_proto(&self) -> pb::Agent {
        let mut capacity: Vec<pb::ChannelCapacity> = self
            .capacity
            .channels
            .iter()
            .map(|(c, n)| pb::ChannelCapacity {
                channel: *c as i32,
                max: *n as i32,
            })
            .collect();
        if self.capacity.default > 0 {
            capacity.insert(
                0,
                pb::ChannelCapacity {
                    channel: Channel::Unspecified as i32,
                    max: self.capacity.default as i32,
                },
            );
        }
        pb::Agent {
            name: format!("agents/{}", self.user),
            display_name: self.display_name.clone(),
            groups: self.groups.clone(),
            skills: self
                .skills
                .iter()
                .map(|(name, level)| pb::Skill {
                    name: name.clone(),
                    level: i32::from(*level),
                })
                .collect(),
            languages: self.languages.clone(),
            capacity,
            version: self.version,
            ..Default::default()
        }
    }
}

/// The user id in `agents/{user_id}`; `me` is the caller.
pub fn parse_name<'a>(
    field: &str,
    name: &'a str,
    me: &'a str,
    v: &mut Violations,
) -> Option<&'a str> {
    match name.strip_prefix("agents/") {
        Some("me") => Some(me),
        Some(id) if valid_user(id) => Some(id),
        _ => {
            v.add(
                field,
                "must be `agents/{user_id}` (1 to 128 bytes, no `/` or control characters)",
            );
            None
        }
    }
}

/// Whether `id` can be a user id.
pub fn valid_user(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_USER_BYTES
        && !id.contains('/')
        && !id.chars().any(|c| c.is_control() || c.is_whitespace())
}

/// Validates the mutable fields of `raw` into `agent`, for the fields in
/// `mask` (all when `None`).
pub fn apply_fields(
    agent: &mut Agent,
    raw: &pb::Agent,
    mask: Option<&[String]>,
    v: &mut Violations,
) {
    let wants = |f: &str| mask.is_none_or(|m| m.iter().any(|p| p == f));
    if let Some(m) = mask {
        for (i, p) in m.iter().enumerate() {
            if !["display_name", "groups", "skills", "languages", "capacity"].contains(&p.as_str())
            {
                v.add(
                    format!("update_mask.paths[{i}]"),
                    format!("`{p}` cannot be updated; use display_name, groups, skills, languages or capacity"),
                );
            }
        }
    }
    if wants("display_name") {
        let name = raw.display_name.trim();
        if name.chars().count() > 120 || name.chars().any(char::is_control) {
            v.add(
                "agent.display_name",
                "at most 120 characters without control characters",
            );
        }
        agent.display_name = name.to_owned();
    }
    if wants("groups") {
        if raw.groups.len() > MAX_GROUPS {
            v.add("agent.groups", format!("at most {MAX_GROUPS} groups"));
        }
        let mut groups = Vec::new();
        for (i, g) in raw.groups.iter().take(MAX_GROUPS).enumerate() {
            let id = g.strip_prefix("groups/").unwrap_or(g);
            if is_slug(id, false) {
                groups.push(id.to_owned());
            } else {
                v.add(
                    format!("agent.groups[{i}]"),
                    "a group id: 1 to 64 of a-z, 0-9, `-`, `_`",
                );
            }
        }
        groups.sort();
        groups.dedup();
        agent.groups = groups;
    }
    if wants("skills") {
        if raw.skills.len() > MAX_SKILLS {
            v.add("agent.skills", format!("at most {MAX_SKILLS} skills"));
        }
        let mut skills = BTreeMap::new();
        for (i, s) in raw.skills.iter().take(MAX_SKILLS).enumerate() {
            if !is_slug(&s.name, true) {
                v.add(
                    format!("agent.skills[{i}].name"),
                    "1 to 64 of a-z, 0-9, `-`, `_`, `.`",
                );
            } else if !(1..=5).contains(&s.level) {
                v.add(format!("agent.skills[{i}].level"), "must be 1 to 5");
            } else if skills.contains_key(&s.name) {
                v.add(
                    format!("agent.skills[{i}].name"),
                    format!("`{}` is listed twice", s.name),
                );
            } else {
                skills.insert(s.name.clone(), s.level as u8);
            }
        }
        agent.skills = skills;
    }
    if wants("languages") {
        if raw.languages.len() > MAX_LANGUAGES {
            v.add(
                "agent.languages",
                format!("at most {MAX_LANGUAGES} languages"),
            );
        }
        let mut langs = Vec::new();
        for (i, l) in raw.languages.iter().take(MAX_LANGUAGES).enumerate() {
            if valid_language(l) {
                langs.push(l.to_ascii_lowercase());
            } else {
                v.add(
                    format!("agent.languages[{i}]"),
                    "a BCP 47 tag such as `en` or `de-ch`",
                );
            }
        }
        langs.sort();
        langs.dedup();
        agent.languages = langs;
    }
    if wants("capacity") {
        if raw.capacity.len() > 8 {
            v.add("agent.capacity", "at most 8 entries");
        }
        let mut cap = Capacity::default();
        let mut seen = std::collections::BTreeSet::new();
        for (i, c) in raw.capacity.iter().take(8).enumerate() {
            let Ok(channel) = Channel::try_from(c.channel) else {
                v.add(
                    format!("agent.capacity[{i}].channel"),
                    format!("unknown channel {}", c.channel),
                );
                continue;
            };
            if !seen.insert(channel) {
                v.add(format!("agent.capacity[{i}].channel"), "listed twice");
                continue;
            }
            if c.max < 0 || c.max as u32 > MAX_CAPACITY {
                v.add(
                    format!("agent.capacity[{i}].max"),
                    format!("must be 0 to {MAX_CAPACITY}"),
                );
                continue;
            }
            if channel == Channel::Unspecified {
                cap.default = c.max as u32;
            } else {
                cap.channels.insert(channel, c.max as u32);
            }
        }
        agent.capacity = cap;
    }
}

/// Whether `tag` looks like a BCP 47 language tag (`en`, `pt-br`, `zh-hant`).
pub fn valid_language(tag: &str) -> bool {
    let mut parts = tag.split('-');
    let primary = parts.next().unwrap_or("");
    (2..=3).contains(&primary.len())
        && primary.bytes().all(|b| b.is_ascii_alphabetic())
        && tag.len() <= 35
        && parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent() -> Agent {
        Agent {
            user: "ann".into(),
            display_name: String::new(),
            groups: vec![],
            skills: BTreeMap::new(),
            languages: vec![],
            capacity: Capacity::default(),
            version: 1,
        }
    }

    #[test]
    fn capacity_falls_back_to_the_default_and_round_trips() {
        let cap = Capacity {
            default: 2,
            channels: BTreeMap::from([(Channel::Chat, 3), (Channel::Email, 10)]),
        };
        assert_eq!(cap.limit(Channel::Chat), 3);
        assert_eq!(cap.limit(Channel::Phone), 2);
        assert_eq!(Capacity::from_map(&cap.to_map()), cap);
        assert_eq!(Capacity::default().limit(Channel::Email), 0);
    }

    #[test]
    fn languages_match_by_tag_or_primary_subtag() {
        let mut a = agent();
        a.languages = vec!["de".into(), "en-gb".into()];
        assert!(a.speaks("de"));
        assert!(a.speaks("de-CH"), "a German speaker serves Swiss German");
        assert!(
            a.speaks("en"),
            "a British English speaker serves plain English"
        );
        assert!(a.speaks("EN-GB"));
        assert!(!a.speaks("en-us"), "two different regions do not match");
        assert!(!a.speaks("fr"));
    }

    #[test]
    fn fields_validate_with_paths() {
        let mut a = agent();
        let raw = pb::Agent {
            groups: vec![
                "groups/billing".into(),
                "Bad Group".into(),
                "billing".into(),
            ],
            skills: vec![
                pb::Skill {
                    name: "refunds".into(),
                    level: 4,
                },
                pb::Skill {
                    name: "refunds".into(),
                    level: 2,
                },
                pb::Skill {
                    name: "vat".into(),
                    level: 9,
                },
            ],
            languages: vec!["en".into(), "english!".into()],
            capacity: vec![
                pb::ChannelCapacity {
                    channel: Channel::Chat as i32,
                    max: 3,
                },
                pb::ChannelCapacity {
                    channel: Channel::Email as i32,
                    max: -1,
                },
                pb::ChannelCapacity {
                    channel: 99,
                    max: 1,
                },
            ],
            ..Default::default()
        };
        let mut v = Violations::default();
        apply_fields(&mut a, &raw, None, &mut v);
        for field in [
            "agent.groups[1]",
            "agent.skills[1].name",
            "agent.skills[2].level",
            "agent.languages[1]",
            "agent.capacity[1].max",
            "agent.capacity[2].channel",
        ] {
            assert!(v.has(field), "{field} in {v}");
        }
        assert_eq!(v.0.len(), 6, "{v}");
        assert_eq!(a.groups, ["billing"]);
        assert!(a.in_group("billing") && !a.in_group("sales"));
        assert_eq!(a.level("refunds"), 4);
        assert_eq!(a.capacity.limit(Channel::Chat), 3);
    }

    #[test]
    fn masks_limit_what_changes_and_refuse_unknown_paths() {
        let mut a = agent();
        a.display_name = "Ann".into();
        let raw = pb::Agent {
            display_name: "Other".into(),
            languages: vec!["fr".into()],
            ..Default::default()
        };
        let mut v = Violations::default();
        apply_fields(
            &mut a,
            &raw,
            Some(&["languages".into(), "presence".into()]),
            &mut v,
        );
        assert!(v.has("update_mask.paths[1]"));
        assert_eq!(a.display_name, "Ann");
        assert_eq!(a.languages, ["fr"]);
    }

    #[test]
    fn names_parse() {
        let mut v = Violations::default();
        assert_eq!(
            parse_name("name", "agents/ann", "me-user", &mut v),
            Some("ann")
        );
        assert_eq!(
            parse_name("name", "agents/me", "me-user", &mut v),
            Some("me-user")
        );
        assert_eq!(parse_name("name", "ann", "x", &mut v), None);
        assert_eq!(parse_name("name", "agents/a/b", "x", &mut v), None);
        assert_eq!(v.0.len(), 2);
    }
}
