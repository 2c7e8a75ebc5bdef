//! Live reload and the other lifecycle endpoints (pause, resume) against the real binary: real signals, real HTTP, and a real counting server on
//! 127.0.0.1 whose own counts the metrics are compared with.

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{Proc, free_port, http_get, http_request, synthex_bin, wait_http_ok};

/// Requests per path as the server saw them, and `/hang` connections the client closed.
#[derive(Default)]
struct Seen {
    requests: HashMap<String, u64>,
    hangs_closed_by_client: u64,
}

/// A real HTTP/1.1 server counting requests per path: `/hang` never answers (it waits for the
/// client to close), every other path gets `200 ok` and the connection closed.
fn counting_server() -> (u16, Arc<Mutex<Seen>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let shared = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let seen = Arc::clone(&shared);
            std::thread::spawn(move || answer(stream, &seen));
        }
    });
    (port, seen)
}

fn answer(mut stream: TcpStream, seen: &Mutex<Seen>) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
    *seen
        .lock()
        .unwrap()
        .requests
        .entry(path.clone())
        .or_default() += 1;
    if path == "/hang" {
        // Blocks until the client gives up on the request and closes the connection.
        if matches!(stream.read(&mut buf), Ok(0) | Err(_)) {
            seen.lock().unwrap().hangs_closed_by_client += 1;
        }
        return;
    }
    let _ =
        stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
}

fn count(seen: &Mutex<Seen>, path: &str) -> u64 {
    seen.lock()
        .unwrap()
        .requests
        .get(path)
        .copied()
        .unwrap_or(0)
}

/// A target on the counting server sending `path` at `rate`.
fn target(name: &str, port: u16, path: &str, rate: &str) -> String {
    format!(
        "  - name: {name}\n    base_url: http://127.0.0.1:{port}\n    rate: {rate}\n    \
         timeout: 20s\n    scenarios:\n      - {{name: main, request: {{path: {path}}}}}\n"
    )
}

fn config(targets: &[String]) -> String {
    format!("targets:\n{}", targets.concat())
}

/// The running daemon and where to reach it.
struct Daemon {
    proc: Proc,
    base: String,
    log: PathBuf,
    config: PathBuf,
}

fn start(dir: &Path, text: &str, flags: &[&str]) -> Daemon {
    let config = dir.join("synthex.yml");
    std::fs::write(&config, text).unwrap();
    start_at(dir, &config, flags)
}

fn start_at(dir: &Path, config: &Path, flags: &[&str]) -> Daemon {
    let port = free_port();
    let log = dir.join("synthex.log");
    let mut args = vec![
        "run".to_string(),
        format!("--config.file={}", config.display()),
        format!("--web.listen-address=127.0.0.1:{port}"),
    ];
    args.extend(flags.iter().map(|f| f.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let proc = Proc::spawn("synthex", synthex_bin(), &args, &log);
    let base = format!("http://127.0.0.1:{port}");
    wait_http_ok(&format!("{base}/-/ready"), Duration::from_secs(30));
    Daemon {
        proc,
        base,
        log,
        config: config.to_path_buf(),
    }
}

impl Daemon {
    fn metrics(&self) -> String {
        let (status, text) = http_get(&format!("{}/metrics", self.base)).unwrap();
        assert_eq!(status, 200);
        text
    }

    fn reload(&self, method: &str) -> (u16, String) {
        http_request(method, &format!("{}/-/reload", self.base), "").unwrap()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap()
    }

    fn hangup(&self) {
        let sent = std::process::Command::new("kill")
            .args(["-HUP", &self.proc.pid().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    }
}

/// The value of the series `name{labels…}` (every given `label="value"` present), if exported.
fn value(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| l.split(['{', ' ']).next() == Some(name) && labels.iter().all(|p| l.contains(p)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fn requests_of(text: &str, target: &str) -> f64 {
    let label = format!("target=\"{target}\"");
    value(text, "synthex_requests_total", &[&label]).unwrap_or(0.0)
}

/// Polls until `check` holds, for at most `limit`.
fn eventually(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "not within {limit:?}: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn sighup_never_ends_the_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let (port, _seen) = counting_server();
    let mut daemon = start(
        dir.path(),
        &config(&[target("shop", port, "/health", "5/s")]),
        &[],
    );
    for _ in 0..3 {
        daemon.hangup();
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(
        daemon.proc.is_running(),
        "SIGHUP ended the daemon: {}",
        daemon.log()
    );
    let (status, _) = http_get(&format!("{}/-/healthy", daemon.base)).unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        daemon.log().matches("SIGHUP received").count(),
        3,
        "{}",
        daemon.log()
    );
    let exit = daemon
        .proc
        .terminate(Duration::from_secs(15))
        .expect("exits on SIGTERM");
    assert!(exit.success(), "{exit}");
}

#[test]
fn a_valid_reload_keeps_unchanged_series_and_applies_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let (port, seen) = counting_server();
    let keep = target("keep", port, "/keep", "10/s");
    let daemon = start(
        dir.path(),
        &config(&[
            keep.clone(),
            target("gone", port, "/gone", "5/s"),
            target("pace", port, "/pace", "1/s"),
            target("stuck", port, "/hang", "5/s"),
        ]),
        &["--web.enable-lifecycle"],
    );
    eventually(Duration::from_secs(20), "stuck requests in flight", || {
        count(&seen, "/hang") >= 2
    });
    std::thread::sleep(Duration::from_secs(2));
    let before = daemon.metrics();
    let kept_before = requests_of(&before, "keep");
    let histogram_before = value(
        &before,
        "synthex_request_duration_seconds_count",
        &["target=\"keep\""],
    )
    .unwrap();
    assert!(kept_before >= 10.0, "{before}");
    assert!(before.contains("target=\"gone\""));

    std::fs::write(
        &daemon.config,
        config(&[
            keep,
            target("pace", port, "/pace", "20/s"),
            target("fresh", port, "/fresh", "5/s"),
        ]),
    )
    .unwrap();
    let asked = unix_now();
    let (status, body) = daemon.reload("POST");
    assert_eq!(status, 200, "{body}\n{}", daemon.log());
    let answered = unix_now();
    let pace_at_reload = count(&seen, "/pace");

    // The removed targets' requests in flight were cancelled: the server saw them closed.
    eventually(Duration::from_secs(5), "hanging requests cancelled", || {
        seen.lock().unwrap().hangs_closed_by_client >= 2
    });
    let after = daemon.metrics();
    assert!(!after.contains("target=\"gone\""), "{after}");
    assert!(!after.contains("target=\"stuck\""), "{after}");
    assert!(requests_of(&after, "keep") >= kept_before, "{after}");
    let stamp = value(
        &after,
        "synthex_config_last_reload_success_timestamp_seconds",
        &[],
    )
    .unwrap();
    assert!(
        asked - 1.0 <= stamp && stamp <= answered + 1.0,
        "{stamp} vs {asked}..{answered}"
    );
    assert_eq!(
        value(&after, "synthex_config_last_reload_successful", &[]),
        Some(1.0)
    );

    // 20/s from the next slot on: about 60 over 3 s (2/s before would be 3).
    std::thread::sleep(Duration::from_secs(3));
    let paced = count(&seen, "/pace") - pace_at_reload;
    assert!(
        (35..=66).contains(&paced),
        "{paced} /pace requests in 3 s after the reload"
    );

    let later = daemon.metrics();
    assert!(requests_of(&later, "fresh") >= 5.0, "{later}");
    assert_eq!(
        value(
            &later,
            "synthex_schedule_requests_per_second",
            &["target=\"pace\""]
        ),
        Some(20.0)
    );
    assert!(!later.contains("target=\"gone\""));
    // The kept target's counter and histogram went on from where they were, and equal the
    // server's own count (every /keep request has finished or is the one in flight).
    let kept = requests_of(&later, "keep");
    let histogram = value(
        &later,
        "synthex_request_duration_seconds_count",
        &["target=\"keep\""],
    )
    .unwrap();
    assert!(
        histogram >= histogram_before + 30.0,
        "{histogram_before} → {histogram}"
    );
    let served = count(&seen, "/keep") as f64;
    assert!(
        kept <= served && served - kept <= 2.0,
        "synthex counted {kept}, the server {served}"
    );
    assert!(kept >= kept_before + 30.0, "{kept_before} → {kept}");
    assert!(
        daemon.log().contains("configuration reloaded"),
        "{}",
        daemon.log()
    );
}

#[test]
fn an_invalid_config_changes_nothing_and_answers_with_check_configs_message() {
    let dir = tempfile::tempdir().unwrap();
    let (port, seen) = counting_server();
    let good = config(&[target("keep", port, "/keep", "10/s")]);
    let daemon = start(dir.path(), &good, &["--web.enable-lifecycle"]);
    let loaded = value(
        &daemon.metrics(),
        "synthex_config_last_reload_success_timestamp_seconds",
        &[],
    )
    .unwrap();
    std::fs::write(&daemon.config, good.replace("10/s", "0/s")).unwrap();
    let checked = std::process::Command::new(synthex_bin())
        .arg("check-config")
        .arg(&daemon.config)
        .output()
        .unwrap();
    assert_eq!(checked.status.code(), Some(2));
    let check_config = String::from_utf8(checked.stderr).unwrap();

    let (status, body) = daemon.reload("POST");
    assert_eq!(status, 500);
    assert_eq!(format!("synthex: error: {body}"), check_config);
    let message = body.trim_end();
    assert!(message.contains("rate"), "{message}");
    let log = daemon.log();
    assert!(
        log.lines()
            .any(|l| l.contains("level=error") && l.contains(&format!("{message:?}"))),
        "the log lacks {message:?}:\n{log}"
    );
    let metrics = daemon.metrics();
    assert_eq!(
        value(&metrics, "synthex_config_last_reload_successful", &[]),
        Some(0.0)
    );
    assert_eq!(
        value(
            &metrics,
            "synthex_config_last_reload_success_timestamp_seconds",
            &[]
        ),
        Some(loaded)
    );
    let (_, page) = http_get(&format!("{}/", daemon.base)).unwrap();
    assert!(page.contains("Last reload failed"), "{page}");
    assert!(page.contains("out of range"), "{page}");

    // The old config keeps running at its rate.
    let at_failure = count(&seen, "/keep");
    std::thread::sleep(Duration::from_secs(2));
    assert!(count(&seen, "/keep") >= at_failure + 10);

    // Fixed: the next reload succeeds and the page forgets the error.
    std::fs::write(&daemon.config, &good).unwrap();
    assert_eq!(daemon.reload("PUT").0, 200);
    assert_eq!(
        value(
            &daemon.metrics(),
            "synthex_config_last_reload_successful",
            &[]
        ),
        Some(1.0)
    );
    let (_, page) = http_get(&format!("{}/", daemon.base)).unwrap();
    assert!(!page.contains("Last reload failed"), "{page}");

    // Valid, but it changes the labels of every series: refused, naming the field.
    std::fs::write(
        &daemon.config,
        format!("global: {{labels: {{env: prod}}}}\n{good}"),
    )
    .unwrap();
    let (status, body) = daemon.reload("POST");
    assert_eq!(status, 500);
    assert!(
        body.starts_with(&format!("{}: global.labels: ", daemon.config.display())),
        "{body}"
    );
    assert_eq!(
        value(
            &daemon.metrics(),
            "synthex_config_last_reload_successful",
            &[]
        ),
        Some(0.0)
    );
}

#[test]
fn sighup_reloads_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let (port, seen) = counting_server();
    let daemon = start(
        dir.path(),
        &config(&[target("one", port, "/one", "5/s")]),
        &[],
    );
    std::fs::write(
        &daemon.config,
        config(&[
            target("one", port, "/one", "5/s"),
            target("two", port, "/two", "5/s"),
        ]),
    )
    .unwrap();
    daemon.hangup();
    eventually(Duration::from_secs(10), "the new target's requests", || {
        count(&seen, "/two") >= 3
    });
    eventually(Duration::from_secs(10), "the new target's series", || {
        requests_of(&daemon.metrics(), "two") >= 1.0
    });
    let log = daemon.log();
    assert!(log.contains("trigger=SIGHUP"), "{log}");
    assert!(log.contains("configuration reloaded"), "{log}");
}

#[test]
fn auto_reload_follows_a_configmap_style_symlink_swap() {
    let dir = tempfile::tempdir().unwrap();
    let (port, seen) = counting_server();
    // Kubernetes mounts a ConfigMap as a symlink into a timestamped directory and swaps it.
    let write_version = |name: &str, text: &str| {
        let version = dir.path().join(name);
        std::fs::create_dir(&version).unwrap();
        std::fs::write(version.join("synthex.yml"), text).unwrap();
        let link = dir.path().join("..data.tmp");
        std::os::unix::fs::symlink(&version, &link).unwrap();
        std::fs::rename(&link, dir.path().join("..data")).unwrap();
    };
    write_version("v1", &config(&[target("one", port, "/one", "5/s")]));
    let mounted = dir.path().join("synthex.yml");
    std::os::unix::fs::symlink("..data/synthex.yml", &mounted).unwrap();
    let daemon = start_at(dir.path(), &mounted, &["--config.auto-reload-interval=1s"]);
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        !daemon.log().contains("config file changed"),
        "{}",
        daemon.log()
    );
    write_version(
        "v2",
        &config(&[
            target("one", port, "/one", "5/s"),
            target("two", port, "/two", "5/s"),
        ]),
    );
    eventually(Duration::from_secs(10), "the new target's requests", || {
        count(&seen, "/two") >= 3
    });
    let log = daemon.log();
    assert_eq!(log.matches("config file changed").count(), 1, "{log}");
    assert!(log.contains("trigger=\"file change\""), "{log}");
}

#[test]
fn the_lifecycle_api_answers_like_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let (port, _seen) = counting_server();
    let text = config(&[target("one", port, "/one", "1/s")]);
    let closed = start(dir.path(), &text, &[]);
    assert_eq!(
        closed.reload("POST"),
        (403, "Lifecycle API is not enabled.".to_string())
    );
    assert_eq!(closed.reload("GET").0, 405);
    assert!(!closed.log().contains("configuration reloaded"));

    let other = tempfile::tempdir().unwrap();
    let open = start(other.path(), &text, &["--web.enable-lifecycle"]);
    for method in ["GET", "DELETE", "PATCH"] {
        let (status, body) = open.reload(method);
        assert_eq!(status, 405, "{method}");
        assert_eq!(body, "Only POST or PUT requests allowed\n");
    }
    assert_eq!(open.reload("POST"), (200, String::new()));
    assert_eq!(open.reload("PUT"), (200, String::new()));
}

#[test]
fn an_auto_reload_interval_out_of_range_is_refused() {
    for (flag, ok) in [
        ("999ms", false),
        ("1s", true),
        ("24h", true),
        ("25h", false),
    ] {
        let output = std::process::Command::new(synthex_bin())
            .args([
                "run",
                "--config.file=/nonexistent.yml",
                &format!("--config.auto-reload-interval={flag}"),
            ])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{flag}: {stderr}");
        // In range, the flag passes and the missing file is what stops it.
        assert_eq!(stderr.contains("nonexistent.yml"), ok, "{flag}: {stderr}");
    }
}

impl Daemon {
    /// `METHOD /-/targets/{encoded}/{action}`: status and body.
    fn target_action(&self, method: &str, encoded: &str, action: &str) -> (u16, String) {
        let url = format!("{}/-/targets/{encoded}/{action}", self.base);
        http_request(method, &url, "").unwrap()
    }

    fn page(&self) -> String {
        http_get(&format!("{}/", self.base)).unwrap().1
    }
}

fn paused_gauge(text: &str, target: &str) -> Option<f64> {
    value(
        text,
        "synthex_target_paused",
        &[&format!("target=\"{target}\"")],
    )
}

#[test]
fn pausing_a_target_stops_its_traffic_at_once_and_resuming_starts_it_again() {
    let dir = tempfile::tempdir().unwrap();
    let (port, seen) = counting_server();
    let daemon = start(
        dir.path(),
        &config(&[
            target("shop.main", port, "/a", "20/s"),
            target("other", port, "/b", "20/s"),
            // Readiness waits for every target's first result: this one's is its first timeout.
            target("slow", port, "/hang", "5/s").replace("timeout: 20s", "timeout: 6s"),
        ]),
        &["--web.enable-lifecycle"],
    );
    eventually(Duration::from_secs(10), "traffic to all three", || {
        count(&seen, "/a") >= 5 && count(&seen, "/b") >= 5 && count(&seen, "/hang") >= 3
    });
    let page = daemon.page();
    assert!(
        page.contains("action=\"/-/targets/shop.main/pause\"><button>Pause traffic"),
        "{page}"
    );

    assert_eq!(
        daemon.target_action("POST", "shop.main", "pause"),
        (200, "target shop.main paused\n".to_string())
    );
    assert_eq!(
        daemon.target_action("PUT", "slow", "pause"),
        (200, "target slow paused\n".to_string())
    );
    // The hanging requests in flight are abandoned at once: the server sees every one of them
    // closed by the client long before their 6 s timeout.
    eventually(Duration::from_secs(3), "hanging requests abandoned", || {
        let seen = seen.lock().unwrap();
        seen.hangs_closed_by_client == seen.requests["/hang"]
    });
    std::thread::sleep(Duration::from_millis(300));
    let (paused_a, paused_hang, before_b) = (
        count(&seen, "/a"),
        count(&seen, "/hang"),
        count(&seen, "/b"),
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(count(&seen, "/a"), paused_a, "a paused target still sent");
    assert_eq!(
        count(&seen, "/hang"),
        paused_hang,
        "a paused target still sent"
    );
    assert!(
        count(&seen, "/b") >= before_b + 10,
        "the other target must go on: {} → {}",
        before_b,
        count(&seen, "/b")
    );
    let metrics = daemon.metrics();
    assert_eq!(paused_gauge(&metrics, "shop.main"), Some(1.0), "{metrics}");
    assert_eq!(paused_gauge(&metrics, "slow"), Some(1.0), "{metrics}");
    assert_eq!(paused_gauge(&metrics, "other"), Some(0.0), "{metrics}");
    let effective = "target=\"shop.main\"";
    assert_eq!(
        value(
            &metrics,
            "synthex_effective_requests_per_second",
            &[effective]
        ),
        Some(0.0)
    );
    // Paused slots are not skipped ones: nobody expects them sent.
    assert_eq!(
        value(&metrics, "synthex_requests_skipped_total", &[effective]).unwrap_or(0.0),
        0.0,
        "{metrics}"
    );
    let page = daemon.page();
    assert!(
        page.contains("action=\"/-/targets/shop.main/resume\"><button>Resume traffic"),
        "{page}"
    );
    assert_eq!(
        daemon.target_action("POST", "shop.main", "pause"),
        (200, "target shop.main paused (already)\n".to_string())
    );

    assert_eq!(
        daemon.target_action("POST", "shop.main", "resume"),
        (200, "target shop.main running\n".to_string())
    );
    eventually(Duration::from_secs(3), "traffic after resume", || {
        count(&seen, "/a") >= paused_a + 5
    });
    assert_eq!(
        count(&seen, "/hang"),
        paused_hang,
        "only the resumed target sends"
    );
    assert_eq!(paused_gauge(&daemon.metrics(), "shop.main"), Some(0.0));
    let log = daemon.log();
    assert!(log.contains("target paused by an operator"), "{log}");
    assert!(log.contains("target resumed by an operator"), "{log}");
}

#[test]
fn the_pause_endpoints_answer_like_the_other_lifecycle_endpoints() {
    let dir = tempfile::tempdir().unwrap();
    let (port, _seen) = counting_server();
    let text = config(&[target("shop", port, "/a", "2/s")]);
    let open = start(dir.path(), &text, &["--web.enable-lifecycle"]);
    for method in ["GET", "DELETE"] {
        assert_eq!(
            open.target_action(method, "shop", "pause"),
            (405, "Only POST or PUT requests allowed\n".to_string()),
            "{method}"
        );
    }
    let (status, body) = open.target_action("POST", "nope", "pause");
    assert_eq!(
        (status, body.as_str()),
        (404, "Not found: no target named \"nope\" runs\n")
    );
    let (status, body) = open.target_action("POST", "shop", "stop");
    assert_eq!(
        (status, body.as_str()),
        (404, "Not found: the action is pause or resume\n")
    );
    assert_eq!(open.target_action("POST", "shop", "").0, 404);

    // A browser's form post comes back to the status page.
    let authority = open.base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(authority).unwrap();
    write!(
        stream,
        "POST /-/targets/shop/pause HTTP/1.0\r\nHost: {authority}\r\nAccept: text/html,*/*\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.0 303"), "{response}");
    assert!(
        response
            .to_ascii_lowercase()
            .contains("\r\nlocation: /\r\n"),
        "{response}"
    );
    assert_eq!(paused_gauge(&open.metrics(), "shop"), Some(1.0));

    let dir = tempfile::tempdir().unwrap();
    let closed = start(dir.path(), &text, &[]);
    assert_eq!(
        closed.target_action("POST", "shop", "pause"),
        (403, "Lifecycle API is not enabled.".to_string())
    );
    assert!(
        !closed.page().contains("<form"),
        "no buttons without the lifecycle API"
    );
    assert_eq!(paused_gauge(&closed.metrics(), "shop"), Some(0.0));
}

#[test]
fn a_pause_survives_a_reload_that_restarts_the_target_and_goes_with_a_removed_one() {
    let dir = tempfile::tempdir().unwrap();
    let (port, seen) = counting_server();
    let daemon = start(
        dir.path(),
        &config(&[
            target("shop", port, "/a", "10/s"),
            target("other", port, "/b", "10/s"),
        ]),
        &["--web.enable-lifecycle"],
    );
    eventually(Duration::from_secs(10), "traffic", || {
        count(&seen, "/a") >= 3
    });
    assert_eq!(daemon.target_action("POST", "shop", "pause").0, 200);
    // A changed rate restarts the target's schedule: the pause must hold through it.
    std::fs::write(
        &daemon.config,
        config(&[
            target("shop", port, "/a", "20/s"),
            target("other", port, "/b", "10/s"),
        ]),
    )
    .unwrap();
    assert_eq!(daemon.reload("POST"), (200, String::new()));
    std::thread::sleep(Duration::from_millis(300));
    let paused = count(&seen, "/a");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(count(&seen, "/a"), paused, "the reload undid the pause");
    let metrics = daemon.metrics();
    assert_eq!(paused_gauge(&metrics, "shop"), Some(1.0), "{metrics}");
    assert_eq!(
        value(
            &metrics,
            "synthex_schedule_requests_per_second",
            &["target=\"shop\""]
        ),
        Some(20.0)
    );
    // The restarted target's new guard is the one the endpoint reaches.
    assert_eq!(daemon.target_action("POST", "shop", "resume").0, 200);
    eventually(Duration::from_secs(3), "traffic after resume", || {
        count(&seen, "/a") >= paused + 10
    });

    std::fs::write(
        &daemon.config,
        config(&[target("other", port, "/b", "10/s")]),
    )
    .unwrap();
    assert_eq!(daemon.reload("POST"), (200, String::new()));
    assert_eq!(daemon.target_action("POST", "shop", "pause").0, 404);
    assert_eq!(daemon.target_action("POST", "other", "pause").0, 200);
}
