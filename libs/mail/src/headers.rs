//! Header values from mail-parser turned into this crate's plain types.

use chrono::{DateTime, TimeZone, Utc};
use mail_parser::{Addr, Address, HeaderValue};

use crate::model::Mailbox;

/// RFC 5322's line limit; no real id or address is longer.
const MAX_TOKEN_BYTES: usize = 998;

/// The first usable mailbox of an address header.
pub(crate) fn first_mailbox(address: Option<&Address<'_>>) -> Option<Mailbox> {
    address?.iter().find_map(mailbox)
}

/// The usable mailboxes of an address header, groups flattened.
pub(crate) fn mailboxes(address: Option<&Address<'_>>, max: usize) -> Vec<Mailbox> {
    address
        .map(|a| a.iter().filter_map(mailbox).take(max).collect())
        .unwrap_or_default()
}

fn mailbox(addr: &Addr<'_>) -> Option<Mailbox> {
    let address = normalize_address(addr.address.as_deref()?)?;
    let name = addr
        .name
        .as_deref()
        .map(|n| one_line(n, 200))
        .map(|n| n.trim_matches(|c| c == '"' || c == '\'').trim().to_owned())
        .filter(|n| !n.is_empty() && !n.eq_ignore_ascii_case(&address));
    Some(Mailbox { address, name })
}

/// `Local@Example.COM` → `Local@example.com`; `None` unless it looks like an
/// address, because a display name alone cannot be replied to.
pub(crate) fn normalize_address(raw: &str) -> Option<String> {
    let raw = raw.trim().trim_start_matches('<').trim_end_matches('>');
    if raw.len() > MAX_TOKEN_BYTES || raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    let (local, domain) = raw.rsplit_once('@')?;
    let valid_domain = !domain.is_empty()
        && domain
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':'));
    if local.is_empty() || !valid_domain {
        return None;
    }
    Some(format!("{local}@{}", domain.to_lowercase()))
}

/// Message ids of an id header, angle brackets and folding removed.
pub(crate) fn ids(value: &HeaderValue<'_>) -> Vec<String> {
    match value {
        HeaderValue::Text(id) => normalize_id(id).into_iter().collect(),
        HeaderValue::TextList(list) => list.iter().filter_map(|id| normalize_id(id)).collect(),
        _ => Vec::new(),
    }
}

/// `<abc@host>` → `abc@host`; `None` for empty or absurdly long ids.
pub(crate) fn normalize_id(raw: &str) -> Option<String> {
    let id: String = raw
        .chars()
        .filter(|c| !c.is_whitespace() && !c.is_control() && *c != '<' && *c != '>')
        .collect();
    (!id.is_empty() && id.len() <= MAX_TOKEN_BYTES).then_some(id)
}

/// A valid RFC 5322 date in UTC.
pub(crate) fn date(value: Option<&mail_parser::DateTime>) -> Option<DateTime<Utc>> {
    let value = value.filter(|d| d.is_valid())?;
    Utc.timestamp_opt(value.to_timestamp(), 0).single()
}

/// Whitespace (including folding) collapsed to single spaces, at most
/// `max_chars` characters.
pub(crate) fn one_line(raw: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(raw.len().min(max_chars * 4));
    for word in raw.split(|c: char| c.is_whitespace() || c.is_control()) {
        if word.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    match out.char_indices().nth(max_chars) {
        Some((cut, _)) => out[..cut].to_owned(),
        None => out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_keep_the_local_part_and_lower_case_the_domain() {
        assert_eq!(
            normalize_address(" <Jo.Doe@Example.COM> ").as_deref(),
            Some("Jo.Doe@example.com")
        );
        assert_eq!(
            normalize_address("a@b@Host.example").as_deref(),
            Some("a@b@host.example")
        );
        for bad in [
            "",
            "no-at",
            "@host",
            "user@",
            "a b@host",
            "user@ho st",
            "user@host/x",
            "a\u{7}@b",
        ] {
            assert_eq!(normalize_address(bad), None, "{bad:?}");
        }
        assert_eq!(
            normalize_address(&format!("{}@x.example", "a".repeat(MAX_TOKEN_BYTES))),
            None
        );
    }

    #[test]
    fn ids_lose_brackets_and_folding() {
        assert_eq!(normalize_id("<abc@host>").as_deref(), Some("abc@host"));
        assert_eq!(
            normalize_id(" <abc@\r\n host> ").as_deref(),
            Some("abc@host")
        );
        assert_eq!(normalize_id("<>"), None);
        assert_eq!(normalize_id(&"x".repeat(MAX_TOKEN_BYTES + 1)), None);
    }

    #[test]
    fn one_line_collapses_whitespace_and_counts_characters() {
        assert_eq!(one_line(" a\r\n\tb  c ", 100), "a b c");
        assert_eq!(one_line("äöü ß", 3), "äöü");
        assert_eq!(one_line("abc", 0), "");
    }
}
