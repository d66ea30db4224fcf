//! A server killed with SIGKILL in the middle of concurrent load, and started again on the same
//! database, three times over: every acknowledged command's events are in the log at the positions
//! it was told, positions stay 1..N, the commands whose answer was lost are either in the log (their
//! retry replays the stored outcome) or not at all (their retry appends them now), and the read
//! models catch up to exactly what a rebuild from scratch gives.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use kcn_testkit::PgTestDatabase;

use crate::load::{self, Ledger};
use crate::server::{ServerProcess, Storage, note, open};

/// Kill-and-restart rounds per test.
const ROUNDS: usize = 3;
/// Acknowledgements to wait for in a round before the kill.
const ACKS_BEFORE_KILL: usize = 120;
/// Concurrent clients.
const CLIENTS: usize = 12;

async fn killed_mid_load_and_restarted(dir: &Path, storage: Storage, identity: &str) {
    let mut ledger = Ledger::default();
    let mut park_id = String::new();
    let mut opened = None;
    let mut replayed = 0;
    for round in 0..=ROUNDS {
        let server =
            ServerProcess::spawn(&format!("server {round}"), dir, &storage, identity).await;
        if opened.is_none() {
            // The first server created the database; the test reads it beside the servers.
            opened = Some(open(dir, &storage).await);
        }
        let (log, read_db) = opened.as_ref().unwrap();
        if round == 0 {
            let command = load::park("park");
            let outcome = command.send(&mut server.registry()).await.unwrap();
            park_id = outcome.aggregate_id.clone();
            ledger.acked.push((command, outcome));
        }
        // What was in flight at the kill, sent again with the same request ids.
        let unknown = std::mem::take(&mut ledger.unknown);
        let retried = unknown.len();
        for command in unknown {
            let outcome = command
                .send(&mut server.registry())
                .await
                .unwrap_or_else(|s| panic!("the retry of {command:?} failed: {s:?}"));
            replayed += usize::from(outcome.replayed);
            ledger.acked.push((command, outcome));
        }
        let head = load::check_log(log.as_ref(), &ledger).await;
        assert_eq!(
            (head - load::FIRST_START_EVENTS) as usize,
            ledger.acked.len(),
            "one event per command: the log holds exactly the acknowledged commands (and the first administrator)"
        );
        load::check_read_models(
            &[&server],
            log,
            read_db,
            &storage,
            head,
            ledger.timeline_entries(),
        )
        .await;
        note(&format!(
            "{identity} round {round}: {head} events, {retried} unknown outcomes retried \
             ({replayed} replayed so far)"
        ));
        if round == ROUNDS {
            server.terminate().await;
            break;
        }

        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(AtomicUsize::new(0));
        let clients = load::drive(
            &[&server],
            CLIENTS,
            usize::MAX,
            &format!("r{round}"),
            &park_id,
            stop.clone(),
            acked.clone(),
        )
        .await;
        let end = tokio::time::Instant::now() + Duration::from_secs(30);
        while acked.load(Ordering::SeqCst) < ACKS_BEFORE_KILL {
            assert!(
                tokio::time::Instant::now() < end,
                "the load stalled before the kill"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        server.kill().await;
        stop.store(true, Ordering::SeqCst);
        load::collect(clients, &mut ledger).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_a_server_killed_mid_load_loses_no_acknowledged_command() {
    let dir = tempfile::tempdir().unwrap();
    killed_mid_load_and_restarted(dir.path(), Storage::Sqlite, "crash-sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_a_server_killed_mid_load_loses_no_acknowledged_command() {
    let Some(db) = PgTestDatabase::create("a_server_killed_mid_load_on_postgres").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::Postgres {
        url: db.url().to_owned(),
        via_env: true,
    };
    killed_mid_load_and_restarted(dir.path(), storage, "crash-pg").await;
}
