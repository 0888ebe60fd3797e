//! Email: a public reply reaches the requester once, threaded onto the
//! ticket; internal notes never do; redelivered events send nothing new.

use std::time::Duration;

use mail_parser::MessageParser;
use switchboard_proto::ticket::v1::Visibility;
use switchboard_testkit::wait_for;

use crate::{
    helpers::{DOMAIN, Desk, REPLY_TO, TicketSpec, agent},
    smtp::{Received, SmtpSink},
};

async fn wait_for_mail(sink: &SmtpSink, count: usize) -> anyhow::Result<Vec<Received>> {
    wait_for(
        Duration::from_secs(20),
        "emails at the SMTP sink",
        || async { sink.messages().await.len() >= count },
    )
    .await?;
    Ok(sink.messages().await)
}

#[tokio::test]
async fn a_public_reply_emails_the_requester_once_with_threading_headers() -> anyhow::Result<()> {
    let sink = SmtpSink::start().await?;
    let desk = Desk::start(sink.addr, 5).await?;
    let t = TicketSpec::new(4711, "Printer on fire");
    desk.publish(&t.created_by("ada@example.com")).await?;
    let (reply, message_id) = t.message(
        2,
        agent("agent-ann"),
        Visibility::Public,
        "We sent a technician.",
        &[],
    );
    desk.publish(&reply).await?;

    let mail = wait_for_mail(&sink, 1).await?;
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0].rcpt, vec!["ada@example.com".to_owned()]);
    let parsed = MessageParser::default()
        .parse(mail[0].data.as_bytes())
        .expect("MIME parses");
    assert_eq!(parsed.subject(), Some("Re: [#T-4711] Printer on fire"));
    assert_eq!(
        parsed.message_id(),
        Some(format!("t4711.m{message_id}@{DOMAIN}").as_str())
    );
    let root = format!("t4711.m{}@{DOMAIN}", t.id);
    assert_eq!(parsed.in_reply_to().as_text(), Some(root.as_str()));
    assert_eq!(parsed.references().as_text(), Some(root.as_str()));
    let reply_to = parsed
        .reply_to()
        .and_then(|a| a.first())
        .and_then(|a| a.address());
    assert_eq!(reply_to, Some(REPLY_TO));
    assert!(
        parsed
            .body_text(0)
            .unwrap()
            .contains("We sent a technician.")
    );
    assert!(
        parsed
            .body_html(0)
            .unwrap()
            .contains("We sent a technician.")
    );
    // The reply, threaded back, names the ticket without any lookup.
    assert_eq!(
        switchboard_mail::threading::parse_outgoing_message_id(parsed.message_id().unwrap()),
        Some((4711, message_id.to_string()))
    );

    // NATS delivers the same event again (past the broker's duplicate
    // window, so under another Nats-Msg-Id): nothing new is sent. A later
    // reply is the barrier: the consumer is ordered, so once its email is
    // in, the duplicate has been handled.
    desk.publish_as(&reply, &format!("{}-again", reply.id))
        .await?;
    let (barrier, _) = t.message(
        3,
        agent("agent-ann"),
        Visibility::Public,
        "Anything else?",
        &[],
    );
    desk.publish(&barrier).await?;
    let mail = wait_for_mail(&sink, 2).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mail_after = sink.messages().await;
    assert_eq!(
        mail_after.len(),
        2,
        "exactly the reply and the barrier: {mail:?}"
    );
    let technician = mail_after
        .iter()
        .filter(|m| m.data.contains("We sent a technician."))
        .count();
    assert_eq!(technician, 1);

    // notification.delivered, once per email, through the outbox.
    let events = desk.notification_events(2).await?;
    assert!(
        events.iter().all(|e| e.r#type == "notification.delivered"),
        "{events:?}"
    );
    desk.stop().await
}

#[tokio::test]
async fn an_internal_note_never_reaches_the_customer() -> anyhow::Result<()> {
    let sink = SmtpSink::start().await?;
    let desk = Desk::start(sink.addr, 5).await?;
    desk.introduce(&["agent-bo"]).await?;
    let t = TicketSpec::new(12, "Refund");
    desk.publish(&t.created_by("bob@example.com")).await?;
    let (note, _) = t.message(
        2,
        agent("agent-ann"),
        Visibility::Internal,
        "SECRET: customer is a reseller",
        &["agent-bo"],
    );
    desk.publish(&note).await?;
    // An unspecified visibility is treated as internal too.
    let (unknown, _) = t.message(
        3,
        agent("agent-ann"),
        Visibility::Unspecified,
        "SECRET: unspecified",
        &[],
    );
    desk.publish(&unknown).await?;
    let (barrier, _) = t.message(
        4,
        agent("agent-ann"),
        Visibility::Public,
        "Your refund is on its way.",
        &[],
    );
    desk.publish(&barrier).await?;

    wait_for_mail(&sink, 1).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mail = sink.messages().await;
    assert_eq!(mail.len(), 1, "{mail:?}");
    assert!(mail[0].data.contains("refund is on its way"));
    assert!(mail.iter().all(|m| !m.data.contains("SECRET")));
    // The note was processed: the mentioned agent has it in-app.
    let pool = desk.pool().await;
    let mentioned: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM notifications WHERE recipient = 'agent-bo' AND channel = 'in_app'",
    )
    .fetch_one(&pool)
    .await?;
    assert_eq!(mentioned, 1);
    let to_customer: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM notifications WHERE recipient = 'bob@example.com'",
    )
    .fetch_one(&pool)
    .await?;
    assert_eq!(to_customer, 1, "only the public reply");
    pool.close().await;
    desk.stop().await
}
