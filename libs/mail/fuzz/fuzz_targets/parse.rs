//! Arbitrary bytes into `parse`, with default and tight limits: no panic,
//! and whatever parses stays within the limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_mail::{Limits, TRUNCATION_MARKER, parse};

fuzz_target!(|data: &[u8]| {
    let tight = Limits {
        max_attachments: 2,
        max_text_chars: 64,
        max_html_bytes: 256,
        max_subject_chars: 16,
        max_recipients: 2,
        max_references: 2,
        ..Limits::default()
    };
    for limits in [Limits::default(), tight] {
        let Ok(email) = parse(data, &limits) else {
            continue;
        };
        let marker = TRUNCATION_MARKER.chars().count();
        assert!(email.text.chars().count() <= limits.max_text_chars + marker);
        assert!(email.full_text.chars().count() <= limits.max_text_chars + marker);
        assert!(email.subject.chars().count() <= limits.max_subject_chars);
        assert!(email.attachments.len() <= limits.max_attachments);
        assert!(email.to.len() <= limits.max_recipients);
        assert!(email.cc.len() <= limits.max_recipients);
        assert!(email.references.len() <= limits.max_references);
        assert!(email.in_reply_to.len() <= limits.max_references);
    }
});
