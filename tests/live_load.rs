//! The live page of `synthex load --web.listen-address`: its data (`/api/v1/load`) against a
//! real target that keeps its own books (requests per path, the delay and status it answered
//! with), and its Stop (`POST /-/stop`): refused without `--web.enable-lifecycle`, with it the
//! run ends at once, the requests in flight are counted as interrupted and the reports are
//! written.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::counting_target::CountingTarget;
use common::{Proc, free_port, http_get, http_request, synthex_bin};
use serde_json::Value;

/// A load test running in the background, its page on `base`.
struct Run {
    proc: Proc,
    base: String,
    log: std::path::PathBuf,
}

/// `synthex load` with `users` users for `duration` on a config of `scenarios` against the
/// counting target at `port`, its reports in `dir/out`.
fn start(dir: &Path, port: u16, scenarios: &str, flags: &[&str]) -> Run {
    let config = dir.join("load.yml");
    std::fs::write(
        &config,
        format!(
            "targets:\n  - name: shop\n    base_url: http://127.0.0.1:{port}\n    rate: 1/s\n    \
             timeout: 10s\n    scenarios:\n{scenarios}"
        ),
    )
    .unwrap();
    let web = free_port();
    let mut args = vec![
        "load".to_string(),
        format!("--config.file={}", config.display()),
        "--quiet".to_string(),
        format!("--web.listen-address=127.0.0.1:{web}"),
        format!("--out={}", dir.join("out").display()),
    ];
    args.extend(flags.iter().map(|f| f.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let log = dir.join("load.log");
    let proc = Proc::spawn("synthex load", synthex_bin(), &args, &log);
    Run {
        proc,
        base: format!("http://127.0.0.1:{web}"),
        log,
    }
}

impl Run {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `/api/v1/load?since=N` once it answers (20 s at most).
    fn document(&mut self, since: usize) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok((200, body)) = http_get(&format!("{}/api/v1/load?since={since}", self.base)) {
                return serde_json::from_str(&body).unwrap();
            }
            assert!(
                self.proc.is_running(),
                "synthex load exited:\n{}",
                self.log()
            );
            assert!(Instant::now() < deadline, "no live data:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until the document has at least `points` points.
    fn points(&mut self, points: usize) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let doc = self.document(0);
            if doc["points"].as_array().unwrap().len() >= points {
                return doc;
            }
            assert!(Instant::now() < deadline, "{doc}\n{}", self.log());
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

fn row<'a>(doc: &'a Value, scenario: &str) -> &'a Value {
    doc["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["scenario"] == scenario)
        .unwrap_or_else(|| panic!("no row {scenario} in {doc}"))
}

/// Per user: about 30 fast and 10 broken requests (40 ms each) between two stuck ones (4 s), so
/// the Stop finds users in flight.
const SCENARIOS: &str = "      - {name: fast, weight: 30, request: {path: /fast}}\n      \
                         - {name: broken, weight: 10, request: {path: /delay/40/status/500}}\n      \
                         - {name: stuck, weight: 1, request: {path: /delay/4000}}\n";

#[test]
fn the_live_data_follows_the_target_and_stop_ends_the_run_with_its_reports() {
    let dir = tempfile::tempdir().unwrap();
    let target = CountingTarget::start(Duration::ZERO);
    let mut run = start(
        dir.path(),
        target.addr.port(),
        SCENARIOS,
        &["--users=4", "--duration=60s", "--web.enable-lifecycle"],
    );
    let doc = run.points(3);
    assert_eq!(doc["model"], "closed");
    assert_eq!(doc["state"], "running");
    assert_eq!(doc["can_stop"], true);
    assert_eq!(doc["planned_seconds"], 60.0);
    assert_eq!(doc["interval_seconds"], 1.0);
    let points = doc["points"].as_array().unwrap();
    for (i, point) in points.iter().enumerate() {
        assert_eq!(point["offset_seconds"], i as f64, "{point}");
        assert_eq!(point["level"], 4.0, "{point}");
    }
    // The points' requests are requests the target received.
    let charted: f64 = points
        .iter()
        .map(|p| p["requests_per_second"].as_f64().unwrap())
        .sum();
    assert!(
        charted <= target.count() as f64,
        "{charted} > {}",
        target.count()
    );

    // `since` returns only what the page does not have yet.
    let next = doc["next"].as_u64().unwrap() as usize;
    assert_eq!(next, points.len());
    let later = run.document(next);
    assert!(
        later["points"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| { p["offset_seconds"].as_f64().unwrap() >= next as f64 })
    );
    let (status, body) = http_get(&format!("{}/api/v1/load?since=x", run.base)).unwrap();
    assert_eq!(status, 400, "{body}");

    // Per-scenario totals between what the target answered before and received after.
    common::wait_until(
        || target.answered_of("/delay/40/status/500") >= 5,
        &mut run.proc,
        &run.log,
    );
    let paths = [("fast", "/fast"), ("broken", "/delay/40/status/500")];
    let before: Vec<u64> = paths.iter().map(|(_, p)| target.answered_of(p)).collect();
    let doc = run.document(0);
    let after: Vec<u64> = paths.iter().map(|(_, p)| target.count_of(p)).collect();
    for (i, (scenario, _)) in paths.iter().enumerate() {
        let requests = row(&doc, scenario)["requests"].as_u64().unwrap();
        assert!(
            before[i] <= requests && requests <= after[i],
            "{scenario}: {requests} not in [{}, {}]",
            before[i],
            after[i]
        );
    }
    let broken = row(&doc, "broken");
    assert_eq!(broken["failures"], broken["requests"]);
    assert_eq!(row(&doc, "fast")["failures"], 0);
    // The target held each of them 40 ms.
    assert!(broken["p50_seconds"].as_f64().unwrap() >= 0.040, "{broken}");
    let failure = &doc["failure_groups"][0];
    assert_eq!(
        (&failure["scenario"], &failure["reason"]),
        (&Value::from("broken"), &Value::from("http_status")),
        "{doc}"
    );
    assert_eq!(failure["occurrences"], broken["failures"]);

    // Stop: only POST (or PUT), then the run ends now, not in a minute.
    let (status, _) = http_get(&format!("{}/-/stop", run.base)).unwrap();
    assert_eq!(status, 405);
    let stopped_at = Instant::now();
    let (status, body) = http_request("POST", &format!("{}/-/stop", run.base), "").unwrap();
    assert_eq!(status, 200, "{body}");
    let exit = run
        .proc
        .wait_exit(Duration::from_secs(20))
        .unwrap_or_else(|| panic!("still running after Stop:\n{}", run.log()));
    assert_eq!(exit.code(), Some(130), "{}", run.log());
    // The stuck scenario's 4 s requests were cut, not waited for.
    assert!(
        stopped_at.elapsed() < Duration::from_secs(4),
        "{:?}",
        stopped_at.elapsed()
    );
    let log = run.log();
    assert!(log.contains("stopped from its web page"), "{log}");

    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("out/report.json")).unwrap())
            .unwrap();
    assert_eq!(report["interrupted"], true);
    let requests: u64 = report["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["requests"].as_u64().unwrap())
        .sum();
    let interrupted: u64 = report["failures"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["message"].as_str().unwrap().starts_with("interrupted"))
        .map(|f| f["occurrences"].as_u64().unwrap())
        .sum();
    // Four users, a fifth of whose requests hang 4 s: some were in flight at the Stop.
    assert!(interrupted >= 1, "{report}");
    // Every request the target received is in the report, and every completed one was answered.
    assert!(
        target.count() as u64 <= requests,
        "{} > {requests}",
        target.count()
    );
    assert!(
        requests - interrupted <= target.answered(),
        "{requests} - {interrupted}"
    );
    for file in ["report.html", "summary.md"] {
        assert!(dir.path().join("out").join(file).exists(), "{file}");
    }
}

#[test]
fn without_the_lifecycle_flag_stop_is_refused_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let target = CountingTarget::start(Duration::ZERO);
    let mut run = start(
        dir.path(),
        target.addr.port(),
        "      - {name: fast, request: {path: /fast}}\n",
        &["--users=1", "--duration=4s"],
    );
    let doc = run.document(0);
    assert_eq!(doc["can_stop"], false);
    let (status, body) = http_request("POST", &format!("{}/-/stop", run.base), "").unwrap();
    assert_eq!(
        (status, body.as_str()),
        (403, "Lifecycle API is not enabled.")
    );
    let exit = run.proc.wait_exit(Duration::from_secs(30)).unwrap();
    assert_eq!(exit.code(), Some(0), "{}", run.log());
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("out/report.json")).unwrap())
            .unwrap();
    assert_eq!(report["interrupted"], false);
}

#[test]
fn the_lifecycle_flag_needs_a_listen_address() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.yml");
    std::fs::write(
        &config,
        "targets:\n  - name: t\n    base_url: http://127.0.0.1:9\n    rate: 1/s\n    \
         scenarios:\n      - {name: s, request: {path: /}}\n",
    )
    .unwrap();
    let out = common::load::load(
        &config,
        &["--users=1", "--duration=1s", "--web.enable-lifecycle"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", common::load::text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("--web.enable-lifecycle needs --web.listen-address"),
        "{}",
        common::load::text(&out)
    );
}
