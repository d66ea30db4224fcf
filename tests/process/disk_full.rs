//! A full disk heals without a restart: a real server on SQLite in a small tmpfs, the disk filled by
//! a filler file until appends fail, then freed. While full, every failed append is `UNAVAILABLE`
//! with `RetryInfo` (never `INTERNAL`, never the "non-zero transaction depth" of a connection that
//! went back to the pool mid-transaction); once space returns, appends succeed again with the same
//! process, every acknowledged command is in the log at its position (positions 1..N), the commands
//! refused while full are appended by their retry, and `kcn-ledger verify` passes.
//!
//! It needs to mount a tmpfs (root, or a user namespace that allows it); where mounting is refused
//! it is skipped with a printed note.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tonic::Code;
use tonic_types::StatusExt as _;

use crate::load::{self, Command, Ledger};
use crate::server::{ServerProcess, Storage, note, open};

/// The file system's size: room for the server's database and read models, small enough to fill.
const TMPFS_SIZE: &str = "24m";
/// Appends tried while the disk is full before the test gives up waiting for one to fail.
const MAX_TRIES_WHILE_FULL: usize = 20_000;

/// A tmpfs mounted on a fresh directory, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts one, or says why not.
    fn mount(size: &str) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let output = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !output.status.success() {
            return Err(String::from_utf8_lossy(&output.stderr).trim().to_owned());
        }
        Ok(Self { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy, so that a server still holding a file (after a failed assertion) cannot keep it.
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Writes zeros into `path` until the file system refuses more; returns the bytes written.
fn fill_disk(path: &Path) -> u64 {
    let mut file = std::fs::File::create(path).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    let mut written = 0u64;
    loop {
        match file.write(&chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => written += n as u64,
        }
    }
    let _ = file.sync_all();
    written
}

/// Asserts that a refused append is the store being unavailable, with a retry delay.
fn assert_unavailable(status: &tonic::Status) {
    assert_eq!(
        status.code(),
        Code::Unavailable,
        "a full disk is UNAVAILABLE, not {:?}: {}",
        status.code(),
        status.message()
    );
    assert!(
        status.get_details_retry_info().is_some(),
        "UNAVAILABLE carries RetryInfo: {status:?}"
    );
}

/// One client sending the load's commands in turn, keeping what it learned.
struct Client {
    registry: kcn_services::proto::registry_service_client::RegistryServiceClient<
        kcn_ledger::client::AuthChannel,
    >,
    park_id: String,
    k: usize,
    last_company: Option<String>,
    ledger: Ledger,
}

impl Client {
    /// Registers the park the tenants go to.
    async fn new(server: &ServerProcess) -> Self {
        let mut registry = server.registry();
        let park = load::park("park");
        let outcome = park.send(&mut registry).await.unwrap();
        let mut ledger = Ledger::default();
        let park_id = outcome.aggregate_id.clone();
        ledger.acked.push((park, outcome));
        Self {
            registry,
            park_id,
            k: 0,
            last_company: None,
            ledger,
        }
    }

    /// Sends the next command; an acknowledged one is kept with its outcome, a refused one as
    /// unknown, to be retried.
    async fn send(&mut self, tag: &str) -> Result<(), tonic::Status> {
        self.k += 1;
        let command = load::nth(
            &format!("{tag}-{}", self.k),
            self.k,
            &self.park_id,
            self.last_company.as_deref(),
        );
        match command.send(&mut self.registry).await {
            Ok(outcome) => {
                if matches!(command, Command::Company(_)) {
                    self.last_company = Some(outcome.aggregate_id.clone());
                }
                self.ledger.acked.push((command, outcome));
                Ok(())
            }
            Err(status) => {
                self.ledger.unknown.push(command);
                Err(status)
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_heals_without_a_restart_and_loses_nothing_acknowledged() {
    let tmpfs = match Tmpfs::mount(TMPFS_SIZE) {
        Ok(tmpfs) => tmpfs,
        Err(why) => {
            note(&format!(
                "skipping a_full_disk_heals_without_a_restart: cannot mount a tmpfs ({why})"
            ));
            return;
        }
    };
    let dir: PathBuf = tmpfs.path().join("data");
    std::fs::create_dir(&dir).unwrap();
    let server =
        ServerProcess::spawn("disk-full server", &dir, &Storage::Sqlite, "disk-full").await;
    let mut client = Client::new(&server).await;
    for _ in 0..50 {
        client.send("before").await.unwrap();
    }

    // Fill the disk, then append until the database needs space it cannot get.
    let filler = tmpfs.path().join("filler");
    let filled = fill_disk(&filler);
    note(&format!("the filler took {} KiB", filled / 1024));
    let mut first_failure = None;
    for attempt in 0..MAX_TRIES_WHILE_FULL {
        if let Err(status) = client.send("full").await {
            assert_unavailable(&status);
            first_failure = Some(attempt);
            break;
        }
    }
    let Some(first_failure) = first_failure else {
        panic!("no append failed in {MAX_TRIES_WHILE_FULL} tries on a full disk");
    };
    note(&format!(
        "appends failed after {first_failure} more on the full disk"
    ));
    // Still full: every try fails the same way, none wedges the writer.
    for _ in 0..20 {
        let status = client
            .send("still-full")
            .await
            .expect_err("the disk is still full");
        assert_unavailable(&status);
        assert!(
            !status.message().contains("transaction depth"),
            "{}",
            status.message()
        );
    }

    // Space returns: the same process appends again.
    std::fs::remove_file(&filler).unwrap();
    let end = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match client.send("healed").await {
            Ok(()) => break,
            Err(status) => {
                assert_unavailable(&status);
                assert!(
                    tokio::time::Instant::now() < end,
                    "appends still fail 30 s after space returned: {status:?}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    for _ in 0..30 {
        client
            .send("after")
            .await
            .expect("appends succeed once space has returned");
    }
    // The commands refused while full are appended by their retry (same request ids).
    let mut ledger = std::mem::take(&mut client.ledger);
    let refused = std::mem::take(&mut ledger.unknown);
    let retried = refused.len();
    for command in refused {
        let outcome = command
            .send(&mut client.registry)
            .await
            .unwrap_or_else(|s| panic!("the retry of {command:?} failed: {s:?}"));
        assert!(
            !outcome.replayed,
            "a refused command was not appended before"
        );
        ledger.acked.push((command, outcome));
    }
    note(&format!("{retried} refused commands retried"));
    assert!(
        !server.logged("panicked"),
        "the server panicked:\n{}",
        server.lines().join("\n")
    );
    let key = server
        .audit()
        .get_verifier_key(kcn_services::proto::GetVerifierKeyRequest {})
        .await
        .unwrap()
        .into_inner()
        .verifier_key;
    server.terminate().await;

    let (log, _read) = open(&dir, &Storage::Sqlite).await;
    let head = load::check_log(log.as_ref(), &ledger).await;
    assert_eq!(
        (head - load::FIRST_START_EVENTS) as usize,
        ledger.acked.len(),
        "one event per acknowledged command, and nothing else but the first administrator"
    );
    drop(log);
    let verify = tokio::process::Command::new(env!("CARGO_BIN_EXE_kcn-ledger"))
        .arg("verify")
        .arg(&dir)
        .args(["--verifier-key", &key])
        .env("KCN_LOG_FORMAT", "json")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&verify.stdout);
    assert!(
        verify.status.success(),
        "verify failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    assert!(stdout.starts_with("ok:"), "{stdout}");
}
