//! `synthex compare` with the inputs and outputs a CI loop uses: a real Locust run's CSVs
//! (tests/fixtures/locust, Locust 2.47) as either side, the warning when the two plans differ,
//! and `--format=github-issue`, whose payload is checked against the JSON Schema of GitHub's
//! "create an issue" request (tests/fixtures/github/create-issue.schema.json) with
//! python3-jsonschema.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::load::{Target, load, text};
use common::{require_tool, synthex_bin};
use synthex::report::locust_input;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn compare(args: &[&str]) -> Output {
    Command::new(synthex_bin())
        .arg("compare")
        .args(args)
        .env_remove("GITHUB_SERVER_URL")
        .env_remove("GITHUB_REPOSITORY")
        .env_remove("GITHUB_RUN_ID")
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `path`'s `_stats.csv` lines with `edit` applied to the row named `name`.
fn edited_copy(dir: &Path, name: &str, edit: impl Fn(&mut Vec<String>)) -> PathBuf {
    let original = fixtures().join("locust/locust_stats.csv");
    let text = std::fs::read_to_string(original).unwrap();
    let lines: Vec<String> = text
        .split("\r\n")
        .map(|line| {
            let mut fields: Vec<String> = line.split(',').map(String::from).collect();
            if fields.get(1).map(String::as_str) == Some(name) {
                edit(&mut fields);
            }
            fields.join(",")
        })
        .collect();
    let path = dir.join("edited_stats.csv");
    std::fs::write(&path, lines.join("\r\n")).unwrap();
    path
}

#[test]
fn a_locust_run_reads_back_with_locusts_own_numbers() {
    let report = locust_input::read(&fixtures().join("locust")).unwrap();
    // Every number below is read off the CSVs Locust wrote, not computed by synthex.
    let names: Vec<(&str, &str, u64, u64)> = report
        .scenarios
        .iter()
        .map(|s| {
            (
                s.method.as_str(),
                s.scenario.as_str(),
                s.requests,
                s.failures,
            )
        })
        .collect();
    assert_eq!(names, [("GET", "/", 53, 0), ("GET", "missing", 23, 23)]);
    let ms = |q: f64, row: usize| {
        report.scenarios[row]
            .latency
            .quantile(q)
            .unwrap()
            .as_secs_f64()
            * 1e3
    };
    // The `/` row: 50% 7, 95% 12, 99% 33, min 2.5685, max 32.55 (its 100% column says 33).
    for (q, expected) in [
        (0.5, 7.0),
        (0.66, 7.0),
        (0.75, 8.0),
        (0.9, 9.0),
        (0.95, 12.0),
        (0.99, 33.0),
    ] {
        let got = ms(q, 0);
        assert!(
            (got - expected).abs() <= expected * 0.001,
            "quantile {q}: {got} ms, Locust wrote {expected}"
        );
    }
    let min = report.scenarios[0].latency.min().unwrap().as_secs_f64() * 1e3;
    assert!((min - 2.568531).abs() < 0.01, "{min}");
    assert!((ms(0.95, 1) - 10.0).abs() <= 0.01, "missing p95");
    // Locust's own run length: Request Count / Requests/s of the Aggregated row.
    assert!(
        (report.duration_seconds - 76.0 / 19.019801788201004).abs() < 1e-9,
        "{}",
        report.duration_seconds
    );
    // The history: two users at the peak, rows from 1795375992 to 1795375996.
    assert_eq!(report.plan.stages.len(), 1);
    assert_eq!(report.plan.stages[0].target, 2.0);
    assert_eq!(report.plan.stages[0].duration_seconds, 4.0);
    assert!(report.timeline.is_empty());
    assert_eq!(report.started_at, 1_795_375_992.0);
    // The failures file.
    assert_eq!(report.failures.len(), 1);
    assert_eq!(report.failures[0].occurrences, 23);
    assert!(report.failures[0].message.starts_with("HTTPError('404"));
    // The stats file alone reads too (no history: no plan, same totals).
    let alone = tempfile::tempdir().unwrap();
    let copy = alone.path().join("run_stats.csv");
    std::fs::copy(fixtures().join("locust/locust_stats.csv"), &copy).unwrap();
    let bare = locust_input::read(&copy).unwrap();
    assert!(bare.plan.stages.is_empty() && bare.started_at == 0.0);
    assert_eq!(bare.scenarios, report.scenarios);
}

#[test]
fn a_locust_baseline_against_itself_and_against_a_slower_locust_run() {
    let dir = tempfile::tempdir().unwrap();
    let stats = fixtures().join("locust/locust_stats.csv");
    let directory = fixtures().join("locust");
    // The file on one side, its directory on the other: the same run, nothing to report.
    let same = compare(&[stats.to_str().unwrap(), directory.to_str().unwrap()]);
    assert_eq!(same.status.code(), Some(0), "{}", text(&same));
    assert!(stdout(&same).contains("0 regression(s)"), "{}", text(&same));

    // `/` got slower in the current run: 95% 12 → 40 ms, 99% 33 → 60 ms.
    let slower = edited_copy(dir.path(), "/", |fields| {
        fields[16] = "40".into();
        fields[17] = "45".into();
        fields[18] = "60".into();
        for field in &mut fields[19..] {
            *field = "60".into();
        }
        fields[7] = "60.1".into();
    });
    let regressed = compare(&[stats.to_str().unwrap(), slower.to_str().unwrap()]);
    assert_eq!(regressed.status.code(), Some(3), "{}", text(&regressed));
    let out = stdout(&regressed);
    // Locust's whole milliseconds, as the top of their 0.1 % HDR bucket (12 ms reads 12.01 ms).
    assert!(
        out.lines().any(|l| l.starts_with("  ✗ / ")
            && l.contains("p95")
            && l.contains("12.01ms → 40.03ms")),
        "{out}"
    );
    assert!(
        out.lines().any(|l| l.starts_with("  ✗ / ")
            && l.contains("p99")
            && l.contains("33.02ms → 60.03ms")),
        "{out}"
    );
    assert!(!out.contains("✗ missing"), "missing did not change:\n{out}");
}

#[test]
fn a_malformed_locust_file_is_refused_with_its_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let stats = fixtures().join("locust/locust_stats.csv");
    let bad = edited_copy(dir.path(), "missing", |fields| fields[2] = "2x3".into());
    let output = compare(&[stats.to_str().unwrap(), bad.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Line 3 is the `missing` row; its Request Count starts at column 13 (`GET,missing,`).
    assert!(
        stderr.contains("edited_stats.csv:3:13: \"2x3\" is not a number"),
        "{stderr}"
    );
    // Counts that do not add up to the Aggregated row.
    let short = edited_copy(dir.path(), "missing", |fields| fields[2] = "24".into());
    let output = compare(&[stats.to_str().unwrap(), short.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("the rows above add up to 77"),
        "{}",
        text(&output)
    );
    // A directory without any stats file.
    let empty = tempfile::tempdir().unwrap();
    let output = compare(&[stats.to_str().unwrap(), empty.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("no Locust *_stats.csv"),
        "{}",
        text(&output)
    );
}

const MISSING: &str =
    "      - {name: missing, request: {path: /status/404}, expect: {status: [404]}}\n";

#[test]
fn a_synthex_run_against_a_locust_baseline_warns_about_the_other_plan() {
    let target = Target::start();
    let config = target.config("missing.yml", MISSING, "");
    let out = target.dir.path().join("out");
    let run = load(
        &config,
        &[
            "--users=3",
            "--duration=2s",
            &format!("--out={}", out.display()),
        ],
    );
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    let baseline = fixtures().join("locust");
    let output = compare(&[baseline.to_str().unwrap(), out.to_str().unwrap()]);
    // `missing` failed every time under Locust (404 was a failure there) and never here.
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let shown = stdout(&output);
    assert!(
        shown.contains("✓ missing") && shown.contains("100% → 0%"),
        "{shown}"
    );
    assert!(shown.contains("Only in the baseline: /"), "{shown}");
    for warning in [
        "warning: the plans differ: profile: locust in the baseline, 3 users in this run",
        "warning: the plans differ: peak users: 2 in the baseline, 3 in this run",
        "warning: the plans differ: duration: 4s in the baseline, 2s in this run",
    ] {
        assert!(shown.contains(warning), "{warning:?} missing:\n{shown}");
    }
    // The same comparison as Markdown says it in a warning block.
    let markdown = compare(&[
        "--format=markdown",
        baseline.to_str().unwrap(),
        out.to_str().unwrap(),
    ]);
    assert!(
        stdout(&markdown).contains("> [!WARNING]\n> The two runs had different plans"),
        "{}",
        text(&markdown)
    );
}

/// The issue payload of `compare --format=github-issue` must be a valid body for
/// `POST /repos/{owner}/{repo}/issues`.
fn check_issue_schema(payload: &Path) {
    let python = require_tool("python3", "python3-jsonschema");
    let schema = fixtures().join("github/create-issue.schema.json");
    let check = Command::new(python)
        .args([
            "-c",
            "import json, sys, jsonschema\n\
             schema = json.load(open(sys.argv[1]))\n\
             jsonschema.Draft202012Validator.check_schema(schema)\n\
             jsonschema.validate(json.load(open(sys.argv[2])), schema, cls=jsonschema.Draft202012Validator)",
        ])
        .arg(&schema)
        .arg(payload)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "the payload breaks the create-issue schema (is python3-jsonschema installed?): {}",
        String::from_utf8_lossy(&check.stderr)
    );
}

#[test]
fn a_regression_becomes_a_github_issue_payload() {
    let target = Target::start();
    let config = target.config(
        "fast.yml",
        "      - {name: orders, request: {path: \"/orders/{{ int 1..100 }}\"}}\n",
        "",
    );
    let (before, after) = (
        target.dir.path().join("before"),
        target.dir.path().join("after"),
    );
    let run = |dir: &Path| {
        let output = load(
            &config,
            &[
                "--users=2",
                "--duration=2s",
                &format!("--out={}", dir.display()),
            ],
        );
        assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    };
    run(&before);
    target.fault("delay_ms=40");
    run(&after);
    target.heal();

    let issue = Command::new(synthex_bin())
        .args([
            "compare",
            "--format=github-issue",
            "--label=perf",
            "--label=nightly",
        ])
        .arg(&before)
        .arg(&after)
        .args(["--artifacts-url", "https://ci.example/runs/7/"])
        .env("GITHUB_SERVER_URL", "https://github.com")
        .env("GITHUB_REPOSITORY", "org/shop")
        .env("GITHUB_RUN_ID", "4242")
        .output()
        .unwrap();
    assert_eq!(issue.status.code(), Some(3), "{}", text(&issue));
    let payload_path = target.dir.path().join("issue.json");
    std::fs::write(&payload_path, &issue.stdout).unwrap();
    check_issue_schema(&payload_path);
    let payload: serde_json::Value = serde_json::from_slice(&issue.stdout).unwrap();
    let title = payload["title"].as_str().unwrap();
    assert!(
        title.starts_with("Load test regression: orders p95 "),
        "{title}"
    );
    let body = payload["body"].as_str().unwrap();
    // The regression row: the current p95 includes the 40 ms the target added to each answer.
    let row = body
        .lines()
        .find(|l| l.starts_with("| ❌ regression | orders | p95 |"))
        .unwrap_or_else(|| panic!("no p95 regression row:\n{body}"));
    let after_ms: f64 = row
        .split(" → ")
        .nth(1)
        .and_then(|r| r.split("ms").next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{row}"));
    assert!(after_ms >= 40.0, "{row}");
    for link in [
        "- [report.html](https://ci.example/runs/7/report.html)",
        "- [report.json](https://ci.example/runs/7/report.json)",
        "- [CI run](https://github.com/org/shop/actions/runs/4242)",
    ] {
        assert!(body.contains(link), "{link} missing:\n{body}");
    }
    assert_eq!(payload["labels"], serde_json::json!(["perf", "nightly"]));

    // No regression: the payload is still valid, exit 0, default labels.
    let calm = compare(&[
        "--format=github-issue",
        before.to_str().unwrap(),
        before.to_str().unwrap(),
    ]);
    assert_eq!(calm.status.code(), Some(0), "{}", text(&calm));
    std::fs::write(&payload_path, &calm.stdout).unwrap();
    check_issue_schema(&payload_path);
    let payload: serde_json::Value = serde_json::from_slice(&calm.stdout).unwrap();
    assert_eq!(
        payload["labels"],
        serde_json::json!(["performance", "regression"])
    );
    assert!(!payload["body"].as_str().unwrap().contains("### Artifacts"));
}

#[test]
fn the_schema_check_itself_refuses_a_payload_without_a_title() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.json");
    std::fs::write(&path, r#"{"body": "x", "labels": ["a"]}"#).unwrap();
    let result = std::panic::catch_unwind(|| check_issue_schema(&path));
    assert!(
        result.is_err(),
        "a payload without title must fail the schema"
    );
}

#[test]
fn the_documented_nightly_workflow_runs_the_loop_in_order() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/ci.md")).unwrap();
    let block = doc
        .split("```yaml\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("docs/ci.md has the workflow in a yaml block");
    let workflow: serde_yaml::Value = serde_yaml::from_str(block).unwrap();
    let cron = workflow["on"]["schedule"][0]["cron"]
        .as_str()
        .expect("on.schedule");
    assert_eq!(cron.split_whitespace().count(), 5, "{cron}");
    assert_eq!(workflow["permissions"]["issues"], "write");
    let steps = workflow["jobs"]["load-test"]["steps"]
        .as_sequence()
        .unwrap();
    let run_of = |name: &str| -> (usize, String) {
        let i = steps
            .iter()
            .position(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no step {name:?}"));
        (i, steps[i]["run"].as_str().unwrap_or_default().to_string())
    };
    let (load_at, load) = run_of("Load test");
    let (compare_at, compare) = run_of("Compare with the baseline");
    let (upload_at, _) = run_of("Upload the reports");
    let (issue_at, issue) = run_of("Open the regression issue");
    assert!(load_at < compare_at && compare_at < upload_at && upload_at < issue_at);
    assert!(load.contains("synthex load") && load.contains("--out=reports"));
    assert!(compare.contains("synthex compare") && compare.contains("--format=github-issue"));
    assert!(compare.contains("--output=issue.json") && issue.contains("--input issue.json"));
    assert_eq!(steps[upload_at]["if"], "always()");
    assert_eq!(steps[issue_at]["if"], "steps.compare.outputs.status == '3'");
    // The compare command of the workflow parses with this synthex's flags.
    let help = Command::new(synthex_bin())
        .args(["compare", "--help"])
        .output()
        .unwrap();
    let help = stdout(&help);
    for flag in compare
        .split_whitespace()
        .filter_map(|w| w.strip_prefix("--"))
        .map(|w| w.split('=').next().unwrap())
    {
        assert!(
            help.contains(&format!("--{flag}")),
            "--{flag} is not a compare flag"
        );
    }
}
