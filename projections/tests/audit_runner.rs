//! The one engine on both backends, with test models simple enough that their right answers are
//! obvious: every event is applied once, a rebuild replays the log into a new generation while the
//! current one keeps answering and then switches, and a model that cannot apply an event (one the
//! engine cannot decode, a statement the database refuses, a panic) stops exactly before it, says so
//! in the status, and never skips it, while the other models go on to the head.
//!
//! PostgreSQL needs `KCN_TEST_DATABASE_URL`; without it the PostgreSQL tests fail, unless
//! `KCN_TEST_SKIP_POSTGRES=1`, which skips them with a printed note.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use kcn_domain::authority::{
    Authority, AuthorityCommand, AuthorityEstablished, AuthorityEvent, AuthorityKind,
};
use kcn_domain::values::Text;
use kcn_domain::{AggregateKind, Event, LegalRules};
use kcn_eventstore::SystemClock;
use kcn_eventstore::{Actor, Backend, CommandContext, EventStore, Target};
use kcn_projections::models::{self, Envelope, Generation, ReadModel};
use kcn_projections::{Engine, ProjectionError, ReadDatabase};
use kcn_testkit::{Fixtures, TestDatabase};
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyConnection, AnyPool, AssertSqlSafe};
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// Test models.
// ---------------------------------------------------------------------------------------------

/// Counts events per type.
#[derive(Debug)]
struct Counts;

#[async_trait]
impl ReadModel for Counts {
    fn name(&self) -> &'static str {
        "test_counts"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["test_counts"]
    }

    fn create(&self, g: &Generation) -> Vec<String> {
        vec![format!(
            "CREATE TABLE IF NOT EXISTS {} (event_type TEXT PRIMARY KEY NOT NULL, n BIGINT NOT NULL)",
            g.table("test_counts")
        )]
    }

    async fn apply(
        &self,
        conn: &mut AnyConnection,
        g: &Generation,
        events: &[Envelope],
    ) -> Result<(), ProjectionError> {
        let table = g.table("test_counts");
        for e in events {
            sqlx::query(AssertSqlSafe(format!(
                "INSERT INTO {table} (event_type, n) VALUES ($1, 1) \
                 ON CONFLICT (event_type) DO UPDATE SET n = {table}.n + 1"
            )))
            .bind(e.event.event_type())
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }
}

/// [`Counts`] as a later version of its code would be: the same name and tables, another version.
#[derive(Debug)]
struct CountsV2;

#[async_trait]
impl ReadModel for CountsV2 {
    fn name(&self) -> &'static str {
        Counts.name()
    }

    fn version(&self) -> u32 {
        2
    }

    fn tables(&self) -> &'static [&'static str] {
        Counts.tables()
    }

    fn create(&self, g: &Generation) -> Vec<String> {
        Counts.create(g)
    }

    async fn apply(
        &self,
        conn: &mut AnyConnection,
        g: &Generation,
        events: &[Envelope],
    ) -> Result<(), ProjectionError> {
        Counts.apply(conn, g, events).await
    }
}

/// The name of an established authority, if the event is one.
fn established(e: &Envelope) -> Option<&str> {
    match &e.event {
        Event::Authority(AuthorityEvent::AuthorityEstablished(a)) => Some(a.name.as_str()),
        _ => None,
    }
}

/// The name of an authority that [`Fussy`]'s table refuses.
const REFUSED: &str = "Board refused";
/// The name of an authority that makes [`Panicky`] panic.
const BOOM: &str = "Board boom";

/// Keeps every authority's name in a table whose CHECK refuses [`REFUSED`]: the database refuses
/// the statement, in the middle of the engine's transaction.
#[derive(Debug)]
struct Fussy;

#[async_trait]
impl ReadModel for Fussy {
    fn name(&self) -> &'static str {
        "test_fussy"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["test_fussy"]
    }

    fn create(&self, g: &Generation) -> Vec<String> {
        vec![format!(
            "CREATE TABLE IF NOT EXISTS {} (position BIGINT PRIMARY KEY NOT NULL, \
             name TEXT NOT NULL CHECK (name <> '{REFUSED}'))",
            g.table("test_fussy")
        )]
    }

    async fn apply(
        &self,
        conn: &mut AnyConnection,
        g: &Generation,
        events: &[Envelope],
    ) -> Result<(), ProjectionError> {
        for e in events {
            if let Some(name) = established(e) {
                sqlx::query(AssertSqlSafe(format!(
                    "INSERT INTO {} (position, name) VALUES ($1, $2)",
                    g.table("test_fussy")
                )))
                .bind(e.position_i64())
                .bind(name)
                .execute(&mut *conn)
                .await?;
            }
        }
        Ok(())
    }
}

/// Keeps the position of every event it applied, and panics at [`BOOM`].
#[derive(Debug)]
struct Panicky;

#[async_trait]
impl ReadModel for Panicky {
    fn name(&self) -> &'static str {
        "test_panicky"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["test_panicky"]
    }

    fn create(&self, g: &Generation) -> Vec<String> {
        vec![format!(
            "CREATE TABLE IF NOT EXISTS {} (position BIGINT PRIMARY KEY NOT NULL)",
            g.table("test_panicky")
        )]
    }

    async fn apply(
        &self,
        conn: &mut AnyConnection,
        g: &Generation,
        events: &[Envelope],
    ) -> Result<(), ProjectionError> {
        for e in events {
            sqlx::query(AssertSqlSafe(format!(
                "INSERT INTO {} (position) VALUES ($1)",
                g.table("test_panicky")
            )))
            .bind(e.position_i64())
            .execute(&mut *conn)
            .await?;
            assert!(
                established(e) != Some(BOOM),
                "the test model cannot bear {BOOM:?}"
            );
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Databases, fixtures and commands.
// ---------------------------------------------------------------------------------------------

/// The log and read models of `db`, and a pool of the test's own on the read models' tables.
async fn open(db: &TestDatabase) -> (Arc<dyn Backend>, ReadDatabase, AnyPool) {
    let (log, read_db) = common::open(db).await;
    sqlx::any::install_default_drivers();
    // The read models' own database: on SQLite a file beside the log's (ADR 12).
    let pool = AnyPoolOptions::new()
        .max_connections(2)
        .connect(read_db.url())
        .await
        .unwrap();
    (log, read_db, pool)
}

/// The rows of one generation of a test model's table.
async fn rows(pool: &AnyPool, table: &str, g: &Generation) -> Result<i64, sqlx::Error> {
    let sum = if table == "test_counts" {
        "CAST(COALESCE(SUM(n), 0) AS BIGINT)"
    } else {
        "CAST(COUNT(*) AS BIGINT)"
    };
    sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT {sum} FROM {}",
        g.table(table)
    )))
    .fetch_one(pool)
    .await
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn authority(name: &str) -> AuthorityEstablished {
    AuthorityEstablished {
        name: Text::name(name).unwrap(),
        kind: AuthorityKind::IndustrialParksBoard,
        jurisdiction: Text::name("Bình Dương").unwrap(),
        decision_no: Text::name("QĐ-1").unwrap(),
        effective_from: NaiveDate::from_ymd_opt(2006, 1, 1).unwrap(),
    }
}

/// Adds one new authority per name.
fn establish_all(log: &mut Fixtures, names: &[&str]) {
    for name in names {
        log.event(
            Uuid::now_v7(),
            at("2025-04-01T00:00:00Z"),
            AuthorityEvent::from(authority(name)),
        );
    }
}

static SEQ: AtomicU64 = AtomicU64::new(0);

/// Establishes `n` authorities through the command path, one command each.
async fn append(store: &EventStore, n: usize) {
    for _ in 0..n {
        let i = SEQ.fetch_add(1, Ordering::Relaxed);
        let context = CommandContext {
            scope: Default::default(),
            occurred_at: None,
            actor: Actor {
                principal: "test".into(),
                organisation: None,
                role: None,
                authentication: "local_principal".into(),
            },
            request_id: format!("r-{i}-{}", Uuid::now_v7()),
            correlation_id: None,
            causation_id: None,
            source: None,
        };
        store
            .execute::<Authority, _>(
                Target::New,
                None,
                move |authority_id| AuthorityCommand::Establish {
                    authority_id,
                    occurred_at: at("2025-04-01T00:00:00Z"),
                    event: authority(&format!("Board {i}")),
                },
                context,
            )
            .await
            .unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// The scenarios, each on both backends.
// ---------------------------------------------------------------------------------------------

/// Every event once; a rebuild while appends go on replays into generation 2 beside generation 1,
/// which keeps its rows until the switch and until it is dropped after its grace period.
async fn a_rebuild_switches_generations(db: TestDatabase) {
    let (log, read_db, pool) = open(&db).await;
    let store = EventStore::start(log.clone(), Arc::new(SystemClock), LegalRules::default())
        .await
        .unwrap();
    append(&store, 30).await;
    let engine = Engine::open(&read_db, log.clone(), vec![Arc::new(Counts)])
        .await
        .unwrap();
    assert_eq!(engine.catch_up().await.unwrap()["test_counts"], 30);
    let g1 = engine.generation("test_counts").await.unwrap();
    assert_eq!(g1, Generation(1));
    assert_eq!(rows(&pool, "test_counts", &g1).await.unwrap(), 30);
    // A second catch-up applies nothing twice.
    engine.catch_up().await.unwrap();
    assert_eq!(rows(&pool, "test_counts", &g1).await.unwrap(), 30);
    assert_eq!(engine.checkpoint("test_counts").await.unwrap(), (30, 30));

    // Rebuild while appends go on.
    let writer = {
        let store = store.clone();
        tokio::spawn(async move { append(&store, 20).await })
    };
    let reported = AtomicU64::new(0);
    let rebuilt = engine
        .rebuild(&["test_counts"], &|_done, _head| {
            reported.fetch_add(1, Ordering::Relaxed);
        })
        .await
        .unwrap();
    writer.await.unwrap();
    assert!(
        reported.load(Ordering::Relaxed) >= 1,
        "progress was reported"
    );
    assert_eq!(rebuilt.len(), 1);
    assert_eq!(
        (
            rebuilt[0].name,
            &rebuilt[0].previous,
            &rebuilt[0].generation
        ),
        ("test_counts", &Generation(1), &Generation(2))
    );
    let g2 = engine.generation("test_counts").await.unwrap();
    assert_eq!(g2, Generation(2));
    // The old generation still answers (it stopped at the switch) until it is dropped.
    assert!(rows(&pool, "test_counts", &g1).await.unwrap() >= 30);
    engine.catch_up().await.unwrap();
    assert_eq!(
        rows(&pool, "test_counts", &g2).await.unwrap(),
        50,
        "every event once in the new generation"
    );
    assert_eq!(engine.checkpoint("test_counts").await.unwrap(), (50, 50));
    let status = engine.status().await.unwrap();
    assert_eq!(
        (status[0].position, status[0].log_head, status[0].generation),
        (50, 50, 2)
    );

    // Within its grace period the retired generation stays; after it, it is dropped, and only it.
    assert_eq!(
        engine
            .drop_retired(Duration::from_secs(3600))
            .await
            .unwrap(),
        0
    );
    assert!(rows(&pool, "test_counts", &g1).await.is_ok());
    assert_eq!(engine.drop_retired(Duration::ZERO).await.unwrap(), 1);
    assert!(
        rows(&pool, "test_counts", &g1).await.is_err(),
        "generation 1's table is gone"
    );
    assert_eq!(engine.drop_retired(Duration::ZERO).await.unwrap(), 0);
    assert_eq!(
        rows(&pool, "test_counts", &g2).await.unwrap(),
        50,
        "the current generation stays"
    );
}

/// An event no read model can read (its payload is not JSON), in the middle of one batch: every
/// model stops exactly before it, says why, and stays there.
async fn every_model_stops_exactly_before_an_event_that_cannot_be_decoded(db: TestDatabase) {
    let (log, read_db, pool) = open(&db).await;
    let mut fixtures = Fixtures::new();
    establish_all(
        &mut fixtures,
        &["Board 1", "Board 2", "Board 3", "Board 4", "Board 5"],
    );
    fixtures.raw_payload(
        AggregateKind::Park,
        Uuid::now_v7(),
        "ParkRegistered",
        1,
        at("2025-05-01T00:00:00Z"),
        b"not json".to_vec(),
    );
    establish_all(
        &mut fixtures,
        &["Board 6", "Board 7", "Board 8", "Board 9", "Board 10"],
    );
    let positions = fixtures.append_to(log.as_ref()).await.unwrap();
    let bad = positions[5];

    let mut all = models::all();
    all.push(Arc::new(Counts));
    let engine = Engine::open(&read_db, log.clone(), all).await.unwrap();
    // One batch holds all eleven events; every model must still stop at bad - 1.
    for _ in 0..2 {
        let reached = engine.catch_up().await.unwrap();
        assert!(reached.values().all(|p| *p == bad - 1), "{reached:?}");
    }
    for s in engine.status().await.unwrap() {
        assert_eq!(
            (s.position, s.error_position),
            (bad - 1, Some(bad)),
            "{s:?}"
        );
        let error = s.error.unwrap_or_default();
        assert!(
            error.contains(&format!("position {bad}")) && error.contains("cannot decode"),
            "{}: {error}",
            s.name
        );
    }
    let g = engine.generation("test_counts").await.unwrap();
    assert_eq!(rows(&pool, "test_counts", &g).await.unwrap(), 5);
    assert_eq!(
        engine.checkpoint("test_counts").await.unwrap(),
        (bad - 1, bad - 1)
    );
}

/// In one batch, a model whose statement the database refuses and a model that panics each stop
/// exactly before their event, with nothing of that batch half-applied; the status says why; a
/// query waiting beyond says the model stopped; a retry does not skip; and the other models go on
/// to the head.
async fn a_failing_or_panicking_model_stops_before_its_event_and_the_others_go_on(
    db: TestDatabase,
) {
    let (log, read_db, pool) = open(&db).await;
    let mut fixtures = Fixtures::new();
    establish_all(
        &mut fixtures,
        &[
            "Board 1", "Board 2", "Board 3", REFUSED, "Board 5", BOOM, "Board 7", "Board 8",
        ],
    );
    let positions = fixtures.append_to(log.as_ref()).await.unwrap();
    let (refused, boom, head) = (positions[3], positions[5], positions[7]);

    let mut all = models::all();
    all.extend([
        Arc::new(Counts) as Arc<dyn ReadModel>,
        Arc::new(Fussy),
        Arc::new(Panicky),
    ]);
    let engine = Engine::open(&read_db, log.clone(), all).await.unwrap();
    for attempt in 0..2 {
        let reached = engine.catch_up().await.unwrap();
        for (name, position) in &reached {
            let expected = match *name {
                "test_fussy" => refused - 1,
                "test_panicky" => boom - 1,
                _ => head,
            };
            assert_eq!(*position, expected, "{name}, attempt {attempt}");
        }
    }
    let status = engine.status().await.unwrap();
    let of = |name: &str| status.iter().find(|s| s.name == name).unwrap().clone();
    let fussy = of("test_fussy");
    assert_eq!(
        (fussy.position, fussy.error_position),
        (refused - 1, Some(refused))
    );
    assert!(
        fussy
            .error
            .as_deref()
            .is_some_and(|e| e.contains(&format!("position {refused}"))),
        "{fussy:?}"
    );
    let panicky = of("test_panicky");
    assert_eq!(
        (panicky.position, panicky.error_position),
        (boom - 1, Some(boom))
    );
    assert!(
        panicky
            .error
            .as_deref()
            .is_some_and(|e| e.contains("panicked") && e.contains(BOOM)),
        "{panicky:?}"
    );
    for s in status
        .iter()
        .filter(|s| s.name != "test_fussy" && s.name != "test_panicky")
    {
        assert_eq!((s.position, &s.error), (head, &None), "{s:?}");
        assert_eq!(engine.checkpoint(&s.name).await.unwrap(), (head, head));
    }
    // Exactly the events before each stop were applied, each once.
    let g = Generation(1);
    assert_eq!(rows(&pool, "test_fussy", &g).await.unwrap(), 3);
    assert_eq!(rows(&pool, "test_panicky", &g).await.unwrap(), 5);
    assert_eq!(rows(&pool, "test_counts", &g).await.unwrap(), 8);
    assert_eq!(
        engine.checkpoint("test_fussy").await.unwrap(),
        (refused - 1, refused - 1)
    );
    assert_eq!(
        engine.checkpoint("test_panicky").await.unwrap(),
        (boom - 1, boom - 1)
    );
    // Waiting for the head is pointless for a stopped model, and it is told so at once.
    let waited = engine
        .wait_for("test_panicky", head, Duration::from_secs(30))
        .await
        .unwrap_err();
    assert!(
        matches!(waited, ProjectionError::Stopped { at, .. } if at == boom - 1),
        "{waited}"
    );
    engine
        .wait_for("test_counts", head, Duration::from_secs(30))
        .await
        .unwrap();
}

macro_rules! on_both_backends {
    ($($scenario:ident),+ $(,)?) => {$(
        mod $scenario {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_sqlite() {
                super::$scenario(kcn_testkit::TestDatabase::sqlite()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_postgres() {
                if let Some(db) = kcn_testkit::TestDatabase::postgres(stringify!($scenario)).await {
                    super::$scenario(db).await;
                }
            }
        }
    )+};
}

on_both_backends!(
    a_rebuild_switches_generations,
    every_model_stops_exactly_before_an_event_that_cannot_be_decoded,
    a_failing_or_panicking_model_stops_before_its_event_and_the_others_go_on,
    a_model_built_by_another_version_is_rebuilt_beside_the_live_one,
);

async fn a_model_built_by_another_version_is_rebuilt_beside_the_live_one(db: TestDatabase) {
    let (log, read_db, pool) = open(&db).await;
    let store = EventStore::start(log.clone(), Arc::new(SystemClock), LegalRules::default())
        .await
        .unwrap();
    append(&store, 12).await;
    let v1 = Engine::open(&read_db, log.clone(), vec![Arc::new(Counts)])
        .await
        .unwrap();
    v1.catch_up().await.unwrap();
    assert!(
        v1.rebuild_outdated().await.unwrap().is_empty(),
        "version 1 is current"
    );
    // The upgraded code opens the same database: its model is rebuilt into generation 2.
    let v2 = Engine::open(&read_db, log.clone(), vec![Arc::new(CountsV2)])
        .await
        .unwrap();
    let rebuilt = v2.rebuild_outdated().await.unwrap();
    assert_eq!(rebuilt.len(), 1);
    assert_eq!(rebuilt[0].generation, Generation(2));
    let status = v2.status().await.unwrap();
    assert_eq!(
        (status[0].version, status[0].generation, status[0].position),
        (2, 2, 12)
    );
    assert_eq!(
        rows(&pool, "test_counts", &Generation(2)).await.unwrap(),
        12
    );
    assert!(
        v2.rebuild_outdated().await.unwrap().is_empty(),
        "once is enough"
    );
}
