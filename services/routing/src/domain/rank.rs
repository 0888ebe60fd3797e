//! Ranking the qualified agents of one decision: what least-loaded and
//! round-robin compare, worked out once per agent rather than on every
//! comparison.

use switchboard_proto::routing::v1::Presence;

use super::{Agent, Job, Strategy, select::skill_score};

/// A qualified agent with their live state and what ranking needs (the
/// channel's limit, the skill score) worked out once per decision instead of
/// once per comparison.
#[derive(Debug, Clone, Copy)]
pub struct Scored<'a> {
    /// The agent.
    pub agent: &'a Agent,
    /// Their capacity for the job's channel.
    pub limit: u32,
    /// Their [`skill_score`] for the job.
    pub score: u32,
    /// Their presence.
    pub presence: Presence,
    /// Tickets of the job's channel they hold.
    pub load: u32,
}

impl<'a> Scored<'a> {
    /// `agent` ranked for `job`, offline and empty until live state is known.
    pub fn new(agent: &'a Agent, job: &Job) -> Self {
        Self {
            agent,
            limit: agent.capacity.limit(job.channel()),
            score: skill_score(agent, job),
            presence: Presence::Offline,
            load: 0,
        }
    }

    /// Online and under capacity: whether a qualified agent may take the job now.
    pub fn open(&self) -> bool {
        self.presence == Presence::Online && self.load < self.limit
    }
}

/// [`pick`](super::pick) for agents already known to be qualified (see
/// [`qualified`](super::qualified)) and listed by user id, as a directory
/// lists them: the same choice, without re-checking groups, skills and
/// languages, re-scoring agents on every comparison, or comparing user ids
/// where their places in the list tell the order.
pub fn pick_scored(
    strategy: Strategy,
    candidates: &[Scored<'_>],
    last: Option<&str>,
) -> Option<usize> {
    debug_assert!(
        candidates
            .windows(2)
            .all(|w| w[0].agent.user <= w[1].agent.user),
        "candidates must be listed by user id"
    );
    let open = candidates.iter().enumerate().filter(|(_, c)| c.open());
    match strategy {
        // Equal on everything else, the earlier in the list has the lower id.
        Strategy::LeastLoaded => open
            .min_by(|(i, a), (j, b)| rank(a, b).then_with(|| i.cmp(j)))
            .map(|(i, _)| i),
        // The first open agent after the last pick's id, else the first.
        Strategy::RoundRobin => {
            let after = last.map_or(0, |l| {
                candidates.partition_point(|c| c.agent.user.as_str() <= l)
            });
            let mut first = None;
            for (i, _) in open {
                if i >= after {
                    return Some(i);
                }
                first.get_or_insert(i);
            }
            first
        }
    }
}

/// Least-loaded's order before user ids: load relative to capacity, then
/// the better skill score, then fewer tickets.
fn rank(a: &Scored<'_>, b: &Scored<'_>) -> std::cmp::Ordering {
    (u64::from(a.load) * u64::from(b.limit))
        .cmp(&(u64::from(b.load) * u64::from(a.limit)))
        .then_with(|| b.score.cmp(&a.score))
        .then_with(|| a.load.cmp(&b.load))
}

/// [`pick`](super::pick)'s choice among `open` candidates (index, ranking),
/// in any order.
pub(super) fn choose<'a>(
    strategy: Strategy,
    open: impl Iterator<Item = (usize, Scored<'a>)>,
    last: Option<&str>,
) -> Option<usize> {
    match strategy {
        Strategy::LeastLoaded => open
            .min_by(|(_, a), (_, b)| rank(a, b).then_with(|| a.agent.user.cmp(&b.agent.user)))
            .map(|(i, _)| i),
        Strategy::RoundRobin => {
            let mut first: Option<(usize, &str)> = None;
            let mut next: Option<(usize, &str)> = None;
            for (i, c) in open {
                let user = c.agent.user.as_str();
                if first.is_none_or(|(_, f)| user < f) {
                    first = Some((i, user));
                }
                if last.is_none_or(|l| user > l) && next.is_none_or(|(_, n)| user < n) {
                    next = Some((i, user));
                }
            }
            next.or(first).map(|(i, _)| i)
        }
    }
}

#[cfg(test)]
mod tests {
    use switchboard_proto::common::v1::Channel;

    use super::*;
    use crate::domain::{
        Candidate, pick,
        select::tests::{agent, job},
    };

    fn live<'a>(a: &'a Agent, j: &Job, presence: Presence, load: u32) -> Scored<'a> {
        Scored {
            presence,
            load,
            ..Scored::new(a, j)
        }
    }

    #[test]
    fn ranking_takes_the_channels_limit_and_the_skill_score_once() {
        let a = agent("ann", &[("refunds", 3), ("vat", 2)], 4);
        let s = Scored::new(&a, &job(&[("refunds", 1), ("vat", 1)]));
        assert_eq!((s.limit, s.score), (4, 5));
        assert_eq!(s.presence, Presence::Offline, "unknown until read");
        assert!(!s.open());
        let mut email = job(&[]);
        email.channel = Channel::Email as i32;
        assert_eq!(Scored::new(&a, &email).limit, 10);
    }

    #[test]
    fn only_online_agents_under_their_limit_are_open() {
        let a = agent("ann", &[], 2);
        let j = job(&[]);
        assert!(live(&a, &j, Presence::Online, 1).open());
        assert!(!live(&a, &j, Presence::Online, 2).open(), "at capacity");
        assert!(!live(&a, &j, Presence::Away, 0).open());
        assert!(!live(&a, &j, Presence::Offline, 0).open());
        assert_eq!(
            pick_scored(
                Strategy::LeastLoaded,
                &[live(&a, &j, Presence::Away, 0)],
                None
            ),
            None
        );
    }

    #[test]
    fn least_loaded_ranks_relative_load_then_skill_then_load_then_user() {
        let (ann, bob, cid, dan) = (
            agent("ann", &[("refunds", 2)], 10),
            agent("bob", &[("refunds", 5)], 3),
            agent("cid", &[("refunds", 5)], 6),
            agent("dan", &[("refunds", 5)], 6),
        );
        let j = job(&[("refunds", 1)]);
        let on = |a, load| live(a, &j, Presence::Online, load);
        let pick = |c: &[Scored<'_>]| pick_scored(Strategy::LeastLoaded, c, None);
        assert_eq!(
            pick(&[on(&ann, 2), on(&bob, 1)]),
            Some(0),
            "2 of 10 beats 1 of 3"
        );
        assert_eq!(pick(&[on(&ann, 1), on(&cid, 0)]), Some(1));
        assert_eq!(
            pick(&[on(&ann, 0), on(&cid, 0)]),
            Some(1),
            "skill breaks a tie"
        );
        assert_eq!(
            pick(&[on(&bob, 1), on(&cid, 2)]),
            Some(0),
            "then fewer tickets"
        );
        assert_eq!(
            pick(&[on(&cid, 1), on(&dan, 1)]),
            Some(0),
            "then the user id"
        );
    }

    #[test]
    fn round_robin_takes_the_next_open_agent_after_the_last_and_wraps() {
        let (ann, bob, cid) = (
            agent("ann", &[], 5),
            agent("bob", &[], 5),
            agent("cid", &[], 5),
        );
        let j = job(&[]);
        let on = |a, load| live(a, &j, Presence::Online, load);
        let c = [on(&ann, 0), on(&bob, 5), on(&cid, 4)];
        let rr = |last| pick_scored(Strategy::RoundRobin, &c, last);
        assert_eq!(rr(None), Some(0));
        assert_eq!(rr(Some("ann")), Some(2), "bob is full, so cid");
        assert_eq!(rr(Some("cid")), Some(0), "wraps");
        assert_eq!(rr(Some("bo")), Some(2), "a departed agent's turn passes on");
        assert_eq!(rr(Some("zed")), Some(0));
        let none_open = [on(&bob, 5)];
        assert_eq!(pick_scored(Strategy::RoundRobin, &none_open, None), None);
    }

    /// Ranking once must not change any choice: the same inputs through
    /// `pick` (which checks and scores every candidate itself and compares
    /// user ids) and `pick_scored` give the same agent, for many mixes of
    /// load, skill, capacity, presence and ties.
    #[test]
    fn ranked_picks_equal_plain_picks() {
        let skills = [("refunds", 1), ("vat", 2)];
        let mut agents: Vec<Agent> = (0..24)
            .map(|i| {
                agent(
                    &format!("a{:02}", (i * 7) % 24),
                    // Every one qualified (vat 2 or better), as `seat` passes them.
                    &[("refunds", (i % 5 + 1) as u8), ("vat", (i % 4 + 2) as u8)],
                    (i % 4 + 1) as u32,
                )
            })
            .collect();
        // Listed by user id, as a directory lists them.
        agents.sort_by(|a, b| a.user.cmp(&b.user));
        let j = job(&skills);
        for round in 0..40u32 {
            let presences = [Presence::Online, Presence::Online, Presence::Away];
            let plain: Vec<Candidate<'_>> = agents
                .iter()
                .enumerate()
                .map(|(i, agent)| Candidate {
                    agent,
                    presence: presences[(i + round as usize) % 3],
                    load: (i as u32 * 3 + round) % 5,
                })
                .collect();
            let ranked: Vec<Scored<'_>> = plain
                .iter()
                .map(|c| live(c.agent, &j, c.presence, c.load))
                .collect();
            // Turns after present and departed agents' ids.
            let last = format!(
                "a{:02}{}",
                round % 24,
                if round % 2 == 0 { "" } else { "x" }
            );
            for strategy in [Strategy::LeastLoaded, Strategy::RoundRobin] {
                for last in [None, Some(last.as_str())] {
                    assert_eq!(
                        pick(strategy, &plain, &j, last),
                        pick_scored(strategy, &ranked, last),
                        "round {round}, {strategy:?}, last {last:?}"
                    );
                }
            }
        }
    }
}
