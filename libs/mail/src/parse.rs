//! From raw bytes to an [`InboundEmail`].

use mail_parser::{HeaderName, HeaderValue, Message, MessageParser};

use crate::body::{self, truncate_chars};
use crate::classify::classify;
use crate::error::MailError;
use crate::headers::{self, first_mailbox, mailboxes, one_line};
use crate::limits::Limits;
use crate::model::InboundEmail;
use crate::reply::{is_forward, trim_reply};
use crate::threading::ticket_token;

/// Parses a raw RFC 5322/MIME message as a provider's inbound webhook or an
/// IMAP fetch delivers it.
///
/// Rejects input that is empty, over [`Limits`], has no recognizable header
/// block or no usable `From`; anything else parses, with over-long text cut
/// and surplus attachments dropped. Never panics.
pub fn parse(raw: &[u8], limits: &Limits) -> Result<InboundEmail, MailError> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err(MailError::Empty);
    }
    if raw.len() > limits.max_raw_bytes {
        return Err(MailError::TooLarge {
            size: raw.len(),
            max: limits.max_raw_bytes,
        });
    }
    let message = parse_mime(raw)?;
    check_structure(&message, limits)?;

    // mail-parser's `from()` reads the last `From` field; a duplicated field
    // whose last copy holds no address must not lose the sender.
    let from = message
        .header_values(HeaderName::From)
        .filter_map(HeaderValue::as_address)
        .find_map(|address| first_mailbox(Some(address)))
        .ok_or(MailError::MissingFrom)?;
    let subject = one_line(
        message.subject().unwrap_or_default(),
        limits.max_subject_chars,
    );
    let (kind, kind_reason) = classify(&message, &from, &subject);

    let body = body::body(&message, limits);
    let text = if is_forward(&subject, &body.full_text) {
        body.full_text.trim().to_owned()
    } else {
        trim_reply(&body.full_text)
    };
    let (text, text_cut) = truncate_chars(text, limits.max_text_chars);
    let (full_text, full_cut) = truncate_chars(body.full_text, limits.max_text_chars);
    let (attachments, attachments_dropped) = body::attachments(&message, limits);

    let mut in_reply_to = headers::ids(message.in_reply_to());
    in_reply_to.truncate(limits.max_references);
    let mut references = headers::ids(message.references());
    let surplus = references.len().saturating_sub(limits.max_references);
    references.drain(..surplus);

    Ok(InboundEmail {
        message_id: message.message_id().and_then(headers::normalize_id),
        in_reply_to,
        references,
        reply_to: first_mailbox(message.reply_to()),
        to: mailboxes(message.to(), limits.max_recipients),
        cc: mailboxes(message.cc(), limits.max_recipients),
        date: headers::date(message.date()),
        ticket_token: ticket_token(&subject),
        from,
        subject,
        text,
        full_text,
        html_sanitized: body.html_sanitized,
        attachments,
        attachments_dropped,
        truncated: body.truncated || text_cut || full_cut,
        kind,
        kind_reason,
    })
}

/// mail-parser checks its own bookkeeping with `debug_assert!`s that
/// malformed MIME can trip (found by `tests/mail/fuzz.rs`). Release builds
/// carry on past them; a debug build (the service's tests) must not turn
/// such input into a panic, so it is refused as malformed instead.
fn parse_mime(raw: &[u8]) -> Result<Message<'_>, MailError> {
    std::panic::catch_unwind(|| MessageParser::default().parse(raw))
        .map_err(|_| MailError::NotAnEmail("malformed MIME structure"))?
        .ok_or(MailError::NotAnEmail("no header block"))
}

/// Headers any mail system writes; input with none of them is not mail.
const MAIL_HEADERS: [HeaderName<'static>; 9] = [
    HeaderName::From,
    HeaderName::To,
    HeaderName::Subject,
    HeaderName::Date,
    HeaderName::MessageId,
    HeaderName::MimeVersion,
    HeaderName::Received,
    HeaderName::ReturnPath,
    HeaderName::ContentType,
];

fn check_structure(message: &Message<'_>, limits: &Limits) -> Result<(), MailError> {
    let root = message
        .parts
        .first()
        .ok_or(MailError::NotAnEmail("no header block"))?;
    let count = root.headers.len();
    if count > limits.max_headers {
        return Err(MailError::TooManyHeaders {
            count,
            max: limits.max_headers,
        });
    }
    let size = root.offset_body.saturating_sub(root.offset_header) as usize;
    if size > limits.max_header_bytes {
        return Err(MailError::HeaderTooLarge {
            size,
            max: limits.max_header_bytes,
        });
    }
    if message.parts.len() > limits.max_parts {
        return Err(MailError::TooManyParts {
            count: message.parts.len(),
            max: limits.max_parts,
        });
    }
    if !root.headers.iter().any(|h| MAIL_HEADERS.contains(&h.name)) {
        return Err(MailError::NotAnEmail(
            "none of the headers of an e-mail message",
        ));
    }
    Ok(())
}
