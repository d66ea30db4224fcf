//! The SQLite backend: the embedded default, one file in the data directory, WAL mode with full
//! synchronous commits unless configured otherwise. One writer at a time (`BEGIN IMMEDIATE`).

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use kcn_integrity::Hash;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row, Sqlite, Transaction};
use uuid::Uuid;

use crate::backend::{
    AppendTx, Backend, BatchKeys, BatchReads, BatchRows, RequestRecord, check_columns, from_column,
    lookup_column, to_column,
};
use crate::error::StoreError;
use crate::record::StoredEvent;

/// SQLite allows 32,766 bound variables per statement; 11 per event leaves room for 2,000 rows.
const ROWS_PER_INSERT: usize = 2_000;

const EVENT_COLUMNS: &str = "position, event_id, aggregate_type, aggregate_id, aggregate_version, \
     event_type, schema_version, occurred_at, recorded_at, payload, metadata";

/// How durable a commit is before the caller is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SqliteDurability {
    /// `synchronous=FULL`: an acknowledged command survives a power loss. The default.
    Full,
    /// `synchronous=NORMAL`: faster; an acknowledged command survives a process crash but may be
    /// lost on power loss or an OS crash.
    NormalWeaker,
}

/// The SQLite event log.
#[derive(Debug, Clone)]
pub struct SqliteBackend {
    pool: SqlitePool,
}

impl SqliteBackend {
    /// Opens (creating if needed) the database file and runs the embedded migrations.
    pub async fn open(path: &Path, durability: SqliteDurability) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match durability {
                SqliteDurability::Full => SqliteSynchronous::Full,
                SqliteDurability::NormalWeaker => SqliteSynchronous::Normal,
            })
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        Self::connect(options).await
    }

    /// Opens a database from a `sqlite:` URL.
    pub async fn open_url(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(10));
        Self::connect(options).await
    }

    async fn connect(options: SqliteConnectOptions) -> Result<Self, StoreError> {
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .after_release(crate::pool::never_reuse_mid_transaction::<Sqlite>)
            .connect_with(options)
            .await?;
        let mut migrator = sqlx::migrate!("./migrations/sqlite");
        migrator.set_ignore_missing(true);
        migrator.run(&pool).await?;
        Ok(Self { pool })
    }

    /// The pool, for read models that live in the same database file.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

/// A number already checked by [`check_columns`] (or found by [`lookup_column`]) as its column.
fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn event_from_row(row: &SqliteRow) -> Result<StoredEvent, StoreError> {
    let id: Vec<u8> = row.try_get("event_id")?;
    let event_id = Uuid::from_slice(&id)
        .map_err(|e| StoreError::Internal(format!("stored event id is not 16 bytes: {e}")))?;
    let u = |name: &str| -> Result<u64, StoreError> {
        let v: i64 = row.try_get(name)?;
        u64::try_from(v).map_err(|_| StoreError::Internal(format!("negative {name}")))
    };
    Ok(StoredEvent {
        position: u("position")?,
        event_id,
        aggregate_type: row.try_get("aggregate_type")?,
        aggregate_id: row.try_get("aggregate_id")?,
        aggregate_version: u("aggregate_version")?,
        event_type: row.try_get("event_type")?,
        schema_version: u32::try_from(u("schema_version")?)
            .map_err(|_| StoreError::Internal("schema version out of range".into()))?,
        occurred_at: row.try_get("occurred_at")?,
        recorded_at: row.try_get("recorded_at")?,
        payload: row.try_get("payload")?,
        metadata: row.try_get("metadata")?,
    })
}

fn hash_rows(rows: Vec<SqliteRow>) -> Result<Vec<(u64, Hash)>, StoreError> {
    rows.iter()
        .map(|row| {
            let idx = from_column(row.try_get(0)?, "tree hash index")?;
            let bytes: Vec<u8> = row.try_get(1)?;
            let hash = Hash::from_slice(&bytes)
                .map_err(|e| StoreError::Internal(format!("stored tree hash {idx}: {e}")))?;
            Ok((idx, hash))
        })
        .collect()
}

/// The query for stored hashes at `indexes`; indexes no column can hold are left out (no row has
/// them), and `None` when that leaves nothing to ask.
fn select_hashes(indexes: &[u64]) -> Option<QueryBuilder<Sqlite>> {
    let storable: Vec<i64> = indexes.iter().filter_map(|i| lookup_column(*i)).collect();
    if storable.is_empty() {
        return None;
    }
    let mut q = QueryBuilder::new("SELECT idx, hash FROM tree_hashes WHERE idx IN (");
    let mut list = q.separated(", ");
    for i in storable {
        list.push_bind(i);
    }
    list.push_unseparated(")");
    Some(q)
}

/// A page of at most `?2` events from position `?1` whose payloads and metadata, before each
/// event, stay under `?3` bytes. `length()` of a BLOB reads its size from the record header, so
/// the sizes cost no read of the bytes; only the rows of the page are then fetched.
const SELECT_PAGE: &str = "WITH page AS (\
       SELECT position, length(payload) + length(metadata) AS size FROM events \
       WHERE position >= ?1 ORDER BY position LIMIT ?2), \
     sized AS (SELECT position, SUM(size) OVER (ORDER BY position) - size AS before FROM page) \
     SELECT e.* FROM events e JOIN sized s ON e.position = s.position \
     WHERE s.before < ?3 ORDER BY e.position";

const SELECT_STREAM: &str = "SELECT * FROM events WHERE aggregate_type = ?1 AND aggregate_id = ?2 \
     ORDER BY aggregate_version";

/// Checkpoints are stored once per tree size: a second signing of the same size (by another
/// process, with the same key, giving the same bytes) changes nothing.
const INSERT_CHECKPOINT: &str = "INSERT INTO checkpoints (tree_size, root_hash, note, issued_at) \
     VALUES (?1, ?2, ?3, ?4) ON CONFLICT (tree_size) DO NOTHING";

const INSERT_REQUESTS: &str =
    "INSERT INTO command_requests (principal, request_id, command_hash, outcome, recorded_at) ";

/// The first part of a batch's reads ([`AppendTx::open_batch`]): the last position, with every
/// column the other parts fill named (a `UNION ALL` takes its names from its first part).
const OPEN_BATCH_HEAD: &str = "SELECT 0 AS part, (SELECT COALESCE(MAX(position), 0) FROM events) \
     AS position, NULL AS event_id, NULL AS aggregate_type, NULL AS aggregate_id, \
     NULL AS aggregate_version, NULL AS event_type, NULL AS schema_version, NULL AS occurred_at, \
     NULL AS recorded_at, NULL AS payload, NULL AS metadata, NULL AS principal, \
     NULL AS request_id, NULL AS command_hash, NULL AS outcome, NULL AS request_recorded_at, \
     NULL AS unique_scope, NULL AS unique_key, NULL AS unique_holder";

/// The idempotency records of the keys `rk(p, r)`.
const OPEN_BATCH_REQUESTS: &str = " UNION ALL SELECT 1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, \
     NULL, NULL, NULL, NULL, c.principal, c.request_id, c.command_hash, c.outcome, c.recorded_at, \
     NULL, NULL, NULL \
     FROM rk JOIN command_requests c ON c.principal = rk.p AND c.request_id = rk.r";

/// The events of the streams `sk(t, i)`.
const OPEN_BATCH_STREAMS: &str = " UNION ALL SELECT 2, e.position, e.event_id, e.aggregate_type, \
     e.aggregate_id, e.aggregate_version, e.event_type, e.schema_version, e.occurred_at, \
     e.recorded_at, e.payload, e.metadata, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL \
     FROM sk CROSS JOIN events e ON e.aggregate_type = sk.t AND e.aggregate_id = sk.i";

/// The holders of the unique keys `uk(s, k)`.
const OPEN_BATCH_UNIQUE: &str = " UNION ALL SELECT 3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, \
     NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, u.scope, u.key, u.aggregate_id \
     FROM uk JOIN unique_keys u ON u.scope = uk.s AND u.key = uk.k";

fn push_events(q: &mut QueryBuilder<Sqlite>, events: &[StoredEvent]) {
    q.push_values(events, |mut row, e| {
        row.push_bind(to_i64(e.position))
            .push_bind(e.event_id.as_bytes().to_vec())
            .push_bind(e.aggregate_type.clone())
            .push_bind(e.aggregate_id.clone())
            .push_bind(to_i64(e.aggregate_version))
            .push_bind(e.event_type.clone())
            .push_bind(i64::from(e.schema_version))
            .push_bind(e.occurred_at.clone())
            .push_bind(e.recorded_at.clone())
            .push_bind(e.payload.clone())
            .push_bind(e.metadata.clone());
    });
}

fn push_requests(q: &mut QueryBuilder<Sqlite>, requests: &[RequestRecord]) {
    q.push_values(requests, |mut row, r| {
        row.push_bind(r.principal.clone())
            .push_bind(r.request_id.clone())
            .push_bind(r.command_hash.clone())
            .push_bind(r.outcome.clone())
            .push_bind(r.recorded_at.clone());
    });
}

fn push_hashes(q: &mut QueryBuilder<Sqlite>, hashes: &[(u64, Hash)]) {
    q.push_values(hashes, |mut row, (idx, hash)| {
        row.push_bind(to_i64(*idx))
            .push_bind(hash.as_bytes().to_vec());
    });
}

fn push_unique(q: &mut QueryBuilder<Sqlite>, keys: &[(String, String, String)]) {
    q.push_values(keys, |mut row, (scope, key, id)| {
        row.push_bind(scope.clone())
            .push_bind(key.clone())
            .push_bind(id.clone());
    });
}

struct SqliteAppend {
    tx: Transaction<'static, Sqlite>,
}

#[async_trait]
impl AppendTx for SqliteAppend {
    async fn last_position(&mut self) -> Result<u64, StoreError> {
        let last: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(position), 0) FROM events")
            .fetch_one(&mut *self.tx)
            .await?;
        from_column(last, "position")
    }

    async fn find_request(
        &mut self,
        principal: &str,
        request_id: &str,
    ) -> Result<Option<RequestRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT command_hash, outcome, recorded_at FROM command_requests \
             WHERE principal = ?1 AND request_id = ?2",
        )
        .bind(principal)
        .bind(request_id)
        .fetch_optional(&mut *self.tx)
        .await?;
        row.map(|r| {
            Ok(RequestRecord {
                principal: principal.to_owned(),
                request_id: request_id.to_owned(),
                command_hash: r.try_get(0)?,
                outcome: r.try_get(1)?,
                recorded_at: r.try_get(2)?,
            })
        })
        .transpose()
    }

    async fn find_requests(
        &mut self,
        keys: &[(String, String)],
    ) -> Result<Vec<RequestRecord>, StoreError> {
        let mut found = Vec::new();
        // A join with the keys as a table of values: one indexed lookup each, one statement.
        for chunk in keys.chunks(ROWS_PER_INSERT) {
            let mut q = QueryBuilder::<Sqlite>::new("WITH k(p, r) AS (");
            q.push_values(chunk, |mut row, (principal, request_id)| {
                row.push_bind(principal.clone())
                    .push_bind(request_id.clone());
            });
            q.push(
                ") SELECT c.principal, c.request_id, c.command_hash, c.outcome, c.recorded_at \
                 FROM k JOIN command_requests c ON c.principal = k.p AND c.request_id = k.r",
            );
            for r in q.build().fetch_all(&mut *self.tx).await? {
                found.push(RequestRecord {
                    principal: r.try_get(0)?,
                    request_id: r.try_get(1)?,
                    command_hash: r.try_get(2)?,
                    outcome: r.try_get(3)?,
                    recorded_at: r.try_get(4)?,
                });
            }
        }
        Ok(found)
    }

    async fn load_streams(
        &mut self,
        keys: &[(String, String)],
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let mut found = Vec::new();
        for chunk in keys.chunks(ROWS_PER_INSERT) {
            let mut q = QueryBuilder::<Sqlite>::new("WITH k(t, i) AS (");
            q.push_values(chunk, |mut row, (aggregate_type, aggregate_id)| {
                row.push_bind(aggregate_type.clone())
                    .push_bind(aggregate_id.clone());
            });
            q.push(
                ") SELECT e.* FROM k CROSS JOIN events e \
                 ON e.aggregate_type = k.t AND e.aggregate_id = k.i",
            );
            for row in q.build().fetch_all(&mut *self.tx).await? {
                found.push(event_from_row(&row)?);
            }
        }
        found.sort_by_key(|e| e.position);
        Ok(found)
    }

    /// One statement: the last position, the idempotency records and the streams' events as one
    /// `UNION ALL` of rows tagged by part (the columns of the other parts NULL), so that a batch
    /// makes one hop to SQLite's thread before it decides, not three.
    async fn open_batch(&mut self, keys: &BatchKeys<'_>) -> Result<BatchReads, StoreError> {
        let BatchKeys {
            requests,
            streams,
            unique,
        } = *keys;
        if requests.len() > ROWS_PER_INSERT
            || streams.len() > ROWS_PER_INSERT
            || unique.len() > ROWS_PER_INSERT
        {
            let mut held = Vec::new();
            for (scope, key) in unique {
                if let Some(holder) = self.find_unique(scope, key).await? {
                    held.push((scope.clone(), key.clone(), holder));
                }
            }
            return Ok(BatchReads {
                last_position: self.last_position().await?,
                requests: self.find_requests(requests).await?,
                streams: self.load_streams(streams).await?,
                unique: held,
            });
        }
        let mut q = QueryBuilder::<Sqlite>::new("");
        let mut with = "WITH ";
        for (name, pairs) in [
            ("rk(p, r)", requests),
            ("sk(t, i)", streams),
            ("uk(s, k)", unique),
        ] {
            if pairs.is_empty() {
                continue;
            }
            q.push(with).push(name).push(" AS (");
            q.push_values(pairs, |mut row, (a, b)| {
                row.push_bind(a.clone()).push_bind(b.clone());
            });
            q.push(") ");
            with = ", ";
        }
        q.push(OPEN_BATCH_HEAD);
        if !requests.is_empty() {
            q.push(OPEN_BATCH_REQUESTS);
        }
        if !streams.is_empty() {
            q.push(OPEN_BATCH_STREAMS);
        }
        if !unique.is_empty() {
            q.push(OPEN_BATCH_UNIQUE);
        }
        let mut reads = BatchReads::default();
        for row in q.build().fetch_all(&mut *self.tx).await? {
            let part: i64 = row.try_get("part")?;
            match part {
                0 => reads.last_position = from_column(row.try_get("position")?, "position")?,
                1 => reads.requests.push(RequestRecord {
                    principal: row.try_get("principal")?,
                    request_id: row.try_get("request_id")?,
                    command_hash: row.try_get("command_hash")?,
                    outcome: row.try_get("outcome")?,
                    recorded_at: row.try_get("request_recorded_at")?,
                }),
                2 => reads.streams.push(event_from_row(&row)?),
                _ => reads.unique.push((
                    row.try_get("unique_scope")?,
                    row.try_get("unique_key")?,
                    row.try_get("unique_holder")?,
                )),
            }
        }
        reads.streams.sort_by_key(|e| e.position);
        Ok(reads)
    }

    /// One round trip for the whole batch: its inserts as the statements of one query (sqlx's
    /// SQLite driver binds the anonymous parameters across them in order).
    async fn write_batch(&mut self, rows: &BatchRows<'_>) -> Result<(), StoreError> {
        check_columns(rows.events, rows.tree_hashes)?;
        let mut q = QueryBuilder::<Sqlite>::new("");
        for chunk in rows.events.chunks(ROWS_PER_INSERT) {
            q.push(format_args!("INSERT INTO events ({EVENT_COLUMNS}) "));
            push_events(&mut q, chunk);
            q.push("; ");
        }
        for chunk in rows.requests.chunks(ROWS_PER_INSERT) {
            q.push(INSERT_REQUESTS);
            push_requests(&mut q, chunk);
            q.push("; ");
        }
        for chunk in rows.tree_hashes.chunks(ROWS_PER_INSERT * 4) {
            q.push("INSERT INTO tree_hashes (idx, hash) ");
            push_hashes(&mut q, chunk);
            q.push("; ");
        }
        for chunk in rows.unique.chunks(ROWS_PER_INSERT) {
            q.push("INSERT INTO unique_keys (scope, key, aggregate_id) ");
            push_unique(&mut q, chunk);
            q.push(" ON CONFLICT (scope, key) DO NOTHING; ");
        }
        if let Some(c) = &rows.checkpoint {
            q.push("INSERT INTO checkpoints (tree_size, root_hash, note, issued_at) VALUES (");
            q.push_bind(to_column(c.tree_size, "tree size")?)
                .push(", ")
                .push_bind(c.root.as_bytes().to_vec())
                .push(", ")
                .push_bind(c.note.to_owned())
                .push(", ")
                .push_bind(c.issued_at.to_owned())
                .push(") ON CONFLICT (tree_size) DO NOTHING; ");
        }
        if rows.events.is_empty()
            && rows.requests.is_empty()
            && rows.tree_hashes.is_empty()
            && rows.unique.is_empty()
            && rows.checkpoint.is_none()
        {
            return Ok(());
        }
        q.build().execute(&mut *self.tx).await?;
        Ok(())
    }

    async fn find_unique(&mut self, scope: &str, key: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT aggregate_id FROM unique_keys WHERE scope = ?1 AND key = ?2")
            .bind(scope)
            .bind(key)
            .fetch_optional(&mut *self.tx)
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    async fn insert_unique(&mut self, keys: &[(String, String, String)]) -> Result<(), StoreError> {
        for chunk in keys.chunks(ROWS_PER_INSERT) {
            let mut q =
                QueryBuilder::<Sqlite>::new("INSERT INTO unique_keys (scope, key, aggregate_id) ");
            push_unique(&mut q, chunk);
            q.push(" ON CONFLICT (scope, key) DO NOTHING");
            q.build().execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    async fn load_stream(
        &mut self,
        aggregate_type: &str,
        aggregate_id: &str,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let rows = sqlx::query(SELECT_STREAM)
            .bind(aggregate_type)
            .bind(aggregate_id)
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter().map(event_from_row).collect()
    }

    async fn read_tree_hashes(&mut self, indexes: &[u64]) -> Result<Vec<(u64, Hash)>, StoreError> {
        let Some(mut query) = select_hashes(indexes) else {
            return Ok(Vec::new());
        };
        let rows = query.build().fetch_all(&mut *self.tx).await?;
        hash_rows(rows)
    }

    async fn insert(
        &mut self,
        events: &[StoredEvent],
        requests: &[RequestRecord],
        tree_hashes: &[(u64, Hash)],
    ) -> Result<(), StoreError> {
        check_columns(events, tree_hashes)?;
        for chunk in events.chunks(ROWS_PER_INSERT) {
            let mut q =
                QueryBuilder::<Sqlite>::new(format!("INSERT INTO events ({EVENT_COLUMNS}) "));
            push_events(&mut q, chunk);
            q.build().execute(&mut *self.tx).await?;
        }
        for chunk in requests.chunks(ROWS_PER_INSERT) {
            let mut q = QueryBuilder::<Sqlite>::new(INSERT_REQUESTS);
            push_requests(&mut q, chunk);
            q.build().execute(&mut *self.tx).await?;
        }
        for chunk in tree_hashes.chunks(ROWS_PER_INSERT * 4) {
            let mut q = QueryBuilder::<Sqlite>::new("INSERT INTO tree_hashes (idx, hash) ");
            push_hashes(&mut q, chunk);
            q.build().execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    async fn store_checkpoint(
        &mut self,
        tree_size: u64,
        root: &Hash,
        note: &str,
        issued_at: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(INSERT_CHECKPOINT)
            .bind(to_column(tree_size, "tree size")?)
            .bind(root.as_bytes().to_vec())
            .bind(note)
            .bind(issued_at)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        self.tx.commit().await?;
        Ok(())
    }
}

#[async_trait]
impl Backend for SqliteBackend {
    async fn begin_append(&self) -> Result<Box<dyn AppendTx>, StoreError> {
        // IMMEDIATE takes the database's write lock now, so that what the batch reads (the last
        // position, streams, idempotency records) cannot change before it commits.
        let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        Ok(Box::new(SqliteAppend { tx }))
    }

    async fn head(&self) -> Result<u64, StoreError> {
        let last: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(position), 0) FROM events")
            .fetch_one(&self.pool)
            .await?;
        from_column(last, "position")
    }

    async fn read_range(&self, from: u64, limit: u32) -> Result<Vec<StoredEvent>, StoreError> {
        let Some(from) = lookup_column(from) else {
            return Ok(Vec::new());
        };
        let rows =
            sqlx::query("SELECT * FROM events WHERE position >= ?1 ORDER BY position LIMIT ?2")
                .bind(from)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(event_from_row).collect()
    }

    async fn read_positions(&self, positions: &[u64]) -> Result<Vec<StoredEvent>, StoreError> {
        let mut found = Vec::new();
        let wanted: Vec<i64> = positions.iter().filter_map(|p| lookup_column(*p)).collect();
        for chunk in wanted.chunks(ROWS_PER_INSERT) {
            let mut q = QueryBuilder::<Sqlite>::new("SELECT * FROM events WHERE position IN (");
            let mut list = q.separated(", ");
            for p in chunk {
                list.push_bind(*p);
            }
            q.push(") ORDER BY position");
            for row in q.build().fetch_all(&self.pool).await? {
                found.push(event_from_row(&row)?);
            }
        }
        found.sort_by_key(|e| e.position);
        Ok(found)
    }

    async fn read_page(
        &self,
        from: u64,
        limit: u32,
        max_bytes: u64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let Some(from) = lookup_column(from) else {
            return Ok(Vec::new());
        };
        let rows = sqlx::query(SELECT_PAGE)
            .bind(from)
            .bind(i64::from(limit))
            .bind(i64::try_from(max_bytes).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(event_from_row).collect()
    }

    async fn load_stream(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let rows = sqlx::query(SELECT_STREAM)
            .bind(aggregate_type)
            .bind(aggregate_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(event_from_row).collect()
    }

    async fn load_aggregate_type(
        &self,
        aggregate_type: &str,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM events WHERE aggregate_type = ?1 ORDER BY aggregate_id, aggregate_version",
        )
        .bind(aggregate_type)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(event_from_row).collect()
    }

    async fn put_credential(
        &self,
        token_sha256: &str,
        principal_id: &str,
        created_at: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO credentials (token_sha256, principal_id, created_at) VALUES (?1, ?2, ?3)",
        )
        .bind(token_sha256)
        .bind(principal_id)
        .bind(created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn credential(&self, token_sha256: &str) -> Result<Option<(String, String)>, StoreError> {
        let row = sqlx::query(
            "SELECT token_sha256, principal_id FROM credentials WHERE token_sha256 = ?1",
        )
        .bind(token_sha256)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(row) => Some((row.try_get(0)?, row.try_get(1)?)),
            None => None,
        })
    }

    /// One statement: the credential and its principal's events, joined (one row with the
    /// events' columns NULL when the stream is empty).
    async fn credential_stream(
        &self,
        token_sha256: &str,
        aggregate_type: &str,
    ) -> Result<Option<(String, String, Vec<StoredEvent>)>, StoreError> {
        let rows = sqlx::query(
            "SELECT c.token_sha256 AS credential_hash, c.principal_id AS credential_principal, \
             e.* FROM credentials c LEFT JOIN events e \
             ON e.aggregate_type = ?2 AND e.aggregate_id = c.principal_id \
             WHERE c.token_sha256 = ?1 ORDER BY e.aggregate_version",
        )
        .bind(token_sha256)
        .bind(aggregate_type)
        .fetch_all(&self.pool)
        .await?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let stored: String = first.try_get("credential_hash")?;
        let principal: String = first.try_get("credential_principal")?;
        let mut events = Vec::with_capacity(rows.len());
        for row in &rows {
            if row.try_get::<Option<Vec<u8>>, _>("event_id")?.is_some() {
                events.push(event_from_row(row)?);
            }
        }
        Ok(Some((stored, principal, events)))
    }

    async fn stream_exists(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
    ) -> Result<bool, StoreError> {
        let found = sqlx::query(
            "SELECT 1 FROM events WHERE aggregate_type = ?1 AND aggregate_id = ?2 \
             AND aggregate_version = 1",
        )
        .bind(aggregate_type)
        .bind(aggregate_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.is_some())
    }

    async fn read_tree_hashes(&self, indexes: &[u64]) -> Result<Vec<(u64, Hash)>, StoreError> {
        let Some(mut query) = select_hashes(indexes) else {
            return Ok(Vec::new());
        };
        let rows = query.build().fetch_all(&self.pool).await?;
        hash_rows(rows)
    }

    async fn store_checkpoint(
        &self,
        tree_size: u64,
        root: &Hash,
        note: &str,
        issued_at: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(INSERT_CHECKPOINT)
            .bind(to_column(tree_size, "tree size")?)
            .bind(root.as_bytes().to_vec())
            .bind(note)
            .bind(issued_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn checkpoint(
        &self,
        tree_size: Option<u64>,
    ) -> Result<Option<(u64, String)>, StoreError> {
        let row = match tree_size {
            Some(size) => {
                let Some(size) = lookup_column(size) else {
                    return Ok(None);
                };
                sqlx::query("SELECT tree_size, note FROM checkpoints WHERE tree_size = ?1")
                    .bind(size)
                    .fetch_optional(&self.pool)
                    .await?
            }
            None => {
                sqlx::query(
                    "SELECT tree_size, note FROM checkpoints ORDER BY tree_size DESC LIMIT 1",
                )
                .fetch_optional(&self.pool)
                .await?
            }
        };
        row.map(|r| Ok((from_column(r.try_get(0)?, "tree size")?, r.try_get(1)?)))
            .transpose()
    }
}
