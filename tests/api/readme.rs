//! The README's walkthroughs, run as written: every `call` of the `buf curl` block goes through
//! `buf curl` (from the test's Python environment, as the README says), and every `jcall` of the
//! plain HTTP block through `curl`, to a real server with the first administrator's token; the ids
//! the README says to keep are taken from the answers. A walkthrough step that stops working fails
//! this test.

use std::path::{Path, PathBuf};

use crate::harness::TestServer;

const ADMIN: &str = "kcn_readme-test-first-administrator-token-00000000";

/// A walkthrough's alias (its words after `tool`; none for a block that goes on from another) and
/// its calls, each as its arguments after the
/// alias: the first shell block after `heading`.
fn walkthrough(heading: &str, name: &str, tool: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let section = readme
        .split(heading)
        .nth(1)
        .unwrap_or_else(|| panic!("the README has its section {heading:?}"));
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("\n```").next())
        .expect("the walkthrough has a shell block");
    let prefix = format!("alias {name}='");
    // A block that goes on from another uses that one's alias and defines none.
    let alias = match block
        .lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .and_then(|a| a.strip_suffix('\''))
    {
        Some(alias) => {
            let mut alias = shlex::split(alias).expect("an alias a shell can split");
            assert_eq!(alias.remove(0), tool);
            alias
        }
        None => Vec::new(),
    };
    let mut commands: Vec<String> = Vec::new();
    let start = format!("{name} ");
    for line in block.lines() {
        let trimmed = line.trim_start();
        if let Some(token) = trimmed.strip_prefix("T=") {
            // A change of token for the steps that follow: `T=<company officer token>`.
            commands.push(format!("T= '{token}'"));
        } else if trimmed.starts_with(start.as_str()) {
            // A trailing comment after a command without quotes ("# {"status": ...}").
            let line = match (line.contains('\''), line.find("  #")) {
                (false, Some(at)) => &line[..at],
                (true, Some(at))
                    if line[at..].matches('\'').count() == 0
                        && line[..at].matches('\'').count() % 2 == 0 =>
                {
                    &line[..at]
                }
                _ => line,
            };
            commands.push(line.to_owned());
        } else if let Some(last) = commands.last_mut()
            && (last.ends_with('\\') || last.matches('\'').count() % 2 == 1)
        {
            last.push('\n');
            last.push_str(line);
        }
    }
    let calls = commands
        .iter()
        .map(|c| {
            let joined = c.replace("\\\n", " ");
            let mut words = shlex::split(&joined).expect("a command a shell can split");
            let first = words.remove(0);
            assert!(first == name || first == "T=", "{c}");
            if first == "T=" {
                words.insert(0, first);
            }
            words
        })
        .collect();
    (alias, calls)
}

/// Runs a walkthrough's calls with `tool` and `alias` against `server`, keeping the ids and the
/// tokens the README names from the answers in `ids`; a `T=` step changes the token the calls
/// that follow send. Answers each call's method and output.
async fn run(
    server: &TestServer,
    ids: &mut Vec<(&'static str, String)>,
    tool: &Path,
    alias: &[String],
    calls: Vec<Vec<String>>,
) -> Vec<(String, String)> {
    let url = format!("http://{}", server.running.as_ref().unwrap().addr);
    let mut token = ADMIN.to_owned();
    let mut answers = Vec::new();
    let substitute = |a: &str, token: &str, ids: &[(&str, String)]| {
        let mut a = a.replace("$S", &url).replace("$T", token);
        for (placeholder, id) in ids {
            a = a.replace(placeholder, id);
        }
        a
    };
    for call in calls {
        if call[0] == "T=" {
            token = substitute(&call[1], &token, ids);
            assert!(
                token.starts_with("kcn_"),
                "the README's {:?} is known",
                call[1]
            );
            continue;
        }
        let args: Vec<String> = call.iter().map(|a| substitute(a, &token, ids)).collect();
        let alias: Vec<String> = alias.iter().map(|a| substitute(a, &token, ids)).collect();
        let output = tokio::process::Command::new(tool)
            .args(&alias)
            .args(&args)
            .output()
            .await
            .unwrap_or_else(|e| panic!("{} runs: {e}", tool.display()));
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "{args:?} failed:\n{stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let method = args.last().unwrap().rsplit('/').next().unwrap().to_owned();
        if let Ok(answer) = serde_json::from_str::<serde_json::Value>(&stdout) {
            // `<last position>` is always the latest command's (read your writes).
            if let Some(last) = answer["outcome"]["lastPosition"].as_str() {
                ids.retain(|(p, _)| *p != "<last position>");
                ids.push(("<last position>", last.to_owned()));
            }
            let id = answer["outcome"]["aggregateId"].as_str().map(str::to_owned);
            let request = args.join(" ");
            let kept = match method.as_str() {
                "EstablishAuthority" => id.map(|id| ("<board id>", id)),
                "RegisterPark" => id.map(|id| ("<park id>", id)),
                "RegisterCompany" => id.map(|id| ("<company id>", id)),
                "RegisterTenant" => id.map(|id| ("<tenant id>", id)),
                "IssuePrincipal" => {
                    let token = answer["token"].as_str().unwrap_or_default().to_owned();
                    [
                        ("ROLE_BOARD_OFFICER", "<board officer token>"),
                        ("ROLE_COMPANY_OFFICER", "<company officer token>"),
                        ("ROLE_INTEGRATION", "<integration token>"),
                    ]
                    .into_iter()
                    .find(|(role, _)| request.contains(role))
                    .map(|(_, placeholder)| (placeholder, token))
                }
                _ => None,
            };
            ids.extend(kept);
        }
        answers.push((method, stdout));
    }
    answers
}

/// A server with the first administrator's token, as the walkthroughs assume.
async fn server() -> TestServer {
    TestServer::with_first_administrator(ADMIN, |_| {}).await
}

fn answer<'a>(answers: &'a [(String, String)], m: &str) -> &'a str {
    answers
        .iter()
        .find(|(method, _)| method == m)
        .map(|(_, a)| a.as_str())
        .unwrap_or_else(|| panic!("the walkthrough calls {m}"))
}

fn buf() -> Option<PathBuf> {
    let python = crate::transparency::python()?;
    Some(python.parent().unwrap().join("buf"))
}

#[tokio::test]
async fn the_readme_walkthrough_runs_as_written() {
    let Some(buf) = buf() else {
        return;
    };
    let (alias, calls) = walkthrough("## A walkthrough with `buf curl`", "call", "buf");
    assert!(calls.len() >= 7, "{calls:?}");
    let server = server().await;
    let answers = run(&server, &mut Vec::new(), &buf, &alias, calls).await;
    assert!(answer(&answers, "Check").contains("SERVING"));
    assert!(answer(&answers, "GetTimeline").contains("ParkRegistered"));
    assert!(answer(&answers, "ReadLog").contains("AuthorityEstablished"));
}

#[tokio::test]
async fn the_readme_curl_walkthrough_runs_as_written() {
    let (alias, calls) = walkthrough("## The same with `curl`", "jcall", "curl");
    assert!(calls.len() >= 7, "{calls:?}");
    let server = server().await;
    let answers = run(&server, &mut Vec::new(), Path::new("curl"), &alias, calls).await;
    assert!(answer(&answers, "Check").contains("SERVING"));
    assert!(answer(&answers, "openapi.json").contains("\"openapi\": \"3.1.0\""));
    assert!(answer(&answers, "GetTimeline").contains("ParkRegistered"));
    let checkpoint = answer(&answers, "GetCheckpoint");
    assert!(checkpoint.contains("rootHash"), "{checkpoint}");
}

/// The API section's example of each area, after the walkthrough on the same server, each step
/// with the token of the role it names; then the monitoring alert pushed as a CloudEvent with
/// `curl`, with the integration token the examples issued.
#[tokio::test]
async fn the_readme_examples_per_area_run_as_written() {
    let Some(buf) = buf() else {
        return;
    };
    let (alias, calls) = walkthrough("## A walkthrough with `buf curl`", "call", "buf");
    let (_, examples) = walkthrough("### One example per area", "call", "buf");
    assert!(examples.iter().filter(|c| c[0] == "T=").count() >= 2);
    let server = server().await;
    let mut ids = Vec::new();
    run(&server, &mut ids, &buf, &alias, calls).await;
    let answers = run(&server, &mut ids, &buf, &alias, examples).await;
    for method in ["SignAgreement", "PlanInspection", "ReportIncident"] {
        assert!(answer(&answers, method).contains("aggregateId"), "{method}");
    }
    assert!(answer(&answers, "GetAggregateHistory").contains("ParkRegistered"));

    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let block = readme
        .split("**Monitoring alerts pushed by the province.**")
        .nth(1)
        .and_then(|s| s.split("```sh\n").nth(1))
        .and_then(|b| b.split("\n```").next())
        .expect("the README shows a monitoring alert");
    let mut words = shlex::split(&block.replace("\\\n", " ")).expect("a shell command");
    assert_eq!(words.remove(0), "curl");
    let token = ids
        .iter()
        .find(|(p, _)| *p == "<integration token>")
        .map(|(_, t)| t.clone())
        .expect("the examples issue an integration token");
    let answers = run(
        &server,
        &mut ids,
        Path::new("curl"),
        &[],
        vec![
            vec!["T=".to_owned(), token],
            std::iter::once("--fail-with-body".to_owned())
                .chain(words)
                .collect(),
        ],
    )
    .await;
    let (_, alert) = &answers[0];
    assert!(alert.contains("aggregateId"), "{alert}");
}

/// `buf curl` prints an error's details decoded when it speaks Connect (with the schema from the
/// checkout, since reflection is a stream and Connect is served for unary calls only): it passes on
/// the `debug` the server puts beside each detail. Over gRPC it shows them as their type and base64 value
/// only, since its binary knows no `google.rpc` types (the README says so; grpcio and grpcurl
/// resolve them through reflection, as `tests/interop/reflection.py` checks).
#[tokio::test]
async fn buf_curl_prints_error_details_decoded_over_connect() {
    let Some(buf) = buf() else {
        return;
    };
    let server = server().await;
    let url = format!(
        "http://{}/kcn.ledger.v1.RegistryService/RegisterPark",
        server.running.as_ref().unwrap().addr
    );
    let output = tokio::process::Command::new(&buf)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["curl", "--protocol", "connect", "--schema", ".", "-H"])
        .arg(format!("authorization: Bearer {ADMIN}"))
        .args(["-d", r#"{"code":"x y"}"#])
        .arg(&url)
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let printed = String::from_utf8_lossy(&output.stderr);
    assert!(printed.contains("\"invalid_argument\""), "{printed}");
    assert!(printed.contains("\"debug\""), "{printed}");
    assert!(printed.contains("fieldViolations"), "{printed}");
    assert!(printed.contains("\"header\""), "{printed}");
}
