//! Why a ticket change was refused, and the gRPC code each reason maps to.

use switchboard_runtime::{DomainError, ErrorKind, FieldViolation, Violations};

use super::lifecycle::IllegalMove;

/// A change the ticket's rules refuse.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    /// The request is malformed.
    #[error(transparent)]
    Invalid(#[from] Violations),
    /// The caller saw an older version (optimistic concurrency).
    #[error("the ticket is at version {actual}, not the expected {expected}; reload and retry")]
    Stale {
        /// What the caller sent.
        expected: i64,
        /// What the ticket is at.
        actual: i64,
    },
    /// The lifecycle forbids the move.
    #[error(transparent)]
    IllegalMove(#[from] IllegalMove),
    /// The ticket's state does not allow this (e.g. rating an open ticket).
    #[error("{0}")]
    Precondition(String),
    /// The caller's role may not do this.
    #[error("{0}")]
    Forbidden(String),
}

impl DomainError for RuleError {
    fn kind(&self) -> ErrorKind {
        match self {
            RuleError::Invalid(v) => v.kind(),
            RuleError::Stale { .. } => ErrorKind::Aborted,
            RuleError::IllegalMove(_) | RuleError::Precondition(_) => ErrorKind::FailedPrecondition,
            RuleError::Forbidden(_) => ErrorKind::PermissionDenied,
        }
    }

    fn violations(&self) -> &[FieldViolation] {
        match self {
            RuleError::Invalid(v) => v.violations(),
            _ => &[],
        }
    }
}

/// Refuses unless `expected` is `actual` (the version check every update makes).
pub fn check_version(expected: i64, actual: i64) -> Result<(), RuleError> {
    if expected == actual {
        Ok(())
    } else {
        Err(RuleError::Stale { expected, actual })
    }
}
