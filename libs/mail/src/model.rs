//! What a parsed inbound message looks like to the intake service.

use chrono::{DateTime, Utc};

/// One parsed inbound message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundEmail {
    /// `Message-ID` without angle brackets.
    pub message_id: Option<String>,
    /// `In-Reply-To` ids without angle brackets, in header order, at most
    /// [`Limits::max_references`](crate::Limits::max_references).
    pub in_reply_to: Vec<String>,
    /// `References` ids without angle brackets, oldest first as sent.
    pub references: Vec<String>,
    /// The author.
    pub from: Mailbox,
    /// Where replies should go, when the sender asked for another address.
    pub reply_to: Option<Mailbox>,
    /// `To` recipients, at most [`Limits::max_recipients`](crate::Limits::max_recipients).
    pub to: Vec<Mailbox>,
    /// `Cc` recipients, at most [`Limits::max_recipients`](crate::Limits::max_recipients).
    pub cc: Vec<Mailbox>,
    /// Decoded subject on one line; empty when absent.
    pub subject: String,
    /// `Date`, when present and valid.
    pub date: Option<DateTime<Utc>>,
    /// The new content as plain text: quoted history and signature trimmed.
    pub text: String,
    /// The whole body as plain text, nothing trimmed.
    pub full_text: String,
    /// The HTML body made safe to show (no scripts, styles or handlers).
    pub html_sanitized: Option<String>,
    /// Attachments and inline images, at most [`Limits::max_attachments`](crate::Limits::max_attachments).
    pub attachments: Vec<Attachment>,
    /// Attachments left out because of the limit.
    pub attachments_dropped: usize,
    /// Whether `text`, `full_text` or the HTML was cut to fit the limits.
    pub truncated: bool,
    /// Human mail, auto-reply or bounce: only [`Kind::Normal`] may open
    /// tickets or trigger replies.
    pub kind: Kind,
    /// Why `kind` was chosen, for the service's log.
    pub kind_reason: String,
    /// Ticket number from a `[#T-1234]` token in the subject.
    pub ticket_token: Option<u64>,
}

/// An address with its display name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Mailbox {
    /// `local@domain`, the domain lower-cased and the local part as sent.
    pub address: String,
    /// Decoded display name, when one was given.
    pub name: Option<String>,
}

/// A file carried by the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// File name without any directory part; made up when the sender gave none.
    pub filename: String,
    /// Lower-case `type/subtype`.
    pub content_type: String,
    /// Decoded size in bytes (`content.len()`).
    pub size: usize,
    /// Decoded content; text parts are re-encoded as UTF-8.
    pub content: Vec<u8>,
    /// `Content-ID` without angle brackets, for `cid:` references in the HTML.
    pub content_id: Option<String>,
    /// Shown in the body (an inline image) rather than attached.
    pub inline: bool,
}

/// What sort of sender wrote the message, for loop protection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Written by a person: may open a ticket and receive replies.
    Normal,
    /// Sent by a machine: out-of-office, auto-responder, list or bulk mail.
    AutoReply,
    /// A delivery failure report.
    Bounce,
}

impl Kind {
    /// Whether the service may open a ticket or send a reply for it.
    pub fn is_normal(self) -> bool {
        self == Kind::Normal
    }
}
