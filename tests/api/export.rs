//! `kcn-ledger export` and `kcn-ledger verify-export` (the built binary) on a seeded store, SQLite
//! and PostgreSQL: a business period holds exactly the events dated on its local dates (UTC+7, the
//! boundary days included, the day after excluded, a late fact included), the file verifies with
//! the Rust command and with the independent Python verifier, and a changed payload byte, a changed
//! proof hash, a forged checkpoint signature or a dropped event line fails, naming the position (or
//! the checkpoint). A range of positions exports gap-free, and a selection that no signed
//! checkpoint covers yet is refused until the server signs one; a store that no longer proves an
//! event is not exported at all.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use kcn_services::proto;
use serde_json::Value;

use crate::harness::{TestServer, header, on_both_backends, seed};
use crate::transparency::{attacker, checkpoint_covering, python};

/// A company registered with the given business time (`occurred_at`).
fn company(occurred_at: &str, i: usize) -> proto::RegisterCompanyRequest {
    proto::RegisterCompanyRequest {
        header: header(occurred_at),
        enterprise_code: crate::harness::fresh_enterprise_code(),
        name: format!("Công ty xuất khẩu {i}"),
        address: "Thuận An".into(),
    }
}

/// Runs the binary with `args` and only what the test passes configuring it.
async fn kcn(args: &[&str]) -> std::process::Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_kcn-ledger"));
    command.args(args).env("KCN_LOG_FORMAT", "json");
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("KCN_") && key != "KCN_LOG_FORMAT" {
            command.env_remove(key);
        }
    }
    command.output().await.expect("the kcn-ledger binary runs")
}

fn text(output: &std::process::Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// How `export` names the server's store: its data directory (whose key file it reads), or the
/// PostgreSQL URL with the published verifier key (the seed is the servers' configuration).
fn store_args(server: &TestServer, key: &str) -> Vec<String> {
    match &server.postgres {
        Some(db) => vec![
            "--database-url".into(),
            db.url().to_owned(),
            "--verifier-key".into(),
            key.to_owned(),
        ],
        None => vec!["--data-dir".into(), server.dir.path().display().to_string()],
    }
}

async fn export(
    server: &TestServer,
    key: &str,
    out: &Path,
    selection: &[&str],
) -> std::process::Output {
    let out = out.display().to_string();
    let store = store_args(server, key);
    let mut args = vec!["export", out.as_str()];
    args.extend(selection);
    args.extend(store.iter().map(String::as_str));
    kcn(&args).await
}

async fn verify_export(file: &Path, key: &str) -> std::process::Output {
    let file = file.display().to_string();
    kcn(&["verify-export", &file, "--verifier-key", key]).await
}

/// The independent verifier on the file, or `None` when Python is deliberately skipped.
async fn verify_py(file: &Path, key: &str) -> Option<std::process::Output> {
    let python = python()?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("verifier/verify.py");
    Some(
        tokio::process::Command::new(python)
            .arg(script)
            .arg("--export")
            .arg(file)
            .args(["--verifier-key", key])
            .output()
            .await
            .expect("the venv's python runs"),
    )
}

/// Both verifiers pass the file.
async fn both_pass(file: &Path, key: &str, events: usize) {
    let rust = verify_export(file, key).await;
    assert!(rust.status.success(), "{}", text(&rust));
    let stdout = String::from_utf8_lossy(&rust.stdout);
    assert!(
        stdout.starts_with(&format!("ok: {events} events")),
        "{stdout}"
    );
    if let Some(py) = verify_py(file, key).await {
        assert!(py.status.success(), "verify.py: {}", text(&py));
        let stdout = String::from_utf8_lossy(&py.stdout);
        assert!(
            stdout.contains(&format!("ok: {events} events proven")),
            "{stdout}"
        );
    }
}

/// Both verifiers refuse the file (exit 1) and their verdicts contain `named`.
async fn both_fail(file: &Path, key: &str, named: &str) {
    let rust = verify_export(file, key).await;
    assert_eq!(rust.status.code(), Some(1), "{}", text(&rust));
    let verdict = String::from_utf8_lossy(&rust.stdout);
    assert!(verdict.contains(named), "want {named:?} in: {verdict}");
    if let Some(py) = verify_py(file, key).await {
        assert_eq!(py.status.code(), Some(1), "verify.py: {}", text(&py));
        let verdict = String::from_utf8_lossy(&py.stdout);
        assert!(
            verdict.contains(named),
            "verify.py: want {named:?} in: {verdict}"
        );
    }
}

fn read_lines(file: &Path) -> Vec<Value> {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn write_lines(file: &Path, lines: &[Value]) {
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(file, text).unwrap();
}

fn event_positions(lines: &[Value]) -> Vec<u64> {
    lines
        .iter()
        .filter(|l| l["type"] == "event")
        .map(|l| l["position"].as_u64().unwrap())
        .collect()
}

async fn verifier_key(server: &TestServer) -> String {
    server
        .audit()
        .get_verifier_key(proto::GetVerifierKeyRequest {})
        .await
        .unwrap()
        .into_inner()
        .verifier_key
}

async fn a_business_period_exports_with_proofs_that_verify_offline(server: TestServer) {
    // The seed's six events happened on 1 and 2 April 2025: outside June.
    seed(&server).await;
    let mut registry = server.registry();
    // June 2025 in Vietnam runs from 2025-05-31T17:00Z to 2025-06-30T17:00Z.
    let dated = [
        ("2025-05-31T16:59:59.999999Z", false), // 23:59:59.999999 on 31 May, local
        ("2025-05-31T17:00:00Z", true),         // midnight starting 1 June, local
        ("2025-06-15T03:00:00Z", true),
        ("2025-06-30T16:59:59.999999Z", true), // the last microsecond of 30 June, local
        ("2025-06-30T17:00:00Z", false),       // midnight starting 1 July, local
        ("2025-06-10T01:00:00Z", true),        // recorded after July's: a late fact of June
    ];
    let mut june = Vec::new();
    let mut last = 0;
    for (i, (at, in_june)) in dated.iter().enumerate() {
        let outcome = registry
            .register_company(company(at, i))
            .await
            .unwrap()
            .into_inner()
            .outcome
            .unwrap();
        if *in_june {
            june.push(outcome.first_position);
        }
        last = outcome.last_position;
    }
    assert_eq!(last, 12);
    let checkpoint = checkpoint_covering(&mut server.audit(), Some(last)).await;
    let key = verifier_key(&server).await;

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("june.jsonl");
    let output = export(
        &server,
        &key,
        &file,
        &["--from-date", "2025-06-01", "--to-date", "2025-06-30"],
    )
    .await;
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("exported 4 events"),
        "{}",
        text(&output)
    );
    let lines = read_lines(&file);
    // Hand-checked: both boundary days are in, the microsecond before and the day after are out,
    // and the late fact is in its period, in position order.
    assert_eq!(event_positions(&lines), [8, 9, 10, 12]);
    assert_eq!(event_positions(&lines), june);
    let head = &lines[0];
    assert_eq!(head["type"], "header");
    assert_eq!(head["format"], "kcn-ledger/export/v1");
    assert_eq!(head["verifier_key"], key.as_str());
    assert_eq!(head["checkpoint"], checkpoint.note.as_str());
    assert_eq!(head["tree_size"], checkpoint.tree_size);
    assert_eq!(
        head["selection"],
        serde_json::json!({"by": "period", "from_date": "2025-06-01", "to_date": "2025-06-30", "utc_offset": "+07:00"})
    );
    assert_eq!(
        lines.last().unwrap(),
        &serde_json::json!({"type": "end", "events": 4})
    );
    // Every field as the log serves it, payload and metadata byte for byte.
    let log = server.read_log().await;
    for line in lines.iter().filter(|l| l["type"] == "event") {
        let e = &log[line["position"].as_u64().unwrap() as usize - 1];
        assert_eq!(line["event_id"], e.event_id.as_str());
        assert_eq!(line["aggregate_id"], e.aggregate_id.as_str());
        assert_eq!(line["occurred_at"], e.occurred_at.as_str());
        assert_eq!(line["recorded_at"], e.recorded_at.as_str());
        assert_eq!(
            BASE64
                .decode(line["payload_base64"].as_str().unwrap())
                .unwrap(),
            e.payload
        );
        assert_eq!(
            BASE64
                .decode(line["metadata_base64"].as_str().unwrap())
                .unwrap(),
            e.metadata
        );
    }
    assert_eq!(log[10].occurred_at, "2025-06-30T17:00:00.000000Z");
    both_pass(&file, &key, 4).await;

    // An existing file is never overwritten.
    let again = export(
        &server,
        &key,
        &file,
        &["--from-date", "2025-06-01", "--to-date", "2025-06-30"],
    )
    .await;
    assert_eq!(again.status.code(), Some(2), "{}", text(&again));

    // One payload byte changed (inside the company's name, so it is still JSON): its position.
    let mut tampered = lines.clone();
    let payload = BASE64
        .decode(tampered[2]["payload_base64"].as_str().unwrap())
        .unwrap();
    let at = payload.windows(3).position(|w| w == b"ty ").unwrap();
    let mut payload = payload;
    payload[at] = b'T';
    tampered[2]["payload_base64"] = BASE64.encode(&payload).into();
    let bad = dir.path().join("payload.jsonl");
    write_lines(&bad, &tampered);
    both_fail(&bad, &key, "first bad position is 9").await;

    // One hash of a proof changed: its position.
    let mut tampered = lines.clone();
    let proof = &mut tampered[3]["inclusion_proof_base64"][0];
    let mut hash = BASE64.decode(proof.as_str().unwrap()).unwrap();
    hash[0] ^= 1;
    *proof = BASE64.encode(&hash).into();
    let bad = dir.path().join("proof.jsonl");
    write_lines(&bad, &tampered);
    both_fail(&bad, &key, "first bad position is 10").await;

    // The checkpoint's signature forged: the log's key id, another key's signature over the body.
    let note = checkpoint.note.as_str();
    let (body, signature_line) = note.split_once("\n\n").unwrap();
    let (prefix, signature) = signature_line.trim_end().rsplit_once(' ').unwrap();
    let signature = BASE64.decode(signature).unwrap();
    let opened = kcn_integrity::Checkpoint::parse(&format!("{body}\n")).unwrap();
    let name = key.split('+').next().unwrap();
    let other = kcn_integrity::Signer::from_seed(name, &[9; 32]).unwrap();
    let other_note = other.sign(&opened).unwrap();
    let other_signature = BASE64
        .decode(other_note.trim_end().rsplit_once(' ').unwrap().1)
        .unwrap();
    let forged = [&signature[..4], &other_signature[4..]].concat();
    let mut tampered = lines.clone();
    tampered[0]["checkpoint"] = format!("{body}\n\n{prefix} {}\n", BASE64.encode(&forged)).into();
    let bad = dir.path().join("signature.jsonl");
    write_lines(&bad, &tampered);
    both_fail(&bad, &key, "checkpoint").await;
    // A checkpoint verified with another key than the log's is refused just the same.
    both_fail(&file, &other.verifier_key(), "checkpoint").await;

    // An event line dropped: the end line's count gives it away. (That no event of a period was
    // left out is not something its proofs can show; a range of positions is checked gap-free.)
    let mut tampered = lines.clone();
    tampered.remove(2);
    let bad = dir.path().join("dropped.jsonl");
    write_lines(&bad, &tampered);
    both_fail(&bad, &key, "end line counts 4").await;
}

async fn a_range_of_positions_exports_once_a_checkpoint_covers_it(server: TestServer) {
    seed(&server).await;
    let key = verifier_key(&server).await;
    checkpoint_covering(&mut server.audit(), Some(6)).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("range.jsonl");
    let output = export(
        &server,
        &key,
        &file,
        &["--from-position", "2", "--to-position", "5"],
    )
    .await;
    assert!(output.status.success(), "{}", text(&output));
    let lines = read_lines(&file);
    assert_eq!(event_positions(&lines), [2, 3, 4, 5]);
    both_pass(&file, &key, 4).await;

    // A range must be whole: a dropped line is a missing position, even with the count fixed.
    let mut tampered = lines.clone();
    tampered.remove(2);
    let n = tampered.len();
    tampered[n - 1]["events"] = 3.into();
    let bad = dir.path().join("gap.jsonl");
    write_lines(&bad, &tampered);
    both_fail(&bad, &key, "first bad position is 3").await;

    // Beyond the log: refused, and nothing is written.
    let beyond = dir.path().join("beyond.jsonl");
    let output = export(
        &server,
        &key,
        &beyond,
        &["--from-position", "1", "--to-position", "7"],
    )
    .await;
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        text(&output).contains("beyond the log"),
        "{}",
        text(&output)
    );
    assert!(!beyond.exists());
    assert!(!dir.path().join("beyond.jsonl.partial").exists());
}

on_both_backends!(
    a_business_period_exports_with_proofs_that_verify_offline,
    a_range_of_positions_exports_once_a_checkpoint_covers_it,
);

#[tokio::test]
async fn a_selection_no_signed_checkpoint_covers_is_refused_until_the_server_signs_one() {
    // A server that signs after commits only once an hour: its events stay unsigned until asked.
    let server = TestServer::start_configured(tempfile::tempdir().unwrap(), None, |c| {
        c.checkpoint_interval_ms = 3_600_000;
    })
    .await;
    seed(&server).await;
    let key = verifier_key(&server).await;
    let dir = tempfile::tempdir().unwrap();
    for selection in [
        ["--from-position", "1", "--to-position", "6"],
        ["--from-date", "2025-04-01", "--to-date", "2025-04-30"],
    ] {
        let file = dir.path().join("unsigned.jsonl");
        let output = export(&server, &key, &file, &selection).await;
        assert_eq!(output.status.code(), Some(2), "{}", text(&output));
        let message = text(&output);
        assert!(
            message.contains("no signed checkpoint covers it yet"),
            "{message}"
        );
        assert!(message.contains("let the server sign one"), "{message}");
        assert!(!file.exists());
    }
    // Asking for the newest checkpoint has the server sign its head; then the export goes through.
    checkpoint_covering(&mut server.audit(), Some(6)).await;
    let file = dir.path().join("april.jsonl");
    let output = export(
        &server,
        &key,
        &file,
        &["--from-date", "2025-04-01", "--to-date", "2025-04-30"],
    )
    .await;
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(event_positions(&read_lines(&file)), [1, 2, 3, 4, 5, 6]);
    both_pass(&file, &key, 6).await;
}

#[tokio::test]
async fn a_store_that_no_longer_proves_an_event_is_not_exported() {
    let server = TestServer::start().await;
    seed(&server).await;
    checkpoint_covering(&mut server.audit(), Some(6)).await;
    let key = verifier_key(&server).await;
    let dir = server.stop().await;
    // An attacker with file access changes one byte of a signed event.
    let db = attacker(dir.path()).await;
    sqlx::query(
        "UPDATE events SET payload = CAST('[' || substr(payload, 2) AS BLOB) WHERE position = 4",
    )
    .execute(&db)
    .await
    .unwrap();
    db.close().await;
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("altered.jsonl");
    let data_dir = dir.path().display().to_string();
    let file_arg = file.display().to_string();
    let output = kcn(&[
        "export",
        &file_arg,
        "--from-position",
        "1",
        "--to-position",
        "6",
        "--data-dir",
        &data_dir,
        "--verifier-key",
        &key,
    ])
    .await;
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let message = text(&output);
    assert!(message.contains("position 4:"), "{message}");
    assert!(message.contains("kcn-ledger verify"), "{message}");
    assert!(!file.exists());
    assert!(!out.path().join("altered.jsonl.partial").exists());
}
