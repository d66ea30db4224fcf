//! The README's walkthrough, run as written: every `call` of its first shell block goes through
//! `buf curl` (from the test's Python environment, as the README says) to a real server, with the
//! first administrator's token, and the ids the README says to keep are taken from the answers. A
//! walkthrough step that stops working fails this test.

use std::path::{Path, PathBuf};

use crate::harness::TestServer;

const ADMIN: &str = "kcn_readme-test-first-administrator-token-00000000";

/// The walkthrough's `call` alias (its words after `buf`) and its `call`s, each as its arguments
/// after `call`.
fn walkthrough() -> (Vec<String>, Vec<Vec<String>>) {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let section = readme
        .split("## A walkthrough with `buf curl`")
        .nth(1)
        .expect("the README has its walkthrough");
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("\n```").next())
        .expect("the walkthrough has a shell block");
    let alias = block
        .lines()
        .find_map(|l| l.strip_prefix("alias call='"))
        .and_then(|a| a.strip_suffix('\''))
        .expect("the walkthrough defines its call alias");
    let mut alias = shlex::split(alias).expect("an alias a shell can split");
    assert_eq!(alias.remove(0), "buf");
    let mut commands: Vec<String> = Vec::new();
    for line in block.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("call ") {
            // A trailing comment after a command without quotes ("# {"status": ...}").
            let line = match (line.contains('\''), line.find("  #")) {
                (false, Some(at)) => &line[..at],
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
            assert_eq!(words.remove(0), "call");
            words
        })
        .collect();
    (alias, calls)
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
    let (alias, calls) = walkthrough();
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
        let output = tokio::process::Command::new(&buf)
            .args(&alias)
            .args(&args)
            .output()
            .await
            .expect("buf runs");
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
    let answer = |m: &str| {
        answers
            .iter()
            .find(|(method, _)| method == m)
            .map(|(_, a)| a.as_str())
            .unwrap_or_else(|| panic!("the walkthrough calls {m}"))
    };
    assert!(answer("Check").contains("SERVING"));
    assert!(answer("GetTimeline").contains("ParkRegistered"));
    assert!(answer("ReadLog").contains("AuthorityEstablished"));
}
