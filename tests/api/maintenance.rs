//! The maintenance commands of the built binary: `kcn-ledger migrate` prepares a store without
//! serving, on SQLite and PostgreSQL; `kcn-ledger projections status` says where every read model
//! stands and exits 1 when one is stopped; `kcn-ledger projections rebuild` replays them all.

use std::path::Path;
use std::time::Duration;

use kcn_services::proto;
use kcn_testkit::postgres::PgTestDatabase;

use crate::harness::{TestServer, seed, wait_until};

/// Runs the binary with `args`, configured only by what the test passes.
async fn kcn(args: &[&str]) -> std::process::Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_kcn-ledger"));
    command.args(args).env("KCN_LOG_FORMAT", "json");
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("KCN_") && key != "KCN_LOG_FORMAT" {
            command.env_remove(key);
        }
    }
    command.output().await.expect("the kcn-ledger binary runs")
}

fn text(out: &std::process::Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

async fn status_json(dir: &Path) -> (std::process::Output, serde_json::Value) {
    let out = kcn(&[
        "projections",
        "status",
        "--json",
        "--data-dir",
        dir.to_str().unwrap(),
    ])
    .await;
    let json =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    (out, json)
}

async fn tables(pool: &sqlx::SqlitePool) -> Vec<String> {
    sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .fetch_all(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn migrate_prepares_an_empty_sqlite_store_that_a_server_then_serves() {
    let dir = tempfile::tempdir().unwrap();
    let out = kcn(&["migrate", "--data-dir", dir.path().to_str().unwrap()]).await;
    assert!(out.status.success(), "{}", text(&out));
    // The log in its file, the read models in theirs (ADR 12).
    for (file, wanted) in [
        ("kcn-ledger.sqlite", &["events", "tree_hashes"][..]),
        (
            "kcn-ledger.read.sqlite",
            &[
                "projection_checkpoints",
                "read_model_generations",
                "read_model_retired",
            ][..],
        ),
    ] {
        let pool =
            sqlx::SqlitePool::connect(&format!("sqlite://{}", dir.path().join(file).display()))
                .await
                .unwrap();
        let found = tables(&pool).await;
        for t in wanted {
            assert!(found.iter().any(|f| f == t), "{t} in {file}: {found:?}");
        }
        pool.close().await;
    }
    // Migrating again changes nothing, and a server starts on the prepared store.
    let again = kcn(&["migrate", "--data-dir", dir.path().to_str().unwrap()]).await;
    assert!(again.status.success(), "{}", text(&again));
    let server = TestServer::start_in(dir).await;
    seed(&server).await;
}

#[tokio::test]
async fn migrate_prepares_an_empty_postgres_database() {
    let Some(db) = PgTestDatabase::create("migrate_prepares_an_empty_postgres_database").await
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = kcn(&[
        "migrate",
        "--database-url",
        db.url(),
        "--data-dir",
        dir.path().to_str().unwrap(),
    ])
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let pool = sqlx::PgPool::connect(db.url()).await.unwrap();
    let found: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' \
         ORDER BY table_name",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    for t in [
        "events",
        "projection_checkpoints",
        "read_model_generations",
        "read_model_retired",
    ] {
        assert!(found.iter().any(|f| f == t), "{t} in {found:?}");
    }
    pool.close().await;
}

#[tokio::test]
async fn projections_status_and_rebuild_report_every_read_model_and_a_stopped_one() {
    let server = TestServer::start().await;
    let p = seed(&server).await;
    let head = p.last_position;
    // Stop only once every read model has applied the whole seed.
    let audit = server.audit();
    assert!(
        wait_until(Duration::from_secs(20), || {
            let mut audit = audit.clone();
            async move {
                let s = audit
                    .get_projection_status(proto::GetProjectionStatusRequest {})
                    .await
                    .unwrap()
                    .into_inner();
                s.projections.iter().all(|m| m.position == head)
            }
        })
        .await
    );
    let dir = server.stop().await;

    let (out, json) = status_json(dir.path()).await;
    assert!(out.status.success(), "{}", text(&out));
    let models = json.as_array().unwrap();
    assert_eq!(models.len(), kcn_projections::models::all().len());
    for m in models {
        assert_eq!(m["position"], head, "{m}");
        assert_eq!(m["lag"], 0, "{m}");
        assert_eq!(m["generation"], 1, "{m}");
        assert!(m["error"].is_null(), "{m}");
    }

    // A rebuild of every read model replays the log once and switches each to generation 2.
    let rebuilt = kcn(&[
        "projections",
        "rebuild",
        "--data-dir",
        dir.path().to_str().unwrap(),
    ])
    .await;
    assert!(rebuilt.status.success(), "{}", text(&rebuilt));
    let (_, json) = status_json(dir.path()).await;
    for m in json.as_array().unwrap() {
        assert_eq!(m["generation"], 2, "{m}");
        assert_eq!(m["position"], head, "{m}");
    }
    let unknown = kcn(&[
        "projections",
        "rebuild",
        "nothing",
        "--data-dir",
        dir.path().to_str().unwrap(),
    ])
    .await;
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no read model named"));

    // An event the read models cannot read, written behind the server's back, stops them; the
    // status command names where and exits 1.
    let bad = head + 1;
    {
        let backend = kcn_eventstore::SqliteBackend::open(
            &dir.path().join("kcn-ledger.sqlite"),
            kcn_eventstore::SqliteDurability::Full,
        )
        .await
        .unwrap();
        crate::schema::append_raw(
            &backend,
            kcn_eventstore::StoredEvent {
                position: 0,
                event_id: uuid::Uuid::now_v7(),
                aggregate_type: "Park".into(),
                aggregate_id: p.park.clone(),
                aggregate_version: 4,
                event_type: "OccupancyReported".into(),
                schema_version: 1,
                occurred_at: "2025-05-01T00:00:00.000000Z".into(),
                recorded_at: "2026-01-01T00:00:00.000000Z".into(),
                payload: b"not json".to_vec(),
                metadata: b"{}".to_vec(),
            },
        )
        .await;
    }
    let server = TestServer::start_in(dir).await;
    let audit = server.audit();
    assert!(
        wait_until(Duration::from_secs(20), || {
            let mut audit = audit.clone();
            async move {
                let s = audit
                    .get_projection_status(proto::GetProjectionStatusRequest {})
                    .await
                    .unwrap()
                    .into_inner();
                s.projections.iter().all(|m| !m.error.is_empty())
            }
        })
        .await,
        "every read model stops before the unreadable event"
    );
    let dir = server.stop().await;
    let (out, json) = status_json(dir.path()).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    for m in json.as_array().unwrap() {
        assert_eq!(m["position"], head, "{m}");
        assert_eq!(m["stopped_before"], bad, "{m}");
        assert_eq!(m["lag"], 1, "{m}");
    }
    let table = kcn(&[
        "projections",
        "status",
        "--data-dir",
        dir.path().to_str().unwrap(),
    ])
    .await;
    assert_eq!(table.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&table.stdout).contains(&format!("stopped before position {bad}")),
        "{}",
        text(&table)
    );
}
