//! Bounds on what one inbound message may cost to parse and store.

/// Size and count limits applied by [`parse`](crate::parse).
///
/// Raw size, header and part counts reject the message; text, HTML,
/// attachments and recipients are cut down instead, so a customer's mail is
/// never lost for being long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest raw message accepted, in bytes.
    pub max_raw_bytes: usize,
    /// Most header fields accepted in the top-level header block.
    pub max_headers: usize,
    /// Largest top-level header block accepted, in bytes.
    pub max_header_bytes: usize,
    /// Most MIME parts accepted across the top-level message.
    pub max_parts: usize,
    /// Attachments kept; later ones are dropped and counted.
    pub max_attachments: usize,
    /// Characters kept in `text` and `full_text`; the rest is replaced by a marker.
    pub max_text_chars: usize,
    /// Bytes of HTML sanitized and rendered; the rest is dropped.
    pub max_html_bytes: usize,
    /// Characters kept in the subject.
    pub max_subject_chars: usize,
    /// Addresses kept in each of `to` and `cc`.
    pub max_recipients: usize,
    /// Message ids kept from `References` (the newest) and from `In-Reply-To` (the first).
    pub max_references: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_raw_bytes: 25 * 1024 * 1024,
            max_headers: 1_000,
            max_header_bytes: 512 * 1024,
            max_parts: 500,
            max_attachments: 20,
            max_text_chars: 64 * 1024,
            max_html_bytes: 2 * 1024 * 1024,
            max_subject_chars: 1_000,
            max_recipients: 100,
            max_references: 100,
        }
    }
}
