//! Why a message could not be read at all.

/// A raw message [`parse`](crate::parse) refuses; the display text is fit
/// for a gRPC status message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    /// The input was empty.
    #[error("the message is empty")]
    Empty,
    /// The input exceeds [`Limits::max_raw_bytes`](crate::Limits::max_raw_bytes).
    #[error("the message is {size} bytes; at most {max} are accepted")]
    TooLarge {
        /// Size of the raw input in bytes.
        size: usize,
        /// The limit in force.
        max: usize,
    },
    /// The input has no RFC 5322 header block.
    #[error("the input is not an e-mail message: {0}")]
    NotAnEmail(&'static str),
    /// More header fields than [`Limits::max_headers`](crate::Limits::max_headers).
    #[error("the message has {count} header fields; at most {max} are accepted")]
    TooManyHeaders {
        /// Header fields found.
        count: usize,
        /// The limit in force.
        max: usize,
    },
    /// A header block larger than [`Limits::max_header_bytes`](crate::Limits::max_header_bytes).
    #[error("the message header is {size} bytes; at most {max} are accepted")]
    HeaderTooLarge {
        /// Size of the header block in bytes.
        size: usize,
        /// The limit in force.
        max: usize,
    },
    /// More MIME parts than [`Limits::max_parts`](crate::Limits::max_parts).
    #[error("the message has {count} MIME parts; at most {max} are accepted")]
    TooManyParts {
        /// Parts found.
        count: usize,
        /// The limit in force.
        max: usize,
    },
    /// No `From` header, or none holding a usable address.
    #[error("the message has no usable From address")]
    MissingFrom,
}

impl MailError {
    /// A stable snake_case code for logs and metrics labels.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::TooLarge { .. } => "too_large",
            Self::NotAnEmail(_) => "not_an_email",
            Self::TooManyHeaders { .. } => "too_many_headers",
            Self::HeaderTooLarge { .. } => "header_too_large",
            Self::TooManyParts { .. } => "too_many_parts",
            Self::MissingFrom => "missing_from",
        }
    }

    /// Whether the message is too big rather than malformed (gRPC
    /// `RESOURCE_EXHAUSTED` rather than `INVALID_ARGUMENT`).
    pub fn is_size_limit(&self) -> bool {
        matches!(
            self,
            Self::TooLarge { .. }
                | Self::TooManyHeaders { .. }
                | Self::HeaderTooLarge { .. }
                | Self::TooManyParts { .. }
        )
    }
}
