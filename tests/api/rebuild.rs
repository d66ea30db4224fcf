//! Rebuilding the read models: after a whole story through every service, replaying the log once
//! into a new generation of every read model gives exactly the rows the live engine built, readers
//! never see a partial table while it runs, and the replaced generation is dropped afterwards.

use std::time::Duration;

use kcn_projections::{Engine, ReadDatabase, ReadSide, models};
use sqlx::Row;
use sqlx::sqlite::SqlitePool;

use crate::harness::TestServer;

/// Every row of a table as text, sorted: a stable picture of its content, whatever its columns.
async fn rows(pool: &SqlitePool, table: &str) -> Vec<String> {
    let columns: Vec<String> =
        sqlx::query(sqlx::AssertSqlSafe(format!("PRAGMA table_info({table})")))
            .fetch_all(pool)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<String, _>("name"))
            .collect();
    if columns.is_empty() {
        return Vec::new();
    }
    let select = columns
        .iter()
        .map(|c| format!("quote(\"{c}\")"))
        .collect::<Vec<_>>()
        .join(" || '|' || ");
    let mut out: Vec<String> =
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT {select} FROM {table}")))
            .fetch_all(pool)
            .await
            .unwrap();
    out.sort();
    out
}

async fn table_exists(pool: &SqlitePool, table: &str) -> bool {
    sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM sqlite_master WHERE name = ?1")
        .bind(table)
        .fetch_one(pool)
        .await
        .unwrap()
        == 1
}

#[tokio::test]
async fn a_rebuild_of_every_read_model_equals_what_the_live_engine_built() {
    let server = TestServer::start().await;
    server.clock.set(crate::harness::at("2026-02-01T00:00:00Z"));
    crate::schema::drive_everything(&server).await;
    // Every read model, the timeline included, reaches the head before the server stops: the
    // comparison below needs the live timeline complete (with fast RPCs the story can end well
    // ahead of the projectors).
    let caught_up = crate::harness::wait_until(std::time::Duration::from_secs(30), || async {
        let all = server
            .audit()
            .get_projection_status(kcn_services::proto::GetProjectionStatusRequest {})
            .await
            .unwrap()
            .into_inner()
            .projections;
        !all.is_empty() && all.iter().all(|p| p.error.is_empty() && p.lag == 0)
    })
    .await;
    assert!(caught_up, "the read models did not reach the head");
    let dir = server.stop().await;

    let path = dir.path().join("kcn-ledger.sqlite");
    let backend =
        kcn_eventstore::SqliteBackend::open(&path, kcn_eventstore::SqliteDurability::Full)
            .await
            .unwrap();
    let db = ReadDatabase::from(&backend);
    // The read models' own file (ADR 12).
    let pool = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        kcn_projections::read_file(&path).display()
    ))
    .await
    .unwrap();
    let log: std::sync::Arc<dyn kcn_eventstore::Backend> = std::sync::Arc::new(backend);
    let engine = Engine::open(&db, log.clone(), models::all()).await.unwrap();
    // The live engine may have stopped a step short of the head when the server stopped.
    engine.catch_up().await.unwrap();
    let head = log.head().await.unwrap();

    let mut before = Vec::new();
    for model in models::all() {
        let live = engine.generation(model.name()).await.unwrap();
        let mut tables = Vec::new();
        for t in model.tables() {
            tables.push(rows(&pool, &live.table(t)).await);
        }
        before.push((model.name(), live, tables));
    }
    // While the rebuild runs, readers keep seeing the whole live timeline.
    let read = ReadSide::over(engine.clone());
    let live_timeline = read.timeline().snapshot().await.unwrap();
    assert!(
        !live_timeline.entries.is_empty(),
        "the story has a timeline"
    );
    let watching = {
        let read = read.clone();
        let expected = live_timeline.entries.len();
        tokio::spawn(async move {
            let mut looks = 0;
            loop {
                let seen = read.timeline().snapshot().await.unwrap();
                assert_eq!(
                    seen.entries.len(),
                    expected,
                    "a reader saw a partial timeline"
                );
                looks += 1;
                if looks >= 100 {
                    return looks;
                }
                tokio::task::yield_now().await;
            }
        })
    };
    let rebuilt = engine.rebuild(&[], &|_, _| {}).await.unwrap();
    assert!(watching.await.unwrap() >= 100);
    assert_eq!(rebuilt.len(), before.len(), "every model was rebuilt");

    let mut compared = 0;
    for ((name, live, tables), r) in before.iter().zip(&rebuilt) {
        assert_eq!(*name, r.name);
        assert_eq!(r.previous, *live);
        assert_eq!(r.position, head, "{name} was switched at the head");
        let model = models::all()
            .into_iter()
            .find(|m| m.name() == *name)
            .unwrap();
        let new = engine.generation(name).await.unwrap();
        assert_eq!(new.0, live.0 + 1);
        for (t, old_rows) in model.tables().iter().zip(tables) {
            let new_rows = rows(&pool, &new.table(t)).await;
            assert_eq!(
                &new_rows, old_rows,
                "{name}: table {t} differs after a rebuild"
            );
            compared += new_rows.len();
        }
    }
    assert!(compared > 0, "the story filled the read models");
    assert_eq!(read.timeline().snapshot().await.unwrap(), live_timeline);
    for s in engine.status().await.unwrap() {
        assert_eq!(s.position, head, "{}", s.name);
        assert_eq!(s.error, None);
    }

    // The retired generations stay for their grace period, then go.
    let (name, live, _) = &before[0];
    let model = models::all()
        .into_iter()
        .find(|m| m.name() == *name)
        .unwrap();
    let old_table = live.table(model.tables()[0]);
    assert!(table_exists(&pool, &old_table).await);
    assert_eq!(
        engine
            .drop_retired(Duration::from_secs(3600))
            .await
            .unwrap(),
        0
    );
    assert!(table_exists(&pool, &old_table).await);
    assert_eq!(
        engine.drop_retired(Duration::ZERO).await.unwrap(),
        before.len()
    );
    assert!(!table_exists(&pool, &old_table).await);
}
