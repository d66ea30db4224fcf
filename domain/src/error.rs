//! The one error type of every aggregate's command handler, shaped so that the gRPC edge can map each
//! variant to its own status code without looking at message text.

use uuid::Uuid;

use crate::event::AggregateKind;

/// Why an aggregate refused a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// The command addresses an aggregate that was never created (`NOT_FOUND`).
    #[error("{kind} {id} does not exist")]
    NotFound { kind: AggregateKind, id: Uuid },
    /// A creation command addressed an aggregate that already exists (`FAILED_PRECONDITION`).
    #[error("{kind} {id} already exists")]
    AlreadyExists { kind: AggregateKind, id: Uuid },
    /// A field refers to something the ledger does not hold (`FAILED_PRECONDITION`).
    #[error("{field} refers to {kind} {id}, which does not exist")]
    UnknownReference {
        field: &'static str,
        kind: AggregateKind,
        id: Uuid,
    },
    /// A consistency rule refused the command (`FAILED_PRECONDITION`); `rule` is a stable code.
    #[error("{message}")]
    Rule { rule: &'static str, message: String },
    /// A field's value is malformed or impossible on its own (`INVALID_ARGUMENT`).
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    /// The caller's organisation does not perform this act, or not on this park
    /// (`PERMISSION_DENIED`); `rule` is a stable code ([`crate::scope`]).
    #[error("{message}")]
    Forbidden { rule: &'static str, message: String },
    /// A lookup the rules needed could not be made (`UNAVAILABLE`).
    #[error("lookup failed: {0}")]
    Lookup(String),
}

impl DomainError {
    /// A consistency-rule violation with a stable code a caller can match on.
    pub fn rule(rule: &'static str, message: impl Into<String>) -> Self {
        Self::Rule {
            rule,
            message: message.into(),
        }
    }

    /// A malformed field.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            message: message.into(),
        }
    }
}
