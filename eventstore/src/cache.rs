//! The committed streams the command path reads, kept by this process's writer between batches.
//!
//! Deciding a command reads more than its own stream: the park it concerns (for the caller's scope
//! and the acting authority), every authority (for successions), the agreements, a tenant's
//! commitments. Those reads run inside the writer's lock, one after another, so that each one
//! costs every command of the batch. The writer keeps what they read here, keyed by stream (and
//! by aggregate type for the whole-type reads), valid for the log of `size` events:
//!
//! - at the start of each batch the writer gives the last position it read under the lock; when
//!   it is not the size the cache is valid for (another process appended), everything is dropped;
//! - after each committed batch the writer adds its events to the cached streams they extend and
//!   drops the whole-type entries of their types; a failed batch changes nothing;
//! - only the writer's own task fills it, inside the lock, so that what it holds is exactly the
//!   committed log at `size`;
//! - it holds at most about [`MAX_BYTES`]; beyond that it is emptied.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::backend::Backend;
use crate::error::StoreError;
use crate::record::StoredEvent;

/// The most bytes the cache holds (payload, metadata and a fixed allowance per event for its other
/// fields) before it is emptied: small beside the server's memory budget (200 MiB).
const MAX_BYTES: usize = 16 * 1024 * 1024;

/// What an event's fields besides payload and metadata cost in the cache, about.
const PER_EVENT: usize = 256;

/// See the module's documentation.
#[derive(Debug, Default)]
pub(crate) struct StreamCache {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// The log size the entries are valid for; `None` before the first batch.
    size: Option<u64>,
    streams: HashMap<(String, String), Arc<Vec<StoredEvent>>>,
    types: HashMap<String, Arc<Vec<StoredEvent>>>,
    bytes: usize,
}

fn bytes(events: &[StoredEvent]) -> usize {
    events
        .iter()
        .map(|e| e.payload.len() + e.metadata.len() + PER_EVENT)
        .sum()
}

impl Inner {
    fn clear(&mut self) {
        self.streams.clear();
        self.types.clear();
        self.bytes = 0;
    }

    fn charge(&mut self, n: usize) {
        self.bytes = self.bytes.saturating_add(n);
        if self.bytes > MAX_BYTES {
            self.clear();
        }
    }
}

impl StreamCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A batch starts on a log of `last` events (read under the lock); says whether what the
    /// cache held is still valid (it is emptied otherwise).
    pub(crate) fn begin(&self, last: u64) -> bool {
        let mut inner = self.lock();
        if inner.size == Some(last) {
            return true;
        }
        inner.clear();
        inner.size = Some(last);
        false
    }

    /// A batch committed `events`, the log now holding `size` events.
    pub(crate) fn committed(&self, events: &[StoredEvent], size: u64) {
        let mut inner = self.lock();
        let mut added = 0;
        for e in events {
            inner.types.remove(&e.aggregate_type);
            let key = (e.aggregate_type.clone(), e.aggregate_id.clone());
            if let Some(stream) = inner.streams.get_mut(&key) {
                Arc::make_mut(stream).push(e.clone());
                added += e.payload.len() + e.metadata.len() + PER_EVENT;
            }
        }
        inner.size = Some(size);
        inner.charge(added);
    }

    /// The batch failed: whatever it read may be newer than what was committed; drop it all.
    pub(crate) fn failed(&self) {
        let mut inner = self.lock();
        inner.clear();
        inner.size = None;
    }

    /// The cached committed stream of one aggregate, if the cache holds it.
    pub(crate) fn stream(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
    ) -> Option<Arc<Vec<StoredEvent>>> {
        self.lock()
            .streams
            .get(&(aggregate_type.to_owned(), aggregate_id.to_owned()))
            .cloned()
    }

    /// Keeps a stream the writer read under the lock.
    pub(crate) fn keep_stream(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        events: Arc<Vec<StoredEvent>>,
    ) {
        let mut inner = self.lock();
        if inner.size.is_none() {
            return;
        }
        let n = bytes(&events);
        inner
            .streams
            .insert((aggregate_type.to_owned(), aggregate_id.to_owned()), events);
        inner.charge(n);
    }
}

/// The committed log as the command path reads it while deciding, through the writer's cache.
#[derive(Debug, Clone)]
pub(crate) struct CommittedReads {
    pub(crate) backend: Arc<dyn Backend>,
    pub(crate) cache: Arc<StreamCache>,
}

impl CommittedReads {
    /// All events of one aggregate, in version order.
    pub(crate) async fn load_stream(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
    ) -> Result<Arc<Vec<StoredEvent>>, StoreError> {
        if let Some(stream) = self.cache.stream(aggregate_type, aggregate_id) {
            return Ok(stream);
        }
        let stream = Arc::new(
            self.backend
                .load_stream(aggregate_type, aggregate_id)
                .await?,
        );
        self.cache
            .keep_stream(aggregate_type, aggregate_id, stream.clone());
        Ok(stream)
    }

    /// Every event of one aggregate type, by aggregate id and version.
    pub(crate) async fn load_aggregate_type(
        &self,
        aggregate_type: &str,
    ) -> Result<Arc<Vec<StoredEvent>>, StoreError> {
        if let Some(events) = self.cache.lock().types.get(aggregate_type).cloned() {
            return Ok(events);
        }
        let events = Arc::new(self.backend.load_aggregate_type(aggregate_type).await?);
        let mut inner = self.cache.lock();
        if inner.size.is_some() {
            let n = bytes(&events);
            inner
                .types
                .insert(aggregate_type.to_owned(), events.clone());
            inner.charge(n);
        }
        Ok(events)
    }

    /// Whether an aggregate has been created.
    pub(crate) async fn stream_exists(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
    ) -> Result<bool, StoreError> {
        if let Some(stream) = self.cache.stream(aggregate_type, aggregate_id) {
            return Ok(!stream.is_empty());
        }
        self.backend
            .stream_exists(aggregate_type, aggregate_id)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(position: u64, id: &str, version: u64) -> StoredEvent {
        StoredEvent {
            position,
            event_id: uuid::Uuid::now_v7(),
            aggregate_type: "Park".into(),
            aggregate_id: id.into(),
            aggregate_version: version,
            event_type: "ParkRegistered".into(),
            schema_version: 1,
            occurred_at: "2025-04-01T00:00:00Z".into(),
            recorded_at: "2025-04-01T00:00:00Z".into(),
            payload: b"{}".to_vec(),
            metadata: b"{}".to_vec(),
        }
    }

    #[test]
    fn a_committed_batch_extends_the_streams_it_touches() {
        let cache = StreamCache::default();
        cache.begin(1);
        cache.keep_stream("Park", "a", Arc::new(vec![event(1, "a", 1)]));
        cache.committed(&[event(2, "a", 2), event(3, "b", 1)], 3);
        cache.begin(3);
        let a = cache.stream("Park", "a").unwrap();
        assert_eq!(a.iter().map(|e| e.position).collect::<Vec<_>>(), [1, 2]);
        assert!(cache.stream("Park", "b").is_none(), "b was never read");
    }

    #[test]
    fn another_writer_s_append_empties_the_cache() {
        let cache = StreamCache::default();
        cache.begin(1);
        cache.keep_stream("Park", "a", Arc::new(vec![event(1, "a", 1)]));
        cache.committed(&[], 1);
        // The next batch finds two more events than this writer committed.
        cache.begin(3);
        assert!(cache.stream("Park", "a").is_none());
    }

    #[test]
    fn a_failed_batch_keeps_nothing_it_read() {
        let cache = StreamCache::default();
        cache.begin(1);
        cache.keep_stream("Park", "a", Arc::new(vec![event(1, "a", 1)]));
        cache.failed();
        cache.begin(1);
        assert!(cache.stream("Park", "a").is_none());
    }

    #[test]
    fn nothing_is_kept_before_a_batch_has_begun() {
        let cache = StreamCache::default();
        cache.keep_stream("Park", "a", Arc::new(vec![event(1, "a", 1)]));
        assert!(cache.stream("Park", "a").is_none());
    }
}
