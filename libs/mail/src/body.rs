//! The body as text and as safe HTML, and the attachments.

use mail_parser::{Message, MessagePart, MimeHeaders, PartType};

use crate::headers::normalize_id;
use crate::html;
use crate::limits::Limits;
use crate::model::Attachment;

/// Appended where `text` or `full_text` was cut to fit the limit.
pub const TRUNCATION_MARKER: &str = "\n\n[… message truncated]";

/// Longest file name kept, in bytes.
const MAX_FILENAME_BYTES: usize = 255;

/// The readable body of a message.
pub(crate) struct Body {
    pub(crate) full_text: String,
    pub(crate) html_sanitized: Option<String>,
    pub(crate) truncated: bool,
}

/// Text from the `text/plain` alternative when there is one, else from the
/// HTML; sanitized HTML whenever there is HTML.
pub(crate) fn body(message: &Message<'_>, limits: &Limits) -> Body {
    let mut truncated = false;
    let mut html_budget = limits.max_html_bytes;
    let mut sanitized_parts: Vec<(u32, String)> = Vec::new();
    let mut sanitize_part = |id: u32, raw: &str, truncated: &mut bool| -> String {
        if let Some((_, done)) = sanitized_parts.iter().find(|(done_id, _)| *done_id == id) {
            return done.clone();
        }
        let (bounded, cut) = cut_bytes(raw, html_budget);
        html_budget -= bounded.len();
        *truncated |= cut;
        let clean = html::sanitize(bounded);
        sanitized_parts.push((id, clean.clone()));
        clean
    };

    let mut html_out: Option<String> = None;
    for &id in message.html_body.iter().take(limits.max_parts) {
        if let Some(PartType::Html(raw)) = message.parts.get(id as usize).map(|p| &p.body) {
            let clean = sanitize_part(id, raw, &mut truncated);
            html_out.get_or_insert_with(String::new).push_str(&clean);
        }
    }

    let mut texts: Vec<String> = Vec::new();
    for &id in message.text_body.iter().take(limits.max_parts) {
        match message.parts.get(id as usize).map(|p| &p.body) {
            Some(PartType::Text(text)) => texts.push(clean_text(text)),
            Some(PartType::Html(raw)) => {
                let clean = sanitize_part(id, raw, &mut truncated);
                texts.push(clean_text(&html::to_text(&clean)));
            }
            _ => {}
        }
    }
    let full_text = texts
        .iter()
        .map(|t| t.trim_matches('\n'))
        .filter(|t| !t.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n\n");
    Body {
        full_text,
        html_sanitized: html_out,
        truncated,
    }
}

/// At most `max_chars` characters of `text`, plus [`TRUNCATION_MARKER`] when
/// something was cut; and whether it was.
pub(crate) fn truncate_chars(text: String, max_chars: usize) -> (String, bool) {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => {
            let mut kept = text[..cut].trim_end().to_owned();
            kept.push_str(TRUNCATION_MARKER);
            (kept, true)
        }
        None => (text, false),
    }
}

/// The attachments and inline files, at most `limits.max_attachments`, and
/// how many more there were.
pub(crate) fn attachments(message: &Message<'_>, limits: &Limits) -> (Vec<Attachment>, usize) {
    let total = message.attachments.len();
    let kept: Vec<Attachment> = message
        .attachments()
        .take(limits.max_attachments)
        .enumerate()
        .map(|(index, part)| attachment(index, part))
        .collect();
    let dropped = total.saturating_sub(kept.len());
    (kept, dropped)
}

fn attachment(index: usize, part: &MessagePart<'_>) -> Attachment {
    let content_type = content_type(part);
    let content_id = part.content_id().and_then(normalize_id);
    let inline = match part.content_disposition() {
        Some(d) if d.ctype().eq_ignore_ascii_case("inline") => true,
        Some(d) if d.ctype().eq_ignore_ascii_case("attachment") => false,
        _ => content_id.is_some(),
    };
    let filename = part
        .attachment_name()
        .and_then(safe_filename)
        .or_else(|| nested_subject_name(part))
        .unwrap_or_else(|| format!("attachment-{}{}", index + 1, extension(&content_type)));
    let content = part.contents().to_vec();
    Attachment {
        filename,
        content_type,
        size: content.len(),
        content,
        content_id,
        inline,
    }
}

fn content_type(part: &MessagePart<'_>) -> String {
    match part.content_type() {
        Some(ct) => match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub).to_ascii_lowercase(),
            None => ct.ctype().to_ascii_lowercase(),
        },
        None => match part.body {
            PartType::Text(_) => "text/plain".to_owned(),
            PartType::Html(_) => "text/html".to_owned(),
            PartType::Message(_) => "message/rfc822".to_owned(),
            _ => "application/octet-stream".to_owned(),
        },
    }
}

/// A forwarded message attached without a name is named after its subject.
fn nested_subject_name(part: &MessagePart<'_>) -> Option<String> {
    let subject = part.message()?.subject()?;
    safe_filename(&format!("{subject}.eml"))
}

/// The last path component, without control characters or leading dots, so
/// a name can never climb out of a directory or hide itself.
fn safe_filename(raw: &str) -> Option<String> {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let name: String = base.chars().filter(|c| !c.is_control()).collect();
    let name = name.trim().trim_start_matches('.').trim();
    let (name, _) = cut_bytes(name, MAX_FILENAME_BYTES);
    (!name.is_empty()).then(|| name.to_owned())
}

fn extension(content_type: &str) -> &'static str {
    match content_type {
        "application/pdf" => ".pdf",
        "image/png" => ".png",
        "image/jpeg" => ".jpg",
        "image/gif" => ".gif",
        "text/plain" => ".txt",
        "text/html" => ".html",
        "text/calendar" => ".ics",
        "message/rfc822" => ".eml",
        _ => ".bin",
    }
}

/// Line breaks as `\n`, and no control characters besides `\n` and `\t`.
/// Byte-order marks go too: iOS leaves one at the start of quoted text, and
/// an invisible character would defeat the quote and signature patterns.
fn clean_text(text: &str) -> String {
    text.replace("\r\n", "\n")
        .chars()
        .map(|c| if c == '\r' { '\n' } else { c })
        .filter(|c| (!c.is_control() || *c == '\n' || *c == '\t') && *c != '\u{feff}')
        .collect()
}

/// At most `max` bytes of `text`, cut on a character boundary; and whether
/// it was cut.
fn cut_bytes(text: &str, max: usize) -> (&str, bool) {
    if text.len() <= max {
        return (text, false);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (&text[..end], true)
}
