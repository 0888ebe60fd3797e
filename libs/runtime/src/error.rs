//! The one mapping from domain errors to gRPC statuses.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The canonical outcomes a domain error can have on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request is malformed; see the field violations.
    InvalidArgument,
    /// The resource does not exist for this caller.
    NotFound,
    /// The resource already exists.
    AlreadyExists,
    /// The resource is not in a state that allows the change.
    FailedPrecondition,
    /// A concurrent change won (stale version).
    Aborted,
    /// The caller may not do this.
    PermissionDenied,
    /// The caller is not authenticated.
    Unauthenticated,
    /// A quota or rate limit was hit.
    ResourceExhausted,
    /// A dependency is down; retrying may work.
    Unavailable,
    /// A bug or an unexpected failure; details are logged, not returned.
    Internal,
}

impl ErrorKind {
    /// The gRPC code for this kind.
    pub fn code(self) -> Code {
        match self {
            ErrorKind::InvalidArgument => Code::InvalidArgument,
            ErrorKind::NotFound => Code::NotFound,
            ErrorKind::AlreadyExists => Code::AlreadyExists,
            ErrorKind::FailedPrecondition => Code::FailedPrecondition,
            ErrorKind::Aborted => Code::Aborted,
            ErrorKind::PermissionDenied => Code::PermissionDenied,
            ErrorKind::Unauthenticated => Code::Unauthenticated,
            ErrorKind::ResourceExhausted => Code::ResourceExhausted,
            ErrorKind::Unavailable => Code::Unavailable,
            ErrorKind::Internal => Code::Internal,
        }
    }
}

/// One invalid field of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// Field path, e.g. `requester.email`.
    pub field: String,
    /// Why the value is refused.
    pub description: String,
}

impl FieldViolation {
    /// A violation of `field` because of `description`.
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
        }
    }
}

/// Every violation found in one request, collected rather than stopping at
/// the first so a client can fix them all at once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Violations(pub Vec<FieldViolation>);

impl Violations {
    /// Records a violation.
    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push(FieldViolation::new(field, description));
    }

    /// `Ok(value)` when nothing was recorded.
    pub fn into_result<T>(self, value: T) -> Result<T, Violations> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }

    /// Whether `field` has a violation.
    pub fn has(&self, field: &str) -> bool {
        self.0.iter().any(|v| v.field == field)
    }
}

impl std::fmt::Display for Violations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|v| format!("{}: {}", v.field, v.description))
            .collect();
        write!(f, "invalid request: {}", parts.join("; "))
    }
}

impl std::error::Error for Violations {}

/// Implemented by each service's error enum: says which canonical kind each
/// variant is.
pub trait DomainError: std::error::Error {
    /// The canonical kind.
    fn kind(&self) -> ErrorKind;

    /// Field violations, for `InvalidArgument`.
    fn violations(&self) -> &[FieldViolation] {
        &[]
    }
}

impl DomainError for Violations {
    fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidArgument
    }

    fn violations(&self) -> &[FieldViolation] {
        &self.0
    }
}

/// What a database failure means to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbErrorClass {
    /// The database cannot be reached, is overloaded or restarting, or the
    /// pool gave no connection in time: retrying later may work.
    Unavailable,
    /// A unique constraint refused the row: the caller decides whether that
    /// is ALREADY_EXISTS (with its own message) or a bug.
    UniqueViolation,
    /// Anything else: a bug or an unexpected state.
    Other,
}

/// The one classification of database failures every service uses.
pub fn classify_db(err: &sqlx::Error) -> DbErrorClass {
    match err {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => DbErrorClass::Unavailable,
        sqlx::Error::Database(db) => {
            let code = db.code();
            let code = code.as_deref().unwrap_or_default();
            match code {
                "23505" => DbErrorClass::UniqueViolation,
                // Connection exceptions (08), too many connections (53300),
                // shutdown or recovery in progress (57P01-57P03).
                c if c.starts_with("08") => DbErrorClass::Unavailable,
                "53300" | "57P01" | "57P02" | "57P03" => DbErrorClass::Unavailable,
                _ => DbErrorClass::Other,
            }
        }
        _ => DbErrorClass::Other,
    }
}

/// The canonical kind of a database failure nobody handled: UNAVAILABLE for
/// an outage, INTERNAL (logged, never shown) for the rest, unique
/// violations included (a caller that expects one answers ALREADY_EXISTS
/// itself, after [`classify_db`]).
pub fn db_error_kind(err: &sqlx::Error) -> ErrorKind {
    match classify_db(err) {
        DbErrorClass::Unavailable => ErrorKind::Unavailable,
        DbErrorClass::UniqueViolation | DbErrorClass::Other => ErrorKind::Internal,
    }
}

/// What a client reads for any UNAVAILABLE: the cause (driver text, host
/// names) is logged, never sent.
pub const UNAVAILABLE_MESSAGE: &str = "temporarily unavailable; retry later";

/// Turns a domain error into a status. Internal errors are logged here with
/// their cause and reach the client only as a generic message.
pub fn to_status<E: DomainError + ?Sized>(err: &E) -> Status {
    let kind = err.kind();
    match kind {
        ErrorKind::Internal => {
            tracing::error!(error = %err, "internal error");
            Status::internal("internal error")
        }
        ErrorKind::Unavailable => {
            tracing::warn!(error = %err, "dependency unavailable");
            Status::unavailable(UNAVAILABLE_MESSAGE)
        }
        ErrorKind::InvalidArgument if !err.violations().is_empty() => {
            let all = err.violations();
            let shown = &all[..all.len().min(MAX_VIOLATIONS)];
            let mut details = ErrorDetails::new();
            for v in shown {
                details.add_bad_request_violation(
                    clip(&v.field, MAX_FIELD_CHARS),
                    clip(&v.description, MAX_DESCRIPTION_CHARS),
                );
            }
            let mut message = Violations(
                shown
                    .iter()
                    .map(|v| {
                        FieldViolation::new(
                            clip(&v.field, MAX_FIELD_CHARS),
                            clip(&v.description, MAX_DESCRIPTION_CHARS),
                        )
                    })
                    .collect(),
            )
            .to_string();
            message = clip(&message, MAX_MESSAGE_CHARS);
            if all.len() > shown.len() {
                message.push_str(&format!(" (and {} more)", all.len() - shown.len()));
            }
            Status::with_error_details(Code::InvalidArgument, message, details)
        }
        _ => Status::new(kind.code(), clip(&err.to_string(), MAX_MESSAGE_CHARS)),
    }
}

/// Violations an answer carries: a client fixes these first and learns the
/// rest on its next try, and the trailers stay well below the 8 KiB of
/// metadata that gRPC clients accept by default.
pub const MAX_VIOLATIONS: usize = 10;
/// Longest field path an answer repeats.
const MAX_FIELD_CHARS: usize = 100;
/// Longest reason an answer gives; reasons that quote input stop here.
const MAX_DESCRIPTION_CHARS: usize = 160;
/// Longest `grpc-message` of any other error.
const MAX_MESSAGE_CHARS: usize = 1024;

/// `text` cut to `max` characters, marked with `…` when cut.
fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some((end, _)) => format!("{}…", &text[..end]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violations_travel_as_bad_request_details() {
        let mut v = Violations::default();
        v.add("subject", "must not be empty");
        v.add("requester.email", "is not an email address");
        let status = to_status(&v);
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(status.message().contains("subject: must not be empty"));
        let details = status.get_error_details();
        let bad = details.bad_request().expect("bad request details");
        let fields: Vec<_> = bad
            .field_violations
            .iter()
            .map(|f| f.field.as_str())
            .collect();
        assert_eq!(fields, ["subject", "requester.email"]);
    }

    #[test]
    fn answers_stay_small_whatever_the_input() {
        let mut v = Violations::default();
        for i in 0..10_000 {
            v.add(
                format!("tags[{i}]"),
                format!("`{}` is not a tag", "x".repeat(1 << 20 >> 10)),
            );
        }
        v.add("subject".repeat(1000), "y".repeat(1 << 20));
        let status = to_status(&v);
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(status.message().len() < 1200, "{}", status.message().len());
        assert!(
            status.message().ends_with("(and 9991 more)"),
            "{}",
            status.message()
        );
        assert!(
            status.details().len() < 4 * 1024,
            "{}",
            status.details().len()
        );
        let details = status.get_error_details();
        let bad = details.bad_request().expect("bad request details");
        assert_eq!(bad.field_violations.len(), MAX_VIOLATIONS);
        assert_eq!(bad.field_violations[0].field, "tags[0]");
    }

    #[test]
    fn clipping_respects_characters() {
        assert_eq!(clip("héllo", 2), "hé…");
        assert_eq!(clip("hé", 2), "hé");
    }

    #[derive(Debug, thiserror::Error)]
    #[error("database password is hunter2")]
    struct Leaky;

    impl DomainError for Leaky {
        fn kind(&self) -> ErrorKind {
            ErrorKind::Internal
        }
    }

    #[derive(Debug, thiserror::Error)]
    #[error("pool timed out connecting to db.internal:5432")]
    struct Outage;

    impl DomainError for Outage {
        fn kind(&self) -> ErrorKind {
            ErrorKind::Unavailable
        }
    }

    #[test]
    fn unavailable_errors_do_not_leak_details() {
        let status = to_status(&Outage);
        assert_eq!(status.code(), Code::Unavailable);
        assert_eq!(status.message(), UNAVAILABLE_MESSAGE);
    }

    #[test]
    fn database_failures_are_classified_once() {
        let refused = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        for outage in [sqlx::Error::PoolTimedOut, sqlx::Error::PoolClosed, refused] {
            assert_eq!(classify_db(&outage), DbErrorClass::Unavailable, "{outage}");
            assert_eq!(db_error_kind(&outage), ErrorKind::Unavailable);
        }
        for bug in [
            sqlx::Error::RowNotFound,
            sqlx::Error::ColumnNotFound("x".into()),
            sqlx::Error::Protocol("unexpected message".into()),
        ] {
            assert_eq!(classify_db(&bug), DbErrorClass::Other, "{bug}");
            assert_eq!(db_error_kind(&bug), ErrorKind::Internal);
        }
    }

    #[test]
    fn internal_errors_do_not_leak_details() {
        let status = to_status(&Leaky);
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("hunter2"));
    }
}
