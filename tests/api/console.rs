//! The audit console (console/static, served at /console/) in headless Chromium against this
//! server with a generated province: console/tests/console.mjs signs in, finds, reads timelines,
//! asks every audit question, opens a history, draws the pictures and verifies, and sees a
//! tampering proxy's changes flagged; console/tests/vectors.mjs checks the page's verifier against
//! every integrity vector in the browser. Both are Node scripts driving Debian's Chromium with
//! playwright-core; scripts/console-env provisions them (scripts/test calls it).

use std::path::{Path, PathBuf};
use std::process::Command;

use kcn_ledger::generate::{self, Options};
use kcn_services::proto;
use proto::audit_service_client::AuditServiceClient;

use crate::auth::{ADMIN, issue};
use crate::harness::{at, read_models_at_head};

fn console_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("console")
}

/// `node <script>` in console/, with `env`; fails the test with the script's output unless it
/// exits 0. The browser and playwright-core must be there: scripts/console-env installs them.
fn run_node(script: &str, env: &[(&str, String)]) {
    let dir = console_dir();
    assert!(
        dir.join("node_modules/playwright-core").is_dir(),
        "console/node_modules lacks playwright-core: run scripts/console-env (scripts/test does)"
    );
    let chromium =
        std::env::var("KCN_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "no Chromium at {chromium}: run scripts/console-env (scripts/test does), or set KCN_TEST_CHROMIUM"
    );
    let output = Command::new("node")
        .arg(script)
        .current_dir(&dir)
        .env("KCN_TEST_CHROMIUM", &chromium)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("node runs (scripts/console-env checks it is installed)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        output.status.success(),
        "{script} failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
}

#[test]
fn the_in_browser_verifier_reproduces_every_integrity_vector() {
    run_node("tests/vectors.mjs", &[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auditor_answers_every_question_and_verifies_in_the_browser() {
    let server = crate::auth::start().await;
    let addr = server.running.as_ref().unwrap().addr;
    let url = format!("http://{addr}");
    let options = Options {
        seed: 15,
        events: 5_000,
        callers: 8,
        tenants: 3_190,
        show_progress: false,
        now: Some(at("2026-01-01T00:00:00Z")),
    };
    let province = generate::run(&url, ADMIN, &options).await.unwrap();
    read_models_at_head(&server).await;

    let (_, auditor) = issue(&server, proto::Role::Auditor, "").await;
    // An officer of the Board that runs the parks since the 2025 merger.
    let (_, board) = issue(&server, proto::Role::BoardOfficer, &province.successor).await;
    // An officer of an infrastructure company, who sees only its own records.
    let company_id = province.companies[0].clone();
    let (_, company) = issue(&server, proto::Role::CompanyOfficer, &company_id).await;
    // The test stands in for the channel an auditor receives the key by; the page never asks the
    // server for it unless told to pin on first use.
    let key = AuditServiceClient::new(server.channel.clone())
        .get_verifier_key(proto::GetVerifierKeyRequest {})
        .await
        .unwrap()
        .into_inner()
        .verifier_key;
    let screenshots = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/console-screenshots");
    let script_env = [
        ("KCN_CONSOLE_URL", url),
        ("KCN_AUDITOR_TOKEN", auditor),
        ("KCN_ADMIN_TOKEN", ADMIN.to_owned()),
        ("KCN_BOARD_TOKEN", board),
        ("KCN_COMPANY_TOKEN", company),
        ("KCN_COMPANY_ID", company_id),
        ("KCN_VERIFIER_KEY", key),
        ("KCN_NOW", "2026-01-01T00:00:00Z".to_owned()),
        ("KCN_SCREENSHOTS", screenshots.display().to_string()),
    ];
    // The script blocks this thread while the server serves it on the runtime's other workers.
    tokio::task::spawn_blocking(move || run_node("tests/console.mjs", &script_env))
        .await
        .unwrap();
    assert!(screenshots.join("04-timeline.png").is_file());
}
