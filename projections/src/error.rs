//! Errors of the read side.

/// Why a read model could not apply an event or answer a query.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    /// An event could not be applied; the projector stops at its position.
    #[error("cannot apply the event at position {position}: {reason}")]
    Apply { position: u64, reason: String },
    /// The read model did not reach the asked position before the deadline.
    #[error("the {name} read model is at position {at}, not yet at {wanted}")]
    NotCaughtUp { name: String, at: u64, wanted: u64 },
    #[error(transparent)]
    Store(#[from] kcn_eventstore::StoreError),
}

impl From<sqlx::Error> for ProjectionError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(e.into())
    }
}
