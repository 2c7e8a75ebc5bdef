//! Real processes with a known CPU and memory use (workers), and the kernel's own figures for
//! them (`truth`), for the resource-sampler tests of the library, the daemon and the load test.
//!
//! A worker is this test binary run again with `SYNTHEX_SAMPLER_WORKER=<role>` on the test that
//! spawned it: every test that spawns workers calls [`worker_role`] first, which runs the role and
//! exits instead of running the test. A worker exits by itself once its parent is gone (checked
//! every 10 ms) or after two minutes, so a failing test leaves nothing running.
#![allow(dead_code)] // each test binary uses its own subset

pub mod truth;

use regex::Regex;
use synthex::scenario::{ProcessSelector, WatchedProcess};
use truth::Expected;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ROLE_ENV: &str = "SYNTHEX_SAMPLER_WORKER";
const LIFETIME: Duration = Duration::from_secs(120);

/// Runs the worker role when this process is a worker, and exits; returns otherwise.
pub fn worker_role() {
    let Ok(role) = std::env::var(ROLE_ENV) else {
        return;
    };
    let parent = std::os::unix::process::parent_id();
    let orphaned = move || std::os::unix::process::parent_id() != parent;
    let started = Instant::now();
    let alive = move || !orphaned() && started.elapsed() < LIFETIME;
    match role.split_once(':') {
        Some(("hold", mib)) => hold(mib.parse().unwrap(), alive),
        _ if role == "burn" => burn(alive),
        _ if role == "tree" => tree(alive),
        _ => idle(alive),
    }
    std::process::exit(0);
}

/// Busy for the first half of every 10 ms, asleep for the second: about half a core.
fn burn(alive: impl Fn() -> bool) {
    while alive() {
        let period = Instant::now();
        while period.elapsed() < Duration::from_millis(5) {
            std::hint::spin_loop();
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Allocates `mib` MiB and writes every page, so all of it is resident, then holds it.
fn hold(mib: usize, alive: impl Fn() -> bool) {
    let mut block = vec![0u8; mib << 20];
    for page in block.chunks_mut(4096) {
        page[0] = 1;
    }
    std::hint::black_box(&block);
    idle(alive);
    drop(block);
}

/// A parent with two children: one burning half a core, one holding 24 MiB.
fn tree(alive: impl Fn() -> bool) {
    let exe = std::env::current_exe().unwrap();
    // The test name only: the children carry neither the parent's name nor its marker, so they
    // belong to a group as descendants, never by a selector of their own.
    let test = std::env::args().nth(1).unwrap();
    let spawn = |role: &str| {
        Command::new(&exe)
            .args([test.as_str(), "--exact", "--test-threads=1"])
            .env(ROLE_ENV, role)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut children = [spawn("burn"), spawn("hold:24")];
    idle(alive);
    for child in &mut children {
        let _ = child.kill();
        let _ = child.wait();
    }
}

fn idle(alive: impl Fn() -> bool) {
    while alive() {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A running worker, killed and reaped on drop.
pub struct Worker {
    child: Child,
}

impl Worker {
    /// Starts role `role` (`burn`, `hold:MiB`, `tree`, `idle`) as a worker of test `test`.
    /// `program` runs it under another name (a symlink to this binary, for `exe:` selectors);
    /// `marker` is one more argument on its command line, for `cmdline:` selectors.
    pub fn spawn(test: &str, role: &str, program: Option<&Path>, marker: &str) -> Worker {
        let exe = std::env::current_exe().unwrap();
        let child = Command::new(program.unwrap_or(&exe))
            .args([test, "--exact", "--test-threads=1", "--skip", marker])
            .env(ROLE_ENV, role)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Worker { child }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills and reaps the worker: a zombie would still be listed in /proc.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A symlink named `name` to this test binary: a worker started through it has `name` as its
/// kernel process name (`comm`), which `exe:` selectors match.
pub fn renamed_binary(dir: &Path, name: &str) -> PathBuf {
    let link = dir.join(name);
    std::os::unix::fs::symlink(std::env::current_exe().unwrap(), &link).unwrap();
    link
}

/// Waits until `pid` has `n` running children (a `tree` worker's children have started).
pub fn wait_children(pid: u32, n: usize) -> Vec<u32> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let children = truth::children_of(pid);
        if children.len() == n {
            return children;
        }
        assert!(
            Instant::now() < deadline,
            "{pid} has children {children:?}, expected {n}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The three workers every selector is tested on: a burner (half a core) found by its pid file,
/// a holder (64 MiB) by its exe name, a parent with two children by its command line.
pub struct Service {
    pub burner: Worker,
    _holder: Worker,
    _tree: Worker,
    /// The groups `burner`, `holder` and `tree` with their pids (the tree's children included).
    pub groups: Vec<Expected>,
    pub pid_file: PathBuf,
    holder_name: String,
    marker: String,
}

impl Service {
    /// Starts the workers as workers of test `test`; `tag` keeps their names apart from those
    /// of other tests running beside this one. Returns once the holder has touched its memory.
    pub fn start(test: &str, tag: &str, dir: &Path) -> Service {
        let marker = format!("synthex-{tag}-{}", std::process::id());
        let holder_name = format!("sx{tag}{}", std::process::id());
        let burner = Worker::spawn(test, "burn", None, "-");
        let holder = Worker::spawn(
            test,
            "hold:64",
            Some(&renamed_binary(dir, &holder_name)),
            "-",
        );
        let tree = Worker::spawn(test, "tree", None, &marker);
        let pid_file = dir.join("burner.pid");
        std::fs::write(&pid_file, format!("{}\n", burner.pid())).unwrap();
        let children = wait_children(tree.pid(), 2);
        let expected = |process: &str, pids: Vec<u32>| Expected {
            process: process.to_string(),
            pids,
        };
        let groups = vec![
            expected("burner", vec![burner.pid()]),
            expected("holder", vec![holder.pid()]),
            expected("tree", [vec![tree.pid()], children].concat()),
        ];
        std::thread::sleep(Duration::from_millis(300));
        Service {
            burner,
            _holder: holder,
            _tree: tree,
            groups,
            pid_file,
            holder_name,
            marker,
        }
    }

    /// Every pid of every group.
    pub fn pids(&self) -> Vec<u32> {
        self.groups.iter().flat_map(|g| g.pids.clone()).collect()
    }

    /// The groups as the library takes them.
    pub fn watched(&self) -> Vec<WatchedProcess> {
        let group = |name: &str, selector| WatchedProcess {
            name: name.to_string(),
            selector,
        };
        vec![
            group("burner", ProcessSelector::PidFile(self.pid_file.clone())),
            group("holder", ProcessSelector::Exe(self.holder_name.clone())),
            group(
                "tree",
                ProcessSelector::Cmdline(Regex::new(&format!(" {}$", self.marker)).unwrap()),
            ),
        ]
    }

    /// The same groups as a config file's `resources:` section, sampled every second.
    pub fn resources_yaml(&self) -> String {
        format!(
            "resources:\n  interval: 1s\n  processes:\n    - {{name: burner, pid_file: {}}}\n    - {{name: holder, exe: {}}}\n    - {{name: tree, cmdline: \" {}$\"}}\n",
            self.pid_file.display(),
            self.holder_name,
            self.marker
        )
    }
}
