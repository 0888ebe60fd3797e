//! Top issues: tags, groups and subject terms of the tickets created in a
//! range, ranked by how much their volume rose against the equally long
//! period before. The definition computed fact by fact (which
//! [`crate::report::top_issues`], reading rows, must agree with) and the
//! ranking both share. No I/O.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use switchboard_kpi::{Range, TicketFact};

/// Fewest tickets in the range a term needs to be listed: subjects hold
/// many one-off words, and a word seen once is no issue.
pub const MIN_TERM_TICKETS: u64 = 3;

/// What a top issue is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IssueKind {
    /// A tag of the ticket (its current tags).
    Tag,
    /// The ticket's current group.
    Group,
    /// A term of the ticket's subject at creation
    /// (see [`switchboard_kpi::terms`]).
    Term,
}

impl IssueKind {
    /// Every kind.
    pub const ALL: [IssueKind; 3] = [IssueKind::Tag, IssueKind::Group, IssueKind::Term];

    /// The name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            IssueKind::Tag => "tag",
            IssueKind::Group => "group",
            IssueKind::Term => "term",
        }
    }

    /// The kind named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// Which kinds a request ranks.
pub type Kinds = BTreeSet<IssueKind>;

/// A tag, group or term whose volume rose.
#[derive(Debug, Clone, PartialEq)]
pub struct TopIssue {
    /// What it is.
    pub kind: IssueKind,
    /// The tag, group or term.
    pub key: String,
    /// Created in the range.
    pub count: u64,
    /// Created in the equally long period before.
    pub baseline: u64,
    /// `(count + 1) / (baseline + 1)`: smoothed, so a new key is not
    /// infinitely rising.
    pub growth: f64,
}

/// `(created in the range, created before)` per issue.
pub type IssueCounts = BTreeMap<(IssueKind, String), (u64, u64)>;

/// The period of the same length just before `range`: the baseline.
pub fn baseline_of(range: Range) -> Range {
    Range::new(range.from - (range.to - range.from), range.from)
}

/// The top issues of `range` among `kinds`, fact by fact: `facts` give
/// tags and groups, `subjects` each ticket's creation instant and subject
/// terms.
pub fn top_issues(
    facts: &[&TicketFact],
    subjects: &[(DateTime<Utc>, Vec<String>)],
    range: Range,
    kinds: &Kinds,
    limit: usize,
) -> Vec<TopIssue> {
    let before = baseline_of(range);
    let mut counts = IssueCounts::new();
    let mut add = |at: DateTime<Utc>, kind: IssueKind, key: &str| {
        if !kinds.contains(&kind) {
            return;
        }
        let c = counts.entry((kind, key.to_owned())).or_default();
        if range.contains(at) {
            c.0 += 1;
        } else if before.contains(at) {
            c.1 += 1;
        }
    };
    for f in facts {
        let tags: BTreeSet<&String> = f.tags.iter().collect();
        for tag in tags {
            add(f.created_at, IssueKind::Tag, tag);
        }
        if let Some(group) = &f.group {
            add(f.created_at, IssueKind::Group, group);
        }
    }
    for (at, terms) in subjects {
        let terms: BTreeSet<&String> = terms.iter().collect();
        for term in terms {
            add(*at, IssueKind::Term, term);
        }
    }
    rank_issues(counts, limit)
}

/// Ranks `counts` by growth (ties: more tickets first, then by kind and
/// key); keys with no ticket in the range, and terms with fewer than
/// [`MIN_TERM_TICKETS`], are left out.
pub fn rank_issues(counts: IssueCounts, limit: usize) -> Vec<TopIssue> {
    let mut issues: Vec<TopIssue> = counts
        .into_iter()
        .filter(|((kind, _), (count, _))| {
            *count > 0 && (*kind != IssueKind::Term || *count >= MIN_TERM_TICKETS)
        })
        .map(|((kind, key), (count, baseline))| TopIssue {
            kind,
            key,
            count,
            baseline,
            growth: (count + 1) as f64 / (baseline + 1) as f64,
        })
        .collect();
    issues.sort_by(|a, b| {
        b.growth
            .total_cmp(&a.growth)
            .then(b.count.cmp(&a.count))
            .then(a.kind.cmp(&b.kind))
            .then_with(|| a.key.cmp(&b.key))
    });
    issues.truncate(limit);
    issues
}

#[cfg(test)]
#[path = "issues_tests.rs"]
mod tests;
