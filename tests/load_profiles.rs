//! Several profiles in one run (`--profile=a,b`) against a real server whose own books are the
//! truth: the requests it saw, grouped by the pause between profiles, are each profile's
//! requests; its 503s (it enforces a concurrency limit) are each profile's failures.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::load::{load_command, text};
use common::scripted_target::{Script, ScriptedTarget, Seen};
use common::{Proc, wait_until};
use synthex::report::json;
use synthex::report::model::Report;

/// At most 2 requests at once on `/limited`, each answered after 20 ms.
const LIMIT_2: Script = Script {
    fast: Duration::from_millis(20),
    slow: Duration::from_millis(20),
    knee: 2,
    every: 0,
};

/// A config sending `/limited` to `base`, and profiles `a.yml` (2 users) and `b.yml` (4 users),
/// each `seconds` long with 30 ms think time, in `dir`.
fn setup(dir: &Path, base: &str, seconds: u32) -> std::path::PathBuf {
    let config = dir.join("config.yml");
    std::fs::write(
        &config,
        format!(
            "targets:\n  - name: svc\n    base_url: {base}\n    rate: 1/s\n    timeout: 5s\n    scenarios:\n      - {{name: limited, request: {{path: /limited}}}}\n"
        ),
    )
    .unwrap();
    for (name, users) in [("a.yml", 2), ("b.yml", 4)] {
        std::fs::write(
            dir.join(name),
            format!(
                "think_time: 30ms\nstages:\n  - {{duration: 0s, users: {users}}}\n  - {{duration: {seconds}s, users: {users}}}\n"
            ),
        )
        .unwrap();
    }
    config
}

/// The server's requests in groups separated by a quiet gap of at least `gap`.
fn groups(seen: &[Seen], gap: Duration) -> Vec<Vec<Seen>> {
    let mut out: Vec<Vec<Seen>> = Vec::new();
    for s in seen {
        match out.last_mut() {
            Some(group) if s.at.duration_since(group.last().unwrap().at) < gap => {
                group.push(s.clone())
            }
            _ => out.push(vec![s.clone()]),
        }
    }
    out
}

/// `(requests, failures)` of a group as the server booked them.
fn books(group: &[Seen]) -> (u64, u64) {
    let failed = group.iter().filter(|s| s.failed).count();
    (group.len() as u64, failed as u64)
}

/// The profile's row of the stage table: `(requests, failures)`.
fn profile_row(report: &Report, name: &str) -> (u64, u64) {
    let row = report
        .stages
        .iter()
        .find(|r| r.name == name && r.profile.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no row for profile {name}: {:?}", report.stages));
    (row.requests, row.failures)
}

/// `Request Count` and `Failure Count` of the Aggregated row of a Locust `_stats.csv`.
fn aggregated(path: &Path) -> (u64, u64) {
    let text = std::fs::read_to_string(path).unwrap();
    let row = text
        .lines()
        .find(|l| l.starts_with(",Aggregated,"))
        .unwrap_or_else(|| panic!("no Aggregated row in {}:\n{text}", path.display()));
    let fields: Vec<&str> = row.split(',').collect();
    (fields[2].parse().unwrap(), fields[3].parse().unwrap())
}

#[test]
fn one_report_has_each_profiles_requests_as_the_server_counted_them() {
    let target = ScriptedTarget::start(LIMIT_2);
    let dir = tempfile::tempdir().unwrap();
    let config = setup(dir.path(), &target.base(), 2);
    let out = dir.path().join("out");
    let output = load_command(
        &config,
        &[
            "--profile=a.yml,b.yml",
            "--profile-pause=2s",
            "--threshold=error_rate < 1%",
            &format!("--out={}", out.display()),
        ],
    )
    .current_dir(dir.path())
    .output()
    .unwrap();
    let shown = text(&output);
    // 2 users never pass the limit of 2; 4 users do: only b fails its threshold.
    assert_eq!(output.status.code(), Some(3), "{shown}");

    let seen = target.seen_on("/limited");
    let groups = groups(&seen, Duration::from_millis(1000));
    assert_eq!(groups.len(), 2, "two bursts of requests: {shown}");
    let (a, b) = (books(&groups[0]), books(&groups[1]));
    assert_eq!(a.1, 0, "2 users stay within the limit");
    assert!(b.1 > 0, "4 users pass it");
    // The pause as the server saw it: from a's last request to b's first; a's users stop
    // within a control tick (100 ms) of its planned end, the pause counts from that end.
    let quiet = groups[1][0].at.duration_since(groups[0].last().unwrap().at);
    assert!(quiet >= Duration::from_millis(1800), "{quiet:?}");

    let report = json::read(&out.join("report.json")).unwrap();
    assert_eq!(profile_row(&report, "a.yml"), a, "{shown}");
    assert_eq!(profile_row(&report, "b.yml"), b, "{shown}");
    assert_eq!(report.total().0, a.0 + b.0);
    assert_eq!(report.plan.profile, "a.yml,b.yml");

    let verdicts: Vec<(Option<&str>, bool)> = report
        .thresholds
        .iter()
        .map(|t| (t.profile.as_deref(), t.passed))
        .collect();
    assert_eq!(verdicts, [(Some("a.yml"), true), (Some("b.yml"), false)]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("✗ [b.yml] error_rate < 1%"), "{shown}");
    assert!(stdout.contains("Profile a.yml: 0s to 2s"), "{shown}");

    assert_eq!(aggregated(&out.join("synthex_a_stats.csv")), a);
    assert_eq!(aggregated(&out.join("synthex_b_stats.csv")), b);
    assert_eq!(
        aggregated(&out.join("synthex_stats.csv")),
        (a.0 + b.0, a.1 + b.1)
    );
    let markdown = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(markdown.contains("### Profile b.yml"), "{markdown}");
    assert!(
        markdown.contains("❌ `[b.yml] error_rate < 1%`"),
        "{markdown}"
    );
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        html.contains("<h2>Profile a.yml: 0s to 2s"),
        "no section in the HTML"
    );
}

#[test]
fn an_unknown_profile_is_refused_before_any_request_with_the_known_ones() {
    let target = ScriptedTarget::start(LIMIT_2);
    let dir = tempfile::tempdir().unwrap();
    let config = setup(dir.path(), &target.base(), 1);
    for (list, says) in [
        (
            "a.yml,nosuch",
            "--profile \"nosuch\": neither a built-in profile (smoke, light, medium, heavy, spike, stress) nor a file",
        ),
        ("a.yml,a.yml", "a.yml is named twice"),
        ("light,stress", "stress is a breaking-point search"),
        ("a.yml,,b.yml", "an empty profile name"),
    ] {
        let output = load_command(&config, &[&format!("--profile={list}")])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{}", text(&output));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(says), "{list}: {stderr}");
    }
    let open = dir.path().join("open.yml");
    std::fs::write(&open, "model: open\nstages: [{duration: 1s, rate: 5/s}]\n").unwrap();
    let output = load_command(&config, &["--profile=a.yml,open.yml"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("share a load model"),
        "{}",
        text(&output)
    );
    assert!(target.seen().is_empty(), "no request before the checks");
}

#[test]
fn an_interrupt_in_the_second_profile_keeps_the_first_whole() {
    let target = ScriptedTarget::start(LIMIT_2);
    let dir = tempfile::tempdir().unwrap();
    // a for 2 s, then b for 60 s: the interrupt lands in b.
    let config = setup(dir.path(), &target.base(), 2);
    std::fs::write(
        dir.path().join("b.yml"),
        "think_time: 30ms\nstages:\n  - {duration: 0s, users: 1}\n  - {duration: 60s, users: 1}\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let log = dir.path().join("load.log");
    let mut command = load_command(
        &config,
        &[
            "--profile=a.yml,b.yml",
            "--profile-pause=1s",
            &format!("--out={}", out.display()),
        ],
    );
    command.current_dir(dir.path()).stdin(Stdio::null());
    let mut run = Proc::spawn_command("synthex load", command, &log);
    let started = Instant::now();
    // b has started once requests come again after the pause.
    wait_until(
        || groups(&target.seen_on("/limited"), Duration::from_millis(700)).len() == 2,
        &mut run,
        &log,
    );
    let _ = Command::new("kill")
        .args(["-INT", &run.pid().to_string()])
        .status();
    let status = run.wait_exit(Duration::from_secs(20)).expect("exits");
    assert_eq!(
        status.code(),
        Some(130),
        "{}",
        std::fs::read_to_string(&log).unwrap()
    );
    assert!(
        started.elapsed() < Duration::from_secs(40),
        "b did not run to its end"
    );

    let seen = target.seen_on("/limited");
    let groups = groups(&seen, Duration::from_millis(700));
    assert_eq!(groups.len(), 2);
    let report = json::read(&out.join("report.json")).unwrap();
    assert!(report.interrupted);
    assert_eq!(profile_row(&report, "a.yml"), books(&groups[0]));
    assert_eq!(profile_row(&report, "b.yml"), books(&groups[1]));
}

#[test]
fn the_users_search_stops_where_the_server_starts_refusing() {
    // At most 3 requests at once: 3 users (no think time) always fit, 5 never do for long.
    let target = ScriptedTarget::start(Script { knee: 3, ..LIMIT_2 });
    let dir = tempfile::tempdir().unwrap();
    let config = setup(dir.path(), &target.base(), 1);
    let out = dir.path().join("out");
    let output = load_command(
        &config,
        &[
            "--find-breaking-point=users",
            "--duration=2s",
            &format!("--out={}", out.display()),
        ],
    )
    .output()
    .unwrap();
    let shown = text(&output);
    assert_eq!(output.status.code(), Some(0), "{shown}");
    let report = json::read(&out.join("report.json")).unwrap();
    let bp = report.breaking_point.as_ref().expect("a breaking point");
    assert_eq!(bp.model, synthex::report::model::LoadModel::Closed);
    let steps: Vec<(f64, bool)> = bp.steps.iter().map(|s| (s.target_rate, s.passed)).collect();
    assert_eq!(
        steps,
        [(1.0, true), (2.0, true), (3.0, true), (5.0, false)],
        "{shown}"
    );
    assert_eq!(bp.highest_passing_rate, Some(3.0));
    assert_eq!(bp.breaking_rate, Some(5.0));
    // The server's books: every request and every 503 is in the report, the 503s in the last
    // step only (the first 3 steps' error ratios are 0).
    let seen = target.seen_on("/limited");
    let refused = seen.iter().filter(|s| s.failed).count() as u64;
    assert!(refused > 0);
    assert_eq!(report.total().0, seen.len() as u64);
    assert_eq!(report.total().1, refused);
    assert!(bp.steps[..3].iter().all(|s| s.error_ratio == Some(0.0)));
    let sentence = "highest user count that held: 3 users; broke at 5 users on error ratio";
    assert!(
        String::from_utf8_lossy(&output.stdout).contains(sentence),
        "{shown}"
    );
    let markdown = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(markdown.contains(sentence), "{markdown}");
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains(sentence) && html.contains("p95 by virtual users"));
}

#[test]
fn the_search_unit_and_its_start_flag_must_agree() {
    let target = ScriptedTarget::start(LIMIT_2);
    let dir = tempfile::tempdir().unwrap();
    let config = setup(dir.path(), &target.base(), 1);
    for (args, says) in [
        (
            &["--find-breaking-point=users", "--rate=5/s"][..],
            "the users search starts at --users",
        ),
        (
            &["--find-breaking-point", "--users=5"][..],
            "the rate search starts at --rate",
        ),
        (&["--find-breaking-point=load"][..], "invalid value 'load'"),
    ] {
        let output = load_command(&config, args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{}", text(&output));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    assert!(target.seen().is_empty());
}
