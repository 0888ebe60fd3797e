//! Why a knowledge request was refused, and the gRPC code each reason maps to.

use switchboard_runtime::{DomainError, ErrorKind, FieldViolation, Violations};

/// A refused or failed knowledge request.
#[derive(Debug, thiserror::Error)]
pub enum KnowledgeError {
    /// The request is malformed.
    #[error(transparent)]
    Invalid(#[from] Violations),
    /// No such article or category for this caller.
    #[error("{0} not found")]
    NotFound(String),
    /// The caller saw an older version.
    #[error("the article is at version {actual}, not the expected {expected}; reload and retry")]
    Stale {
        /// What the caller sent.
        expected: i64,
        /// What the article is at.
        actual: i64,
    },
    /// The article's state does not allow this.
    #[error("{0}")]
    Precondition(String),
    /// Something with that identity exists already.
    #[error("{0}")]
    AlreadyExists(String),
    /// The caller's role may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The database is unreachable or overloaded; logged, never shown.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Storage or index failure; logged, never shown.
    #[error("{0}")]
    Internal(String),
}

impl From<sqlx::Error> for KnowledgeError {
    fn from(e: sqlx::Error) -> Self {
        match switchboard_runtime::classify_db(&e) {
            switchboard_runtime::DbErrorClass::Unavailable => {
                KnowledgeError::Unavailable(e.to_string())
            }
            _ => KnowledgeError::Internal(format!("database: {e}")),
        }
    }
}

impl From<switchboard_search::Error> for KnowledgeError {
    fn from(e: switchboard_search::Error) -> Self {
        KnowledgeError::Internal(format!("search index: {e}"))
    }
}

impl DomainError for KnowledgeError {
    fn kind(&self) -> ErrorKind {
        match self {
            KnowledgeError::Invalid(v) => v.kind(),
            KnowledgeError::NotFound(_) => ErrorKind::NotFound,
            KnowledgeError::Stale { .. } => ErrorKind::Aborted,
            KnowledgeError::Precondition(_) => ErrorKind::FailedPrecondition,
            KnowledgeError::AlreadyExists(_) => ErrorKind::AlreadyExists,
            KnowledgeError::Forbidden(_) => ErrorKind::PermissionDenied,
            KnowledgeError::Unavailable(_) => ErrorKind::Unavailable,
            KnowledgeError::Internal(_) => ErrorKind::Internal,
        }
    }

    fn violations(&self) -> &[FieldViolation] {
        match self {
            KnowledgeError::Invalid(v) => v.violations(),
            _ => &[],
        }
    }
}

impl From<KnowledgeError> for tonic::Status {
    fn from(e: KnowledgeError) -> Self {
        switchboard_runtime::error::to_status(&e)
    }
}

/// A single-field violation as an error.
pub fn invalid(field: &str, reason: impl Into<String>) -> KnowledgeError {
    let mut v = Violations::default();
    v.add(field, reason);
    KnowledgeError::Invalid(v)
}
