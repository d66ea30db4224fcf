//! Careless and hostile requests from an independent client (Python's grpcio): every RPC gets an
//! empty message, bytes that are not protobuf, and (for commands) a header with an over-long request
//! id, an impossible timestamp and control characters plus 100,000-character strings; and, over raw
//! HTTP/2, messages flagged compressed without a `grpc-encoding` or with a flag byte that is neither
//! 0 nor 1 (`INVALID_ARGUMENT` with a `BadRequest`). Each answer must be a status a caller can act
//! on, small enough for any client, and the log must stay empty.

use std::path::Path;

use crate::harness::TestServer;

#[tokio::test]
async fn hostile_requests_get_actionable_statuses_and_leave_the_log_empty() {
    let Some(python) = crate::transparency::python() else {
        return;
    };
    let server = TestServer::start().await;
    let addr = server.running.as_ref().unwrap().addr;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/hostile.py");
    // Authenticated (as the harness, which may call everything) and with no credential at all.
    for token in [Some(crate::harness::EMBEDDED_TOKEN), None] {
        let mut command = tokio::process::Command::new(&python);
        command.arg(&script).arg(format!("http://{addr}"));
        match token {
            Some(t) => command.env("KCN_TOKEN", t),
            None => command.env_remove("KCN_TOKEN"),
        };
        let output = command.output().await.expect("the venv's python runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "hostile.py (token: {}) found problems:\n{stdout}{}",
            token.is_some(),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(stdout.contains(" 0 failures"), "{stdout}");
    }
    assert!(server.read_log().await.is_empty());
}
