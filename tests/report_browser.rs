//! The HTML pages of load tests opened in headless Chromium (Debian `chromium`), as a person
//! would: a real two-scenario run (a ~0.3 ms and a 50 ms scenario, and one that always fails)
//! against the demo target, and a breaking-point report. Each page must draw every chart
//! without a console message, with the expected series, axes within what the data allows
//! (ratios at most 100 %, elapsed time from 0 s to the run's end on every chart, round
//! ticks) and the numbers the target itself stands for (its 50 ms delay). Screenshots stay in
//! target/test-screenshots/.

mod common;

use std::fs::File;
use std::path::Path;

use common::browser::{self, ChartState};
use common::load::{Target, load, text};
use synthex::report::grade::{GradeScale, grade};
use synthex::report::html;
use synthex::report::json;
use synthex::report::model::{BreakingPoint, BreakingStep, LoadModel, Report};

/// The model under the name `testing.rs` expects (it is shared with the unit tests).
mod model {
    pub use synthex::report::model::*;
}
#[path = "../src/report/testing.rs"]
mod testing;

/// A fast scenario, a 50 ms one and one the target always fails.
const SCENARIOS: &str = "      - {name: fast, weight: 2, request: {path: /health}}\n      - {name: slow, weight: 2, request: {path: /delay/50}}\n      - {name: broken, weight: 1, request: {path: /status/503}}\n";

/// Ramp to 6 users in 2 s, hold 3 s, down to 2 users in 1 s.
const PROFILE: &str = "model: closed\nthink_time: 20ms\nstages:\n  - {duration: 2s, users: 6}\n  - {duration: 3s, users: 6}\n  - {duration: 1s, users: 2}\n";

fn chart<'a>(charts: &'a [ChartState], id: &str) -> &'a ChartState {
    charts
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("no chart {id}: {charts:?}"))
}

/// The binary unit (1, 1024, 1024², …) of a byte axis up to `top`, as the chart script picks it.
fn byte_unit(top: f64) -> f64 {
    let mut unit = 1.0;
    while top >= unit * 1024.0 {
        unit *= 1024.0;
    }
    unit
}

/// Runs the two-scenario test and returns its report and output directory.
fn run(target: &Target) -> (Report, std::path::PathBuf) {
    let config = target.config(
        "three.yml",
        SCENARIOS,
        "resources:\n  processes:\n    - {name: synthex, exe: synthex}\n",
    );
    let profile = target.dir.path().join("profile.yml");
    std::fs::write(&profile, PROFILE).unwrap();
    let out = target.dir.path().join("out");
    let output = load(
        &config,
        &[
            &format!("--profile={}", profile.display()),
            "--threshold=slow: p99 < 500ms",
            "--threshold=error_rate < 50%",
            &format!("--out={}", out.display()),
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    (json::read(&out.join("report.json")).unwrap(), out)
}

#[test]
fn a_two_scenario_run_with_a_failing_scenario_reads_right_in_chromium() {
    let target = Target::start();
    let (report, out) = run(&target);
    let names: Vec<&str> = report
        .scenarios
        .iter()
        .map(|s| s.scenario.as_str())
        .collect();
    assert_eq!(names, ["fast", "slow", "broken"]);
    // The target answered every request the report counts.
    let (requests, failures, _) = report.total();
    assert!(target.requests_served() >= requests);
    assert_eq!(
        failures, report.scenarios[2].requests,
        "only `broken` fails"
    );

    let page = browser::render(
        &format!("file://{}", out.join("report.html").display()),
        "load-report",
        4_600,
    );
    let charts = browser::charts(&page.dom);
    let ids: Vec<&str> = charts.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, testing::chart_ids(true));
    browser::assert_clean(&page, ids.len());

    // Every chart over time spans the run, from 0 s, whatever its first sample.
    let length = report.duration_seconds;
    assert!((6.0..8.0).contains(&length), "{length}");
    for c in charts.iter().filter(|c| c.id != "chart-distribution") {
        assert_eq!(c.x_range, Some((0.0, length)), "{}", c.id);
        assert!(c.points > 0, "{}: nothing drawn", c.id);
    }
    let series = |id| chart(&charts, id).series;
    assert_eq!(series("chart-rps"), 2);
    assert_eq!(series("chart-latency"), 3);
    assert_eq!(series("chart-errors"), 4, "all scenarios, then each");
    assert_eq!(series("chart-failure-reasons"), 1, "http_status");
    assert_eq!(series("chart-scenario-rps"), 3);
    assert_eq!(series("chart-scenario-p95"), 3);
    assert_eq!(series("chart-distribution"), 3);
    assert!(series("chart-cpu-processes") >= 1);
    assert!(
        series("chart-memory") >= 2,
        "host and the watched processes"
    );

    // Ratios stop at 100 % (`broken` fails every request), on round ticks.
    for id in ["chart-errors", "chart-cpu"] {
        let c = chart(&charts, id);
        let (low, high) = c.y_range.unwrap();
        assert!(low == 0.0 && high <= 1.0, "{id}: {:?}", c.y_range);
        browser::assert_round_ticks(id, &c.y_ticks, 1.0);
    }
    assert_eq!(chart(&charts, "chart-errors").y_range, Some((0.0, 1.0)));
    let memory = chart(&charts, "chart-memory");
    let top = memory.y_range.unwrap().1;
    browser::assert_round_ticks("chart-memory", &memory.y_ticks, byte_unit(top));

    // The slow scenario's own chart shows the target's 50 ms and the 500 ms threshold line;
    // its y axis ends on a round tick above both.
    let slow = chart(&charts, "chart-latency-s1");
    browser::assert_round_ticks("chart-latency-s1", &slow.y_ticks, 1.0);
    let (_, high) = slow.y_range.unwrap();
    assert!(high >= 0.5, "{:?}", slow.y_range);
    // The target waits 50 ms before answering: no interval's p50 of `slow` can be below it.
    for share in &report.scenarios[1].timeline {
        if let Some(p50) = share.latency.quantile(0.5) {
            assert!(
                (0.050..0.5).contains(&p50.as_secs_f64()),
                "slow p50 {p50:?} per interval"
            );
        }
    }
    // The log-scale p95 chart reaches down to the fast scenario and up to the slow one.
    let p95 = chart(&charts, "chart-scenario-p95");
    let (low, high) = p95.y_range.unwrap();
    let fast_p95 = report.scenarios[0]
        .latency
        .quantile(0.95)
        .unwrap()
        .as_secs_f64();
    assert!(
        low <= fast_p95 && high >= 0.05,
        "{:?}, fast p95 {fast_p95}",
        p95.y_range
    );

    // Users: 6 while holding, the ramp down seen, never 0 at the end.
    let users: Vec<u64> = report.timeline.iter().map(|i| i.users).collect();
    assert_eq!(users[3..5], [6, 6], "{users:?}");
    assert!(*users.last().unwrap() >= 2, "{users:?}");
    println!("screenshot: {}", page.screenshot.display());
}

#[test]
fn a_comparison_report_overlays_both_runs_and_highlights_the_regression() {
    let target = Target::start();
    let run = |name: &str, slow_ms: u32| {
        let scenarios = SCENARIOS.replace("/delay/50", &format!("/delay/{slow_ms}"));
        let config = target.config(&format!("{name}.yml"), &scenarios, "");
        let out = target.dir.path().join(name);
        let output = load(
            &config,
            &[
                "--users=3",
                "--duration=3s",
                &format!("--out={}", out.display()),
            ],
        );
        assert_eq!(output.status.code(), Some(0), "{}", text(&output));
        out.join("report.json")
    };
    let (old, new) = (run("old", 50), run("new", 150));
    let page_path = target.dir.path().join("compare.html");
    let output = std::process::Command::new(common::synthex_bin())
        .arg("compare")
        .arg(&old)
        .arg(&new)
        .arg(format!("--html={}", page_path.display()))
        .output()
        .unwrap();
    // The target's delay went from 50 to 150 ms: a regression, exit 3.
    assert_eq!(output.status.code(), Some(3), "{}", text(&output));

    let page = browser::render(
        &format!("file://{}", page_path.display()),
        "compare-report",
        2_600,
    );
    let charts = browser::charts(&page.dom);
    let ids: Vec<&str> = charts.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "chart-compare-latency-s0",
            "chart-compare-rps-s0",
            "chart-compare-latency-s1",
            "chart-compare-rps-s1",
            "chart-compare-latency-s2",
            "chart-compare-rps-s2",
        ]
    );
    browser::assert_clean(&page, ids.len());
    for c in &charts {
        assert_eq!(c.series, 2, "{}: baseline and current", c.id);
    }
    // The slow scenario's curves reach the new 150 ms; the time charts span the longer run.
    let slow = chart(&charts, "chart-compare-latency-s1");
    assert!(slow.y_range.unwrap().1 >= 0.15, "{:?}", slow.y_range);
    let rps = chart(&charts, "chart-compare-rps-s1");
    assert_eq!(rps.x_range.unwrap().0, 0.0);
    assert!(rps.x_range.unwrap().1 >= 3.0, "{:?}", rps.x_range);
    assert!(
        page.dom
            .contains("<tr class=\"regression\"><td>❌ regression</td><td>slow</td><td>p95</td>"),
        "the slow p95 row is highlighted"
    );
    assert!(page.dom.contains("<h2>Plans</h2>"));
}

#[test]
fn a_trend_page_draws_each_scenario_over_the_runs_in_chromium() {
    let target = Target::start();
    // Three runs, the slow scenario's delay 20 → 60 → 150 ms: two climbs in a row.
    for (i, ms) in [20, 60, 150].into_iter().enumerate() {
        let scenarios = SCENARIOS.replace("/delay/50", &format!("/delay/{ms}"));
        let config = target.config(&format!("run{i}.yml"), &scenarios, "");
        let out = target.dir.path().join(format!("reports/run-{i}"));
        let output = load(
            &config,
            &[
                "--users=2",
                "--duration=1s",
                &format!("--out={}", out.display()),
            ],
        );
        assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    }
    let page_path = target.dir.path().join("trend.html");
    let output = std::process::Command::new(common::synthex_bin())
        .args(["report", "trend", "--format=html", "--degradation-runs=2"])
        .arg(format!("--out={}", page_path.display()))
        .arg(target.dir.path().join("reports"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3), "{}", text(&output));

    let page = browser::render(
        &format!("file://{}", page_path.display()),
        "trend-report",
        3_600,
    );
    let charts = browser::charts(&page.dom);
    let ids: Vec<&str> = charts.iter().map(|c| c.id.as_str()).collect();
    let expected: Vec<String> = (0..4)
        .flat_map(|s| ["p95", "errors", "rps"].map(|m| format!("chart-trend-s{s}-{m}")))
        .collect();
    assert_eq!(ids, expected, "fast, slow, broken, Total");
    browser::assert_clean(&page, ids.len());
    for c in &charts {
        // One line, a point per run, on run numbers 1 to 3.
        assert_eq!((c.series, c.points), (1, 3), "{}", c.id);
        assert_eq!(c.x_range, Some((1.0, 3.0)), "{}", c.id);
    }
    // The slow scenario's p95 reaches the target's 150 ms; `broken` fails every request.
    let slow = chart(&charts, "chart-trend-s1-p95");
    assert!(slow.y_range.unwrap().1 >= 0.15, "{:?}", slow.y_range);
    assert_eq!(
        chart(&charts, "chart-trend-s2-errors").y_range,
        Some((0.0, 1.0))
    );
    browser::assert_round_ticks("chart-trend-s1-p95", &slow.y_ticks, 1.0);
    let (head, _) = page.dom.split_once("<h2>Runs</h2>").unwrap();
    assert!(
        head.contains("<div class=\"banner\"><ul><li>")
            && head.contains("<li>slow p95: each of the last 2 runs more than 10% higher"),
        "the degradation heads the page: {head}"
    );
}

#[test]
fn a_breaking_point_report_draws_its_curve_in_chromium() {
    let mut report = testing::report();
    let step = |rate: f64, p95: f64, errors: f64| BreakingStep {
        target_rate: rate,
        achieved_rate: rate * 0.98,
        p95_seconds: Some(p95),
        error_ratio: Some(errors),
        passed: p95 < 0.2,
    };
    report.breaking_point = Some(BreakingPoint {
        model: LoadModel::Open,
        highest_passing_rate: Some(200.0),
        breaking_rate: Some(300.0),
        first_broken: Some("p95 < 200ms".into()),
        steps: vec![
            step(100.0, 0.04, 0.0),
            step(200.0, 0.09, 0.001),
            step(300.0, 0.45, 0.08),
        ],
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.html");
    write(&report, &path);
    let page = browser::render(
        &format!("file://{}", path.display()),
        "breaking-point-report",
        4_200,
    );
    let charts = browser::charts(&page.dom);
    browser::assert_clean(&page, charts.len());
    let latency = chart(&charts, "chart-breaking-latency");
    assert_eq!((latency.series, latency.points), (1, 3));
    assert_eq!(latency.x_range.map(|r| r.0), Some(0.0));
    assert!(latency.x_range.unwrap().1 >= 300.0);
    let errors = chart(&charts, "chart-breaking-errors");
    browser::assert_round_ticks("chart-breaking-errors", &errors.y_ticks, 1.0);
    assert!(errors.y_range.unwrap().1 <= 1.0);
    for outside in ["http://", "src=", "href=", "url(", "@import"] {
        let text = page.dom.replace("https://github.com/leeoniya/uPlot", "");
        assert!(!text.contains(outside), "the page refers to {outside:?}");
    }
}

fn write(report: &Report, path: &Path) {
    let mut out = File::create(path).unwrap();
    html::render(report, &grade(report, &GradeScale::default()), &mut out).unwrap();
}
