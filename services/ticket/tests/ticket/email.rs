//! `IntakeService.IngestEmail` against real PostgreSQL and NATS: new tickets,
//! threading, loop protection, duplicates, attachments and bad input.

use switchboard_proto::ticket::v1::{
    IngestEmailRequest, IngestOutcome, IntakeResponse, ListMessagesRequest, ListTicketsRequest,
    intake_service_client::IntakeServiceClient,
};
use switchboard_runtime::Role;
use tonic::{Code, transport::Channel};

use crate::helpers::{Running, authed};

fn email(headers: &str, body: &str) -> Vec<u8> {
    format!(
        "{}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n",
        headers.trim().replace('\n', "\r\n")
    )
    .into_bytes()
}

async fn ingest(
    intake: &mut IntakeServiceClient<Channel>,
    token: &str,
    raw: Vec<u8>,
) -> Result<IntakeResponse, tonic::Status> {
    intake
        .ingest_email(authed(IngestEmailRequest { raw }, token))
        .await
        .map(|r| r.into_inner())
}

async fn intake_client(running: &Running) -> IntakeServiceClient<Channel> {
    IntakeServiceClient::connect(format!("http://{}", running.addr))
        .await
        .expect("connect")
}

#[tokio::test]
async fn an_email_opens_a_ticket_and_replies_thread_onto_it() -> anyhow::Result<()> {
    let running = Running::start(&switchboard_testkit::nats_url()).await?;
    let token = running.token("acme", "mail-hook", Role::Admin);
    let mut intake = intake_client(&running).await;
    let mut tickets = running.client().await;

    let first = ingest(
        &mut intake,
        &token,
        email(
            "From: Ada Lovelace <ada@example.com>\nTo: help@acme.test\nSubject: Printer on fire\nMessage-ID: <first@example.com>\nDate: Mon, 23 Nov 2026 09:00:00 +0000",
            "My printer is on fire. Please help.",
        ),
    )
    .await?;
    assert_eq!(first.outcome, IngestOutcome::Created as i32, "{first:?}");
    let ticket = first.ticket.clone().unwrap();
    assert_eq!(ticket.subject, "Printer on fire");
    assert_eq!(
        ticket.channel,
        switchboard_proto::common::v1::Channel::Email as i32
    );

    // The same delivery again changes nothing.
    let again = ingest(
        &mut intake,
        &token,
        email(
            "From: Ada Lovelace <ada@example.com>\nTo: help@acme.test\nSubject: Printer on fire\nMessage-ID: <first@example.com>",
            "My printer is on fire. Please help.",
        ),
    )
    .await?;
    assert_eq!(again.outcome, IngestOutcome::Duplicate as i32);
    assert_eq!(again.ticket.unwrap().name, ticket.name);

    // A reply by In-Reply-To, with the quoted history trimmed.
    let reply = ingest(
        &mut intake,
        &token,
        email(
            "From: ada@example.com\nTo: help@acme.test\nSubject: Re: Printer on fire\nMessage-ID: <second@example.com>\nIn-Reply-To: <first@example.com>\nReferences: <first@example.com>",
            "It is out now.\r\n\r\nOn Mon, 23 Nov 2026 at 09:00, Ada <ada@example.com> wrote:\r\n> My printer is on fire.",
        ),
    )
    .await?;
    assert_eq!(reply.outcome, IngestOutcome::Appended as i32, "{reply:?}");
    assert_eq!(reply.ticket.as_ref().unwrap().name, ticket.name);
    assert_eq!(
        reply.message.as_ref().unwrap().body.trim(),
        "It is out now."
    );

    // A reply that lost its headers still threads by the subject token.
    let by_token = ingest(
        &mut intake,
        &token,
        email(
            &format!(
                "From: ada@example.com\nTo: help@acme.test\nSubject: Re: [#T-{}] Printer on fire\nMessage-ID: <third@example.com>",
                ticket.number
            ),
            "Thanks!",
        ),
    )
    .await?;
    assert_eq!(
        by_token.outcome,
        IngestOutcome::Appended as i32,
        "{by_token:?}"
    );
    assert_eq!(by_token.ticket.unwrap().name, ticket.name);

    // Someone else using the token cannot write into Ada's ticket.
    let stranger = ingest(
        &mut intake,
        &token,
        email(
            &format!(
                "From: mallory@example.net\nTo: help@acme.test\nSubject: [#T-{}] let me in\nMessage-ID: <fourth@example.net>",
                ticket.number
            ),
            "Hello",
        ),
    )
    .await?;
    assert_eq!(stranger.outcome, IngestOutcome::Created as i32);
    assert_ne!(stranger.ticket.unwrap().name, ticket.name);

    let messages = tickets
        .list_messages(authed(
            ListMessagesRequest {
                parent: ticket.name.clone(),
                ..Default::default()
            },
            &running.token("acme", "agent-1", Role::Agent),
        ))
        .await?
        .into_inner()
        .messages;
    assert_eq!(messages.len(), 3, "opening mail and two replies");
    running.stop().await
}

#[tokio::test]
async fn auto_replies_and_bounces_never_open_tickets() -> anyhow::Result<()> {
    let running = Running::start(&switchboard_testkit::nats_url()).await?;
    let token = running.token("acme", "mail-hook", Role::Admin);
    let mut intake = intake_client(&running).await;
    let auto = ingest(
        &mut intake,
        &token,
        email(
            "From: bob@example.com\nTo: help@acme.test\nSubject: Automatic reply: Your ticket\nAuto-Submitted: auto-replied\nMessage-ID: <ooo@example.com>",
            "I am out of the office until Monday.",
        ),
    )
    .await?;
    assert_eq!(auto.outcome, IngestOutcome::Ignored as i32);
    assert!(auto.ticket.is_none());
    assert!(!auto.reason.is_empty());

    let bounce = b"From: MAILER-DAEMON@mx.example.com\r\nTo: help@acme.test\r\nSubject: Undelivered Mail Returned to Sender\r\nMessage-ID: <bounce@mx.example.com>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n--b1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.com\r\n\r\nFinal-Recipient: rfc822; gone@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n--b1--\r\n".to_vec();
    let bounced = ingest(&mut intake, &token, bounce).await?;
    assert_eq!(
        bounced.outcome,
        IngestOutcome::Ignored as i32,
        "{bounced:?}"
    );

    let garbage = ingest(&mut intake, &token, vec![0xff, 0x00, 0x13, 0x37])
        .await
        .unwrap_err();
    assert_eq!(garbage.code(), Code::InvalidArgument);

    let customer = running.token("acme", "ada@example.com", Role::Customer);
    let denied = ingest(
        &mut intake,
        &customer,
        email("From: a@b.c\nSubject: x", "x"),
    )
    .await
    .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);

    let listed = running
        .client()
        .await
        .list_tickets(authed(
            ListTicketsRequest::default(),
            &running.token("acme", "agent-1", Role::Agent),
        ))
        .await?
        .into_inner();
    assert!(listed.tickets.is_empty(), "nothing was created");
    running.stop().await
}

#[tokio::test]
async fn attachments_are_stored_and_referenced() -> anyhow::Result<()> {
    let running = Running::start(&switchboard_testkit::nats_url()).await?;
    let token = running.token("acme", "mail-hook", Role::Admin);
    let mut intake = intake_client(&running).await;
    let raw = b"From: ada@example.com\r\nTo: help@acme.test\r\nSubject: Invoice attached\r\nMessage-ID: <att@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"m1\"\r\n\r\n--m1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee the attached invoice.\r\n--m1\r\nContent-Type: application/pdf; name=\"invoice 11.pdf\"\r\nContent-Disposition: attachment; filename=\"invoice 11.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJcfsj6IK\r\n--m1--\r\n".to_vec();
    let created = ingest(&mut intake, &token, raw).await?;
    assert_eq!(
        created.outcome,
        IngestOutcome::Created as i32,
        "{created:?}"
    );
    let message = created.message.unwrap();
    assert_eq!(message.attachments.len(), 1, "{message:?}");
    let a = &message.attachments[0];
    assert_eq!(a.filename, "invoice 11.pdf");
    assert_eq!(a.content_type, "application/pdf");
    assert_eq!(a.size_bytes, 15);
    let stored =
        std::fs::read(switchboard_testkit::attachments_dir(&running.stream).join(&a.storage_key))?;
    assert!(stored.starts_with(b"%PDF-1.4"));
    running.stop().await
}

#[tokio::test]
async fn a_reply_to_the_desks_own_mail_threads_by_the_message_id_it_answers() -> anyhow::Result<()>
{
    let running = Running::start(&switchboard_testkit::nats_url()).await?;
    let token = running.token("acme", "mail-hook", Role::Admin);
    let mut intake = intake_client(&running).await;
    let opened = ingest(
        &mut intake,
        &token,
        email(
            "From: ada@example.com\nSubject: Login fails\nMessage-ID: <login-1@example.com>",
            "I cannot log in.",
        ),
    )
    .await?;
    let ticket = opened.ticket.unwrap();

    // The notification service names its mail after the ticket; the desk
    // never stored this id, and the subject has no token.
    let sent = switchboard_mail::threading::outgoing_message_id(
        ticket.number as u64,
        "0190f1c2-aaaa-7bbb-8ccc-123456789abc",
        "desk.acme.test",
    );
    let reply = ingest(
        &mut intake,
        &token,
        email(
            &format!(
                "From: ada@example.com\nSubject: Re: your answer\nMessage-ID: <login-2@example.com>\nIn-Reply-To: {sent}\nReferences: <login-1@example.com> {sent}"
            ),
            "That worked, thanks.",
        ),
    )
    .await?;
    assert_eq!(reply.outcome, IngestOutcome::Appended as i32, "{reply:?}");
    assert_eq!(reply.ticket.unwrap().name, ticket.name);

    // The same id from someone else opens their own ticket instead.
    let other = ingest(
        &mut intake,
        &token,
        email(
            &format!("From: eve@example.net\nSubject: Re: x\nMessage-ID: <eve-1@example.net>\nIn-Reply-To: {sent}"),
            "Let me in.",
        ),
    )
    .await?;
    assert_eq!(other.outcome, IngestOutcome::Created as i32);
    assert_ne!(other.ticket.unwrap().name, ticket.name);
    running.stop().await
}
