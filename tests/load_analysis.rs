//! Issue 13 end to end, with the real binary against targets that keep their own books: the
//! health gate, `--out` placeholders, warm-up, findings and the Prometheus source (a real
//! Prometheus 2.42 from the Debian package, scraping the test's target).

mod common;

use std::path::Path;
use std::time::Duration;

use common::load::{load, load_command, text};
use common::scripted_target::{Script, ScriptedTarget};
use synthex::report::json;
use synthex::report::model::{Finding, Report};

/// A script where nothing is slow and nothing fails.
const CALM: Script = Script {
    fast: Duration::from_millis(1),
    slow: Duration::from_millis(1),
    knee: 1000,
    every: 0,
};

const WORK: &str = "      - {name: work, request: {path: /work}}\n";

#[test]
fn an_unhealthy_target_stops_the_run_before_any_load() {
    let target = ScriptedTarget::start(CALM);
    target.set_health(503);
    let dir = tempfile::tempdir().unwrap();
    let config = target.config(
        &dir.path().join("config.yml"),
        WORK,
        "load:\n  health: {path: /health, timeout: 2s, expect: {status: [200]}}\n",
    );
    let output = load(&config, &["--users=2", "--duration=2s"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("target svc is not healthy: GET /health")
            && stderr.contains("503")
            && stderr.contains("no load was sent"),
        "{stderr}"
    );
    // The target saw the health request and nothing else.
    let paths: Vec<String> = target.seen().into_iter().map(|s| s.path).collect();
    assert_eq!(paths, ["/health"]);

    // Healthy again: the gate passes and the load follows it.
    target.set_health(200);
    let output = load(&config, &["--users=1", "--duration=1s"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let seen = target.seen();
    assert_eq!(seen[1].path, "/health");
    assert!(seen[2..].iter().all(|s| s.path == "/work") && seen.len() > 3);
}

#[test]
fn a_health_check_slower_than_its_timeout_fails_the_gate() {
    let target = ScriptedTarget::start(Script {
        fast: Duration::from_millis(1500),
        ..CALM
    });
    let dir = tempfile::tempdir().unwrap();
    let config = target.config(
        &dir.path().join("config.yml"),
        WORK,
        "load:\n  health: {path: /work, timeout: 200ms}\n",
    );
    let output = load(&config, &["--users=1", "--duration=1s"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("no answer within 200ms"),
        "{}",
        text(&output)
    );
    assert_eq!(target.seen_on("/work").len(), 1);
}

#[test]
fn out_placeholders_give_each_run_its_own_directory() {
    let target = ScriptedTarget::start(CALM);
    let dir = tempfile::tempdir().unwrap();
    let config = target.config(&dir.path().join("config.yml"), WORK, "");
    let template = dir.path().join("reports/{timestamp}_{profile}_{revision}");
    let out = format!("--out={}", template.display());
    let before = std::time::SystemTime::now();
    let output = load_command(&config, &["--users=1", "--duration=1s", &out])
        .env("SYNTHEX_REVISION", "abc123")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let made: Vec<String> = std::fs::read_dir(dir.path().join("reports"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(made.len(), 1, "{made:?}");
    let name = &made[0];
    assert!(name.ends_with("Z_1-users_abc123"), "{name}");
    // The timestamp is the run's start (to the second; the name is made a moment before the
    // report's clock starts, so it may fall in the second before), as the report records it.
    let report = json::read(&dir.path().join("reports").join(name).join("report.json")).unwrap();
    let stamp = |secs: f64| {
        humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + Duration::from_secs(secs as u64))
            .to_string()
            .replace(['-', ':'], "")
    };
    let started = before
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!((0.0..5.0).contains(&(report.started_at - started)));
    assert!(
        [stamp(report.started_at), stamp(report.started_at - 1.0)]
            .contains(&name[..16].to_string()),
        "{name} vs {}",
        report.started_at
    );

    // {revision} without a variable set is refused before any request.
    let served = target.seen().len();
    let output = load_command(&config, &["--users=1", "--duration=1s", &out])
        .env_remove("SYNTHEX_REVISION")
        .env_remove("GITHUB_SHA")
        .env_remove("CI_COMMIT_SHA")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("{revision} needs one of SYNTHEX_REVISION"),
        "{}",
        text(&output)
    );
    assert_eq!(target.seen().len(), served);
}

/// Runs a load test writing its reports to `dir/out` and returns the exit status, the stdout
/// and the report.
fn run_with_report(config: &Path, dir: &Path, args: &[&str]) -> (Option<i32>, String, Report) {
    let out = dir.join("out");
    let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    all.push(format!("--out={}", out.display()));
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    let output = load(config, &all);
    let report =
        json::read(&out.join("report.json")).unwrap_or_else(|e| panic!("{e}\n{}", text(&output)));
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        report,
    )
}

/// One run of one scenario against a target of its own.
struct Ran {
    target: ScriptedTarget,
    dir: tempfile::TempDir,
    stdout: String,
    report: Report,
    /// What the target saw on the scenario's path.
    seen: Vec<common::scripted_target::Seen>,
}

/// Runs scenario `name` (on path `/name`) with `args` against a target following `script`,
/// expecting exit 0.
fn run_one(script: Script, name: &str, args: &[&str]) -> Ran {
    let target = ScriptedTarget::start(script);
    let dir = tempfile::tempdir().unwrap();
    let config = target.config(
        &dir.path().join("config.yml"),
        &format!("      - {{name: {name}, request: {{path: /{name}}}}}\n"),
        "",
    );
    let (status, stdout, report) = run_with_report(&config, dir.path(), args);
    assert_eq!(status, Some(0), "{stdout}");
    let seen = target.seen_on(&format!("/{name}"));
    Ran {
        target,
        dir,
        stdout,
        report,
        seen,
    }
}

fn finding<'a>(report: &'a Report, rule: &str) -> &'a Finding {
    report
        .findings
        .iter()
        .find(|f| f.rule == rule)
        .unwrap_or_else(|| panic!("no {rule} finding in {:#?}", report.findings))
}

#[test]
fn an_error_ratio_finding_cites_the_servers_own_counts() {
    // 10 ms answers: a latency far above scheduling noise, so no tail finding joins in.
    let script = Script {
        every: 4,
        fast: Duration::from_millis(10),
        ..CALM
    };
    let Ran {
        target,
        dir,
        stdout,
        report,
        seen,
    } = run_one(script, "flaky", &["--users=2", "--duration=2s"]);
    let failed = seen.iter().filter(|s| s.failed).count() as f64;
    let f = finding(&report, "error_ratio");
    // The server's own books: every request it saw, and the ones it failed on purpose.
    assert_eq!(f.values["requests"], seen.len() as f64);
    assert_eq!(f.values["failures"], failed);
    assert_eq!(f.values["error_ratio"], failed / seen.len() as f64);
    assert!(f.summary.starts_with("Error ratio 2"), "{}", f.summary);
    assert!(
        f.evidence[0].starts_with(&format!("{failed} × http_status: "))
            && f.evidence[0].contains("500"),
        "{:?}",
        f.evidence
    );
    assert!(
        f.evidence.contains(&format!(
            "svc/flaky: {failed} of {} requests failed ({})",
            seen.len(),
            synthex::report::format::percent(failed / seen.len() as f64)
        )),
        "{:?}",
        f.evidence
    );
    assert!(stdout.contains("Findings\n  ! Error ratio"), "{stdout}");
    assert!(stdout.contains("next: error statuses"), "{stdout}");
    let markdown = std::fs::read_to_string(dir.path().join("out/summary.md")).unwrap();
    assert!(
        markdown.contains("### Findings\n\n- **Error ratio"),
        "{markdown}"
    );
    let html = std::fs::read_to_string(dir.path().join("out/report.html")).unwrap();
    assert!(html.contains("<h2>Findings</h2><ul><li class=\"fail\"><strong>Error ratio"));

    // A bound above the ratio keeps the finding away (the one-line healthy verdict is in the
    // unit tests: on a shared host the host CPU rule may rightly fire here).
    let config = target.config(
        &dir.path().join("second.yml"),
        "      - {name: flaky, request: {path: /flaky}}\n",
        "load:\n  findings: {error_ratio: 30%, tail_ratio: 5}\n",
    );
    let (_, stdout, report) = run_with_report(&config, dir.path(), &["--users=2", "--duration=1s"]);
    assert!(
        report.findings.iter().all(|f| f.rule != "error_ratio"),
        "{:#?}\n{stdout}",
        report.findings
    );
}

#[test]
fn a_tail_finding_counts_the_slow_requests_the_server_made_slow() {
    // One request in 40 (2.5%) takes 300 ms, the rest 15 ms: P95 fast, P99 slow.
    let script = Script {
        fast: Duration::from_millis(15),
        slow: Duration::from_millis(300),
        every: 40,
        ..CALM
    };
    let Ran { report, seen, .. } = run_one(script, "tail", &["--users=4", "--duration=3s"]);
    let slow = seen.iter().filter(|s| s.slow).count() as f64;
    let total = seen.len() as f64;
    let f = finding(&report, "tail_latency");
    assert!(f.values["p99_seconds"] >= 0.3, "{:?}", f.values);
    assert!(f.values["p95_seconds"] < 0.3, "{:?}", f.values);
    assert!(f.values["p99_p95_ratio"] > 2.0);
    // Every slow answer is over twice the median; a busy host may push a few fast ones over.
    let over = f.values["requests_over_twice_median"];
    assert!(
        over >= slow && over <= slow + total / 50.0,
        "{over} over, server made {slow} of {total} slow"
    );
    assert_eq!(report.total().0 as f64, total);
    assert!(
        f.evidence.iter().any(|e| e.starts_with("svc/tail: p95 ")),
        "{:?}",
        f.evidence
    );
}

#[test]
fn a_service_that_saturates_shows_its_knee_and_saturation_point() {
    // Two workers, 20 ms each: at most 100 requests/s, queueing beyond two users; ten users
    // wait about five service times, far past the knee bound even when a busy host slows the
    // first stage.
    let target = ScriptedTarget::start(Script {
        fast: Duration::from_millis(20),
        knee: 2,
        ..CALM
    });
    let dir = tempfile::tempdir().unwrap();
    let config = target.config(&dir.path().join("config.yml"), WORK, "");
    let profile = dir.path().join("steps.yml");
    std::fs::write(
        &profile,
        "stages:\n  - {duration: 0s, users: 1}\n  - {duration: 3s, users: 1}\n  - {duration: 0s, users: 2}\n  - {duration: 3s, users: 2}\n  - {duration: 0s, users: 10}\n  - {duration: 3s, users: 10}\n",
    )
    .unwrap();
    let (status, stdout, report) = run_with_report(
        &config,
        dir.path(),
        &[&format!("--profile={}", profile.display())],
    );
    assert_eq!(status, Some(0), "{stdout}");
    // The server's own arrivals per stage, by wall clock from the report's start.
    let arrivals = target.seen_on("/work");
    let rate = |from: f64, to: f64| {
        let n = arrivals
            .iter()
            .filter(|s| {
                let t = s
                    .wall
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_secs_f64()
                    - report.started_at;
                t >= from && t < to
            })
            .count();
        n as f64 / (to - from)
    };
    let (one, two, six) = (rate(0.0, 3.0), rate(3.0, 6.0), rate(6.0, 9.0));
    assert!(
        six < two * 1.25,
        "the server's capacity held: {two}/s then {six}/s"
    );

    let knee = finding(&report, "latency_knee");
    assert_eq!(knee.values["stage"], 6.0, "{knee:#?}");
    assert_eq!(knee.values["level"], 10.0);
    assert!(knee.values["p95_seconds"] >= 2.0 * knee.values["first_p95_seconds"]);
    let close = |ours: f64, theirs: f64| (ours - theirs).abs() <= 0.1 * theirs + 3.0;
    assert!(
        close(knee.values["throughput"], six),
        "{} vs the server's {six}/s",
        knee.values["throughput"]
    );

    let saturation = finding(&report, "saturation");
    assert_eq!(saturation.values["stage"], 6.0, "{saturation:#?}");
    assert_eq!(saturation.values["level"], 2.0);
    assert!(
        close(saturation.values["throughput"], two),
        "{} vs the server's {two}/s",
        saturation.values["throughput"]
    );
    // From one user to two the throughput followed the load: no saturation there.
    assert!(two > one * 1.5, "{one}/s then {two}/s");
    assert!(
        stdout.contains("Latency knee at stage 6 (level 10)"),
        "{stdout}"
    );
}

/// A real Prometheus (the Debian package) scraping the scripted target's `/metrics` every
/// second; killed on drop.
struct RealPrometheus {
    _proc: common::Proc,
    url: String,
}

impl RealPrometheus {
    fn start(dir: &Path, target: &ScriptedTarget) -> RealPrometheus {
        let (proc, url) = common::start_prometheus(
            dir,
            &format!(
                "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: svc\n    static_configs:\n      - targets: ['{}']\n",
                target.addr
            ),
        );
        RealPrometheus { _proc: proc, url }
    }

    /// Waits until Prometheus answers `query` with `value`.
    fn wait_for(&self, query: &str, value: f64) {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let url = format!("{}/api/v1/query?query={query}", self.url);
        loop {
            let (_, body) = common::http_get(&url).unwrap();
            let json: serde_json::Value = serde_json::from_str(&body).unwrap();
            let got = json
                .pointer("/data/result/0/value/1")
                .and_then(|v| v.as_str())
                .and_then(|v| v.parse::<f64>().ok());
            if got == Some(value) {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "{query}: {body}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// When Prometheus first scraped `value` for `metric` (Unix seconds, its own sample
    /// timestamp): the truth for when a query could first see it, whatever the machine's load.
    fn first_scraped(&self, metric: &str, value: f64) -> f64 {
        let url = format!("{}/api/v1/query?query={metric}[5m]", self.url);
        let (_, body) = common::http_get(&url).unwrap();
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        json.pointer("/data/result/0/values")
            .and_then(|v| v.as_array())
            .and_then(|samples| {
                samples.iter().find_map(|s| {
                    let v = s[1].as_str()?.parse::<f64>().ok()?;
                    (v == value).then(|| s[0].as_f64()).flatten()
                })
            })
            .unwrap_or_else(|| panic!("{metric} never {value}: {body}"))
    }
}

#[test]
fn prometheus_queries_follow_the_service_through_the_run() {
    let target = ScriptedTarget::start(Script {
        fast: Duration::from_millis(5),
        ..CALM
    });
    let dir = tempfile::tempdir().unwrap();
    let prometheus = RealPrometheus::start(dir.path(), &target);
    target.set_gauge(1.0);
    prometheus.wait_for("test_gauge", 1.0);
    let config = target.config(
        &dir.path().join("config.yml"),
        "      - {name: tail, request: {path: /tail}}\n",
        &format!(
            "load:\n  thresholds: [\"prometheus.gauge < 5\", \"prometheus.gauge:avg < 100\", \"prometheus.missing < 1\"]\n  findings: {{limits: {{gauge: 5}}}}\n  prometheus:\n    url: {}\n    interval: 1s\n    queries:\n      gauge: max(test_gauge)\n      missing: max(no_such_metric)\n",
            prometheus.url
        ),
    );
    let out = dir.path().join("out");
    let mut run = load_command(
        &config,
        &[
            "--users=2",
            "--duration=7s",
            &format!("--out={}", out.display()),
        ],
    )
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .spawn()
    .unwrap();
    // Three seconds in, the service's gauge goes to 10 and its answers slow down by 40 ms.
    std::thread::sleep(Duration::from_secs(3));
    let flipped = std::time::SystemTime::now();
    target.set_gauge(10.0);
    target.set_extra_delay(Duration::from_millis(40));
    let status = run.wait().unwrap();
    assert_eq!(status.code(), Some(3), "a query threshold failed");
    let report = json::read(&out.join("report.json")).unwrap();
    let flipped_at = flipped
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        - report.started_at;

    // When Prometheus first held the new value: evaluations after it (one a second, plus
    // ingestion slack) must read it, however late a busy machine made the scrape.
    let scraped_at = prometheus.first_scraped("test_gauge", 10.0) - report.started_at;
    assert!(
        scraped_at >= flipped_at - 0.1,
        "{scraped_at} vs {flipped_at}"
    );
    let gauge = &report.prometheus[0];
    assert_eq!(
        (gauge.name.as_str(), gauge.query.as_str()),
        ("gauge", "max(test_gauge)")
    );
    // One evaluation a second from the start, each exactly a value the test set: 1 until
    // Prometheus scraped the change, 10 after.
    assert!(
        (6..=9).contains(&gauge.samples.len()),
        "{:?}",
        gauge.samples
    );
    for (i, s) in gauge.samples.iter().enumerate() {
        assert!(
            (s.offset_seconds - i as f64).abs() < 0.5,
            "{:?}",
            gauge.samples
        );
        let value = s.value.unwrap_or_else(|| panic!("{s:?}"));
        if s.offset_seconds < flipped_at {
            assert_eq!(value, 1.0, "{s:?} before the flip at {flipped_at}");
        } else if s.offset_seconds > scraped_at + 1.0 {
            assert_eq!(
                value, 10.0,
                "{s:?} after Prometheus scraped it at {scraped_at}"
            );
        } else {
            assert!(value == 1.0 || value == 10.0);
        }
    }
    // A query without data is reported as such at every evaluation, never as 0.
    let missing = &report.prometheus[1];
    assert!(
        missing
            .samples
            .iter()
            .all(|s| s.value.is_none() && s.problem.as_deref() == Some("no data")),
        "{:?}",
        missing.samples
    );
    let verdicts: Vec<(bool, &str)> = report
        .thresholds
        .iter()
        .map(|t| (t.passed, t.detail.as_str()))
        .collect();
    assert_eq!(verdicts[0], (false, "prometheus.gauge 10 is 5 over 5"));
    assert!(verdicts[1].0, "{verdicts:?}");
    assert_eq!(
        report.thresholds[1].measured,
        Some(gauge.values().map(|(_, v)| v).sum::<f64>() / gauge.samples.len() as f64)
    );
    assert!(
        !verdicts[2].0
            && verdicts[2]
                .1
                .starts_with("prometheus.missing: no value in "),
        "{verdicts:?}"
    );
    assert!(
        verdicts[2].1.ends_with("evaluations (no data)"),
        "{verdicts:?}"
    );

    // The gauge at its limit while latency rose: which, when, how far.
    let f = report
        .findings
        .iter()
        .find(|f| f.rule == "resource_limit" && f.summary.starts_with("prometheus.gauge"))
        .unwrap_or_else(|| panic!("{:#?}", report.findings));
    assert_eq!(f.values["peak"], 10.0);
    assert_eq!(f.values["limit"], 5.0);
    let first = f.values["first_at_seconds"];
    assert!(
        first >= flipped_at && first <= scraped_at + 2.0,
        "{first} vs the flip at {flipped_at}, scraped at {scraped_at}"
    );
    assert!(f.values["p95_during_seconds"] > f.values["p95_before_seconds"] + 0.03);

    // The stdout table, the HTML chart.
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(summary.contains("### Prometheus queries"), "{summary}");
    assert!(summary.contains("| gauge | all | 1 |"), "{summary}");
    assert!(
        summary.contains("| missing | all | – | – | – |"),
        "{summary}"
    );
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("chart-prometheus"));
}

#[test]
fn an_unusable_prometheus_is_refused_before_the_first_request() {
    let target = ScriptedTarget::start(CALM);
    let dir = tempfile::tempdir().unwrap();
    let nowhere = format!("http://127.0.0.1:{}", common::free_port());
    let config = target.config(
        &dir.path().join("config.yml"),
        WORK,
        &format!("load:\n  prometheus:\n    url: {nowhere}\n    queries: {{cpu: up}}\n"),
    );
    let output = load(&config, &["--users=1", "--duration=1s"]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("load.prometheus")
            && stderr.contains("cpu: ")
            && stderr.contains("refused"),
        "{stderr}"
    );

    // A query the real Prometheus refuses is named with Prometheus' own reason.
    let prometheus = RealPrometheus::start(dir.path(), &target);
    let config = target.config(
        &dir.path().join("second.yml"),
        WORK,
        &format!(
            "load:\n  prometheus:\n    url: {}\n    queries: {{ok: up, broken: 'sum(up'}}\n",
            prometheus.url
        ),
    );
    let output = load(&config, &["--users=1", "--duration=1s"]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("broken: bad_data error: ") && !stderr.contains("ok: "),
        "{stderr}"
    );

    // A threshold on a query the config does not have is refused too.
    let output = load(
        &config,
        &[
            "--users=1",
            "--duration=1s",
            "--threshold=prometheus.cpu < 1",
        ],
    );
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("no query named cpu: the queries of load.prometheus are ok, broken"),
        "{}",
        text(&output)
    );
    assert!(target.seen().is_empty(), "no request reached the target");
}

#[test]
fn warm_up_requests_are_kept_out_of_every_figure() {
    let target = ScriptedTarget::start(Script {
        fast: Duration::from_millis(2),
        every: 3,
        ..CALM
    });
    let dir = tempfile::tempdir().unwrap();
    // Every third /flaky request fails: the warm-up's failures must not reach the threshold.
    let config = target.config(
        &dir.path().join("config.yml"),
        "      - {name: flaky, request: {path: /flaky}}\n",
        "load:\n  warmup: 10m\n  warmup_rate: 20/s\n",
    );
    let (status, stdout, report) = run_with_report(
        &config,
        dir.path(),
        &[
            "--users=1",
            "--duration=2s",
            "--warmup=2s",
            "--threshold=requests > 0",
        ],
    );
    assert_eq!(status, Some(0), "{stdout}");
    // The server's own books, split at the measured run's start.
    let seen = target.seen_on("/flaky");
    let at = |s: &common::scripted_target::Seen| {
        s.wall
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
    };
    let (warm, measured): (Vec<_>, Vec<_>) = seen.iter().partition(|s| at(s) < report.started_at);
    let warmup = report
        .warmup
        .as_ref()
        .expect("the report keeps the warm-up");
    let warm_requests: u64 = warmup.scenarios.iter().map(|s| s.requests).sum();
    let warm_failures: u64 = warmup.scenarios.iter().map(|s| s.failures).sum();
    assert_eq!(warm_requests, warm.len() as u64);
    assert_eq!(
        warm_failures,
        warm.iter().filter(|s| s.failed).count() as u64
    );
    // --warmup=2s overrode load.warmup's 10m; 20/s for 2 s is about 40 arrivals.
    assert_eq!(warmup.duration_seconds, 2.0);
    assert!(
        (30..=50).contains(&warm.len()),
        "{} warm-up requests",
        warm.len()
    );
    let (requests, failures, _) = report.total();
    assert_eq!(requests, measured.len() as u64);
    assert_eq!(
        failures,
        measured.iter().filter(|s| s.failed).count() as u64
    );
    assert_eq!(report.thresholds[0].measured, Some(measured.len() as f64));
    let timeline: u64 = report.timeline.iter().map(|i| i.requests).sum();
    assert_eq!(timeline, requests);
    assert!(
        stdout.contains("Warm-up: 2s at 20/s before the run, ")
            && stdout.contains(&format!(
                "{warm_requests} requests ({warm_failures} failed), kept out"
            )),
        "{stdout}"
    );
}
