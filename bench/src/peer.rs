//! The stock cqrs-es peer (`bench/cqrs-peer`, binary `kcn-cqrs-peer`): cqrs-es's `CqrsFramework`
//! over sqlite-es's or postgres-es's event store behind the same `RegisterCompany` method, started
//! as a child process on a database of its own with the ledger's durability settings and driven by
//! the same client code at the same concurrency levels. It is a separate workspace (it needs sqlx
//! 0.8); `scripts/bench` builds it into `target/release` beside this binary.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::process::Command;

use crate::child::Listening;

/// The line the peer prints on stdout once it listens, followed by its address.
const LISTENING: &str = "cqrs-peer listening on ";

/// Where the peer keeps its events.
pub enum PeerStore {
    Sqlite(PathBuf),
    Postgres(String),
}

/// The peer's binary, beside this one; `None` when it was not built.
pub fn binary() -> Option<PathBuf> {
    let me = std::env::current_exe().ok()?;
    let peer = me.with_file_name("kcn-cqrs-peer");
    peer.is_file().then_some(peer)
}

/// Starts the peer on `store` and waits for its address.
pub async fn spawn(binary: &Path, store: &PeerStore) -> anyhow::Result<Listening> {
    let mut command = Command::new(binary);
    match store {
        PeerStore::Sqlite(file) => command.arg("sqlite").arg(file),
        PeerStore::Postgres(url) => command.arg("postgres").arg(url),
    };
    Listening::spawn(
        command,
        LISTENING,
        "the cqrs-es peer",
        Duration::from_secs(30),
    )
    .await
}
