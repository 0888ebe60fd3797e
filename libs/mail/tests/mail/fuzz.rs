//! Fuzzing `parse` with proptest: arbitrary bytes, mutated fixtures and
//! generated MIME trees never panic, and whatever parses respects [`Limits`].
//!
//! Case counts keep the whole module to a few seconds in a debug build; raise
//! `PROPTEST_CASES` locally for a longer run.

use std::sync::LazyLock;

use proptest::prelude::*;
use proptest::test_runner::Config;
use switchboard_mail::threading::{MAX_THREAD_KEYS, thread_keys};
use switchboard_mail::{InboundEmail, Limits, TRUNCATION_MARKER, parse};

use crate::helpers::all_fixtures;

static FIXTURES: LazyLock<Vec<Vec<u8>>> =
    LazyLock::new(|| all_fixtures().into_iter().map(|(_, raw)| raw).collect());

/// `cases` unless `PROPTEST_CASES` asks for another number.
fn config(cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

/// Limits small enough that random input actually reaches them.
fn small_limits() -> impl Strategy<Value = Limits> {
    (
        (1usize..4_000, 1usize..60, 16usize..2_000, 1usize..30),
        (0usize..4, 0usize..400, 0usize..600),
        (0usize..40, 0usize..5, 0usize..6),
    )
        .prop_map(
            |(
                (raw, headers, header_bytes, parts),
                (attachments, text, html),
                (subject, recipients, references),
            )| {
                Limits {
                    max_raw_bytes: raw,
                    max_headers: headers,
                    max_header_bytes: header_bytes,
                    max_parts: parts,
                    max_attachments: attachments,
                    max_text_chars: text,
                    max_html_bytes: html,
                    max_subject_chars: subject,
                    max_recipients: recipients,
                    max_references: references,
                }
            },
        )
}

fn limits() -> impl Strategy<Value = Limits> {
    prop_oneof![Just(Limits::default()), small_limits()]
}

/// Parses and checks every promise `parse` makes about its output.
fn check(raw: &[u8], limits: &Limits) {
    match parse(raw, limits) {
        Ok(email) => check_bounded(&email, limits),
        Err(e) => {
            assert!(!e.code().is_empty());
            assert!(!e.to_string().is_empty());
        }
    }
}

fn check_bounded(email: &InboundEmail, limits: &Limits) {
    let marker = TRUNCATION_MARKER.chars().count();
    assert!(
        email.text.chars().count() <= limits.max_text_chars + marker,
        "text over limit"
    );
    assert!(
        email.full_text.chars().count() <= limits.max_text_chars + marker,
        "full_text over limit"
    );
    if email.text.ends_with(TRUNCATION_MARKER) || email.full_text.ends_with(TRUNCATION_MARKER) {
        assert!(email.truncated || email.text.len() >= TRUNCATION_MARKER.len());
    }
    assert!(email.subject.chars().count() <= limits.max_subject_chars);
    assert!(!email.subject.contains(['\n', '\r']));
    assert!(email.attachments.len() <= limits.max_attachments);
    assert!(email.to.len() <= limits.max_recipients);
    assert!(email.cc.len() <= limits.max_recipients);
    assert!(email.references.len() <= limits.max_references);
    assert!(email.in_reply_to.len() <= limits.max_references);
    assert!(thread_keys(email).len() <= MAX_THREAD_KEYS);
    assert!(email.from.address.contains('@'));
    for attachment in &email.attachments {
        assert_eq!(attachment.size, attachment.content.len());
        assert!(!attachment.filename.is_empty());
        assert!(
            !attachment.filename.contains(['/', '\\']),
            "{:?}",
            attachment.filename
        );
        assert!(
            !attachment.filename.starts_with('.'),
            "{:?}",
            attachment.filename
        );
        assert!(attachment.filename.len() <= 255);
        assert!(!attachment.filename.chars().any(char::is_control));
    }
    if let Some(html) = &email.html_sanitized {
        let lower = html.to_ascii_lowercase();
        assert!(!lower.contains("<script"), "{html}");
        assert_urls_are_absolute(&lower);
        assert!(html.len() <= limits.max_html_bytes.saturating_mul(4) + 1024);
    }
    for text in [&email.text, &email.full_text] {
        assert!(
            !text
                .chars()
                .any(|c| c.is_control() && c != '\n' && c != '\t')
        );
    }
}

/// Every `href`/`src` left in sanitized HTML names a harmless scheme.
fn assert_urls_are_absolute(lower_html: &str) {
    for raw_value in url_attributes(lower_html) {
        // As browsers read URLs: tabs and line breaks anywhere, and leading
        // controls and spaces, do not count.
        let value: String = raw_value
            .trim_start_matches(|c: char| c <= ' ')
            .chars()
            .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
            .collect();
        let scheme = value.split_once(':').map(|(s, _)| s).unwrap_or_default();
        let is_scheme = !scheme.is_empty()
            && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c));
        assert!(is_scheme, "relative or odd url {value:?} in {lower_html}");
        assert!(
            !["javascript", "vbscript", "data"].contains(&scheme),
            "{value:?}"
        );
    }
}

/// `href` and `src` values of the tags in serialized HTML. Text cannot hold a
/// raw `<` and attribute values cannot hold a raw `"`, so a small scanner is
/// exact here; a substring search would also find quoted text.
fn url_attributes(html: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        rest = &rest[open + 1..];
        let mut tag = rest.trim_start_matches(|c: char| c.is_ascii_alphanumeric() || c == '/');
        loop {
            tag = tag.trim_start();
            if tag.is_empty() || tag.starts_with('>') || tag.starts_with("/>") {
                break;
            }
            let name_end = tag.find(['=', ' ', '>']).unwrap_or(tag.len());
            let name = &tag[..name_end];
            tag = &tag[name_end..];
            if let Some(value) = tag.strip_prefix("=\"") {
                let end = value.find('"').unwrap_or(value.len());
                if name == "href" || name == "src" {
                    found.push(&value[..end]);
                }
                tag = value.get(end + 1..).unwrap_or_default();
            }
        }
        rest = tag;
    }
    found
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Truncate(usize),
    Insert(usize, Vec<u8>),
    Remove(usize, usize),
    Duplicate(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let snippet = prop_oneof![
        proptest::collection::vec(any::<u8>(), 1..16),
        proptest::sample::select(vec![
            b"\r\n".to_vec(),
            b"\n\n".to_vec(),
            b"--".to_vec(),
            b"=?utf-8?B?".to_vec(),
            b"=?iso-2022-jp?Q?=1B$B".to_vec(),
            b"?=".to_vec(),
            b"=\r\n".to_vec(),
            b"=F".to_vec(),
            b"Content-Type: multipart/mixed; boundary=x\n".to_vec(),
            b"Content-Transfer-Encoding: base64\n".to_vec(),
            b"Content-Type: message/rfc822\n\n".to_vec(),
            b"<script>alert(1)</script>".to_vec(),
            b"\n> quoted\n".to_vec(),
            b"On Mon wrote:\n".to_vec(),
            b"\x00\xff\xfe".to_vec(),
            b"From: <\n".to_vec(),
        ]),
    ];
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Mutation::Flip(at, b)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), snippet).prop_map(|(at, s)| Mutation::Insert(at, s)),
        (any::<usize>(), 1usize..64).prop_map(|(at, n)| Mutation::Remove(at, n)),
        (any::<usize>(), 1usize..256).prop_map(|(at, n)| Mutation::Duplicate(at, n)),
    ]
}

fn apply(mut raw: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let len = raw.len().max(1);
        match m {
            Mutation::Flip(at, b) => {
                if let Some(byte) = raw.get_mut(at % len) {
                    *byte = *b;
                }
            }
            Mutation::Truncate(at) => raw.truncate(at % len),
            Mutation::Insert(at, bytes) => {
                let at = (at % len).min(raw.len());
                raw.splice(at..at, bytes.iter().copied());
            }
            Mutation::Remove(at, n) => {
                let at = (at % len).min(raw.len());
                let end = (at + n).min(raw.len());
                raw.drain(at..end);
            }
            Mutation::Duplicate(at, n) => {
                let at = (at % len).min(raw.len());
                let end = (at + n).min(raw.len());
                let copy = raw[at..end].to_vec();
                raw.splice(at..at, copy);
            }
        }
    }
    raw
}

/// One leaf of a generated MIME tree.
fn leaf() -> impl Strategy<Value = String> {
    let ctype = proptest::sample::select(vec![
        "text/plain; charset=utf-8",
        "text/plain; charset=iso-8859-1",
        "text/plain; charset=shift_jis",
        "text/plain; charset=x-unknown",
        "text/html; charset=utf-8",
        "application/pdf; name=\"a.pdf\"",
        "image/png",
        "message/rfc822",
        "message/delivery-status",
    ]);
    let encoding = proptest::sample::select(vec![
        "7bit",
        "8bit",
        "base64",
        "quoted-printable",
        "binary",
        "x-bogus",
    ]);
    let disposition = proptest::sample::select(vec![
        "",
        "Content-Disposition: attachment; filename=\"../x.bin\"\n",
        "Content-Disposition: inline\n",
        "Content-Disposition: attachment; filename*=UTF-8''%E2%82%AC.txt\n",
        "Content-ID: <c@x>\n",
    ]);
    let body = proptest::collection::vec(any::<u8>(), 0..200)
        .prop_map(|b| String::from_utf8_lossy(&b).into_owned());
    (ctype, encoding, disposition, body).prop_map(|(ctype, encoding, disposition, body)| {
        format!(
            "Content-Type: {ctype}\nContent-Transfer-Encoding: {encoding}\n{disposition}\n{body}\n"
        )
    })
}

/// A MIME tree up to a few levels deep, as a part (headers and body).
fn tree() -> impl Strategy<Value = String> {
    leaf().prop_recursive(4, 24, 5, |inner| {
        (
            proptest::sample::select(vec![
                "mixed",
                "alternative",
                "related",
                "report; report-type=delivery-status",
            ]),
            proptest::collection::vec(inner, 0..5),
            any::<u16>(),
        )
            .prop_map(|(sub, parts, seed)| {
                let boundary = format!("b{seed}");
                let mut out =
                    format!("Content-Type: multipart/{sub}; boundary=\"{boundary}\"\n\npreamble\n");
                for part in parts {
                    out.push_str(&format!("--{boundary}\n{part}\n"));
                }
                out.push_str(&format!("--{boundary}--\n"));
                out
            })
    })
}

fn headers() -> impl Strategy<Value = String> {
    let pool = proptest::sample::select(vec![
        "From: =?utf-8?B?SsO2cmc=?= <j@example.com>\n",
        "From: bad\n",
        "To: a@x.example, b@y.example, Group: c@z.example;\n",
        "Cc: =?iso-8859-1?Q?M=FCller?= <m@x.example>\n",
        "Subject: Re: [#T-12] =?utf-8?Q?caf=C3=A9?=\n",
        "Subject: AW: Fwd: x\n",
        "Message-ID: <m@x>\n",
        "In-Reply-To: <t1.mabc@desk.example> <x@y>\n",
        "References: <a@b> <c@d>\n <e@f>\n",
        "Auto-Submitted: auto-replied\n",
        "Precedence: bulk\n",
        "List-Id: <l.example>\n",
        "Date: Mon, 2 Nov 2026 10:00:00 +0100\n",
        "Date: garbage\n",
        "MIME-Version: 1.0\n",
    ]);
    proptest::collection::vec(pool, 0..8).prop_map(|h| {
        let mut out = String::from("From: Someone <someone@example.com>\n");
        out.extend(h);
        out
    })
}

proptest! {
    #![proptest_config(config(1_000))]

    #[test]
    fn arbitrary_bytes_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..1024), limits in limits()) {
        check(&raw, &limits);
    }

    #[test]
    fn arbitrary_bytes_after_a_header_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..1024), limits in limits()) {
        let mut raw = b"From: a@example.com\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n".to_vec();
        raw.extend(tail);
        check(&raw, &limits);
    }
}

proptest! {
    #![proptest_config(config(1_500))]

    #[test]
    fn mutated_fixtures_never_panic(
        index in any::<prop::sample::Index>(),
        mutations in proptest::collection::vec(mutation(), 1..8),
        limits in limits(),
    ) {
        let raw = apply(index.get(&FIXTURES).clone(), &mutations);
        check(&raw, &limits);
    }
}

proptest! {
    #![proptest_config(config(500))]

    #[test]
    fn generated_mime_trees_never_panic(headers in headers(), tree in tree(), limits in limits(), crlf in any::<bool>()) {
        let mut raw = format!("{headers}{tree}");
        if crlf {
            raw = raw.replace('\n', "\r\n");
        }
        check(raw.as_bytes(), &limits);
        if limits == Limits::default() {
            prop_assert!(parse(raw.as_bytes(), &limits).is_ok(), "a generated message with a From parses");
        }
    }
}

#[test]
fn url_scanner_reads_only_attributes() {
    let html =
        r#"<p>href="javascript:x" <a href="https://a/?q=1>2" rel="x">t</a><img src="cid:y"></p>"#;
    assert_eq!(url_attributes(html), ["https://a/?q=1>2", "cid:y"]);
}

#[test]
fn every_fixture_respects_tight_limits() {
    let limits = Limits {
        max_attachments: 1,
        max_text_chars: 8,
        max_html_bytes: 32,
        max_subject_chars: 5,
        max_recipients: 1,
        max_references: 1,
        ..Limits::default()
    };
    for raw in FIXTURES.iter() {
        check(raw, &limits);
        check(&raw[..raw.len() / 2], &limits);
    }
}

#[test]
fn deep_nesting_and_many_parts_do_not_overflow_the_stack() {
    let mut raw = String::from("From: a@example.com\nSubject: deep\n");
    for depth in 0..2_000 {
        raw.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"d{depth}\"\n\n--d{depth}\n"
        ));
    }
    raw.push_str("Content-Type: text/plain\n\ninnermost\n");
    check(raw.as_bytes(), &Limits::default());

    let mut nested = String::from("From: a@example.com\nSubject: nested\n");
    for _ in 0..500 {
        nested.push_str("Content-Type: message/rfc822\n\nFrom: b@example.com\n");
    }
    nested.push_str("\ninnermost\n");
    check(nested.as_bytes(), &Limits::default());
}
