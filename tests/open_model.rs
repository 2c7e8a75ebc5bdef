//! The open model (`synthex load --rate`) end to end, the real binary against a counting
//! target whose own books are the truth: arrivals reuse keep-alive connections, so the target
//! sees no more connections than it ever held requests at once, and exactly the
//! requests the report counts; a flow arrival is still a new session (`on_start` runs each
//! time) with the run's shared `{{ counter }}`.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::counting_target::CountingTarget;
use common::load::{load, text};

/// A config with `scenario` (YAML list items) against `target`.
fn config(dir: &Path, target: &CountingTarget, scenario: &str) -> PathBuf {
    let path = dir.join("open.yml");
    std::fs::write(
        &path,
        format!(
            "targets:\n  - name: api\n    base_url: http://{}\n    rate: 1/s\n    backoff: off\n    timeout: 5s\n    scenarios:\n{scenario}",
            target.addr
        ),
    )
    .unwrap();
    path
}

/// The JSON report of a run written with `--out=DIR`.
fn report(out: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(out.join("report.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn connections_stay_within_the_most_requests_in_flight() {
    // 20/s of 125 ms each: 2 to 3 requests at the target at once, and a connection is free
    // 25 ms before the arrival that reuses it.
    let target = CountingTarget::start(Duration::from_millis(125));
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        dir.path(),
        &target,
        "      - {name: slow, request: {path: /}}\n",
    );
    let out = dir.path().join("out");
    let output = load(
        &config,
        &[
            "--rate=20/s",
            "--duration=5s",
            &format!("--out={}", out.display()),
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let json = report(&out);
    let requests = json["scenarios"][0]["requests"].as_u64().unwrap();
    assert_eq!(requests, 100, "5 s × 20/s");
    assert_eq!(target.count() as u64, requests, "the target's own count");
    let (connections, most) = (target.connections(), target.most_in_flight());
    assert!((2..=3).contains(&most), "{most} at once");
    // Each request in flight needs a connection of its own (HTTP/1.1), so never fewer.
    assert!(
        connections <= most,
        "{connections} connections for at most {most} requests at once"
    );
}

#[test]
fn a_flow_arrival_is_a_new_session_on_a_reused_connection() {
    let target = CountingTarget::start(Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    let flow = "      - name: shopping\n        on_start:\n          - {name: login, request: {method: POST, path: /login}}\n        steps:\n          - {name: item, request: {path: \"/item/{{ counter }}\"}}\n";
    let config = config(dir.path(), &target, flow);
    let out = dir.path().join("out");
    let output = load(
        &config,
        &[
            "--rate=20/s",
            "--duration=2s",
            &format!("--out={}", out.display()),
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(report(&out)["flows"][0]["runs"], 40);
    // on_start ran for every arrival, and the arrivals counted 1 to 40 between them.
    assert_eq!(target.count_of("/login"), 40);
    for k in 1..=40 {
        assert_eq!(target.count_of(&format!("/item/{k}")), 1, "/item/{k}");
    }
    assert_eq!(target.count(), 80);
    // Arrivals 50 ms apart of two quick requests: one connection (a few if the machine
    // stalls) reused, not one per arrival.
    let connections = target.connections();
    assert!(
        connections <= 4,
        "{connections} connections for 40 arrivals"
    );
}
