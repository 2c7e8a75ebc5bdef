//! The watched service's CPU, memory and count as the real binary reports them, checked against
//! the kernel's figures read by the test: the daemon's `/metrics` and `synthex load`'s report
//! resource table, with workers of a known CPU and memory use found by pid file, exe name and
//! command line (a parent with two children). The daemon samples on its own clock, so the test
//! scrapes every 20 ms with a /proc snapshot before each scrape: the scrape where the gauges
//! change places the sample between the snapshots around it. Load-report samples carry their time.

mod common;
mod sampler_support;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Proc, free_port, http_get, synthex_bin, wait_http_ok};
use sampler_support::truth::{COUNT, CPU, HOST_CPU, HOST_USED, RSS, Snapshot, Window, compare};
use sampler_support::{Service, Worker, worker_role};

/// The daemon's sampling interval in these tests (the documented minimum).
const INTERVAL: Duration = Duration::from_secs(1);
/// Samples checked per run, at least.
const SAMPLES: usize = 10;

/// A config with one target on a closed port (its failures do not matter here) and `resources`.
fn config(dir: &Path, resources: &str) -> std::path::PathBuf {
    let path = dir.join("synthex.yml");
    let text = format!(
        "targets:\n  - name: closed\n    base_url: http://127.0.0.1:{}\n    rate: 2/s\n    scenarios:\n      - name: root\n        weight: 1\n        request: {{path: /}}\n{resources}",
        free_port()
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// The value of `name` (with `process="…"` when given) on a `/metrics` page.
fn scraped(page: &str, name: &str, process: Option<&str>) -> Option<f64> {
    page.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| match process {
            None => l.starts_with(&format!("{name} ")),
            Some(p) => {
                l.starts_with(&format!("{name}{{")) && l.contains(&format!("process=\"{p}\""))
            }
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fn scrape(url: &str) -> String {
    let (status, page) = http_get(url).unwrap();
    assert_eq!(status, 200);
    page
}

/// Scrapes every 20 ms (a snapshot before each) for `how_long`.
fn poll(url: &str, pids: &[u32], how_long: Duration) -> Vec<(Snapshot, String)> {
    let end = Instant::now() + how_long;
    let mut polls = Vec::new();
    while Instant::now() < end {
        let snapshot = Snapshot::take(pids);
        polls.push((snapshot, scrape(url)));
        std::thread::sleep(Duration::from_millis(20));
    }
    polls
}

/// The polls where a new sample shows: the host CPU or memory gauge changed.
fn sample_indexes(polls: &[(Snapshot, String)]) -> Vec<usize> {
    let key = |page: &str| {
        (
            scraped(page, HOST_CPU, None),
            scraped(page, HOST_USED, None),
        )
    };
    (1..polls.len())
        .filter(|&i| key(&polls[i].1) != key(&polls[i - 1].1))
        .collect()
}

/// The page of the second sample from now: the first may have read /proc before now, the
/// second read it after. Samples show as a change of the host gauges (set last).
fn second_sample(url: &str) -> String {
    let key = |page: &str| {
        (
            scraped(page, HOST_CPU, None),
            scraped(page, HOST_USED, None),
        )
    };
    let start = Instant::now();
    let mut last = key(&scrape(url));
    let mut seen = 0;
    loop {
        std::thread::sleep(Duration::from_millis(20));
        let page = scrape(url);
        if key(&page) != last {
            seen += 1;
            if seen == 2 {
                return page;
            }
            last = key(&page);
        }
        assert!(
            start.elapsed() < INTERVAL * 10,
            "fewer than two samples in {:?}",
            INTERVAL * 10
        );
    }
}

#[test]
fn daemon_metrics_match_proc_and_follow_exit_and_restart() {
    worker_role();
    let test = "daemon_metrics_match_proc_and_follow_exit_and_restart";
    let dir = tempfile::tempdir().unwrap();
    let mut service = Service::start(test, "d", dir.path());
    let port = free_port();
    let config = config(dir.path(), &service.resources_yaml());
    let _synthex = Proc::spawn(
        "synthex",
        synthex_bin(),
        &[
            "run",
            &format!("--config.file={}", config.display()),
            &format!("--web.listen-address=127.0.0.1:{port}"),
        ],
        &dir.path().join("synthex.log"),
    );
    let url = format!("http://127.0.0.1:{port}/metrics");
    wait_http_ok(&url, Duration::from_secs(15));
    // Past the priming sample and the first one 500 ms later.
    std::thread::sleep(Duration::from_millis(1200));

    let pids = service.pids();
    let polls = poll(&url, &pids, INTERVAL * (SAMPLES as u32 + 2));
    let mut wrong = Vec::new();
    // Steady: every scrape while the workers live shows every process.
    for (snapshot, page) in &polls {
        for group in &service.groups {
            let count = scraped(page, COUNT, Some(&group.process));
            if count != Some(group.pids.len() as f64) {
                wrong.push(format!(
                    "{:?} after start: {} count {count:?}",
                    snapshot.at.duration_since(polls[0].0.at),
                    group.process
                ));
            }
        }
    }
    let samples = sample_indexes(&polls);
    // A sample seen first at poll i (synthex sets the host gauges last) read /proc after the
    // snapshot of poll i − 3 (before the scrape at i − 1 that did not show it yet, with two polls
    // of room for the sample's own duration) and before the snapshot of poll i + 1.
    let around = |i: usize| {
        (
            &polls[i.saturating_sub(3)].0,
            &polls[(i + 1).min(polls.len() - 1)].0,
        )
    };
    let mut checked = 0;
    for pair in samples.windows(2) {
        let (prev, now) = (pair[0], pair[1]);
        if now + 1 >= polls.len() {
            break;
        }
        let window = Window {
            prev: around(prev),
            now: around(now),
        };
        let page = &polls[now].1;
        wrong.extend(
            compare(
                &|name, process| scraped(page, name, process),
                &window,
                &service.groups,
            )
            .into_iter()
            .map(|w| format!("sample {checked}: {w}")),
        );
        checked += 1;
    }
    assert!(
        checked >= SAMPLES,
        "only {checked} samples seen in {} polls",
        polls.len()
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // Exit: the first sample that reads /proc after the exit reads 0; after a restart, the
    // first sample finds the new process.
    service.burner.kill();
    let page = second_sample(&url);
    for name in [COUNT, CPU, RSS] {
        assert_eq!(scraped(&page, name, Some("burner")), Some(0.0), "{name}");
    }
    let replacement = Worker::spawn(test, "burn", None, "-");
    std::fs::write(&service.pid_file, replacement.pid().to_string()).unwrap();
    let page = second_sample(&url);
    assert_eq!(scraped(&page, COUNT, Some("burner")), Some(1.0));
}

/// Snapshots every 20 ms on a thread until stopped.
struct Recorder {
    snapshots: Arc<Mutex<Vec<Snapshot>>>,
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl Recorder {
    fn start(pids: Vec<u32>) -> Recorder {
        let snapshots = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (snapshots, stop) = (Arc::clone(&snapshots), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    snapshots.lock().unwrap().push(Snapshot::take(&pids));
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
        };
        Recorder {
            snapshots,
            stop,
            thread,
        }
    }

    fn stop(self) -> Vec<Snapshot> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap();
        Arc::try_unwrap(self.snapshots)
            .unwrap()
            .into_inner()
            .unwrap()
    }
}

#[test]
fn load_report_resource_table_matches_proc() {
    worker_role();
    let test = "load_report_resource_table_matches_proc";
    let dir = tempfile::tempdir().unwrap();
    let service = Service::start(test, "l", dir.path());
    let config = config(dir.path(), &service.resources_yaml());
    let out = dir.path().join("out");
    let recorder = Recorder::start(service.pids());
    let status = std::process::Command::new(synthex_bin())
        .args([
            "load",
            &format!("--config.file={}", config.display()),
            "--rate=2/s",
            "--duration=13s",
            &format!("--out={}", out.display()),
        ])
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    let snapshots = recorder.stop();
    // The target is a closed port: every request fails, which fails no threshold here.
    assert!(status.code().is_some(), "synthex load: {status}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let started = report["started_at"].as_f64().unwrap();
    let series = |source: &str| -> Vec<(f64, f64, f64)> {
        report["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["source"] == source)
            .unwrap_or_else(|| panic!("no resource series {source}"))["samples"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    started + s["offset_seconds"].as_f64().unwrap(),
                    s["cpu_ratio"].as_f64().unwrap(),
                    s["memory_bytes"].as_f64().unwrap(),
                )
            })
            .collect()
    };
    let host = series("host");
    let groups: Vec<Vec<(f64, f64, f64)>> =
        service.groups.iter().map(|g| series(&g.process)).collect();
    // A sample's time is taken just before it reads /proc, which takes a few milliseconds.
    let around = |wall: f64| {
        let before = snapshots.iter().rev().find(|s| s.wall <= wall - 0.005);
        let after = snapshots.iter().find(|s| s.wall >= wall + 0.05);
        before.zip(after)
    };
    let mut wrong = Vec::new();
    let mut checked = 0;
    for k in 1..host.len() {
        let (Some(prev), Some(now)) = (around(host[k - 1].0), around(host[k].0)) else {
            continue;
        };
        let window = Window { prev, now };
        let read = |name: &str, process: Option<&str>| -> Option<f64> {
            let sample = match process {
                None => host[k],
                Some(p) => {
                    let g = service.groups.iter().position(|g| g.process == p)?;
                    groups[g][k]
                }
            };
            match name {
                CPU | HOST_CPU => Some(sample.1),
                RSS | HOST_USED => Some(sample.2),
                _ => None,
            }
        };
        wrong.extend(
            compare(&read, &window, &service.groups)
                .into_iter()
                .map(|w| format!("sample {k}: {w}")),
        );
        checked += 1;
    }
    assert!(checked >= SAMPLES, "only {checked} report samples checked");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
