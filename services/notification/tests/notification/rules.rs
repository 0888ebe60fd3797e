//! Who hears what beyond replies: the group when a ticket waits, the
//! supervisors (and a new assignee) on escalation, the requester on status
//! changes that concern them, and the tenant's switches over those rules.

use std::time::Duration;

use switchboard_events::{Envelope, Payload};
use switchboard_proto::{
    common::v1::{Actor, ActorKind, Priority},
    events::v1::{RoutingEscalated, RoutingQueued, TicketStatusChanged},
    notification::v1::{self as pb, notification_service_client::NotificationServiceClient},
    ticket::v1::{TicketStatus, Visibility},
};
use switchboard_runtime::Role;
use switchboard_testkit::wait_for;
use tonic::{Code, transport::Channel};

use crate::{
    helpers::{Desk, TicketSpec, agent, authed, inbox, violated_fields},
    smtp::{Received, SmtpSink},
};

fn system(id: &str) -> Actor {
    Actor {
        kind: ActorKind::System as i32,
        id: id.into(),
        ..Default::default()
    }
}

impl TicketSpec {
    /// `ticket.status_changed` from `from` to `to` by `actor`.
    pub fn status_changed(
        &self,
        version: i64,
        actor: Actor,
        from: TicketStatus,
        to: TicketStatus,
    ) -> Envelope {
        self.builder(version, actor).build(
            "status_changed",
            Payload::TicketStatusChanged(TicketStatusChanged {
                ticket: Some(self.ticket(version)),
                from: from as i32,
                to: to as i32,
            }),
        )
    }

    /// `routing.queued` in `group`, naming `members`, by routing.
    pub fn queued(&self, version: i64, group: &str, members: &[&str]) -> Envelope {
        self.builder(version, system("routing")).build_as(
            "routing",
            "queued",
            Payload::RoutingQueued(RoutingQueued {
                ticket: format!("tickets/{}", self.id),
                group: group.into(),
                priority: Priority::High as i32,
                position_hint: 2,
                members: members.iter().map(|m| m.to_string()).collect(),
            }),
        )
    }

    /// `routing.escalated` on a breach, doing `actions`, by routing.
    pub fn escalated(&self, version: i64, actions: &[&str], new_assignee: &str) -> Envelope {
        self.builder(version, system("routing")).build_as(
            "routing",
            "escalated",
            Payload::RoutingEscalated(RoutingEscalated {
                ticket: format!("tickets/{}", self.id),
                group: "printers".into(),
                trigger: "sla.breached".into(),
                actions: actions.iter().map(|a| a.to_string()).collect(),
                priority: Priority::Urgent as i32,
                new_group: "printers".into(),
                new_assignee: new_assignee.into(),
            }),
        )
    }
}

/// Waits until `token`'s inbox holds `count` notifications, and returns them.
async fn wait_inbox(
    client: &NotificationServiceClient<Channel>,
    token: &str,
    count: usize,
) -> anyhow::Result<Vec<pb::Notification>> {
    wait_for(Duration::from_secs(20), "in-app notifications", || {
        let mut client = client.clone();
        async move {
            inbox(&mut client, token)
                .await
                .is_ok_and(|n| n.len() >= count)
        }
    })
    .await?;
    inbox(&mut client.clone(), token).await
}

async fn wait_mail(sink: &SmtpSink, count: usize) -> anyhow::Result<Vec<Received>> {
    wait_for(
        Duration::from_secs(20),
        "emails at the SMTP sink",
        || async { sink.messages().await.len() >= count },
    )
    .await?;
    // Anything sent by mistake would arrive about as fast as the awaited.
    tokio::time::sleep(Duration::from_millis(300)).await;
    Ok(sink.messages().await)
}

#[tokio::test]
async fn a_queued_ticket_reaches_each_group_member_once() -> anyhow::Result<()> {
    let sink = SmtpSink::start().await?;
    let desk = Desk::start(sink.addr, 3).await?;
    let client = desk.client().await;
    let t = TicketSpec::new(301, "Paper jam");
    let queued = t.queued(2, "printers", &["agent-bo", "agent-cy", "agent-dee"]);
    desk.publish(&queued).await?;
    for member in ["agent-bo", "agent-cy", "agent-dee"] {
        let got = wait_inbox(&client, &desk.token(member, Role::Agent), 1).await?;
        assert_eq!(got.len(), 1, "{member}: {got:?}");
        assert_eq!(got[0].event_type, "routing.queued");
        assert_eq!(got[0].ticket, format!("tickets/{}", t.id));
        assert_eq!(got[0].title, "A ticket waits in printers (2 in the queue)");
    }

    // Redelivered under another Nats-Msg-Id, then a barrier for bo alone:
    // once the barrier is in, the duplicate was handled and added nothing.
    desk.publish_as(&queued, &format!("{}-again", queued.id))
        .await?;
    let other = TicketSpec::new(302, "Toner");
    desk.publish(&other.queued(2, "printers", &["agent-bo"]))
        .await?;
    let bo = wait_inbox(&client, &desk.token("agent-bo", Role::Agent), 2).await?;
    assert_eq!(bo.len(), 2, "{bo:?}");
    assert_ne!(bo[0].ticket, bo[1].ticket);
    for member in ["agent-cy", "agent-dee"] {
        let got = inbox(&mut client.clone(), &desk.token(member, Role::Agent)).await?;
        assert_eq!(got.len(), 1, "{member}: {got:?}");
    }
    let outsider = inbox(&mut client.clone(), &desk.token("agent-ann", Role::Agent)).await?;
    assert!(outsider.is_empty(), "not a member: {outsider:?}");
    desk.stop().await
}

#[tokio::test]
async fn an_escalation_reaches_the_supervisors_and_a_new_assignee() -> anyhow::Result<()> {
    let sink = SmtpSink::start().await?;
    let desk = Desk::start(sink.addr, 3).await?;
    let client = desk.client().await;
    let supervisor = desk.token("sup-sue", Role::Supervisor);
    let t = TicketSpec::new(404, "Server down");
    desk.publish(&t.escalated(3, &["raise_priority", "reassign_to"], "agent-sup"))
        .await?;
    let seen = wait_inbox(&client, &supervisor, 1).await?;
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].event_type, "routing.escalated");
    assert_eq!(seen[0].title, "Ticket escalated on sla.breached");
    let assignee = desk.token("agent-sup", Role::Agent);
    let assigned = wait_inbox(&client, &assignee, 1).await?;
    assert!(
        assigned[0].body.contains("Now assigned to agent-sup"),
        "{assigned:?}"
    );

    // A second escalation that leaves the assignee alone: supervisors only.
    desk.publish(&t.escalated(4, &["raise_priority"], "agent-sup"))
        .await?;
    let seen = wait_inbox(&client, &supervisor, 2).await?;
    assert_eq!(seen.len(), 2);
    assert_eq!(inbox(&mut client.clone(), &assignee).await?.len(), 1);
    let agent_only = inbox(&mut client.clone(), &desk.token("agent-bo", Role::Agent)).await?;
    assert!(
        agent_only.is_empty(),
        "agents do not read the supervisors' inbox"
    );
    desk.stop().await
}

#[tokio::test]
async fn pending_emails_the_requester_once_until_the_tenant_turns_it_off() -> anyhow::Result<()> {
    let sink = SmtpSink::start().await?;
    let desk = Desk::start(sink.addr, 3).await?;
    let t = TicketSpec::new(808, "Invoice");
    desk.publish(&t.created_by("ada@example.com")).await?;
    let ann = agent("agent-ann");
    let pending = t.status_changed(2, ann.clone(), TicketStatus::Open, TicketStatus::Pending);
    desk.publish(&pending).await?;
    let mail = wait_mail(&sink, 1).await?;
    assert_eq!(mail.len(), 1, "{mail:?}");
    assert_eq!(mail[0].rcpt, ["ada@example.com"]);
    assert!(mail[0].data.contains("Subject: Re: [#T-808] Invoice"));
    assert!(mail[0].data.contains("waiting for your answer"));

    // Redelivered, then an internal change (nothing), then a reopen by
    // staff (mailed): only the reopen is new.
    desk.publish_as(&pending, &format!("{}-again", pending.id))
        .await?;
    desk.publish(&t.status_changed(3, ann.clone(), TicketStatus::Pending, TicketStatus::OnHold))
        .await?;
    desk.publish(&t.status_changed(4, ann.clone(), TicketStatus::Solved, TicketStatus::Open))
        .await?;
    let mail = wait_mail(&sink, 2).await?;
    assert_eq!(mail.len(), 2, "{mail:?}");
    assert!(mail[1].data.contains("reopened your request #808"));

    // The tenant's admin turns the pending mail off.
    let mut client = desk.client().await;
    let admin = desk.token("admin-max", Role::Admin);
    let off = pb::UpdateNotificationRulesRequest {
        rules: vec![pb::NotificationRule {
            name: "requester.pending".into(),
            enabled: false,
            ..Default::default()
        }],
        version: 0,
    };
    let saved = client
        .update_notification_rules(authed(off, &admin))
        .await?
        .into_inner();
    assert_eq!(saved.version, 1);
    let again = t.status_changed(5, ann.clone(), TicketStatus::Open, TicketStatus::Pending);
    desk.publish(&again).await?;
    let (reply, _) = t.message(6, ann, Visibility::Public, "Any news?", &[]);
    desk.publish(&reply).await?;
    let mail = wait_mail(&sink, 3).await?;
    assert_eq!(mail.len(), 3, "{mail:?}");
    assert!(mail[2].data.contains("Any news?"));
    let waiting = mail
        .iter()
        .filter(|m| m.data.contains("waiting for your answer"))
        .count();
    assert_eq!(waiting, 1, "the second pending sent nothing");
    let pool = desk.pool().await;
    let recorded: i64 =
        sqlx::query_scalar("SELECT count(*) FROM notifications WHERE event_id = $1")
            .bind(uuid::Uuid::parse_str(&again.id)?)
            .fetch_one(&pool)
            .await?;
    assert_eq!(recorded, 0);
    pool.close().await;
    desk.stop().await
}

#[tokio::test]
async fn rules_are_admin_only_and_unknown_names_change_nothing() -> anyhow::Result<()> {
    let sink = SmtpSink::start().await?;
    let desk = Desk::start(sink.addr, 3).await?;
    let mut client = desk.client().await;
    let admin = desk.token("admin-max", Role::Admin);
    let rule = |name: &str, enabled: bool| pb::NotificationRule {
        name: name.into(),
        enabled,
        ..Default::default()
    };

    let start = client
        .get_notification_rules(authed(pb::GetNotificationRulesRequest {}, &admin))
        .await?
        .into_inner();
    assert_eq!(start.version, 0);
    assert_eq!(start.rules.len(), 12);
    assert!(
        start
            .rules
            .iter()
            .all(|r| r.enabled && !r.description.is_empty())
    );
    assert!(start.rules.iter().any(|r| r.name == "group.queued"));

    let bad = client
        .update_notification_rules(authed(
            pb::UpdateNotificationRulesRequest {
                rules: vec![
                    rule("requester.pending", false),
                    rule("requester.nope", false),
                ],
                version: 0,
            },
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&bad), ["rules[1].name"]);
    assert!(
        bad.message().contains("requester.nope"),
        "{}",
        bad.message()
    );
    let after = client
        .get_notification_rules(authed(pb::GetNotificationRulesRequest {}, &admin))
        .await?
        .into_inner();
    assert_eq!(after, start, "a refused update changes nothing");

    for role in [Role::Agent, Role::Supervisor] {
        let token = desk.token("someone", role);
        let read = client
            .get_notification_rules(authed(pb::GetNotificationRulesRequest {}, &token))
            .await
            .unwrap_err();
        assert_eq!(read.code(), Code::PermissionDenied, "{role:?}");
        let write = client
            .update_notification_rules(authed(
                pb::UpdateNotificationRulesRequest {
                    rules: vec![rule("mentions", false)],
                    version: 0,
                },
                &token,
            ))
            .await
            .unwrap_err();
        assert_eq!(write.code(), Code::PermissionDenied, "{role:?}");
    }

    let update = |version| pb::UpdateNotificationRulesRequest {
        rules: vec![rule("mentions", false)],
        version,
    };
    let saved = client
        .update_notification_rules(authed(update(0), &admin))
        .await?
        .into_inner();
    assert_eq!(saved.version, 1);
    let off: Vec<&str> = saved
        .rules
        .iter()
        .filter(|r| !r.enabled)
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(off, ["mentions"]);
    let stale = client
        .update_notification_rules(authed(update(0), &admin))
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);
    desk.stop().await
}
