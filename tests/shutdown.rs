//! SIGTERM on the real binary with requests in flight to a slow target: they finish within
//! `shutdown_grace` and are counted, `/metrics` answers during the drain, and the exporter stays
//! up until a scrape has read the final counts, which match the target's own count.

mod common;

use std::time::{Duration, Instant};

use common::counting_target::CountingTarget;
use common::{Proc, free_port, http_get, metric_sum, synthex_bin, wait_http_ok};

/// Starts `synthex run` at 5/s against `target` with the given grace; returns it and its
/// `/metrics` URL once ready.
fn start(target: &CountingTarget, grace: &str, dir: &std::path::Path) -> (Proc, String) {
    let config = dir.join("shutdown.yml");
    std::fs::write(
        &config,
        format!(
            r#"
global: {{shutdown_grace: {grace}}}
targets:
  - name: slow
    base_url: http://{}
    rate: 5/s
    timeout: 20s
    max_in_flight: 50
    scenarios:
      - {{name: slow, request: {{path: /slow}}}}
"#,
            target.addr
        ),
    )
    .unwrap();
    let web = free_port();
    let synthex = Proc::spawn(
        "synthex",
        synthex_bin(),
        &[
            "run",
            &format!("--config.file={}", config.display()),
            &format!("--web.listen-address=127.0.0.1:{web}"),
        ],
        &dir.join("synthex.log"),
    );
    wait_http_ok(
        &format!("http://127.0.0.1:{web}/-/ready"),
        Duration::from_secs(15),
    );
    (synthex, format!("http://127.0.0.1:{web}/metrics"))
}

#[test]
fn in_flight_requests_finish_are_counted_and_scraped_before_the_exporter_stops() {
    let target = CountingTarget::start(Duration::from_secs(2));
    let dir = tempfile::tempdir().unwrap();
    let (mut synthex, metrics) = start(&target, "8s", dir.path());
    // Prometheus has been scraping.
    assert_eq!(http_get(&metrics).unwrap().0, 200);
    std::thread::sleep(Duration::from_secs(1));

    synthex.sigterm();
    let signalled = Instant::now();
    std::thread::sleep(Duration::from_millis(300));
    let sent = target.count() as u64;
    let in_flight = sent - target.answered();
    assert!(
        in_flight >= 5,
        "only {in_flight} requests in flight at SIGTERM"
    );

    // During the drain /metrics answers, before the in-flight requests are counted.
    let (status, page) = http_get(&metrics).expect("a scrape during the drain");
    assert_eq!(status, 200);
    assert!(metric_sum(&page, "synthex_requests_total", &[]) < sent as f64);

    // Every request in flight at the signal is answered by the target (2 s each) ...
    while target.answered() < sent {
        assert!(
            signalled.elapsed() < Duration::from_secs(6),
            "{} of {sent} answered",
            target.answered()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    // ... and a scrape after that, still within the grace period, reads all of them.
    let (status, page) = http_get(&metrics).expect("a scrape after the drain, within the grace");
    assert_eq!(status, 200);
    assert_eq!(
        metric_sum(&page, "synthex_requests_total", &[]),
        sent as f64
    );
    assert_eq!(
        metric_sum(&page, "synthex_request_failures_total", &[]),
        0.0
    );
    // No slot started after the signal.
    assert_eq!(target.count() as u64, sent);
    // That scrape was the one the exporter waited for: the process ends now, not at the grace's end.
    let status = synthex.wait_exit(Duration::from_secs(3));
    assert!(
        status.is_some_and(|s| s.success()),
        "exit {status:?} {:?} after SIGTERM",
        signalled.elapsed()
    );
    assert!(signalled.elapsed() < Duration::from_secs(6));
}

#[test]
fn requests_longer_than_the_grace_are_abandoned_at_its_end() {
    let target = CountingTarget::start(Duration::from_secs(4));
    let dir = tempfile::tempdir().unwrap();
    let (mut synthex, metrics) = start(&target, "1500ms", dir.path());
    assert_eq!(http_get(&metrics).unwrap().0, 200);
    // Readiness waited for a first result (4 s); requests sent since are still running.
    std::thread::sleep(Duration::from_millis(500));
    synthex.sigterm();
    let signalled = Instant::now();
    std::thread::sleep(Duration::from_millis(500));
    // Within the grace the exporter answers.
    assert_eq!(
        http_get(&metrics).expect("a scrape within the grace").0,
        200
    );
    let status = synthex.wait_exit(Duration::from_secs(8));
    let took = signalled.elapsed();
    assert!(status.is_some_and(|s| s.success()), "exit {status:?}");
    // The grace, plus the exporter's own wind-down of open connections.
    assert!(
        took >= Duration::from_millis(1500) && took < Duration::from_millis(1500 + 3000),
        "exited {took:?} after SIGTERM"
    );
    let log = std::fs::read_to_string(dir.path().join("synthex.log")).unwrap();
    assert!(log.contains("abandoning requests still in flight"), "{log}");
}
