//! The audit read models' runner on both backends: a model is fed exactly once, and a rebuild
//! replays the log into a new generation while the current one keeps answering, then switches.
//!
//! PostgreSQL needs `KCN_TEST_DATABASE_URL`; without it the PostgreSQL test fails, unless
//! `KCN_TEST_SKIP_POSTGRES=1`, which skips it with a printed note.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use chrono::NaiveDate;
use kcn_domain::LegalRules;
use kcn_domain::authority::{Authority, AuthorityCommand, AuthorityEstablished, AuthorityKind};
use kcn_domain::time::SystemClock;
use kcn_domain::values::Text;
use kcn_eventstore::{
    Actor, Backend, CommandContext, EventStore, PostgresBackend, SqliteBackend, SqliteDurability,
    StoredEvent, Target,
};
use kcn_projections::ProjectionError;
use kcn_projections::ReadDatabase;
use kcn_projections::audit_runner::{AuditModels, catch_up};
use kcn_projections::models::{Generation, ReadModel, sql};
use sqlx::{AnyConnection, AnyPool, ConnectOptions as _, Connection as _};

/// A model that counts events per type: simple enough that its right answer is obvious.
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
        events: &[StoredEvent],
    ) -> Result<(), ProjectionError> {
        for e in events {
            sqlx::query(sql(format!(
                "INSERT INTO {} (event_type, n) VALUES ($1, 1) ON CONFLICT (event_type) DO UPDATE SET n = {}.n + 1",
                g.table("test_counts"),
                g.table("test_counts")
            )))
            .bind(&e.event_type)
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }
}

async fn count(pool: &AnyPool, g: &Generation) -> i64 {
    sqlx::query_scalar(sql(format!(
        "SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM {}",
        g.table("test_counts")
    )))
    .fetch_one(pool)
    .await
    .unwrap()
}

static SEQ: AtomicU64 = AtomicU64::new(0);

async fn append(store: &EventStore, n: usize) {
    for _ in 0..n {
        let i = SEQ.fetch_add(1, Ordering::Relaxed);
        let context = CommandContext {
            actor: Actor {
                principal: "test".into(),
                organisation: None,
                role: None,
                authentication: "local_principal".into(),
            },
            request_id: format!("r-{i}-{}", uuid::Uuid::now_v7()),
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
                    occurred_at: "2025-04-01T00:00:00Z".parse().unwrap(),
                    event: AuthorityEstablished {
                        name: Text::name(&format!("Board {i}")).unwrap(),
                        kind: AuthorityKind::IndustrialParksBoard,
                        jurisdiction: Text::name("Bình Dương").unwrap(),
                        decision_no: Text::name("QĐ-1").unwrap(),
                        effective_from: NaiveDate::from_ymd_opt(2006, 1, 1).unwrap(),
                    },
                },
                context,
            )
            .await
            .unwrap();
    }
}

async fn exercise(backend: Arc<dyn Backend>, db: ReadDatabase) {
    db.migrate().await.unwrap();
    let store = EventStore::start(
        backend.clone(),
        Arc::new(SystemClock),
        LegalRules::default(),
    )
    .await
    .unwrap();
    append(&store, 30).await;
    let models = AuditModels::open(&db, vec![Arc::new(Counts)])
        .await
        .unwrap();
    catch_up(&models, backend.as_ref()).await.unwrap();
    let g1 = models.generation("test_counts").await.unwrap();
    assert_eq!(g1, Generation(1));
    assert_eq!(count(models.pool(), &g1).await, 30);
    // A second catch-up applies nothing twice.
    catch_up(&models, backend.as_ref()).await.unwrap();
    assert_eq!(count(models.pool(), &g1).await, 30);

    // Rebuild while appends go on: the old generation keeps its rows until the switch.
    let writer = {
        let store = store.clone();
        tokio::spawn(async move { append(&store, 20).await })
    };
    let seen_old = Arc::new(AtomicU64::new(0));
    let seen = seen_old.clone();
    let pool = models.pool().clone();
    let during = move |_done: u64, _head: u64| {
        seen.fetch_add(1, Ordering::Relaxed);
        let _ = &pool;
    };
    let rebuilt = models
        .rebuild(backend.as_ref(), "test_counts", &during)
        .await
        .unwrap();
    writer.await.unwrap();
    assert!(
        seen_old.load(Ordering::Relaxed) >= 1,
        "progress was reported"
    );
    assert_eq!(rebuilt.previous, Generation(1));
    let g2 = models.generation("test_counts").await.unwrap();
    assert_eq!(g2, Generation(2));
    // The old generation still answers (it stopped at the switch) until it is dropped.
    assert!(count(models.pool(), &g1).await >= 30);
    catch_up(&models, backend.as_ref()).await.unwrap();
    assert_eq!(
        count(models.pool(), &g2).await,
        50,
        "every event once in the new generation"
    );
    let status = models.status(backend.head().await.unwrap()).await.unwrap();
    assert_eq!(status[0].position, 50);
    models.drop_generation("test_counts", &g1).await.unwrap();
    assert!(
        models.drop_generation("test_counts", &g2).await.is_err(),
        "the current generation stays"
    );
}

#[tokio::test]
async fn a_rebuild_switches_generations_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let backend = SqliteBackend::open(&dir.path().join("log.sqlite"), SqliteDurability::Full)
        .await
        .unwrap();
    let db = ReadDatabase::from(&backend);
    exercise(Arc::new(backend), db).await;
}

#[tokio::test]
async fn a_rebuild_switches_generations_on_postgres() {
    let Some(server) = std::env::var("KCN_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        if std::env::var("KCN_TEST_SKIP_POSTGRES").as_deref() == Ok("1") {
            eprintln!("note: skipping the PostgreSQL runner test: KCN_TEST_SKIP_POSTGRES=1");
            return;
        }
        panic!(
            "KCN_TEST_DATABASE_URL is not set (set KCN_TEST_SKIP_POSTGRES=1 to skip PostgreSQL deliberately)"
        );
    };
    let name = format!("kcn_test_{}", uuid::Uuid::now_v7().simple());
    let mut admin = sqlx::postgres::PgConnectOptions::from_str(&server)
        .unwrap()
        .connect()
        .await
        .unwrap();
    sqlx::query(sql(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .unwrap();
    let url = sqlx::postgres::PgConnectOptions::from_str(&server)
        .unwrap()
        .database(&name)
        .to_url_lossy()
        .to_string();
    let result = tokio::spawn(async move {
        let backend = PostgresBackend::connect(&url, 4).await.unwrap();
        let db = ReadDatabase::from(&backend);
        exercise(Arc::new(backend), db).await;
    })
    .await;
    let _ = sqlx::query(sql(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
        .execute(&mut admin)
        .await;
    let _ = admin.close().await;
    result.unwrap();
}

/// Appends an event whose payload is not JSON, behind the command path (as someone with the
/// database file could), with its tree hashes so the log stays consistent.
async fn append_unreadable(backend: &dyn Backend) -> u64 {
    use std::collections::HashMap;

    use kcn_integrity::{Hash, leaf::leaf_hash, tree};
    let mut tx = backend.begin_append().await.unwrap();
    let old = tx.last_position().await.unwrap();
    let event = StoredEvent {
        position: old + 1,
        event_id: uuid::Uuid::now_v7(),
        aggregate_type: "Park".into(),
        aggregate_id: uuid::Uuid::now_v7().to_string(),
        aggregate_version: 1,
        event_type: "ParkRegistered".into(),
        schema_version: 1,
        occurred_at: "2025-05-01T00:00:00.000000Z".into(),
        recorded_at: "2026-01-01T00:00:00.000000Z".into(),
        payload: b"not json".to_vec(),
        metadata: b"{}".to_vec(),
    };
    let needed = tree::indexes_for_append(old).unwrap();
    let stored: HashMap<u64, Hash> = tx
        .read_tree_hashes(&needed)
        .await
        .unwrap()
        .into_iter()
        .collect();
    let appended = tree::append(old, &[leaf_hash(&event.leaf())], &stored).unwrap();
    tx.insert(std::slice::from_ref(&event), &[], &appended.hashes)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    event.position
}

#[tokio::test]
async fn a_projector_stops_exactly_before_an_event_it_cannot_apply_in_the_middle_of_a_batch() {
    let dir = tempfile::tempdir().unwrap();
    let backend = SqliteBackend::open(&dir.path().join("log.sqlite"), SqliteDurability::Full)
        .await
        .unwrap();
    let db = ReadDatabase::from(&backend);
    db.migrate().await.unwrap();
    let log: Arc<dyn Backend> = Arc::new(backend);
    let store = EventStore::start(log.clone(), Arc::new(SystemClock), LegalRules::default())
        .await
        .unwrap();
    append(&store, 5).await;
    let bad = append_unreadable(log.as_ref()).await;
    append(&store, 5).await;
    // One batch would hold all eleven events; the timeline must still stop at bad - 1.
    let err = kcn_projections::catch_up(log.as_ref(), &db)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains(&format!("position {bad}")),
        "{err}"
    );
    assert_eq!(
        kcn_projections::snapshot(&db).await.unwrap().position,
        bad - 1
    );
    // So must an audit read model that cannot read it (this one reads every payload).
    #[derive(Debug)]
    struct Strict;
    #[async_trait]
    impl ReadModel for Strict {
        fn name(&self) -> &'static str {
            "test_strict"
        }
        fn tables(&self) -> &'static [&'static str] {
            &[]
        }
        fn create(&self, _g: &Generation) -> Vec<String> {
            Vec::new()
        }
        async fn apply(
            &self,
            _conn: &mut AnyConnection,
            _g: &Generation,
            events: &[StoredEvent],
        ) -> Result<(), ProjectionError> {
            for e in events {
                kcn_projections::models::payload(e)?;
            }
            Ok(())
        }
    }
    let models = AuditModels::open(&db, vec![Arc::new(Strict)])
        .await
        .unwrap();
    assert!(catch_up(&models, log.as_ref()).await.is_err());
    let status = models.status(log.head().await.unwrap()).await.unwrap();
    assert_eq!(status[0].position, bad - 1);
}
