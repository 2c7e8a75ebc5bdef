//! What one resource sample costs on a host with many processes: 500 extra `sleep` processes
//! beside whatever runs, three watched groups (exe name, command-line regex, pid file), so every
//! sample reads the whole process table and matches every process. Reports the CPU time of one
//! sample (this process's utime + stime, which a loaded machine does not inflate as it does wall
//! time) and the share of one core that is at the default 5 s interval.
//!
//! Run: `cargo bench --bench sampler`

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use prometheus::Registry;
use regex::Regex;
use synthex::sampler::Sampler;
use synthex::scenario::{ProcessSelector, Resources, WatchedProcess};

const EXTRA_PROCESSES: usize = 500;
const SAMPLES: usize = 300;

/// This process's CPU time so far (utime + stime), in seconds.
fn own_cpu_seconds() -> f64 {
    let stat = std::fs::read("/proc/self/stat").unwrap();
    let me = synthex::proc_table::parse_stat(std::process::id(), &stat).unwrap();
    me.cpu_ticks as f64 / rustix::param::clock_ticks_per_second() as f64
}

fn main() {
    let mut extra: Vec<Child> = (0..EXTRA_PROCESSES)
        .map(|_| {
            Command::new("sleep")
                .arg("120")
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    let pid_file = std::env::temp_dir().join(format!("synthex-bench-{}.pid", std::process::id()));
    std::fs::write(&pid_file, extra[0].id().to_string()).unwrap();
    let group = |name: &str, selector| WatchedProcess {
        name: name.to_string(),
        selector,
    };
    let resources = Resources {
        interval: Duration::from_secs(5),
        processes: vec![
            group("api", ProcessSelector::Exe("sleep".into())),
            group(
                "worker",
                ProcessSelector::Cmdline(Regex::new("^sleep 12[0-9]$").unwrap()),
            ),
            group("db", ProcessSelector::PidFile(pid_file.clone())),
        ],
    };
    let mut sampler = Sampler::new(&resources, &Registry::new()).unwrap();
    // The first sample also reads every new process's exe path and command line.
    let first = Instant::now();
    sampler.sample_once();
    let first = first.elapsed();
    let wall = Instant::now();
    let cpu_before = own_cpu_seconds();
    for _ in 0..SAMPLES {
        sampler.sample_once();
    }
    let per_sample = (own_cpu_seconds() - cpu_before) / SAMPLES as f64;
    let wall = wall.elapsed() / SAMPLES as u32;
    let processes = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        .count();
    println!(
        "{processes} processes: first sample {first:?} wall; then {:.2} ms CPU ({wall:?} wall) \
         per sample: {:.3} % of a core at a 5 s interval",
        per_sample * 1000.0,
        per_sample / 5.0 * 100.0
    );
    for child in &mut extra {
        let _ = child.kill();
        let _ = child.wait();
    }
    let _ = std::fs::remove_file(pid_file);
}
