//! The real `kcn-ledger` release binary as a child process, started exactly as the process tests
//! start it (`tests/process/server.rs`): `serve --listen 127.0.0.1:0`, JSON logs on stderr, its
//! address read from the "kcn-ledger serving" line, a known first administrator's token through
//! `KCN_BOOTSTRAP_TOKEN_FILE`, and no inherited `KCN_*` variable. The benchmark server runs with no
//! admission limits (`KCN_RATE_LIMIT_PER_SECOND=0`, `KCN_MAX_CONCURRENT_CALLS=0`), so that what is
//! measured is the command path, not the limits. The maintenance commands (`projections rebuild`,
//! `verify`) are run the same way, and timed from outside.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use kcn_ledger::client::{AuthChannel, Bearer};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Endpoint;

/// The token of the benchmark server's first administrator.
pub const ADMIN_TOKEN: &str = "kcn_bench-first-administrator-token-000000000000";

/// The checkpoint signing-key seed of the benchmark's logs (64 hex digits; any fixed value).
const KEY_SEED: &str = "6b636e2d62656e63682d6b65792d736565642d6e6f742d612d7365637265742e";

/// The origin the benchmark's logs sign as.
const ORIGIN: &str = "kcn-ledger.bench/log";

/// How long a server may take to open its database and listen.
const READY_DEADLINE: Duration = Duration::from_secs(60);

/// The message of the log line the server writes once it listens.
const SERVING: &str = "kcn-ledger serving";

/// Where the log is kept.
#[derive(Debug, Clone)]
pub enum Storage {
    /// The SQLite file in the data directory (WAL, synchronous=FULL: the default durability).
    Sqlite,
    /// A PostgreSQL database.
    Postgres { url: String },
}

impl Storage {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Sqlite => "SQLite",
            Self::Postgres { .. } => "PostgreSQL",
        }
    }
}

/// The `kcn-ledger` binary beside this one (`target/release/`).
pub fn ledger_binary() -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe().context("cannot find the benchmark's own binary")?;
    let path = me
        .parent()
        .context("the benchmark's binary has no directory")?
        .join("kcn-ledger");
    anyhow::ensure!(
        path.exists(),
        "{} is missing: build it with `cargo build --release --bin kcn-ledger` (scripts/bench does)",
        path.display()
    );
    Ok(path)
}

/// A command of the `kcn-ledger` binary, with only the benchmark's configuration.
fn ledger_command(data_dir: &Path, storage: &Storage) -> anyhow::Result<Command> {
    let mut command = Command::new(ledger_binary()?);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("KCN_") {
            command.env_remove(key);
        }
    }
    command
        .env("KCN_DATA_DIR", data_dir)
        .env("KCN_CHECKPOINT_ORIGIN", ORIGIN)
        .env("KCN_CHECKPOINT_KEY_SEED", KEY_SEED)
        .env("KCN_LOG_FORMAT", "json")
        .env("RUST_LOG", "info");
    if let Storage::Postgres { url } = storage {
        command.env("KCN_DATABASE_URL", url);
    }
    command.stdin(Stdio::null()).kill_on_drop(true);
    Ok(command)
}

/// A running `kcn-ledger serve`.
pub struct ServerProcess {
    child: Child,
    pub addr: SocketAddr,
    /// Every stderr line so far (JSON log records), for the message of a failure.
    lines: Arc<Mutex<Vec<String>>>,
}

impl ServerProcess {
    /// Starts the server on `storage` and waits until it listens.
    pub async fn spawn(data_dir: &Path, storage: &Storage) -> anyhow::Result<Self> {
        let mut command = ledger_command(data_dir, storage)?;
        command
            .arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(data_dir);
        if let Storage::Postgres { url } = storage {
            command.arg("--database-url").arg(url);
        }
        let token_file = data_dir.join("admin.token");
        std::fs::write(&token_file, ADMIN_TOKEN)?;
        command
            .env("KCN_BOOTSTRAP_TOKEN_FILE", &token_file)
            .env("KCN_RATE_LIMIT_PER_SECOND", "0")
            .env("KCN_MAX_CONCURRENT_CALLS", "0")
            // One request log line per call would measure the log pipe, not the ledger.
            .env("RUST_LOG", "info,kcn_ledger::rpc=warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command.spawn().context("cannot start kcn-ledger serve")?;
        let stderr = child.stderr.take().context("no stderr")?;
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, mut ready) = tokio::sync::mpsc::unbounded_channel::<SocketAddr>();
        {
            let lines = lines.clone();
            tokio::spawn(async move {
                // Drained for the process's whole life, so that logging never blocks it.
                let mut reader = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = reader.next_line().await {
                    if let Some(addr) = serving_addr(&line) {
                        let _ = ready_tx.send(addr);
                    }
                    let mut kept = lines.lock().unwrap_or_else(|e| e.into_inner());
                    if kept.len() < 10_000 {
                        kept.push(line);
                    }
                }
            });
        }
        let addr = tokio::select! {
            addr = ready.recv() => addr,
            status = child.wait() => {
                anyhow::bail!(
                    "kcn-ledger serve exited before it listened ({status:?}):\n{}",
                    lines.lock().unwrap_or_else(|e| e.into_inner()).join("\n")
                )
            }
            () = tokio::time::sleep(READY_DEADLINE) => None,
        };
        let addr = addr.with_context(|| {
            format!(
                "kcn-ledger serve did not listen within {READY_DEADLINE:?}:\n{}",
                lines.lock().unwrap_or_else(|e| e.into_inner()).join("\n")
            )
        })?;
        Ok(Self { child, addr, lines })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn pid(&self) -> anyhow::Result<u32> {
        self.child.id().context("the server has exited")
    }

    /// The server's peak resident memory (`VmHWM`), in bytes.
    pub fn peak_memory(&self) -> anyhow::Result<u64> {
        peak_memory(self.pid()?)
    }

    /// The last log lines, for a failure's message.
    pub fn tail(&self, n: usize) -> String {
        let lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Stops the server with SIGTERM and waits for its clean exit.
    pub async fn terminate(mut self) -> anyhow::Result<()> {
        let pid = self.pid()?;
        let sent = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()?;
        anyhow::ensure!(sent.success(), "kill -TERM {pid} failed");
        let status = tokio::time::timeout(Duration::from_secs(60), self.child.wait())
            .await
            .context("the server did not stop within 60 s of SIGTERM")??;
        anyhow::ensure!(
            status.success(),
            "the server exited with {status}:\n{}",
            self.tail(20)
        );
        Ok(())
    }
}

/// `VmHWM` of a process, in bytes.
pub fn peak_memory(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .context("no VmHWM in /proc/<pid>/status")?;
    let kib: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()?;
    Ok(kib * 1024)
}

/// The address in a "kcn-ledger serving" JSON log record.
fn serving_addr(line: &str) -> Option<SocketAddr> {
    let record: serde_json::Value = serde_json::from_str(line).ok()?;
    let fields = record.get("fields")?;
    if fields.get("message")?.as_str()? != SERVING {
        return None;
    }
    fields.get("addr")?.as_str()?.parse().ok()
}

/// A client channel to `url` with TCP_NODELAY, sending `authorization: Bearer <token>`.
pub async fn connect(url: &str, token: &str) -> anyhow::Result<AuthChannel> {
    let channel = Endpoint::from_shared(url.to_owned())?
        .tcp_nodelay(true)
        .connect()
        .await
        .with_context(|| format!("cannot connect to {url}"))?;
    Ok(InterceptedService::new(channel, Bearer::new(Some(token))?))
}

/// Runs `kcn-ledger <args>` to its end on the benchmark's configuration and answers how long it
/// took; fails with its output when it does not succeed.
pub async fn run_timed(
    data_dir: &Path,
    storage: &Storage,
    args: &[String],
) -> anyhow::Result<Duration> {
    let mut command = ledger_command(data_dir, storage)?;
    command
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let output = command
        .output()
        .await
        .with_context(|| format!("cannot run kcn-ledger {}", args.join(" ")))?;
    let took = started.elapsed();
    anyhow::ensure!(
        output.status.success(),
        "kcn-ledger {} failed ({}):\n{}\n{}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        tail(&String::from_utf8_lossy(&output.stderr), 20)
    );
    Ok(took)
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
