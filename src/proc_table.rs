//! The kernel's process table, read from `/proc` the way the resource sampler needs it.
//!
//! One `/proc/PID/stat` read per process gives everything a sample needs: the parent (to count a
//! service's children), the state (zombies are gone), the CPU time and the resident set. The
//! values are the kernel's own counters, so the gauges built from them match what `ps`, `top` and
//! `/proc/PID/status` say. Threads are not listed: `/proc` lists thread-group leaders only, and
//! their `stat` sums the CPU time of every thread.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

/// A process as one `/proc/PID/stat` read shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessStat {
    /// Process id.
    pub pid: u32,
    /// Parent process id (0 for the kernel's own roots).
    pub ppid: u32,
    /// The kernel's process name (`comm`, at most 15 bytes).
    pub comm: OsString,
    /// False for a zombie or dead process: it has exited and only waits to be reaped.
    pub running: bool,
    /// User plus system CPU time, in clock ticks (`utime + stime`).
    pub cpu_ticks: u64,
    /// Start time in clock ticks since boot: with the pid, it tells a reused pid apart.
    pub start_ticks: u64,
    /// Resident set in pages: the same counters as `VmRSS` in `/proc/PID/status`.
    pub rss_pages: u64,
}

/// Every process in `/proc`, each `stat` file opened and closed for this one reading: the
/// check at start-up that `/proc` can be read at all. Samples use a [`Reader`].
///
/// Fails only when `/proc` itself cannot be listed (not Linux, or `/proc` not mounted).
pub fn read_all() -> io::Result<Vec<ProcessStat>> {
    Reader::default().read()
}

/// Reads the process table again and again, keeping each process's `/proc/PID/stat` open
/// between readings: procfs produces the line afresh for every read at offset 0, so a reading
/// costs one `pread` per known process instead of `open`, `read` and `close`, which roughly
/// halves the kernel time of a sample. An open `stat` file stays tied to its process: once that
/// process is reaped it fails with `ESRCH` (even if its pid is reused), and the pid's file is
/// opened anew.
#[derive(Debug, Default)]
pub struct Reader {
    /// The `stat` files of the processes the previous reading saw, by pid.
    held: HashMap<u32, File>,
}

/// At most this many `stat` files are kept open (processes beyond it are read with `open`,
/// `read` and `close`, as before), so a host with thousands of processes cannot use up the
/// daemon's file descriptors (a soft limit of 1024 is common), which its connections need.
const MAX_HELD: usize = 256;

impl Reader {
    /// Every process in `/proc`. A process that exits while the table is read is left out.
    ///
    /// Fails only when `/proc` itself cannot be listed (not Linux, or `/proc` not mounted).
    pub fn read(&mut self) -> io::Result<Vec<ProcessStat>> {
        let mut table = Vec::with_capacity(self.held.len());
        let mut held = HashMap::with_capacity(self.held.len());
        let mut buffer = [0u8; STAT_BUFFER];
        for entry in std::fs::read_dir("/proc")? {
            let Some(pid) = entry?.file_name().to_str().and_then(|s| s.parse().ok()) else {
                continue;
            };
            // A held file that fails belonged to a process that is gone: its pid may be a
            // new process's now.
            let kept = self
                .held
                .remove(&pid)
                .and_then(|file| read_stat(pid, &file, &mut buffer).map(|stat| (file, stat)));
            // Gone between the listing and the read, or not readable: not part of this sample.
            let Some((file, stat)) = kept.or_else(|| {
                let file = File::open(format!("/proc/{pid}/stat")).ok()?;
                read_stat(pid, &file, &mut buffer).map(|stat| (file, stat))
            }) else {
                continue;
            };
            table.push(stat);
            if held.len() < MAX_HELD {
                held.insert(pid, file);
            }
        }
        // The files of processes no longer listed are closed here.
        self.held = held;
        Ok(table)
    }
}

/// Room for one `/proc/PID/stat` line: 52 fields of at most 20 digits and a 15-byte name come
/// to about 1.1 KB.
const STAT_BUFFER: usize = 4096;

/// Reads an open `/proc/PID/stat` with one `pread` at offset 0 into `buffer`: procfs produces
/// the whole line for a read with room for it. `std::fs::read` would also `statx` the file and
/// read it in growing chunks until a read returns nothing, which on a host with a thousand
/// processes is most of a sample's cost.
fn read_stat(pid: u32, file: &File, buffer: &mut [u8; STAT_BUFFER]) -> Option<ProcessStat> {
    let length = file.read_at(buffer, 0).ok()?;
    // A full buffer would be a line this parser has never seen: refuse rather than truncate.
    if length == buffer.len() {
        return None;
    }
    parse_stat(pid, buffer.get(..length)?)
}

/// Parses one `/proc/PID/stat` line (see proc_pid_stat(5)). The name is in parentheses and may
/// itself hold spaces and parentheses, so the fields are counted from its last `)`.
pub fn parse_stat(pid: u32, bytes: &[u8]) -> Option<ProcessStat> {
    let open = bytes.iter().position(|&b| b == b'(')?;
    let close = bytes.iter().rposition(|&b| b == b')')?;
    let comm = OsString::from(String::from_utf8_lossy(bytes.get(open + 1..close)?).into_owned());
    let rest = std::str::from_utf8(bytes.get(close + 1..)?).ok()?;
    // Field 3 (state) is the first after the name; proc_pid_stat(5) numbers fields from 1.
    let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
    let field = |n: usize| -> Option<u64> { fields.get(n - 3)?.parse().ok() };
    let state = fields.first()?;
    Some(ProcessStat {
        pid,
        ppid: u32::try_from(field(4)?).ok()?,
        comm,
        running: !matches!(*state, "Z" | "X" | "x"),
        cpu_ticks: field(14)?.saturating_add(field(15)?),
        start_ticks: field(22)?,
        rss_pages: field(24)?,
    })
}

/// The executable's path (`/proc/PID/exe`); `None` for kernel threads or without permission.
pub fn exe(pid: u32) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/exe")).ok()
}

/// The command line with its arguments joined by single spaces; `None` once the process is gone.
pub fn cmdline(pid: u32) -> Option<String> {
    let bytes = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let args: Vec<_> = bytes
        .split(|&b| b == 0)
        .filter(|arg| !arg.is_empty())
        .map(String::from_utf8_lossy)
        .collect();
    Some(args.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn stat_fields_are_counted_from_the_last_parenthesis() {
        let line = b"4242 (a) b (c)) S 17 4242 4242 0 -1 4194560 500 0 0 0 \
            120 35 0 0 20 0 3 0 98765 123456789 2048 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
        let stat = parse_stat(4242, line).unwrap();
        assert_eq!(stat.comm, "a) b (c)");
        assert_eq!(stat.ppid, 17);
        assert!(stat.running);
        assert_eq!(stat.cpu_ticks, 155);
        assert_eq!(stat.start_ticks, 98765);
        assert_eq!(stat.rss_pages, 2048);
    }

    #[test]
    fn zombies_are_not_running_and_truncated_lines_are_refused() {
        let zombie = b"7 (x) Z 1 7 7 0 -1 0 0 0 0 0 3 4 0 0 20 0 1 0 55 0 0 0\n";
        let stat = parse_stat(7, zombie).unwrap();
        assert!(!stat.running);
        assert_eq!(stat.cpu_ticks, 7);
        assert_eq!(parse_stat(7, b"7 (x) S 1 7 7"), None);
        assert_eq!(parse_stat(7, b"garbage"), None);
    }

    /// A child process killed and reaped when dropped, so a failing test leaves none behind.
    struct Child(std::process::Child);

    impl Child {
        fn spawn(script: &str) -> Child {
            Child(
                std::process::Command::new("sh")
                    .args(["-c", script])
                    .spawn()
                    .unwrap(),
            )
        }
    }

    impl Drop for Child {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    fn find(table: Vec<ProcessStat>, pid: u32) -> Option<ProcessStat> {
        table.into_iter().find(|p| p.pid == pid)
    }

    /// A kept `stat` file reads the process's current figures, a process started after the
    /// first reading is listed by the next, and one that exits and is reaped is dropped.
    #[test]
    fn a_reader_follows_processes_that_start_run_and_exit() {
        let mut reader = Reader::default();
        let busy = Child::spawn("while :; do :; done");
        let pid = busy.0.id();
        let first = find(reader.read().unwrap(), pid).unwrap();
        assert!(reader.held.contains_key(&pid));
        let deadline = Instant::now() + Duration::from_secs(10);
        let later = loop {
            let later = find(reader.read().unwrap(), pid).unwrap();
            if later.cpu_ticks > first.cpu_ticks || Instant::now() > deadline {
                break later;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(later.cpu_ticks > first.cpu_ticks, "{first:?} {later:?}");
        assert_eq!(later.start_ticks, first.start_ticks);

        let started = Child::spawn("sleep 30");
        let new = find(reader.read().unwrap(), started.0.id()).unwrap();
        assert!(new.running);
        // Gone, unless the pid was already reused by another process.
        let gone = |table, stat: &ProcessStat| {
            find(table, stat.pid).is_none_or(|p| p.start_ticks != stat.start_ticks)
        };
        drop(busy);
        assert!(gone(reader.read().unwrap(), &first));
        drop(started);
        assert!(gone(reader.read().unwrap(), &new));
    }

    #[test]
    fn this_process_reads_as_running_with_memory() {
        let me = std::process::id();
        let stat = read_all()
            .unwrap()
            .into_iter()
            .find(|p| p.pid == me)
            .unwrap();
        assert!(stat.running && stat.rss_pages > 0);
        assert_eq!(stat.ppid, std::os::unix::process::parent_id());
        let args: Vec<String> = std::env::args().collect();
        assert_eq!(cmdline(me), Some(args.join(" ")));
        assert_eq!(exe(me), std::env::current_exe().ok());
    }
}
