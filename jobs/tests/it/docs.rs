//! docs/ documents what the code has: every file of a run folder (the outputs catalogue) in
//! docs/outputs.md, every table the API serves in docs/api.md. The spec keys are checked against
//! the spec's own structs by a unit test of the spec module.

use crate::repo;
use vigil_core::output::catalogue::{OUTPUTS, served};

fn doc(name: &str) -> String {
    std::fs::read_to_string(repo().join("docs").join(name)).unwrap()
}

/// The first cell of every table row that starts with a back-quoted name: `| `name` | … |`.
fn documented_names(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split_once('`'))
        .map(|(name, _)| name.to_string())
        .collect()
}

#[test]
fn every_run_file_is_documented_in_outputs_md_and_nothing_else_is() {
    let text = doc("outputs.md");
    // the run-folder table is the first table under "## Every file of a run folder"
    let section = text
        .split("\n## ")
        .find(|s| s.starts_with("Every file of a run folder"))
        .expect("docs/outputs.md has a section \"## Every file of a run folder\"");
    let first_table: String = section
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .collect::<Vec<_>>()
        .join("\n");
    let run_table = documented_names(&first_table);
    let missing: Vec<&str> = OUTPUTS
        .iter()
        .map(|o| o.file)
        .filter(|f| !run_table.iter().any(|d| d == f))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/outputs.md does not list these run files (add a row `| `file` | what it holds |`): {missing:?}"
    );
    let unknown: Vec<&String> = run_table
        .iter()
        .filter(|d| !OUTPUTS.iter().any(|o| o.file == d.as_str()))
        .collect();
    assert!(
        unknown.is_empty(),
        "docs/outputs.md lists run files the outputs catalogue does not have: {unknown:?}"
    );
}

#[test]
fn every_served_table_is_documented_in_api_md() {
    let text = doc("api.md");
    let tables = text
        .split("- **Tables**:")
        .nth(1)
        .and_then(|t| t.split("not served").next())
        .expect("docs/api.md has a \"- **Tables**:\" item");
    let listed: Vec<&str> = tables
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|t| !t.contains('.'))
        .collect();
    let want: Vec<&str> = served().filter_map(|o| o.table).collect();
    for t in &want {
        assert!(listed.contains(t), "docs/api.md does not list table `{t}`");
    }
    for t in &listed {
        assert!(
            want.contains(t),
            "docs/api.md lists `{t}`, which the API does not serve"
        );
    }
}
