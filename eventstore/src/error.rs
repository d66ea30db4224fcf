//! The event store's error type, and the one place where database errors are mapped to it.

use kcn_domain::DomainError;
use uuid::Uuid;

/// Why the store could not carry out an operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The aggregate refused the command.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The caller's expected version is not the aggregate's current version.
    #[error("{aggregate_type} {aggregate_id} is at version {actual}, not the expected {expected}")]
    Conflict {
        aggregate_type: String,
        aggregate_id: Uuid,
        expected: u64,
        actual: u64,
    },
    /// The request id was already used by this principal for a different command.
    #[error("request id {request_id:?} was already used for a different command")]
    RequestIdReused { request_id: String },
    /// The database cannot be reached or is overloaded; the command may be retried.
    #[error("the event store is unavailable: {0}")]
    Unavailable(String),
    /// Stored data could not be read back, or another fault that is not the caller's.
    #[error("internal event store error: {0}")]
    Internal(String),
}

/// SQLite's primary result codes that mean "try again later".
mod sqlite_codes {
    pub const BUSY: &str = "5";
    pub const LOCKED: &str = "6";
    pub const BUSY_SNAPSHOT: &str = "517";
}

/// PostgreSQL SQLSTATEs that mean "try again later".
mod sqlstate {
    pub const SERIALIZATION_FAILURE: &str = "40001";
    pub const DEADLOCK_DETECTED: &str = "40P01";
    pub const TOO_MANY_CONNECTIONS: &str = "53300";
    pub const ADMIN_SHUTDOWN: &str = "57P01";
    pub const CANNOT_CONNECT_NOW: &str = "57P03";
    pub const LOCK_NOT_AVAILABLE: &str = "55P03";
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => Self::Unavailable(e.to_string()),
            sqlx::Error::Database(db) => {
                let code = db.code().unwrap_or_default();
                let transient = [
                    sqlite_codes::BUSY,
                    sqlite_codes::LOCKED,
                    sqlite_codes::BUSY_SNAPSHOT,
                    sqlstate::SERIALIZATION_FAILURE,
                    sqlstate::DEADLOCK_DETECTED,
                    sqlstate::TOO_MANY_CONNECTIONS,
                    sqlstate::ADMIN_SHUTDOWN,
                    sqlstate::CANNOT_CONNECT_NOW,
                    sqlstate::LOCK_NOT_AVAILABLE,
                ];
                if transient.contains(&code.as_ref()) {
                    Self::Unavailable(e.to_string())
                } else {
                    Self::Internal(e.to_string())
                }
            }
            _ => Self::Internal(e.to_string()),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        Self::Internal(format!("migration failed: {e}"))
    }
}
