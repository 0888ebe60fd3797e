//! Real-world MIME samples: bodies, reply trimming, charsets, attachments,
//! forwards and HTML sanitizing, with exact expected outcomes.

use switchboard_mail::{Kind, Limits, Mailbox, parse};

use crate::helpers::{all_fixtures, fixture, to_crlf};

fn mailbox(address: &str, name: Option<&str>) -> Mailbox {
    Mailbox {
        address: address.to_owned(),
        name: name.map(str::to_owned),
    }
}

#[test]
fn gmail_reply_keeps_only_the_new_text_above_a_wrapped_attribution() {
    let email = fixture("gmail_reply.eml");
    assert_eq!(
        email.text,
        "Hi,\n\nI tried the reset you suggested but the tray still jams after two pages.\n\
         The error code is E-204.\n\nThanks,\nAnna"
    );
    assert!(email.full_text.ends_with("> Regards,\n> Support\n>"));
    assert!(email.full_text.contains(
        "On Mon, Nov 2, 2026 at 10:15\u{202f}AM Support Team <support@desk.example>\nwrote:"
    ));
    assert_eq!(
        email.from,
        mailbox("Anna.Schmidt@gmail.com", Some("Anna Schmidt"))
    );
    assert_eq!(
        email.to,
        vec![mailbox("support@desk.example", Some("Support Team"))]
    );
    assert_eq!(
        email.cc,
        vec![
            mailbox("ben@example.org", Some("Ben Ortiz")),
            mailbox("facilities@example.org", None)
        ]
    );
    assert_eq!(
        email.message_id.as_deref(),
        Some("CAJx9kL2=vQ+4tF8yz@mail.gmail.com")
    );
    assert_eq!(email.subject, "Re: Printer on floor 3 keeps jamming");
    assert_eq!(
        email.date.map(|d| d.to_rfc3339()).as_deref(),
        Some("2026-11-02T10:30:55+00:00")
    );
    assert_eq!(email.kind, Kind::Normal);
    assert_eq!(email.kind_reason, "no automated-mail markers");
    assert_eq!(email.ticket_token, None);
    assert!(email.attachments.is_empty());
    assert!(!email.truncated);
    let html = email.html_sanitized.expect("html alternative");
    assert!(html.starts_with("<div><div>Hi,</div>"));
    assert!(html.contains("<blockquote>Hello Anna,"));
    assert!(
        !html.contains("style="),
        "inline styles are dropped: {html}"
    );
}

#[test]
fn outlook_reply_cuts_at_the_from_sent_subject_block() {
    let email = fixture("outlook_reply.eml");
    assert_eq!(
        email.text,
        "Hello,\n\nIt happened again at 09:58. Log attached earlier still applies.\n\n\
         Best regards\nJim Carter\nIT Operations | Contoso"
    );
    assert!(
        email
            .full_text
            .contains("________________________________\nFrom: Support Team")
    );
    assert!(email.full_text.ends_with("Thanks,\nSupport"));
    assert_eq!(
        email.from,
        mailbox("jim.carter@contoso.example", Some("Carter, Jim"))
    );
    assert_eq!(email.subject, "RE: [#T-88] VPN disconnects every hour");
    assert_eq!(email.ticket_token, Some(88));
    let html = email.html_sanitized.expect("html alternative");
    assert!(!html.contains("<style"), "{html}");
    assert!(
        !html.contains("margin-top"),
        "style content must go too: {html}"
    );
    assert!(html.contains("<b>From:</b> Support Team &lt;support@desk.example&gt;"));
}

#[test]
fn outlook_html_only_reply_is_trimmed_from_the_rendered_html() {
    let email = fixture("outlook_html_only_reply.eml");
    assert_eq!(email.text, "Still broken after the update.\n\nJim");
    assert!(email.full_text.starts_with("Still broken after the update.\n\nJim\nFrom: Support Team <support@desk.example>\nSent: Monday, November 2, 2026 10:15 AM\n"));
    assert!(
        email
            .full_text
            .ends_with("Please install the update and tell us whether it helps.")
    );
    assert!(!email.full_text.contains("margin"), "{}", email.full_text);
}

#[test]
fn iphone_reply_drops_the_footer_and_the_quoted_attribution() {
    let email = fixture("iphone_reply.eml");
    assert_eq!(
        email.text,
        "Perfect, Friday works for me. I\u{2019}ll be home all day."
    );
    assert!(
        email
            .full_text
            .starts_with("Perfect, Friday works for me. I\u{2019}ll be home all day.\n\nSent from my iPhone\n\n> On 2 Nov 2026, at 11:40")
    );
    assert!(
        !email.full_text.contains('\u{feff}'),
        "the byte-order mark iOS puts into quotes is not text: {:?}",
        email.full_text
    );
    assert_eq!(email.subject, "Re: Your order #5531");
    assert_eq!(email.ticket_token, None, "#5531 is not a ticket token");
}

#[test]
fn german_aw_reply_cuts_at_the_wrapped_schrieb_line_and_the_signature() {
    let email = fixture("german_aw_reply.eml");
    assert_eq!(
        email.text,
        "Hallo,\n\ndanke, jetzt funktioniert der Drucker wieder.\n\nViele Grüße\nJörg"
    );
    assert!(
        email
            .full_text
            .contains("-- \nJörg Müller\nBuchhaltung, Beispiel AG")
    );
    assert!(email.full_text.contains(
        "Am Mo., 2. Nov. 2026 um 10:15 Uhr schrieb Support Team <\nsupport@desk.example>:"
    ));
    assert_eq!(
        email.from,
        mailbox("joerg@beispiel-ag.example", Some("Jörg Müller"))
    );
    assert_eq!(email.subject, "AW: Drucker im 3. OG");
    assert_eq!(
        email.in_reply_to,
        vec!["t77.m77777777-7777-7777-7777-777777777777@desk.example".to_owned()]
    );
}

#[test]
fn pdf_attachment_and_inline_cid_image_are_both_listed() {
    let email = fixture("attachments.eml");
    assert_eq!(
        email.text,
        "Hello,\n\nthe invoice for March is attached. Our new logo is below.\n\nLaura"
    );
    assert_eq!(email.attachments.len(), 2);
    assert_eq!(email.attachments_dropped, 0);

    let logo = &email.attachments[0];
    assert_eq!(logo.filename, "logo.png");
    assert_eq!(logo.content_type, "image/png");
    assert_eq!(logo.size, 70);
    assert_eq!(logo.content.len(), 70);
    assert!(logo.content.starts_with(b"\x89PNG\r\n\x1a\n"));
    assert!(logo.inline);
    assert_eq!(
        logo.content_id.as_deref(),
        Some("logo.7f3a@fischer-gmbh.example")
    );

    let pdf = &email.attachments[1];
    assert_eq!(pdf.filename, "Rechnung März.pdf", "RFC 2231 name decoded");
    assert_eq!(pdf.content_type, "application/pdf");
    assert_eq!(pdf.size, 142);
    assert!(pdf.content.starts_with(b"%PDF-1.4\n"));
    assert!(pdf.content.ends_with(b"%%EOF\n"));
    assert!(!pdf.inline);
    assert_eq!(pdf.content_id, None);

    let html = email.html_sanitized.expect("html alternative");
    assert!(
        html.contains(r#"<img src="cid:logo.7f3a@fischer-gmbh.example" alt="Logo">"#),
        "cid: sources survive sanitizing so the image can be mapped: {html}"
    );
}

#[test]
fn attachment_names_cannot_climb_out_of_a_directory_or_hide() {
    let email = fixture("hostile_attachment_names.eml");
    let names: Vec<_> = email
        .attachments
        .iter()
        .map(|a| a.filename.as_str())
        .collect();
    assert_eq!(names, ["passwd", "win.ini", "bashrc", "attachment-4.gif"]);
    let gif = &email.attachments[3];
    assert_eq!(gif.content_type, "image/gif");
    assert!(gif.inline, "a Content-ID without disposition is inline");
    assert_eq!(gif.content_id.as_deref(), Some("x1@evil.example"));
    assert_eq!(email.attachments[0].content, b"root:x:0:0");
    assert_eq!(email.text, "see files");
}

#[test]
fn iso_8859_1_quoted_printable_body_and_encoded_words_are_decoded() {
    let email = fixture("latin1_qp.eml");
    assert_eq!(email.subject, "Fehler in der Rechnung für März");
    assert_eq!(
        email.from,
        mailbox("joerg.mueller@web.example", Some("Jörg Müller"))
    );
    assert_eq!(
        email.text,
        "Guten Tag,\n\nmeine Rechnung für März enthält einen Fehler: der Betrag muss 12,50 EUR sein, nicht 125,00.\n\n\
         Mit freundlichen Grüßen\nJörg Müller"
    );
}

#[test]
fn windows_1252_body_and_subject_keep_euro_sign_and_curly_quotes() {
    let email = fixture("windows1252.eml");
    assert_eq!(email.subject, "Price \u{201c}Premium\u{201d} €49");
    assert_eq!(email.from.name.as_deref(), Some("Zoë O\u{2019}Neill"));
    assert_eq!(
        email.text,
        "Hello,\n\nthe \u{201c}Premium\u{201d} plan costs €49 \u{2014} not €59 as your site says.\n\nRegards\nZoë"
    );
}

#[test]
fn iso_2022_jp_headers_and_shift_jis_base64_body_are_decoded() {
    let email = fixture("japanese.eml");
    assert_eq!(email.subject, "商品が届きません");
    assert_eq!(
        email.from,
        mailbox("taro.yamada@example.jp", Some("山田太郎"))
    );
    assert_eq!(
        email.text,
        "お世話になっております。\n\n注文番号 5531 の商品がまだ届いていません。\n確認をお願いします。\n\n山田太郎"
    );
    assert_eq!(
        email.date.map(|d| d.to_rfc3339()).as_deref(),
        Some("2026-11-04T08:00:00+00:00")
    );
}

#[test]
fn inline_forward_is_kept_whole() {
    let email = fixture("forward_inline.eml");
    assert_eq!(email.text, email.full_text);
    assert!(email.text.starts_with(
        "Can you check this? I was charged twice.\n\n---------- Forwarded message ---------\nFrom: Billing <billing@shop.example>\n"
    ));
    assert!(
        email
            .text
            .ends_with("has been charged.\n\n> Old quoted line")
    );
    assert_eq!(email.kind, Kind::Normal);
}

#[test]
fn forward_as_message_rfc822_attachment_is_named_after_its_subject() {
    let email = fixture("forward_attached.eml");
    assert_eq!(
        email.text,
        "Please see the attached message from my colleague."
    );
    assert_eq!(email.attachments.len(), 1);
    let inner = &email.attachments[0];
    assert_eq!(inner.filename, "Login broken.eml");
    assert_eq!(inner.content_type, "message/rfc822");
    assert!(!inner.inline);
    assert_eq!(inner.size, inner.content.len());
    let inner_text = String::from_utf8_lossy(&inner.content);
    assert!(inner_text.contains("Subject: Login broken"));
    assert!(inner_text.contains("I cannot log in since this morning."));
    assert!(
        !email.full_text.contains("I cannot log in"),
        "the forwarded body is an attachment, not text"
    );
    let reparsed =
        parse(&inner.content, &Limits::default()).expect("the attachment is itself mail");
    assert_eq!(reparsed.from.address, "eva@novak.example");
}

#[test]
fn html_only_mail_loses_scripts_styles_handlers_and_javascript_urls() {
    let email = fixture("html_malicious.eml");
    let html = email.html_sanitized.as_deref().expect("html body");
    let lower = html.to_ascii_lowercase();
    for banned in [
        "<script",
        "alert(",
        "<style",
        "color: red",
        "onclick",
        "onload",
        "onerror",
        "javascript:",
        "<iframe",
        "<form",
        "<input",
        "document.cookie",
        "<title",
        "invoice",
    ] {
        assert!(!lower.contains(banned), "{banned:?} survived: {html}");
    }
    assert!(html.contains("<p>Hello, my account <b>acme-42</b> is locked.</p>"));
    assert!(html.contains(
        r#"<a href="https://status.example.com/" rel="noopener noreferrer">the status page</a>"#
    ));
    assert!(
        html.contains("<img>"),
        "a relative src cannot point into the desk: {html}"
    );
    assert_eq!(
        email.text,
        "Hello, my account acme-42 is locked.\n\nClick here or visit the status page <https://status.example.com/>.\n* first\n* second"
    );
    assert_eq!(email.full_text, email.text);
}

#[test]
fn every_fixture_parses_the_same_with_crlf_line_endings() {
    for (name, raw) in all_fixtures() {
        let lf = parse(&raw, &Limits::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let crlf = parse(&to_crlf(&raw), &Limits::default())
            .unwrap_or_else(|e| panic!("{name} crlf: {e}"));
        assert_eq!(lf.text, crlf.text, "{name}");
        assert_eq!(lf.full_text, crlf.full_text, "{name}");
        assert_eq!(lf.subject, crlf.subject, "{name}");
        assert_eq!(lf.from, crlf.from, "{name}");
        assert_eq!(lf.kind, crlf.kind, "{name}");
        assert_eq!(lf.kind_reason, crlf.kind_reason, "{name}");
        assert_eq!(lf.references, crlf.references, "{name}");
        let names = |e: &switchboard_mail::InboundEmail| {
            e.attachments
                .iter()
                .map(|a| (a.filename.clone(), a.content_type.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&lf), names(&crlf), "{name}");
        for (a, b) in lf.attachments.iter().zip(&crlf.attachments) {
            if !a.content_type.starts_with("text/") && !a.content_type.starts_with("message/") {
                assert_eq!(a.content, b.content, "{name}: {}", a.filename);
            }
        }
    }
}

#[test]
fn every_fixture_has_a_sender_and_some_text() {
    let all = all_fixtures();
    assert!(all.len() >= 20, "fixtures missing: {}", all.len());
    for (name, raw) in all {
        let email = parse(&raw, &Limits::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!email.text.trim().is_empty(), "{name}: no text");
        assert!(email.from.address.contains('@'), "{name}");
        assert!(!email.truncated, "{name}");
        assert!(
            email.full_text.len() >= email.text.len() || name.contains("forward"),
            "{name}"
        );
    }
}

#[test]
fn gmail_html_only_reply_is_trimmed_from_the_rendered_html() {
    let email = fixture("gmail_html_only_reply.eml");
    assert_eq!(
        email.text,
        "Still jamming. Photo of the display: https://photos.example.com/abc\n\nAnna"
    );
    assert!(
        email.full_text.contains("> Hello Anna,"),
        "{}",
        email.full_text
    );
    assert_eq!(email.in_reply_to.len(), 1);
}
