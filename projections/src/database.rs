//! Where the read models live: the log's own database, SQLite or PostgreSQL. This file holds the
//! checkpoint SQL of both dialects and the projector's transaction, which begins by taking the read
//! model's checkpoint lock: `BEGIN IMMEDIATE` (the database's write lock) on SQLite, the checkpoint row
//! `FOR UPDATE` on PostgreSQL. Whoever holds it reads the checkpoint and applies only what lies after.

use kcn_eventstore::{PostgresBackend, SqliteBackend, StoreError};
use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;
use sqlx::{Postgres, Row, Sqlite, Transaction};

use crate::error::ProjectionError;

/// The projector transaction on PostgreSQL. READ COMMITTED gives each statement a fresh snapshot,
/// so after the row lock is granted the checkpoint and the read model's rows are read as the previous
/// holder committed them. `lock_timeout` bounds the wait for a projector stuck in another process.
const BEGIN_PG: &str = "BEGIN ISOLATION LEVEL READ COMMITTED; SET LOCAL lock_timeout = '10s'";

/// The database that holds the read models.
#[derive(Debug, Clone)]
pub enum ReadDatabase {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl From<&SqliteBackend> for ReadDatabase {
    fn from(backend: &SqliteBackend) -> Self {
        Self::Sqlite(backend.pool().clone())
    }
}

impl From<&PostgresBackend> for ReadDatabase {
    fn from(backend: &PostgresBackend) -> Self {
        Self::Postgres(backend.pool().clone())
    }
}

/// A read model's committed checkpoint row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct CheckpointRow {
    pub position: u64,
    pub events_applied: u64,
    pub error: Option<String>,
}

fn to_u64(v: i64, name: &str) -> Result<u64, ProjectionError> {
    u64::try_from(v).map_err(|_| StoreError::Internal(format!("negative {name}")).into())
}

pub(crate) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).expect("positions stay below 2^63")
}

impl ReadDatabase {
    /// Applies the read models' migrations (versions 1000 and up; the log's are not ours to know).
    pub async fn migrate(&self) -> Result<(), ProjectionError> {
        let result = match self {
            Self::Sqlite(pool) => {
                let mut migrator = sqlx::migrate!("./migrations/sqlite");
                migrator.set_ignore_missing(true);
                migrator.run(pool).await
            }
            Self::Postgres(pool) => {
                let mut migrator = sqlx::migrate!("./migrations/postgres");
                migrator.set_ignore_missing(true);
                migrator.run(pool).await
            }
        };
        result.map_err(StoreError::from)?;
        Ok(())
    }

    /// The committed checkpoint of read model `name` (zero when it has none yet).
    pub(crate) async fn checkpoint(&self, name: &str) -> Result<CheckpointRow, ProjectionError> {
        let row = match self {
            Self::Sqlite(pool) => sqlx::query(
                "SELECT position, events_applied, error FROM projection_checkpoints WHERE name = ?1",
            )
            .bind(name)
            .fetch_optional(pool)
            .await?
            .map(|r| -> Result<_, sqlx::Error> {
                Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?))
            }),
            Self::Postgres(pool) => sqlx::query(
                "SELECT position, events_applied, error FROM projection_checkpoints WHERE name = $1",
            )
            .bind(name)
            .fetch_optional(pool)
            .await?
            .map(|r| -> Result<_, sqlx::Error> {
                Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?))
            }),
        };
        let Some(row) = row.transpose()? else {
            return Ok(CheckpointRow::default());
        };
        let (position, applied, error): (i64, i64, Option<String>) = row;
        Ok(CheckpointRow {
            position: to_u64(position, "checkpoint")?,
            events_applied: to_u64(applied, "events applied")?,
            error,
        })
    }

    /// Records why read model `name` stopped at `position`, keeping its checkpoint.
    pub(crate) async fn record_error(
        &self,
        name: &str,
        position: u64,
        message: &str,
    ) -> Result<(), ProjectionError> {
        match self {
            Self::Sqlite(pool) => {
                sqlx::query(
                    "INSERT INTO projection_checkpoints (name, position, error, error_position, updated_at) \
                     VALUES (?1, 0, ?2, ?3, strftime('%Y-%m-%dT%H:%M:%fZ')) \
                     ON CONFLICT (name) DO UPDATE SET error = excluded.error, \
                     error_position = excluded.error_position, updated_at = excluded.updated_at",
                )
                .bind(name)
                .bind(message)
                .bind(to_i64(position))
                .execute(pool)
                .await?;
            }
            Self::Postgres(pool) => {
                sqlx::query(
                    "INSERT INTO projection_checkpoints (name, position, error, error_position, updated_at) \
                     VALUES ($1, 0, $2, $3, now()) \
                     ON CONFLICT (name) DO UPDATE SET error = excluded.error, \
                     error_position = excluded.error_position, updated_at = excluded.updated_at",
                )
                .bind(name)
                .bind(message)
                .bind(to_i64(position))
                .execute(pool)
                .await?;
            }
        }
        Ok(())
    }

    /// Begins a projector transaction holding read model `name`'s checkpoint lock, and returns the
    /// checkpoint as committed when the lock was granted.
    pub(crate) async fn begin_locked(&self, name: &str) -> Result<(ReadTx, u64), ProjectionError> {
        match self {
            Self::Sqlite(pool) => {
                // IMMEDIATE takes the write lock now: nobody else moves the checkpoint until commit.
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                let at: i64 = sqlx::query_scalar(
                    "SELECT position FROM projection_checkpoints WHERE name = ?1",
                )
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?
                .unwrap_or(0);
                Ok((ReadTx::Sqlite(tx), to_u64(at, "checkpoint")?))
            }
            Self::Postgres(pool) => {
                let mut tx = pool.begin_with(BEGIN_PG).await?;
                let lock = "SELECT position FROM projection_checkpoints WHERE name = $1 FOR UPDATE";
                let mut at: Option<i64> = sqlx::query_scalar(lock)
                    .bind(name)
                    .fetch_optional(&mut *tx)
                    .await?;
                if at.is_none() {
                    // The migration seeds the timeline's row; a read model added later seeds its own
                    // here. Two processes racing to insert it meet on the primary key, and the loser
                    // waits for the winner's commit before it locks the row.
                    sqlx::query(
                        "INSERT INTO projection_checkpoints (name, position) VALUES ($1, 0) \
                         ON CONFLICT (name) DO NOTHING",
                    )
                    .bind(name)
                    .execute(&mut *tx)
                    .await?;
                    at = sqlx::query_scalar(lock)
                        .bind(name)
                        .fetch_optional(&mut *tx)
                        .await?;
                }
                Ok((ReadTx::Postgres(tx), to_u64(at.unwrap_or(0), "checkpoint")?))
            }
        }
    }
}

/// A projector transaction: it holds the read model's checkpoint lock until commit or drop.
pub(crate) enum ReadTx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

impl ReadTx {
    /// Moves the checkpoint to `position` after applying `applied` events, and clears any error.
    pub(crate) async fn advance(
        &mut self,
        name: &str,
        position: u64,
        applied: u64,
    ) -> Result<(), ProjectionError> {
        match self {
            Self::Sqlite(tx) => {
                sqlx::query(
                    "INSERT INTO projection_checkpoints \
                     (name, position, events_applied, error, error_position, updated_at) \
                     VALUES (?1, ?2, ?3, NULL, NULL, strftime('%Y-%m-%dT%H:%M:%fZ')) \
                     ON CONFLICT (name) DO UPDATE SET position = excluded.position, \
                     events_applied = events_applied + excluded.events_applied, error = NULL, \
                     error_position = NULL, updated_at = excluded.updated_at",
                )
                .bind(name)
                .bind(to_i64(position))
                .bind(to_i64(applied))
                .execute(&mut **tx)
                .await?;
            }
            Self::Postgres(tx) => {
                // The row exists and is locked: `begin_locked` saw to both.
                sqlx::query(
                    "UPDATE projection_checkpoints SET position = $2, \
                     events_applied = events_applied + $3, error = NULL, error_position = NULL, \
                     updated_at = now() WHERE name = $1",
                )
                .bind(name)
                .bind(to_i64(position))
                .bind(to_i64(applied))
                .execute(&mut **tx)
                .await?;
            }
        }
        Ok(())
    }

    /// Sets read model `name` back to position 0 with no events applied (for a rebuild).
    pub(crate) async fn reset_checkpoint(&mut self, name: &str) -> Result<(), ProjectionError> {
        match self {
            Self::Sqlite(tx) => {
                sqlx::query(
                    "UPDATE projection_checkpoints SET position = 0, events_applied = 0, error = NULL, \
                     error_position = NULL, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ') WHERE name = ?1",
                )
                .bind(name)
                .execute(&mut **tx)
                .await?;
            }
            Self::Postgres(tx) => {
                sqlx::query(
                    "UPDATE projection_checkpoints SET position = 0, events_applied = 0, error = NULL, \
                     error_position = NULL, updated_at = now() WHERE name = $1",
                )
                .bind(name)
                .execute(&mut **tx)
                .await?;
            }
        }
        Ok(())
    }

    /// Runs one statement whose text holds no caller data (DDL, whole-table copies).
    pub(crate) async fn execute(&mut self, statement: &str) -> Result<(), ProjectionError> {
        let statement = sqlx::AssertSqlSafe(statement.to_owned());
        match self {
            Self::Sqlite(tx) => {
                sqlx::query(statement).execute(&mut **tx).await?;
            }
            Self::Postgres(tx) => {
                sqlx::query(statement).execute(&mut **tx).await?;
            }
        }
        Ok(())
    }

    /// Makes the batch and its checkpoint durable together, and releases the lock.
    pub(crate) async fn commit(self) -> Result<(), ProjectionError> {
        match self {
            Self::Sqlite(tx) => tx.commit().await?,
            Self::Postgres(tx) => tx.commit().await?,
        }
        Ok(())
    }
}
