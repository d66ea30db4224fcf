//! The stock cqrs-es peer (`bench/cqrs-peer`, binary `kcn-cqrs-peer`): cqrs-es's `CqrsFramework`
//! over sqlite-es's or postgres-es's event store behind the same `RegisterCompany` method, started
//! as a child process on a database of its own with the ledger's durability settings and driven by
//! the same client code at the same concurrency levels. It is a separate workspace (it needs sqlx
//! 0.8); `scripts/bench` builds it into `target/release` beside this binary.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

/// The line the peer prints on stdout once it listens, followed by its address.
const LISTENING: &str = "cqrs-peer listening on ";

/// Where the peer keeps its events.
pub enum PeerStore {
    Sqlite(PathBuf),
    Postgres(String),
}

/// The peer as a child process of the harness.
pub struct PeerProcess {
    child: Child,
    pub url: String,
}

/// The peer's binary, beside this one; `None` when it was not built.
pub fn binary() -> Option<PathBuf> {
    let me = std::env::current_exe().ok()?;
    let peer = me.with_file_name("kcn-cqrs-peer");
    peer.is_file().then_some(peer)
}

impl PeerProcess {
    /// Starts the peer on `store` and waits for its address.
    pub async fn spawn(binary: &Path, store: &PeerStore) -> anyhow::Result<Self> {
        let mut command = Command::new(binary);
        match store {
            PeerStore::Sqlite(file) => command.arg("sqlite").arg(file),
            PeerStore::Postgres(url) => command.arg("postgres").arg(url),
        };
        let mut child = command
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("cannot start the cqrs-es peer")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .context("the cqrs-es peer did not listen within 30 s")??
            .context("the cqrs-es peer exited before it listened")?;
        let addr = line
            .strip_prefix(LISTENING)
            .with_context(|| format!("unexpected line from the cqrs-es peer: {line}"))?;
        Ok(Self {
            url: format!("http://{addr}"),
            child,
        })
    }

    /// Stops it (SIGKILL: what it wrote is scratch).
    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}
