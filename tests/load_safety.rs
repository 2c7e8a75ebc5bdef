//! `synthex load` never loses a run and never misleads: output locations are checked before the
//! first request (the demo target's own request count proves none was sent), reports that cannot
//! be written at the end are rescued to a temp directory, and so on. The real binary against
//! real servers on 127.0.0.1.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::load::{Target, load_command, text};
use synthex::report::json;

const HEALTH: &str = "      - {name: health, request: {path: /health}}\n";

#[test]
fn bad_output_locations_are_refused_before_the_first_request() {
    let target = Target::start();
    let config = target.config("synthex.yml", HEALTH, "");
    let dir = target.dir.path();
    let file = dir.join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    let existing_dir = dir.join("a-dir");
    std::fs::create_dir(&existing_dir).unwrap();
    let cases: [(String, &str); 6] = [
        (
            format!("--out={}", file.display()),
            "cannot create the directory",
        ),
        (
            format!("--out={}", file.join("reports").display()),
            "cannot create the directory",
        ),
        // Not writable even for root.
        (
            "--out=/proc/synthex-reports".to_string(),
            "cannot create the directory",
        ),
        (
            format!("--save-baseline={}", existing_dir.display()),
            "is a directory",
        ),
        (
            format!("--save-baseline={}", file.join("base.json").display()),
            "cannot create the directory",
        ),
        (
            "--save-baseline=/proc/self/synthex.json".to_string(),
            "cannot write the file",
        ),
    ];
    let before = target.requests_served();
    for (flag, reason) in &cases {
        let output = load_command(&config, &["--users=2", "--duration=2s", flag])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{flag}: {}", text(&output));
        let stderr = String::from_utf8_lossy(&output.stderr);
        let (name, path) = flag.split_once('=').unwrap();
        assert!(
            stderr.contains(&format!("{name} {path}: {reason}")),
            "{flag}: {stderr}"
        );
    }
    // The target's own count: only this test's /stats reads, no load request.
    assert_eq!(target.requests_served(), before + 1);
    assert!(std::fs::read_to_string(&file).unwrap() == "not a directory");
}

#[test]
fn reports_that_cannot_be_written_at_the_end_are_rescued_to_a_temp_directory() {
    let target = Target::start();
    let config = target.config("synthex.yml", HEALTH, "");
    let tmp = target.dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let out = target.dir.path().join("reports");
    let before = target.requests_served();
    let child = load_command(
        &config,
        &[
            "--users=2",
            "--duration=3s",
            &format!("--out={}", out.display()),
            &format!("--save-baseline={}", out.join("baseline.json").display()),
        ],
    )
    .env("TMPDIR", &tmp)
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    // Checked and created before the run...
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !out.is_dir() {
        assert!(std::time::Instant::now() < deadline, "--out not created");
        std::thread::sleep(Duration::from_millis(20));
    }
    // ...then replaced by a file while the test runs.
    std::thread::sleep(Duration::from_millis(500));
    std::fs::remove_dir_all(&out).unwrap();
    std::fs::write(&out, "in the way").unwrap();
    let output = child.wait_with_output().unwrap();
    let served = target.requests_served() - before - 1;
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot write the reports"), "{stderr}");
    assert!(stderr.contains("cannot save the baseline"), "{stderr}");
    let rescued: Vec<PathBuf> = std::fs::read_dir(&tmp)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(rescued.len(), 1, "{rescued:?}");
    let rescued = &rescued[0];
    assert!(
        stderr.contains(&format!("written to {} instead", rescued.display())),
        "{stderr}"
    );
    let report = json::read(&rescued.join("report.json")).unwrap();
    let baseline = json::read(&rescued.join("baseline.json")).unwrap();
    assert_eq!(report, baseline);
    // Every request the target served is in the rescued report.
    let (requests, failures, _) = report.total();
    assert_eq!(requests, served, "{}", text(&output));
    assert_eq!(failures, 0);
    for file in ["synthex_stats.csv", "summary.md", "report.html"] {
        assert!(rescued.join(file).is_file(), "{file}");
    }
}

/// A target that accepts connections and never answers; counts the connections it holds.
fn hanging_target() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = std::sync::Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            count.fetch_add(1, Ordering::SeqCst);
            held.push(stream);
        }
    });
    (port, accepted)
}

fn signal(child: &std::process::Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits until `file` contains `text`, for at most 20 s.
fn wait_for_text(file: &Path, text: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let content = std::fs::read_to_string(file).unwrap_or_default();
        if content.contains(text) {
            return content;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no {text:?} in:\n{content}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn ctrl_c_against_a_hanging_target_says_what_it_waits_for_and_a_second_stops_at_once() {
    use std::sync::atomic::Ordering;
    let (port, accepted) = hanging_target();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("synthex.yml");
    std::fs::write(
        &config,
        format!(
            "targets:\n  - name: stuck\n    base_url: http://127.0.0.1:{port}\n    rate: 1/s\n    timeout: 60s\n    scenarios:\n      - {{name: hang, request: {{path: /}}}}\n"
        ),
    )
    .unwrap();
    let out = dir.path().join("reports");
    let log = dir.path().join("stderr.log");
    let mut child = load_command(
        &config,
        &[
            "--users=3",
            "--duration=5m",
            &format!("--out={}", out.display()),
        ],
    )
    .stdout(std::fs::File::create(dir.path().join("stdout.txt")).unwrap())
    .stderr(std::fs::File::create(&log).unwrap())
    .spawn()
    .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while accepted.load(Ordering::SeqCst) < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "users did not connect"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    signal(&child, "INT");
    let said = wait_for_text(&log, "Ctrl-C again to stop now");
    let line = said.lines().find(|l| l.contains("Ctrl-C again")).unwrap();
    // Three requests in flight (the server holds three connections), up to the 60 s timeout + 1 s.
    assert!(line.contains("in_flight=3"), "{line}");
    assert!(line.contains("up_to=\"1m 1s\""), "{line}");
    // Still waiting: the first Ctrl-C gives the requests their grace period.
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "exited after one Ctrl-C"
    );
    signal(&child, "INT");
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the second Ctrl-C did not stop it"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted=3"), "{stderr}");
    let report = json::read(&out.join("report.json")).unwrap();
    assert!(report.interrupted);
    let (requests, failures, _) = report.total();
    assert_eq!((requests, failures), (3, 3), "{stderr}");
    assert_eq!(report.failures.len(), 1, "{:?}", report.failures);
    assert!(report.failures[0].message.starts_with("interrupted"));
    assert_eq!(report.failures[0].occurrences, 3);
    assert_eq!(accepted.load(Ordering::SeqCst), 3);
    // No heading calls an interrupted run passed, though it has no failed threshold.
    let stdout = std::fs::read_to_string(dir.path().join("stdout.txt")).unwrap();
    let markdown = std::fs::read_to_string(out.join("summary.md")).unwrap();
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        stdout.contains("synthex load test: INTERRUPTED (not a verdict)\n"),
        "{stdout}"
    );
    assert!(
        markdown.starts_with("## synthex load test: ⚠️ INTERRUPTED (not a verdict)\n"),
        "{markdown}"
    );
    assert!(
        html.contains("<h1>synthex load test: INTERRUPTED (not a verdict)</h1>"),
        "{html:.600}"
    );
    for text in [&stdout, &markdown, &html] {
        assert!(!text.contains("passed"), "{text:.600}");
    }
}

#[test]
fn a_threshold_on_a_scenario_the_tags_leave_out_is_refused_before_the_run() {
    let target = Target::start();
    let config = target.config(
        "synthex.yml", "      - {name: health, tags: [smoke], request: {path: /health}}\n      - {name: orders, tags: [slow], request: {path: /orders/1}}\n",
        "load:\n  thresholds: [\"orders: p95 < 1s\"]\n",
    );
    let before = target.requests_served();
    for flags in [
        &["--users=1", "--duration=2s", "--tags=smoke"][..],
        &["--users=1", "--duration=2s", "--exclude-tags=slow"][..],
        &["--find-breaking-point", "--duration=1s", "--tags=smoke"][..],
    ] {
        let output = load_command(&config, flags).output().unwrap();
        assert_eq!(
            output.status.code(),
            Some(2),
            "{flags:?}: {}",
            text(&output)
        );
        assert!(
            String::from_utf8_lossy(&output.stderr).contains(
                "load.thresholds[0]: threshold \"orders: p95 < 1s\": orders is left out by --tags"
            ),
            "{}",
            text(&output)
        );
    }
    // A typo in a scenario name is refused too, with no tags involved.
    let output = load_command(
        &config,
        &["--users=1", "--duration=2s", "--threshold=order: p95 < 1s"],
    )
    .output()
    .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        text(&output).contains(
            "--threshold: threshold \"order: p95 < 1s\": order names no scenario or flow step of the config (expected scenario, flow/step, target/scenario or target/flow/step; the names are health, orders)"
        ),
        "{}",
        text(&output)
    );
    assert_eq!(target.requests_served(), before + 1, "a request was sent");
    // With the scenario selected it runs and the threshold is judged.
    let output = load_command(&config, &["--users=1", "--duration=1s", "--tags=slow"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
}

#[test]
fn failures_csv_says_when_each_failure_was_first_and_last_seen() {
    let target = Target::start();
    let config = target.config(
        "synthex.yml",
        "      - {name: broken, request: {path: \"/flaky?error_ratio=1\"}}\n",
        "",
    );
    let out = target.dir.path().join("reports");
    let started = std::time::SystemTime::now();
    let output = load_command(
        &config,
        &[
            "--users=2",
            "--duration=3s",
            &format!("--out={}", out.display()),
        ],
    )
    .output()
    .unwrap();
    let ended = std::time::SystemTime::now();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let csv = std::fs::read_to_string(out.join("synthex_failures.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("Method,Name,Error,Occurrences,First Seen,Last Seen")
    );
    let row: Vec<&str> = lines.next().unwrap().split(',').collect();
    let parse = |text: &str| {
        // Locust's form exactly: seconds, UTC, `Z`.
        assert!(
            text.len() == 20 && text.ends_with('Z') && text.as_bytes()[10] == b'T',
            "{text}"
        );
        humantime::parse_rfc3339(text).unwrap()
    };
    let (first, last) = (parse(row[row.len() - 2]), parse(row[row.len() - 1]));
    let second = Duration::from_secs(1);
    // Within the run by the test's own clock (to the second Locust keeps), and spread over it.
    assert!(first + second >= started && last <= ended, "{csv}");
    let spread = last.duration_since(first).unwrap();
    assert!(spread >= Duration::from_secs(2), "{csv}");
    let occurrences: u64 = row[row.len() - 3].parse().unwrap();
    let report = json::read(&out.join("report.json")).unwrap();
    assert_eq!(occurrences, report.total().1);
}
