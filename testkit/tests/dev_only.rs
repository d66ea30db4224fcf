//! The test kit stays out of what ships: every crate of the workspace names `kcn-testkit` only under
//! `[dev-dependencies]` (and the root declares it once in `[workspace.dependencies]`).

use std::path::Path;

/// The sections of a manifest that name `kcn-testkit`.
fn sections_naming_the_kit(manifest: &str) -> Vec<String> {
    let mut section = String::new();
    let mut found = Vec::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line.trim_matches(|c| c == '[' || c == ']').to_owned();
        } else if line.starts_with("kcn-testkit") {
            found.push(section.clone());
        }
    }
    found
}

#[test]
fn only_dev_dependencies_name_the_test_kit() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let workspace = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let members: Vec<String> = workspace
        .lines()
        .find(|l| l.trim_start().starts_with("members"))
        .expect("the root manifest lists its members")
        .split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect();
    assert!(members.contains(&"testkit".to_owned()), "{members:?}");
    let mut users = 0;
    for dir in std::iter::once(".".to_owned()).chain(members) {
        if dir == "testkit" {
            continue;
        }
        let manifest = std::fs::read_to_string(root.join(&dir).join("Cargo.toml")).unwrap();
        for section in sections_naming_the_kit(&manifest) {
            let allowed = section == "dev-dependencies"
                || section.ends_with(".dev-dependencies")
                || (dir == "." && section == "workspace.dependencies");
            assert!(allowed, "{dir}/Cargo.toml names kcn-testkit in [{section}]");
            users += usize::from(section.ends_with("dev-dependencies"));
        }
    }
    assert!(users >= 3, "the kit has users: {users}");
}

#[test]
fn a_normal_dependency_on_the_kit_would_be_found() {
    let manifest = "[package]\nname = \"x\"\n[dependencies]\nkcn-testkit.workspace = true\n";
    assert_eq!(sections_naming_the_kit(manifest), ["dependencies"]);
}
