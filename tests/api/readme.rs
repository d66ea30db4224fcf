//! The README's walkthroughs, run as written: every `call` of the `buf curl` block goes through
//! `buf curl` (from the test's Python environment, as the README says), and every `jcall` of the
//! plain HTTP block through `curl`, to a real server with the first administrator's token; the ids
//! the README says to keep are taken from the answers. A walkthrough step that stops working fails
//! this test.

use std::path::{Path, PathBuf};

use crate::harness::TestServer;

const ADMIN: &str = "kcn_readme-test-first-administrator-token-00000000";

/// A walkthrough's alias (its words after `tool`) and its calls, each as its arguments after the
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
    let alias = block
        .lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .and_then(|a| a.strip_suffix('\''))
        .expect("the walkthrough defines its alias");
    let mut alias = shlex::split(alias).expect("an alias a shell can split");
    assert_eq!(alias.remove(0), tool);
    let mut commands: Vec<String> = Vec::new();
    let start = format!("{name} ");
    for line in block.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with(start.as_str()) {
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
            assert_eq!(words.remove(0), name);
            words
        })
        .collect();
    (alias, calls)
}

/// Runs a walkthrough's calls with `tool` and `alias` against a fresh server, keeping the ids the
/// README names from the answers; answers each call's method and output.
async fn run(tool: &Path, alias: &[String], calls: Vec<Vec<String>>) -> Vec<(String, String)> {
    let alias: Vec<String> = alias.iter().map(|a| a.replace("$T", ADMIN)).collect();
    assert!(calls.len() >= 7, "{calls:?}");
    let server = TestServer::with_first_administrator(ADMIN, |_| {}).await;
    let url = format!("http://{}", server.running.as_ref().unwrap().addr);
    let mut ids: Vec<(&str, String)> = Vec::new();
    let mut answers = Vec::new();
    for call in calls {
        let args: Vec<String> = call
            .iter()
            .map(|a| {
                let mut a = a.replace("$S", &url);
                for (placeholder, id) in &ids {
                    a = a.replace(placeholder, id);
                }
                a
            })
            .collect();
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
            let id = answer["outcome"]["aggregateId"].as_str().map(str::to_owned);
            match (method.as_str(), id) {
                ("EstablishAuthority", Some(id)) => ids.push(("<board id>", id)),
                ("RegisterPark", Some(id)) => ids.push(("<park id>", id)),
                _ => {}
            }
        }
        answers.push((method, stdout));
    }
    answers
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
    let answers = run(&buf, &alias, calls).await;
    assert!(answer(&answers, "Check").contains("SERVING"));
    assert!(answer(&answers, "GetTimeline").contains("ParkRegistered"));
    assert!(answer(&answers, "ReadLog").contains("AuthorityEstablished"));
}

#[tokio::test]
async fn the_readme_curl_walkthrough_runs_as_written() {
    let (alias, calls) = walkthrough("## The same with `curl`", "jcall", "curl");
    let answers = run(Path::new("curl"), &alias, calls).await;
    assert!(answer(&answers, "Check").contains("SERVING"));
    assert!(answer(&answers, "openapi.json").contains("\"openapi\": \"3.1.0\""));
    assert!(answer(&answers, "GetTimeline").contains("ParkRegistered"));
    let checkpoint = answer(&answers, "GetCheckpoint");
    assert!(checkpoint.contains("rootHash"), "{checkpoint}");
}
