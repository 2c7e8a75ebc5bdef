//! Host and watched-process resource gauges, sampled from sysinfo on a timer.
//!
//! Owns `synthex_host_*` (CPU, memory, load, CPU count) and `synthex_watched_process_*{process}`
//! (CPU, RSS, count of the service processes synthex sits beside). The gauges are set by a sampler
//! task rather than computed at scrape time, because CPU usage is a difference between two
//! readings and because sysinfo's `/proc` reads are blocking I/O that must stay off both the scrape
//! path and the async workers (vector's host_metrics, rust-prometheus' `ProcessCollector`).
//!
//! Cost control: only CPU and memory are refreshed for processes (plus the exe path or command
//! line once per process, when a selector needs them); processes found by exe or command line
//! are followed by pid and the whole table is read again only every sixth sample (or while a
//! group has no process); pid files name their process directly; when nothing is watched,
//! processes are not read at all.

use std::ffi::OsStr;
use std::path::Path;
use std::time::Duration;

use prometheus::{Gauge, GaugeVec, Opts, Registry};
use sysinfo::{
    Pid, Process, ProcessRefreshKind, ProcessStatus, ProcessesToUpdate, System, UpdateKind,
};
use tokio_util::sync::CancellationToken;

use crate::scenario::{ProcessSelector, Resources, WatchedProcess};

/// Every how many samples the whole process table is read to find new matching processes
/// (30 s at the default 5 s interval). In between only the processes already found are read:
/// scanning some hundred processes' `/proc` entries every sample cost more CPU than the probes.
/// A group with no process found is looked for on every sample.
const RESCAN_EVERY: u32 = 6;

/// Delay between the priming sample and the first one that carries CPU usage, so CPU gauges
/// appear soon after start instead of one full interval later. Above sysinfo's 200 ms minimum.
const PRIME_DELAY: Duration = Duration::from_millis(500);

/// Samples host and watched-process resources into gauges of one registry.
///
/// Holds its `System` between samples because CPU usage is computed from the difference between
/// two refreshes: the first sample only primes the CPU readings (they read 0 until the second).
pub struct Sampler {
    interval: Duration,
    system: System,
    host: HostGauges,
    watched: Vec<Watched>,
    /// What to read per process; `None` when no process is watched (processes are skipped).
    refresh_kind: Option<ProcessRefreshKind>,
    /// Samples taken since the whole process table was last read.
    since_scan: u32,
}

/// Host-wide gauges, registered once.
struct HostGauges {
    cpu_ratio: Gauge,
    memory_used: Gauge,
    memory_total: Gauge,
    load1: Gauge,
    load5: Gauge,
    load15: Gauge,
    cpus: Gauge,
}

/// One watched process group with the gauge handles of its `process` label.
struct Watched {
    name: String,
    selector: ProcessSelector,
    /// Pids the selector matched at the last sample (exe and cmdline selectors).
    tracked: Vec<Pid>,
    cpu_ratio: Gauge,
    resident_bytes: Gauge,
    count: Gauge,
}

/// One source's resource usage in the latest sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// `host` or the watched group's name.
    pub source: String,
    /// Host: busy ratio over all cores (0–1); process: CPU seconds per second.
    pub cpu_ratio: f64,
    /// Host: memory in use; process: resident memory; bytes.
    pub memory_bytes: u64,
}

/// What the matching processes of one group add up to in one sample.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Usage {
    count: u64,
    cpu_ratio: f64,
    resident_bytes: u64,
}

impl Usage {
    fn add(&mut self, process: &Process) {
        self.count += 1;
        // sysinfo reports percent of one core, so 100 % = one core busy = 1 CPU second per second.
        self.cpu_ratio += f64::from(process.cpu_usage()) / 100.0;
        self.resident_bytes += process.memory();
    }
}

impl Sampler {
    /// Registers the host and watched-process gauges in `registry` and prepares sysinfo.
    ///
    /// Fails when a gauge name is already registered, or (as a `prometheus::Error::Msg`) when
    /// sysinfo does not support this platform, so a misconfigured daemon stops at start-up.
    pub fn new(resources: &Resources, registry: &Registry) -> Result<Sampler, prometheus::Error> {
        let system = System::new().map_err(|err| {
            prometheus::Error::Msg(format!(
                "cannot sample host resources on this platform: {err}"
            ))
        })?;
        let host = HostGauges::register(registry)?;
        let watched = register_watched(&resources.processes, registry)?;
        let refresh_kind = refresh_kind_for(&resources.processes);
        Ok(Sampler {
            interval: resources.interval,
            system,
            host,
            watched,
            refresh_kind,
            since_scan: 0,
        })
    }

    /// Samples every `resources.interval` until `shutdown` is cancelled.
    ///
    /// The first sample primes CPU readings and a second follows after 500 ms, so every gauge is
    /// meaningful within a second of start. Each sample runs on tokio's blocking pool because
    /// sysinfo reads `/proc` synchronously.
    pub async fn run(self, shutdown: CancellationToken) {
        self.run_observed(shutdown, |_| {}).await;
    }

    /// [`Sampler::run`], calling `observe` with the new [`Reading`]s after every sample: the
    /// load test keeps them as the resource series of its report.
    pub async fn run_observed(
        self,
        shutdown: CancellationToken,
        mut observe: impl FnMut(Vec<Reading>) + Send,
    ) {
        let mut sampler = self;
        let start = tokio::time::Instant::now();
        let mut ticks = tokio::time::interval_at(start + PRIME_DELAY, sampler.interval);
        // After a stall (suspended VM, overloaded host) sample once, not in a burst.
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let joined = tokio::task::spawn_blocking(move || {
                sampler.sample_once();
                sampler
            })
            .await;
            sampler = match joined {
                Ok(sampler) => sampler,
                Err(err) => {
                    tracing::error!(error = %err, "resource sampler stopped: a sample panicked");
                    return;
                }
            };
            observe(sampler.readings());
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return,
                _ = ticks.tick() => {}
            }
        }
    }

    /// Takes one sample now and sets every gauge. Blocking (reads `/proc`).
    ///
    /// Public so tests and callers with their own timing can drive samples; CPU ratios need two
    /// calls at least 200 ms apart (the first primes them).
    pub fn sample_once(&mut self) {
        // Host CPU first: the process refresh below reuses these CPU times instead of reading
        // /proc/stat a second time (sysinfo skips re-reads closer than 200 ms).
        self.system.refresh_cpu_usage();
        self.system.refresh_memory();
        self.set_host_gauges();
        if let Some(kind) = self.refresh_kind {
            self.sample_processes(kind);
        }
    }

    /// The latest sample: the host first (`source` "host", CPU busy ratio over all cores and
    /// memory in use), then each watched group (CPU seconds per second and resident memory).
    pub fn readings(&self) -> Vec<Reading> {
        let host = Reading {
            source: "host".to_string(),
            cpu_ratio: self.host.cpu_ratio.get(),
            memory_bytes: self.host.memory_used.get() as u64,
        };
        std::iter::once(host)
            .chain(self.watched.iter().map(|w| Reading {
                source: w.name.clone(),
                cpu_ratio: w.cpu_ratio.get(),
                memory_bytes: w.resident_bytes.get() as u64,
            }))
            .collect()
    }

    fn set_host_gauges(&self) {
        let host = &self.host;
        host.cpu_ratio
            .set(f64::from(self.system.global_cpu_usage()) / 100.0);
        host.memory_used.set(self.system.used_memory() as f64);
        host.memory_total.set(self.system.total_memory() as f64);
        host.cpus.set(self.system.cpus().len() as f64);
        match System::load_average() {
            Ok(load) => {
                host.load1.set(load.one);
                host.load5.set(load.five);
                host.load15.set(load.fifteen);
            }
            Err(err) => tracing::debug!(error = %err, "load average unavailable"),
        }
    }

    fn sample_processes(&mut self, kind: ProcessRefreshKind) {
        // Pid files are re-read on every sample so a restarted service is followed.
        let pids: Vec<Option<Pid>> = self
            .watched
            .iter()
            .map(|w| match &w.selector {
                ProcessSelector::PidFile(path) => read_pid_file(path),
                _ => None,
            })
            .collect();
        self.since_scan += 1;
        let scan = self.watched.iter().any(|w| {
            !matches!(w.selector, ProcessSelector::PidFile(_))
                && (w.tracked.is_empty() || self.since_scan >= RESCAN_EVERY)
        });
        if scan {
            self.system
                .refresh_processes_specifics(ProcessesToUpdate::All, true, kind);
            self.since_scan = 0;
        } else {
            let listed: Vec<Pid> = pids
                .iter()
                .flatten()
                .chain(self.watched.iter().flat_map(|w| &w.tracked))
                .copied()
                .collect();
            self.system
                .refresh_processes_specifics(ProcessesToUpdate::Some(&listed), true, kind);
        }
        for (watched, pid) in self.watched.iter_mut().zip(pids) {
            let (usage, found) = match &watched.selector {
                ProcessSelector::PidFile(_) => usage_of_pids(&self.system, pid),
                selector if scan => usage_of_matching(&self.system, selector),
                _ => usage_of_pids(&self.system, watched.tracked.iter().copied()),
            };
            watched.tracked = found;
            watched.count.set(usage.count as f64);
            watched.cpu_ratio.set(usage.cpu_ratio);
            watched.resident_bytes.set(usage.resident_bytes as f64);
        }
    }
}

impl HostGauges {
    fn register(registry: &Registry) -> Result<HostGauges, prometheus::Error> {
        let gauge = |name: &str, help: &str| -> Result<Gauge, prometheus::Error> {
            let gauge = Gauge::with_opts(Opts::new(name, help))?;
            registry.register(Box::new(gauge.clone()))?;
            Ok(gauge)
        };
        Ok(HostGauges {
            cpu_ratio: gauge(
                "synthex_host_cpu_usage_ratio",
                "Host CPU busy time over all cores, 0 to 1, between the last two samples.",
            )?,
            memory_used: gauge(
                "synthex_host_memory_used_bytes",
                "Host memory in use (total minus available), in bytes.",
            )?,
            memory_total: gauge(
                "synthex_host_memory_total_bytes",
                "Host memory size in bytes.",
            )?,
            load1: gauge("synthex_host_load1", "Host load average over 1 minute.")?,
            load5: gauge("synthex_host_load5", "Host load average over 5 minutes.")?,
            load15: gauge("synthex_host_load15", "Host load average over 15 minutes.")?,
            cpus: gauge(
                "synthex_host_cpus",
                "Number of CPUs the host reports (not a container CPU quota).",
            )?,
        })
    }
}

/// Registers the three per-process families and fixes one label set per watched group, so a
/// group with no matching process reads 0 instead of disappearing.
fn register_watched(
    processes: &[WatchedProcess],
    registry: &Registry,
) -> Result<Vec<Watched>, prometheus::Error> {
    let family = |name: &str, help: &str| -> Result<GaugeVec, prometheus::Error> {
        let vec = GaugeVec::new(Opts::new(name, help), &["process"])?;
        registry.register(Box::new(vec.clone()))?;
        Ok(vec)
    };
    let cpu = family(
        "synthex_watched_process_cpu_usage_ratio",
        "CPU seconds per second used by the matching processes, summed (1 = one full core).",
    )?;
    let rss = family(
        "synthex_watched_process_resident_memory_bytes",
        "Resident memory (RSS) of the matching processes, summed, in bytes.",
    )?;
    let count = family(
        "synthex_watched_process_count",
        "Number of running processes matching the selector (0 when none).",
    )?;
    Ok(processes
        .iter()
        .map(|p| {
            let labels = [p.name.as_str()];
            Watched {
                name: p.name.clone(),
                selector: p.selector.clone(),
                tracked: Vec::new(),
                cpu_ratio: cpu.with_label_values(&labels),
                resident_bytes: rss.with_label_values(&labels),
                count: count.with_label_values(&labels),
            }
        })
        .collect())
}

/// CPU and memory always; the exe path and command line only when a selector needs them, and
/// then only once per process (they do not change without an exec).
fn refresh_kind_for(processes: &[WatchedProcess]) -> Option<ProcessRefreshKind> {
    if processes.is_empty() {
        return None;
    }
    let mut kind = ProcessRefreshKind::nothing().with_cpu().with_memory();
    let needs = |f: fn(&ProcessSelector) -> bool| processes.iter().any(|p| f(&p.selector));
    if needs(|s| matches!(s, ProcessSelector::Exe(_))) {
        kind = kind.with_exe(UpdateKind::OnlyIfNotSet);
    }
    if needs(|s| matches!(s, ProcessSelector::Cmdline(_))) {
        kind = kind.with_cmd(UpdateKind::OnlyIfNotSet);
    }
    Some(kind)
}

/// Sums the running processes of `system` that `selector` matches, and lists their pids.
fn usage_of_matching(system: &System, selector: &ProcessSelector) -> (Usage, Vec<Pid>) {
    let matches = |p: &Process| match selector {
        ProcessSelector::Exe(name) => exe_matches(p, OsStr::new(name)),
        ProcessSelector::Cmdline(regex) => regex.is_match(&command_line(p)),
        // Pid files name their process; they are never matched against the table.
        ProcessSelector::PidFile(_) => false,
    };
    sum(system
        .processes()
        .values()
        .filter(|p| is_running(p) && matches(p)))
}

/// Sums the processes `pids` that still run, and lists those.
fn usage_of_pids(system: &System, pids: impl IntoIterator<Item = Pid>) -> (Usage, Vec<Pid>) {
    sum(pids
        .into_iter()
        .filter_map(|pid| system.process(pid))
        .filter(|p| is_running(p)))
}

fn sum<'a>(processes: impl Iterator<Item = &'a Process>) -> (Usage, Vec<Pid>) {
    let mut usage = Usage::default();
    let mut pids = Vec::new();
    for process in processes {
        usage.add(process);
        pids.push(process.pid());
    }
    (usage, pids)
}

/// A zombie has exited and only waits to be reaped: it is not a running service process. Threads
/// are skipped so a multi-threaded service counts once.
fn is_running(process: &Process) -> bool {
    process.status() != ProcessStatus::Zombie
        && process.status() != ProcessStatus::Dead
        && process.thread_kind().is_none()
}

/// The kernel truncates the process name to 15 bytes, so the exe file name is checked as well.
fn exe_matches(process: &Process, name: &OsStr) -> bool {
    process.name() == name
        || process
            .exe()
            .and_then(Path::file_name)
            .is_some_and(|file| file == name)
}

/// Arguments joined by single spaces, the form `cmdline:` regexes are written against.
fn command_line(process: &Process) -> String {
    let args: Vec<_> = process.cmd().iter().map(|a| a.to_string_lossy()).collect();
    args.join(" ")
}

/// A missing or unparsable pid file means "not running" (count 0), not an error: services
/// remove their pid file when they stop, and a restart rewrites it.
fn read_pid_file(path: &Path) -> Option<Pid> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) => {
            tracing::debug!(path = %path.display(), error = %err, "pid file unreadable");
            return None;
        }
    };
    match text.trim().parse::<usize>() {
        Ok(pid) => Some(Pid::from(pid)),
        Err(_) => {
            tracing::debug!(path = %path.display(), content = %text.trim(), "pid file holds no pid");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn pid_file_parsing_tolerates_whitespace_and_refuses_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("svc.pid");
        std::fs::write(&path, " 4242\n").unwrap();
        assert_eq!(read_pid_file(&path), Some(Pid::from(4242)));
        std::fs::write(&path, "not a pid").unwrap();
        assert_eq!(read_pid_file(&path), None);
        assert_eq!(read_pid_file(&PathBuf::from("/nonexistent/x.pid")), None);
    }

    #[test]
    fn processes_are_not_refreshed_when_none_are_watched() {
        assert!(refresh_kind_for(&[]).is_none());
        let watched = [WatchedProcess {
            name: "db".into(),
            selector: ProcessSelector::PidFile("/run/db.pid".into()),
        }];
        let kind = refresh_kind_for(&watched).unwrap();
        assert!(kind.cpu() && kind.memory());
        assert_eq!(kind.exe(), UpdateKind::Never);
        assert_eq!(kind.cmd(), UpdateKind::Never);
    }
}
