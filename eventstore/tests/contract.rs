//! The event log's contract, run unchanged against both backends: every test below is one async fn
//! over a [`Harness`], invoked once for SQLite (a temporary file) and once for PostgreSQL (a fresh
//! database per test), plus the PostgreSQL-only tests of several processes sharing one database.
//!
//! PostgreSQL needs `KCN_TEST_DATABASE_URL`, a server URL whose user may create databases (for example
//! `postgres://postgres@127.0.0.1:5432/postgres`). Without it the PostgreSQL variants fail, unless
//! `KCN_TEST_SKIP_POSTGRES=1` is set, which skips them with a printed note.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use futures::FutureExt as _;
use kcn_domain::authority::{
    Authority, AuthorityCommand, AuthorityEstablished, AuthorityEvent, AuthorityKind,
};
use kcn_domain::company::{CompanyCommand, CompanyRegistered, InfrastructureCompany};
use kcn_domain::values::{EnterpriseCode, Text};
use kcn_domain::{AggregateKind, DomainError, EventBody, LegalRules};
use kcn_eventstore::SystemClock;
use kcn_eventstore::{
    Actor, Backend, CommandContext, EventStore, Metadata, Outcome, PostgresBackend, RequestRecord,
    SqliteBackend, SqliteDurability, StoreError, StoredEvent, Target,
};
use kcn_integrity::Hash;
use kcn_integrity::leaf::leaf_hash;
use kcn_integrity::tree;
use kcn_testkit::PgTestDatabase;
use sqlx::Row as _;
use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// The harness: one backend on a fresh database, and raw SQL access to it for the checks that must
// look under the API (stored bytes, immutability).
// ---------------------------------------------------------------------------------------------

/// A fresh database behind one backend, removed again by [`Harness::cleanup`].
struct Harness {
    backend: Arc<dyn Backend>,
    db: Db,
}

enum Db {
    Sqlite {
        pool: SqlitePool,
        _dir: tempfile::TempDir,
    },
    Postgres {
        pool: PgPool,
        url: String,
        /// Drops the database when it goes.
        guard: PgTestDatabase,
    },
}

/// One stored row, read with plain SQL rather than through the backend.
#[derive(Debug, PartialEq, Eq)]
struct RawEvent {
    position: i64,
    event_id: Vec<u8>,
    occurred_at: String,
    recorded_at: String,
    payload: Vec<u8>,
    metadata: Vec<u8>,
}

const RAW_EVENTS: &str = "SELECT position, event_id, occurred_at, recorded_at, payload, metadata \
     FROM events ORDER BY position";

/// Decodes a [`RawEvent`] from either driver's row type.
macro_rules! raw_event {
    ($row:expr) => {
        RawEvent {
            position: $row.get("position"),
            event_id: $row.get("event_id"),
            occurred_at: $row.get("occurred_at"),
            recorded_at: $row.get("recorded_at"),
            payload: $row.get("payload"),
            metadata: $row.get("metadata"),
        }
    };
}

impl Harness {
    async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let backend = SqliteBackend::open(&dir.path().join("ledger.db"), SqliteDurability::Full)
            .await
            .unwrap();
        Self {
            db: Db::Sqlite {
                pool: backend.pool().clone(),
                _dir: dir,
            },
            backend: Arc::new(backend),
        }
    }

    /// A backend on a database of its own, or `None` when PostgreSQL is deliberately skipped.
    async fn postgres(test: &str) -> Option<Self> {
        let db = PgTestDatabase::create(&format!("postgres::{test}")).await?;
        let backend = PostgresBackend::connect(db.url(), 8).await.unwrap();
        Some(Self {
            db: Db::Postgres {
                pool: backend.pool().clone(),
                url: db.url().to_owned(),
                guard: db,
            },
            backend: Arc::new(backend),
        })
    }

    /// Closes the pool, then drops the test database with its guard.
    async fn cleanup(self) {
        match self.db {
            Db::Sqlite { pool, _dir } => pool.close().await,
            Db::Postgres { pool, guard, .. } => {
                let _ = tokio::time::timeout(Duration::from_secs(10), pool.close()).await;
                drop(guard);
            }
        }
    }

    /// Runs one test body over this harness, cleaning up even when the body panics.
    async fn run<F, Fut>(self, body: F)
    where
        F: FnOnce(Arc<Harness>) -> Fut,
        Fut: Future<Output = ()>,
    {
        let this = Arc::new(self);
        let outcome = AssertUnwindSafe(body(this.clone())).catch_unwind().await;
        // The body owned the only other handle, and it is gone now.
        let harness = Arc::try_unwrap(this)
            .unwrap_or_else(|_| panic!("a test body kept its harness past its end"));
        harness.cleanup().await;
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
    }

    /// A new event store (its own writer task) over this harness's backend.
    async fn store(&self) -> EventStore {
        EventStore::start(
            self.backend.clone(),
            Arc::new(SystemClock),
            LegalRules::default(),
        )
        .await
        .unwrap()
    }

    /// Runs one SQL statement directly on the database.
    async fn exec(&self, sql: &'static str) -> Result<u64, sqlx::Error> {
        match &self.db {
            Db::Sqlite { pool, .. } => sqlx::query(sql)
                .execute(pool)
                .await
                .map(|r| r.rows_affected()),
            Db::Postgres { pool, .. } => sqlx::query(sql)
                .execute(pool)
                .await
                .map(|r| r.rows_affected()),
        }
    }

    /// Every stored event row, read with plain SQL.
    async fn raw_events(&self) -> Vec<RawEvent> {
        match &self.db {
            Db::Sqlite { pool, .. } => {
                let rows = sqlx::query(RAW_EVENTS).fetch_all(pool).await.unwrap();
                rows.iter().map(|r| raw_event!(r)).collect()
            }
            Db::Postgres { pool, .. } => {
                let rows = sqlx::query(RAW_EVENTS).fetch_all(pool).await.unwrap();
                rows.iter().map(|r| raw_event!(r)).collect()
            }
        }
    }
}

/// Declares each listed test fn twice, as `sqlite::NAME` and `postgres::NAME`.
macro_rules! contract_tests {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::Harness::sqlite().await.run(|h| async move { super::$name(&h).await }).await;
                }
            )+
        }

        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(harness) = super::Harness::postgres(stringify!($name)).await else {
                        return;
                    };
                    harness.run(|h| async move { super::$name(&h).await }).await;
                }
            )+
        }
    };
}

contract_tests!(
    positions_are_gap_free_from_one,
    read_range_returns_the_stored_bytes,
    the_backend_stores_bytes_exactly,
    a_stale_expected_version_is_a_conflict,
    the_same_request_replays_its_outcome,
    a_reused_request_id_is_refused,
    a_rejected_command_leaves_the_log_unchanged,
    concurrent_commands_share_one_gap_free_order,
    the_stored_tree_gives_the_reference_root,
    events_cannot_be_updated_or_deleted,
    an_abandoned_append_rolls_back_and_releases_the_lock,
    a_connection_whose_transaction_the_database_ended_is_not_reused,
    an_event_above_the_size_limit_is_refused_alone,
    a_page_of_the_log_is_bounded_by_bytes,
);

// ---------------------------------------------------------------------------------------------
// Commands and contexts.
// ---------------------------------------------------------------------------------------------

const OCCURRED_AT: &str = "2025-04-11T02:30:00Z";

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

fn context_of(principal: &str, request_id: &str) -> CommandContext {
    CommandContext {
        scope: Default::default(),
        occurred_at: None,
        actor: Actor {
            principal: principal.to_owned(),
            organisation: None,
            role: None,
            authentication: "local_principal".to_owned(),
        },
        request_id: request_id.to_owned(),
        correlation_id: None,
        causation_id: None,
        source: None,
    }
}

fn context(request_id: &str) -> CommandContext {
    context_of("tester", request_id)
}

fn established(name: &str) -> AuthorityEstablished {
    AuthorityEstablished {
        name: Text::name(name).unwrap(),
        kind: AuthorityKind::IndustrialParksBoard,
        jurisdiction: Text::name("Bình Dương").unwrap(),
        decision_no: Text::name("QĐ-01/2006").unwrap(),
        effective_from: NaiveDate::from_ymd_opt(2006, 1, 1).unwrap(),
    }
}

fn establish(name: &str) -> impl Fn(Uuid) -> AuthorityCommand + Send + Sync + 'static {
    let event = established(name);
    move |authority_id| AuthorityCommand::Establish {
        authority_id,
        occurred_at: at(OCCURRED_AT),
        event: event.clone(),
    }
}

fn register(name: &str) -> impl Fn(Uuid) -> CompanyCommand + Send + Sync + 'static {
    let event = CompanyRegistered {
        enterprise_code: EnterpriseCode::parse("3700123456").unwrap(),
        name: Text::name(name).unwrap(),
        address: None,
    };
    move |company_id| CompanyCommand::Register {
        company_id,
        occurred_at: at(OCCURRED_AT),
        event: event.clone(),
    }
}

/// Renames a company, `minutes` after the registration.
fn rename(name: &str, minutes: i64) -> impl Fn(Uuid) -> CompanyCommand + Send + Sync + 'static {
    let name = Text::name(name).unwrap();
    move |company_id| CompanyCommand::ChangeDetails {
        company_id,
        occurred_at: at(OCCURRED_AT) + chrono::Duration::minutes(minutes),
        name: Some(name.clone()),
        address: None,
    }
}

/// Establishes a new authority, which must succeed.
async fn establish_new(store: &EventStore, name: &str, request_id: &str) -> Outcome {
    store
        .execute::<Authority, _>(Target::New, None, establish(name), context(request_id))
        .await
        .unwrap_or_else(|e| panic!("establishing {name:?} failed: {e}"))
}

async fn positions(store: &EventStore) -> Vec<u64> {
    store
        .read_range(1, 10_000)
        .await
        .unwrap()
        .iter()
        .map(|e| e.position)
        .collect()
}

fn one_to(n: u64) -> Vec<u64> {
    (1..=n).collect()
}

// ---------------------------------------------------------------------------------------------
// The contract.
// ---------------------------------------------------------------------------------------------

/// Appends get positions 1..N with no gaps, and each outcome names its own positions and version.
async fn positions_are_gap_free_from_one(h: &Harness) {
    let store = h.store().await;
    assert_eq!(store.head().await.unwrap(), 0);
    assert!(store.read_range(1, 10).await.unwrap().is_empty());

    let mut event_ids = Vec::new();
    for i in 1..=10u64 {
        let outcome = establish_new(&store, &format!("Authority {i}"), &format!("r{i}")).await;
        assert_eq!((outcome.first_position, outcome.last_position), (i, i));
        assert_eq!(outcome.aggregate_version, 1);
        assert_eq!(outcome.event_ids.len(), 1);
        assert!(!outcome.replayed);
        event_ids.extend(outcome.event_ids);
    }

    // One aggregate over several commands: versions 1, 2, 3 at the next positions.
    let company = store
        .execute::<InfrastructureCompany, _>(
            Target::New,
            Some(0),
            register("Công ty A"),
            context("c1"),
        )
        .await
        .unwrap();
    let id = company.aggregate_id;
    for (version, name) in [(2, "Công ty B"), (3, "Công ty C")] {
        let outcome = store
            .execute::<InfrastructureCompany, _>(
                Target::Existing(id),
                Some(version - 1),
                rename(name, version as i64),
                context(&format!("c{version}")),
            )
            .await
            .unwrap();
        assert_eq!(outcome.aggregate_version, version);
        assert_eq!(outcome.first_position, 10 + version);
    }

    assert_eq!(store.head().await.unwrap(), 13);
    assert_eq!(store.subscribe().borrow().size, 13);
    let events = store.read_range(1, 100).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.position).collect::<Vec<_>>(),
        one_to(13)
    );
    assert_eq!(
        events[..10].iter().map(|e| e.event_id).collect::<Vec<_>>(),
        event_ids
    );
    let stream = store
        .stream(AggregateKind::InfrastructureCompany, id)
        .await
        .unwrap();
    assert_eq!(
        stream
            .iter()
            .map(|e| e.aggregate_version)
            .collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(stream, events[10..].to_vec());
    let (loaded, version) = store
        .load::<InfrastructureCompany>(id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(version, 3);
    assert_eq!(loaded.registered.unwrap().name.as_str(), "Công ty C");
}

/// What the log returns is byte for byte what it stored: the domain's payload, the metadata JSON and
/// the timestamps' text, as plain SQL reads them.
async fn read_range_returns_the_stored_bytes(h: &Harness) {
    let store = h.store().await;
    let names = [
        "Ban quản lý các khu công nghiệp Bình Dương",
        "Sở Tài nguyên và Môi trường",
        "B",
        "C",
        "D",
    ];
    let mut outcomes = Vec::new();
    for (i, name) in names.iter().enumerate() {
        outcomes.push(establish_new(&store, name, &format!("bytes-{i}")).await);
    }

    let events = store.read_range(1, 100).await.unwrap();
    let raw = h.raw_events().await;
    assert_eq!(events.len(), names.len());
    assert_eq!(raw.len(), names.len());
    for ((event, raw), (name, outcome)) in events.iter().zip(&raw).zip(names.iter().zip(&outcomes))
    {
        assert_eq!(event.position as i64, raw.position);
        assert_eq!(
            event.event_id.as_bytes().as_slice(),
            raw.event_id.as_slice()
        );
        assert_eq!(event.occurred_at, raw.occurred_at);
        assert_eq!(event.recorded_at, raw.recorded_at);
        assert_eq!(event.payload, raw.payload);
        assert_eq!(event.metadata, raw.metadata);

        assert_eq!(event.aggregate_type, "Authority");
        assert_eq!(event.aggregate_id, outcome.aggregate_id.to_string());
        assert_eq!(event.event_type, "AuthorityEstablished");
        assert_eq!(event.occurred_at, "2025-04-11T02:30:00.000000Z");
        assert_eq!(event.recorded_at.len(), "2025-04-11T02:30:00.000000Z".len());
        assert!(event.recorded_at.ends_with('Z'));
        assert_eq!(
            event.payload,
            AuthorityEvent::from(established(name)).to_payload()
        );
        let metadata: Metadata = serde_json::from_slice(&event.metadata).unwrap();
        assert_eq!(metadata.actor.principal, "tester");
        assert_eq!(
            metadata.request_id,
            Some(format!("bytes-{}", event.position - 1))
        );
        assert_eq!(metadata.acting_authority_id, Some(outcome.aggregate_id));
    }

    // Windows of the range.
    let window = store.read_range(3, 2).await.unwrap();
    assert_eq!(window, events[2..4].to_vec());
    assert_eq!(store.read_range(0, 1).await.unwrap(), events[..1].to_vec());
    assert!(store.read_range(6, 10).await.unwrap().is_empty());
    let stream = store
        .stream(AggregateKind::Authority, outcomes[0].aggregate_id)
        .await
        .unwrap();
    assert_eq!(stream, events[..1].to_vec());
}

/// Below the command path: whatever bytes an append transaction inserts come back unchanged, even
/// ones that JSONB or a text column would rewrite; idempotency records, tree hashes and checkpoints
/// round-trip too.
async fn the_backend_stores_bytes_exactly(h: &Harness) {
    let backend = h.backend.as_ref();
    let event = StoredEvent {
        position: 1,
        event_id: Uuid::now_v7(),
        aggregate_type: "Authority".to_owned(),
        aggregate_id: Uuid::now_v7().to_string(),
        aggregate_version: 1,
        event_type: "AuthorityEstablished".to_owned(),
        schema_version: 1,
        occurred_at: "2025-04-11T02:30:00.000000Z".to_owned(),
        recorded_at: "2025-04-11T02:30:01.123456Z".to_owned(),
        // Whitespace, key order and a duplicate key: all of which JSONB would normalise away.
        payload: b"{ \"z\": 1,\n  \"a\": \"\\u00e9\", \"a\" : 2 }".to_vec(),
        // Not even UTF-8.
        metadata: vec![0x00, 0xff, 0x7b, 0x80],
    };
    let leaf = leaf_hash(&event.leaf());
    let request = RequestRecord {
        principal: "tester".to_owned(),
        request_id: "raw-1".to_owned(),
        command_hash: vec![7; 32],
        outcome: b"{\"opaque\":true}".to_vec(),
        recorded_at: event.recorded_at.clone(),
    };

    let mut tx = backend.begin_append().await.unwrap();
    assert_eq!(tx.last_position().await.unwrap(), 0);
    assert!(tx.find_request("tester", "raw-1").await.unwrap().is_none());
    tx.insert(
        std::slice::from_ref(&event),
        std::slice::from_ref(&request),
        &[(0, leaf)],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();

    assert_eq!(backend.head().await.unwrap(), 1);
    assert_eq!(
        backend.read_range(1, 10).await.unwrap(),
        vec![event.clone()]
    );
    assert_eq!(
        backend
            .load_stream(&event.aggregate_type, &event.aggregate_id)
            .await
            .unwrap(),
        vec![event.clone()]
    );
    assert!(
        backend
            .stream_exists(&event.aggregate_type, &event.aggregate_id)
            .await
            .unwrap()
    );
    assert!(
        !backend
            .stream_exists("Park", &event.aggregate_id)
            .await
            .unwrap()
    );
    assert_eq!(
        backend.read_tree_hashes(&[0, 1, 2]).await.unwrap(),
        vec![(0, leaf)]
    );
    assert!(backend.read_tree_hashes(&[]).await.unwrap().is_empty());

    // Inside the next append transaction, the same reads see the committed rows.
    let mut tx = backend.begin_append().await.unwrap();
    assert_eq!(tx.last_position().await.unwrap(), 1);
    let found = tx.find_request("tester", "raw-1").await.unwrap().unwrap();
    assert_eq!(
        (found.command_hash, found.outcome, found.recorded_at),
        (
            request.command_hash.clone(),
            request.outcome.clone(),
            request.recorded_at.clone()
        )
    );
    assert!(
        tx.find_request("someone else", "raw-1")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        tx.load_stream(&event.aggregate_type, &event.aggregate_id)
            .await
            .unwrap(),
        vec![event.clone()]
    );
    assert_eq!(tx.read_tree_hashes(&[0]).await.unwrap(), vec![(0, leaf)]);
    drop(tx);

    // Checkpoints: stored once per tree size, the latest by size.
    assert!(backend.checkpoint(None).await.unwrap().is_none());
    let root = Hash::new([1; 32]);
    backend
        .store_checkpoint(1, &leaf, "note one\n", "2025-04-11T02:30:02.000000Z")
        .await
        .unwrap();
    backend
        .store_checkpoint(1, &root, "another note\n", "2025-04-11T02:30:03.000000Z")
        .await
        .unwrap();
    backend
        .store_checkpoint(3, &root, "note three\n", "2025-04-11T02:30:04.000000Z")
        .await
        .unwrap();
    assert_eq!(
        backend.checkpoint(Some(1)).await.unwrap(),
        Some((1, "note one\n".to_owned()))
    );
    assert_eq!(
        backend.checkpoint(None).await.unwrap(),
        Some((3, "note three\n".to_owned()))
    );
    assert!(backend.checkpoint(Some(2)).await.unwrap().is_none());
}

/// A stale expected version is a conflict that appends nothing and records nothing.
async fn a_stale_expected_version_is_a_conflict(h: &Harness) {
    let store = h.store().await;
    let created = store
        .execute::<InfrastructureCompany, _>(
            Target::New,
            Some(0),
            register("Công ty A"),
            context("c1"),
        )
        .await
        .unwrap();
    let id = created.aggregate_id;
    store
        .execute::<InfrastructureCompany, _>(
            Target::Existing(id),
            Some(1),
            rename("Công ty B", 1),
            context("c2"),
        )
        .await
        .unwrap();

    let stale = store
        .execute::<InfrastructureCompany, _>(
            Target::Existing(id),
            Some(1),
            rename("Công ty C", 2),
            context("c3"),
        )
        .await;
    match stale {
        Err(StoreError::Conflict {
            aggregate_type,
            aggregate_id,
            expected,
            actual,
        }) => {
            assert_eq!(aggregate_type, "InfrastructureCompany");
            assert_eq!((aggregate_id, expected, actual), (id, 1, 2));
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(store.head().await.unwrap(), 2);
    assert_eq!(positions(&store).await, one_to(2));

    // The conflict was not recorded: the retry with the fresh version is decided anew.
    let retried = store
        .execute::<InfrastructureCompany, _>(
            Target::Existing(id),
            Some(2),
            rename("Công ty C", 2),
            context("c3"),
        )
        .await
        .unwrap();
    assert!(!retried.replayed);
    assert_eq!((retried.first_position, retried.aggregate_version), (3, 3));
}

/// The same request id with the same command returns the original outcome and appends nothing,
/// within one batch, across batches and across a restart of the store.
async fn the_same_request_replays_its_outcome(h: &Harness) {
    let store = h.store().await;
    let first = establish_new(&store, "Authority A", "r1").await;
    establish_new(&store, "Authority B", "r2").await;

    let again = establish_new(&store, "Authority A", "r1").await;
    assert!(again.replayed);
    assert_eq!(
        again,
        Outcome {
            replayed: true,
            ..first.clone()
        }
    );
    assert_eq!(store.head().await.unwrap(), 2);

    // The record is durable: a new store (as after a restart) replays it too.
    drop(store);
    let store = h.store().await;
    let after_restart = establish_new(&store, "Authority A", "r1").await;
    assert!(after_restart.replayed);
    assert_eq!(after_restart.event_ids, first.event_ids);
    assert_eq!(store.head().await.unwrap(), 2);

    // Two identical requests at once: one appends, the other gets its outcome.
    let (a, b) = tokio::join!(
        establish_new(&store, "Authority C", "r3"),
        establish_new(&store, "Authority C", "r3"),
    );
    assert_eq!(usize::from(a.replayed) + usize::from(b.replayed), 1);
    assert_eq!(
        (a.first_position, a.aggregate_id, &a.event_ids),
        (b.first_position, b.aggregate_id, &b.event_ids)
    );
    assert_eq!(positions(&store).await, one_to(3));
}

/// The same request id with a different command is refused; another principal may use the same id.
async fn a_reused_request_id_is_refused(h: &Harness) {
    let store = h.store().await;
    establish_new(&store, "Authority A", "r1").await;

    let reused = store
        .execute::<Authority, _>(Target::New, None, establish("Authority B"), context("r1"))
        .await;
    match reused {
        Err(StoreError::RequestIdReused { request_id }) => assert_eq!(request_id, "r1"),
        other => panic!("expected the request id to be refused, got {other:?}"),
    }
    // The same command with another expected version is a different command too.
    let reused = store
        .execute::<Authority, _>(
            Target::New,
            Some(0),
            establish("Authority A"),
            context("r1"),
        )
        .await;
    assert!(
        matches!(reused, Err(StoreError::RequestIdReused { .. })),
        "{reused:?}"
    );
    assert_eq!(store.head().await.unwrap(), 1);

    let other = store
        .execute::<Authority, _>(
            Target::New,
            None,
            establish("Authority B"),
            context_of("someone else", "r1"),
        )
        .await
        .unwrap();
    assert!(!other.replayed);
    assert_eq!(positions(&store).await, one_to(2));
}

/// A command the domain rejects appends nothing, records nothing and leaves the tree alone.
async fn a_rejected_command_leaves_the_log_unchanged(h: &Harness) {
    let store = h.store().await;
    let authority = establish_new(&store, "Authority A", "r1").await;
    let company = store
        .execute::<InfrastructureCompany, _>(
            Target::New,
            None,
            register("Công ty A"),
            context("c1"),
        )
        .await
        .unwrap();
    let before = h.raw_events().await;
    let hashes_before = h
        .backend
        .read_tree_hashes(&(0..tree::stored_hash_count(2) + 4).collect::<Vec<_>>())
        .await
        .unwrap();

    let twice = store
        .execute::<Authority, _>(
            Target::Existing(authority.aggregate_id),
            None,
            establish("Authority A"),
            context("r2"),
        )
        .await;
    assert!(
        matches!(
            twice,
            Err(StoreError::Domain(DomainError::AlreadyExists { .. }))
        ),
        "{twice:?}"
    );

    let missing = store
        .execute::<InfrastructureCompany, _>(
            Target::Existing(Uuid::now_v7()),
            None,
            rename("X", 1),
            context("r3"),
        )
        .await;
    assert!(
        matches!(
            missing,
            Err(StoreError::Domain(DomainError::NotFound { .. }))
        ),
        "{missing:?}"
    );

    let unchanged = store
        .execute::<InfrastructureCompany, _>(
            Target::Existing(company.aggregate_id),
            None,
            rename("Công ty A", 1),
            context("r4"),
        )
        .await;
    assert!(
        matches!(
            unchanged,
            Err(StoreError::Domain(DomainError::Rule {
                rule: "nothing_changed",
                ..
            }))
        ),
        "{unchanged:?}"
    );

    assert_eq!(store.head().await.unwrap(), 2);
    assert_eq!(h.raw_events().await, before);
    let hashes_after = h
        .backend
        .read_tree_hashes(&(0..tree::stored_hash_count(2) + 4).collect::<Vec<_>>())
        .await
        .unwrap();
    assert_eq!(hashes_after, hashes_before);

    // Nothing was recorded for the rejected request, so its retry is evaluated again.
    let retried = store
        .execute::<InfrastructureCompany, _>(
            Target::Existing(company.aggregate_id),
            None,
            rename("Công ty B", 1),
            context("r4"),
        )
        .await
        .unwrap();
    assert!(!retried.replayed);
    assert_eq!(retried.first_position, 3);
}

/// 200 commands at once all succeed, in batches (group commit), at positions exactly 1..200.
async fn concurrent_commands_share_one_gap_free_order(h: &Harness) {
    let store = h.store().await;
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .execute::<Authority, _>(
                        Target::New,
                        None,
                        establish(&format!("Authority {i}")),
                        context(&format!("concurrent-{i}")),
                    )
                    .await
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap().unwrap());
    }

    let mut assigned: Vec<u64> = outcomes.iter().map(|o| o.first_position).collect();
    assigned.sort_unstable();
    assert_eq!(assigned, one_to(200));
    let events = store.read_range(1, 1_000).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.position).collect::<Vec<_>>(),
        one_to(200)
    );
    let ids: BTreeSet<Uuid> = events.iter().map(|e| e.event_id).collect();
    let answered: BTreeSet<Uuid> = outcomes.iter().flat_map(|o| o.event_ids.clone()).collect();
    assert_eq!(ids.len(), 200);
    assert_eq!(ids, answered);
    assert_eq!(store.head().await.unwrap(), 200);

    // One batch, one recorded_at: fewer distinct values than commands shows they were batched.
    let batches: BTreeSet<&str> = events.iter().map(|e| e.recorded_at.as_str()).collect();
    assert!(
        batches.len() < 200,
        "200 concurrent commands took {} batches",
        batches.len()
    );
}

/// Checks the stored tree against the reference root over the stored events' leaf hashes.
async fn check_tree(h: &Harness, store: &EventStore) {
    let size = store.head().await.unwrap();
    let events = store.read_range(1, 10_000).await.unwrap();
    assert_eq!(events.len() as u64, size);
    let leaves: Vec<Hash> = events.iter().map(|e| leaf_hash(&e.leaf())).collect();
    let reference = tree::root_of(&leaves);

    let needed = tree::indexes_for_root(size).unwrap();
    let stored: HashMap<u64, Hash> = h
        .backend
        .read_tree_hashes(&needed)
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(
        tree::root(size, &stored).unwrap(),
        reference,
        "root at size {size}"
    );

    // Every stored hash is there, gap-free, and each leaf's is the event's leaf hash.
    let count = tree::stored_hash_count(size);
    let all: HashMap<u64, Hash> = h
        .backend
        .read_tree_hashes(&(0..count + 3).collect::<Vec<_>>())
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(all.len() as u64, count, "stored hashes at size {size}");
    for (i, leaf) in leaves.iter().enumerate() {
        assert_eq!(
            all.get(&tree::leaf_stored_index(i as u64)),
            Some(leaf),
            "leaf {i}"
        );
    }
}

/// After appends in batches of several sizes, the stored tree hashes give the root that RFC 9162's
/// definition gives over the stored events, and the writer published that root.
async fn the_stored_tree_gives_the_reference_root(h: &Harness) {
    let store = h.store().await;
    for i in 0..5 {
        establish_new(&store, &format!("Authority {i}"), &format!("seq-{i}")).await;
        check_tree(h, &store).await;
    }
    let tasks: Vec<_> = (0..37)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                establish_new(&store, &format!("Authority {i}"), &format!("par-{i}")).await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    check_tree(h, &store).await;
    for i in 0..3 {
        establish_new(&store, &format!("Authority {i}"), &format!("late-{i}")).await;
    }
    check_tree(h, &store).await;

    let events = store.read_range(1, 10_000).await.unwrap();
    let leaves: Vec<Hash> = events.iter().map(|e| leaf_hash(&e.leaf())).collect();
    let head = *store.subscribe().borrow();
    assert_eq!(head.size, 45);
    assert_eq!(head.root, Some(tree::root_of(&leaves)));
}

/// UPDATE and DELETE on events fail, and the rows stay as they were.
async fn events_cannot_be_updated_or_deleted(h: &Harness) {
    let store = h.store().await;
    establish_new(&store, "Authority A", "r1").await;
    establish_new(&store, "Authority B", "r2").await;
    let before = h.raw_events().await;

    for sql in [
        "UPDATE events SET payload = metadata WHERE position = 1",
        "UPDATE events SET event_type = 'Tampered'",
        "DELETE FROM events WHERE position = 2",
        "DELETE FROM events",
    ] {
        let refused = h.exec(sql).await;
        let error = refused.expect_err(sql).to_string();
        assert!(error.contains("events are immutable"), "{sql}: {error}");
    }
    assert_eq!(h.raw_events().await, before);
    assert_eq!(store.head().await.unwrap(), 2);
    // The log still appends after the refused writes.
    assert_eq!(
        establish_new(&store, "Authority C", "r3")
            .await
            .first_position,
        3
    );
}

/// An append transaction that is dropped without committing leaves nothing behind and releases the
/// log's lock, so the next batch proceeds at the same position.
async fn an_abandoned_append_rolls_back_and_releases_the_lock(h: &Harness) {
    let event = StoredEvent {
        position: 1,
        event_id: Uuid::now_v7(),
        aggregate_type: "Authority".to_owned(),
        aggregate_id: Uuid::now_v7().to_string(),
        aggregate_version: 1,
        event_type: "AuthorityEstablished".to_owned(),
        schema_version: 1,
        occurred_at: "2025-04-11T02:30:00.000000Z".to_owned(),
        recorded_at: "2025-04-11T02:30:00.000000Z".to_owned(),
        payload: b"{}".to_vec(),
        metadata: b"{}".to_vec(),
    };
    let mut tx = h.backend.begin_append().await.unwrap();
    tx.insert(std::slice::from_ref(&event), &[], &[])
        .await
        .unwrap();
    drop(tx);
    assert_eq!(h.backend.head().await.unwrap(), 0);

    let store = h.store().await;
    let outcome = tokio::time::timeout(
        Duration::from_secs(30),
        establish_new(&store, "Authority A", "r1"),
    )
    .await
    .expect("the log's lock was not released by the abandoned transaction");
    assert_eq!(outcome.first_position, 1);
    assert_eq!(positions(&store).await, one_to(1));
}

/// Registers a company whose name alone makes an event of about `bytes` bytes: the domain's own
/// limit on names is bypassed (`Text::parse` with no maximum) to reach the store's. Each company
/// gets its own enterprise code (from its id), as codes are unique.
fn register_with_name_of(bytes: usize) -> impl Fn(Uuid) -> CompanyCommand + Send + Sync + 'static {
    let name = Text::parse(&"n".repeat(bytes), usize::MAX).unwrap();
    move |company_id| CompanyCommand::Register {
        company_id,
        occurred_at: at(OCCURRED_AT),
        event: CompanyRegistered {
            enterprise_code: EnterpriseCode::parse(&format!(
                "{:010}",
                company_id.as_u128() % 10_000_000_000
            ))
            .unwrap(),
            name: name.clone(),
            address: None,
        },
    }
}

/// A command deciding an event above `MAX_EVENT_BYTES` (payload and metadata) is refused with its
/// size and the limit; nothing of it is stored, the commands sent with it (in its batch) commit, and
/// an event just under the limit is stored whole.
async fn an_event_above_the_size_limit_is_refused_alone(h: &Harness) {
    let store = h.store().await;
    let limit = kcn_eventstore::MAX_EVENT_BYTES;
    let too_large = store.execute::<InfrastructureCompany, _>(
        Target::New,
        None,
        register_with_name_of(limit),
        context("too-large"),
    );
    let (refused, a, b) = tokio::join!(
        too_large,
        establish_new(&store, "Authority A", "a"),
        establish_new(&store, "Authority B", "b"),
    );
    match refused {
        Err(StoreError::EventTooLarge {
            event_type,
            size,
            limit: l,
        }) => {
            assert_eq!(event_type, "CompanyRegistered");
            assert!(size > limit, "{size}");
            assert_eq!(l, limit);
        }
        other => panic!("expected EventTooLarge, got {other:?}"),
    }
    let mut committed = [a.first_position, b.first_position];
    committed.sort_unstable();
    assert_eq!(committed, [1, 2]);
    assert_eq!(positions(&store).await, one_to(2));

    // Just under the limit, with room for the metadata: stored byte for byte.
    let fits = store
        .execute::<InfrastructureCompany, _>(
            Target::New,
            None,
            register_with_name_of(limit - 2_048),
            context("fits"),
        )
        .await
        .unwrap();
    let stored = store.read_range(fits.first_position, 1).await.unwrap();
    assert!(stored[0].payload.len() + stored[0].metadata.len() <= limit);
    assert!(stored[0].payload.len() > limit - 2_048);
    // The refused request id was not recorded: its retry is decided again (and refused again).
    let again = store
        .execute::<InfrastructureCompany, _>(
            Target::New,
            None,
            register_with_name_of(limit),
            context("too-large"),
        )
        .await;
    assert!(
        matches!(again, Err(StoreError::EventTooLarge { .. })),
        "{again:?}"
    );
    assert_eq!(positions(&store).await, one_to(3));
}

/// `read_page` stops before the event that would take the page past its byte budget, always
/// holds the first event, keeps the count limit, and pages through the whole log in order.
async fn a_page_of_the_log_is_bounded_by_bytes(h: &Harness) {
    let store = h.store().await;
    // Ten companies of about 10 KB each, between small authorities.
    for i in 0..10 {
        establish_new(&store, &format!("Authority {i}"), &format!("a{i}")).await;
        store
            .execute::<InfrastructureCompany, _>(
                Target::New,
                None,
                register_with_name_of(10_000),
                context(&format!("c{i}")),
            )
            .await
            .unwrap();
    }
    let all = store.read_range(1, 100).await.unwrap();
    assert_eq!(all.len(), 20);
    let size = |e: &StoredEvent| (e.payload.len() + e.metadata.len()) as u64;

    let page = store.read_page(1, 100, 25_000).await.unwrap();
    let total: u64 = page.iter().map(size).sum();
    let before_last: u64 = page[..page.len() - 1].iter().map(size).sum();
    assert!(before_last < 25_000, "{before_last}");
    assert!(page.len() < 20, "the budget cut the page");
    assert!(
        total >= 25_000,
        "the next event would start past the budget: {total}"
    );
    assert_eq!(page[..], all[..page.len()]);

    // A budget smaller than one event still returns that event.
    let one = store.read_page(2, 100, 1).await.unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0], all[1]);
    // The count limit still holds; beyond the head and past i64 nothing is found.
    assert_eq!(store.read_page(1, 3, u64::MAX).await.unwrap().len(), 3);
    assert!(store.read_page(21, 100, u64::MAX).await.unwrap().is_empty());
    assert!(
        store
            .read_page(u64::MAX, 100, u64::MAX)
            .await
            .unwrap()
            .is_empty()
    );

    // Paging with a small budget visits every event once, in order.
    let mut seen = Vec::new();
    let mut from = 1;
    loop {
        let page = store.read_page(from, 100, 15_000).await.unwrap();
        let Some(last) = page.last() else { break };
        from = last.position + 1;
        assert!(page.iter().map(size).sum::<u64>() <= 15_000 + size(last));
        seen.extend(page);
    }
    assert_eq!(seen, all);
}

/// Ends a transaction behind sqlx's back, as SQLite does itself when a COMMIT fails for a full
/// disk: the raw COMMIT leaves sqlx believing the transaction is open, so the ROLLBACK it sends on
/// drop fails ("no transaction is active") and the connection comes back to the pool at a
/// transaction depth of one.
macro_rules! end_behind_sqlx {
    ($pool:expr, $begin:expr) => {{
        let mut tx = $pool.begin_with($begin).await.expect(
            "a connection of the pool is wedged: it came back to the pool inside a transaction",
        );
        sqlx::query("COMMIT").execute(&mut *tx).await.unwrap();
        drop(tx);
    }};
}

/// After a transaction ended without sqlx knowing (a disk-full COMMIT), the pool never hands out
/// that connection again: every later append begins cleanly, with no restart.
async fn a_connection_whose_transaction_the_database_ended_is_not_reused(h: &Harness) {
    let store = h.store().await;
    establish_new(&store, "Authority A", "r1").await;
    // More rounds than the pool has connections, so that every connection had its turn.
    for _ in 0..12 {
        match &h.db {
            Db::Sqlite { pool, .. } => end_behind_sqlx!(pool, "BEGIN IMMEDIATE"),
            Db::Postgres { pool, .. } => end_behind_sqlx!(pool, "BEGIN"),
        }
    }
    for i in 0..12 {
        let outcome = store
            .execute::<Authority, _>(
                Target::New,
                None,
                establish(&format!("Authority {i}")),
                context(&format!("after-{i}")),
            )
            .await
            .unwrap_or_else(|e| panic!("append {i} after the ended transactions failed: {e}"));
        assert_eq!(outcome.first_position, i + 2);
    }
    assert_eq!(positions(&store).await, one_to(13));
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL only: several processes on one database, and the schema's column types.
// ---------------------------------------------------------------------------------------------

mod postgres_only {
    use super::*;

    /// Two independent stores (two pools, as two server processes would have) on one database, each
    /// firing 100 commands at once: positions are exactly 1..200 and the tree is one tree.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_processes_share_one_gap_free_order() {
        let Some(harness) = Harness::postgres("two_processes_share_one_gap_free_order").await
        else {
            return;
        };
        harness
            .run(|h| async move {
                let Db::Postgres { url, .. } = &h.db else {
                    unreachable!()
                };
                let second = PostgresBackend::connect(url, 8).await.unwrap();
                let second_pool = second.pool().clone();
                let one = h.store().await;
                let two = EventStore::start(
                    Arc::new(second),
                    Arc::new(SystemClock),
                    LegalRules::default(),
                )
                .await
                .unwrap();

                let mut tasks = Vec::new();
                for i in 0..100 {
                    for (process, store) in [("one", &one), ("two", &two)] {
                        let store = store.clone();
                        tasks.push(tokio::spawn(async move {
                            let request = format!("{process}-{i}");
                            (
                                process,
                                establish_new(&store, &format!("Authority {request}"), &request)
                                    .await,
                            )
                        }));
                    }
                }
                let mut by_process: HashMap<&str, Vec<u64>> = HashMap::new();
                for task in tasks {
                    let (process, outcome) = task.await.unwrap();
                    by_process
                        .entry(process)
                        .or_default()
                        .push(outcome.first_position);
                }
                assert_eq!(by_process["one"].len(), 100);
                assert_eq!(by_process["two"].len(), 100);
                let mut assigned: Vec<u64> = by_process.values().flatten().copied().collect();
                assigned.sort_unstable();
                assert_eq!(assigned, one_to(200));
                assert_eq!(positions(&one).await, one_to(200));
                assert_eq!(positions(&two).await, one_to(200));
                // Both writers extended the same tree.
                check_tree(&h, &one).await;

                // The same request at both processes at once is appended once.
                let (a, b) = tokio::join!(
                    establish_new(&one, "Authority shared", "shared"),
                    establish_new(&two, "Authority shared", "shared"),
                );
                assert_eq!(usize::from(a.replayed) + usize::from(b.replayed), 1);
                assert_eq!(
                    (a.first_position, a.event_ids.clone()),
                    (b.first_position, b.event_ids.clone())
                );
                assert_eq!(positions(&one).await, one_to(201));

                drop(two);
                second_pool.close().await;
            })
            .await;
    }

    /// Payload and metadata are BYTEA and the hashed timestamps TEXT; TRUNCATE is refused; the
    /// migrations run again cleanly, beside another crate's, and the pool must allow two connections.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_schema_keeps_bytes_and_text() {
        let Some(harness) = Harness::postgres("the_schema_keeps_bytes_and_text").await else {
            return;
        };
        harness
            .run(|h| async move {
                let Db::Postgres { pool, url, .. } = &h.db else { unreachable!() };
                let columns: HashMap<String, String> = sqlx::query(
                    "SELECT column_name::text, data_type::text FROM information_schema.columns \
                     WHERE table_schema = current_schema() AND table_name = 'events'",
                )
                .fetch_all(pool)
                .await
                .unwrap()
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect();
                for (column, data_type) in [
                    ("position", "bigint"),
                    ("event_id", "bytea"),
                    ("aggregate_version", "bigint"),
                    ("schema_version", "bigint"),
                    ("occurred_at", "text"),
                    ("recorded_at", "text"),
                    ("payload", "bytea"),
                    ("metadata", "bytea"),
                ] {
                    assert_eq!(columns.get(column).map(String::as_str), Some(data_type), "{column}");
                }

                let store = h.store().await;
                establish_new(&store, "Authority A", "r1").await;
                let truncated = h.exec("TRUNCATE events").await;
                let error = truncated.expect_err("TRUNCATE must fail").to_string();
                assert!(error.contains("events are immutable"), "{error}");
                assert_eq!(store.head().await.unwrap(), 1);

                // Another crate's migration (version 1000) in the same table does not stop ours, and
                // running ours again changes nothing.
                sqlx::query(
                    "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
                     VALUES (1000, 'another crate', TRUE, '\\x00', 0)",
                )
                .execute(pool)
                .await
                .unwrap();
                let again = PostgresBackend::connect(url, 2).await.unwrap();
                assert_eq!(again.head().await.unwrap(), 1);
                again.pool().close().await;

                let refused = PostgresBackend::connect(url, 1).await;
                assert!(matches!(refused, Err(StoreError::Internal(_))), "{refused:?}");
            })
            .await;
    }
}
