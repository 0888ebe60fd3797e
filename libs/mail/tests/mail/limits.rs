//! What [`Limits`] cut down rather than reject: text, HTML, attachments,
//! recipients, references and the subject.

use switchboard_mail::{Limits, TRUNCATION_MARKER, parse};

use crate::helpers::{build, raw};

#[test]
fn text_is_cut_at_the_limit_with_a_marker() {
    let limits = Limits {
        max_text_chars: 10,
        ..Limits::default()
    };
    let email = parse(&raw("gmail_reply.eml"), &limits).expect("parses");
    assert_eq!(email.text, format!("Hi,\n\nI tri{TRUNCATION_MARKER}"));
    assert_eq!(email.full_text, format!("Hi,\n\nI tri{TRUNCATION_MARKER}"));
    assert!(email.truncated);
}

#[test]
fn limit_counts_characters_not_bytes() {
    let limits = Limits {
        max_text_chars: 5,
        ..Limits::default()
    };
    let email = parse(&raw("japanese.eml"), &limits).expect("parses");
    assert_eq!(email.text, format!("お世話にな{TRUNCATION_MARKER}"));
    let exact = Limits {
        max_text_chars: email_len("japanese.eml"),
        ..Limits::default()
    };
    let whole = parse(&raw("japanese.eml"), &exact).expect("parses");
    assert!(!whole.truncated);
    assert!(!whole.text.ends_with(TRUNCATION_MARKER));
}

fn email_len(name: &str) -> usize {
    parse(&raw(name), &Limits::default())
        .expect("parses")
        .full_text
        .chars()
        .count()
}

#[test]
fn trimmed_text_under_the_limit_is_whole_even_when_full_text_is_cut() {
    let full = email_len("gmail_reply.eml");
    let limits = Limits {
        max_text_chars: full - 20,
        ..Limits::default()
    };
    let email = parse(&raw("gmail_reply.eml"), &limits).expect("parses");
    assert!(email.full_text.ends_with(TRUNCATION_MARKER));
    assert!(email.text.ends_with("Thanks,\nAnna"));
    assert!(email.truncated);
}

#[test]
fn html_is_cut_at_the_byte_budget_and_still_sanitized() {
    let limits = Limits {
        max_html_bytes: 60,
        ..Limits::default()
    };
    let email = parse(&raw("html_malicious.eml"), &limits).expect("parses");
    assert!(email.truncated);
    let html = email.html_sanitized.expect("html");
    assert!(!html.to_ascii_lowercase().contains("script"), "{html}");
    assert!(
        !html.contains("Hello"),
        "content past the budget is gone: {html}"
    );
}

#[test]
fn surplus_attachments_are_dropped_and_counted() {
    let limits = Limits {
        max_attachments: 1,
        ..Limits::default()
    };
    let email = parse(&raw("hostile_attachment_names.eml"), &limits).expect("parses");
    assert_eq!(email.attachments.len(), 1);
    assert_eq!(email.attachments[0].filename, "passwd");
    assert_eq!(email.attachments_dropped, 3);

    let none = Limits {
        max_attachments: 0,
        ..Limits::default()
    };
    let email = parse(&raw("attachments.eml"), &none).expect("parses");
    assert!(email.attachments.is_empty());
    assert_eq!(email.attachments_dropped, 2);
}

#[test]
fn recipients_are_capped_per_header() {
    let to: Vec<String> = (0..50).map(|i| format!("u{i}@example.com")).collect();
    let to_header = format!("To: {}", to.join(", "));
    let cc_header = format!("Cc: {}", to.join(",\r\n "));
    let raw = build(
        &[
            "From: a@example.com",
            &to_header,
            &cc_header,
            "Subject: many",
        ],
        "hi\n",
    );
    let limits = Limits {
        max_recipients: 3,
        ..Limits::default()
    };
    let email = parse(raw.as_bytes(), &limits).expect("parses");
    let addresses = |list: &[switchboard_mail::Mailbox]| {
        list.iter().map(|m| m.address.clone()).collect::<Vec<_>>()
    };
    assert_eq!(
        addresses(&email.to),
        ["u0@example.com", "u1@example.com", "u2@example.com"]
    );
    assert_eq!(
        addresses(&email.cc),
        ["u0@example.com", "u1@example.com", "u2@example.com"]
    );
}

#[test]
fn group_syntax_recipients_are_flattened() {
    let raw = build(
        &[
            "From: a@example.com",
            "To: Team: x@example.com, Y <y@EXAMPLE.com>;, z@example.com",
            "Subject: g",
        ],
        "hi\n",
    );
    let email = parse(raw.as_bytes(), &Limits::default()).expect("parses");
    let addresses: Vec<_> = email.to.iter().map(|m| m.address.as_str()).collect();
    assert_eq!(
        addresses,
        ["x@example.com", "y@example.com", "z@example.com"]
    );
}

#[test]
fn references_keep_the_newest_ids_and_in_reply_to_is_bounded_too() {
    let ids: Vec<String> = (0..10).map(|i| format!("<m{i}@example.com>")).collect();
    let references = format!("References: {}", ids.join("\r\n "));
    let in_reply_to = format!("In-Reply-To: {}", ids.join(" "));
    let raw = build(
        &[
            "From: a@example.com",
            "Subject: r",
            &references,
            &in_reply_to,
        ],
        "hi\n",
    );
    let limits = Limits {
        max_references: 3,
        ..Limits::default()
    };
    let email = parse(raw.as_bytes(), &limits).expect("parses");
    assert_eq!(
        email.references,
        ["m7@example.com", "m8@example.com", "m9@example.com"]
    );
    assert_eq!(
        email.in_reply_to,
        ["m0@example.com", "m1@example.com", "m2@example.com"]
    );
}

#[test]
fn subject_is_cut_to_its_limit_on_one_line() {
    let raw = build(
        &[
            "From: a@example.com",
            "Subject: Grüße aus\r\n\tMünchen und   Köln",
        ],
        "hi\n",
    );
    let email = parse(raw.as_bytes(), &Limits::default()).expect("parses");
    assert_eq!(email.subject, "Grüße aus München und Köln");
    let short = Limits {
        max_subject_chars: 7,
        ..Limits::default()
    };
    let email = parse(raw.as_bytes(), &short).expect("parses");
    assert_eq!(email.subject, "Grüße a");
}
