//! Read-only access to a stored log for the offline verifier: events, stored tree hashes and every
//! issued checkpoint, each in pages and in order, with the raw column values as they are on disk.
//!
//! It deliberately does not go through [`crate::Backend`]: it never creates a database or runs a
//! migration (pointing it at a wrong path must fail, not verify an empty log), it opens SQLite
//! read-only and PostgreSQL in read-only transactions, and it hands back values unconverted, so
//! that a tampered row (a 15-byte event id, a negative version) becomes a finding of the verifier
//! rather than a read error.

use std::path::Path;
use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use sqlx::{FromRow, Row};

use crate::error::StoreError;

/// One stored event, column by column, unconverted.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct RawEvent {
    pub position: i64,
    pub event_id: Vec<u8>,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub aggregate_version: i64,
    pub event_type: String,
    pub schema_version: i64,
    pub occurred_at: String,
    pub recorded_at: String,
    pub payload: Vec<u8>,
    pub metadata: Vec<u8>,
}

/// One stored checkpoint row.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct RawCheckpoint {
    pub tree_size: i64,
    pub root_hash: Vec<u8>,
    pub note: String,
    pub issued_at: String,
}

/// Every event column, spelled out (not `*`), so that a column added later cannot shift the row.
macro_rules! select_events {
    ($param_from:literal, $param_limit:literal) => {
        concat!(
            "SELECT position, event_id, aggregate_type, aggregate_id, aggregate_version, ",
            "event_type, schema_version, occurred_at, recorded_at, payload, metadata ",
            "FROM events WHERE position >= ",
            $param_from,
            " ORDER BY position LIMIT ",
            $param_limit
        )
    };
}

/// A stored log opened for reading only.
#[derive(Debug, Clone)]
pub enum Archive {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Archive {
    /// Opens a SQLite database file read-only. The file must exist.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] if the file is missing or cannot be opened.
    pub async fn open_sqlite(path: &Path) -> Result<Self, StoreError> {
        if !path.is_file() {
            return Err(StoreError::Unavailable(format!(
                "no database file at {}",
                path.display()
            )));
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .read_only(true)
            .create_if_missing(false);
        let pool = SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(options)
            .await?;
        Ok(Self::Sqlite(pool))
    }

    /// Connects to a PostgreSQL database (`postgres://…`); every session is read-only.
    ///
    /// # Errors
    ///
    /// The connection's errors.
    pub async fn open_postgres(url: &str) -> Result<Self, StoreError> {
        let options =
            PgConnectOptions::from_str(url)?.options([("default_transaction_read_only", "on")]);
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .connect_with(options)
            .await?;
        Ok(Self::Postgres(pool))
    }

    /// The highest stored position (0 for an empty log).
    ///
    /// # Errors
    ///
    /// Database errors.
    pub async fn head(&self) -> Result<u64, StoreError> {
        let sql = "SELECT COALESCE(MAX(position), 0) FROM events";
        let last: i64 = match self {
            Self::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await?,
            Self::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await?,
        };
        Ok(u64::try_from(last).unwrap_or(0))
    }

    /// Events with `position >= from`, in position order, at most `limit`.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub async fn events(&self, from: u64, limit: u32) -> Result<Vec<RawEvent>, StoreError> {
        let events = match self {
            Self::Sqlite(pool) => {
                sqlx::query_as(select_events!("?1", "?2"))
                    .bind(to_i64(from))
                    .bind(i64::from(limit))
                    .fetch_all(pool)
                    .await?
            }
            Self::Postgres(pool) => {
                sqlx::query_as(select_events!("$1", "$2"))
                    .bind(to_i64(from))
                    .bind(i64::from(limit))
                    .fetch_all(pool)
                    .await?
            }
        };
        Ok(events)
    }

    /// Stored tree hashes `(idx, hash bytes)` with `idx >= from`, in index order, at most `limit`.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub async fn tree_hashes(
        &self,
        from: u64,
        limit: u32,
    ) -> Result<Vec<(i64, Vec<u8>)>, StoreError> {
        let rows = match self {
            Self::Sqlite(pool) => sqlx::query(
                "SELECT idx, hash FROM tree_hashes WHERE idx >= ?1 ORDER BY idx LIMIT ?2",
            )
            .bind(to_i64(from))
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<Result<Vec<_>, sqlx::Error>>()?,
            Self::Postgres(pool) => sqlx::query(
                "SELECT idx, hash FROM tree_hashes WHERE idx >= $1 ORDER BY idx LIMIT $2",
            )
            .bind(to_i64(from))
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<Result<Vec<_>, sqlx::Error>>()?,
        };
        Ok(rows)
    }

    /// Stored checkpoints with `tree_size > after` (every one when `after` is `None`), in size
    /// order, at most `limit`.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub async fn checkpoints(
        &self,
        after: Option<u64>,
        limit: u32,
    ) -> Result<Vec<RawCheckpoint>, StoreError> {
        let after = after.map_or(-1, to_i64);
        let rows = match self {
            Self::Sqlite(pool) => {
                sqlx::query_as(
                    "SELECT tree_size, root_hash, note, issued_at FROM checkpoints \
                     WHERE tree_size > ?1 ORDER BY tree_size LIMIT ?2",
                )
                .bind(after)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?
            }
            Self::Postgres(pool) => {
                sqlx::query_as(
                    "SELECT tree_size, root_hash, note, issued_at FROM checkpoints \
                     WHERE tree_size > $1 ORDER BY tree_size LIMIT $2",
                )
                .bind(after)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?
            }
        };
        Ok(rows)
    }

    /// Writes a copy of the SQLite database to the new file `dest` with `VACUUM INTO`: one
    /// read transaction, so the copy is the whole database (log, checkpoints, read models) as of
    /// one moment, while the server goes on writing; the copy is compact and needs no WAL.
    ///
    /// # Errors
    ///
    /// [`StoreError::Internal`] on PostgreSQL (back it up with `pg_dump`), or when `dest` exists
    /// or cannot be written; database errors.
    pub async fn copy_sqlite_into(&self, dest: &Path) -> Result<(), StoreError> {
        let Self::Sqlite(pool) = self else {
            return Err(StoreError::Internal(
                "only a SQLite store is copied this way; back PostgreSQL up with pg_dump".into(),
            ));
        };
        let dest = dest.to_str().ok_or_else(|| {
            StoreError::Internal(format!("{} is not a UTF-8 path", dest.display()))
        })?;
        sqlx::query("VACUUM INTO ?1")
            .bind(dest)
            .execute(pool)
            .await?;
        Ok(())
    }

    /// Closes the connections.
    pub async fn close(&self) {
        match self {
            Self::Sqlite(pool) => pool.close().await,
            Self::Postgres(pool) => pool.close().await,
        }
    }
}
