//! Rebuilding the read models: after a whole story through every service, replaying the log into a
//! new generation of every audit read model gives exactly the rows the live projectors built, and the
//! timeline rebuilt beside the live one equals it, readers never seeing a partial timeline.

use kcn_projections::ReadDatabase;
use kcn_projections::audit_runner::{AuditModels, catch_up};
use kcn_projections::models::{self, Generation, sql};
use sqlx::Row;
use sqlx::sqlite::SqlitePool;

use crate::harness::TestServer;

/// Every row of a table as text, sorted: a stable picture of its content, whatever its columns.
async fn rows(pool: &SqlitePool, table: &str) -> Vec<String> {
    let columns: Vec<String> = sqlx::query(sql(format!("PRAGMA table_info({table})")))
        .fetch_all(pool)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<String, _>("name"))
        .collect();
    assert!(!columns.is_empty(), "table {table} exists");
    let select = columns
        .iter()
        .map(|c| format!("quote(\"{c}\")"))
        .collect::<Vec<_>>()
        .join(" || '|' || ");
    let mut out: Vec<String> = sqlx::query_scalar(sql(format!("SELECT {select} FROM {table}")))
        .fetch_all(pool)
        .await
        .unwrap();
    out.sort();
    out
}

#[tokio::test]
async fn a_rebuild_of_every_read_model_equals_what_the_live_projectors_built() {
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
    let audit = AuditModels::open(&db, models::all()).await.unwrap();
    // The live projectors may have stopped a batch short of the head when the server stopped.
    catch_up(&audit, &backend).await.unwrap();
    let pool = backend.pool().clone();

    let mut compared = 0;
    for model in models::all() {
        let name = model.name();
        let live = audit.generation(name).await.unwrap();
        let before: Vec<Vec<String>> = {
            let mut all = Vec::new();
            for t in model.tables() {
                all.push(rows(&pool, &live.table(t)).await);
            }
            all
        };
        let rebuilt = audit.rebuild(&backend, name, &|_, _| {}).await.unwrap();
        assert_eq!(rebuilt.previous, live);
        let new = audit.generation(name).await.unwrap();
        assert_eq!(new, Generation(live.0 + 1));
        for (t, old_rows) in model.tables().iter().zip(before) {
            let new_rows = rows(&pool, &new.table(t)).await;
            assert_eq!(
                new_rows, old_rows,
                "{name}: table {t} differs after a rebuild"
            );
            compared += new_rows.len();
        }
        audit.drop_generation(name, &live).await.unwrap();
    }
    assert!(compared > 0, "the story filled the read models");

    // The timeline, rebuilt beside the live one and switched in, equals the live one; while the
    // rebuild runs, readers keep seeing the whole live timeline.
    let live = kcn_projections::snapshot(&db).await.unwrap();
    let watching = {
        let db = db.clone();
        let expected = live.entries.len();
        tokio::spawn(async move {
            let mut looks = 0;
            loop {
                let seen = kcn_projections::snapshot(&db).await.unwrap();
                assert_eq!(
                    seen.entries.len(),
                    expected,
                    "a reader saw a partial timeline"
                );
                looks += 1;
                if looks >= 200 {
                    return looks;
                }
                tokio::task::yield_now().await;
            }
        })
    };
    let reached = kcn_projections::rebuild_beside(&backend, &db, &|_, _| {})
        .await
        .unwrap();
    assert_eq!(reached, live.position);
    assert!(watching.await.unwrap() >= 200);
    assert_eq!(kcn_projections::snapshot(&db).await.unwrap(), live);
}
