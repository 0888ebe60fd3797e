use super::*;
use crate::domain::SUPERVISORS_INBOX;

fn on() -> Rules {
    Rules::all_on()
}

/// The desk's staff in these tests: every `agent-*`.
fn staff(user: &str) -> bool {
    user.starts_with("agent-")
}

fn ticket() -> TicketFact {
    TicketFact {
        name: "tickets/t1".into(),
        id: "t1".into(),
        number: 7,
        subject: "Printer".into(),
        requester: "customers/c1".into(),
        assignee: "agent-a".into(),
        followers: vec!["agent-f".into(), "agent-a".into()],
    }
}

fn message(public: bool, author: &str, kind: ActorKind) -> MessageFact {
    MessageFact {
        id: "m1".into(),
        author_kind: kind,
        author: author.into(),
        public,
        body: "hello".into(),
        mentions: vec!["agent-m".into()],
    }
}

#[test]
fn a_public_agent_reply_emails_the_requester_once() {
    let fact = Fact::MessageAdded(ticket(), message(true, "agent-a", ActorKind::Agent));
    let out = recipients(&fact, "agent-a", Some("ada@example.com"), &on(), &staff);
    let emails: Vec<_> = out.iter().filter(|i| i.channel == Channel::Email).collect();
    assert_eq!(emails.len(), 1);
    assert_eq!(emails[0].recipient, "ada@example.com");
    assert_eq!(emails[0].kind, "message.added");
    // the author hears nothing; mention and follower get the in-app one
    assert!(out.iter().all(|i| i.recipient != "agent-a"));
    assert!(
        out.iter()
            .any(|i| i.recipient == "agent-m" && i.kind == "message.mentioned")
    );
    assert!(
        out.iter()
            .any(|i| i.recipient == "agent-f" && i.kind == "message.followed")
    );
}

#[test]
fn internal_notes_never_reach_the_customer() {
    let fact = Fact::MessageAdded(ticket(), message(false, "agent-a", ActorKind::Agent));
    let out = recipients(&fact, "agent-a", Some("ada@example.com"), &on(), &staff);
    assert!(out.iter().all(|i| i.channel != Channel::Email));
    assert!(out.iter().all(|i| i.recipient != "ada@example.com"));
    assert!(out.iter().any(|i| i.recipient == "agent-m"));
}

#[test]
fn the_customers_own_message_is_not_echoed_to_them() {
    let fact = Fact::MessageAdded(
        ticket(),
        message(true, "ada@example.com", ActorKind::Customer),
    );
    let out = recipients(
        &fact,
        "ada@example.com",
        Some("ada@example.com"),
        &on(),
        &staff,
    );
    assert!(out.iter().all(|i| i.channel != Channel::Email));
}

#[test]
fn a_mentioned_follower_hears_once_per_channel() {
    let mut m = message(true, "agent-x", ActorKind::Agent);
    m.mentions = vec!["agent-f".into(), "agent-f".into()];
    let out = recipients(
        &Fact::MessageAdded(ticket(), m),
        "agent-x",
        None,
        &on(),
        &staff,
    );
    assert_eq!(out.iter().filter(|i| i.recipient == "agent-f").count(), 1);
}

#[test]
fn assignment_solve_and_breach_reach_their_people() {
    let assigned = Fact::Assigned {
        ticket: ticket(),
        previous: String::new(),
    };
    assert_eq!(
        recipients(&assigned, "router", None, &on(), &staff),
        vec![Intent::new("agent-a", Channel::InApp, "ticket.assigned")]
    );
    // self-assignment notifies nobody
    assert!(recipients(&assigned, "agent-a", None, &on(), &staff).is_empty());
    let solved = recipients(
        &Fact::Solved(ticket()),
        "agent-a",
        Some("ada@example.com"),
        &on(),
        &staff,
    );
    assert!(
        solved
            .iter()
            .any(|i| i.recipient == "ada@example.com" && i.kind == "ticket.solved")
    );
    let breach = Fact::SlaBreached {
        ticket: ticket(),
        target: "resolution".into(),
    };
    assert_eq!(
        recipients(&breach, "", None, &on(), &staff)[0].recipient,
        SUPERVISORS_INBOX
    );
    assert!(recipients(&Fact::Other, "", Some("ada@example.com"), &on(), &staff).is_empty());
}

fn status(from: TicketStatus, to: TicketStatus, by: ActorKind) -> Fact {
    Fact::StatusChanged {
        ticket: ticket(),
        from,
        to,
        by,
    }
}

#[test]
fn pending_and_reopened_by_staff_email_the_requester() {
    let pending = recipients(
        &status(TicketStatus::Open, TicketStatus::Pending, ActorKind::Agent),
        "agent-a",
        Some("ada@example.com"),
        &on(),
        &staff,
    );
    assert_eq!(
        pending,
        vec![Intent::new(
            "ada@example.com",
            Channel::Email,
            "ticket.pending"
        )]
    );
    let reopened = recipients(
        &status(TicketStatus::Solved, TicketStatus::Open, ActorKind::Agent),
        "agent-a",
        Some("ada@example.com"),
        &on(),
        &staff,
    );
    assert_eq!(
        reopened,
        vec![Intent::new(
            "ada@example.com",
            Channel::Email,
            "ticket.reopened"
        )]
    );
    // No address known: nobody to tell.
    let unknown = status(TicketStatus::New, TicketStatus::Pending, ActorKind::System);
    assert!(recipients(&unknown, "sys", None, &on(), &staff).is_empty());
}

#[test]
fn internal_status_changes_tell_the_customer_nothing() {
    for (from, to, by) in [
        (TicketStatus::Open, TicketStatus::OnHold, ActorKind::Agent),
        (
            TicketStatus::Pending,
            TicketStatus::OnHold,
            ActorKind::Agent,
        ),
        // an agent's first public reply opens a new ticket
        (TicketStatus::New, TicketStatus::Open, ActorKind::Agent),
        (TicketStatus::OnHold, TicketStatus::Open, ActorKind::Agent),
        // the customer's own reply reopens or wakes the ticket
        (
            TicketStatus::Solved,
            TicketStatus::Open,
            ActorKind::Customer,
        ),
        (
            TicketStatus::Pending,
            TicketStatus::Open,
            ActorKind::Customer,
        ),
        (
            TicketStatus::Solved,
            TicketStatus::Closed,
            ActorKind::System,
        ),
        (
            TicketStatus::Pending,
            TicketStatus::Pending,
            ActorKind::Agent,
        ),
        (
            TicketStatus::Open,
            TicketStatus::Pending,
            ActorKind::Unspecified,
        ),
    ] {
        let out = recipients(
            &status(from, to, by),
            "someone",
            Some("ada@example.com"),
            &on(),
            &staff,
        );
        assert!(out.is_empty(), "{from:?} -> {to:?} by {by:?}: {out:?}");
    }
}

fn queued(members: &[&str]) -> Fact {
    Fact::Queued {
        ticket: ticket(),
        queue: QueueFact {
            group: "printers".into(),
            priority: "high".into(),
            position: 3,
            members: members.iter().map(|m| m.to_string()).collect(),
        },
    }
}

#[test]
fn a_queued_ticket_reaches_each_group_member_in_app_once() {
    let out = recipients(
        &queued(&["agent-b", "agent-c", "agent-b", ""]),
        "routing",
        Some("ada@example.com"),
        &on(),
        &staff,
    );
    assert_eq!(
        out,
        vec![
            Intent::new("agent-b", Channel::InApp, "routing.queued"),
            Intent::new("agent-c", Channel::InApp, "routing.queued"),
        ]
    );
    assert!(recipients(&queued(&[]), "routing", None, &on(), &staff).is_empty());
}

fn escalated(actions: &[&str], new_assignee: &str) -> Fact {
    Fact::Escalated {
        ticket: ticket(),
        escalation: EscalationFact {
            trigger: "sla.breached".into(),
            actions: actions.iter().map(|a| a.to_string()).collect(),
            group: "printers".into(),
            new_group: "tier-2".into(),
            new_assignee: new_assignee.into(),
        },
    }
}

#[test]
fn escalations_reach_supervisors_and_a_new_assignee() {
    let out = recipients(
        &escalated(&["raise_priority", "reassign_to"], "agent-sup"),
        "routing",
        None,
        &on(),
        &staff,
    );
    assert_eq!(
        out,
        vec![
            Intent::new(SUPERVISORS_INBOX, Channel::InApp, "routing.escalated"),
            Intent::new("agent-sup", Channel::InApp, "routing.escalated"),
        ]
    );
    // The assignee did not change (or there is none): supervisors only.
    for fact in [
        escalated(&["raise_priority"], "agent-a"),
        escalated(&["reassign_group"], ""),
    ] {
        assert_eq!(
            recipients(&fact, "routing", None, &on(), &staff),
            vec![Intent::new(
                SUPERVISORS_INBOX,
                Channel::InApp,
                "routing.escalated"
            )]
        );
    }
}

#[test]
fn each_rule_turned_off_silences_exactly_its_recipients() {
    let ada = Some("ada@example.com");
    let reply = Fact::MessageAdded(ticket(), message(true, "agent-x", ActorKind::Agent));
    let assigned = Fact::Assigned {
        ticket: ticket(),
        previous: String::new(),
    };
    let breach = Fact::SlaBreached {
        ticket: ticket(),
        target: "resolution".into(),
    };
    let ada_only: &[&str] = &["ada@example.com"];
    let followers: &[&str] = &["agent-f", "agent-a"];
    let cases: Vec<(Rule, Fact, &[&str])> = vec![
        (Rule::RequesterMessageAdded, reply.clone(), ada_only),
        (Rule::Mentions, reply.clone(), &["agent-m"]),
        (Rule::FollowersMessage, reply.clone(), followers),
        (Rule::RequesterSolved, Fact::Solved(ticket()), ada_only),
        (Rule::FollowersSolved, Fact::Solved(ticket()), followers),
        (
            Rule::RequesterPending,
            status(TicketStatus::Open, TicketStatus::Pending, ActorKind::Agent),
            ada_only,
        ),
        (
            Rule::RequesterReopened,
            status(TicketStatus::Solved, TicketStatus::Open, ActorKind::Agent),
            ada_only,
        ),
        (Rule::AssigneeAssigned, assigned, &["agent-a"]),
        (Rule::SupervisorsSlaBreached, breach, &[SUPERVISORS_INBOX]),
        (
            Rule::GroupQueued,
            queued(&["agent-b", "agent-c"]),
            &["agent-b", "agent-c"],
        ),
        (
            Rule::SupervisorsEscalated,
            escalated(&["reassign_to"], "agent-sup"),
            &[SUPERVISORS_INBOX],
        ),
        (
            Rule::AssigneeEscalated,
            escalated(&["reassign_to"], "agent-sup"),
            &["agent-sup"],
        ),
    ];
    let covered: std::collections::BTreeSet<Rule> = cases.iter().map(|c| c.0).collect();
    assert_eq!(covered.len(), Rule::ALL.len(), "every rule has a case");
    for (rule, fact, whom) in cases {
        let all = recipients(&fact, "agent-x", ada, &on(), &staff);
        for who in whom {
            assert!(
                all.iter().any(|i| i.recipient == *who),
                "{rule:?} on reaches {who}: {all:?}"
            );
        }
        let off = recipients(&fact, "agent-x", ada, &Rules::with_off([rule]), &staff);
        // Exactly that rule's people go; the other rules still speak.
        let others: Vec<_> = all
            .into_iter()
            .filter(|i| !whom.contains(&i.recipient.as_str()))
            .collect();
        assert_eq!(off, others, "{rule:?} off");
    }
    // Everything off: nobody hears anything.
    let silent = Rules::with_off(Rule::ALL);
    assert!(recipients(&reply, "agent-x", ada, &silent, &staff).is_empty());
}

#[test]
fn customers_listed_on_an_internal_note_hear_nothing_of_it() {
    let mut t = ticket();
    t.followers = vec![
        "customers/c2".into(),
        "bob@example.com".into(),
        "agent-f".into(),
    ];
    t.assignee = "customers/c3".into();
    let mut note = message(false, "agent-a", ActorKind::Agent);
    note.mentions = vec![
        "bob@example.com".into(),
        "customers/c2".into(),
        "customers/c1".into(),
        "ada@example.com".into(),
        "someone-unknown".into(),
        "agent-m".into(),
    ];
    let fact = Fact::MessageAdded(t, note);
    let out = recipients(&fact, "agent-a", Some("ada@example.com"), &on(), &staff);
    let mut whom: Vec<_> = out.iter().map(|i| i.recipient.as_str()).collect();
    whom.sort();
    assert_eq!(whom, ["agent-f", "agent-m"], "{out:?}");
    assert!(out.iter().all(|i| i.channel == Channel::InApp));
}

#[test]
fn a_customer_name_is_never_staff_whatever_the_directory_says() {
    let everyone = |_: &str| true;
    let t = ticket();
    let ada = Some("ada@example.com");
    assert!(!may_read_in_app("customers/c9", Some(&t), ada, &everyone));
    // The requester, by name or by address in any case.
    assert!(!may_read_in_app("customers/c1", Some(&t), ada, &everyone));
    assert!(!may_read_in_app(
        "Ada@Example.com",
        Some(&t),
        ada,
        &everyone
    ));
    assert!(!may_read_in_app("", Some(&t), ada, &everyone));
    assert!(may_read_in_app("agent-x", Some(&t), ada, &everyone));
    // Unknown is not staff.
    assert!(!may_read_in_app("agent-x", Some(&t), ada, &|_: &str| false));
    // The supervisors' inbox is read by supervisors only.
    assert!(may_read_in_app(
        SUPERVISORS_INBOX,
        None,
        None,
        &|_: &str| false
    ));
}

#[test]
fn nobody_unknown_hears_in_app_of_any_fact() {
    let nobody = |_: &str| false;
    let facts = [
        Fact::MessageAdded(ticket(), message(true, "agent-x", ActorKind::Agent)),
        Fact::MessageAdded(ticket(), message(false, "agent-x", ActorKind::Agent)),
        Fact::Solved(ticket()),
        Fact::Assigned {
            ticket: ticket(),
            previous: String::new(),
        },
        queued(&["agent-b"]),
        escalated(&["reassign_to"], "agent-sup"),
    ];
    for fact in &facts {
        let out = recipients(fact, "agent-x", Some("ada@example.com"), &on(), &nobody);
        assert!(
            out.iter()
                .all(|i| i.channel == Channel::Email || i.recipient == SUPERVISORS_INBOX),
            "{fact:?}: {out:?}"
        );
        // Everyone who may hear in-app is among the people the fact names,
        // so the consumer looks up all of them.
        let named = fact.named_people();
        for i in recipients(fact, "agent-x", None, &on(), &|_: &str| true) {
            assert!(
                i.channel != Channel::InApp
                    || i.recipient == SUPERVISORS_INBOX
                    || named.contains(&i.recipient.as_str()),
                "{} not named by {fact:?}",
                i.recipient
            );
        }
    }
}
