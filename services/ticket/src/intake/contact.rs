//! Channel input checked without I/O: who wrote (every identity they gave),
//! what they tried before asking, and how a logged call reads.

use std::collections::HashMap;

use switchboard_proto::ticket::v1::{
    self as pb, CallDirection, CallOutcome, Contact, IdentityKind, SelfServiceContext,
};
use switchboard_runtime::Violations;

use crate::domain::{Identity, MAX_NAME_CHARS};

/// Most searches or articles a self-service context may list.
pub const MAX_CONTEXT_ITEMS: usize = 20;
/// Longest search or article entry, in characters.
pub const MAX_CONTEXT_CHARS: usize = 200;
/// Longest channel-side id (thread, post, provider message), in bytes.
pub const MAX_EXTERNAL_ID_BYTES: usize = 128;
/// Longest web-form field value, in characters.
pub const MAX_FORM_VALUE_CHARS: usize = 1024;
/// Longest call, in seconds.
pub const MAX_CALL_SECONDS: i32 = 86_400;

/// The identities a contact carries, strongest first (email, phone,
/// social, chat visitor): the first one names a new customer.
pub fn identities(field: &str, contact: &Contact, v: &mut Violations) -> Vec<Identity> {
    if contact.display_name.trim().chars().count() > MAX_NAME_CHARS {
        v.add(
            format!("{field}.display_name"),
            format!("must be at most {MAX_NAME_CHARS} characters"),
        );
    }
    [
        ("email", IdentityKind::Email, &contact.email),
        ("phone", IdentityKind::Phone, &contact.phone),
        ("social", IdentityKind::Social, &contact.social),
        (
            "chat_visitor",
            IdentityKind::ChatVisitor,
            &contact.chat_visitor,
        ),
    ]
    .into_iter()
    .filter(|(_, _, value)| !value.trim().is_empty())
    .filter_map(|(name, kind, value)| {
        let raw = pb::Identity {
            kind: kind as i32,
            value: value.trim().to_owned(),
        };
        // Report under the contact's own field name, not `identity.value`.
        let mut inner = Violations::default();
        let parsed = Identity::from_proto("identity", Some(&raw), &mut inner);
        for violation in &inner.0 {
            v.add(format!("{field}.{name}"), violation.description.clone());
        }
        parsed
    })
    .collect()
}

/// Requires that `identities` holds one of `kinds`, reporting under `field`.
pub fn require(
    identities: &[Identity],
    kinds: &[&str],
    field: &str,
    what: &str,
    v: &mut Violations,
) {
    if !identities.iter().any(|i| kinds.contains(&i.kind())) {
        v.add(field, format!("{what} is required"));
    }
}

/// The internal note that shows the agent what the customer tried first, or
/// `None` when they tried nothing.
pub fn self_service_note(
    context: Option<&SelfServiceContext>,
    v: &mut Violations,
) -> Option<String> {
    let context = context?;
    let mut lists = Vec::new();
    for (field, items, label) in [
        ("self_service.searches", &context.searches, "Searched for"),
        ("self_service.articles", &context.articles, "Read"),
    ] {
        if items.len() > MAX_CONTEXT_ITEMS {
            v.add(field, format!("at most {MAX_CONTEXT_ITEMS} entries"));
            continue;
        }
        if let Some(at) = items
            .iter()
            .position(|i| i.trim().is_empty() || i.chars().count() > MAX_CONTEXT_CHARS)
        {
            v.add(
                format!("{field}[{at}]"),
                format!("must be 1 to {MAX_CONTEXT_CHARS} characters"),
            );
            continue;
        }
        if !items.is_empty() {
            let quoted: Vec<String> = items.iter().map(|i| format!("“{}”", i.trim())).collect();
            lists.push(format!("{label}: {}", quoted.join(", ")));
        }
    }
    (!lists.is_empty()).then(|| {
        format!(
            "Before contacting us the customer tried self-service.\n{}",
            lists.join("\n")
        )
    })
}

/// A channel-side id: 1 to [`MAX_EXTERNAL_ID_BYTES`] bytes, no whitespace.
pub fn external_id(field: &str, value: &str, v: &mut Violations) -> String {
    let value = value.trim();
    if value.is_empty()
        || value.len() > MAX_EXTERNAL_ID_BYTES
        || value.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        v.add(
            field,
            format!("must be 1 to {MAX_EXTERNAL_ID_BYTES} bytes without spaces"),
        );
    }
    value.to_owned()
}

/// A social network name: 1 to 32 of a-z, 0-9, `-`, `_` (lowercased).
pub fn network(value: &str, v: &mut Violations) -> String {
    let value = value.trim().to_lowercase();
    let ok = !value.is_empty()
        && value.len() <= 32
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !ok {
        v.add("network", "must be 1 to 32 of a-z, 0-9, `-`, `_`");
    }
    value
}

/// Web-form fields as text custom fields; keys are checked where custom
/// fields are.
pub fn form_fields(
    fields: &HashMap<String, String>,
    v: &mut Violations,
) -> HashMap<String, pb::FieldValue> {
    for (key, value) in fields {
        if value.chars().count() > MAX_FORM_VALUE_CHARS {
            v.add(
                format!("fields[{key}]"),
                format!("must be at most {MAX_FORM_VALUE_CHARS} characters"),
            );
        }
    }
    fields
        .iter()
        .map(|(key, value)| {
            let value = pb::FieldValue {
                kind: Some(pb::field_value::Kind::Text(value.trim().to_owned())),
            };
            (key.clone(), value)
        })
        .collect()
}

/// The message a logged call becomes: direction, duration, outcome, notes.
pub fn call_summary(
    direction: i32,
    duration_seconds: i32,
    outcome: i32,
    notes: &str,
    v: &mut Violations,
) -> String {
    if !(0..=MAX_CALL_SECONDS).contains(&duration_seconds) {
        v.add(
            "duration_seconds",
            format!("must be 0 to {MAX_CALL_SECONDS}"),
        );
    }
    let direction = match CallDirection::try_from(direction) {
        Ok(CallDirection::Outbound) => "Outbound",
        Ok(CallDirection::Inbound | CallDirection::Unspecified) => "Inbound",
        Err(_) => {
            v.add("direction", format!("unknown direction {direction}"));
            "Inbound"
        }
    };
    let outcome = match CallOutcome::try_from(outcome) {
        Ok(CallOutcome::Unspecified) => "not recorded",
        Ok(CallOutcome::Resolved) => "resolved on the call",
        Ok(CallOutcome::FollowUp) => "follow-up needed",
        Ok(CallOutcome::Voicemail) => "voicemail",
        Ok(CallOutcome::NoAnswer) => "no answer",
        Err(_) => {
            v.add("outcome", format!("unknown outcome {outcome}"));
            "not recorded"
        }
    };
    let minutes = duration_seconds.max(0) / 60;
    let seconds = duration_seconds.max(0) % 60;
    let head = format!("{direction} call, {minutes}m {seconds:02}s, outcome: {outcome}.");
    match notes.trim() {
        "" => head,
        notes => format!("{head}\n\n{notes}"),
    }
}

/// A ticket subject from a chat's first line: its first line, shortened.
pub fn subject_from(text: &str) -> String {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("Chat");
    match line.char_indices().nth(80) {
        Some((cut, _)) => format!("{}…", line[..cut].trim_end()),
        None => line.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_come_strongest_first_and_errors_name_the_field() {
        let contact = Contact {
            chat_visitor: "v-1".into(),
            phone: "+15551234567".into(),
            email: "Ada@Example.com".into(),
            ..Default::default()
        };
        let mut v = Violations::default();
        let ids = identities("visitor", &contact, &mut v);
        assert!(v.0.is_empty());
        assert_eq!(
            ids,
            [
                Identity::Email("ada@example.com".into()),
                Identity::Phone("+15551234567".into()),
                Identity::ChatVisitor("v-1".into()),
            ]
        );

        let bad = Contact {
            phone: "555".into(),
            social: "nohandle".into(),
            ..Default::default()
        };
        let mut v = Violations::default();
        assert!(identities("contact", &bad, &mut v).is_empty());
        let fields: Vec<_> = v.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["contact.phone", "contact.social"]);
    }

    #[test]
    fn self_service_note_lists_what_was_tried_and_bounds_it() {
        let mut v = Violations::default();
        let note = self_service_note(
            Some(&SelfServiceContext {
                searches: vec!["reset password".into()],
                articles: vec!["articles/42".into(), "Two-factor login".into()],
            }),
            &mut v,
        );
        assert!(v.0.is_empty());
        assert_eq!(
            note.as_deref(),
            Some(
                "Before contacting us the customer tried self-service.\n\
                 Searched for: “reset password”\n\
                 Read: “articles/42”, “Two-factor login”"
            )
        );
        assert_eq!(self_service_note(None, &mut v), None);
        assert_eq!(
            self_service_note(Some(&SelfServiceContext::default()), &mut v),
            None
        );

        let mut v = Violations::default();
        let too_many = SelfServiceContext {
            searches: vec!["x".into(); MAX_CONTEXT_ITEMS + 1],
            articles: vec![" ".into()],
        };
        assert_eq!(self_service_note(Some(&too_many), &mut v), None);
        let fields: Vec<_> = v.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(
            fields,
            ["self_service.searches", "self_service.articles[0]"]
        );
    }

    #[test]
    fn call_summary_reads_like_a_log_line() {
        let mut v = Violations::default();
        let text = call_summary(
            CallDirection::Outbound as i32,
            252,
            CallOutcome::FollowUp as i32,
            " Promised a callback. ",
            &mut v,
        );
        assert!(v.0.is_empty());
        assert_eq!(
            text,
            "Outbound call, 4m 12s, outcome: follow-up needed.\n\nPromised a callback."
        );
        call_summary(9, -1, 9, "", &mut v);
        let fields: Vec<_> = v.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["duration_seconds", "direction", "outcome"]);
    }

    #[test]
    fn ids_networks_and_subjects() {
        let mut v = Violations::default();
        assert_eq!(external_id("post_id", " 123 ", &mut v), "123");
        assert_eq!(network("X", &mut v), "x");
        assert!(v.0.is_empty());
        external_id("post_id", "a b", &mut v);
        external_id("thread_id", &"x".repeat(MAX_EXTERNAL_ID_BYTES + 1), &mut v);
        network("bad net", &mut v);
        let fields: Vec<_> = v.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["post_id", "thread_id", "network"]);

        assert_eq!(
            subject_from("\n  Hi, my order is late\nmore"),
            "Hi, my order is late"
        );
        let long = "word ".repeat(40);
        let subject = subject_from(&long);
        assert!(
            subject.ends_with('…') && subject.chars().count() <= 81,
            "{subject}"
        );
    }
}
