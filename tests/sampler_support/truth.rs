//! The kernel's own figures, read by the test itself: CPU ticks (`utime + stime` of
//! `/proc/PID/stat`), `VmRSS` of `/proc/PID/status`, the `cpu` line of `/proc/stat` and
//! `/proc/meminfo`. Written apart from synthex's reader so a shared mistake cannot hide.
//!
//! A sample is checked against the figures of a window: its start lies between two snapshots
//! (`prev`) and its end between two others (`now`), so the true value lies between the lowest and
//! the highest value those four allow; the gauge must be within 10 % of that range.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Relative tolerance the issue allows against /proc.
pub const TOLERANCE: f64 = 0.10;

/// Clock ticks per second, from `getconf CLK_TCK`.
pub fn clock_ticks() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        let out = std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    })
}

/// `utime + stime` of `pid`, in ticks; `None` once it is gone.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the name's closing parenthesis: state is field 3, utime 14, stime 15.
    let after = &text[text.rfind(')')? + 2..];
    let fields: Vec<u64> = after
        .split(' ')
        .skip(1)
        .map(|f| f.trim().parse().unwrap_or(0))
        .collect();
    Some(fields[10] + fields[11])
}

/// `VmRSS` of `pid` in bytes; `None` once it is gone.
pub fn vm_rss(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The pids whose parent is `pid` (from each process's `PPid:` in `/proc/PID/status`).
pub fn children_of(pid: u32) -> Vec<u32> {
    let mut children = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(status) = std::fs::read_to_string(format!("/proc/{child}/status")) else {
            continue;
        };
        let ppid = status
            .lines()
            .find_map(|l| l.strip_prefix("PPid:"))
            .and_then(|v| v.trim().parse::<u32>().ok());
        let zombie = status.lines().any(|l| l.starts_with("State:\tZ"));
        if ppid == Some(pid) && !zombie {
            children.push(child);
        }
    }
    children
}

/// The kernel's figures at one instant, for a set of pids and the host.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub at: Instant,
    /// Seconds since the Unix epoch (to place load-report samples, which carry wall time).
    pub wall: f64,
    cpu_ticks: HashMap<u32, u64>,
    rss: HashMap<u32, u64>,
    host_busy: u64,
    host_total: u64,
    memory_used: u64,
    pub memory_total: u64,
}

impl Snapshot {
    /// Reads the figures of `pids` (those gone are left out) and of the host now.
    pub fn take(pids: &[u32]) -> Snapshot {
        let at = Instant::now();
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let stat = std::fs::read_to_string("/proc/stat").unwrap();
        let jiffies: Vec<u64> = stat
            .lines()
            .next()
            .unwrap()
            .split_whitespace()
            .skip(1)
            .map(|v| v.parse().unwrap())
            .collect();
        // user nice system idle iowait irq softirq steal (guest is inside user): idle + iowait
        // are the idle time.
        let host_total: u64 = jiffies.iter().take(8).sum();
        let host_busy = host_total - jiffies[3] - jiffies[4];
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
        let kib = |key: &str| -> u64 {
            meminfo
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap()
                * 1024
        };
        let memory_total = kib("MemTotal:");
        Snapshot {
            at,
            wall,
            cpu_ticks: pids
                .iter()
                .filter_map(|&p| Some((p, cpu_ticks(p)?)))
                .collect(),
            rss: pids.iter().filter_map(|&p| Some((p, vm_rss(p)?))).collect(),
            host_busy,
            host_total,
            memory_used: memory_total - kib("MemAvailable:"),
            memory_total,
        }
    }

    fn ticks(&self, pids: &[u32]) -> u64 {
        pids.iter().filter_map(|p| self.cpu_ticks.get(p)).sum()
    }

    fn rss(&self, pids: &[u32]) -> u64 {
        pids.iter().filter_map(|p| self.rss.get(p)).sum()
    }
}

/// The window of one sample: it started between `prev.0` and `prev.1` and ended between
/// `now.0` and `now.1`.
pub struct Window<'a> {
    pub prev: (&'a Snapshot, &'a Snapshot),
    pub now: (&'a Snapshot, &'a Snapshot),
}

impl Window<'_> {
    fn seconds(&self) -> (f64, f64) {
        let shortest = self.now.0.at.duration_since(self.prev.1.at).as_secs_f64();
        let longest = self.now.1.at.duration_since(self.prev.0.at).as_secs_f64();
        (shortest, longest)
    }

    /// CPU seconds per second of `pids` over the window: lowest and highest possible.
    pub fn process_cpu(&self, pids: &[u32]) -> (f64, f64) {
        let (shortest, longest) = self.seconds();
        let least = self
            .now
            .0
            .ticks(pids)
            .saturating_sub(self.prev.1.ticks(pids));
        let most = self
            .now
            .1
            .ticks(pids)
            .saturating_sub(self.prev.0.ticks(pids));
        (
            least as f64 / clock_ticks() / longest,
            most as f64 / clock_ticks() / shortest,
        )
    }

    /// Summed `VmRSS` of `pids` at the end of the window: lowest and highest.
    pub fn process_rss(&self, pids: &[u32]) -> (f64, f64) {
        let (a, b) = (self.now.0.rss(pids), self.now.1.rss(pids));
        (a.min(b) as f64, a.max(b) as f64)
    }

    /// Host busy share of all cores over the window: lowest and highest possible.
    pub fn host_cpu(&self) -> (f64, f64) {
        let (p0, p1, n0, n1) = (self.prev.0, self.prev.1, self.now.0, self.now.1);
        let least = n0.host_busy.saturating_sub(p1.host_busy) as f64
            / n1.host_total.saturating_sub(p0.host_total) as f64;
        let most = n1.host_busy.saturating_sub(p0.host_busy) as f64
            / n0.host_total.saturating_sub(p1.host_total).max(1) as f64;
        (least, most.min(1.0))
    }

    /// Host memory in use (MemTotal − MemAvailable) at the end of the window: lowest and highest.
    pub fn host_memory_used(&self) -> (f64, f64) {
        let (a, b) = (self.now.0.memory_used, self.now.1.memory_used);
        (a.min(b) as f64, a.max(b) as f64)
    }
}

/// `Err` naming `what` when `value` is not within [`TOLERANCE`] of the range `(low, high)`.
pub fn within(what: &str, value: f64, (low, high): (f64, f64)) -> Result<(), String> {
    let ok = value >= low * (1.0 - TOLERANCE) && value <= high * (1.0 + TOLERANCE);
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{what}: synthex {value:.4}, /proc {low:.4}..{high:.4} (±{:.0} %)",
            TOLERANCE * 100.0
        ))
    }
}

/// Gauge names, as the daemon exports them and as [`compare`] asks for them.
pub const CPU: &str = "synthex_watched_process_cpu_usage_ratio";
pub const RSS: &str = "synthex_watched_process_resident_memory_bytes";
pub const COUNT: &str = "synthex_watched_processes";
pub const HOST_CPU: &str = "synthex_host_cpu_usage_ratio";
pub const HOST_USED: &str = "synthex_host_memory_used_bytes";
pub const HOST_TOTAL: &str = "synthex_host_memory_total_bytes";

/// One watched group and the pids the test knows belong to it.
pub struct Expected {
    pub process: String,
    pub pids: Vec<u32>,
}

/// Compares one sample with the kernel's figures over its window and returns what differs.
/// `read(metric, process)` gives the sample's value; `None` skips a figure the source lacks
/// (a load report has no process count).
pub fn compare(
    read: &dyn Fn(&str, Option<&str>) -> Option<f64>,
    window: &Window,
    groups: &[Expected],
) -> Vec<String> {
    let mut wrong = Vec::new();
    for group in groups {
        let (name, pids) = (group.process.as_str(), &group.pids);
        if let Some(count) = read(COUNT, Some(name))
            && count != pids.len() as f64
        {
            wrong.push(format!("{name}: count {count}, expected {}", pids.len()));
        }
        if let Some(cpu) = read(CPU, Some(name)) {
            wrong.extend(within(&format!("{name} cpu"), cpu, window.process_cpu(pids)).err());
        }
        if let Some(rss) = read(RSS, Some(name)) {
            wrong.extend(within(&format!("{name} rss"), rss, window.process_rss(pids)).err());
        }
    }
    if let Some(cpu) = read(HOST_CPU, None) {
        wrong.extend(within("host cpu", cpu, window.host_cpu()).err());
    }
    if let Some(used) = read(HOST_USED, None) {
        wrong.extend(within("host memory used", used, window.host_memory_used()).err());
    }
    if let Some(total) = read(HOST_TOTAL, None)
        && total != window.now.0.memory_total as f64
    {
        wrong.push(format!(
            "host memory total {total}, /proc/meminfo {}",
            window.now.0.memory_total
        ));
    }
    wrong
}
