//! The real `kcn-ledger` binary as a child process: started on `127.0.0.1:0`, its address read from
//! its "kcn-ledger serving" log line (JSON logs on stderr), killed with SIGKILL or stopped with
//! SIGTERM; and the databases it runs on, opened from the test to check what it stored.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kcn_eventstore::{Backend, PostgresBackend, SqliteBackend, SqliteDurability};
use kcn_ledger::client::{AuthChannel, Bearer};
use kcn_projections::ReadDatabase;
use kcn_services::proto::audit_service_client::AuditServiceClient;
use kcn_services::proto::registry_service_client::RegistryServiceClient;
use kcn_testkit::PgTestDatabase;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions as _, Connection as _};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// Notes past the test harness's capture, as every suite writes them.
pub use kcn_testkit::postgres::note;

/// The token of every test server's first administrator (`bootstrap_token_file`).
pub const ADMIN_TOKEN: &str = "kcn_process-test-first-administrator-token-0000";

/// How long a server may take to open its database and listen.
const READY_DEADLINE: Duration = Duration::from_secs(30);

/// The message of the log line the server writes once it listens (`kcn_ledger::run`).
const SERVING: &str = "kcn-ledger serving";

/// The log line the projection leader writes when it takes the lead (`kcn_projections::leader`).
pub const LEADING: &str = "this process is now the projection leader";

/// Where a server keeps its log.
#[derive(Debug, Clone)]
pub enum Storage {
    /// The SQLite file in the data directory.
    Sqlite,
    /// A PostgreSQL database, named to the server by the `--database-url` flag or, with
    /// `via_env`, by `KCN_DATABASE_URL`.
    Postgres { url: String, via_env: bool },
}

/// A running `kcn-ledger serve` process.
pub struct ServerProcess {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    pub channel: AuthChannel,
    /// Every stderr line so far (JSON log records).
    lines: Arc<Mutex<Vec<String>>>,
    pub name: String,
}

impl ServerProcess {
    /// Starts the binary and waits until it listens. Every process given the same `identity` signs
    /// checkpoints as the same log, which servers sharing one PostgreSQL database must.
    pub async fn spawn(name: &str, data_dir: &Path, storage: &Storage, identity: &str) -> Self {
        Self::spawn_with_env(name, data_dir, storage, identity, &[]).await
    }

    /// Starts the binary as [`ServerProcess::spawn`] does, with `env` added to its environment.
    pub async fn spawn_with_env(
        name: &str,
        data_dir: &Path,
        storage: &Storage,
        identity: &str,
        env: &[(&str, &str)],
    ) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_kcn-ledger"));
        command
            .arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(data_dir);
        match storage {
            Storage::Sqlite => {}
            Storage::Postgres {
                url,
                via_env: false,
            } => {
                command
                    .arg("--database-url")
                    .arg(url)
                    .arg("--database-max-connections")
                    .arg("6");
            }
            Storage::Postgres { via_env: true, .. } => {}
        }
        // Only what this test sets configures the child.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("KCN_") {
                command.env_remove(key);
            }
        }
        if let Storage::Postgres { url, via_env: true } = storage {
            command
                .env("KCN_DATABASE_URL", url)
                .env("KCN_DATABASE_MAX_CONNECTIONS", "6");
        }
        // The first administrator's token, known to the test: it keeps the registry and reads
        // the log (a file another process of the same log already wrote is read, not replaced).
        let token_file = data_dir.join("admin.token");
        if !token_file.exists() {
            std::fs::write(&token_file, ADMIN_TOKEN).unwrap();
        }
        command
            .env("KCN_BOOTSTRAP_TOKEN_FILE", &token_file)
            .env("KCN_LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .env(
                "KCN_CHECKPOINT_ORIGIN",
                format!("kcn-ledger.test/{identity}"),
            )
            .env("KCN_CHECKPOINT_KEY_SEED", seed_of(identity))
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().expect("cannot start the kcn-ledger binary");
        let stderr = child.stderr.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, mut ready) = tokio::sync::mpsc::unbounded_channel::<SocketAddr>();
        {
            // Drain stderr for the process's whole life, so that logging never blocks it.
            let lines = lines.clone();
            tokio::spawn(async move {
                let mut reader = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = reader.next_line().await {
                    if let Some(addr) = serving_addr(&line) {
                        let _ = ready_tx.send(addr);
                    }
                    lines.lock().unwrap().push(line);
                }
            });
        }
        let addr = tokio::select! {
            addr = ready.recv() => addr,
            status = child.wait() => {
                panic!(
                    "{name} exited before it listened ({status:?}):\n{}",
                    lines.lock().unwrap().join("\n")
                )
            }
            _ = tokio::time::sleep(READY_DEADLINE) => None,
        };
        let Some(addr) = addr else {
            panic!(
                "{name} did not listen within {READY_DEADLINE:?}:\n{}",
                lines.lock().unwrap().join("\n")
            );
        };
        let raw = Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let channel = InterceptedService::new(raw, Bearer::new(Some(ADMIN_TOKEN)).unwrap());
        Self {
            child,
            addr,
            channel,
            lines,
            name: name.to_owned(),
        }
    }

    /// The process id, to read its memory from `/proc/<pid>/status`.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("the process is running")
    }

    pub fn registry(&self) -> RegistryServiceClient<AuthChannel> {
        RegistryServiceClient::new(self.channel.clone())
    }

    pub fn audit(&self) -> AuditServiceClient<AuthChannel> {
        AuditServiceClient::new(self.channel.clone())
    }

    /// Every log line so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Whether a log line so far contains `text`.
    pub fn logged(&self, text: &str) -> bool {
        self.lines.lock().unwrap().iter().any(|l| l.contains(text))
    }

    /// Kills the process with SIGKILL (no shutdown of any kind) and reaps it.
    pub async fn kill(mut self) {
        self.child.start_kill().unwrap();
        let _ = self.child.wait().await;
    }

    /// Stops the process with SIGTERM and waits for its clean exit.
    pub async fn terminate(mut self) {
        let pid = self.child.id().expect("the process is running");
        let sent = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()
            .unwrap();
        assert!(sent.success());
        let status = tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .expect("the server stops within 20 s of SIGTERM")
            .unwrap();
        assert!(status.success(), "{} exited with {status}", self.name);
    }
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

/// A checkpoint signing-key seed (64 hex digits) derived from a name: the same name, the same key.
fn seed_of(identity: &str) -> String {
    let mut seed = [0u8; 32];
    for (i, b) in identity.bytes().enumerate() {
        seed[i % 32] = seed[i % 32].wrapping_mul(31).wrapping_add(b);
    }
    seed[31] |= 1;
    seed.iter().map(|b| format!("{b:02x}")).collect()
}

// ---------------------------------------------------------------------------------------------
// Databases.
// ---------------------------------------------------------------------------------------------

/// Opens a server's database from the test: the log (to read what is stored) and its read models.
pub async fn open(data_dir: &Path, storage: &Storage) -> (Arc<dyn Backend>, ReadDatabase) {
    match storage {
        Storage::Sqlite => {
            let backend =
                SqliteBackend::open(&data_dir.join("kcn-ledger.sqlite"), SqliteDurability::Full)
                    .await
                    .unwrap();
            let read = ReadDatabase::from(&backend);
            (Arc::new(backend), read)
        }
        Storage::Postgres { url, .. } => {
            let backend = PostgresBackend::connect(url, 2).await.unwrap();
            let read = ReadDatabase::from(&backend);
            (Arc::new(backend), read)
        }
    }
}

/// The URL with a password in it, and that password, so that a test can check that no log line
/// shows it: the URL's own password if it has one, else an invented one if the server accepts it
/// (trust authentication ignores it), else `None`.
pub async fn with_secret(url: &str) -> (String, Option<String>) {
    let (scheme, rest) = url.split_once("://").unwrap();
    let Some((user, host)) = rest.split_once('@') else {
        return (url.to_owned(), None);
    };
    if let Some((_, password)) = user.split_once(':') {
        return (url.to_owned(), Some(password.to_owned()));
    }
    let secret = "kcn-secret-never-logged";
    let candidate = format!("{scheme}://{user}:{secret}@{host}");
    match PgConnectOptions::from_str(&candidate)
        .unwrap()
        .connect()
        .await
    {
        Ok(conn) => {
            let _ = conn.close().await;
            (candidate, Some(secret.to_owned()))
        }
        Err(_) => (url.to_owned(), None),
    }
}

/// An empty database of the same kind, to rebuild the read models into; keep the guard alive.
pub async fn empty_like(storage: &Storage) -> (ReadDatabase, Box<dyn std::any::Any>) {
    match storage {
        Storage::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let backend =
                SqliteBackend::open(&dir.path().join("rebuild.sqlite"), SqliteDurability::Full)
                    .await
                    .unwrap();
            (ReadDatabase::from(&backend), Box::new((dir, backend)))
        }
        Storage::Postgres { .. } => {
            let db = PgTestDatabase::create("empty_like")
                .await
                .expect("a PostgreSQL test runs with KCN_TEST_DATABASE_URL set");
            let backend = PostgresBackend::connect(db.url(), 2).await.unwrap();
            let read = ReadDatabase::from(&backend);
            // The pool goes before the database is dropped.
            (read, Box::new((backend, db)))
        }
    }
}
