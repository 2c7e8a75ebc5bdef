//! The status page's last hour (`/api/v1/history`) and the badges (`/badge/TARGET.svg`) on the
//! real binary against a real target that keeps its own books: request counts per path, the
//! delay it adds, the status it answers. Badges are parsed as XML; the web config's basic auth
//! guards both; a reload drops the history of what it removed or changed.

mod common;
mod web_support;

use std::path::Path;
use std::time::Duration;

use common::counting_target::CountingTarget;
use common::{Proc, free_port, synthex_bin};
use serde_json::Value;

/// The daemon on a free port with `config` (written into `dir`) and `flags`.
struct Daemon {
    proc: Proc,
    base: String,
}

fn start(dir: &Path, config: &str, flags: &[&str]) -> Daemon {
    let file = dir.join("synthex.yml");
    std::fs::write(&file, config).unwrap();
    let port = free_port();
    let mut args = vec![
        "run".to_string(),
        format!("--config.file={}", file.display()),
        format!("--web.listen-address=127.0.0.1:{port}"),
    ];
    args.extend(flags.iter().map(|f| f.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let proc = Proc::spawn("synthex", synthex_bin(), &args, &dir.join("synthex.log"));
    Daemon {
        proc,
        base: format!("http://127.0.0.1:{port}"),
    }
}

/// A plain-HTTP client (reqwest needs a TLS provider installed even so).
fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// GET `path` of the daemon: status, content type and body (with basic auth when given).
async fn get(base: &str, path: &str, auth: Option<(&str, &str)>) -> (u16, String, String) {
    let mut request = client().get(format!("{base}{path}"));
    if let Some((user, password)) = auth {
        request = request.basic_auth(user, Some(password));
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let kind = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, kind, response.text().await.unwrap())
}

/// Waits (20 s at most) until `/-/ready` answers 200 to a request with `auth`.
async fn until_ready(daemon: &mut Daemon, auth: Option<(&str, &str)>, log: &Path) {
    let client = client();
    for _ in 0..100 {
        let mut request = client.get(format!("{}/-/ready", daemon.base));
        if let Some((user, password)) = auth {
            request = request.basic_auth(user, Some(password));
        }
        if let Ok(response) = request.send().await
            && response.status() == 200
        {
            return;
        }
        let log = || std::fs::read_to_string(log).unwrap_or_default();
        assert!(daemon.proc.is_running(), "synthex exited:\n{}", log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("synthex not ready in 20 s");
}

async fn history(base: &str) -> Value {
    let (status, kind, body) = get(base, "/api/v1/history", None).await;
    assert_eq!((status, kind.as_str()), (200, "application/json"), "{body}");
    serde_json::from_str(&body).unwrap()
}

/// The points of `target`/`scenario` in a history document.
fn points<'a>(doc: &'a Value, target: &str, scenario: &str) -> &'a Vec<Value> {
    doc["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == target)
        .and_then(|t| t["scenarios"].as_array())
        .and_then(|s| s.iter().find(|s| s["name"] == scenario))
        .and_then(|s| s["points"].as_array())
        .unwrap_or_else(|| panic!("no {target}/{scenario} in {doc}"))
}

fn total(points: &[Value], field: &str) -> u64 {
    points.iter().map(|p| p[field].as_u64().unwrap()).sum()
}

/// A badge parsed as SVG: its accessible text (`label: value`) and the fill of its value part.
struct ParsedBadge {
    label: String,
    value: String,
    colour: String,
}

fn parse_badge(svg: &str) -> ParsedBadge {
    let doc = roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("{e}: {svg}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    assert_eq!(
        root.tag_name().namespace(),
        Some("http://www.w3.org/2000/svg")
    );
    let title = root
        .descendants()
        .find(|n| n.has_tag_name("title"))
        .and_then(|n| n.text())
        .unwrap()
        .to_string();
    let (label, value) = title.rsplit_once(": ").unwrap();
    // The texts drawn are the title's two halves (each twice: shadow and text).
    let texts: Vec<&str> = root
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text())
        .collect();
    assert_eq!(texts, [label, label, value, value], "{svg}");
    let rects: Vec<_> = root
        .descendants()
        .filter(|n| n.has_tag_name("rect") && n.attribute("x").is_some())
        .collect();
    assert_eq!(rects.len(), 1, "{svg}");
    ParsedBadge {
        label: label.to_string(),
        value: value.to_string(),
        colour: rects[0].attribute("fill").unwrap().to_string(),
    }
}

async fn badge(base: &str, path: &str) -> ParsedBadge {
    let (status, kind, body) = get(base, path, None).await;
    assert_eq!(
        (status, kind.as_str()),
        (200, "image/svg+xml"),
        "{path}: {body}"
    );
    parse_badge(&body)
}

/// Milliseconds in a badge value such as `31.2ms`, `850µs` or `1.02s`.
fn badge_millis(value: &str) -> f64 {
    let split = value.find(|c: char| c.is_alphabetic()).unwrap();
    let (number, unit) = value.split_at(split);
    let number: f64 = number.parse().unwrap();
    match unit {
        "µs" => number / 1000.0,
        "ms" => number,
        "s" => number * 1000.0,
        other => panic!("unit {other} in {value}"),
    }
}

const GREEN: &str = "#4c1";
const RED: &str = "#e05d44";
const BLUE: &str = "#007ec6";

fn config(port: u16) -> String {
    format!(
        "targets:
  - name: slow
    base_url: http://127.0.0.1:{port}
    rate: 10/s
    objectives: {{p95: 20ms, availability: 99%}}
    scenarios:
      - {{name: thirty, request: {{path: /delay/30}}}}
  - name: mixed
    base_url: http://127.0.0.1:{port}
    rate: 20/s
    backoff: off
    objectives: {{error_ratio: 1%}}
    scenarios:
      - {{name: ok, weight: 3, request: {{path: /mixed/ok}}}}
      - {{name: broken, weight: 1, request: {{path: /mixed/status/500}}}}
  - name: down
    base_url: http://127.0.0.1:{port}
    rate: 5/s
    backoff: off
    scenarios:
      - {{name: only, request: {{path: /status/503}}}}
"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_and_badges_match_what_the_target_served() {
    let dir = tempfile::tempdir().unwrap();
    let target = CountingTarget::start(Duration::ZERO);
    let mut daemon = start(dir.path(), &config(target.addr.port()), &[]);
    until_ready(&mut daemon, None, &dir.path().join("synthex.log")).await;
    let paths = ["/delay/30", "/mixed/ok", "/mixed/status/500", "/status/503"];
    common::wait_until(
        || paths.iter().all(|p| target.answered_of(p) >= 15),
        &mut daemon.proc,
        &dir.path().join("synthex.log"),
    );

    // Every request the target answered before the read is in the history, and nothing it
    // did not receive by the end of the read.
    let before: Vec<u64> = paths.iter().map(|p| target.answered_of(p)).collect();
    let doc = history(&daemon.base).await;
    let after: Vec<u64> = paths.iter().map(|p| target.count_of(p)).collect();
    let scenarios = [
        ("slow", "thirty"),
        ("mixed", "ok"),
        ("mixed", "broken"),
        ("down", "only"),
    ];
    for (i, (t, s)) in scenarios.iter().enumerate() {
        let points = points(&doc, t, s);
        let requests = total(points, "requests");
        assert!(
            before[i] <= requests && requests <= after[i],
            "{t}/{s}: history {requests}, target answered {} and received {}",
            before[i],
            after[i]
        );
        let failures = total(points, "failures");
        let expected = if *t == "slow" || *s == "ok" {
            0
        } else {
            requests
        };
        assert_eq!(failures, expected, "{t}/{s}");
        // At most an hour of minutes plus the one in progress, on minute boundaries, the last
        // one still running.
        assert!(!points.is_empty() && points.len() <= 61, "{points:?}");
        assert!(
            points
                .iter()
                .all(|p| p["start"].as_u64().unwrap() % 60 == 0)
        );
        assert_eq!(points.last().unwrap()["complete"], false);
        for point in points.iter().filter(|p| p["requests"].as_u64() > Some(0)) {
            let ratio = point["error_ratio"].as_f64().unwrap();
            assert_eq!(ratio, if expected == 0 { 0.0 } else { 1.0 }, "{point}");
        }
    }
    // The target held every /delay/30 request 30 ms: no p95 below that; the upper bound only
    // rules out nonsense on a busy host.
    for point in points(&doc, "slow", "thirty") {
        if let Some(p95) = point["p95_seconds"].as_f64() {
            assert!((0.030..1.0).contains(&p95), "{point}");
        }
    }
    let slow = &doc["targets"][0]["objectives"];
    assert_eq!(slow["p95_seconds"], 0.02);
    assert!(
        (slow["error_ratio"].as_f64().unwrap() - 0.01).abs() < 1e-9,
        "{slow}"
    );
    assert_eq!(doc["targets"][2]["objectives"]["p95_seconds"], Value::Null);
    assert_eq!(doc["interval_seconds"], 60);

    // p95 above its 20 ms objective: red, and never below the 30 ms the target waited.
    let p95 = badge(&daemon.base, "/badge/slow.svg?metric=p95").await;
    assert_eq!(p95.label, "slow p95 5m");
    let millis = badge_millis(&p95.value);
    assert!((30.0..1000.0).contains(&millis), "{}", p95.value);
    assert_eq!(p95.colour, RED);
    let up = badge(&daemon.base, "/badge/slow.svg").await;
    assert_eq!(
        (up.label.as_str(), up.value.as_str(), up.colour.as_str()),
        ("slow", "up", GREEN)
    );
    let uptime = badge(&daemon.base, "/badge/slow.svg?metric=uptime").await;
    assert_eq!(
        (uptime.value.as_str(), uptime.colour.as_str()),
        ("100%", GREEN)
    );

    // A quarter of mixed's requests fail: its uptime is the target's own count of answered
    // 200s over everything it answered, below the 99 % its error objective allows.
    let ok_before = target.answered_of("/mixed/ok") as f64;
    let broken_before = target.answered_of("/mixed/status/500") as f64;
    let uptime = badge(&daemon.base, "/badge/mixed.svg?metric=uptime").await;
    let ok_after = target.count_of("/mixed/ok") as f64;
    let broken_after = target.count_of("/mixed/status/500") as f64;
    let lowest = 100.0 * ok_before / (ok_before + broken_after);
    let highest = 100.0 * ok_after / (ok_after + broken_before);
    let shown: f64 = uptime.value.trim_end_matches('%').parse().unwrap();
    assert!(
        lowest - 0.01 <= shown && shown <= highest,
        "uptime {shown} outside [{lowest}, {highest}]"
    );
    assert_eq!(uptime.label, "mixed uptime 1h");
    assert_eq!(uptime.colour, RED);

    // Every request of `down` failed; without objectives its numbers are blue.
    let down = badge(&daemon.base, "/badge/down.svg?metric=status").await;
    assert_eq!((down.value.as_str(), down.colour.as_str()), ("down", RED));
    let uptime = badge(&daemon.base, "/badge/down.svg?metric=uptime").await;
    assert_eq!(
        (uptime.value.as_str(), uptime.colour.as_str()),
        ("0%", BLUE)
    );
    let p95 = badge(&daemon.base, "/badge/down.svg?metric=p95").await;
    assert_eq!(p95.colour, BLUE);

    let (status, _, body) = get(&daemon.base, "/badge/nope.svg", None).await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("\"nope\""), "{body}");
    let (status, _, body) = get(&daemon.base, "/badge/slow.svg?metric=p99", None).await;
    assert_eq!(
        (status, body.trim()),
        (400, "metric \"p99\": expected status, p95 or uptime")
    );
    let (status, _, _) = get(&daemon.base, "/api/v1/load", None).await;
    assert_eq!(status, 404, "the daemon runs no load test");
    let (status, _) = common::http_request("POST", &format!("{}/-/stop", daemon.base), "").unwrap();
    assert_eq!(status, 404, "nor has it a test to stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn badges_and_history_ask_for_the_web_configs_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let target = CountingTarget::start(Duration::ZERO);
    let web = dir.path().join("web.yml");
    std::fs::write(
        &web,
        format!("basic_auth_users:\n  alice: {}\n", web_support::ALICE_HASH),
    )
    .unwrap();
    let flag = format!("--web.config.file={}", web.display());
    let mut daemon = start(dir.path(), &config(target.addr.port()), &[&flag]);
    let alice = Some(("alice", web_support::ALICE_PASSWORD));
    until_ready(&mut daemon, alice, &dir.path().join("synthex.log")).await;
    for path in [
        "/badge/slow.svg",
        "/badge/slow.svg?metric=p95",
        "/api/v1/history",
    ] {
        let (status, _, _) = get(&daemon.base, path, None).await;
        assert_eq!(status, 401, "{path} without credentials");
        let (status, _, _) = get(&daemon.base, path, Some(("alice", "wrong"))).await;
        assert_eq!(status, 401, "{path} with a wrong password");
        let (status, _, body) = get(&daemon.base, path, alice).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_keeps_the_history_of_what_it_keeps_and_drops_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let target = CountingTarget::start(Duration::ZERO);
    let port = target.addr.port();
    let text = |changed: &str, extra: &str| {
        format!(
            "targets:
  - name: kept
    base_url: http://127.0.0.1:{port}
    rate: 20/s
    scenarios:
      - {{name: same, request: {{path: /same}}}}
      - {{name: edited, request: {{path: {changed}}}}}
{extra}"
        )
    };
    let removed = format!(
        "  - name: removed\n    base_url: http://127.0.0.1:{port}\n    rate: 10/s\n    \
         scenarios:\n      - {{name: gone, request: {{path: /gone}}}}\n"
    );
    let mut daemon = start(
        dir.path(),
        &text("/edited", &removed),
        &["--web.enable-lifecycle"],
    );
    let log = dir.path().join("synthex.log");
    common::wait_until(
        || {
            ["/same", "/edited", "/gone"]
                .iter()
                .all(|p| target.answered_of(p) >= 10)
        },
        &mut daemon.proc,
        &log,
    );
    let doc = history(&daemon.base).await;
    let same_before = total(points(&doc, "kept", "same"), "requests");
    assert!(same_before >= 10);

    std::fs::write(dir.path().join("synthex.yml"), text("/edited/v2", "")).unwrap();
    let (status, body) =
        common::http_request("POST", &format!("{}/-/reload", daemon.base), "").unwrap();
    assert_eq!(status, 200, "{body}");
    let edited_at_reload = target.count_of("/edited");
    let doc = history(&daemon.base).await;
    let names: Vec<&str> = doc["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["kept"], "the removed target's history is gone");
    assert!(total(points(&doc, "kept", "same"), "requests") >= same_before);
    // The edited scenario starts over: only requests to its new path count.
    let edited = total(points(&doc, "kept", "edited"), "requests");
    assert!(
        edited <= target.count_of("/edited/v2"),
        "{edited} requests in the history of a scenario whose old path got {edited_at_reload}"
    );
}
