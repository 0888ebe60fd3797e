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
/// appear in a message id are dropped from `message_uuid` and `domain`.
pub fn outgoing_message_id(ticket_number: u64, message_uuid: &str, domain: &str) -> String {
    let uuid: String = message_uuid
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
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
        && uuid.len() <= 64
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
