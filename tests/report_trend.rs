//! `synthex report trend` end to end: report folders written by the real binary (`synthex load`
//! against a target whose latency the test sets run by run, so the degradation is real and
//! known), Locust CSVs (a real Locust run's files, and synthex's Locust-format files without
//! their report.json), the degradation rule at its edges, and bad input.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, UNIX_EPOCH};

use common::load::{load, text};
use common::scripted_target::{Script, ScriptedTarget};
use serde_json::Value;
use synthex::report::json;

/// `/flaky` answers after 1 ms (plus the delay the test adds), every 4th with a 500.
const SCRIPT: Script = Script {
    fast: Duration::from_millis(1),
    slow: Duration::from_millis(1),
    knee: 1000,
    every: 4,
};

/// One run as the target saw it.
struct Truth {
    /// The report folder.
    dir: PathBuf,
    /// The delay the target added to every answer.
    delay: Duration,
    /// Requests the target received during the run.
    requests: u64,
    /// Of which it failed on purpose.
    failures: u64,
}

/// One `synthex load` run per delay (scenario `api` on `/flaky`), each into `root/reports/`
/// under a name that sorts *against* the run order (`run-9` is the first), and what the target
/// saw in each.
fn runs(target: &ScriptedTarget, root: &Path, delays: &[u64]) -> Vec<Truth> {
    let config = target.config(
        &root.join("config.yml"),
        "      - {name: api, request: {path: /flaky}}\n",
        "",
    );
    delays
        .iter()
        .enumerate()
        .map(|(i, ms)| {
            let delay = Duration::from_millis(*ms);
            target.set_extra_delay(delay);
            let dir = root.join("reports").join(format!("run-{}", 9 - i));
            let before = target.seen_on("/flaky").len();
            let out = format!("--out={}", dir.display());
            let output = load(&config, &["--users=2", "--duration=1s", &out]);
            assert_eq!(output.status.code(), Some(0), "{}", text(&output));
            let seen = target.seen_on("/flaky").split_off(before);
            Truth {
                dir,
                delay,
                requests: seen.len() as u64,
                failures: seen.iter().filter(|s| s.failed).count() as u64,
            }
        })
        .collect()
}

/// `synthex report trend ARGS…`.
fn run_trend(args: &[&str]) -> Output {
    Command::new(common::synthex_bin())
        .args(["report", "trend"])
        .args(args)
        .output()
        .unwrap()
}

/// `synthex report trend --format=json ARGS…`: exit status and the document.
fn trend_json(args: &[&str]) -> (Option<i32>, Value) {
    let mut all = vec!["--format=json"];
    all.extend_from_slice(args);
    let output = run_trend(&all);
    let document =
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}\n{}", text(&output)));
    (output.status.code(), document)
}

/// The scenario named `name` in a trend document.
fn scenario<'a>(trend: &'a Value, name: &str) -> &'a Value {
    trend["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no scenario {name}: {trend:#}"))
}

/// `(scenario, metric, kind, runs)` of every degradation.
fn degradations(trend: &Value) -> Vec<(String, String, String, Vec<u64>)> {
    trend["degradations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["scenario"].as_str().unwrap().to_string(),
                d["metric"].as_str().unwrap().to_string(),
                d["kind"].as_str().unwrap().to_string(),
                d["runs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r.as_u64().unwrap())
                    .collect(),
            )
        })
        .collect()
}

/// Whether `api`'s `metric` is among the degradations.
fn degraded(trend: &Value, metric: &str) -> Option<(String, Vec<u64>)> {
    degradations(trend)
        .into_iter()
        .find(|(s, m, _, _)| s == "api" && m == metric)
        .map(|(_, _, kind, runs)| (kind, runs))
}

#[test]
fn a_service_slower_run_after_run_is_flagged_with_the_servers_figures() {
    let target = ScriptedTarget::start(SCRIPT);
    let root = tempfile::tempdir().unwrap();
    // 50 ms, then 10 → 25 → 60 → 150 ms: three climbs of about 2.5× after a drop.
    let truth = runs(&target, root.path(), &[50, 10, 25, 60, 150]);
    let reports = root.path().join("reports");
    let reports = reports.to_str().unwrap();
    let (status, trend) = trend_json(&[reports]);
    assert_eq!(status, Some(3), "{trend:#}");

    // In start order, whatever the folder names say.
    let runs = trend["runs"].as_array().unwrap();
    assert_eq!(runs.len(), truth.len());
    for (run, truth) in runs.iter().zip(&truth) {
        assert_eq!(
            run["path"].as_str().unwrap(),
            truth.dir.join("report.json").to_str().unwrap()
        );
        assert_eq!(run["tool"], "synthex");
        assert_eq!(run["start_source"], "report");
    }

    // Every figure: the target's own counts, the report file's histogram and length.
    let points = scenario(&trend, "api")["points"].as_array().unwrap();
    assert_eq!(points.len(), truth.len());
    for (i, (point, truth)) in points.iter().zip(&truth).enumerate() {
        let report = json::read(&truth.dir.join("report.json")).unwrap();
        assert_eq!(point["run"], i as u64 + 1);
        assert_eq!(point["requests"], truth.requests, "run {}", i + 1);
        assert_eq!(point["failures"], truth.failures, "run {}", i + 1);
        assert_eq!(
            point["error_ratio"].as_f64().unwrap(),
            truth.failures as f64 / truth.requests as f64
        );
        assert_eq!(
            point["rps"].as_f64().unwrap(),
            truth.requests as f64 / report.duration_seconds
        );
        let p95 = report.scenarios[0].latency.quantile(0.95).unwrap();
        assert_eq!(point["p95_seconds"].as_f64().unwrap(), p95.as_secs_f64());
        // The target held every answer at least its delay.
        assert!(p95 >= truth.delay, "run {}: p95 {p95:?}", i + 1);
    }
    assert_eq!(
        scenario(&trend, "Total")["points"],
        scenario(&trend, "api")["points"],
        "one scenario: the total is the scenario"
    );

    // The climb over runs 2 → 5 is exactly three steps: flagged at N = 3 (latency up,
    // throughput of the two users down), not at N = 4 (run 1 → 2 went the other way, and run 2
    // is not above run 1).
    assert_eq!(
        degraded(&trend, "p95"),
        Some(("steady".into(), vec![2, 3, 4, 5]))
    );
    assert_eq!(
        degraded(&trend, "rps"),
        Some(("steady".into(), vec![2, 3, 4, 5]))
    );
    let (_, four) = trend_json(&["--degradation-runs=4", reports]);
    assert_eq!(degraded(&four, "p95"), None, "{four:#}");
    assert_eq!(degraded(&four, "rps"), None, "{four:#}");

    // The threshold at its edge: the smallest of the three climbs, from the report files.
    let p95: Vec<f64> = truth
        .iter()
        .map(|t| {
            let report = json::read(&t.dir.join("report.json")).unwrap();
            report.scenarios[0]
                .latency
                .quantile(0.95)
                .unwrap()
                .as_secs_f64()
        })
        .collect();
    let smallest = (2..5)
        .map(|i| p95[i] / p95[i - 1] - 1.0)
        .fold(f64::INFINITY, f64::min);
    let under = format!("--degradation-threshold={:.4}%", smallest * 100.0 - 0.01);
    let over = format!("--degradation-threshold={:.4}%", smallest * 100.0 + 0.01);
    let (_, just_under) = trend_json(&[&under, reports]);
    assert_eq!(
        degraded(&just_under, "p95"),
        Some(("steady".into(), vec![2, 3, 4, 5])),
        "{under}: {just_under:#}"
    );
    // Just over: no climb, and no drift either (run 3 is below run 1).
    let (_, just_over) = trend_json(&[&over, reports]);
    assert_eq!(degraded(&just_over, "p95"), None, "{over}: {just_over:#}");

    // The newest three runs alone are too few for N = 3 (four are needed): no verdict, exit 0.
    let last: Vec<&str> = truth[2..].iter().map(|t| t.dir.to_str().unwrap()).collect();
    let output = run_trend(&last);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("No degradation: ") && stdout.contains("(at least 4 runs needed)"),
        "{stdout}"
    );

    // The terminal table and the Markdown show the same figures.
    let output = run_trend(&[reports]);
    assert_eq!(output.status.code(), Some(3));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(
            "  ! api p95: each of the last 3 runs more than 10% higher than the one before: "
        ),
        "{stdout}"
    );
    let requests = truth[4].requests.to_string();
    let row = stdout
        .lines()
        .skip_while(|l| *l != "api")
        .find(|l| l.trim_start().starts_with("5 "))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(row.split_whitespace().nth(1) == Some(&requests), "{row}");
    let markdown = root.path().join("trend.md");
    let output = run_trend(&[
        "--format=markdown",
        &format!("--out={}", markdown.display()),
        reports,
    ]);
    assert_eq!(output.status.code(), Some(3));
    assert!(output.stdout.is_empty(), "--out takes the output");
    let markdown = std::fs::read_to_string(markdown).unwrap();
    assert!(
        markdown.starts_with("## synthex trend: ❌ 5 runs from "),
        "{markdown}"
    );
    assert!(
        markdown.contains("### api\n\n| # | Requests | p95 |"),
        "{markdown}"
    );
}

/// The Aggregated row's `Request Count` and `Requests/s` of a stats CSV.
fn aggregated(csv: &Path) -> (f64, f64) {
    let text = std::fs::read_to_string(csv).unwrap();
    let row: Vec<&str> = text
        .lines()
        .find(|l| l.starts_with(",Aggregated,"))
        .unwrap()
        .split(',')
        .collect();
    (row[2].parse().unwrap(), row[9].parse().unwrap())
}

fn unix(rfc3339: &str) -> f64 {
    humantime::parse_rfc3339(rfc3339)
        .unwrap()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn locust_runs_start_at_their_history_their_name_or_their_file_time() {
    let root = tempfile::tempdir().unwrap();
    let locust = root.path().join("history");
    // A real Locust run with its history file (tests/fixtures/locust, Locust 2.47).
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/locust");
    let real = locust.join("locust-run");
    std::fs::create_dir_all(&real).unwrap();
    for kind in ["stats", "stats_history", "failures"] {
        let name = format!("locust_{kind}.csv");
        std::fs::copy(fixtures.join(&name), real.join(&name)).unwrap();
    }
    // Two runs of synthex's Locust-format stats file alone (no history, no report.json): one in
    // a folder named with its time, one whose time is the file's.
    let target = ScriptedTarget::start(SCRIPT);
    let truth = runs(&target, root.path(), &[5, 40]);
    let named = locust.join("nightly_20261203T010000Z");
    let plain = locust.join("plain");
    for (truth, dir) in truth.iter().zip([&named, &plain]) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::copy(
            truth.dir.join("synthex_stats.csv"),
            dir.join("synthex_stats.csv"),
        )
        .unwrap();
    }
    let written = UNIX_EPOCH + Duration::from_secs(unix("2026-12-04T00:00:00Z") as u64);
    std::fs::File::options()
        .write(true)
        .open(plain.join("synthex_stats.csv"))
        .unwrap()
        .set_modified(written)
        .unwrap();

    let (status, trend) = trend_json(&[locust.to_str().unwrap()]);
    assert_eq!(status, Some(0), "{trend:#}");
    let runs: Vec<(&str, &str, f64)> = trend["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap(),
                r["start_source"].as_str().unwrap(),
                r["started_at"].as_f64().unwrap(),
            )
        })
        .collect();
    let (requests, rps) = aggregated(&plain.join("synthex_stats.csv"));
    assert_eq!(
        runs,
        [
            (
                "locust-run/locust_stats.csv",
                "locust_history",
                1_795_375_992.0
            ),
            (
                "nightly_20261203T010000Z/synthex_stats.csv",
                "name",
                unix("2026-12-03T01:00:00Z")
            ),
            (
                "plain/synthex_stats.csv",
                "file_time",
                unix("2026-12-04T00:00:00Z") - requests / rps
            ),
        ]
    );
    assert!(trend["runs"][0]["tool"] == "locust");

    // Locust's own rows, as its stats file has them: `/` 53 requests, p95 12 ms; `missing`
    // failed all 23.
    let slash = &scenario(&trend, "/")["points"][0];
    assert_eq!(
        (slash["requests"].as_u64(), slash["failures"].as_u64()),
        (Some(53), Some(0))
    );
    // To the histogram's precision (0.1 %), as every latency synthex reads back.
    let p95 = slash["p95_seconds"].as_f64().unwrap();
    assert!((p95 - 0.012).abs() <= 0.012 * 0.001, "{p95}");
    let missing = &scenario(&trend, "missing")["points"][0];
    assert_eq!(missing["error_ratio"], 1.0);
    // synthex's rows through its Locust-format file: the target's own counts.
    let api = scenario(&trend, "api")["points"].as_array().unwrap();
    for (point, truth) in api.iter().zip(&truth) {
        assert_eq!(point["requests"], truth.requests);
        assert_eq!(point["failures"], truth.failures);
    }
    assert_eq!(
        (api[0]["run"].as_u64(), api[1]["run"].as_u64()),
        (Some(2), Some(3))
    );
}

#[test]
fn bad_input_is_refused_naming_the_file_and_why() {
    let root = tempfile::tempdir().unwrap();
    let refused = |args: &[&str], expected: &[&str]| {
        let output = run_trend(args);
        assert_eq!(output.status.code(), Some(2), "{}", text(&output));
        let stderr = String::from_utf8_lossy(&output.stderr);
        for part in expected {
            assert!(stderr.contains(part), "{part:?} not in {stderr}");
        }
    };
    let empty = root.path().join("empty");
    std::fs::create_dir_all(empty.join("nested")).unwrap();
    let empty = empty.to_str().unwrap();
    refused(
        &[empty],
        &[
            empty,
            "no report.json and no Locust *_stats.csv in this folder or below it",
        ],
    );
    let missing = root.path().join("missing");
    refused(&[missing.to_str().unwrap()], &[missing.to_str().unwrap()]);

    // A broken report among good ones: no trend from part of the history.
    let broken = root.path().join("runs/broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(
        broken.join("report.json"),
        "{\"schema_version\": 1,\n  \"plan\": [}",
    )
    .unwrap();
    let runs = root.path().join("runs");
    refused(
        &[runs.to_str().unwrap()],
        &[&format!("{}:2:", broken.join("report.json").display())],
    );
    let locust = root.path().join("locust");
    std::fs::create_dir_all(&locust).unwrap();
    std::fs::write(locust.join("x_stats.csv"), "Type,Name\nGET,/\n").unwrap();
    refused(
        &[locust.to_str().unwrap()],
        &[&locust.join("x_stats.csv").display().to_string()],
    );

    refused(&["--degradation-runs=0", empty], &["--degradation-runs"]);
    refused(
        &["--degradation-threshold=ten", empty],
        &["--degradation-threshold"],
    );
}
