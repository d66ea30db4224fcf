//! Errors of the read side.

/// Why a read model could not apply an event or answer a query.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    /// An event could not be applied; the read model stops exactly before its position.
    #[error("cannot apply the event at position {position}: {reason}")]
    Apply { position: u64, reason: String },
    /// The read model did not reach the asked position before the deadline.
    #[error("the {name} read model is at position {at}, not yet at {wanted}")]
    NotCaughtUp { name: String, at: u64, wanted: u64 },
    /// The read model stopped before an event it cannot apply, short of the asked position.
    #[error("the {name} read model stopped at position {at}: {reason}")]
    Stopped {
        name: String,
        at: u64,
        reason: String,
    },
    /// A caller asked to wait for a position the log has not reached.
    #[error("position {wanted} is beyond the log's head ({head})")]
    BeyondHead { wanted: u64, head: u64 },
    /// No read model has this name.
    #[error("no read model named {name:?}; known: {known}")]
    UnknownModel { name: String, known: String },
    /// A rebuild met an event it cannot apply; the live read model was left as it was.
    #[error("rebuild of {name} stopped before position {position}: {reason}")]
    RebuildStopped {
        name: String,
        position: u64,
        reason: String,
    },
    #[error(transparent)]
    Store(#[from] kcn_eventstore::StoreError),
}

impl From<sqlx::Error> for ProjectionError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(e.into())
    }
}
