//! Loop protection: auto-replies, list mail and bounces are told apart from
//! mail a person wrote, with the reason that decided it.

use switchboard_mail::Kind;

use crate::helpers::{fixture, message};

fn kind_of(name: &str) -> (Kind, String) {
    let email = fixture(name);
    (email.kind, email.kind_reason)
}

#[test]
fn out_of_office_with_auto_submitted_is_an_auto_reply() {
    let email = fixture("ooo_auto_submitted.eml");
    assert_eq!(email.kind, Kind::AutoReply);
    assert_eq!(email.kind_reason, "Auto-Submitted: auto-replied");
    assert!(!email.kind.is_normal());
    // The token is still read so the service can log which ticket it concerned.
    assert_eq!(email.ticket_token, Some(501));
    assert_eq!(email.subject, "Automatic reply: [#T-501] Password reset");
}

#[test]
fn x_autoreply_alone_is_an_auto_reply() {
    assert_eq!(
        kind_of("x_autoreply.eml"),
        (Kind::AutoReply, "X-Autoreply: yes".to_owned())
    );
}

#[test]
fn precedence_bulk_alone_is_an_auto_reply() {
    assert_eq!(
        kind_of("precedence_bulk.eml"),
        (Kind::AutoReply, "Precedence: bulk".to_owned())
    );
}

#[test]
fn delivery_status_report_from_mailer_daemon_is_a_bounce() {
    let email = fixture("bounce_dsn.eml");
    assert_eq!(email.kind, Kind::Bounce);
    assert_eq!(
        email.kind_reason,
        "Content-Type multipart/report; report-type=delivery-status"
    );
    assert_eq!(email.from.address, "MAILER-DAEMON@mx.desk.example");
    assert!(
        email
            .text
            .starts_with("This is the mail system at host mx.desk.example.")
    );
    let types: Vec<_> = email
        .attachments
        .iter()
        .map(|a| a.content_type.as_str())
        .collect();
    assert_eq!(types, ["message/delivery-status", "text/rfc822-headers"]);
    let status = String::from_utf8_lossy(&email.attachments[0].content);
    assert!(status.contains("Status: 5.1.1"), "{status}");
}

#[test]
fn mailing_list_mail_is_not_normal() {
    assert_eq!(
        kind_of("mailing_list.eml"),
        (
            Kind::AutoReply,
            "mailing list (List-Id: Developer discussion <dev.lists.example.org>)".to_owned()
        )
    );
}

#[test]
fn human_replies_are_normal() {
    for name in [
        "gmail_reply.eml",
        "outlook_reply.eml",
        "iphone_reply.eml",
        "german_aw_reply.eml",
        "attachments.eml",
        "forward_inline.eml",
        "forward_attached.eml",
        "latin1_qp.eml",
        "windows1252.eml",
        "japanese.eml",
    ] {
        assert_eq!(
            kind_of(name),
            (Kind::Normal, "no automated-mail markers".to_owned()),
            "{name}"
        );
    }
}

const BASE: [&str; 3] = [
    "From: Customer <c@example.com>",
    "To: support@desk.example",
    "Date: Mon, 2 Nov 2026 10:00:00 +0000",
];

fn with(extra: &[&str]) -> (Kind, String) {
    let headers: Vec<&str> = BASE.iter().copied().chain(extra.iter().copied()).collect();
    let email = message(&headers, "Hello\n");
    (email.kind, email.kind_reason)
}

#[test]
fn auto_submitted_no_is_a_person() {
    assert_eq!(with(&["Subject: Hi", "Auto-Submitted: no"]).0, Kind::Normal);
}

#[test]
fn auto_submitted_with_a_comment_uses_the_token() {
    assert_eq!(
        with(&[
            "Subject: Hi",
            "Auto-Submitted: auto-generated; owner-email=\"x@y\""
        ]),
        (Kind::AutoReply, "Auto-Submitted: auto-generated".to_owned())
    );
}

#[test]
fn outlook_suppress_header_counts_only_with_an_auto_reply_subject() {
    assert_eq!(
        with(&[
            "Subject: Question about my bill",
            "X-Auto-Response-Suppress: All"
        ])
        .0,
        Kind::Normal,
        "Outlook sets the header on ordinary mail too"
    );
    assert_eq!(
        with(&["Subject: Out of Office: back Monday", "X-Auto-Response-Suppress: DR, OOF, AutoReply"]),
        (
            Kind::AutoReply,
            "X-Auto-Response-Suppress: DR, OOF, AutoReply with auto-reply subject \"Out of Office: back Monday\"".to_owned()
        )
    );
}

#[test]
fn precedence_list_and_junk_are_auto_but_first_class_is_not() {
    assert_eq!(
        with(&["Subject: a", "Precedence: list"]).1,
        "Precedence: list"
    );
    assert_eq!(
        with(&["Subject: a", "Precedence: JUNK"]).1,
        "Precedence: junk"
    );
    assert_eq!(
        with(&["Subject: a", "Precedence: first-class"]).0,
        Kind::Normal
    );
}

#[test]
fn list_unsubscribe_and_null_return_path_are_auto() {
    assert_eq!(
        with(&["Subject: a", "List-Unsubscribe: <https://x.example/u>"]).1,
        "mailing list (List-Unsubscribe: <https://x.example/u>)"
    );
    assert_eq!(
        with(&["Subject: a", "Return-Path: <>"]).1,
        "null envelope sender (Return-Path: <>)"
    );
}

#[test]
fn failed_recipients_header_is_a_bounce() {
    assert_eq!(
        with(&[
            "Subject: Mail delivery failed",
            "X-Failed-Recipients: gone@example.net"
        ]),
        (
            Kind::Bounce,
            "X-Failed-Recipients: gone@example.net".to_owned()
        )
    );
}

#[test]
fn daemon_sender_needs_a_failure_subject_to_be_a_bounce() {
    let bounce = message(
        &[
            "From: postmaster@mx.example.net",
            "To: support@desk.example",
            "Subject: Delivery Status Notification (Failure)",
        ],
        "Your message could not be delivered.\n",
    );
    assert_eq!(bounce.kind, Kind::Bounce);
    assert_eq!(
        bounce.kind_reason,
        "From postmaster with a delivery failure subject \"Delivery Status Notification (Failure)\""
    );

    let notice = message(
        &[
            "From: MAILER-DAEMON@mx.example.net",
            "To: support@desk.example",
            "Subject: Warning",
        ],
        "Your mailbox is almost full.\n",
    );
    assert_eq!(
        (notice.kind, notice.kind_reason.as_str()),
        (Kind::AutoReply, "From MAILER-DAEMON")
    );

    let postmaster_person = message(
        &[
            "From: postmaster@shop.example",
            "To: support@desk.example",
            "Subject: Question",
        ],
        "Who runs your DNS?\n",
    );
    assert_eq!(postmaster_person.kind, Kind::Normal);
}

#[test]
fn bounce_markers_win_over_auto_reply_markers() {
    let email = fixture("bounce_dsn.eml");
    // The DSN also carries Auto-Submitted and Return-Path <>.
    assert_eq!(email.kind, Kind::Bounce);
}
