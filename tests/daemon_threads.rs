//! The daemon's threads with the example config (config/synthex.yml, every option, its targets
//! pointed at a counting target): the runtime is the main thread and the blocking pool holds at
//! most two threads (a resource sample and a `/metrics` encoding may overlap), however long it
//! runs and however often it is scraped; a runtime thread per core would cost each a stack, a
//! malloc arena and cross-thread wake-ups for a few requests a second. It still probes: every
//! request the target counted is in `synthex_requests_total` or in flight.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::counting_target::CountingTarget;
use common::{Proc, free_port, http_get, metric_sum, wait_http_ok};

/// Name the daemon gives its blocking-pool threads (src/main.rs); the kernel keeps 15 bytes.
const BLOCKING: &str = "synthex-blockin";

/// The example config with its targets' URLs on `base` and without the proxy, beside copies of
/// the secrets it reads (relative paths resolve against the config's directory).
fn example_config(dir: &Path, base: &str) -> std::path::PathBuf {
    let text = std::fs::read_to_string("config/synthex.yml").unwrap();
    let urls = regex::Regex::new(r"https?://127\.0\.0\.1:\d+").unwrap();
    let text: String = urls
        .replace_all(&text, base)
        .lines()
        .filter(|line| !line.trim_start().starts_with("proxy:"))
        .map(|line| format!("{line}\n"))
        .collect();
    std::fs::create_dir_all(dir.join("secrets")).unwrap();
    for secret in ["api-token", "admin-password", "private-ca.pem"] {
        std::fs::copy(
            Path::new("config/secrets").join(secret),
            dir.join("secrets").join(secret),
        )
        .unwrap();
    }
    let path = dir.join("synthex.yml");
    std::fs::write(&path, text).unwrap();
    path
}

/// (runtime threads, blocking-pool threads) of `pid`, from /proc/PID/task/*/comm.
fn threads(pid: u32) -> (usize, usize) {
    let mut counts = (0, 0);
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let Ok(comm) = std::fs::read_to_string(task.unwrap().path().join("comm")) else {
            continue; // a thread that ended while listed
        };
        if comm.trim_end() == BLOCKING {
            counts.1 += 1;
        } else {
            counts.0 += 1;
        }
    }
    counts
}

#[test]
fn the_example_config_runs_on_one_runtime_thread_and_still_probes() {
    let target = CountingTarget::start(Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    let config = example_config(dir.path(), &format!("http://{}", target.addr));
    let port = free_port();
    let log = dir.path().join("daemon.log");
    let daemon = Proc::spawn(
        "synthex run",
        common::synthex_bin(),
        &[
            "run",
            &format!("--config.file={}", config.display()),
            &format!("--web.listen-address=127.0.0.1:{port}"),
        ],
        &log,
    );
    let metrics = format!("http://127.0.0.1:{port}/metrics");
    wait_http_ok(
        &format!("http://127.0.0.1:{port}/-/ready"),
        Duration::from_secs(20),
    );

    // Two resource samples (interval 5s) and scrapes every 250 ms, some overlapping a sample.
    let (mut runtime, mut blocking) = (0, 0);
    let until = Instant::now() + Duration::from_secs(11);
    while Instant::now() < until {
        let (status, _) = http_get(&metrics).unwrap();
        assert_eq!(status, 200);
        let (r, b) = threads(daemon.pid());
        (runtime, blocking) = (runtime.max(r), blocking.max(b));
        std::thread::sleep(Duration::from_millis(250));
    }
    let log_text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        runtime, 1,
        "runtime threads besides the blocking pool; log:\n{log_text}"
    );
    assert!(
        (1..=2).contains(&blocking),
        "blocking-pool threads: {blocking} (the sampler runs there every 5 s); log:\n{log_text}"
    );

    // Every request the target saw (its stats polls aside) was recorded, or is still in flight
    // (at most max_in_flight 4 for each of the two targets).
    let (_, page) = http_get(&metrics).unwrap();
    let recorded = metric_sum(&page, "synthex_requests_total", &[]);
    let seen = (target.count() as u64 - target.count_of("/stats")) as f64;
    assert!(
        recorded >= 10.0,
        "only {recorded} requests in 11 s; log:\n{log_text}"
    );
    assert!(
        recorded <= seen && seen <= recorded + 8.0,
        "the target saw {seen} requests, synthex recorded {recorded}"
    );
}
