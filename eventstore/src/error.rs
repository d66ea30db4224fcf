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
    /// A decided event would be larger than the log stores ([`crate::MAX_EVENT_BYTES`] for its
    /// payload and metadata together): the command is refused, nothing of it is written, and the
    /// other commands of its batch are unaffected.
    #[error(
        "a {event_type} event of {size} bytes (payload and metadata) is larger than the log's limit of {limit} bytes"
    )]
    EventTooLarge {
        event_type: String,
        size: usize,
        limit: usize,
    },
    /// A key only one aggregate may hold (a park's code, an enterprise code) is already held.
    #[error("{field} {key:?} is already registered, to {existing_id}")]
    KeyTaken {
        scope: String,
        field: String,
        key: String,
        existing_id: String,
    },
    /// The database cannot be reached or is overloaded; the command may be retried.
    #[error("the event store is unavailable: {0}")]
    Unavailable(String),
    /// Stored data could not be read back, or another fault that is not the caller's.
    #[error("internal event store error: {0}")]
    Internal(String),
}

/// SQLite's primary result codes (the low byte of an extended code) that mean "try again later".
mod sqlite_codes {
    /// `SQLITE_BUSY` (and its extended codes, such as `SQLITE_BUSY_SNAPSHOT`).
    pub const BUSY: i32 = 5;
    /// `SQLITE_LOCKED`.
    pub const LOCKED: i32 = 6;
    /// `SQLITE_FULL`: the disk (or the file system holding the database) is full. The transaction
    /// was not committed; once space returns, the same command succeeds.
    pub const FULL: i32 = 13;
    /// Extended codes carry their primary code in the low byte.
    pub const PRIMARY_MASK: i32 = 0xff;
}

/// PostgreSQL SQLSTATEs that mean "try again later".
mod sqlstate {
    pub const SERIALIZATION_FAILURE: &str = "40001";
    pub const DEADLOCK_DETECTED: &str = "40P01";
    /// Class 53, insufficient resources: the server lacks disk, memory or connections for now.
    pub const INSUFFICIENT_RESOURCES: &str = "53000";
    pub const DISK_FULL: &str = "53100";
    pub const OUT_OF_MEMORY: &str = "53200";
    pub const TOO_MANY_CONNECTIONS: &str = "53300";
    pub const ADMIN_SHUTDOWN: &str = "57P01";
    pub const CANNOT_CONNECT_NOW: &str = "57P03";
    pub const LOCK_NOT_AVAILABLE: &str = "55P03";

    /// Every SQLSTATE above.
    pub const TRANSIENT: &[&str] = &[
        SERIALIZATION_FAILURE,
        DEADLOCK_DETECTED,
        INSUFFICIENT_RESOURCES,
        DISK_FULL,
        OUT_OF_MEMORY,
        TOO_MANY_CONNECTIONS,
        ADMIN_SHUTDOWN,
        CANNOT_CONNECT_NOW,
        LOCK_NOT_AVAILABLE,
    ];
}

/// Whether a database's error means the operation may succeed if retried later (busy, locked,
/// out of disk or memory, shutting down), by each backend's own named codes.
fn is_transient(db: &dyn sqlx::error::DatabaseError) -> bool {
    let code = db.code().unwrap_or_default();
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        let primary = code
            .parse::<i32>()
            .map_or(-1, |c| c & sqlite_codes::PRIMARY_MASK);
        return [sqlite_codes::BUSY, sqlite_codes::LOCKED, sqlite_codes::FULL].contains(&primary);
    }
    if db
        .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
        .is_some()
    {
        return sqlstate::TRANSIENT.contains(&code.as_ref());
    }
    false
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => Self::Unavailable(e.to_string()),
            sqlx::Error::Database(db) if is_transient(db.as_ref()) => {
                Self::Unavailable(e.to_string())
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

#[cfg(test)]
mod tests {
    use sqlx::Connection as _;
    use sqlx::sqlite::SqliteConnection;

    use super::*;

    /// A real `SQLITE_FULL`: the database may not grow past two pages, as a full disk would stop it.
    #[tokio::test]
    async fn a_full_sqlite_database_is_unavailable_not_internal() {
        let mut conn = SqliteConnection::connect("sqlite::memory:").await.unwrap();
        sqlx::query("CREATE TABLE t (b BLOB)")
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query("PRAGMA max_page_count = 2")
            .execute(&mut conn)
            .await
            .unwrap();
        let full = sqlx::query("INSERT INTO t VALUES (zeroblob(100000))")
            .execute(&mut conn)
            .await
            .unwrap_err();
        assert!(
            matches!(StoreError::from(full), StoreError::Unavailable(_)),
            "disk full is a reason to retry later"
        );
        let constraint = sqlx::query("INSERT INTO nowhere VALUES (1)")
            .execute(&mut conn)
            .await
            .unwrap_err();
        assert!(matches!(
            StoreError::from(constraint),
            StoreError::Internal(_)
        ));
    }
}
