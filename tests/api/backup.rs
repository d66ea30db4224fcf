//! `kcn-ledger backup` (the built binary) while commands are being appended: the copy verifies, a
//! server started on it as its data directory serves the same log as the original up to the copy's
//! moment, `kcn-ledger audit` proves it against a checkpoint taken from the original before the
//! backup, and it extends the log with the same key.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use kcn_ledger::audit_cli::{self, Verdict};
use kcn_services::proto;

use crate::harness::{TestServer, header, seed};

fn company(tag: &str, i: u64) -> proto::RegisterCompanyRequest {
    proto::RegisterCompanyRequest {
        header: header("2025-04-01T02:10:00Z"),
        enterprise_code: crate::harness::enterprise_code(&format!("{tag} {i}")),
        name: format!("Công ty {tag} {i}"),
        address: "Thuận An".into(),
    }
}

/// Runs `kcn-ledger backup DEST --data-dir DIR` with only what the test sets configuring it.
async fn run_backup(data_dir: &std::path::Path, dest: &std::path::Path) -> std::process::Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_kcn-ledger"));
    command
        .arg("backup")
        .arg(dest)
        .arg("--data-dir")
        .arg(data_dir)
        .env("KCN_LOG_FORMAT", "json");
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("KCN_") && key != "KCN_LOG_FORMAT" {
            command.env_remove(key);
        }
    }
    command.output().await.expect("the kcn-ledger binary runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_under_load_restores_to_a_server_that_serves_and_proves_the_same_log() {
    let server = TestServer::start().await;
    seed(&server).await;
    let key: kcn_integrity::Verifier = server
        .audit()
        .get_verifier_key(proto::GetVerifierKeyRequest {})
        .await
        .unwrap()
        .into_inner()
        .verifier_key
        .parse()
        .unwrap();
    // What an auditor held before the backup.
    let mut registry = server.registry();
    for i in 0..20 {
        registry
            .register_company(company("before", i))
            .await
            .unwrap();
    }
    let url = format!("http://{}", server.running.as_ref().unwrap().addr);
    let held = loop {
        let mut client = audit_cli::connect(&url, Some(crate::harness::EMBEDDED_TOKEN))
            .await
            .unwrap();
        let audit = audit_cli::audit(&mut client, None, &key).await.unwrap();
        if audit.latest.size >= 26 {
            break audit.latest_note;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };

    // Load while the backup runs.
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicU64::new(0));
    let mut load = tokio::task::JoinSet::new();
    for w in 0..4u64 {
        let mut registry = server.registry();
        let (stop, acked) = (stop.clone(), acked.clone());
        load.spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                registry
                    .register_company(company(&format!("load{w}"), i))
                    .await
                    .unwrap();
                acked.fetch_add(1, Ordering::SeqCst);
                i += 1;
            }
        });
    }
    while acked.load(Ordering::SeqCst) < 20 {
        tokio::task::yield_now().await;
    }
    let restored_dir = tempfile::tempdir().unwrap();
    let output = run_backup(server.dir.path(), restored_dir.path()).await;
    let during = acked.load(Ordering::SeqCst);
    stop.store(true, Ordering::SeqCst);
    while let Some(done) = load.join_next().await {
        done.unwrap();
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "backup failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("verified"), "{stdout}");
    assert!(
        acked.load(Ordering::SeqCst) > 20,
        "commands went on during the backup ({during})"
    );
    // The key came along, readable by its owner only.
    let key_file = restored_dir.path().join("checkpoint-signing-key");
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the copied key is owner-only: {mode:o}");
    }
    // Writing into a directory that holds anything is refused.
    let again = run_backup(server.dir.path(), restored_dir.path()).await;
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));

    // The newest checkpoint the copy holds, as an auditor given the backup would take it.
    let archive = kcn_eventstore::checkpoint::archive::Archive::open_sqlite(
        &restored_dir.path().join("kcn-ledger.sqlite"),
    )
    .await
    .unwrap();
    let last_copied = archive
        .checkpoints(None, 100_000)
        .await
        .unwrap()
        .pop()
        .unwrap();
    archive.close().await;

    let original = server.read_log().await;
    let restored = TestServer::start_in(restored_dir).await;
    let copy = restored.read_log().await;
    assert!(
        copy.len() >= 26 && copy.len() <= original.len(),
        "{}",
        copy.len()
    );
    assert_eq!(
        copy[..],
        original[..copy.len()],
        "the same events, byte for byte"
    );

    // The auditor's checkpoint from the original is proved against the restored server.
    let restored_url = format!("http://{}", restored.running.as_ref().unwrap().addr);
    let mut client = audit_cli::connect(&restored_url, Some(crate::harness::EMBEDDED_TOKEN))
        .await
        .unwrap();
    let audit = audit_cli::audit(&mut client, Some(&held), &key)
        .await
        .unwrap();
    assert_eq!(audit.verdict, Verdict::Grew, "{}", audit.summary());
    let audit = audit_cli::audit(&mut client, Some(&last_copied.note), &key)
        .await
        .unwrap();
    assert_eq!(audit.verdict, Verdict::Grew, "{}", audit.summary());
    assert!(last_copied.tree_size as usize <= copy.len());
    assert_eq!(
        restored
            .audit()
            .get_verifier_key(proto::GetVerifierKeyRequest {})
            .await
            .unwrap()
            .into_inner()
            .verifier_key,
        key.to_string(),
        "the restored log signs with the same key"
    );

    // And it goes on: a new command lands right after the copy's last event.
    let outcome = restored
        .registry()
        .register_company(company("after", 0))
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap();
    assert_eq!(outcome.first_position, copy.len() as u64 + 1);
}
