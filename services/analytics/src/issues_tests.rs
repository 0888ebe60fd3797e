use super::*;

use switchboard_kpi::TicketEvent;
use switchboard_kpi::fact::{Channel, Priority, SlaTargets};
use switchboard_kpi::terms::subject_terms;
use switchboard_sla::Calendar;

fn t(minutes: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000 + minutes * 60, 0).unwrap()
}

fn fact(created: i64, tags: &[&str]) -> TicketFact {
    let events = [TicketEvent::Created {
        at: t(created),
        by_agent: false,
        channel: Channel::Email,
        priority: Priority::Normal,
        group: None,
        tags: tags.iter().map(|s| s.to_string()).collect(),
        assignee: None,
        sla: SlaTargets::default(),
    }];
    crate::ingest::fold(&events, &Calendar::always()).unwrap()
}

fn all() -> Kinds {
    IssueKind::ALL.into_iter().collect()
}

fn keys(issues: &[TopIssue]) -> Vec<(&'static str, &str)> {
    issues
        .iter()
        .map(|i| (i.kind.as_str(), i.key.as_str()))
        .collect()
}

#[test]
fn top_issues_rank_by_smoothed_growth() {
    // Range [100, 200), baseline [0, 100): outage 0 → 3, billing 2 → 2.
    let facts = [
        fact(10, &["billing"]),
        fact(20, &["billing"]),
        fact(110, &["billing", "outage"]),
        fact(120, &["billing", "outage"]),
        fact(130, &["outage", "outage"]),
        fact(250, &["outage"]),
    ];
    let refs: Vec<&TicketFact> = facts.iter().collect();
    let range = Range::new(t(100), t(200));
    let issues = top_issues(&refs, &[], range, &all(), 10);
    assert_eq!(keys(&issues), [("tag", "outage"), ("tag", "billing")]);
    assert_eq!((issues[0].count, issues[0].baseline), (3, 0));
    assert_eq!(issues[0].growth, 4.0);
    assert_eq!(issues[1].growth, 1.0);
    assert_eq!(top_issues(&refs, &[], range, &all(), 1).len(), 1);
}

#[test]
fn subject_terms_rank_beside_tags_once_frequent() {
    let subject = |at: i64, s: &str| (t(at), subject_terms(s));
    let subjects = [
        // Baseline [0, 100).
        subject(10, "Refund please"),
        subject(20, "Login failed"),
        subject(30, "login FAILED"),
        subject(40, "Login failed"),
        // Range [100, 200).
        subject(110, "The refund is missing"),
        subject(120, "Refund missing, refund!"),
        subject(130, "Missing refund"),
        subject(140, "where is my refund? Missing"),
        subject(150, "Login failed again"),
        subject(160, "Login failed"),
        subject(170, "failed login"),
        // Two tickets only: rising, but not frequent enough.
        subject(180, "Printer jam"),
        subject(190, "printer jam"),
        // After the range.
        subject(250, "Refund"),
    ];
    let facts = [fact(115, &["billing"])];
    let refs: Vec<&TicketFact> = facts.iter().collect();
    let range = Range::new(t(100), t(200));
    let issues = top_issues(&refs, &subjects, range, &all(), 10);
    assert_eq!(
        keys(&issues),
        [
            ("term", "missing"),
            ("term", "refund"),
            ("tag", "billing"),
            ("term", "failed"),
            ("term", "login"),
        ]
    );
    // A term counts once per ticket, however often the subject says it.
    let refund = &issues[1];
    assert_eq!((refund.count, refund.baseline, refund.growth), (4, 1, 2.5));
    assert_eq!((issues[0].count, issues[0].growth), (4, 5.0));
    assert_eq!((issues[4].count, issues[4].baseline), (3, 3));

    let terms: Kinds = [IssueKind::Term].into_iter().collect();
    let only = top_issues(&refs, &subjects, range, &terms, 2);
    assert_eq!(keys(&only), [("term", "missing"), ("term", "refund")]);
    let tags: Kinds = [IssueKind::Tag].into_iter().collect();
    let only = top_issues(&refs, &subjects, range, &tags, 10);
    assert_eq!(keys(&only), [("tag", "billing")]);
}

#[test]
fn the_minimum_holds_for_terms_only() {
    let mut counts = IssueCounts::new();
    counts.insert((IssueKind::Term, "jam".into()), (MIN_TERM_TICKETS - 1, 0));
    counts.insert((IssueKind::Term, "vpn".into()), (MIN_TERM_TICKETS, 0));
    counts.insert((IssueKind::Tag, "rare".into()), (1, 0));
    counts.insert((IssueKind::Group, "gone".into()), (0, 5));
    let ranked = rank_issues(counts, 10);
    assert_eq!(keys(&ranked), [("term", "vpn"), ("tag", "rare")]);
}

#[test]
fn kinds_have_wire_names() {
    for kind in IssueKind::ALL {
        assert_eq!(IssueKind::parse(kind.as_str()), Some(kind));
    }
    assert_eq!(IssueKind::parse("Term"), None);
    assert_eq!(IssueKind::parse(""), None);
    let r = Range::new(t(100), t(160));
    assert_eq!(baseline_of(r), Range::new(t(40), t(100)));
}
