//! Secrets never leave synthex in anything it prints. The real binary runs with a secret in
//! every place a config can hold one (a password in `base_url`, an API key in a request's query,
//! header values and a bearer token from the environment, a password and a key in an unreachable
//! stats URL, a password in the proxy URL), in `check-config`, `run` and `load`, in logfmt and
//! JSON, at `--log.level=trace` (every library's own tracing too); then everything it wrote
//! (stdout, stderr, the reports directory, `/metrics`, the status page) is searched for them.
//!
//! The JSON log lines are also parsed: each key appears once, `target` is the synthex target.

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{Proc, free_port, http_get, start_demo_target, synthex_bin};

/// Every secret of the config, with the environment variable it comes from (if any).
const SECRETS: [(&str, &str); 7] = [
    ("SYNTHEX_T_BASE_PASS", "basepw-S3CR3T-1"),
    ("SYNTHEX_T_HEADER", "hdr-S3CR3T-2"),
    ("SYNTHEX_T_BEARER", "bearer-S3CR3T-3"),
    ("SYNTHEX_T_PROXY_PASS", "proxypw-S3CR3T-4"),
    ("", "query-S3CR3T-5"),
    ("", "statspw-S3CR3T-6"),
    ("", "statskey-S3CR3T-7"),
];

fn config(target_port: u16, closed_port: u16) -> String {
    format!(
        r#"targets:
  - name: api
    base_url: "http://alice:${{SYNTHEX_T_BASE_PASS}}@127.0.0.1:{target_port}"
    rate: 10/s
    timeout: 1s
    headers: {{X-Api-Key: "${{SYNTHEX_T_HEADER}}"}}
    stats:
      url: "http://bob:statspw-S3CR3T-6@127.0.0.1:{closed_port}/stats?Api_Key=statskey-S3CR3T-7&page=1"
      interval: 1s
      fields: {{hits: /hits}}
    scenarios:
      - name: health
        request: {{path: "/health?access_token=query-S3CR3T-5"}}
  - name: proxied
    base_url: http://127.0.0.1:{closed_port}
    proxy: "http://carol:${{SYNTHEX_T_PROXY_PASS}}@127.0.0.1:{closed_port}"
    bearer_token: "${{SYNTHEX_T_BEARER}}"
    rate: 2/s
    timeout: 1s
    scenarios:
      - name: anything
        request: {{path: "/x?token=query-S3CR3T-5"}}
"#
    )
}

fn command(args: &[&str]) -> Command {
    let mut command = Command::new(synthex_bin());
    command.args(args).env_remove("RUST_LOG");
    for (var, secret) in SECRETS {
        if !var.is_empty() {
            command.env(var, secret);
        }
    }
    command
}

/// Fails naming the secret and the line it was found in.
fn assert_clean(what: &str, text: &str) {
    for (_, secret) in SECRETS {
        if let Some(line) = text.lines().find(|l| l.contains(secret)) {
            panic!("{what} shows the secret {secret}: {line}");
        }
    }
    // The basic-auth header reqwest builds from the URL's user info.
    assert!(
        !text.contains("YWxpY2U6YmFzZXB3"),
        "{what} shows the encoded credentials"
    );
}

fn all_output(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Each key of a logfmt line appears once (keys are the `key=` parts outside quotes).
fn logfmt_keys(line: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut in_quotes = false;
    let mut escaped = false;
    let mut start = 0;
    for (i, c) in line.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_quotes => escaped = true,
            '"' => in_quotes = !in_quotes,
            ' ' if !in_quotes => start = i + 1,
            '=' if !in_quotes && start <= i => {
                keys.push(line[start..i].to_string());
                start = usize::MAX;
            }
            _ => {}
        }
    }
    keys
}

/// Runs the daemon for a few seconds in `format`, reads `/metrics` and the status page, stops
/// it, and returns everything it showed.
fn run_daemon(config: &Path, format: &str, dir: &Path) -> (String, String) {
    let port = free_port();
    let log = dir.join(format!("run-{format}.log"));
    let mut daemon = Proc::spawn_command(
        "synthex run",
        command(&[
            "run",
            &format!("--config.file={}", config.display()),
            &format!("--web.listen-address=127.0.0.1:{port}"),
            "--log.level=trace",
            &format!("--log.format={format}"),
        ]),
        &log,
    );
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    // Until the failed stats polls and failed requests have been logged and counted.
    let metrics = loop {
        let metrics = http_get(&format!("{base}/metrics"))
            .map(|(_, body)| body)
            .unwrap_or_default();
        if metrics.contains("synthex_stats_poll_failures_total{target=\"api\"} 2") {
            break metrics;
        }
        assert!(Instant::now() < deadline, "no failed polls: {metrics}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let (_, status_page) = http_get(&format!("{base}/")).unwrap();
    assert!(status_page.contains("proxied"), "{status_page}");
    let status = daemon.terminate(Duration::from_secs(10));
    assert!(status.is_some(), "the daemon did not stop");
    let logs = std::fs::read_to_string(&log).unwrap();
    (logs, format!("{metrics}\n{status_page}"))
}

#[test]
fn no_secret_reaches_logs_errors_metrics_status_page_or_reports() {
    let dir = tempfile::tempdir().unwrap();
    let target_port = free_port();
    let _target = start_demo_target(target_port, dir.path());
    let closed_port = free_port();
    let config_path = dir.path().join("synthex.yml");
    std::fs::write(&config_path, config(target_port, closed_port)).unwrap();

    let checked = command(&["check-config", &config_path.display().to_string()])
        .output()
        .unwrap();
    assert_eq!(checked.status.code(), Some(0), "{}", all_output(&checked));
    let described = all_output(&checked);
    assert!(
        described.contains("alice:<redacted>@") && described.contains("access_token=<redacted>"),
        "{described}"
    );
    assert_clean("check-config", &described);

    // A config error that quotes a URL written with its password in the file.
    let bad = dir.path().join("bad.yml");
    std::fs::write(
        &bad,
        "targets:\n  - name: x\n    base_url: \"ftp://eve:query-S3CR3T-5@host/\"\n    scenarios: [{name: a, request: {path: /}}]\n",
    )
    .unwrap();
    let refused = command(&["check-config", &bad.display().to_string()])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2), "{}", all_output(&refused));
    assert!(all_output(&refused).contains("ftp://eve:<redacted>@host/"));
    assert_clean("check-config error", &all_output(&refused));

    for format in ["logfmt", "json"] {
        let (logs, pages) = run_daemon(&config_path, format, dir.path());
        assert!(
            logs.contains("stats endpoint poll failed"),
            "{format}: {logs:.2000}"
        );
        assert!(logs.contains("<redacted>"), "{format}: nothing redacted");
        assert_clean(&format!("run --log.format={format}"), &logs);
        assert_clean("/metrics and status page", &pages);
        for line in logs
            .lines()
            .filter(|l| l.contains("stats endpoint poll failed"))
        {
            let keys: Vec<String> = match format {
                "json" => {
                    let parsed: serde_json::Map<String, serde_json::Value> =
                        serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
                    assert_eq!(parsed["target"], "api", "{line}");
                    assert_eq!(parsed["module"], "synthex::stats_poller", "{line}");
                    assert_eq!(parsed["level"], "warn", "{line}");
                    // Keys as written, so a repeated one is not merged away by the parser.
                    line.match_indices("\":")
                        .filter_map(|(end, _)| line[..end].rfind(['{', ',']).map(|s| (s, end)))
                        .filter(|(s, end)| line[*s + 1..*end].starts_with('"'))
                        .map(|(s, end)| line[s + 2..end].to_string())
                        .collect()
                }
                _ => {
                    assert!(line.contains(" target=api "), "{line}");
                    logfmt_keys(line)
                }
            };
            let unique: HashSet<&String> = keys.iter().collect();
            assert_eq!(unique.len(), keys.len(), "a key repeats in {line}");
            assert!(keys.len() >= 6, "{keys:?} from {line}");
        }
    }

    let out = dir.path().join("reports");
    let loaded = command(&[
        "load",
        &format!("--config.file={}", config_path.display()),
        "--rate=10",
        "--duration=2s",
        "--quiet",
        "--log.level=trace",
        "--log.format=json",
        &format!("--out={}", out.display()),
    ])
    .output()
    .unwrap();
    let load_output = all_output(&loaded);
    assert!(
        matches!(loaded.status.code(), Some(0 | 3)),
        "{load_output:.3000}"
    );
    assert_clean("load", &load_output);
    let mut files = 0;
    for entry in std::fs::read_dir(&out).unwrap() {
        let path = entry.unwrap().path();
        let content = std::fs::read_to_string(&path).unwrap();
        assert_clean(&path.display().to_string(), &content);
        files += 1;
    }
    assert!(files >= 6, "{files} report files");
    let failures = std::fs::read_to_string(out.join("synthex_failures.csv")).unwrap();
    assert!(failures.contains("proxied"), "{failures}");
}
