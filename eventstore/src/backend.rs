//! The storage operations the log needs, as one trait per role, so that the writer, the readers and the
//! tree are written once and each backend (SQLite, PostgreSQL) supplies only its SQL.

use async_trait::async_trait;
use kcn_integrity::Hash;

use crate::error::StoreError;
use crate::record::StoredEvent;

/// A number the log assigns (a position, an aggregate version, a stored hash index) as its `BIGINT`
/// column. They stay below `2^62` (the tree refuses to grow past `MAX_TREE_SIZE` before anything
/// is inserted), so a failure here is a fault of the server, never of a caller.
pub(crate) fn to_column(value: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(value)
        .map_err(|_| StoreError::Internal(format!("{what} {value} does not fit a database column")))
}

/// A number a caller asks about (a tree size, a position, a stored hash index) as its `BIGINT`
/// column; `None` when no row can hold it, so that the lookup simply finds nothing.
pub(crate) fn lookup_column(value: u64) -> Option<i64> {
    i64::try_from(value).ok()
}

/// A stored `BIGINT` as the unsigned number it stands for; a negative one was not written by the
/// log (a tampered row) and is an internal error.
pub(crate) fn from_column(value: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Internal(format!("stored {what} is negative")))
}

/// Checks that every number of an append batch fits its column, before any row is built.
pub(crate) fn check_columns(
    events: &[StoredEvent],
    tree_hashes: &[(u64, Hash)],
) -> Result<(), StoreError> {
    for e in events {
        to_column(e.position, "position")?;
        to_column(e.aggregate_version, "aggregate version")?;
    }
    for (idx, _) in tree_hashes {
        to_column(*idx, "stored hash index")?;
    }
    Ok(())
}

/// An idempotency record: the hash of the validated command and the outcome it produced (JSON).
#[derive(Debug, Clone)]
pub struct RequestRecord {
    pub principal: String,
    pub request_id: String,
    pub command_hash: Vec<u8>,
    pub outcome: Vec<u8>,
    pub recorded_at: String,
}

/// What a writer batch asks for before deciding ([`AppendTx::open_batch`]).
#[derive(Debug, Clone, Copy)]
pub struct BatchKeys<'a> {
    /// (principal, request id) of each command.
    pub requests: &'a [(String, String)],
    /// (aggregate type, aggregate id) of each addressed stream.
    pub streams: &'a [(String, String)],
    /// (scope, key) of each unique key the commands are expected to claim.
    pub unique: &'a [(String, String)],
}

/// What a writer batch reads under the lock before deciding ([`AppendTx::open_batch`]).
#[derive(Debug, Default)]
pub struct BatchReads {
    pub last_position: u64,
    pub requests: Vec<RequestRecord>,
    /// The addressed streams' events, in log order.
    pub streams: Vec<StoredEvent>,
    /// (scope, key, holder) of the asked unique keys that are held; the others are free.
    pub unique: Vec<(String, String, String)>,
}

/// A signed checkpoint a batch stores with its events.
#[derive(Debug, Clone, Copy)]
pub struct CheckpointRow<'a> {
    pub tree_size: u64,
    pub root: &'a Hash,
    pub note: &'a str,
    pub issued_at: &'a str,
}

/// Everything one batch commits ([`AppendTx::write_batch`]).
#[derive(Debug, Clone, Copy)]
pub struct BatchRows<'a> {
    pub events: &'a [StoredEvent],
    pub requests: &'a [RequestRecord],
    pub tree_hashes: &'a [(u64, Hash)],
    /// (scope, key, aggregate id); a key already held is left as it is.
    pub unique: &'a [(String, String, String)],
    pub checkpoint: Option<CheckpointRow<'a>>,
}

/// One append transaction, holding the log's write lock from `begin` to `commit`, so that positions
/// are assigned gap-free and in commit order even with several processes on one database.
#[async_trait]
pub trait AppendTx: Send {
    /// The position of the last committed event (0 for an empty log).
    async fn last_position(&mut self) -> Result<u64, StoreError>;
    /// The stored idempotency record for a principal's request id, if any.
    async fn find_request(
        &mut self,
        principal: &str,
        request_id: &str,
    ) -> Result<Option<RequestRecord>, StoreError>;
    /// The stored idempotency records of several (principal, request id) pairs, in one read where
    /// the backend can (a writer batch asks for all its commands' at once).
    async fn find_requests(
        &mut self,
        keys: &[(String, String)],
    ) -> Result<Vec<RequestRecord>, StoreError> {
        let mut found = Vec::new();
        for (principal, request_id) in keys {
            found.extend(self.find_request(principal, request_id).await?);
        }
        Ok(found)
    }
    /// The events of several aggregates (type, id), in log order, in one read where the backend
    /// can (a writer batch asks for all its commands' streams at once).
    async fn load_streams(
        &mut self,
        keys: &[(String, String)],
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let mut found = Vec::new();
        for (aggregate_type, aggregate_id) in keys {
            found.extend(self.load_stream(aggregate_type, aggregate_id).await?);
        }
        found.sort_by_key(|e| e.position);
        Ok(found)
    }
    /// What a writer batch reads before it decides, in one round trip where the backend can: the
    /// last position, the idempotency records of its request ids, the events of the streams its
    /// commands address (in log order) and the holders of the unique keys its commands are
    /// expected to claim (scope, key).
    async fn open_batch(&mut self, keys: &BatchKeys<'_>) -> Result<BatchReads, StoreError> {
        let mut unique = Vec::new();
        for (scope, key) in keys.unique {
            if let Some(holder) = self.find_unique(scope, key).await? {
                unique.push((scope.clone(), key.clone(), holder));
            }
        }
        Ok(BatchReads {
            last_position: self.last_position().await?,
            requests: self.find_requests(keys.requests).await?,
            streams: self.load_streams(keys.streams).await?,
            unique,
        })
    }
    /// The aggregate that holds a unique key, if any.
    async fn find_unique(&mut self, scope: &str, key: &str) -> Result<Option<String>, StoreError>;
    /// Records unique keys (scope, key, aggregate id); a key already held is left as it is.
    async fn insert_unique(&mut self, keys: &[(String, String, String)]) -> Result<(), StoreError>;
    /// All events of one aggregate, in version order.
    async fn load_stream(
        &mut self,
        aggregate_type: &str,
        aggregate_id: &str,
    ) -> Result<Vec<StoredEvent>, StoreError>;
    /// Stored tree hashes by index, in one read.
    async fn read_tree_hashes(&mut self, indexes: &[u64]) -> Result<Vec<(u64, Hash)>, StoreError>;
    /// Appends events (already positioned), idempotency records and tree hashes, in few statements.
    async fn insert(
        &mut self,
        events: &[StoredEvent],
        requests: &[RequestRecord],
        tree_hashes: &[(u64, Hash)],
    ) -> Result<(), StoreError>;
    /// Writes everything a batch commits (events, idempotency records, tree hashes, unique keys
    /// and the checkpoint, if one is due) in one round trip where the backend can.
    async fn write_batch(&mut self, rows: &BatchRows<'_>) -> Result<(), StoreError> {
        self.insert(rows.events, rows.requests, rows.tree_hashes)
            .await?;
        self.insert_unique(rows.unique).await?;
        if let Some(c) = &rows.checkpoint {
            self.store_checkpoint(c.tree_size, c.root, c.note, c.issued_at)
                .await?;
        }
        Ok(())
    }
    /// Stores a signed checkpoint with the batch (idempotent per tree size).
    async fn store_checkpoint(
        &mut self,
        tree_size: u64,
        root: &Hash,
        note: &str,
        issued_at: &str,
    ) -> Result<(), StoreError>;
    /// Makes the batch durable.
    async fn commit(self: Box<Self>) -> Result<(), StoreError>;
}

/// A storage backend: opens append transactions and answers reads.
#[async_trait]
pub trait Backend: Send + Sync + std::fmt::Debug {
    /// Starts an append transaction holding the log's write lock.
    async fn begin_append(&self) -> Result<Box<dyn AppendTx>, StoreError>;
    /// The position of the last committed event.
    async fn head(&self) -> Result<u64, StoreError>;
    /// Events with `from <= position`, in order, at most `limit`.
    async fn read_range(&self, from: u64, limit: u32) -> Result<Vec<StoredEvent>, StoreError>;
    /// The events at these positions (those that exist), in position order, in one read where the
    /// backend can (a page of a read model's answer that shows the events' stored fields).
    async fn read_positions(&self, positions: &[u64]) -> Result<Vec<StoredEvent>, StoreError> {
        let mut found = Vec::new();
        for &p in positions {
            found.extend(
                self.read_range(p, 1)
                    .await?
                    .into_iter()
                    .filter(|e| e.position == p),
            );
        }
        found.sort_by_key(|e| e.position);
        Ok(found)
    }
    /// Events with `from <= position`, in order, at most `limit`, and no more than fit in
    /// `max_bytes` of payload and metadata: the page stops before the event that would go past
    /// it, yet always holds the first event (so a page is at most `max_bytes` plus one event).
    /// The sizes are read from the database, so nothing past the page is loaded.
    async fn read_page(
        &self,
        from: u64,
        limit: u32,
        max_bytes: u64,
    ) -> Result<Vec<StoredEvent>, StoreError>;
    /// All committed events of one aggregate with `version <= up_to_version`, in version order.
    async fn load_stream(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
    ) -> Result<Vec<StoredEvent>, StoreError>;
    /// Every committed event of every aggregate of one type, by aggregate and version (for small
    /// aggregate types only, such as the coordination agreements).
    async fn load_aggregate_type(
        &self,
        aggregate_type: &str,
    ) -> Result<Vec<StoredEvent>, StoreError>;
    /// Whether an aggregate has at least one event.
    async fn stream_exists(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
    ) -> Result<bool, StoreError>;
    /// Stored tree hashes by index, in one read.
    async fn read_tree_hashes(&self, indexes: &[u64]) -> Result<Vec<(u64, Hash)>, StoreError>;
    /// Stores a signed checkpoint (idempotent per tree size).
    async fn store_checkpoint(
        &self,
        tree_size: u64,
        root: &Hash,
        note: &str,
        issued_at: &str,
    ) -> Result<(), StoreError>;
    /// The stored checkpoint note for a tree size, or the latest one.
    async fn checkpoint(&self, tree_size: Option<u64>)
    -> Result<Option<(u64, String)>, StoreError>;
    /// Stores a credential: the SHA-256 (hex) of a principal's bearer token (never the token).
    async fn put_credential(
        &self,
        token_sha256: &str,
        principal_id: &str,
        created_at: &str,
    ) -> Result<(), StoreError>;
    /// The principal a token's SHA-256 belongs to, with the stored hash to compare.
    async fn credential(&self, token_sha256: &str) -> Result<Option<(String, String)>, StoreError>;
    /// [`Backend::credential`] with the principal's stream (its events of `aggregate_type`, in
    /// version order), in one read where the backend can: what every call's authentication asks.
    async fn credential_stream(
        &self,
        token_sha256: &str,
        aggregate_type: &str,
    ) -> Result<Option<(String, String, Vec<StoredEvent>)>, StoreError> {
        let Some((stored, principal)) = self.credential(token_sha256).await? else {
            return Ok(None);
        };
        let events = self.load_stream(aggregate_type, &principal).await?;
        Ok(Some((stored, principal, events)))
    }
}
