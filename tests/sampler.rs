//! The resource sampler against real processes, checked against the kernel's own figures read
//! by the test: workers with a known CPU and memory use (`sampler_support`) are found by pid file,
//! exe name and command-line regex, with their children, and every sample's CPU, resident memory
//! and count match `/proc` over the same window; the host gauges match `/proc/stat` and
//! `/proc/meminfo`. Samples are driven here, so each is bracketed by snapshots taken just before
//! and just after it.

mod sampler_support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use prometheus::Registry;
use regex::Regex;
use sampler_support::truth::{COUNT, CPU, Expected, RSS, Snapshot, Window, compare, within};
use sampler_support::{Service, Worker, renamed_binary, worker_role};
use synthex::sampler::Sampler;
use synthex::scenario::{ProcessSelector, Resources, WatchedProcess};
use tokio_util::sync::CancellationToken;

/// Time between two driven samples (the daemon's own minimum is 1 s; CPU is a rate either way).
const INTERVAL: Duration = Duration::from_millis(500);
/// Samples checked per test, after the priming one.
const SAMPLES: usize = 10;

fn watched(name: &str, selector: ProcessSelector) -> WatchedProcess {
    WatchedProcess {
        name: name.to_string(),
        selector,
    }
}

fn sampler(processes: Vec<WatchedProcess>) -> (Sampler, Registry) {
    let registry = Registry::new();
    let resources = Resources {
        interval: Duration::from_secs(1),
        processes,
    };
    (Sampler::new(&resources, &registry).unwrap(), registry)
}

/// The value of gauge `name` (with label `process=<process>` when given).
fn gauge(registry: &Registry, name: &str, process: Option<&str>) -> f64 {
    let family = registry
        .gather()
        .into_iter()
        .find(|f| f.name() == name)
        .unwrap_or_else(|| panic!("metric {name} not exported"));
    let metric = family
        .get_metric()
        .iter()
        .find(|m| match process {
            None => m.get_label().is_empty(),
            Some(p) => m
                .get_label()
                .iter()
                .any(|l| l.name() == "process" && l.value() == p),
        })
        .unwrap_or_else(|| panic!("{name}{{process={process:?}}} not exported"));
    metric.get_gauge().get_value()
}

/// Primes the sampler, then takes [`SAMPLES`] samples [`INTERVAL`] apart, each between two
/// snapshots, and asserts every one matches /proc. Returns each group's highest CPU gauge.
fn assert_samples_match_proc(
    sampler: &mut Sampler,
    registry: &Registry,
    groups: &[Expected],
) -> Vec<f64> {
    let pids: Vec<u32> = groups.iter().flat_map(|g| g.pids.clone()).collect();
    let mut before = Snapshot::take(&pids);
    sampler.sample_once();
    let mut after = Snapshot::take(&pids);
    let mut wrong = Vec::new();
    let mut highest = vec![0.0_f64; groups.len()];
    for i in 0..SAMPLES {
        std::thread::sleep(INTERVAL);
        let now_before = Snapshot::take(&pids);
        sampler.sample_once();
        let now_after = Snapshot::take(&pids);
        let window = Window {
            prev: (&before, &after),
            now: (&now_before, &now_after),
        };
        wrong.extend(
            compare(
                &|name, process| Some(gauge(registry, name, process)),
                &window,
                groups,
            )
            .into_iter()
            .map(|w| format!("sample {i}: {w}")),
        );
        for (highest, group) in highest.iter_mut().zip(groups) {
            *highest = highest.max(gauge(registry, CPU, Some(&group.process)));
        }
        (before, after) = (now_before, now_after);
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    highest
}

/// Three selectors at once: a worker burning half a core found by its pid file, one holding
/// 64 MiB found by its exe name, and a parent with two children found by its command line.
#[test]
fn every_selector_matches_proc_over_ten_samples() {
    worker_role();
    let test = "every_selector_matches_proc_over_ten_samples";
    let dir = tempfile::tempdir().unwrap();
    let service = Service::start(test, "s", dir.path());
    let (mut sampler, registry) = sampler(service.watched());
    let groups = &service.groups;
    let highest = assert_samples_match_proc(&mut sampler, &registry, groups);
    // Not a comparison of zeros: the burner and the tree (whose child burns) did use CPU. How
    // much depends on the machine's load; /proc is the reference above.
    assert!(highest[0] > 0.0 && highest[2] > 0.0, "{highest:?}");
    assert!(gauge(&registry, RSS, Some("holder")) > 64.0 * 1024.0 * 1024.0);
}

/// A process that exits reads 0 at the next sample; its replacement is found at the one after,
/// with the CPU it used since it started.
#[test]
fn exited_process_reads_zero_and_its_replacement_is_found() {
    worker_role();
    let test = "exited_process_reads_zero_and_its_replacement_is_found";
    let dir = tempfile::tempdir().unwrap();
    let name = format!("sxrepl{}", std::process::id());
    let program = renamed_binary(dir.path(), &name);
    let (mut sampler, registry) = sampler(vec![watched("svc", ProcessSelector::Exe(name))]);
    let mut first = Worker::spawn(test, "burn", Some(&program), "-");
    std::thread::sleep(Duration::from_millis(200));
    sampler.sample_once();
    assert_eq!(gauge(&registry, COUNT, Some("svc")), 1.0);

    first.kill();
    let gone_before = Snapshot::take(&[]);
    sampler.sample_once();
    let gone_after = Snapshot::take(&[]);
    assert_gone(&registry, "svc");

    let second = Worker::spawn(test, "burn", Some(&program), "-");
    let groups = [Expected {
        process: "svc".into(),
        pids: vec![second.pid()],
    }];
    // The window starts at the sample that read 0, before the replacement started: all its CPU
    // falls in this window.
    std::thread::sleep(INTERVAL);
    let now_before = Snapshot::take(&groups[0].pids);
    sampler.sample_once();
    let now_after = Snapshot::take(&groups[0].pids);
    let window = Window {
        prev: (&gone_before, &gone_after),
        now: (&now_before, &now_after),
    };
    let wrong = compare(
        &|name, process| Some(gauge(&registry, name, process)),
        &window,
        &groups,
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert_samples_match_proc(&mut sampler, &registry, &groups);
}

fn assert_gone(registry: &Registry, process: &str) {
    for name in [COUNT, CPU, RSS] {
        assert_eq!(gauge(registry, name, Some(process)), 0.0, "{name}");
    }
}

/// A child process killed and reaped when dropped.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Copies bash under a unique name, so no other process on the machine matches it.
fn unique_bash(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::copy("/usr/bin/bash", &path).unwrap();
    path
}

/// A name longer than the 15 bytes the kernel keeps in `comm` matches the exe's file name.
#[test]
fn long_exe_names_match_the_executable_file_name() {
    let dir = tempfile::tempdir().unwrap();
    let long_name = format!("synthex-long-exe-name-{}", std::process::id());
    let exe = unique_bash(dir.path(), &long_name);
    let (mut sampler, registry) = sampler(vec![watched("long", ProcessSelector::Exe(long_name))]);
    // Spawns with a piped stdin, so `read -t N` (a bash builtin) blocks in bash itself.
    let child = ChildGuard(
        Command::new(&exe)
            .args(["-c", "read -t 30"])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    std::thread::sleep(Duration::from_millis(100));
    sampler.sample_once();
    assert_eq!(gauge(&registry, COUNT, Some("long")), 1.0);
    let rss = sampler_support::truth::vm_rss(child.0.id()).unwrap() as f64;
    within("rss", gauge(&registry, RSS, Some("long")), (rss, rss)).unwrap();
}

#[test]
fn pid_file_is_reread_on_every_sample() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("service.pid");
    let (mut sampler, registry) = sampler(vec![watched(
        "svc",
        ProcessSelector::PidFile(pid_file.clone()),
    )]);

    // Missing file: count 0, no error.
    sampler.sample_once();
    assert_gone(&registry, "svc");

    let mut child = ChildGuard(Command::new("sleep").arg("30").spawn().unwrap());
    let pid = child.0.id();
    // Just after exec the kernel can still show a resident set of 0 (its per-task counters reach
    // /proc later): wait until /proc itself shows memory, so the gauge has something to match.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while sampler_support::truth::vm_rss(pid).unwrap_or(0) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "sleep never shows a resident set"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    std::fs::write(&pid_file, format!("{pid}\n")).unwrap();
    sampler.sample_once();
    assert_eq!(gauge(&registry, COUNT, Some("svc")), 1.0);
    assert!(gauge(&registry, RSS, Some("svc")) > 0.0);

    std::fs::write(&pid_file, "garbage").unwrap();
    sampler.sample_once();
    assert_gone(&registry, "svc");

    std::fs::write(&pid_file, pid.to_string()).unwrap();
    sampler.sample_once();
    assert_eq!(gauge(&registry, COUNT, Some("svc")), 1.0);

    let _ = child.0.kill();
    let _ = child.0.wait();
    sampler.sample_once();
    assert_gone(&registry, "svc");
}

#[test]
fn host_cpus_and_load_match_proc() {
    let (mut sampler, registry) = sampler(Vec::new());
    sampler.sample_once();
    let proc_stat = std::fs::read_to_string("/proc/stat").unwrap();
    let online = proc_stat
        .lines()
        .filter(|l| Regex::new(r"^cpu\d+ ").unwrap().is_match(l))
        .count();
    assert_eq!(gauge(&registry, "synthex_host_cpus", None), online as f64);
    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap();
    for (i, name) in [
        "synthex_host_load1",
        "synthex_host_load5",
        "synthex_host_load15",
    ]
    .iter()
    .enumerate()
    {
        let proc: f64 = loadavg.split_whitespace().nth(i).unwrap().parse().unwrap();
        let exported = gauge(&registry, name, None);
        // /proc/loadavg moves every 5 s: the two reads may straddle one update.
        assert!(
            (exported - proc).abs() < 0.1,
            "{name} {exported} vs /proc {proc}"
        );
    }
}

#[test]
fn duplicate_registration_is_an_error() {
    let registry = Registry::new();
    let resources = Resources {
        interval: Duration::from_secs(1),
        processes: Vec::new(),
    };
    let _first = Sampler::new(&resources, &registry).unwrap();
    assert!(Sampler::new(&resources, &registry).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_samples_until_cancelled() {
    let mut child = ChildGuard(Command::new("sleep").arg("30").spawn().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("sleep.pid");
    std::fs::write(&pid_file, child.0.id().to_string()).unwrap();
    let (sampler, registry) = sampler(vec![watched("sleep", ProcessSelector::PidFile(pid_file))]);
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(sampler.run(shutdown.clone()));

    let mut seen = false;
    for _ in 0..100 {
        if gauge(&registry, "synthex_host_memory_total_bytes", None) > 0.0
            && gauge(&registry, COUNT, Some("sleep")) == 1.0
        {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(seen, "run() never set the gauges");

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("run() did not stop after cancellation")
        .unwrap();
    let _ = child.0.kill();
}
