//! The watched service's processes (`resources.processes`): which processes belong to each group
//! on a sample, and the CPU, memory and count gauges they add up to.
//!
//! Every sample reads the whole process table afresh (one read of each `/proc/PID/stat`, a file
//! [`proc_table::Reader`] keeps open between samples), so a process that exits is gone from the
//! next sample and a restarted one is found at once; nothing is followed by pid between samples. A group holds the processes its selector matches and their
//! descendants (a pre-fork server's workers, a wrapper script's program), unless a descendant is
//! matched by a group of its own. CPU is the group's CPU time (`utime + stime`) consumed between
//! the previous sample and this one, divided by the time between them.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::path::Path;
use std::time::Instant;

use prometheus::{Gauge, GaugeVec, Opts, Registry};

use crate::proc_table::{self, ProcessStat, Reader};
use crate::scenario::{ProcessSelector, WatchedProcess};

/// Name of the process-count gauge. Not `…_count`: that suffix belongs to summaries and
/// histograms, and `promtool check metrics` refuses it on a gauge.
pub const PROCESSES_GAUGE: &str = "synthex_watched_processes";

/// The watched groups with their gauges and what the previous sample saw.
pub struct WatchedGroups {
    groups: Vec<Group>,
    /// Whether a selector needs the exe path or the command line (read once per process).
    needs_exe: bool,
    needs_cmdline: bool,
    identities: HashMap<Identity, Names>,
    /// Keeps the processes' `stat` files open from one sample to the next.
    reader: Reader,
    previous: Option<Previous>,
    ticks_per_second: f64,
    page_size: u64,
}

/// One group with the gauge handles of its `process` label.
struct Group {
    name: String,
    selector: ProcessSelector,
    cpu_ratio: Gauge,
    resident_bytes: Gauge,
    processes: Gauge,
}

/// A process instance: a pid is reused, a pid with its start time is not; `comm` changes on
/// exec, when the cached exe path and command line must be read again.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Identity {
    pid: u32,
    start_ticks: u64,
    comm: OsString,
}

/// The exe file name and command line of one process, when a selector needs them.
#[derive(Debug, Default)]
struct Names {
    exe_name: Option<OsString>,
    cmdline: Option<String>,
}

/// The CPU time of every process at the previous sample, for the CPU deltas of this one.
struct Previous {
    at: Instant,
    cpu_ticks: HashMap<(u32, u64), u64>,
}

/// What the processes of one group add up to in one sample.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Usage {
    count: u64,
    cpu_ticks: u64,
    rss_pages: u64,
}

impl WatchedGroups {
    /// Registers the three per-group families and fixes one label set per group, so a group with
    /// no process reads 0 instead of disappearing. Reads `/proc` once, so a platform without it
    /// fails here, at start-up, rather than on every sample.
    pub fn register(
        processes: &[WatchedProcess],
        registry: &Registry,
    ) -> Result<WatchedGroups, prometheus::Error> {
        if !processes.is_empty() {
            proc_table::read_all().map_err(|err| {
                prometheus::Error::Msg(format!(
                    "resources.processes: cannot read the process table in /proc: {err}"
                ))
            })?;
        }
        let family = |name: &str, help: &str| -> Result<GaugeVec, prometheus::Error> {
            let vec = GaugeVec::new(Opts::new(name, help), &["process"])?;
            registry.register(Box::new(vec.clone()))?;
            Ok(vec)
        };
        let cpu = family(
            "synthex_watched_process_cpu_usage_ratio",
            "CPU seconds per second used by the group's processes between the last two samples, summed (1 = one full core).",
        )?;
        let rss = family(
            "synthex_watched_process_resident_memory_bytes",
            "Resident memory (VmRSS) of the group's processes, summed, in bytes.",
        )?;
        let count = family(
            PROCESSES_GAUGE,
            "Number of running processes in the group: those the selector matches and their descendants (0 when none).",
        )?;
        let groups = processes
            .iter()
            .map(|p| {
                let labels = [p.name.as_str()];
                Group {
                    name: p.name.clone(),
                    selector: p.selector.clone(),
                    cpu_ratio: cpu.with_label_values(&labels),
                    resident_bytes: rss.with_label_values(&labels),
                    processes: count.with_label_values(&labels),
                }
            })
            .collect();
        let needs = |f: fn(&ProcessSelector) -> bool| processes.iter().any(|p| f(&p.selector));
        Ok(WatchedGroups {
            groups,
            needs_exe: needs(|s| matches!(s, ProcessSelector::Exe(_))),
            needs_cmdline: needs(|s| matches!(s, ProcessSelector::Cmdline(_))),
            identities: HashMap::new(),
            reader: Reader::default(),
            previous: None,
            ticks_per_second: rustix::param::clock_ticks_per_second() as f64,
            page_size: rustix::param::page_size() as u64,
        })
    }

    /// Reads the process table and sets every group's gauges. Blocking (reads `/proc`).
    ///
    /// The first sample has no previous CPU times: its CPU gauges read 0.
    pub fn sample(&mut self) {
        if self.groups.is_empty() {
            return;
        }
        let table = match self.reader.read() {
            Ok(table) => table,
            Err(err) => {
                tracing::warn!(error = %err, "cannot read the process table: watched-process gauges not updated");
                return;
            }
        };
        let at = Instant::now();
        self.refresh_names(&table);
        let usage = self.usage(&table);
        let elapsed = self
            .previous
            .as_ref()
            .map(|p| at.duration_since(p.at).as_secs_f64());
        for (group, usage) in self.groups.iter().zip(usage) {
            group.processes.set(usage.count as f64);
            group
                .resident_bytes
                .set((usage.rss_pages * self.page_size) as f64);
            let cpu = match elapsed {
                Some(seconds) if seconds > 0.0 => {
                    usage.cpu_ticks as f64 / self.ticks_per_second / seconds
                }
                _ => 0.0,
            };
            group.cpu_ratio.set(cpu);
        }
        self.previous = Some(Previous {
            at,
            cpu_ticks: table
                .iter()
                .map(|p| ((p.pid, p.start_ticks), p.cpu_ticks))
                .collect(),
        });
    }

    /// Each group's name with its latest CPU ratio and resident bytes.
    pub fn latest(&self) -> impl Iterator<Item = (&str, f64, f64)> {
        self.groups
            .iter()
            .map(|g| (g.name.as_str(), g.cpu_ratio.get(), g.resident_bytes.get()))
    }

    /// Sums every group's processes: those matched directly, and the descendants whose nearest
    /// directly matched ancestor is in the group.
    fn usage(&self, table: &[ProcessStat]) -> Vec<Usage> {
        let pid_files: Vec<Option<u32>> = self
            .groups
            .iter()
            .map(|g| match &g.selector {
                ProcessSelector::PidFile(path) => read_pid_file(path),
                _ => None,
            })
            .collect();
        let direct: Vec<Vec<usize>> = table
            .iter()
            .map(|p| {
                (0..self.groups.len())
                    .filter(|&g| self.matches(g, p, pid_files[g]))
                    .collect()
            })
            .collect();
        let index: HashMap<u32, usize> =
            table.iter().enumerate().map(|(i, p)| (p.pid, i)).collect();
        let mut usage = vec![Usage::default(); self.groups.len()];
        for (i, process) in table.iter().enumerate() {
            if !process.running {
                continue;
            }
            let delta = self.cpu_delta(process);
            for &g in owners(i, table, &index, &direct) {
                usage[g].count += 1;
                usage[g].cpu_ticks += delta;
                usage[g].rss_pages += process.rss_pages;
            }
        }
        usage
    }

    /// CPU ticks used since the previous sample. A process the previous sample did not see
    /// started in between: all its CPU time falls in the interval.
    fn cpu_delta(&self, process: &ProcessStat) -> u64 {
        let Some(previous) = &self.previous else {
            return 0;
        };
        let before = previous
            .cpu_ticks
            .get(&(process.pid, process.start_ticks))
            .copied()
            .unwrap_or(0);
        process.cpu_ticks.saturating_sub(before)
    }

    fn matches(&self, group: usize, process: &ProcessStat, pid_file: Option<u32>) -> bool {
        let names = || self.identities.get(&Identity::of(process));
        match &self.groups[group].selector {
            ProcessSelector::PidFile(_) => pid_file == Some(process.pid),
            ProcessSelector::Exe(name) => {
                let name = OsStr::new(name);
                // The kernel truncates `comm` to 15 bytes, so the exe file name is checked too.
                process.comm == name || names().and_then(|n| n.exe_name.as_deref()) == Some(name)
            }
            ProcessSelector::Cmdline(regex) => names()
                .and_then(|n| n.cmdline.as_deref())
                .is_some_and(|line| regex.is_match(line)),
        }
    }

    /// Reads the exe path and command line of processes not seen before (only when a selector
    /// needs them) and forgets the processes that are gone.
    fn refresh_names(&mut self, table: &[ProcessStat]) {
        if !self.needs_exe && !self.needs_cmdline {
            return;
        }
        let mut names = HashMap::with_capacity(table.len());
        for process in table {
            let identity = Identity::of(process);
            let known = self.identities.remove(&identity).unwrap_or_else(|| Names {
                exe_name: self
                    .needs_exe
                    .then(|| proc_table::exe(process.pid))
                    .flatten()
                    .and_then(|path| path.file_name().map(OsStr::to_os_string)),
                cmdline: self
                    .needs_cmdline
                    .then(|| proc_table::cmdline(process.pid))
                    .flatten(),
            });
            names.insert(identity, known);
        }
        self.identities = names;
    }
}

impl Identity {
    fn of(process: &ProcessStat) -> Identity {
        Identity {
            pid: process.pid,
            start_ticks: process.start_ticks,
            comm: process.comm.clone(),
        }
    }
}

/// The groups process `i` counts in: those of its nearest ancestor (itself included) that a
/// selector matches directly. Bounded by the table size, so a pid-reuse cycle cannot loop.
fn owners<'a>(
    i: usize,
    table: &[ProcessStat],
    index: &HashMap<u32, usize>,
    direct: &'a [Vec<usize>],
) -> &'a [usize] {
    let mut current = i;
    for _ in 0..table.len() {
        if !direct[current].is_empty() {
            return &direct[current];
        }
        match index.get(&table[current].ppid) {
            Some(&parent) if parent != current => current = parent,
            _ => break,
        }
    }
    &[]
}

/// A missing or unparsable pid file means "not running" (count 0), not an error: services
/// remove their pid file when they stop, and a restart rewrites it.
fn read_pid_file(path: &Path) -> Option<u32> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) => {
            tracing::debug!(path = %path.display(), error = %err, "pid file unreadable");
            return None;
        }
    };
    match text.trim().parse::<u32>() {
        Ok(pid) => Some(pid),
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
        assert_eq!(read_pid_file(&path), Some(4242));
        std::fs::write(&path, "not a pid").unwrap();
        assert_eq!(read_pid_file(&path), None);
        assert_eq!(read_pid_file(&PathBuf::from("/nonexistent/x.pid")), None);
    }

    fn stat(pid: u32, ppid: u32) -> ProcessStat {
        ProcessStat {
            pid,
            ppid,
            comm: OsString::from("p"),
            running: true,
            cpu_ticks: 0,
            start_ticks: 0,
            rss_pages: 0,
        }
    }

    #[test]
    fn descendants_belong_to_the_nearest_directly_matched_ancestor() {
        // 1 ─ 10 (group 0) ─ 11 ─ 12 (group 1) ─ 13;  10 ─ 14;  1 ─ 20
        let table = [
            stat(1, 0),
            stat(10, 1),
            stat(11, 10),
            stat(12, 11),
            stat(13, 12),
            stat(14, 10),
            stat(20, 1),
        ];
        let direct = vec![vec![], vec![0], vec![], vec![1], vec![], vec![], vec![]];
        let index = table.iter().enumerate().map(|(i, p)| (p.pid, i)).collect();
        let groups: Vec<&[usize]> = (0..table.len())
            .map(|i| owners(i, &table, &index, &direct))
            .collect();
        let none: &[usize] = &[];
        assert_eq!(groups, [none, &[0], &[0], &[1], &[1], &[0], none]);
    }

    #[test]
    fn a_parent_cycle_from_reused_pids_ends() {
        let table = [stat(5, 6), stat(6, 5)];
        let direct = vec![vec![], vec![]];
        let index = table.iter().enumerate().map(|(i, p)| (p.pid, i)).collect();
        assert!(owners(0, &table, &index, &direct).is_empty());
    }
}
