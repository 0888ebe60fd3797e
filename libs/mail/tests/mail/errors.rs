//! Every [`MailError`] variant, with its code and whether it is a size limit.

use switchboard_mail::{Limits, MailError, parse};

use crate::helpers::{build, raw};

fn err(raw: &[u8], limits: &Limits) -> MailError {
    match parse(raw, limits) {
        Ok(email) => panic!("expected an error, parsed {:?}", email.subject),
        Err(e) => e,
    }
}

#[test]
fn empty_and_whitespace_only_input_is_empty() {
    for input in [&b""[..], b"   ", b"\r\n\r\n\t \n"] {
        let e = err(input, &Limits::default());
        assert_eq!(e, MailError::Empty);
        assert_eq!(e.code(), "empty");
        assert!(!e.is_size_limit());
    }
}

#[test]
fn input_over_the_raw_limit_is_too_large() {
    let bytes = raw("gmail_reply.eml");
    let limits = Limits {
        max_raw_bytes: 100,
        ..Limits::default()
    };
    let e = err(&bytes, &limits);
    assert_eq!(
        e,
        MailError::TooLarge {
            size: bytes.len(),
            max: 100
        }
    );
    assert_eq!(e.code(), "too_large");
    assert!(e.is_size_limit());
    assert_eq!(
        e.to_string(),
        format!(
            "the message is {} bytes; at most 100 are accepted",
            bytes.len()
        )
    );
    let exact = Limits {
        max_raw_bytes: bytes.len(),
        ..Limits::default()
    };
    assert!(parse(&bytes, &exact).is_ok(), "the limit itself is allowed");
}

#[test]
fn text_or_binary_without_mail_headers_is_not_an_email() {
    for input in [
        &b"hello world, this is not mail"[..],
        b"\x00\x01\x02\xff\xfe binary",
        b"{\"json\": true}\n",
        b"X-Custom: only\nX-Other: header\n\nbody",
    ] {
        let e = err(input, &Limits::default());
        assert!(matches!(e, MailError::NotAnEmail(_)), "{input:?}: {e:?}");
        assert_eq!(e.code(), "not_an_email");
        assert!(!e.is_size_limit());
    }
}

#[test]
fn too_many_header_fields() {
    let bytes = raw("outlook_reply.eml");
    let limits = Limits {
        max_headers: 5,
        ..Limits::default()
    };
    let e = err(&bytes, &limits);
    assert!(
        matches!(e, MailError::TooManyHeaders { max: 5, count } if count > 5),
        "{e:?}"
    );
    assert_eq!(e.code(), "too_many_headers");
    assert!(e.is_size_limit());
}

#[test]
fn header_block_over_the_limit() {
    let bytes = raw("outlook_reply.eml");
    let limits = Limits {
        max_header_bytes: 200,
        ..Limits::default()
    };
    let e = err(&bytes, &limits);
    assert!(
        matches!(e, MailError::HeaderTooLarge { max: 200, size } if size > 200),
        "{e:?}"
    );
    assert_eq!(e.code(), "header_too_large");
    assert!(e.is_size_limit());
}

#[test]
fn too_many_mime_parts() {
    let bytes = raw("attachments.eml");
    let limits = Limits {
        max_parts: 3,
        ..Limits::default()
    };
    let e = err(&bytes, &limits);
    // mixed, related, alternative, text, html, png, pdf.
    assert_eq!(e, MailError::TooManyParts { count: 7, max: 3 });
    assert_eq!(e.code(), "too_many_parts");
    assert!(e.is_size_limit());
    assert!(
        parse(
            &bytes,
            &Limits {
                max_parts: 7,
                ..Limits::default()
            }
        )
        .is_ok()
    );
}

#[test]
fn no_usable_from_address() {
    for from in [
        None,
        Some("From: Just A Name"),
        Some("From: undisclosed-recipients:;"),
        Some("From: <not-an-address>"),
    ] {
        let mut headers = vec!["To: support@desk.example", "Subject: hi"];
        headers.extend(from);
        let e = err(build(&headers, "body\n").as_bytes(), &Limits::default());
        assert_eq!(e, MailError::MissingFrom, "{from:?}");
        assert_eq!(e.code(), "missing_from");
        assert!(!e.is_size_limit());
        assert_eq!(e.to_string(), "the message has no usable From address");
    }
}

#[test]
fn a_duplicated_from_field_keeps_the_first_usable_address() {
    let raw = build(
        &[
            "From: Real <real@example.com>",
            "From: no address here",
            "Subject: dup",
        ],
        "body\n",
    );
    let email = parse(raw.as_bytes(), &Limits::default()).expect("parses");
    assert_eq!(email.from.address, "real@example.com");
    let raw = build(
        &[
            "From: nobody",
            "From: Later <later@example.com>",
            "Subject: dup",
        ],
        "body\n",
    );
    let email = parse(raw.as_bytes(), &Limits::default()).expect("parses");
    assert_eq!(email.from.address, "later@example.com");
}

#[test]
fn mime_that_trips_mail_parsers_debug_checks_is_refused_not_panicked() {
    // An empty message/rfc822 part: mail-parser's `debug_assert!`s fire on
    // it in debug builds, release builds parse it.
    let bytes = raw("malformed/empty_forwarded_message.eml");
    match std::panic::catch_unwind(|| parse(&bytes, &Limits::default())) {
        Ok(Ok(email)) => assert_eq!(email.from.address, "peter@novak.example"),
        Ok(Err(e)) => {
            assert_eq!(e, MailError::NotAnEmail("malformed MIME structure"));
            assert_eq!(e.code(), "not_an_email");
            assert!(!e.is_size_limit());
        }
        Err(_) => panic!("parse panicked"),
    }
}
