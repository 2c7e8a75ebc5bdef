//! The resource sampler against real processes: children spawned here are found by exe name,
//! command-line regex and pid file, their CPU and RSS show up, and they read 0 once killed.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use prometheus::Registry;
use regex::Regex;
use synthex::sampler::Sampler;
use synthex::scenario::{ProcessSelector, Resources, WatchedProcess};
use tokio_util::sync::CancellationToken;

/// A child process killed and reaped when dropped, so a failing test leaves nothing behind.
struct ChildGuard(Child);

impl ChildGuard {
    fn pid(&self) -> u32 {
        self.0.id()
    }

    /// Kills and reaps the child: a zombie would still be listed in /proc.
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A bash busy loop that ends by itself after 20 s even if the test process dies.
const BUSY_LOOP: &str = "while [ $SECONDS -lt 20 ]; do :; done";

/// Spawns with a piped stdin, so `read -t N` (a bash builtin) blocks in bash itself instead of
/// bash exec'ing into another program.
fn spawn(program: &Path, args: &[&str]) -> ChildGuard {
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    ChildGuard(child)
}

/// Copies bash under a unique name so no other process on the machine matches it.
fn unique_bash(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::copy("/usr/bin/bash", &path).unwrap();
    path
}

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

/// Samples up to five times, 500 ms apart, until `process` shows more than 0.3 cores; returns the
/// highest ratio seen. Several windows keep a loaded shared machine from failing the test.
fn busiest_cpu_ratio(sampler: &mut Sampler, registry: &Registry, process: &str) -> f64 {
    let mut best: f64 = 0.0;
    for _ in 0..5 {
        std::thread::sleep(Duration::from_millis(500));
        sampler.sample_once();
        best = best.max(gauge(
            registry,
            "synthex_watched_process_cpu_usage_ratio",
            Some(process),
        ));
        if best > 0.3 {
            break;
        }
    }
    best
}

fn assert_gone(registry: &Registry, process: &str) {
    assert_eq!(
        gauge(registry, "synthex_watched_process_count", Some(process)),
        0.0
    );
    assert_eq!(
        gauge(
            registry,
            "synthex_watched_process_cpu_usage_ratio",
            Some(process)
        ),
        0.0
    );
    assert_eq!(
        gauge(
            registry,
            "synthex_watched_process_resident_memory_bytes",
            Some(process)
        ),
        0.0
    );
}

#[test]
fn host_gauges_are_sane() {
    let (mut sampler, registry) = sampler(Vec::new());
    sampler.sample_once();
    std::thread::sleep(Duration::from_millis(300));
    sampler.sample_once();

    let total = gauge(&registry, "synthex_host_memory_total_bytes", None);
    let used = gauge(&registry, "synthex_host_memory_used_bytes", None);
    assert!(used > 0.0 && total >= used, "used {used}, total {total}");

    let cpu = gauge(&registry, "synthex_host_cpu_usage_ratio", None);
    assert!((0.0..=1.0).contains(&cpu), "cpu ratio {cpu}");

    let proc_stat = std::fs::read_to_string("/proc/stat").unwrap();
    let online = proc_stat
        .lines()
        .filter(|l| Regex::new(r"^cpu\d+ ").unwrap().is_match(l))
        .count();
    let cpus = gauge(&registry, "synthex_host_cpus", None);
    assert_eq!(cpus, online as f64);
    let parallelism = std::thread::available_parallelism().unwrap().get();
    assert!(
        cpus >= parallelism as f64,
        "{cpus} cpus < parallelism {parallelism}"
    );

    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap();
    let load15: f64 = loadavg.split_whitespace().nth(2).unwrap().parse().unwrap();
    let exported = gauge(&registry, "synthex_host_load15", None);
    assert!(
        (exported - load15).abs() < 0.05,
        "load15 {exported} vs /proc {load15}"
    );
    assert!(gauge(&registry, "synthex_host_load1", None) >= 0.0);
    assert!(gauge(&registry, "synthex_host_load5", None) >= 0.0);
}

#[test]
fn busy_process_found_by_exe_name_then_gone() {
    let dir = tempfile::tempdir().unwrap();
    // Longer than the 15 bytes the kernel keeps of a process name: only the exe path matches.
    let long_name = format!("synthex-busy-loop-{}", std::process::id());
    let short_name = format!("sxb{}", std::process::id());
    let long = unique_bash(dir.path(), &long_name);
    let short = unique_bash(dir.path(), &short_name);
    let (mut sampler, registry) = sampler(vec![
        watched("long", ProcessSelector::Exe(long_name.clone())),
        watched("short", ProcessSelector::Exe(short_name.clone())),
    ]);
    let mut busy = spawn(&long, &["-c", BUSY_LOOP]);
    let mut idle = spawn(&short, &["-c", "read -t 30"]);
    std::thread::sleep(Duration::from_millis(200));
    sampler.sample_once(); // primes CPU

    let ratio = busiest_cpu_ratio(&mut sampler, &registry, "long");
    assert!(ratio > 0.3, "busy loop used only {ratio} of a core");
    assert!(
        ratio < 1.5,
        "one single-threaded loop cannot use {ratio} cores"
    );
    for name in ["long", "short"] {
        assert_eq!(
            gauge(&registry, "synthex_watched_process_count", Some(name)),
            1.0
        );
        let rss = gauge(
            &registry,
            "synthex_watched_process_resident_memory_bytes",
            Some(name),
        );
        assert!(rss > 0.0, "{name}: rss {rss}");
    }

    busy.kill();
    idle.kill();
    sampler.sample_once();
    assert_gone(&registry, "long");
    assert_gone(&registry, "short");
}

/// Found processes are followed by pid; the whole table is read again every sixth sample, so a
/// second process of the group shows up within six samples, and one that exits at once.
#[test]
fn new_processes_are_found_at_the_next_full_scan_and_gone_ones_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let name = format!("sxscan{}", std::process::id());
    let exe = unique_bash(dir.path(), &name);
    let (mut sampler, registry) = sampler(vec![watched("svc", ProcessSelector::Exe(name))]);
    let count = |registry: &Registry| gauge(registry, "synthex_watched_process_count", Some("svc"));
    let _first = spawn(&exe, &["-c", "read -t 30"]);
    std::thread::sleep(Duration::from_millis(100));
    sampler.sample_once();
    assert_eq!(count(&registry), 1.0);
    let mut second = spawn(&exe, &["-c", "read -t 30"]);
    std::thread::sleep(Duration::from_millis(100));
    let mut seen = Vec::new();
    for _ in 0..6 {
        sampler.sample_once();
        seen.push(count(&registry));
    }
    assert_eq!(
        seen.first(),
        Some(&1.0),
        "{seen:?}: the table was read again at once"
    );
    assert_eq!(
        seen.last(),
        Some(&2.0),
        "{seen:?}: the rescan missed the new process"
    );
    second.kill();
    sampler.sample_once();
    assert_eq!(count(&registry), 1.0);
}

#[test]
fn busy_process_found_by_command_line_regex() {
    let marker = format!("synthex-marker-{}", std::process::id());
    let pattern = format!(r"^bash -c while \[ \$SECONDS -lt 20 \]; do :; done {marker}$");
    let (mut sampler, registry) = sampler(vec![
        watched(
            "loop",
            ProcessSelector::Cmdline(Regex::new(&pattern).unwrap()),
        ),
        watched(
            "nobody",
            ProcessSelector::Cmdline(Regex::new("^no such command line$").unwrap()),
        ),
    ]);
    let mut child = spawn(Path::new("bash"), &["-c", BUSY_LOOP, &marker]);
    std::thread::sleep(Duration::from_millis(200));
    sampler.sample_once();

    let ratio = busiest_cpu_ratio(&mut sampler, &registry, "loop");
    assert!(ratio > 0.3, "busy loop used only {ratio} of a core");
    assert_eq!(
        gauge(&registry, "synthex_watched_process_count", Some("loop")),
        1.0
    );
    assert!(
        gauge(
            &registry,
            "synthex_watched_process_resident_memory_bytes",
            Some("loop")
        ) > 0.0
    );
    assert_gone(&registry, "nobody");

    child.kill();
    sampler.sample_once();
    assert_gone(&registry, "loop");
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

    let mut child = spawn(Path::new("sleep"), &["30"]);
    std::fs::write(&pid_file, format!("{}\n", child.pid())).unwrap();
    sampler.sample_once();
    assert_eq!(
        gauge(&registry, "synthex_watched_process_count", Some("svc")),
        1.0
    );
    assert!(
        gauge(
            &registry,
            "synthex_watched_process_resident_memory_bytes",
            Some("svc")
        ) > 0.0
    );

    std::fs::write(&pid_file, "garbage").unwrap();
    sampler.sample_once();
    assert_gone(&registry, "svc");

    std::fs::write(&pid_file, child.pid().to_string()).unwrap();
    sampler.sample_once();
    assert_eq!(
        gauge(&registry, "synthex_watched_process_count", Some("svc")),
        1.0
    );

    child.kill();
    sampler.sample_once();
    assert_gone(&registry, "svc");
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
    let mut child = spawn(Path::new("sleep"), &["30"]);
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("sleep.pid");
    std::fs::write(&pid_file, child.pid().to_string()).unwrap();
    let (sampler, registry) = sampler(vec![watched("sleep", ProcessSelector::PidFile(pid_file))]);
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(sampler.run(shutdown.clone()));

    let mut seen = false;
    for _ in 0..100 {
        if gauge(&registry, "synthex_host_memory_total_bytes", None) > 0.0
            && gauge(&registry, "synthex_watched_process_count", Some("sleep")) == 1.0
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
    child.kill();
}
