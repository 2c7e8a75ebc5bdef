//! Thresholds with `abort_on_fail` end to end (the real binary against a real counting target
//! that starts failing after a count it keeps): the run stops soon after the threshold is
//! crossed, long before its duration, and says so in every report with exit status 3; the same
//! threshold without `abort_on_fail` lets the run go on; `delay` holds the decision back. The
//! evaluator's timing itself is tested under paused time (`loadtest::abort`).

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::counting_target::CountingTarget;
use common::load::{load_to, report_json as report, text};

/// Requests per second the runs below send: 4 users at a pace of 25 iterations a second.
const RATE: f64 = 100.0;

/// A config whose one scenario requests `path` of `target`, with `thresholds` (YAML list
/// items) under `load:`.
fn config(dir: &Path, target: &CountingTarget, path: &str, thresholds: &str) -> PathBuf {
    common::load::api_config(
        dir,
        "abort.yml",
        &format!("http://{}", target.addr),
        &format!("      - name: work\n        request: {{path: {path}}}\n"),
        &format!("load:\n  thresholds:\n{thresholds}"),
    )
}

/// Runs 4 users at 25 iterations a second each for at most `duration`, reports into `out`.
fn run(config: &Path, out: &Path, duration: &str) -> (std::process::Output, Duration) {
    let started = Instant::now();
    let output = load_to(
        config,
        out,
        &[
            "--users=4",
            "--think-time=25/s",
            &format!("--duration={duration}"),
        ],
    );
    (output, started.elapsed())
}

#[test]
fn a_crossed_abort_on_fail_threshold_stops_the_run_at_once() {
    let target = CountingTarget::start(Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    // The first 300 requests succeed, then every one fails: the error ratio passes 10% at the
    // 334th request (34 failures of 334), about 3.3 s in.
    let config = config(
        dir.path(),
        &target,
        "/fail-after/300",
        "    - p95 < 10s\n    - {threshold: \"error_rate < 10%\", abort_on_fail: true}\n",
    );
    let out = dir.path().join("out");
    let (output, took) = run(&config, &out, "60s");
    assert_eq!(output.status.code(), Some(3), "{}", text(&output));

    // Stopped long before its 60 s: by the target's count, what arrived after the crossing
    // is at most about 3 s of load (the next check within 1 s, then the requests in flight),
    // where the whole run would have sent 6000.
    let served = target.count() as f64;
    let crossing = 334.0;
    assert!(
        served >= crossing,
        "{served} requests: it stopped before the crossing"
    );
    assert!(
        served - crossing <= 3.0 * RATE,
        "{} requests after the crossing",
        served - crossing
    );
    assert!(took < Duration::from_secs(30), "took {took:?}");

    let json = report(&out);
    let aborted = &json["aborted"];
    assert_eq!(aborted["threshold"], "error_rate < 10%", "{json}");
    let at = aborted["offset_seconds"].as_f64().unwrap();
    let duration = json["duration_seconds"].as_f64().unwrap();
    // The run's length counts from the executor's start, a few milliseconds after the
    // recorder's (the origin of the timeline and of `offset_seconds`).
    assert!(
        at >= 3.0 && duration < 30.0 && duration >= at - 0.1,
        "{at} {duration}"
    );
    assert!(
        aborted["detail"]
            .as_str()
            .unwrap()
            .starts_with("error_rate "),
        "{aborted}"
    );
    assert_eq!(
        json["interrupted"], false,
        "an abort is a verdict, not an interruption"
    );
    let verdicts = json["thresholds"].as_array().unwrap();
    assert_eq!(verdicts[0]["passed"], true);
    assert_eq!(verdicts[1]["passed"], false);
    let detail = verdicts[1]["detail"].as_str().unwrap();
    assert!(detail.starts_with("aborted the run at "), "{detail}");
    assert!(detail.contains("s: error_rate "), "{detail}");
    // The report's failures are the target's: every request after the 300th.
    assert_eq!(json["scenarios"][0]["requests"], target.count() as u64);
    assert_eq!(
        json["scenarios"][0]["failures"],
        target.count() as u64 - 300
    );

    // Every report says so.
    let stdout = String::from_utf8_lossy(&output.stdout);
    let note =
        "of 60s planned: threshold \"error_rate < 10%\" (abort_on_fail) was crossed: error_rate ";
    assert!(stdout.starts_with("*** ABORTED at "), "{stdout}");
    assert!(stdout.contains(note), "{stdout}");
    let markdown = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(markdown.contains(note), "{markdown}");
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        html.contains("ABORTED at"),
        "no abort note in the HTML report"
    );
}

#[test]
fn without_abort_on_fail_a_crossed_threshold_lets_the_run_go_on() {
    let target = CountingTarget::start(Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        dir.path(),
        &target,
        "/fail-after/50",
        "    - {threshold: \"error_rate < 10%\", abort_on_fail: false}\n",
    );
    let out = dir.path().join("out");
    let (output, _) = run(&config, &out, "3s");
    assert_eq!(output.status.code(), Some(3), "{}", text(&output));
    let json = report(&out);
    assert!(json.get("aborted").is_none(), "{json}");
    assert!(json["duration_seconds"].as_f64().unwrap() >= 3.0);
    // It kept sending after the crossing (the 56th request), to its end.
    assert!(target.count() > 150, "{} requests", target.count());
    assert_eq!(json["thresholds"][0]["passed"], false);
}

#[test]
fn no_abort_before_the_delay() {
    let target = CountingTarget::start(Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    // Failing from the first request; the abort may only come from 3 s on.
    let config = config(
        dir.path(),
        &target,
        "/fail-after/0",
        "    - {threshold: \"error_rate < 1%\", abort_on_fail: true, delay: 3s}\n",
    );
    let out = dir.path().join("out");
    let (output, _) = run(&config, &out, "60s");
    assert_eq!(output.status.code(), Some(3), "{}", text(&output));
    let json = report(&out);
    let at = json["aborted"]["offset_seconds"].as_f64().unwrap();
    assert!((3.0..6.0).contains(&at), "aborted at {at}s");
    // The target saw the whole delay's load: about 3 s at 100/s.
    assert!(
        target.count() as f64 >= 2.0 * RATE,
        "{} requests",
        target.count()
    );
    assert!(json["duration_seconds"].as_f64().unwrap() < 30.0);
}

#[test]
fn check_config_shows_abort_on_fail() {
    let target = CountingTarget::start(Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        dir.path(),
        &target,
        "/",
        "    - {threshold: \"error_rate < 1%\", abort_on_fail: true, delay: 1m 30s}\n    - p95 < 1s\n",
    );
    let output = std::process::Command::new(common::synthex_bin())
        .arg("check-config")
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("error_rate < 1% (abort_on_fail, delay 1m 30s)"),
        "{stdout}"
    );
}
