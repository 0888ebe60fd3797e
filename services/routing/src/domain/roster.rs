//! Which agents of a directory could take a kind of job, worked out once.
//!
//! Qualifying an agent (group, every required skill, language, a capacity
//! for the channel) and scoring their skills are string comparisons; done
//! for every member of a group on every decision they cost more than the
//! rest of the choice. The answer depends only on the directory (agents
//! and groups, fixed for its revision) and on the job's requirement (group,
//! skills, language, channel), of which a tenant has few, so each
//! directory remembers it per requirement.

use std::{
    collections::HashMap,
    hash::{BuildHasher, RandomState},
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
};

use super::{Agent, Job, qualified, skill_score};

/// Most requirements one directory remembers; past it, it starts again.
pub const MAX_NEEDS: usize = 1024;

/// A qualified agent: their place in the directory's agent list, their
/// capacity for the job's channel and their skill score for the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fit {
    /// Index into the agent list the roster was asked about.
    pub index: usize,
    /// Their capacity for the job's channel.
    pub limit: u32,
    /// Their [`skill_score`] for the job.
    pub score: u32,
}

/// The part of a job that decides who qualifies.
#[derive(Debug)]
struct Need {
    group: String,
    skills: Vec<(String, u8)>,
    language: Option<String>,
    channel: i32,
}

impl Need {
    fn of(job: &Job) -> Self {
        Self {
            group: job.group.clone(),
            skills: job.skills.clone(),
            language: job.language.clone(),
            channel: job.channel,
        }
    }

    fn is(&self, job: &Job) -> bool {
        self.channel == job.channel
            && self.group == job.group
            && self.skills == job.skills
            && self.language == job.language
    }
}

/// Requirements whose hashes are equal, each with its agents.
type Bucket = Vec<(Need, Arc<[Fit]>)>;

#[derive(Debug, Default)]
struct Lists {
    len: usize,
    /// By a hash of the requirement, so a lookup copies nothing.
    by_hash: HashMap<u64, Bucket>,
}

/// The qualified agents of one directory per requirement. It must only be
/// asked about the agent list it was made with (a directory owns one).
#[derive(Debug)]
pub struct Roster {
    id: u64,
    hasher: RandomState,
    lists: Mutex<Lists>,
}

impl Default for Roster {
    fn default() -> Self {
        static IDS: AtomicU64 = AtomicU64::new(1);
        Self {
            id: IDS.fetch_add(1, Ordering::Relaxed),
            hasher: RandomState::new(),
            lists: Mutex::default(),
        }
    }
}

impl Roster {
    /// Unique among the rosters of this process, so caches elsewhere can
    /// tell directories apart.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The agents of `agents` who could take `job`, in list order.
    pub fn fits(&self, agents: &[Agent], job: &Job) -> Arc<[Fit]> {
        let hash = self
            .hasher
            .hash_one((&job.group, &job.skills, &job.language, job.channel));
        {
            let lists = self.lists.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some((_, fits)) = lists
                .by_hash
                .get(&hash)
                .and_then(|l| l.iter().find(|(need, _)| need.is(job)))
            {
                return fits.clone();
            }
        }
        // Worked out outside the lock; two deciders racing both compute the
        // same answer, and one of them is kept.
        let fits: Arc<[Fit]> = agents
            .iter()
            .enumerate()
            .filter(|(_, a)| qualified(a, job))
            .map(|(index, a)| Fit {
                index,
                limit: a.capacity.limit(job.channel()),
                score: skill_score(a, job),
            })
            .collect();
        let mut lists = self.lists.lock().unwrap_or_else(PoisonError::into_inner);
        if lists.len >= MAX_NEEDS {
            *lists = Lists::default();
        }
        let same = lists.by_hash.entry(hash).or_default();
        if !same.iter().any(|(need, _)| need.is(job)) {
            same.push((Need::of(job), fits.clone()));
            lists.len += 1;
        }
        fits
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::Utc;
    use switchboard_proto::common::v1::{Channel, Priority};
    use uuid::Uuid;

    use super::*;
    use crate::domain::Capacity;

    fn agent(user: &str, group: &str, skills: &[(&str, u8)], languages: &[&str]) -> Agent {
        Agent {
            user: user.into(),
            display_name: String::new(),
            groups: vec![group.into()],
            skills: skills.iter().map(|(s, l)| ((*s).to_owned(), *l)).collect(),
            languages: languages.iter().map(|l| (*l).to_owned()).collect(),
            capacity: Capacity {
                default: 0,
                channels: BTreeMap::from([(Channel::Chat, 2), (Channel::Email, 10)]),
            },
            version: 1,
        }
    }

    fn job(group: &str, skills: &[(&str, u8)], language: Option<&str>, channel: Channel) -> Job {
        Job {
            ticket: Uuid::now_v7(),
            version: 1,
            group: group.into(),
            channel: channel as i32,
            priority: Priority::Normal as i32,
            skills: skills.iter().map(|(s, l)| ((*s).to_owned(), *l)).collect(),
            language: language.map(str::to_owned),
            sla_due: None,
            created: Utc::now(),
            rule: None,
        }
    }

    fn agents() -> Vec<Agent> {
        vec![
            agent("ann", "support", &[("refunds", 4)], &["en"]),
            agent("bob", "sales", &[("refunds", 5)], &["en"]),
            agent("cid", "support", &[("refunds", 1)], &["de"]),
            agent("dan", "support", &[], &["en", "de"]),
        ]
    }

    #[test]
    fn the_roster_lists_the_qualified_with_limit_and_score() {
        let (roster, agents) = (Roster::default(), agents());
        let chat = job("support", &[("refunds", 1)], None, Channel::Chat);
        assert_eq!(
            &*roster.fits(&agents, &chat),
            [
                Fit {
                    index: 0,
                    limit: 2,
                    score: 4
                },
                Fit {
                    index: 2,
                    limit: 2,
                    score: 1
                }
            ]
        );
        let german_email = job("support", &[], Some("de"), Channel::Email);
        let fits = roster.fits(&agents, &german_email);
        let who: Vec<(&str, u32)> = fits
            .iter()
            .map(|f| (agents[f.index].user.as_str(), f.limit))
            .collect();
        assert_eq!(who, [("cid", 10), ("dan", 10)]);
        assert!(
            roster
                .fits(&agents, &job("support", &[], None, Channel::Phone))
                .is_empty(),
            "nobody has phone capacity"
        );
    }

    #[test]
    fn each_requirement_is_worked_out_once_and_told_apart() {
        let (roster, agents) = (Roster::default(), agents());
        let a = job("support", &[("refunds", 2)], None, Channel::Chat);
        let first = roster.fits(&agents, &a);
        let again = roster.fits(
            &agents,
            &job("support", &[("refunds", 2)], None, Channel::Chat),
        );
        assert!(
            Arc::ptr_eq(&first, &again),
            "the same requirement is remembered"
        );
        for other in [
            job("sales", &[("refunds", 2)], None, Channel::Chat),
            job("support", &[("refunds", 5)], None, Channel::Chat),
            job("support", &[("refunds", 2)], Some("de"), Channel::Chat),
            job("support", &[("refunds", 2)], None, Channel::Email),
        ] {
            let fits = roster.fits(&agents, &other);
            assert!(!Arc::ptr_eq(&first, &fits), "{other:?}");
            let expected: Vec<usize> = (0..agents.len())
                .filter(|i| qualified(&agents[*i], &other))
                .collect();
            let got: Vec<usize> = fits.iter().map(|f| f.index).collect();
            assert_eq!(got, expected, "{other:?}");
        }
    }

    #[test]
    fn rosters_are_told_apart() {
        let (a, b) = (Roster::default(), Roster::default());
        assert_ne!(a.id(), b.id());
        assert_eq!(a.id(), a.id());
    }

    #[test]
    fn the_roster_stays_bounded() {
        let (roster, agents) = (Roster::default(), agents());
        for level in 0..(MAX_NEEDS + 10) {
            let group = format!("g{level}");
            assert!(
                roster
                    .fits(&agents, &job(&group, &[], None, Channel::Chat))
                    .is_empty()
            );
        }
        let lists = roster.lists.lock().unwrap();
        assert!(lists.len <= MAX_NEEDS, "{}", lists.len);
        assert_eq!(
            lists.len,
            lists.by_hash.values().map(Vec::len).sum::<usize>()
        );
    }
}
