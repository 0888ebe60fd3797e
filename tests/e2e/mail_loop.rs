//! The desk's email loop across services in one `switchboard serve`: a
//! customer's mail becomes a ticket (ticket intake), the agent's public reply
//! goes out over SMTP to a real listener (notification), and the customer's
//! answer to that mail threads back onto the same ticket by the Message-ID
//! it answers, with no ticket token in its subject.

use std::time::Duration;

use switchboard_proto::{
    common::v1::Channel,
    ticket::v1::{
        AddMessageRequest, IngestEmailRequest, IngestOutcome, Visibility,
        intake_service_client::IntakeServiceClient, ticket_service_client::TicketServiceClient,
    },
};
use switchboard_testkit::{process::World, smtp::SmtpSink, wait_for};

use crate::authed;

const BIN: &str = env!("CARGO_BIN_EXE_switchboard");

fn token(world: &World, user: &str, role: &str) -> anyhow::Result<String> {
    let out = world.run(&["token", "--tenant", "acme", "--user", user, "--role", role])?;
    anyhow::ensure!(out.status.success(), "token failed");
    Ok(String::from_utf8(out.stdout)?.trim().to_owned())
}

/// The value of the first header `name` in a raw message's header block.
fn header(raw: &str, name: &str) -> Option<String> {
    let head = raw.split("\r\n\r\n").next()?;
    head.lines().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
    })
}

#[tokio::test]
async fn a_reply_to_the_desks_email_threads_back_onto_its_ticket() -> anyhow::Result<()> {
    let sink = SmtpSink::start().await?;
    let world = World::new(BIN).await?;
    let port = sink.addr.port().to_string();
    let server = world.serve(
        &[],
        &[
            ("SWITCHBOARD__NOTIFICATION__SMTP_HOST", "127.0.0.1"),
            ("SWITCHBOARD__NOTIFICATION__SMTP_PORT", &port),
            ("SWITCHBOARD__NOTIFICATION__DOMAIN", "desk.acme.test"),
            ("SWITCHBOARD__NOTIFICATION__REPLY_TO", "help@acme.test"),
            ("SWITCHBOARD__NOTIFICATION__RETRY_BASE_MS", "100"),
        ],
    )?;
    let channel = server.channel().await?;
    for service in [
        "switchboard.ticket.v1.IntakeService",
        "switchboard.notification.v1.NotificationService",
    ] {
        server.wait_serving(&channel, service).await?;
    }
    let hook = token(&world, "mail-hook", "admin")?;
    let agent = token(&world, "agent-7", "agent")?;
    let mut intake = IntakeServiceClient::new(channel.clone());
    let mut tickets = TicketServiceClient::new(channel.clone());

    let opened = intake
        .ingest_email(authed(
            IngestEmailRequest {
                raw: b"From: Ada <ada@example.com>\r\nTo: help@acme.test\r\nSubject: Printer offline\r\nMessage-ID: <ada-1@example.com>\r\n\r\nMy printer says offline.\r\n".to_vec(),
            },
            &hook,
        ))
        .await?
        .into_inner();
    assert_eq!(opened.outcome, IngestOutcome::Created as i32);
    let ticket = opened.ticket.expect("a ticket");

    tickets
        .add_message(authed(
            AddMessageRequest {
                parent: ticket.name.clone(),
                body: "Please switch it off and on again.".into(),
                visibility: Visibility::Public as i32,
                channel: Channel::Email as i32,
                ..Default::default()
            },
            &agent,
        ))
        .await?;

    wait_for(Duration::from_secs(30), "the reply email", || async {
        sink.messages()
            .await
            .iter()
            .any(|m| m.rcpt.iter().any(|r| r == "ada@example.com"))
    })
    .await?;
    let sent = sink
        .messages()
        .await
        .into_iter()
        .find(|m| m.rcpt.iter().any(|r| r == "ada@example.com"))
        .expect("mail to Ada");
    let message_id = header(&sent.data, "Message-ID").expect("a Message-ID");
    let subject = header(&sent.data, "Subject").expect("a Subject");
    assert!(
        subject.contains(&format!("[#T-{}]", ticket.number)),
        "{subject}"
    );
    assert_eq!(
        header(&sent.data, "Reply-To").as_deref(),
        Some("help@acme.test")
    );

    // Ada's client answers that mail; her subject lost the token.
    let answer = format!(
        "From: ada@example.com\r\nTo: help@acme.test\r\nSubject: Re: printer\r\nMessage-ID: <ada-2@example.com>\r\nIn-Reply-To: {message_id}\r\nReferences: <ada-1@example.com> {message_id}\r\n\r\nThat fixed it, thanks!\r\n\r\nOn Mon, 23 Nov 2026 at 10:00, Support <help@acme.test> wrote:\r\n> Please switch it off and on again.\r\n"
    );
    let threaded = intake
        .ingest_email(authed(
            IngestEmailRequest {
                raw: answer.into_bytes(),
            },
            &hook,
        ))
        .await?
        .into_inner();
    assert_eq!(
        threaded.outcome,
        IngestOutcome::Appended as i32,
        "{threaded:?}"
    );
    assert_eq!(threaded.ticket.expect("a ticket").name, ticket.name);
    assert_eq!(
        threaded.message.expect("a message").body,
        "That fixed it, thanks!"
    );

    drop(server);
    world.drop().await
}
