//! A typed writer of fixture events into a real log: events built from the domain's own event structs
//! (`ParkEvent::from(JurisdictionAssigned { .. })`), with their aggregate id and business time, are
//! appended to a real backend (a SQLite file or a PostgreSQL database) the way the server's writer
//! appends them: gap-free positions after the log's head, stream versions after the stream's last one,
//! the exact payload bytes the server would store, metadata, and real Merkle-tree hashes, in one
//! append transaction holding the log's write lock.
//!
//! Positions follow the order in which a test adds its fixtures, whatever their business times: a
//! test that needs events recorded out of business order (a rule recorded after the facts it governs)
//! simply adds them in that order. A test that needs what the server would never write (an old schema
//! version, a corrupt payload) says so with [`Fixtures::raw_payload`].

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use kcn_domain::{AggregateKind, Event, EventBody};
use kcn_eventstore::{Actor, Backend, Metadata, StoreError, StoredEvent};
use kcn_integrity::Hash;
use kcn_integrity::leaf::{format_timestamp, leaf_hash};
use kcn_integrity::tree;
use uuid::Uuid;

/// The principal every fixture event is recorded under.
pub const FIXTURE_PRINCIPAL: &str = "kcn-testkit";

/// One event to append: the leaf fields a test chooses (positions, versions, ids and hashes are the
/// writer's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fixture {
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub event_type: String,
    pub schema_version: u32,
    pub occurred_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
    pub payload: Vec<u8>,
}

impl Fixture {
    /// An event of the catalogue as the server stores it: its aggregate kind and catalogue name from
    /// the body's type, its payload the body struct's JSON, its schema version the struct's
    /// `EventPayload::SCHEMA_VERSION`.
    pub fn typed<B>(aggregate_id: Uuid, occurred_at: DateTime<Utc>, body: B) -> Self
    where
        B: EventBody + Into<Event>,
    {
        let event_type = body.event_type().to_owned();
        let schema_version = body.schema_version();
        let payload = body.to_payload();
        let kind = body.into().kind();
        Self {
            aggregate_type: kind.as_str().to_owned(),
            aggregate_id: aggregate_id.to_string(),
            event_type,
            schema_version,
            occurred_at,
            recorded_at: occurred_at,
            payload,
        }
    }
}

/// A list of fixture events, appended in the order they were added.
#[derive(Debug, Clone, Default)]
pub struct Fixtures {
    events: Vec<Fixture>,
    recorded_at: Option<DateTime<Utc>>,
}

impl Fixtures {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the events added from now on at server time `t` (by default an event is recorded at
    /// its business time).
    pub fn record_at(&mut self, t: DateTime<Utc>) -> &mut Self {
        self.recorded_at = Some(t);
        self
    }

    /// Adds an event built from a domain event struct, wrapped in its aggregate's event enum
    /// (`ParkEvent::from(JurisdictionAssigned { .. })`).
    pub fn event<B>(&mut self, aggregate_id: Uuid, occurred_at: DateTime<Utc>, body: B) -> &mut Self
    where
        B: EventBody + Into<Event>,
    {
        let mut fixture = Fixture::typed(aggregate_id, occurred_at, body);
        fixture.recorded_at = self.recorded_at.unwrap_or(occurred_at);
        self.events.push(fixture);
        self
    }

    /// Adds an event from raw payload bytes, under any event type and schema version: for what the
    /// server does not write today (a payload of an older schema version, bytes that do not parse).
    pub fn raw_payload(
        &mut self,
        kind: AggregateKind,
        aggregate_id: Uuid,
        event_type: &str,
        schema_version: u32,
        occurred_at: DateTime<Utc>,
        payload: Vec<u8>,
    ) -> &mut Self {
        self.events.push(Fixture {
            aggregate_type: kind.as_str().to_owned(),
            aggregate_id: aggregate_id.to_string(),
            event_type: event_type.to_owned(),
            schema_version,
            occurred_at,
            recorded_at: self.recorded_at.unwrap_or(occurred_at),
            payload,
        });
        self
    }

    /// The events, in the order they will be appended.
    pub fn as_slice(&self) -> &[Fixture] {
        &self.events
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Appends every event to the log in one append transaction; returns their positions.
    pub async fn append_to(&self, backend: &dyn Backend) -> Result<Vec<u64>, StoreError> {
        append(backend, &self.events).await
    }
}

/// The metadata of a fixture event: recorded under [`FIXTURE_PRINCIPAL`], as the server records the
/// events of an unauthenticated caller.
fn metadata() -> Vec<u8> {
    let metadata = Metadata {
        actor: Actor {
            principal: FIXTURE_PRINCIPAL.to_owned(),
            organisation: None,
            role: None,
            authentication: "local_principal".to_owned(),
        },
        acting_authority_id: None,
        correlation_id: None,
        causation_id: None,
        request_id: None,
        source: None,
    };
    serde_json::to_vec(&metadata).expect("metadata is plain data and always serialises")
}

/// Appends `fixtures` after the log's head in one append transaction, each with the next version
/// of its stream; returns their positions.
pub async fn append(backend: &dyn Backend, fixtures: &[Fixture]) -> Result<Vec<u64>, StoreError> {
    if fixtures.is_empty() {
        return Ok(Vec::new());
    }
    let mut tx = backend.begin_append().await?;
    let head = tx.last_position().await?;
    let mut versions: HashMap<(&str, &str), u64> = HashMap::new();
    let mut events = Vec::with_capacity(fixtures.len());
    for (position, f) in (head + 1..).zip(fixtures) {
        let key = (f.aggregate_type.as_str(), f.aggregate_id.as_str());
        let version = match versions.get(&key) {
            Some(v) => v + 1,
            None => tx
                .load_stream(key.0, key.1)
                .await?
                .last()
                .map_or(1, |e| e.aggregate_version + 1),
        };
        versions.insert(key, version);
        events.push(StoredEvent {
            position,
            event_id: Uuid::now_v7(),
            aggregate_type: f.aggregate_type.clone(),
            aggregate_id: f.aggregate_id.clone(),
            aggregate_version: version,
            event_type: f.event_type.clone(),
            schema_version: f.schema_version,
            occurred_at: format_timestamp(f.occurred_at),
            recorded_at: format_timestamp(f.recorded_at),
            payload: f.payload.clone(),
            metadata: metadata(),
        });
    }
    let hashes = tree_hashes(tx.as_mut(), head, &events).await?;
    tx.insert(&events, &[], &hashes).await?;
    tx.commit().await?;
    Ok(events.iter().map(|e| e.position).collect())
}

/// Appends fully formed stored events (every leaf field as given, positions reassigned after the
/// log's head) with their tree hashes: for a test that must write exactly what someone with the
/// database file could, such as a stream version out of step. Returns the events as stored.
pub async fn append_stored(
    backend: &dyn Backend,
    events: Vec<StoredEvent>,
) -> Result<Vec<StoredEvent>, StoreError> {
    let mut tx = backend.begin_append().await?;
    let head = tx.last_position().await?;
    let events: Vec<StoredEvent> = (head + 1..)
        .zip(events)
        .map(|(position, e)| StoredEvent { position, ..e })
        .collect();
    let hashes = tree_hashes(tx.as_mut(), head, &events).await?;
    tx.insert(&events, &[], &hashes).await?;
    tx.commit().await?;
    Ok(events)
}

/// The Merkle-tree hashes to store with `events`, appended to a tree of `head` leaves: one batched
/// read of the stored hashes the append needs, as the writer does.
async fn tree_hashes(
    tx: &mut dyn kcn_eventstore::AppendTx,
    head: u64,
    events: &[StoredEvent],
) -> Result<Vec<(u64, Hash)>, StoreError> {
    let tree_error = |e: tree::TreeError| StoreError::Internal(format!("fixture tree: {e}"));
    let needed = tree::indexes_for_append(head).map_err(tree_error)?;
    let stored: HashMap<u64, Hash> = tx.read_tree_hashes(&needed).await?.into_iter().collect();
    let leaves: Vec<Hash> = events.iter().map(|e| leaf_hash(&e.leaf())).collect();
    Ok(tree::append(head, &leaves, &stored)
        .map_err(tree_error)?
        .hashes)
}
