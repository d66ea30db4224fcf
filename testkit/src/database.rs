//! A fresh log database of either backend for one test: a SQLite file in a temporary directory, or a
//! fresh PostgreSQL database ([`crate::postgres::PgTestDatabase`]); both go when the guard goes.

use std::path::PathBuf;

use kcn_eventstore::{PostgresBackend, SqliteBackend, SqliteDurability, StoreError};

use crate::postgres::PgTestDatabase;

/// The connections each opening of a PostgreSQL test database may hold.
const POSTGRES_CONNECTIONS: u32 = 4;

/// A fresh, empty log database of one test.
#[derive(Debug)]
pub enum TestDatabase {
    Sqlite(tempfile::TempDir),
    Postgres(PgTestDatabase),
}

/// One opening of a [`TestDatabase`]: a backend with its own pool, as one server process has.
#[derive(Debug)]
pub enum Opened {
    Sqlite(SqliteBackend),
    Postgres(PostgresBackend),
}

impl TestDatabase {
    /// A SQLite file in a fresh temporary directory.
    ///
    /// # Panics
    /// When no temporary directory can be made.
    pub fn sqlite() -> Self {
        Self::Sqlite(tempfile::tempdir().expect("a temporary directory"))
    }

    /// A fresh PostgreSQL database, or `None` when PostgreSQL is deliberately skipped (the rule of
    /// [`crate::postgres::server_url`]).
    pub async fn postgres(test: &str) -> Option<Self> {
        PgTestDatabase::create(test).await.map(Self::Postgres)
    }

    /// Another fresh, empty database of the same kind.
    pub async fn another(&self) -> Self {
        match self {
            Self::Sqlite(_) => Self::sqlite(),
            Self::Postgres(db) => Self::Postgres(PgTestDatabase::create_on(db.server_url()).await),
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Self::Postgres(_))
    }

    /// The SQLite file's path (`None` on PostgreSQL).
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        match self {
            Self::Sqlite(dir) => Some(dir.path().join("ledger.db")),
            Self::Postgres(_) => None,
        }
    }

    /// Opens the database with a backend of its own, applying the log's migrations.
    pub async fn open(&self) -> Result<Opened, StoreError> {
        Ok(match self {
            Self::Sqlite(dir) => Opened::Sqlite(
                SqliteBackend::open(&dir.path().join("ledger.db"), SqliteDurability::Full).await?,
            ),
            Self::Postgres(db) => {
                Opened::Postgres(PostgresBackend::connect(db.url(), POSTGRES_CONNECTIONS).await?)
            }
        })
    }
}
