//! Choosing an agent for a ticket, and the order tickets wait in.

use std::cmp::{Ordering, Reverse};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use switchboard_proto::{
    common::v1::{Channel, Priority},
    routing::v1::Presence,
};
use uuid::Uuid;

use super::{
    Agent, Strategy,
    rank::{Scored, choose},
};

/// A ticket to place: what routing decided about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// The ticket id.
    pub ticket: Uuid,
    /// The version AssignTicket expects.
    pub version: i64,
    /// The group id.
    pub group: String,
    /// The ticket's channel (`i32` of [`Channel`]).
    pub channel: i32,
    /// The ticket's priority (`i32` of [`Priority`]).
    pub priority: i32,
    /// Required skills and minimum levels.
    pub skills: Vec<(String, u8)>,
    /// A language the agent must speak.
    pub language: Option<String>,
    /// The earliest SLA due time.
    pub sla_due: Option<DateTime<Utc>>,
    /// When the ticket was opened.
    pub created: DateTime<Utc>,
    /// The rule that routed it.
    pub rule: Option<String>,
}

impl Job {
    /// The channel.
    pub fn channel(&self) -> Channel {
        Channel::try_from(self.channel).unwrap_or(Channel::Unspecified)
    }

    /// The priority.
    pub fn priority(&self) -> Priority {
        Priority::try_from(self.priority).unwrap_or(Priority::Normal)
    }
}

/// An agent of the group with their live state.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    /// The agent.
    pub agent: &'a Agent,
    /// Their presence.
    pub presence: Presence,
    /// Tickets of the job's channel they hold.
    pub load: u32,
}

/// Whether `agent` may take `job` now: online, in the group, with every
/// required skill at its level, speaking the ticket's language, and under
/// capacity for the channel.
pub fn eligible(c: &Candidate<'_>, job: &Job) -> bool {
    c.presence == Presence::Online
        && qualified(c.agent, job)
        && c.load < c.agent.capacity.limit(job.channel())
}

/// Whether `agent` could ever take `job`, whatever their presence and load:
/// in the group, with every required skill at its level, speaking the
/// ticket's language, with some capacity for the channel.
pub fn qualified(agent: &Agent, job: &Job) -> bool {
    agent.in_group(&job.group)
        && job.skills.iter().all(|(s, min)| agent.level(s) >= *min)
        && job.language.as_deref().is_none_or(|l| agent.speaks(l))
        && agent.capacity.limit(job.channel()) > 0
}

/// How well `agent` matches the job's skills: the sum of their levels in the
/// required skills (higher is better).
pub fn skill_score(agent: &Agent, job: &Job) -> u32 {
    job.skills
        .iter()
        .map(|(s, _)| u32::from(agent.level(s)))
        .sum()
}

/// Picks among `candidates` (indexes into it) by `strategy`; ineligible
/// candidates are skipped. `last` is the group's previous round-robin pick.
///
/// Least-loaded compares load relative to capacity (2 of 10 beats 1 of 3),
/// then the better skill match, then the lower absolute load, then the user
/// id, so equal inputs always give the same agent.
pub fn pick(
    strategy: Strategy,
    candidates: &[Candidate<'_>],
    job: &Job,
    last: Option<&str>,
) -> Option<usize> {
    let open = candidates
        .iter()
        .enumerate()
        .filter(|(_, c)| eligible(c, job))
        .map(|(i, c)| {
            let mut s = Scored::new(c.agent, job);
            (s.presence, s.load) = (c.presence, c.load);
            (i, s)
        });
    choose(strategy, open, last)
}

/// The queue's order: higher priority first, then the earlier SLA due time
/// (tickets without one after those with), then the older ticket. The
/// waiting table's `ORDER BY` mirrors it.
pub fn queue_order(a: &Job, b: &Job) -> Ordering {
    let key = |j: &Job| {
        (
            Reverse(j.priority),
            j.sla_due.is_none(),
            j.sla_due,
            j.created,
            j.ticket,
        )
    };
    key(a).cmp(&key(b))
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::domain::Capacity;

    /// A support agent with `skills` and room for `chat` chats.
    pub(crate) fn agent(user: &str, skills: &[(&str, u8)], chat: u32) -> Agent {
        Agent {
            user: user.into(),
            display_name: String::new(),
            groups: vec!["support".into()],
            skills: skills.iter().map(|(s, l)| ((*s).to_owned(), *l)).collect(),
            languages: vec!["en".into()],
            capacity: Capacity {
                default: 0,
                channels: BTreeMap::from([(Channel::Chat, chat), (Channel::Email, 10)]),
            },
            version: 1,
        }
    }

    /// A chat job for the support group needing `skills`.
    pub(crate) fn job(skills: &[(&str, u8)]) -> Job {
        Job {
            ticket: Uuid::now_v7(),
            version: 1,
            group: "support".into(),
            channel: Channel::Chat as i32,
            priority: Priority::Normal as i32,
            skills: skills.iter().map(|(s, l)| ((*s).to_owned(), *l)).collect(),
            language: None,
            sla_due: None,
            created: Utc::now(),
            rule: None,
        }
    }

    fn online(agent: &Agent, load: u32) -> Candidate<'_> {
        Candidate {
            agent,
            presence: Presence::Online,
            load,
        }
    }

    #[test]
    fn qualification_ignores_presence_and_load_but_not_skills_or_a_zero_capacity() {
        let a = agent("ann", &[("refunds", 3)], 2);
        assert!(qualified(&a, &job(&[("refunds", 3)])));
        assert!(!qualified(&a, &job(&[("refunds", 4)])), "level too low");
        assert!(!qualified(&a, &job(&[("api", 1)])), "skill missing");
        let no_chat = agent("bo", &[], 0);
        assert!(!qualified(&no_chat, &job(&[])), "no chat capacity at all");
        let mut other_group = job(&[]);
        other_group.group = "billing".into();
        assert!(!qualified(&a, &other_group));
    }

    #[test]
    fn eligibility_needs_presence_group_skills_language_and_capacity() {
        let a = agent("ann", &[("refunds", 3)], 2);
        let j = job(&[("refunds", 3)]);
        assert!(eligible(&online(&a, 1), &j));
        assert!(!eligible(&online(&a, 2), &j), "at capacity");
        assert!(!eligible(
            &Candidate {
                presence: Presence::Away,
                ..online(&a, 0)
            },
            &j
        ));
        assert!(!eligible(
            &Candidate {
                presence: Presence::Offline,
                ..online(&a, 0)
            },
            &j
        ));
        assert!(
            !eligible(&online(&a, 0), &job(&[("refunds", 4)])),
            "level too low"
        );
        assert!(
            !eligible(&online(&a, 0), &job(&[("vat", 1)])),
            "skill missing"
        );
        let mut other_group = job(&[]);
        other_group.group = "sales".into();
        assert!(!eligible(&online(&a, 0), &other_group));
        let mut german = job(&[]);
        german.language = Some("de".into());
        assert!(!eligible(&online(&a, 0), &german));
        german.language = Some("en-us".into());
        assert!(eligible(&online(&a, 0), &german));
        let mut phone = job(&[]);
        phone.channel = Channel::Phone as i32;
        assert!(
            !eligible(&online(&a, 0), &phone),
            "no capacity for phone at all"
        );
    }

    #[test]
    fn least_loaded_compares_relative_load() {
        let (a, b) = (agent("ann", &[], 10), agent("bob", &[], 3));
        let cands = [online(&a, 2), online(&b, 1)];
        assert_eq!(
            pick(Strategy::LeastLoaded, &cands, &job(&[]), None),
            Some(0),
            "2 of 10 beats 1 of 3"
        );
        let cands = [online(&a, 5), online(&b, 1)];
        assert_eq!(
            pick(Strategy::LeastLoaded, &cands, &job(&[]), None),
            Some(1),
            "5 of 10 loses to 1 of 3"
        );
    }

    #[test]
    fn least_loaded_ties_go_to_skill_then_load_then_user_id() {
        let (a, b, c) = (
            agent("ann", &[("refunds", 2)], 4),
            agent("bob", &[("refunds", 5)], 4),
            agent("cid", &[("refunds", 5)], 8),
        );
        let j = job(&[("refunds", 1)]);
        assert_eq!(
            pick(
                Strategy::LeastLoaded,
                &[online(&a, 1), online(&b, 1)],
                &j,
                None
            ),
            Some(1),
            "better skill wins a tie"
        );
        // bob 2/4 and cid 4/8 are equally loaded and equally skilled: fewer tickets wins.
        assert_eq!(
            pick(
                Strategy::LeastLoaded,
                &[online(&c, 4), online(&b, 2)],
                &j,
                None
            ),
            Some(1)
        );
        let (x, y) = (agent("yan", &[], 4), agent("xia", &[], 4));
        assert_eq!(
            pick(
                Strategy::LeastLoaded,
                &[online(&x, 0), online(&y, 0)],
                &job(&[]),
                None
            ),
            Some(1),
            "then user id"
        );
    }

    #[test]
    fn ineligible_agents_are_never_picked() {
        let (a, b) = (agent("ann", &[], 2), agent("bob", &[], 2));
        let cands = [
            online(&a, 2),
            Candidate {
                presence: Presence::Away,
                ..online(&b, 0)
            },
        ];
        assert_eq!(pick(Strategy::LeastLoaded, &cands, &job(&[]), None), None);
        assert_eq!(pick(Strategy::RoundRobin, &cands, &job(&[]), None), None);
        assert_eq!(pick(Strategy::LeastLoaded, &[], &job(&[]), None), None);
    }

    #[test]
    fn round_robin_takes_turns_in_user_order_and_wraps() {
        let (a, b, c) = (
            agent("ann", &[], 5),
            agent("bob", &[], 5),
            agent("cid", &[], 5),
        );
        let cands = [online(&c, 4), online(&a, 0), online(&b, 3)];
        let j = job(&[]);
        assert_eq!(
            pick(Strategy::RoundRobin, &cands, &j, None),
            Some(1),
            "starts at the first user"
        );
        assert_eq!(
            pick(Strategy::RoundRobin, &cands, &j, Some("ann")),
            Some(2),
            "ignores load"
        );
        assert_eq!(pick(Strategy::RoundRobin, &cands, &j, Some("bob")), Some(0));
        assert_eq!(
            pick(Strategy::RoundRobin, &cands, &j, Some("cid")),
            Some(1),
            "wraps"
        );
        assert_eq!(
            pick(Strategy::RoundRobin, &cands, &j, Some("bon")),
            Some(0),
            "a departed agent's turn passes on"
        );
        let full = [online(&c, 4), online(&a, 0), online(&b, 5)];
        assert_eq!(
            pick(Strategy::RoundRobin, &full, &j, Some("ann")),
            Some(0),
            "skips a full agent"
        );
    }

    #[test]
    fn the_queue_orders_by_priority_then_due_time_then_age() {
        let now = Utc::now();
        let mut urgent = job(&[]);
        urgent.priority = Priority::Urgent as i32;
        urgent.created = now;
        let mut due_soon = job(&[]);
        due_soon.sla_due = Some(now + chrono::TimeDelta::minutes(5));
        due_soon.created = now;
        let mut due_later = job(&[]);
        due_later.sla_due = Some(now + chrono::TimeDelta::minutes(50));
        due_later.created = now - chrono::TimeDelta::hours(1);
        let mut old = job(&[]);
        old.created = now - chrono::TimeDelta::hours(2);
        let mut new = job(&[]);
        new.created = now;
        let mut list = [
            new.clone(),
            old.clone(),
            due_later.clone(),
            urgent.clone(),
            due_soon.clone(),
        ];
        list.sort_by(queue_order);
        let order: Vec<Uuid> = list.iter().map(|j| j.ticket).collect();
        assert_eq!(
            order,
            [
                urgent.ticket,
                due_soon.ticket,
                due_later.ticket,
                old.ticket,
                new.ticket
            ]
        );
    }
}
