//! `synthex load` against the demo target: the target, its own request count and the command,
//! shared by the load-test suites.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use synthex::report::json;
use synthex::report::model::Report;

use super::{Proc, free_port, http_get, http_request, start_demo_target, synthex_bin};

/// A demo target on a free port, killed on drop.
pub struct Target {
    _proc: Proc,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Where configs, logs and reports of the test go.
    pub dir: tempfile::TempDir,
}

impl Target {
    /// Starts the demo target.
    pub fn start() -> Target {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let proc = start_demo_target(port, dir.path());
        let base = format!("http://127.0.0.1:{port}");
        Target {
            _proc: proc,
            base,
            dir,
        }
    }

    /// Runs a shipped example (`config/NAME`, its URLs pointed at this target; the files it
    /// reads must already be beside it in `self.dir`) with 2 users for 2 s, checks that it ran
    /// clean, and returns its report and the demo target's own `/stats`, the count to check the
    /// report against.
    pub fn run_example(&self, name: &str) -> (Report, serde_json::Value) {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        let example = std::fs::read_to_string(root.join(name))
            .unwrap()
            .replace("http://127.0.0.1:8089", &self.base);
        let config = self.dir.path().join(name);
        std::fs::write(&config, example).unwrap();
        let out = self.dir.path().join("out");
        let output = load(
            &config,
            &[
                "--users=2",
                "--duration=2s",
                &format!("--out={}", out.display()),
            ],
        );
        assert_eq!(output.status.code(), Some(0), "{}", text(&output));
        let report = json::read(&out.join("report.json")).unwrap();
        let (requests, failures, _) = report.total();
        assert!(requests > 10, "{requests}");
        assert_eq!(failures, 0, "{:?}", report.failures);
        let (_, stats) = http_get(&format!("{}/stats", self.base)).unwrap();
        (report, serde_json::from_str(&stats).unwrap())
    }

    /// Writes a config with `scenarios` (YAML list items) against this target.
    pub fn config(&self, name: &str, scenarios: &str, extra: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(
            &path,
            format!(
                "targets:\n  - name: demo\n    base_url: {}\n    rate: 1/s\n    timeout: 5s\n    scenarios:\n{scenarios}{extra}",
                self.base
            ),
        )
        .unwrap();
        path
    }

    /// Requests the demo target has served, by its own count.
    pub fn requests_served(&self) -> u64 {
        let (_, body) = http_get(&format!("{}/stats", self.base)).unwrap();
        let stats: serde_json::Value = serde_json::from_str(&body).unwrap();
        stats["requests_total"].as_u64().unwrap()
    }

    /// Sets a fault on the demo target.
    pub fn fault(&self, query: &str) {
        let (status, body) =
            http_request("PUT", &format!("{}/fault?{query}", self.base), "").unwrap();
        assert_eq!(status, 200, "{body}");
    }

    /// Clears the demo target's fault.
    pub fn heal(&self) {
        let (status, _) = http_request("DELETE", &format!("{}/fault", self.base), "").unwrap();
        assert_eq!(status, 200);
    }
}

/// `synthex load --config.file=CONFIG --quiet ARGS…`, ready to run.
pub fn load_command(config: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(synthex_bin());
    command
        .arg("load")
        .arg(format!("--config.file={}", config.display()))
        .arg("--quiet")
        .args(args);
    command
}

/// Runs `synthex load` to the end.
pub fn load(config: &Path, args: &[&str]) -> Output {
    load_command(config, args).output().unwrap()
}

/// Exit status, stdout and stderr, for assertion messages.
pub fn text(output: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// `synthex load --config.file=CONFIG --out=OUT --quiet ARGS…`, ready to run.
fn load_to_command(config: &Path, out: &Path, args: &[&str]) -> Command {
    let mut command = load_command(config, args);
    command.arg(format!("--out={}", out.display()));
    command
}

/// Runs `synthex load` to the end with its reports written into `out`.
pub fn load_to(config: &Path, out: &Path, args: &[&str]) -> Output {
    load_to_command(config, out, args).output().unwrap()
}

/// `synthex load --quiet --out=OUT` with `args`, run to its end on a blocking thread, so that a
/// test's own servers on its runtime keep answering meanwhile.
pub async fn load_off_runtime(config: &Path, out: &Path, args: &[&str]) -> Output {
    let mut command = load_to_command(config, out, args);
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

/// The `report.json` a run wrote into `out`, as raw JSON (for fields as they are spelt on disk).
pub fn report_json(out: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(out.join("report.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Writes `dir/FILE`: one target `api` at `base` (1/s, no backoff, 5 s timeout) with
/// `scenarios` (YAML list items), then `extra` (top-level YAML such as a `load:` section).
pub fn api_config(dir: &Path, file: &str, base: &str, scenarios: &str, extra: &str) -> PathBuf {
    let path = dir.join(file);
    std::fs::write(
        &path,
        format!(
            "targets:\n  - name: api\n    base_url: {base}\n    rate: 1/s\n    backoff: off\n    timeout: 5s\n    scenarios:\n{scenarios}{extra}"
        ),
    )
    .unwrap();
    path
}
