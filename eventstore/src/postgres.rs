//! The PostgreSQL backend: for a province or a nation, several stateless servers sharing one database.
//! Appends serialise on a transaction-scoped advisory lock, so positions stay gap-free and in commit
//! order across processes; each batch is written with one `INSERT … SELECT … FROM UNNEST` per table.
//!
//! Durability: commits use PostgreSQL's `synchronous_commit`, which stays on (the default): a command
//! is answered only after its batch's commit record is flushed to disk. The backend deliberately does
//! not set it, so that a stronger setting chosen by the operator (`remote_apply` with synchronous
//! replicas) is kept.

use std::str::FromStr;

use async_trait::async_trait;
use kcn_integrity::Hash;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, Row, Transaction};
use uuid::Uuid;

use crate::backend::{
    AppendTx, Backend, BatchKeys, BatchReads, BatchRows, RequestRecord, check_columns, from_column,
    lookup_column, to_column,
};
use crate::error::StoreError;
use crate::record::StoredEvent;

/// The advisory-lock key of the event log ("kcn-log1" in ASCII). Every process appending to the
/// same database takes this lock for the length of its append transaction. It lives in the
/// single-bigint key space of `pg_advisory_xact_lock`; other users of advisory locks on this
/// database (sqlx's migrator, the projections' leader election) must use different keys.
pub const LOG_LOCK_KEY: i64 = 0x6B63_6E2D_6C6F_6731;

/// Starts an append transaction. READ COMMITTED (named, in case the server's default differs) gives
/// every statement a fresh snapshot, so the reads after the advisory lock see everything committed by
/// the previous holder; REPEATABLE READ would keep the snapshot taken before the lock was granted.
/// `lock_timeout` bounds the wait for the log's lock like SQLite's busy timeout (10 s): a process
/// stuck holding it makes the others' batches fail as unavailable rather than hang.
///
/// The log's write lock (the advisory lock [`LOG_LOCK_KEY`], held until commit or rollback) is taken
/// by the same round trip, as its own statement, so that the batch's first read, a statement after
/// it, sees everything the previous holder committed.
const BEGIN_APPEND: &str = "BEGIN ISOLATION LEVEL READ COMMITTED; SET LOCAL lock_timeout = '10s'; \
     SELECT pg_advisory_xact_lock(7738149726124468017)";

const SELECT_STREAM: &str = "SELECT position, event_id, aggregate_type, aggregate_id, \
     aggregate_version, event_type, schema_version, occurred_at, recorded_at, payload, metadata \
     FROM events WHERE aggregate_type = $1 AND aggregate_id = $2 ORDER BY aggregate_version";

const SELECT_RANGE: &str = "SELECT position, event_id, aggregate_type, aggregate_id, \
     aggregate_version, event_type, schema_version, occurred_at, recorded_at, payload, metadata \
     FROM events WHERE position >= $1 ORDER BY position LIMIT $2";

/// A page of at most `$2` events from position `$1` whose payloads and metadata, before each
/// event, stay under `$3` bytes. `octet_length` of a `bytea` reads a TOASTed value's size without
/// fetching it, so only the rows of the page are loaded.
const SELECT_PAGE: &str = "WITH page AS (\
       SELECT position, octet_length(payload)::bigint + octet_length(metadata)::bigint AS size \
       FROM events WHERE position >= $1 ORDER BY position LIMIT $2), \
     sized AS (SELECT position, SUM(size) OVER (ORDER BY position) - size AS before FROM page) \
     SELECT e.position, e.event_id, e.aggregate_type, e.aggregate_id, e.aggregate_version, \
     e.event_type, e.schema_version, e.occurred_at, e.recorded_at, e.payload, e.metadata \
     FROM events e JOIN sized s ON e.position = s.position \
     WHERE s.before < $3 ORDER BY e.position";

const SELECT_HASHES: &str = "SELECT idx, hash FROM tree_hashes WHERE idx = ANY($1)";

const LAST_POSITION: &str = "SELECT COALESCE(MAX(position), 0) FROM events";

/// One statement per batch: sqlx binds each `Vec`/slice as a PostgreSQL array, and UNNEST zips the
/// arrays back into rows.
const INSERT_EVENTS: &str = "INSERT INTO events (position, event_id, aggregate_type, aggregate_id, \
     aggregate_version, event_type, schema_version, occurred_at, recorded_at, payload, metadata) \
     SELECT * FROM UNNEST($1::bigint[], $2::bytea[], $3::text[], $4::text[], $5::bigint[], \
     $6::text[], $7::bigint[], $8::text[], $9::text[], $10::bytea[], $11::bytea[])";

const INSERT_REQUESTS: &str = "INSERT INTO command_requests \
     (principal, request_id, command_hash, outcome, recorded_at) \
     SELECT * FROM UNNEST($1::text[], $2::text[], $3::bytea[], $4::bytea[], $5::text[])";

const INSERT_HASHES: &str =
    "INSERT INTO tree_hashes (idx, hash) SELECT * FROM UNNEST($1::bigint[], $2::bytea[])";

/// A writer batch's reads in one statement ([`AppendTx::open_batch`]): part 0 the last position,
/// part 1 the idempotency records of the keys `($1, $2)`, part 2 the events of the streams
/// `($3, $4)`, part 3 the holders of the unique keys `($5, $6)`; each part's other columns NULL,
/// named by the first part. Each key is looked up by a `LATERAL` subquery, so that every part is
/// an index lookup per key: joined plainly, the planner hashes the keys (it cannot know how few
/// an array holds) and scans the whole table once per batch.
const OPEN_BATCH: &str = "SELECT 0 AS part, (SELECT COALESCE(MAX(position), 0) FROM events) \
     AS position, NULL::bytea AS event_id, NULL::text AS aggregate_type, \
     NULL::text AS aggregate_id, NULL::bigint AS aggregate_version, NULL::text AS event_type, \
     NULL::bigint AS schema_version, NULL::text AS occurred_at, NULL::text AS recorded_at, \
     NULL::bytea AS payload, NULL::bytea AS metadata, NULL::text AS principal, \
     NULL::text AS request_id, NULL::bytea AS command_hash, NULL::bytea AS outcome, \
     NULL::text AS request_recorded_at, NULL::text AS unique_scope, NULL::text AS unique_key, \
     NULL::text AS unique_holder \
     UNION ALL SELECT 1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, \
     c.principal, c.request_id, c.command_hash, c.outcome, c.recorded_at, NULL, NULL, NULL \
     FROM unnest($1::text[], $2::text[]) AS k(p, r) CROSS JOIN LATERAL \
     (SELECT * FROM command_requests c WHERE c.principal = k.p AND c.request_id = k.r) c \
     UNION ALL SELECT 2, e.position, e.event_id, e.aggregate_type, e.aggregate_id, \
     e.aggregate_version, e.event_type, e.schema_version, e.occurred_at, e.recorded_at, \
     e.payload, e.metadata, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL \
     FROM unnest($3::text[], $4::text[]) AS k(t, i) CROSS JOIN LATERAL \
     (SELECT * FROM events e WHERE e.aggregate_type = k.t AND e.aggregate_id = k.i) e \
     UNION ALL SELECT 3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, \
     NULL, NULL, NULL, NULL, NULL, u.scope, u.key, u.aggregate_id \
     FROM unnest($5::text[], $6::text[]) AS q(s, v) CROSS JOIN LATERAL \
     (SELECT * FROM unique_keys u WHERE u.scope = q.s AND u.key = q.v) u";

/// Everything a batch commits in one statement ([`AppendTx::write_batch`]): the events
/// (`$1`–`$11`), idempotency records (`$12`–`$16`), tree hashes (`$17`, `$18`) and unique keys
/// (`$19`–`$21`) as arrays, and the checkpoint (`$22`–`$25`, NULL when none is due).
const WRITE_BATCH: &str = "WITH e AS (INSERT INTO events (position, event_id, aggregate_type, \
     aggregate_id, aggregate_version, event_type, schema_version, occurred_at, recorded_at, \
     payload, metadata) \
     SELECT * FROM UNNEST($1::bigint[], $2::bytea[], $3::text[], $4::text[], $5::bigint[], \
     $6::text[], $7::bigint[], $8::text[], $9::text[], $10::bytea[], $11::bytea[])), \
     r AS (INSERT INTO command_requests (principal, request_id, command_hash, outcome, recorded_at) \
     SELECT * FROM UNNEST($12::text[], $13::text[], $14::bytea[], $15::bytea[], $16::text[])), \
     h AS (INSERT INTO tree_hashes (idx, hash) SELECT * FROM UNNEST($17::bigint[], $18::bytea[])), \
     u AS (INSERT INTO unique_keys (scope, key, aggregate_id) \
     SELECT * FROM UNNEST($19::text[], $20::text[], $21::text[]) ON CONFLICT (scope, key) DO NOTHING) \
     INSERT INTO checkpoints (tree_size, root_hash, note, issued_at) \
     SELECT $22::bigint, $23::bytea, $24::text, $25::text WHERE $22::bigint IS NOT NULL \
     ON CONFLICT (tree_size) DO NOTHING";

/// The PostgreSQL event log.
#[derive(Debug, Clone)]
pub struct PostgresBackend {
    pool: PgPool,
}

impl PostgresBackend {
    /// Connects to the database at `url` (`postgres://…`) with a pool of at most `max_connections`
    /// and runs the embedded migrations.
    ///
    /// The pool needs at least two connections: while the writer holds one for its append
    /// transaction, deciding a command reads other aggregates through the pool.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        if max_connections < 2 {
            return Err(StoreError::Internal(format!(
                "the postgresql pool needs at least 2 connections, got {max_connections}"
            )));
        }
        // Every statement planned for its own arguments and the tables as they are: a generic plan
        // cached while the tables were small (a fresh database) keeps hashing a batch's keys and
        // scanning the whole table long after it has grown (seen: a full scan of the idempotency
        // records and the events per batch, with autovacuum off and so no ANALYZE to re-plan).
        let options =
            PgConnectOptions::from_str(url)?.options([("plan_cache_mode", "force_custom_plan")]);
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .after_release(crate::pool::never_reuse_mid_transaction::<Postgres>)
            .connect_with(options)
            .await?;
        let mut migrator = sqlx::migrate!("./migrations/postgres");
        // Other crates (the projections) add their own migrations, versions 1000 and up, to the
        // same database; they are not ours to know.
        migrator.set_ignore_missing(true);
        migrator.run(&pool).await?;
        Ok(Self { pool })
    }

    /// The pool, for read models that live in the same database.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// A number already checked by [`check_columns`] as its column.
fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn to_u64(v: i64, name: &str) -> Result<u64, StoreError> {
    from_column(v, name)
}

fn event_from_row(row: &PgRow) -> Result<StoredEvent, StoreError> {
    let id: Vec<u8> = row.try_get("event_id")?;
    let event_id = Uuid::from_slice(&id)
        .map_err(|e| StoreError::Internal(format!("stored event id is not 16 bytes: {e}")))?;
    let u = |name: &str| -> Result<u64, StoreError> { to_u64(row.try_get(name)?, name) };
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

fn hash_rows(rows: Vec<PgRow>) -> Result<Vec<(u64, Hash)>, StoreError> {
    rows.iter()
        .map(|row| {
            let idx = to_u64(row.try_get(0)?, "tree hash index")?;
            let bytes: Vec<u8> = row.try_get(1)?;
            let hash = Hash::from_slice(&bytes)
                .map_err(|e| StoreError::Internal(format!("stored tree hash {idx}: {e}")))?;
            Ok((idx, hash))
        })
        .collect()
}

/// Indexes a caller asked for as their column; those no column can hold are left out (no row has
/// them).
fn lookup_i64s(values: &[u64]) -> Vec<i64> {
    values.iter().filter_map(|v| lookup_column(*v)).collect()
}

/// Checkpoints are stored once per tree size: a second signing of the same size (by another
/// process, with the same key, giving the same bytes) changes nothing.
const INSERT_CHECKPOINT: &str = "INSERT INTO checkpoints (tree_size, root_hash, note, issued_at) \
     VALUES ($1, $2, $3, $4) ON CONFLICT (tree_size) DO NOTHING";

struct PostgresAppend {
    tx: Transaction<'static, Postgres>,
}

#[async_trait]
impl AppendTx for PostgresAppend {
    async fn last_position(&mut self) -> Result<u64, StoreError> {
        let last: i64 = sqlx::query_scalar(LAST_POSITION)
            .fetch_one(&mut *self.tx)
            .await?;
        to_u64(last, "position")
    }

    async fn find_request(
        &mut self,
        principal: &str,
        request_id: &str,
    ) -> Result<Option<RequestRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT command_hash, outcome, recorded_at FROM command_requests \
             WHERE principal = $1 AND request_id = $2",
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
        let (principals, request_ids): (Vec<&str>, Vec<&str>) =
            keys.iter().map(|(p, r)| (p.as_str(), r.as_str())).unzip();
        let rows = sqlx::query(
            "SELECT c.principal, c.request_id, c.command_hash, c.outcome, c.recorded_at \
             FROM unnest($1::text[], $2::text[]) AS k(p, r) \
             JOIN command_requests c ON c.principal = k.p AND c.request_id = k.r",
        )
        .bind(principals)
        .bind(request_ids)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(RequestRecord {
                    principal: r.try_get(0)?,
                    request_id: r.try_get(1)?,
                    command_hash: r.try_get(2)?,
                    outcome: r.try_get(3)?,
                    recorded_at: r.try_get(4)?,
                })
            })
            .collect()
    }

    async fn load_streams(
        &mut self,
        keys: &[(String, String)],
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let (types, ids): (Vec<&str>, Vec<&str>) =
            keys.iter().map(|(t, i)| (t.as_str(), i.as_str())).unzip();
        let rows = sqlx::query(
            "SELECT e.position, e.event_id, e.aggregate_type, e.aggregate_id, \
             e.aggregate_version, e.event_type, e.schema_version, e.occurred_at, e.recorded_at, \
             e.payload, e.metadata \
             FROM unnest($1::text[], $2::text[]) AS k(t, i) \
             JOIN events e ON e.aggregate_type = k.t AND e.aggregate_id = k.i ORDER BY e.position",
        )
        .bind(types)
        .bind(ids)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(event_from_row).collect()
    }

    /// One statement: the last position, the idempotency records and the streams' events as one
    /// `UNION ALL` of rows tagged by part, so that a batch makes one round trip before it decides.
    async fn open_batch(&mut self, keys: &BatchKeys<'_>) -> Result<BatchReads, StoreError> {
        let pairs = |list: &[(String, String)]| -> (Vec<String>, Vec<String>) {
            list.iter().cloned().unzip()
        };
        let (principals, request_ids) = pairs(keys.requests);
        let (types, ids) = pairs(keys.streams);
        let (scopes, unique_keys) = pairs(keys.unique);
        let rows = sqlx::query(OPEN_BATCH)
            .bind(principals)
            .bind(request_ids)
            .bind(types)
            .bind(ids)
            .bind(scopes)
            .bind(unique_keys)
            .fetch_all(&mut *self.tx)
            .await?;
        let mut reads = BatchReads::default();
        for row in &rows {
            let part: i32 = row.try_get("part")?;
            match part {
                0 => reads.last_position = to_u64(row.try_get("position")?, "position")?,
                1 => reads.requests.push(RequestRecord {
                    principal: row.try_get("principal")?,
                    request_id: row.try_get("request_id")?,
                    command_hash: row.try_get("command_hash")?,
                    outcome: row.try_get("outcome")?,
                    recorded_at: row.try_get("request_recorded_at")?,
                }),
                2 => reads.streams.push(event_from_row(row)?),
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

    /// One statement for the whole batch: each table's rows inserted by a data-modifying `WITH`
    /// part from arrays, the checkpoint (if any) by the main statement.
    async fn write_batch(&mut self, rows: &BatchRows<'_>) -> Result<(), StoreError> {
        check_columns(rows.events, rows.tree_hashes)?;
        let events = rows.events;
        let requests = rows.requests;
        let unique = rows.unique;
        let checkpoint = rows
            .checkpoint
            .map(|c| to_column(c.tree_size, "tree size").map(|size| (size, c)))
            .transpose()?;
        sqlx::query(WRITE_BATCH)
            .bind(
                events
                    .iter()
                    .map(|e| to_i64(e.position))
                    .collect::<Vec<i64>>(),
            )
            .bind(
                events
                    .iter()
                    .map(|e| e.event_id.as_bytes().as_slice())
                    .collect::<Vec<&[u8]>>(),
            )
            .bind(
                events
                    .iter()
                    .map(|e| e.aggregate_type.as_str())
                    .collect::<Vec<&str>>(),
            )
            .bind(
                events
                    .iter()
                    .map(|e| e.aggregate_id.as_str())
                    .collect::<Vec<&str>>(),
            )
            .bind(
                events
                    .iter()
                    .map(|e| to_i64(e.aggregate_version))
                    .collect::<Vec<i64>>(),
            )
            .bind(
                events
                    .iter()
                    .map(|e| e.event_type.as_str())
                    .collect::<Vec<&str>>(),
            )
            .bind(
                events
                    .iter()
                    .map(|e| i64::from(e.schema_version))
                    .collect::<Vec<i64>>(),
            )
            .bind(
                events
                    .iter()
                    .map(|e| e.occurred_at.as_str())
                    .collect::<Vec<&str>>(),
            )
            .bind(
                events
                    .iter()
                    .map(|e| e.recorded_at.as_str())
                    .collect::<Vec<&str>>(),
            )
            .bind(
                events
                    .iter()
                    .map(|e| e.payload.as_slice())
                    .collect::<Vec<&[u8]>>(),
            )
            .bind(
                events
                    .iter()
                    .map(|e| e.metadata.as_slice())
                    .collect::<Vec<&[u8]>>(),
            )
            .bind(
                requests
                    .iter()
                    .map(|r| r.principal.as_str())
                    .collect::<Vec<&str>>(),
            )
            .bind(
                requests
                    .iter()
                    .map(|r| r.request_id.as_str())
                    .collect::<Vec<&str>>(),
            )
            .bind(
                requests
                    .iter()
                    .map(|r| r.command_hash.as_slice())
                    .collect::<Vec<&[u8]>>(),
            )
            .bind(
                requests
                    .iter()
                    .map(|r| r.outcome.as_slice())
                    .collect::<Vec<&[u8]>>(),
            )
            .bind(
                requests
                    .iter()
                    .map(|r| r.recorded_at.as_str())
                    .collect::<Vec<&str>>(),
            )
            .bind(
                rows.tree_hashes
                    .iter()
                    .map(|(i, _)| to_i64(*i))
                    .collect::<Vec<i64>>(),
            )
            .bind(
                rows.tree_hashes
                    .iter()
                    .map(|(_, h)| h.as_bytes().as_slice())
                    .collect::<Vec<&[u8]>>(),
            )
            .bind(unique.iter().map(|k| k.0.as_str()).collect::<Vec<&str>>())
            .bind(unique.iter().map(|k| k.1.as_str()).collect::<Vec<&str>>())
            .bind(unique.iter().map(|k| k.2.as_str()).collect::<Vec<&str>>())
            .bind(checkpoint.map(|(size, _)| size))
            .bind(checkpoint.map(|(_, c)| c.root.as_bytes().as_slice()))
            .bind(checkpoint.map(|(_, c)| c.note))
            .bind(checkpoint.map(|(_, c)| c.issued_at))
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    async fn find_unique(&mut self, scope: &str, key: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT aggregate_id FROM unique_keys WHERE scope = $1 AND key = $2")
            .bind(scope)
            .bind(key)
            .fetch_optional(&mut *self.tx)
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    async fn insert_unique(&mut self, keys: &[(String, String, String)]) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        let scopes: Vec<&str> = keys.iter().map(|k| k.0.as_str()).collect();
        let values: Vec<&str> = keys.iter().map(|k| k.1.as_str()).collect();
        let ids: Vec<&str> = keys.iter().map(|k| k.2.as_str()).collect();
        sqlx::query(
            "INSERT INTO unique_keys (scope, key, aggregate_id) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[]) \
             ON CONFLICT (scope, key) DO NOTHING",
        )
        .bind(scopes)
        .bind(values)
        .bind(ids)
        .execute(&mut *self.tx)
        .await?;
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
        if indexes.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(SELECT_HASHES)
            .bind(lookup_i64s(indexes))
            .fetch_all(&mut *self.tx)
            .await?;
        hash_rows(rows)
    }

    async fn insert(
        &mut self,
        events: &[StoredEvent],
        requests: &[RequestRecord],
        tree_hashes: &[(u64, Hash)],
    ) -> Result<(), StoreError> {
        check_columns(events, tree_hashes)?;
        // Arrays of borrowed slices and strings: the rows are encoded straight from the batch,
        // without copying payloads first.
        if !events.is_empty() {
            let positions: Vec<i64> = events.iter().map(|e| to_i64(e.position)).collect();
            let ids: Vec<&[u8]> = events
                .iter()
                .map(|e| e.event_id.as_bytes().as_slice())
                .collect();
            let types: Vec<&str> = events.iter().map(|e| e.aggregate_type.as_str()).collect();
            let aggregate_ids: Vec<&str> = events.iter().map(|e| e.aggregate_id.as_str()).collect();
            let versions: Vec<i64> = events.iter().map(|e| to_i64(e.aggregate_version)).collect();
            let event_types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
            let schemas: Vec<i64> = events.iter().map(|e| i64::from(e.schema_version)).collect();
            let occurred: Vec<&str> = events.iter().map(|e| e.occurred_at.as_str()).collect();
            let recorded: Vec<&str> = events.iter().map(|e| e.recorded_at.as_str()).collect();
            let payloads: Vec<&[u8]> = events.iter().map(|e| e.payload.as_slice()).collect();
            let metadata: Vec<&[u8]> = events.iter().map(|e| e.metadata.as_slice()).collect();
            sqlx::query(INSERT_EVENTS)
                .bind(positions)
                .bind(ids)
                .bind(types)
                .bind(aggregate_ids)
                .bind(versions)
                .bind(event_types)
                .bind(schemas)
                .bind(occurred)
                .bind(recorded)
                .bind(payloads)
                .bind(metadata)
                .execute(&mut *self.tx)
                .await?;
        }
        if !requests.is_empty() {
            let principals: Vec<&str> = requests.iter().map(|r| r.principal.as_str()).collect();
            let request_ids: Vec<&str> = requests.iter().map(|r| r.request_id.as_str()).collect();
            let hashes: Vec<&[u8]> = requests.iter().map(|r| r.command_hash.as_slice()).collect();
            let outcomes: Vec<&[u8]> = requests.iter().map(|r| r.outcome.as_slice()).collect();
            let recorded: Vec<&str> = requests.iter().map(|r| r.recorded_at.as_str()).collect();
            sqlx::query(INSERT_REQUESTS)
                .bind(principals)
                .bind(request_ids)
                .bind(hashes)
                .bind(outcomes)
                .bind(recorded)
                .execute(&mut *self.tx)
                .await?;
        }
        if !tree_hashes.is_empty() {
            let indexes: Vec<i64> = tree_hashes.iter().map(|(i, _)| to_i64(*i)).collect();
            let hashes: Vec<&[u8]> = tree_hashes
                .iter()
                .map(|(_, h)| h.as_bytes().as_slice())
                .collect();
            sqlx::query(INSERT_HASHES)
                .bind(indexes)
                .bind(hashes)
                .execute(&mut *self.tx)
                .await?;
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
            .bind(root.as_bytes().as_slice())
            .bind(note)
            .bind(issued_at)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        // Committing releases the advisory lock, after the batch is visible to other sessions, so
        // the next holder's last position includes it. Dropping the transaction instead rolls it
        // back and releases the lock just the same.
        self.tx.commit().await?;
        Ok(())
    }
}

#[async_trait]
impl Backend for PostgresBackend {
    async fn begin_append(&self) -> Result<Box<dyn AppendTx>, StoreError> {
        // The log's write lock comes with the BEGIN: whoever holds it reads the last position and
        // appends after it, so positions are gap-free and in commit order even with several
        // server processes on one database.
        let tx = self.pool.begin_with(BEGIN_APPEND).await?;
        Ok(Box::new(PostgresAppend { tx }))
    }

    async fn head(&self) -> Result<u64, StoreError> {
        let last: i64 = sqlx::query_scalar(LAST_POSITION)
            .fetch_one(&self.pool)
            .await?;
        to_u64(last, "position")
    }

    async fn read_range(&self, from: u64, limit: u32) -> Result<Vec<StoredEvent>, StoreError> {
        // Appends commit one at a time in position order (the advisory lock), so a reader never
        // sees a position without every position before it.
        let Some(from) = lookup_column(from) else {
            return Ok(Vec::new());
        };
        let rows = sqlx::query(SELECT_RANGE)
            .bind(from)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(event_from_row).collect()
    }

    async fn read_positions(&self, positions: &[u64]) -> Result<Vec<StoredEvent>, StoreError> {
        let wanted: Vec<i64> = positions.iter().filter_map(|p| lookup_column(*p)).collect();
        let rows = sqlx::query(
            "SELECT position, event_id, aggregate_type, aggregate_id, aggregate_version, \
             event_type, schema_version, occurred_at, recorded_at, payload, metadata \
             FROM events WHERE position = ANY($1) ORDER BY position",
        )
        .bind(wanted)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(event_from_row).collect()
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
            "SELECT * FROM events WHERE aggregate_type = $1 ORDER BY aggregate_id, aggregate_version",
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
            "INSERT INTO credentials (token_sha256, principal_id, created_at) VALUES ($1, $2, $3)",
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
            "SELECT token_sha256, principal_id FROM credentials WHERE token_sha256 = $1",
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
             e.position, e.event_id, e.aggregate_type, e.aggregate_id, \
             e.aggregate_version, e.event_type, e.schema_version, e.occurred_at, e.recorded_at, \
             e.payload, e.metadata FROM credentials c LEFT JOIN events e \
             ON e.aggregate_type = $2 AND e.aggregate_id = c.principal_id \
             WHERE c.token_sha256 = $1 ORDER BY e.aggregate_version",
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
            "SELECT 1 FROM events WHERE aggregate_type = $1 AND aggregate_id = $2 \
             AND aggregate_version = 1",
        )
        .bind(aggregate_type)
        .bind(aggregate_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.is_some())
    }

    async fn read_tree_hashes(&self, indexes: &[u64]) -> Result<Vec<(u64, Hash)>, StoreError> {
        if indexes.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(SELECT_HASHES)
            .bind(lookup_i64s(indexes))
            .fetch_all(&self.pool)
            .await?;
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
            .bind(root.as_bytes().as_slice())
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
                sqlx::query("SELECT tree_size, note FROM checkpoints WHERE tree_size = $1")
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
        row.map(|r| Ok((to_u64(r.try_get(0)?, "tree size")?, r.try_get(1)?)))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The append's BEGIN takes the very lock other code names by [`LOG_LOCK_KEY`].
    #[test]
    fn the_append_begins_by_taking_the_log_lock() {
        assert!(BEGIN_APPEND.ends_with(&format!("SELECT pg_advisory_xact_lock({LOG_LOCK_KEY})")));
    }
}
