//! Helpers shared by the integration tests that run real processes: the synthex binary,
//! the demo target, Prometheus. Every child is killed when its guard drops, so a failing test
//! never leaves a process behind.
#![allow(dead_code)] // each test binary uses its own subset

pub mod browser;
pub mod counting_target;

pub mod load;
pub mod promql;

pub mod scripted_target;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process killed (and reaped) on drop.
pub struct Proc {
    name: String,
    child: Child,
}

impl Proc {
    /// Starts `program` with `args`, its output appended to `log` (shown when a test fails).
    pub fn spawn(name: &str, program: &str, args: &[&str], log: &Path) -> Proc {
        let mut command = Command::new(program);
        command.args(args);
        Proc::spawn_command(name, command, log)
    }

    /// Starts `command` (with its own environment), its output appended to `log`.
    pub fn spawn_command(name: &str, mut command: Command, log: &Path) -> Proc {
        let out = std::fs::File::create(log)
            .unwrap_or_else(|e| panic!("creating {}: {e}", log.display()));
        let err = out.try_clone().unwrap();
        let child = command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name} ({command:?}): {e}"));
        Proc {
            name: name.to_string(),
            child,
        }
    }

    /// Sends SIGTERM and waits up to `limit` for the exit status.
    pub fn terminate(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        self.sigterm();
        self.wait_exit(limit)
    }

    /// Sends SIGTERM and returns at once.
    pub fn sigterm(&self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
    }

    /// Waits up to `limit` for the exit status.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// The process id, for sending it signals.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
            eprintln!("killed {}", self.name);
        }
    }
}

/// Checks `ok` every 200 ms for up to 20 s while `process` runs; fails with the log at `log`
/// when the process exits or the time is up.
pub fn wait_until(mut ok: impl FnMut() -> bool, process: &mut Proc, log: &Path) {
    let text = || std::fs::read_to_string(log).unwrap_or_default();
    for _ in 0..100 {
        if ok() {
            return;
        }
        assert!(process.is_running(), "{} exited:\n{}", process.name, text());
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("{} never got there in 20 s:\n{}", process.name, text());
}

/// A free TCP port on 127.0.0.1 (bound then released; the tests bind it again at once).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `url` until it answers 200, for at most `limit`.
pub fn wait_http_ok(url: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        if http_get(url)
            .map(|(status, _)| status == 200)
            .unwrap_or(false)
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{url} did not answer 200 within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A plain GET over a std TCP stream (HTTP/1.0, no keep-alive): status and body. Keeps the
/// helpers free of an async runtime so tests can call them from any thread.
pub fn http_get(url: &str) -> std::io::Result<(u16, String)> {
    http_request("GET", url, "")
}

/// One HTTP/1.0 request over a std TCP stream: status and body.
pub fn http_request(method: &str, url: &str, body: &str) -> std::io::Result<(u16, String)> {
    use std::io::{Read, Write};
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| std::io::Error::other("only http:// URLs"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let mut stream = std::net::TcpStream::connect(authority)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: {authority}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad response: {response:.80}")))?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

/// Percent-encoding for a query string value (PromQL in `/api/v1/query?query=`).
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Starts `synthex demo-target` on 127.0.0.1:`port` (its log in `dir/target.log`) and waits
/// until it answers.
pub fn start_demo_target(port: u16, dir: &Path) -> Proc {
    let target = Proc::spawn(
        "demo-target",
        synthex_bin(),
        &["demo-target", &format!("--listen=127.0.0.1:{port}")],
        &dir.join("target.log"),
    );
    wait_http_ok(
        &format!("http://127.0.0.1:{port}/health"),
        Duration::from_secs(10),
    );
    target
}

/// The synthex binary built for these tests.
pub fn synthex_bin() -> &'static str {
    env!("CARGO_BIN_EXE_synthex")
}

/// Path of a required external tool; fails (never skips) with the install hint when missing.
/// Runs `promtool check WHAT FILE` and fails the test with promtool's own words when it refuses.
pub fn promtool_check(promtool: &str, what: &str, file: &Path) {
    let out = Command::new(promtool)
        .args(["check", what])
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool check {what}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn require_tool(name: &str, package: &str) -> String {
    for dir in ["/usr/bin", "/usr/local/bin", "/bin"] {
        let path = format!("{dir}/{name}");
        if Path::new(&path).exists() {
            return path;
        }
    }
    panic!(
        "{name} is required for this test: install Debian package `{package}` (scripts/test.sh does)"
    );
}

/// Sum of the samples of `name` on a `/metrics` page whose labels contain every one of `labels`.
pub fn metric_sum(page: &str, name: &str, labels: &[&str]) -> f64 {
    page.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .filter(|l| labels.iter().all(|want| l.contains(want)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The daemon running in this process, on the current runtime.
pub struct InProcessDaemon {
    /// Its `/metrics` URL.
    pub metrics: String,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), synthex::daemon::DaemonError>>,
}

impl InProcessDaemon {
    /// Starts `synthex run` with `config`, its exporter on a free 127.0.0.1 port.
    pub async fn start(config: synthex::scenario::Config) -> InProcessDaemon {
        let web = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let metrics = format!("http://{}/metrics", web.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(synthex::daemon::run(
            config,
            web,
            synthex::daemon::Options::default(),
            async {
                let _ = stopped.await;
            },
        ));
        InProcessDaemon {
            metrics,
            stop,
            task,
        }
    }

    /// Shuts it down as SIGTERM would and waits until it has stopped.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap().unwrap();
    }
}

/// A real Prometheus (Debian package `prometheus`) on a free 127.0.0.1 port with `config` (YAML
/// text), its data and log in `dir`; returns the process guard and its base URL once ready.
pub fn start_prometheus(dir: &Path, config: &str) -> (Proc, String) {
    start_prometheus_named(dir, "prometheus", config, &[])
}

/// [`start_prometheus`] with its files named after `name` (`NAME.yml`, `NAME.log`, `NAME-tsdb`)
/// so several share `dir`, and extra `flags` (`--enable-feature=…`).
pub fn start_prometheus_named(
    dir: &Path,
    name: &str,
    config: &str,
    flags: &[&str],
) -> (Proc, String) {
    let bin = require_tool("prometheus", "prometheus");
    let port = free_port();
    let path = dir.join(format!("{name}.yml"));
    std::fs::write(&path, config).unwrap();
    let mut args = vec![
        format!("--config.file={}", path.display()),
        format!(
            "--storage.tsdb.path={}",
            dir.join(format!("{name}-tsdb")).display()
        ),
        format!("--web.listen-address=127.0.0.1:{port}"),
    ];
    args.extend(flags.iter().map(|f| f.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let proc = Proc::spawn(name, &bin, &args, &dir.join(format!("{name}.log")));
    let url = format!("http://127.0.0.1:{port}");
    wait_http_ok(&format!("{url}/-/ready"), Duration::from_secs(30));
    (proc, url)
}
