//! Read-only access to a stored log for the offline verifier and the export: events (by position,
//! or by business time for a period), stored tree hashes and every issued checkpoint, each in pages
//! and in order, with the raw column values as they are on disk.
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
macro_rules! event_columns {
    () => {
        concat!(
            "SELECT position, event_id, aggregate_type, aggregate_id, aggregate_version, ",
            "event_type, schema_version, occurred_at, recorded_at, payload, metadata FROM events "
        )
    };
}

macro_rules! select_events {
    ($param_from:literal, $param_limit:literal) => {
        concat!(
            event_columns!(),
            "WHERE position >= ",
            $param_from,
            " ORDER BY position LIMIT ",
            $param_limit
        )
    };
}

/// Events after a position, up to another, whose stored `occurred_at` text lies in `[from, until)`.
/// The text is canonical RFC 3339 UTC of one width, so byte order is time order; PostgreSQL is told
/// to compare bytes (`COLLATE "C"`) whatever the database's locale.
const SELECT_OCCURRED_SQLITE: &str = concat!(
    event_columns!(),
    "WHERE position > ?1 AND position <= ?2 AND occurred_at >= ?3 AND occurred_at < ?4 ",
    "ORDER BY position LIMIT ?5"
);
const SELECT_OCCURRED_POSTGRES: &str = concat!(
    event_columns!(),
    "WHERE position > $1 AND position <= $2 ",
    "AND occurred_at COLLATE \"C\" >= $3 AND occurred_at COLLATE \"C\" < $4 ",
    "ORDER BY position LIMIT $5"
);
const COUNT_OCCURRED_SQLITE: &str = "SELECT COUNT(*), COALESCE(MAX(position), 0) FROM events \
     WHERE occurred_at >= ?1 AND occurred_at < ?2";
const COUNT_OCCURRED_POSTGRES: &str = "SELECT COUNT(*), COALESCE(MAX(position), 0) FROM events \
     WHERE occurred_at COLLATE \"C\" >= $1 AND occurred_at COLLATE \"C\" < $2";

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

    /// Events with `after < position <= up_to` whose stored `occurred_at` text lies in
    /// `[from, until)` (canonical timestamps, see [`kcn_integrity::format_timestamp`]), in position
    /// order, at most `limit`: a page of the events that happened in a period, for an export.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub async fn events_occurred_in(
        &self,
        from: &str,
        until: &str,
        after: u64,
        up_to: u64,
        limit: u32,
    ) -> Result<Vec<RawEvent>, StoreError> {
        let events = match self {
            Self::Sqlite(pool) => {
                sqlx::query_as(SELECT_OCCURRED_SQLITE)
                    .bind(to_i64(after))
                    .bind(to_i64(up_to))
                    .bind(from)
                    .bind(until)
                    .bind(i64::from(limit))
                    .fetch_all(pool)
                    .await?
            }
            Self::Postgres(pool) => {
                sqlx::query_as(SELECT_OCCURRED_POSTGRES)
                    .bind(to_i64(after))
                    .bind(to_i64(up_to))
                    .bind(from)
                    .bind(until)
                    .bind(i64::from(limit))
                    .fetch_all(pool)
                    .await?
            }
        };
        Ok(events)
    }

    /// How many events have a stored `occurred_at` text in `[from, until)`, and the highest
    /// position among them (0 when there is none), without reading their payloads.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub async fn count_occurred_in(
        &self,
        from: &str,
        until: &str,
    ) -> Result<(u64, u64), StoreError> {
        let (count, last): (i64, i64) = match self {
            Self::Sqlite(pool) => {
                sqlx::query_as(COUNT_OCCURRED_SQLITE)
                    .bind(from)
                    .bind(until)
                    .fetch_one(pool)
                    .await?
            }
            Self::Postgres(pool) => {
                sqlx::query_as(COUNT_OCCURRED_POSTGRES)
                    .bind(from)
                    .bind(until)
                    .fetch_one(pool)
                    .await?
            }
        };
        Ok((
            u64::try_from(count).unwrap_or(0),
            u64::try_from(last).unwrap_or(0),
        ))
    }

    /// Stored tree hashes `(idx, hash bytes)` at the given indexes, in one query (rows that do not
    /// exist are simply absent), for building proofs from a stored log.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub async fn tree_hashes_at(&self, indexes: &[u64]) -> Result<Vec<(i64, Vec<u8>)>, StoreError> {
        let wanted: Vec<i64> = indexes
            .iter()
            .filter_map(|i| i64::try_from(*i).ok())
            .collect();
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let rows = match self {
            Self::Sqlite(pool) => {
                // One bound JSON array rather than one variable per index: no variable limit.
                let list = serde_json::to_string(&wanted)
                    .map_err(|e| StoreError::Internal(e.to_string()))?;
                sqlx::query(
                    "SELECT idx, hash FROM tree_hashes \
                     WHERE idx IN (SELECT value FROM json_each(?1)) ORDER BY idx",
                )
                .bind(list)
                .fetch_all(pool)
                .await?
                .iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                .collect::<Result<Vec<_>, sqlx::Error>>()?
            }
            Self::Postgres(pool) => {
                sqlx::query("SELECT idx, hash FROM tree_hashes WHERE idx = ANY($1) ORDER BY idx")
                    .bind(wanted)
                    .fetch_all(pool)
                    .await?
                    .iter()
                    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                    .collect::<Result<Vec<_>, sqlx::Error>>()?
            }
        };
        Ok(rows)
    }

    /// The stored checkpoint of the largest tree size, if any was stored.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub async fn latest_checkpoint(&self) -> Result<Option<RawCheckpoint>, StoreError> {
        let sql = "SELECT tree_size, root_hash, note, issued_at FROM checkpoints \
                   ORDER BY tree_size DESC LIMIT 1";
        let row = match self {
            Self::Sqlite(pool) => sqlx::query_as(sql).fetch_optional(pool).await?,
            Self::Postgres(pool) => sqlx::query_as(sql).fetch_optional(pool).await?,
        };
        Ok(row)
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
