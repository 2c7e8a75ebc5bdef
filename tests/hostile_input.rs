//! What a target sends is data, never a way to grow or break `/metrics`: the real binary against
//! raw TCP servers on 127.0.0.1 that answer status lines no real service sends, and a stats
//! endpoint with thousands of fields and keys full of quotes, backslashes and newlines.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Proc, free_port, http_get, require_tool, synthex_bin};

/// What the server has answered, status line code → count.
type Served = Arc<Mutex<BTreeMap<String, u64>>>;

/// Serves each connection one response from `answer(n)` (n counts connections from 0), reading
/// the request head first; counts the status codes it sent.
fn raw_server(answer: impl Fn(u64) -> (String, String) + Send + 'static) -> (u16, Served) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let served: Served = Arc::default();
    let counts = served.clone();
    std::thread::spawn(move || {
        for (n, stream) in (0u64..).zip(listener.incoming()) {
            let Ok(mut stream) = stream else { return };
            let (code, body) = answer(n);
            if read_head(&mut stream) {
                let response = format!(
                    "HTTP/1.1 {code} Whatever\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                if stream.write_all(response.as_bytes()).is_ok() {
                    *counts.lock().unwrap().entry(code).or_default() += 1;
                }
            }
        }
    });
    (port, served)
}

fn read_head(stream: &mut TcpStream) -> bool {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return false,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    true
}

/// The samples of `name` whose labels contain every one of `labels`: (label set, value).
fn samples(metrics: &str, name: &str, labels: &[&str]) -> Vec<(String, f64)> {
    metrics
        .lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .filter(|l| labels.iter().all(|label| l.contains(label)))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_string(), value.parse().ok()?))
        })
        .collect()
}

fn start_daemon(config: &str, dir: &Path) -> (Proc, String) {
    let path = dir.join("synthex.yml");
    std::fs::write(&path, config).unwrap();
    let port = free_port();
    let daemon = Proc::spawn(
        "synthex run",
        synthex_bin(),
        &[
            "run",
            &format!("--config.file={}", path.display()),
            &format!("--web.listen-address=127.0.0.1:{port}"),
        ],
        &dir.join("synthex.log"),
    );
    (daemon, format!("http://127.0.0.1:{port}/metrics"))
}

/// Polls `/metrics` until `done` holds, for at most 30 s.
fn scrape_until(url: &str, dir: &Path, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok((200, body)) = http_get(url)
            && done(&body)
        {
            return body;
        }
        let log = std::fs::read_to_string(dir.join("synthex.log")).unwrap_or_default();
        assert!(Instant::now() < deadline, "timed out; log:\n{log}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn status_codes_outside_100_to_599_share_one_code_series() {
    // 60 answers with codes a misbehaving server could send, then 204 for ever.
    let mut codes: Vec<String> = (0..40).map(|i| (600 + i * 10).to_string()).collect();
    codes.extend(["999", "042", "099", "000", "200", "404", "599", "503"].map(String::from));
    codes.extend((0..12).map(|i| ["200", "404", "999"][i % 3].to_string()));
    let total = codes.len() as u64;
    let (port, served) = raw_server(move |n| {
        let code = codes.get(n as usize).map_or("204", String::as_str);
        (code.to_string(), String::new())
    });
    let dir = tempfile::tempdir().unwrap();
    let (_daemon, url) = start_daemon(
        &format!(
            "targets:\n  - name: odd\n    base_url: http://127.0.0.1:{port}\n    rate: 40/s\n    timeout: 2s\n    keep_alive: false\n    # Every answer here is a failure: without this the guard would slow the test down.\n    backoff: off\n    scenarios: [{{name: any, request: {{path: /}}}}]\n"
        ),
        dir.path(),
    );
    let metrics = scrape_until(&url, dir.path(), |m| {
        samples(m, "synthex_requests_total", &["code=\"204\""])
            .iter()
            .any(|(_, v)| *v >= 3.0)
    });
    let served = served.lock().unwrap().clone();
    assert!(served.values().sum::<u64>() > total, "{served:?}");
    let series = samples(&metrics, "synthex_requests_total", &["target=\"odd\""]);
    let codes: BTreeMap<String, f64> = series
        .iter()
        .map(|(labels, v)| {
            let code = labels.split("code=\"").nth(1).unwrap().split('"').next();
            (code.unwrap().to_string(), *v)
        })
        .collect();
    let count = |code: &str| served.get(code).copied().unwrap_or(0) as f64;
    let invalid: f64 = served
        .iter()
        .filter(|(code, _)| code.parse::<u16>().is_ok_and(|c| (600..=999).contains(&c)))
        .map(|(_, n)| *n as f64)
        .sum();
    assert_eq!(
        codes.keys().map(String::as_str).collect::<Vec<_>>(),
        ["0", "200", "204", "404", "503", "599", "other"],
        "{codes:?}"
    );
    // Exact counts against what the server sent (204s are still arriving).
    assert_eq!(codes["other"], invalid, "{served:?}");
    for code in ["200", "404", "503", "599"] {
        assert_eq!(codes[code], count(code), "code {code}: {served:?}");
    }
    // Status lines that are not HTTP at all (042, 099, 000) got no response: code 0.
    assert_eq!(codes["0"], count("042") + count("099") + count("000"));
}

#[test]
fn a_stats_endpoint_with_ten_thousand_fields_and_hostile_keys_keeps_metrics_parseable_and_capped() {
    let mut many = serde_json::Map::new();
    for i in 0..10_000 {
        many.insert(format!("k{i:05}"), serde_json::json!(i));
    }
    let long_key = "y".repeat(200);
    let document = serde_json::json!({
        "weird": {
            "quote\"d": 1,
            "back\\slash": 2,
            "new\nline": 3,
            "brace}{ =,": 4,
            "ünïcødé": 5,
            (long_key): 6,
        },
        "up": true,
        "many": many,
    });
    let body = document.to_string();
    let (stats_port, served) = raw_server(move |_| ("200".to_string(), body.clone()));
    let (target_port, _) = raw_server(|_| ("204".to_string(), String::new()));
    let dir = tempfile::tempdir().unwrap();
    let (_daemon, url) = start_daemon(
        &format!(
            "targets:\n  - name: stats\n    base_url: http://127.0.0.1:{target_port}\n    rate: 1/s\n    stats:\n      url: http://127.0.0.1:{stats_port}/stats\n      interval: 1s\n      fields: {{a_weird: /weird, b_up: /up, c_many: /many}}\n    scenarios: [{{name: any, request: {{path: /}}}}]\n"
        ),
        dir.path(),
    );
    // Two polls read: the cap holds on the second too, and gone series do not linger.
    let metrics = scrape_until(&url, dir.path(), |m| {
        samples(m, "synthex_target_stat_dropped_total", &[])
            .iter()
            .any(|(_, v)| *v >= 2.0 * 9_907.0)
    });
    let polls = served.lock().unwrap().get("200").copied().unwrap_or(0) as f64;
    let series = samples(&metrics, "synthex_target_stat", &["target=\"stats\""]);
    assert_eq!(series.len(), 100, "{series:?}");
    // Kept: the four usable weird keys, `up`, then the first 95 of `many`; dropped per poll:
    // the key with a newline, the 200-character key and 9,905 of `many`.
    for (labels, value) in [
        (r#"field="a_weird.quote\"d""#, 1.0),
        (r#"field="a_weird.back\\slash""#, 2.0),
        (r#"field="a_weird.brace}{ =,""#, 4.0),
        ("field=\"a_weird.ünïcødé\"", 5.0),
        (r#"field="b_up""#, 1.0),
        (r#"field="c_many.k00094""#, 94.0),
    ] {
        let found: Vec<_> = series.iter().filter(|(l, _)| l.contains(labels)).collect();
        assert_eq!(found.len(), 1, "{labels}: {series:?}");
        assert_eq!(found[0].1, value, "{labels}");
    }
    assert!(!metrics.contains("c_many.k00095") && !metrics.contains("a_weird.new"));
    let dropped = samples(&metrics, "synthex_target_stat_dropped_total", &[])[0].1;
    assert_eq!(dropped % 9_907.0, 0.0, "{dropped}");
    assert!(dropped / 9_907.0 <= polls, "{dropped} after {polls} polls");
    // The whole page parses by Prometheus's own linter.
    let promtool = require_tool("promtool", "prometheus");
    let page = dir.path().join("metrics.txt");
    std::fs::write(&page, &metrics).unwrap();
    let output = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&page).unwrap())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(
        !said.contains("error") && !said.contains("parse"),
        "promtool: {said}"
    );
}
