//! Inbound e-mail for the help desk, without I/O.
//!
//! [`parse`] turns the raw RFC 5322/MIME bytes a mail provider's webhook or
//! an IMAP fetcher hands over into an [`InboundEmail`]: decoded headers, the
//! reply as plain text with quoted history trimmed, sanitized HTML,
//! attachments, a [`Kind`] for loop protection and the ticket token from the
//! subject. [`threading`] matches replies to tickets and names outgoing mail.
//!
//! Everything is bounded by [`Limits`]; arbitrary bytes yield an error, never
//! a panic.

mod body;
mod classify;
mod error;
mod headers;
mod html;
mod limits;
mod model;
mod parse;
pub mod reply;
pub mod threading;

pub use body::TRUNCATION_MARKER;
pub use error::MailError;
pub use limits::Limits;
pub use model::{Attachment, InboundEmail, Kind, Mailbox};
pub use parse::parse;
