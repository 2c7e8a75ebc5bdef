//! The HTML report opened in headless Chromium (Debian `chromium`): it loads offline, every
//! chart's SVG is in the rendered DOM with lines drawn through real points, and nothing in the
//! page refers to an http(s) resource.

mod common;

use std::fs::File;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use regex::Regex;
use synthex::report::grade::{GradeScale, grade};
use synthex::report::html;
use synthex::report::model::{BreakingPoint, BreakingStep};

/// The model under the name `testing.rs` expects (it is shared with the unit tests).
mod model {
    pub use synthex::report::model::*;
}
#[path = "../src/report/testing.rs"]
mod testing;

/// Chromium gets this long to print the DOM before the test gives up.
const LIMIT: Duration = Duration::from_secs(60);

/// Runs Chromium with `--dump-dom` on `page` and returns the serialised DOM.
fn dump_dom(chromium: &str, page: &std::path::Path, work: &std::path::Path) -> String {
    let dom_path = work.join("dom.html");
    let log_path = work.join("chromium.log");
    let profile = work.join("profile");
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            &format!("--user-data-dir={}", profile.display()),
            "--dump-dom",
            &format!("file://{}", page.display()),
        ])
        .stdin(Stdio::null())
        // Files, not pipes: a large DOM must never block Chromium while we wait for it.
        .stdout(File::create(&dom_path).unwrap())
        .stderr(File::create(&log_path).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {chromium}: {e}"));
    let deadline = Instant::now() + LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            panic!("chromium did not finish within {LIMIT:?}; its log:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let dom = std::fs::read_to_string(&dom_path).unwrap();
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    assert!(
        status.success(),
        "chromium failed ({status}); its log:\n{log}"
    );
    assert!(
        dom.contains("</html>"),
        "no DOM printed; chromium's log:\n{log}"
    );
    dom
}

#[test]
fn the_html_report_draws_every_chart_in_chromium() {
    let chromium = common::require_tool("chromium", "chromium");
    let mut report = testing::report();
    let step = |rate: f64, p95: f64, errors: f64| BreakingStep {
        target_rate: rate,
        achieved_rate: rate * 0.98,
        p95_seconds: Some(p95),
        error_ratio: Some(errors),
        passed: p95 < 0.2,
    };
    report.breaking_point = Some(BreakingPoint {
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
    let page = dir.path().join("report.html");
    let mut out = File::create(&page).unwrap();
    html::render(&report, &grade(&report, &GradeScale::default()), &mut out).unwrap();
    drop(out);

    let dom = dump_dom(&chromium, &page, dir.path());

    let svg = Regex::new(r#"(?s)<svg id="(chart-[a-z-]+)"[^>]*>(.*?)</svg>"#).unwrap();
    let polyline = Regex::new(r#"<polyline[^>]*\bpoints="([^"]*)""#).unwrap();
    let drawn: Vec<(String, usize)> = svg
        .captures_iter(&dom)
        .map(|c| {
            let id = c[1].to_string();
            let lines: Vec<String> = polyline
                .captures_iter(&c[2])
                .map(|p| p[1].to_string())
                .collect();
            assert!(!lines.is_empty(), "{id} has no line");
            for points in &lines {
                let coordinates: Vec<(f64, f64)> = points
                    .split_whitespace()
                    .map(|pair| {
                        let (x, y) = pair
                            .split_once(',')
                            .unwrap_or_else(|| panic!("{id}: {pair}"));
                        (x.parse().unwrap(), y.parse().unwrap())
                    })
                    .collect();
                assert!(
                    coordinates.len() >= 2,
                    "{id}: a line needs two points: {points:?}"
                );
                assert!(
                    coordinates
                        .iter()
                        .all(|(x, y)| (0.0..=640.0).contains(x) && (0.0..=260.0).contains(y)),
                    "{id}: a point outside the chart: {points:?}"
                );
            }
            (id, lines.len())
        })
        .collect();
    let mut expected: Vec<&str> = html::charts(&report).iter().map(|c| c.id).collect();
    expected.extend(html::breaking_point_charts(&report).iter().map(|c| c.id));
    let ids: Vec<&str> = drawn.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, expected, "charts in the rendered DOM");
    assert_eq!(
        drawn
            .iter()
            .find(|(id, _)| id == "chart-latency")
            .unwrap()
            .1,
        3,
        "p50, p95, p99"
    );

    for outside in [
        "http://", "https://", "src=", "href=", "url(", "@import", "<script",
    ] {
        assert!(!dom.contains(outside), "the page refers to {outside:?}");
    }
    assert!(dom.contains("<td>Total</td>"), "summary table rendered");
}
