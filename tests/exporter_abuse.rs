//! The exporter under abuse, on the real binary probing a real demo target: connections that
//! send half a request line and hold it, floods beyond a 1,024 file-descriptor limit, unknown
//! paths. Scrapes must still be answered, probes must keep their schedule and never fail for
//! lack of descriptors, resident memory must come back after a flood, and nothing an abuser
//! sends may leave anything behind. Figures (scrape time, VmRSS) are printed for the README,
//! never asserted as wall-clock limits; the tests run one at a time.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{Proc, free_port, http_get, start_demo_target, synthex_bin, wait_http_ok};

/// One heavy test at a time: they measure the process under a flood.
static SERIAL: Mutex<()> = Mutex::new(());

/// Probes of the demo target: 10 per second (a slot is `late` only after a 100 ms stall).
fn config(dir: &Path, target_port: u16) -> String {
    let path = dir.join("synthex.yml");
    std::fs::write(
        &path,
        format!(
            "targets:\n  - name: api\n    base_url: http://127.0.0.1:{target_port}\n    rate: 10/s\n    timeout: 2s\n    scenarios:\n      - {{name: health, weight: 1, request: {{path: /health}}}}\n"
        ),
    )
    .unwrap();
    format!("--config.file={}", path.display())
}

/// The sum of every sample of `name` whose labels contain `labels`.
fn sum(metrics: &str, name: &str, labels: &str) -> f64 {
    metrics
        .lines()
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
                && line.contains(labels)
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn scrape(url: &str) -> String {
    let (status, body) = http_get(&format!("{url}/metrics")).unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

/// The demo target's own count of requests it served (an independent source).
fn target_requests(target: &str) -> f64 {
    let (_, body) = http_get(&format!("{target}/stats")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    json["requests_total"].as_f64().unwrap()
}

/// `field` (in kB) of /proc/PID/status.
fn proc_status_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| {
            line.strip_prefix(field)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .unwrap()
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// `count` connections that each send half a request line and then hold it.
fn half_requests(port: u16, count: usize) -> Vec<TcpStream> {
    (0..count)
        .map(|_| {
            let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
            stream.write_all(b"GET /metr").unwrap();
            stream
        })
        .collect()
}

/// How many of `streams` the server has closed.
fn closed_by_server(streams: &[TcpStream]) -> usize {
    streams
        .iter()
        .filter(|stream| {
            stream.set_nonblocking(true).unwrap();
            let mut byte = [0; 1];
            match (&**stream).read(&mut byte) {
                Ok(read) => read == 0,
                Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
            }
        })
        .count()
}

/// The synthex daemon's pid: `sh -c 'ulimit …; exec synthex …'` keeps the shell's pid.
fn daemon(dir: &Path, config: &str, port: u16, nofile: Option<u32>) -> Proc {
    let command = format!(
        "{}exec {} run '{config}' --web.listen-address=127.0.0.1:{port}",
        nofile.map_or(String::new(), |n| format!("ulimit -n {n}; ")),
        synthex_bin()
    );
    Proc::spawn(
        "synthex",
        "/bin/sh",
        &["-c", &command],
        &dir.join("synthex.log"),
    )
}

fn pid_on_port(port: u16) -> u32 {
    let out = Command::new("pgrep")
        .args(["-f", &format!("web.listen-address=127.0.0.1:{port}")])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .and_then(|pid| pid.parse().ok())
        .expect("the daemon's pid")
}

#[test]
fn half_request_lines_from_500_connections_starve_neither_scrapes_nor_probes() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let (target_port, port) = (free_port(), free_port());
    let _target = start_demo_target(target_port, dir.path());
    let target = format!("http://127.0.0.1:{target_port}");
    let _daemon = daemon(dir.path(), &config(dir.path(), target_port), port, None);
    let url = format!("http://127.0.0.1:{port}");
    wait_http_ok(&format!("{url}/-/ready"), Duration::from_secs(15));

    let before = scrape(&url);
    let served_before = target_requests(&target);
    let started = Instant::now();
    let held = half_requests(port, 500);
    std::thread::sleep(Duration::from_secs(1));
    let asked = Instant::now();
    let during = scrape(&url);
    let scrape_time = asked.elapsed();
    assert_eq!(sum(&during, "synthex_exporter_connections", ""), 501.0);
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(
        closed_by_server(&held),
        0,
        "held connections are within the cap"
    );
    let after = scrape(&url);
    let elapsed = started.elapsed().as_secs_f64();
    drop(held);

    let late = |m: &str| sum(m, "synthex_requests_skipped_total", "reason=\"late\"");
    let sent = |m: &str| sum(m, "synthex_requests_total", "");
    let failed = |m: &str| sum(m, "synthex_request_failures_total", "");
    let served = target_requests(&target) - served_before;
    eprintln!(
        "500 half-open connections: /metrics answered in {scrape_time:?}; {served} probes served by the target in {elapsed:.1} s"
    );
    assert_eq!(
        late(&after) - late(&before),
        0.0,
        "late slots during the flood"
    );
    assert_eq!(
        failed(&after) - failed(&before),
        0.0,
        "failed probes during the flood"
    );
    // 10 probes a second kept going: the target served them (its own count), within one
    // second's worth of the schedule.
    assert!(
        served >= 10.0 * (elapsed - 1.0),
        "{served} probes in {elapsed:.1} s at 10/s"
    );
    assert!((sent(&after) - sent(&before) - served).abs() <= 10.0);

    // Unknown paths: 404, and nothing lasting (no new series, no descriptor kept).
    let pid = pid_on_port(port);
    let series = |m: &str| m.lines().filter(|l| !l.starts_with('#')).count();
    let fds = open_fds(pid);
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut reply = Vec::new();
    for n in 0..300 {
        write!(
            stream,
            "GET /no/such/page-{n}?x={n} HTTP/1.1\r\nHost: x\r\nX-Label-{n}: {n}\r\n\r\n"
        )
        .unwrap();
    }
    write!(
        stream,
        "GET /gone HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    stream.read_to_end(&mut reply).unwrap();
    let reply = String::from_utf8_lossy(&reply);
    assert_eq!(reply.matches("HTTP/1.1 404 Not Found").count(), 301);
    let later = scrape(&url);
    assert_eq!(
        series(&later),
        series(&after),
        "series added by unknown paths"
    );
    assert_eq!(sum(&later, "synthex_exporter_connections", ""), 1.0);
    // Probe connections to the target come and go; the 301 requests must not add up.
    assert!(
        open_fds(pid) <= fds + 4,
        "descriptors kept by unknown paths"
    );
}

/// Raises this test process's own descriptor limit so it can open the flood's connections.
fn allow_own_descriptors(count: u64) {
    let out = Command::new("prlimit")
        .args([
            "--pid",
            &std::process::id().to_string(),
            &format!("--nofile={count}:{count}"),
        ])
        .output()
        .unwrap();
    if !out.status.success() {
        let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
        let soft: u64 = limits
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .and_then(|l| l.split_whitespace().nth(3)?.parse().ok())
            .unwrap();
        assert!(
            soft >= count,
            "this test needs {count} descriptors (has {soft}); prlimit said: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn a_flood_beyond_a_1024_descriptor_limit_fails_no_probe_and_memory_comes_back() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    allow_own_descriptors(4096);
    let dir = tempfile::tempdir().unwrap();
    let (target_port, port) = (free_port(), free_port());
    let _target = start_demo_target(target_port, dir.path());
    let target = format!("http://127.0.0.1:{target_port}");
    let _daemon = daemon(
        dir.path(),
        &config(dir.path(), target_port),
        port,
        Some(1024),
    );
    let url = format!("http://127.0.0.1:{port}");
    wait_http_ok(&format!("{url}/-/ready"), Duration::from_secs(15));
    let pid = pid_on_port(port);
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    assert!(
        limits
            .lines()
            .any(|l| l.starts_with("Max open files") && l.contains(" 1024 ")),
        "{limits}"
    );
    // Documented cap: 1024 less a reserve of a quarter (256) = 768.
    let before = scrape(&url);
    assert_eq!(
        sum(&before, "synthex_exporter_connections_limit", ""),
        768.0
    );
    std::thread::sleep(Duration::from_secs(2));
    let rss_before = proc_status_kb(pid, "VmRSS:");
    let fds_before = open_fds(pid);
    let served_before = target_requests(&target);

    let flood = half_requests(port, 1100);
    std::thread::sleep(Duration::from_secs(1));
    let asked = Instant::now();
    let during = scrape(&url);
    let scrape_time = asked.elapsed();
    let rss_during = proc_status_kb(pid, "VmRSS:");
    let fds_during = open_fds(pid);
    std::thread::sleep(Duration::from_secs(3));
    let closed = closed_by_server(&flood);
    let after_flood = scrape(&url);
    drop(flood);
    std::thread::sleep(Duration::from_secs(3));
    let rss_after = proc_status_kb(pid, "VmRSS:");
    let fds_after = open_fds(pid);
    let served = target_requests(&target) - served_before;
    eprintln!(
        "1,100 half-open connections under `ulimit -n 1024`: /metrics answered in {scrape_time:?}; \
         VmRSS {rss_before} kB before, {rss_during} kB during, {rss_after} kB after; \
         descriptors {fds_before} / {fds_during} / {fds_after}; {closed} evicted; {served} probes served"
    );

    // The cap held: the flood never took the descriptors the probes need.
    assert!(
        fds_during <= 768 + 64,
        "{fds_during} descriptors open during the flood"
    );
    let failed = |m: &str| sum(m, "synthex_request_failures_total", "");
    assert_eq!(
        failed(&after_flood) - failed(&before),
        0.0,
        "probes failed during the flood"
    );
    assert!(served >= 10.0 * 6.0, "{served} probes in ~7 s at 10/s");
    // Every connection the server closed on the test is one it counted as evicted (plus the
    // scrape that came in during the flood, which evicted one more).
    assert!(closed >= 1100 - 768, "{closed} of 1100 closed");
    assert_eq!(
        sum(
            &after_flood,
            "synthex_exporter_connections_evicted_total",
            ""
        ),
        closed as f64
    );
    assert_eq!(
        sum(&during, "synthex_exporter_connections_refused_total", ""),
        0.0
    );
    // Memory: the flood grew it, and at least three quarters of that growth came back.
    let grown = rss_during.saturating_sub(rss_before);
    assert!(
        grown >= 4096,
        "the flood grew VmRSS by only {grown} kB: not a flood"
    );
    assert!(
        rss_after <= rss_before + grown / 4,
        "VmRSS {rss_before} kB → {rss_during} kB → {rss_after} kB after the flood"
    );
    assert!(
        fds_after <= fds_before + 2,
        "{fds_before} → {fds_after} descriptors"
    );
}
