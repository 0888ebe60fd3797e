//! Matching replies to tickets, and naming the mail the help desk sends.
//!
//! A reply is matched by, in order: [`parse_outgoing_message_id`] on its
//! [`thread_keys`] (no lookup needed when it answers our own mail), a lookup
//! of those keys among stored message ids, then the subject's
//! [`ticket_token`].

use std::collections::HashSet;
use std::sync::LazyLock;

use regex::Regex;

use crate::model::InboundEmail;

/// Most keys [`thread_keys`] returns.
pub const MAX_THREAD_KEYS: usize = 20;

/// Longest message uuid an outgoing id carries.
pub const MAX_UUID_CHARS: usize = 64;

/// Fallback domain for [`outgoing_message_id`] when the given one is unusable.
const FALLBACK_DOMAIN: &str = "switchboard.invalid";

static TOKEN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\[#[Tt]-(\d{1,19})\]").expect("static regex"));

static REPLY_PREFIX: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^(?:re|aw|sv|vs|antw|réf|ref|res|odp)\s*(?:\[\d+\]|\(\d+\))?\s*:\s*")
        .expect("static regex")
});

/// Message ids to look the parent message up by: `In-Reply-To` first, then
/// `References` newest first; deduplicated, at most [`MAX_THREAD_KEYS`].
pub fn thread_keys(email: &InboundEmail) -> Vec<String> {
    let mut seen = HashSet::new();
    email
        .in_reply_to
        .iter()
        .chain(email.references.iter().rev())
        .filter(|id| seen.insert(id.as_str()))
        .take(MAX_THREAD_KEYS)
        .cloned()
        .collect()
}

/// The `Message-ID` header value (with angle brackets) for a message the help
/// desk sends on a ticket: `<t1234.m<uuid>@domain>`. Characters that may not
/// appear in a message id are dropped from `message_uuid` and `domain`, and
/// the uuid is cut to [`MAX_UUID_CHARS`], so [`parse_outgoing_message_id`]
/// always reads the result back.
pub fn outgoing_message_id(ticket_number: u64, message_uuid: &str, domain: &str) -> String {
    let uuid: String = message_uuid
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(MAX_UUID_CHARS)
        .collect();
    // An id must not end in ".m@"; callers pass a uuid, so this only keeps
    // the format readable when they do not.
    let uuid = if uuid.is_empty() {
        "0".to_owned()
    } else {
        uuid
    };
    let domain: String = domain
        .trim()
        .trim_end_matches('.')
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'))
        .collect::<String>()
        .to_ascii_lowercase();
    let domain = if domain.is_empty() {
        FALLBACK_DOMAIN
    } else {
        &domain
    };
    format!("<t{ticket_number}.m{uuid}@{domain}>")
}

/// The ticket number and message uuid of an id made by
/// [`outgoing_message_id`], with or without angle brackets. The caller should
/// still check the domain is its own when others might copy the format.
pub fn parse_outgoing_message_id(id: &str) -> Option<(u64, String)> {
    let id = id.trim();
    let id = id.strip_prefix('<').unwrap_or(id);
    let id = id.strip_suffix('>').unwrap_or(id);
    let (local, domain) = id.split_once('@')?;
    if domain.is_empty() || domain.contains('@') {
        return None;
    }
    let (ticket, uuid) = local.strip_prefix('t')?.split_once(".m")?;
    let valid_uuid = !uuid.is_empty()
        && uuid.len() <= MAX_UUID_CHARS
        && uuid.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if !valid_uuid || ticket.is_empty() || !ticket.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((ticket.parse().ok()?, uuid.to_owned()))
}

/// The ticket number of the first `[#T-1234]` token (either case of `T`) in
/// a subject; nothing else in a message is trusted for this.
pub fn ticket_token(subject: &str) -> Option<u64> {
    TOKEN.captures(subject)?.get(1)?.as_str().parse().ok()
}

/// The subject of a reply on a ticket: exactly one `Re: ` prefix and one
/// `[#T-n]` token, whatever prefixes and tokens the subject had.
/// `"AW: Re: [#T-7] Printer"` → `"Re: [#T-7] Printer"`.
pub fn reply_subject(subject: &str, ticket_number: u64) -> String {
    let without_tokens = TOKEN.replace_all(subject, " ");
    let mut rest = without_tokens.trim();
    while let Some(prefix) = REPLY_PREFIX.find(rest) {
        rest = rest[prefix.end()..].trim_start();
    }
    let rest = rest.split_whitespace().collect::<Vec<_>>().join(" ");
    if rest.is_empty() {
        format!("Re: [#T-{ticket_number}]")
    } else {
        format!("Re: [#T-{ticket_number}] {rest}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outgoing_ids_round_trip() {
        for (ticket, uuid) in [
            (1, "0b7e3c2a-9d1f-4e55-8f2a-1c3d5e7f9a0b"),
            (u64::MAX, "ABC"),
            (0, "x"),
        ] {
            let id = outgoing_message_id(ticket, uuid, "desk.example");
            assert_eq!(
                parse_outgoing_message_id(&id),
                Some((ticket, uuid.to_owned())),
                "{id}"
            );
            let bare = id.trim_start_matches('<').trim_end_matches('>');
            assert_eq!(
                parse_outgoing_message_id(bare),
                Some((ticket, uuid.to_owned()))
            );
        }
    }

    #[test]
    fn outgoing_ids_drop_what_may_not_appear_in_an_id() {
        assert_eq!(
            outgoing_message_id(7, "a<b>c d@e", " Desk.Example. "),
            "<t7.mabcde@desk.example>"
        );
        assert_eq!(
            outgoing_message_id(7, "u", "évil>host@x"),
            "<t7.mu@vilhostx>"
        );
        assert_eq!(
            outgoing_message_id(7, "u", "  "),
            "<t7.mu@switchboard.invalid>"
        );
    }

    #[test]
    fn unusable_uuids_still_give_an_id_that_parses_back() {
        let id = outgoing_message_id(9, "", "desk.example");
        assert_eq!(id, "<t9.m0@desk.example>");
        assert_eq!(parse_outgoing_message_id(&id), Some((9, "0".to_owned())));

        let long = "a".repeat(100);
        let id = outgoing_message_id(9, &long, "desk.example");
        assert_eq!(
            parse_outgoing_message_id(&id),
            Some((9, "a".repeat(MAX_UUID_CHARS)))
        );
    }

    #[test]
    fn foreign_ids_are_not_taken_for_ours() {
        for id in [
            "",
            "<>",
            "CAJx9kL2@mail.gmail.com",
            "t12.m@desk.example",
            "x12.mabc@desk.example",
            "t12.mabc",
            "t12.mabc@",
            "t12.mabc@a@b",
            "t.mabc@desk.example",
            "t12x.mabc@desk.example",
            "t-1.mabc@desk.example",
            "t+1.mabc@desk.example",
            "t99999999999999999999.mabc@desk.example",
            "t12.ma_b@desk.example",
        ] {
            assert_eq!(parse_outgoing_message_id(id), None, "{id:?}");
        }
        let too_long = format!("t1.m{}@desk.example", "a".repeat(MAX_UUID_CHARS + 1));
        assert_eq!(parse_outgoing_message_id(&too_long), None);
    }

    #[test]
    fn reply_subjects_carry_one_prefix_and_one_token() {
        for (subject, expected) in [
            ("Printer", "Re: [#T-7] Printer"),
            ("AW: Re: [#T-7] Printer", "Re: [#T-7] Printer"),
            ("RE: [#T-7] RE: Printer", "Re: [#T-7] Printer"),
            ("[#T-3] old ticket", "Re: [#T-7] old ticket"),
            ("Re[2]: Re(3): SV: Antw: VS: x", "Re: [#T-7] x"),
            ("Re:Printer", "Re: [#T-7] Printer"),
            ("Réf : devis", "Re: [#T-7] devis"),
            (
                "  several   spaces\there ",
                "Re: [#T-7] several spaces here",
            ),
            ("Fwd: Printer", "Re: [#T-7] Fwd: Printer"),
            ("Research: results", "Re: [#T-7] Research: results"),
            ("Re: Re:", "Re: [#T-7]"),
            ("", "Re: [#T-7]"),
        ] {
            assert_eq!(reply_subject(subject, 7), expected, "{subject:?}");
        }
    }

    #[test]
    fn reply_subject_token_reads_back() {
        assert_eq!(
            ticket_token(&reply_subject("AW: [#T-1] x", 4_242)),
            Some(4_242)
        );
    }
}
