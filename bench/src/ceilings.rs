//! The database and hashing ceilings, measured in the same run on the same machine and database
//! settings as the server:
//! - raw batched inserts: a multi-row `INSERT` of `b` rows per transaction into a table shaped like
//!   the events table (the same columns, keys and constraints), with real event bytes, on SQLite in
//!   WAL mode with `synchronous=FULL` (the server's pragmas, `eventstore/src/sqlite.rs`) or on the
//!   same PostgreSQL server. A command writes more than its event row (the idempotency record, the
//!   Merkle tree's hashes, now and then a checkpoint), so this is an upper bound, not a peer;
//! - the raw scan: `SELECT` of every column of every row of the benchmark's own events table, in
//!   position order, each value read out of the row: what `ReadLog` cannot beat;
//! - SHA-256: leaf-sized buffers hashed in process, one core and every core, which bounds what
//!   `verify` (one leaf hash per event, plus the tree's interior hashes) can reach.

use std::path::Path;
use std::str::FromStr as _;
use std::time::{Duration, Instant};

use futures::TryStreamExt as _;
use sha2::Digest as _;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, QueryBuilder, Row as _, SqlitePool};

/// One stored event's shape, to insert copies of.
#[derive(Debug, Clone)]
pub struct Sample {
    pub aggregate_type: String,
    pub event_type: String,
    pub occurred_at: String,
    pub recorded_at: String,
    pub payload: Vec<u8>,
    pub metadata: Vec<u8>,
}

impl Default for Sample {
    fn default() -> Self {
        Self {
            aggregate_type: "InfrastructureCompany".to_owned(),
            event_type: "CompanyRegistered".to_owned(),
            occurred_at: "2025-04-01T02:10:00Z".to_owned(),
            recorded_at: "2026-12-04T20:00:00.000000Z".to_owned(),
            payload: vec![b'x'; 160],
            metadata: vec![b'm'; 400],
        }
    }
}

/// Rows written or read, and how long it took.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rows {
    pub rows: u64,
    pub bytes: u64,
    pub elapsed: Duration,
}

impl Rows {
    pub fn per_second(&self) -> f64 {
        crate::load::per_second(self.rows, self.elapsed)
    }

    /// The mean bytes of payload and metadata per row.
    pub fn mean_bytes(&self) -> u64 {
        self.bytes.checked_div(self.rows).unwrap_or(0)
    }
}

/// The events table as `eventstore/migrations/sqlite/0001_event_log.sql` creates it.
const SQLITE_EVENTS: &str = "CREATE TABLE events (
    position          INTEGER PRIMARY KEY NOT NULL CHECK (position >= 1),
    event_id          BLOB    NOT NULL UNIQUE CHECK (length(event_id) = 16),
    aggregate_type    TEXT    NOT NULL,
    aggregate_id      TEXT    NOT NULL,
    aggregate_version INTEGER NOT NULL CHECK (aggregate_version >= 1),
    event_type        TEXT    NOT NULL,
    schema_version    INTEGER NOT NULL CHECK (schema_version >= 1),
    occurred_at       TEXT    NOT NULL,
    recorded_at       TEXT    NOT NULL,
    payload           BLOB    NOT NULL,
    metadata          BLOB    NOT NULL,
    UNIQUE (aggregate_type, aggregate_id, aggregate_version)
) STRICT";

/// The events table as `eventstore/migrations/postgres/0001_event_log.sql` creates it.
const POSTGRES_EVENTS: &str = r#"CREATE TABLE events (
    position          BIGINT PRIMARY KEY CHECK (position >= 1),
    event_id          BYTEA  NOT NULL UNIQUE CHECK (octet_length(event_id) = 16),
    aggregate_type    TEXT   COLLATE "C" NOT NULL,
    aggregate_id      TEXT   COLLATE "C" NOT NULL,
    aggregate_version BIGINT NOT NULL CHECK (aggregate_version >= 1),
    event_type        TEXT   NOT NULL,
    schema_version    BIGINT NOT NULL CHECK (schema_version >= 1),
    occurred_at       TEXT   NOT NULL,
    recorded_at       TEXT   NOT NULL,
    payload           BYTEA  NOT NULL,
    metadata          BYTEA  NOT NULL,
    UNIQUE (aggregate_type, aggregate_id, aggregate_version)
)"#;

const COLUMNS: &str = "INSERT INTO events (position, event_id, aggregate_type, aggregate_id, \
    aggregate_version, event_type, schema_version, occurred_at, recorded_at, payload, metadata) ";

const SCAN: &str = "SELECT position, event_id, aggregate_type, aggregate_id, aggregate_version, \
    event_type, schema_version, occurred_at, recorded_at, payload, metadata FROM events \
    ORDER BY position";

/// A new SQLite file at `path` with the server's pragmas and an events table.
pub async fn scratch_sqlite(path: &Path) -> anyhow::Result<SqlitePool> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await?;
    sqlx::query(SQLITE_EVENTS).execute(&pool).await?;
    Ok(pool)
}

/// An events table in the (new, empty) PostgreSQL database at `url`.
pub async fn scratch_postgres(url: &str) -> anyhow::Result<PgPool> {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(PgConnectOptions::from_str(url)?)
        .await?;
    sqlx::query(POSTGRES_EVENTS).execute(&pool).await?;
    Ok(pool)
}

/// A database to insert into.
#[derive(Debug, Clone)]
pub enum Scratch {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

macro_rules! insert_batch {
    ($db:ty, $pool:expr, $sample:expr, $first:expr, $batch:expr) => {{
        let mut builder = QueryBuilder::<$db>::new(COLUMNS);
        builder.push_values($first..$first + $batch, |mut row, position| {
            let position = i64::try_from(position).unwrap_or(i64::MAX);
            row.push_bind(position)
                .push_bind(uuid::Uuid::now_v7().as_bytes().to_vec())
                .push_bind($sample.aggregate_type.clone())
                .push_bind(format!("bench-{position}"))
                .push_bind(1_i64)
                .push_bind($sample.event_type.clone())
                .push_bind(1_i64)
                .push_bind($sample.occurred_at.clone())
                .push_bind($sample.recorded_at.clone())
                .push_bind($sample.payload.clone())
                .push_bind($sample.metadata.clone());
        });
        let mut tx = $pool.begin().await?;
        builder.build().execute(&mut *tx).await?;
        tx.commit().await?;
    }};
}

/// Commits transactions of `batch` rows each until `max_rows` are written or `max` has passed,
/// continuing after the positions already there.
pub async fn raw_insert(
    db: &Scratch,
    sample: &Sample,
    batch: u64,
    max_rows: u64,
    max: Duration,
) -> anyhow::Result<Rows> {
    let first = match db {
        Scratch::Sqlite(pool) => sqlx::query("SELECT COALESCE(MAX(position), 0) FROM events")
            .fetch_one(pool)
            .await?
            .try_get::<i64, _>(0)?,
        Scratch::Postgres(pool) => sqlx::query("SELECT COALESCE(MAX(position), 0) FROM events")
            .fetch_one(pool)
            .await?
            .try_get::<i64, _>(0)?,
    };
    let mut next = u64::try_from(first)? + 1;
    let started = Instant::now();
    let mut rows = 0;
    while rows < max_rows && started.elapsed() < max {
        match db {
            Scratch::Sqlite(pool) => insert_batch!(sqlx::Sqlite, pool, sample, next, batch),
            Scratch::Postgres(pool) => insert_batch!(sqlx::Postgres, pool, sample, next, batch),
        }
        next += batch;
        rows += batch;
    }
    let bytes = rows * (sample.payload.len() + sample.metadata.len()) as u64;
    Ok(Rows {
        rows,
        bytes,
        elapsed: started.elapsed(),
    })
}

/// The server's SQLite log, opened beside it with the server's pragmas (it only reads).
pub async fn open_log_sqlite(path: &Path) -> anyhow::Result<SqlitePool> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(10));
    Ok(SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await?)
}

/// The server's PostgreSQL log.
pub async fn open_log_postgres(url: &str) -> anyhow::Result<PgPool> {
    Ok(PgPoolOptions::new()
        .max_connections(1)
        .connect_with(PgConnectOptions::from_str(url)?)
        .await?)
}

macro_rules! scan_rows {
    ($pool:expr) => {{
        let mut rows = 0u64;
        let mut bytes = 0u64;
        let mut stream = sqlx::query(SCAN).fetch($pool);
        while let Some(row) = stream.try_next().await? {
            let _position: i64 = row.try_get(0)?;
            let event_id: Vec<u8> = row.try_get(1)?;
            let aggregate_type: String = row.try_get(2)?;
            let aggregate_id: String = row.try_get(3)?;
            let _version: i64 = row.try_get(4)?;
            let event_type: String = row.try_get(5)?;
            let _schema: i64 = row.try_get(6)?;
            let occurred_at: String = row.try_get(7)?;
            let recorded_at: String = row.try_get(8)?;
            let payload: Vec<u8> = row.try_get(9)?;
            let metadata: Vec<u8> = row.try_get(10)?;
            std::hint::black_box((
                event_id.len(),
                aggregate_type.len() + aggregate_id.len() + event_type.len(),
                occurred_at.len() + recorded_at.len(),
            ));
            bytes += (payload.len() + metadata.len()) as u64;
            rows += 1;
        }
        (rows, bytes)
    }};
}

/// Reads every column of every row of the events table, in position order.
pub async fn raw_scan(db: &Scratch) -> anyhow::Result<Rows> {
    let started = Instant::now();
    let (rows, bytes) = match db {
        Scratch::Sqlite(pool) => scan_rows!(pool),
        Scratch::Postgres(pool) => scan_rows!(pool),
    };
    Ok(Rows {
        rows,
        bytes,
        elapsed: started.elapsed(),
    })
}

/// The newest event of the log, to insert copies of.
pub async fn sample(db: &Scratch) -> anyhow::Result<Sample> {
    const LAST: &str = "SELECT aggregate_type, event_type, occurred_at, recorded_at, payload, \
        metadata FROM events ORDER BY position DESC LIMIT 1";
    macro_rules! read {
        ($pool:expr) => {{
            let row = sqlx::query(LAST).fetch_one($pool).await?;
            Sample {
                aggregate_type: row.try_get(0)?,
                event_type: row.try_get(1)?,
                occurred_at: row.try_get(2)?,
                recorded_at: row.try_get(3)?,
                payload: row.try_get(4)?,
                metadata: row.try_get(5)?,
            }
        }};
    }
    Ok(match db {
        Scratch::Sqlite(pool) => read!(pool),
        Scratch::Postgres(pool) => read!(pool),
    })
}

/// The PostgreSQL server's durability settings, for the report.
pub async fn postgres_settings(pool: &PgPool) -> anyhow::Result<String> {
    let mut parts = Vec::new();
    for name in [
        "server_version",
        "fsync",
        "synchronous_commit",
        "wal_sync_method",
        "shared_buffers",
    ] {
        // The names are the literals above.
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("SHOW {name}")))
            .fetch_one(pool)
            .await?;
        let value: String = row.try_get(0)?;
        parts.push(format!("{name}={value}"));
    }
    Ok(parts.join(", "))
}

/// SHA-256 of leaf-sized buffers: `per_thread` leaves on each of `threads` threads at once.
/// Answers leaves per second over all threads.
pub fn sha256_rate(leaf_bytes: usize, per_thread: u64, threads: usize) -> f64 {
    let started = Instant::now();
    std::thread::scope(|scope| {
        for t in 0..threads {
            scope.spawn(move || {
                // The leaf input is 0x00 || leaf bytes (RFC 9162); vary it so nothing is cached.
                let mut buffer = vec![0x5a_u8; leaf_bytes + 1];
                buffer[0] = 0;
                let mut acc = 0u8;
                for i in 0..per_thread {
                    buffer[1..9].copy_from_slice(&(i ^ ((t as u64) << 48)).to_le_bytes());
                    let hash = sha2::Sha256::digest(&buffer);
                    acc ^= hash[0];
                }
                std::hint::black_box(acc);
            });
        }
    });
    #[allow(clippy::cast_precision_loss)]
    let leaves = (per_thread * threads as u64) as f64;
    leaves / started.elapsed().as_secs_f64()
}
