//! `POST /v1/inbound/email` on a running ticket service: raw mail over real
//! HTTP/1.1 becomes the same tickets `IngestEmail` makes, de-duplicated the
//! same way, behind the same bearer tokens.

use std::net::SocketAddr;

use switchboard_proto::ticket::v1::{GetTicketRequest, ListMessagesRequest, ListTicketsRequest};
use switchboard_runtime::Role;
use switchboard_ticket::intake::http::{INBOUND_EMAIL_PATH, InboundReply};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{Running, authed};

async fn start() -> anyhow::Result<(Running, String)> {
    let running = Running::start_with(&switchboard_testkit::nats_url(), |settings| {
        settings.http.listen = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
    })
    .await?;
    let addr = running.inbound_http.expect("http.listen is set");
    Ok((running, format!("http://{addr}{INBOUND_EMAIL_PATH}")))
}

async fn post(
    url: &str,
    token: Option<&str>,
    content_type: &str,
    raw: &[u8],
) -> anyhow::Result<(u16, InboundReply)> {
    let mut request = reqwest::Client::new()
        .post(url)
        .header("content-type", content_type)
        .body(raw.to_vec());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    Ok((status, response.json().await?))
}

const OPENING: &[u8] = b"From: Ada Lovelace <ada@example.com>\r\nTo: help@acme.test\r\nSubject: Printer on fire\r\nMessage-ID: <http-1@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nMy printer is on fire.\r\n";

async fn ticket_count(running: &Running) -> anyhow::Result<usize> {
    let agent = running.token("acme", "agent-1", Role::Agent);
    Ok(running
        .client()
        .await
        .list_tickets(authed(ListTicketsRequest::default(), &agent))
        .await?
        .into_inner()
        .tickets
        .len())
}

#[tokio::test]
async fn a_posted_email_opens_a_ticket_once_and_replies_thread_onto_it() -> anyhow::Result<()> {
    let (running, url) = start().await?;
    let hook = running.token("acme", "mail-hook", Role::Admin);

    let (status, created) = post(&url, Some(&hook), "message/rfc822", OPENING).await?;
    assert_eq!(status, 200, "{created:?}");
    assert_eq!(created.outcome, "created");
    let ticket_id = created.ticket_id.clone().expect("a ticket id");
    let message_id = created.message_id.clone().expect("a message id");

    // The ticket and its message exist, as the gRPC API shows them.
    let agent = running.token("acme", "agent-1", Role::Agent);
    let mut tickets = running.client().await;
    let ticket = tickets
        .get_ticket(authed(
            GetTicketRequest {
                name: format!("tickets/{ticket_id}"),
            },
            &agent,
        ))
        .await?
        .into_inner();
    assert_eq!(ticket.subject, "Printer on fire");
    assert_eq!(Some(ticket.number), created.ticket_number);
    let messages = tickets
        .list_messages(authed(
            ListMessagesRequest {
                parent: ticket.name.clone(),
                ..Default::default()
            },
            &agent,
        ))
        .await?
        .into_inner()
        .messages;
    assert_eq!(messages.len(), 1);
    assert!(messages[0].name.ends_with(&message_id), "{messages:?}");
    assert_eq!(messages[0].body.trim(), "My printer is on fire.");

    // A webhook's retry of the same delivery changes nothing.
    let (status, again) = post(&url, Some(&hook), "application/octet-stream", OPENING).await?;
    assert_eq!(status, 200, "{again:?}");
    assert_eq!(again.outcome, "duplicate");
    assert_eq!(again.ticket_id.as_deref(), Some(ticket_id.as_str()));
    assert_eq!(again.message_id, None);
    assert_eq!(ticket_count(&running).await?, 1);

    let reply = b"From: ada@example.com\r\nTo: help@acme.test\r\nSubject: Re: Printer on fire\r\nMessage-ID: <http-2@example.com>\r\nIn-Reply-To: <http-1@example.com>\r\n\r\nIt is out now.\r\n";
    let (status, appended) = post(&url, Some(&hook), "message/rfc822", reply).await?;
    assert_eq!(status, 200, "{appended:?}");
    assert_eq!(appended.outcome, "appended");
    assert_eq!(appended.ticket_id.as_deref(), Some(ticket_id.as_str()));
    assert!(appended.reason.contains("In-Reply-To"), "{appended:?}");
    running.stop().await
}

#[tokio::test]
async fn posts_without_a_staff_token_are_refused_and_create_nothing() -> anyhow::Result<()> {
    let (running, url) = start().await?;

    let (status, anonymous) = post(&url, None, "message/rfc822", OPENING).await?;
    assert_eq!(status, 401, "{anonymous:?}");
    assert_eq!(anonymous.outcome, "rejected");
    assert!(anonymous.reason.contains("authorization"), "{anonymous:?}");

    let (status, forged) = post(&url, Some("not.a.jwt"), "message/rfc822", OPENING).await?;
    assert_eq!(status, 401, "{forged:?}");

    // The gRPC handler's rule, applied by the handler itself: staff only.
    let customer = running.token("acme", "ada@example.com", Role::Customer);
    let (status, denied) = post(&url, Some(&customer), "message/rfc822", OPENING).await?;
    assert_eq!(status, 403, "{denied:?}");
    assert!(denied.reason.contains("staff"), "{denied:?}");

    assert_eq!(ticket_count(&running).await?, 0, "nothing was created");
    running.stop().await
}

#[tokio::test]
async fn bad_input_is_refused_with_its_reason_and_auto_replies_are_ignored() -> anyhow::Result<()> {
    let (running, url) = start().await?;
    let hook = running.token("acme", "mail-hook", Role::Admin);

    let (status, garbage) = post(
        &url,
        Some(&hook),
        "message/rfc822",
        &[0xff, 0x00, 0x13, 0x37],
    )
    .await?;
    assert_eq!(status, 400, "{garbage:?}");
    assert!(garbage.reason.contains("raw"), "{garbage:?}");

    let (status, json) = post(&url, Some(&hook), "application/json", b"{}").await?;
    assert_eq!(status, 415, "{json:?}");
    assert!(json.reason.contains("message/rfc822"), "{json:?}");

    let auto = b"From: bob@example.com\r\nSubject: Automatic reply\r\nAuto-Submitted: auto-replied\r\nMessage-ID: <ooo@example.com>\r\n\r\nOut of office.\r\n";
    let (status, ignored) = post(&url, Some(&hook), "message/rfc822", auto).await?;
    assert_eq!(status, 202, "{ignored:?}");
    assert_eq!(ignored.outcome, "ignored");
    assert_eq!(ignored.ticket_id, None);

    assert_eq!(ticket_count(&running).await?, 0);
    running.stop().await
}

#[tokio::test]
async fn a_message_over_the_raw_size_limit_is_refused_before_it_is_read() -> anyhow::Result<()> {
    let (running, _) = start().await?;
    let hook = running.token("acme", "mail-hook", Role::Admin);
    let limit = switchboard_mail::Limits::default().max_raw_bytes;

    // Headers only: a server that waited for the body would never answer.
    let mut socket = tokio::net::TcpStream::connect(running.inbound_http.unwrap()).await?;
    let head = format!(
        "POST {INBOUND_EMAIL_PATH} HTTP/1.1\r\nHost: desk\r\nAuthorization: Bearer {hook}\r\nContent-Type: message/rfc822\r\nContent-Length: {}\r\n\r\n",
        limit + 1
    );
    socket.write_all(head.as_bytes()).await?;
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    // Read until the JSON body has arrived; the server may keep the socket open.
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while !answer.ends_with(b"}") {
            let n = socket.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&chunk[..n]);
        }
        anyhow::Ok(())
    })
    .await;
    assert!(read.is_ok(), "no answer to an oversized post");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.contains(&format!("larger than {limit} bytes")),
        "{answer}"
    );
    assert_eq!(ticket_count(&running).await?, 0);
    running.stop().await
}
