//! A server the harness starts as a child process and finds by the address it prints: the no-op
//! ceiling (`noop.rs`) and the stock cqrs-es peer (`peer.rs`).

use std::time::Duration;

use anyhow::Context as _;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

/// A child server that listens on the address it printed.
pub struct Listening {
    child: Child,
    pub url: String,
}

impl Listening {
    /// Starts `command` and waits up to `wait` for its first line of stdout, `{prefix}{address}`.
    /// `what` names the server in errors.
    pub async fn spawn(
        mut command: Command,
        prefix: &str,
        what: &str,
        wait: Duration,
    ) -> anyhow::Result<Self> {
        let mut child = command
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {what}"))?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(wait, lines.next_line())
            .await
            .with_context(|| format!("{what} did not listen within {wait:?}"))??
            .with_context(|| format!("{what} exited before it listened"))?;
        let addr = line
            .strip_prefix(prefix)
            .with_context(|| format!("unexpected line from {what}: {line}"))?;
        Ok(Self {
            url: format!("http://{addr}"),
            child,
        })
    }

    /// Stops it (SIGKILL: it keeps nothing the harness needs).
    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}
