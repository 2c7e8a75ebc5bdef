//! Every number, duration, rate and size has a documented range (docs/configuration.md,
//! docs/load-testing.md, `--help`): the real binary refuses a value outside it with exit status 2
//! and its location — file:line:column for the config and profile files, the flag's name on the
//! command line — before anything starts; and a daemon configured at every upper edge at once
//! runs and stops cleanly (no overflow, no panic).

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{Proc, free_port, synthex_bin, wait_http_ok};

fn run(args: &[String]) -> (i32, String) {
    let out = Command::new(synthex_bin()).args(args).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// A target whose `key: value` lines go under `targets[0]` (at line 4), or under `global:` for
/// keys starting with `global.`.
fn config(dir: &Path, name: &str, line: &str) -> String {
    let (global, target) = match line.strip_prefix("global.") {
        Some(global) => (format!("global:\n  {global}\n"), String::new()),
        None => (String::new(), format!("    {line}\n")),
    };
    let text = format!(
        "{global}targets:\n  - name: api\n    base_url: http://127.0.0.1:9\n{target}    rate: 1/s\n    scenarios: [{{name: a, request: {{path: /}}}}]\n"
    );
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[rustfmt::skip]
const CONFIG_CASES: &[(&str, &str, &str)] = &[
    // (line, location, message)
    ("max_in_flight: 18446744073709551615", ":4:20: targets[0].max_in_flight", "expected a whole number from 1 to 10000"),
    ("max_in_flight: 10001", ":4:20: targets[0].max_in_flight", "expected a whole number from 1 to 10000"),
    ("timeout: 100000000000h", ":4:14: targets[0].timeout", "longer than the longest duration synthex reads, 100d"),
    ("timeout: 5m 1ms", ":4:14: targets[0].timeout", "expected more than 0 and at most 5m"),
    ("stats: {url: /s, interval: 2h, fields: {a: /a}}", ":4:32: targets[0].stats.interval", "expected at least 1s and at most 1h"),
    ("objectives: {p95: 10m}", ":4:23: targets[0].objectives", "expected more than 0 and at most 5m"),
    ("objectives: {availability: 100%}", ":4:32: targets[0].objectives", "more than 0% and less than 100%"),
    ("global.quantile_window: 2h", ":2:20: global.quantile_window", "expected at least 10s and at most 1h"),
    ("global.shutdown_grace: 1h 1s", ":2:19: global.shutdown_grace", "expected at most 1h"),
    ("global.max_body_bytes: 2GiB", ":2:19: global.max_body_bytes", "expected at least 1 byte and at most 1GiB"),
    ("global.jitter: 50.1%", ":2:11: global.jitter", "expected 0% to 50% of the period"),
    ("global.quantiles: [0, 0.5]", ":2:15: global.quantiles[0]", "expected more than 0 and less than 1"),
    ("global.buckets: [1e-3]", ":2:13: global.buckets[0]", "expected a decimal number"),
    ("global.max_total_rate: 100001/s", ":2:19: global.max_total_rate", "expected at least 1/h and at most 100000/s"),
    ("backoff: {after_failures: 1001}", ":4:31: targets[0].backoff.after_failures", "expected a whole number from 1 to 1000"),
    ("backoff: {floor: 0.9/h}", ":4:22: targets[0].backoff.floor", "expected at least 1/h and at most 1000/s"),
    ("retry_after_cap: 1h 1ns", ":4:22: targets[0].retry_after_cap", "expected 0s (ignore Retry-After) to 1h"),
    ("follow_redirects: 21", ":4:23: targets[0].follow_redirects", "expected a whole number from 0 to 20"),
    ("global.native_histogram: {schema: 9}", ":2:30: global.native_histogram.schema", "expected a whole number from -4 to 8"),
    ("global.native_histogram: {schema: -5}", ":2:30: global.native_histogram.schema", "expected a whole number from -4 to 8"),
    ("global.native_histogram: {max_buckets: 0}", ":2:35: global.native_histogram.max_buckets", "expected a whole number from 1 to 10000"),
    ("global.native_histogram: {max_buckets: 10001}", ":2:35: global.native_histogram.max_buckets", "expected a whole number from 1 to 10000"),
    ("global.native_histogram: sometimes", ":2:21: global.native_histogram", "expected `off` or a mapping such as {schema: 3, max_buckets: 160}"),
    ("global.trace_context: maybe", ":2:18: global.trace_context", "expected on or off"),
];

#[test]
fn config_values_outside_their_range_are_refused_at_their_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    for (i, (line, location, message)) in CONFIG_CASES.iter().enumerate() {
        let path = config(dir.path(), &format!("c{i}.yml"), line);
        let (code, text) = run(&["check-config".to_string(), path.clone()]);
        assert_eq!(code, 2, "{line}: {text}");
        assert!(
            text.contains(&format!("{path}{location}")),
            "{line}: {text}"
        );
        assert!(text.contains(message), "{line}: {text}");
    }
    // The rate's own range, at both edges, in one file each.
    for (rate, ok) in [
        ("1/h", true),
        ("0.9/h", false),
        ("1000/s", true),
        ("1000.5/s", false),
    ] {
        let path = config(dir.path(), "rate.yml", "timeout: 1s");
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("rate: 1/s", &format!("rate: {rate}"))
            + "global: {max_total_rate: 1000/s}\n";
        std::fs::write(&path, text).unwrap();
        let (code, out) = run(&["check-config".to_string(), path.clone()]);
        assert_eq!(code == 0, ok, "{rate}: {out}");
        if !ok {
            assert!(out.contains(":5:11: targets[0].rate"), "{rate}: {out}");
            assert!(
                out.contains("expected at least 1/h and at most 1000/s"),
                "{rate}: {out}"
            );
        }
    }
}

#[rustfmt::skip]
const DESCRIBED_CASES: &[(&str, &str, &str)] = &[
    // (global line, or none for the defaults; check-config's "native histogram" value; its
    // "trace context" value)
    ("", "schema 3, at most 160 buckets", "traceparent on every request, trace ids as exemplars"),
    ("global.native_histogram: {}", "schema 3, at most 160 buckets", "traceparent on every request, trace ids as exemplars"),
    ("global.native_histogram: {schema: -4, max_buckets: 1}", "schema -4, at most 1 bucket", "traceparent on every request, trace ids as exemplars"),
    ("global.native_histogram: {schema: 8, max_buckets: 10000}", "schema 8, at most 10000 buckets", "traceparent on every request, trace ids as exemplars"),
    ("global.native_histogram: {schema: 0}", "schema 0, at most 160 buckets", "traceparent on every request, trace ids as exemplars"),
    ("global.native_histogram: {max_buckets: 20}", "schema 3, at most 20 buckets", "traceparent on every request, trace ids as exemplars"),
    ("global.native_histogram: off", "off", "traceparent on every request, trace ids as exemplars"),
    ("global.trace_context: off", "schema 3, at most 160 buckets", "off"),
    ("global.trace_context: false", "schema 3, at most 160 buckets", "off"),
    ("global.trace_context: on", "schema 3, at most 160 buckets", "traceparent on every request, trace ids as exemplars"),
];

/// `check-config` shows the native histogram and trace context settings as they will run: the
/// defaults, each edge of the schema and bucket ranges, and the off switches.
#[test]
fn check_config_prints_the_native_histogram_and_trace_context_settings() {
    let dir = tempfile::tempdir().unwrap();
    for (i, (line, native, trace)) in DESCRIBED_CASES.iter().enumerate() {
        let path = match line.is_empty() {
            true => config(dir.path(), &format!("d{i}.yml"), "timeout: 1s"),
            false => config(dir.path(), &format!("d{i}.yml"), line),
        };
        let (code, text) = run(&["check-config".to_string(), path]);
        assert_eq!(code, 0, "{line}: {text}");
        let row = |label: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("  {label:<17} ")))
                .unwrap_or_else(|| panic!("{line}: no {label} row in\n{text}"))
                .to_string()
        };
        assert_eq!(row("native histogram"), *native, "{line}");
        assert_eq!(row("trace context"), *trace, "{line}");
    }
}

#[rustfmt::skip]
const PROFILE_CASES: &[(&str, &str, &str)] = &[
    // (profile file, location, message)
    ("stages: [{duration: 1s, users: 10001}]", ":1:32:", "expected a whole number from 0 to 10000"),
    ("stages: [{duration: 24h 1s, users: 1}]", ":1:21:", "expected at most 24h"),
    ("model: open\nstages: [{duration: 1s, rate: 0.5/h}]", ":2:31:", "expected at least 1/h and at most 100000/s (or 0)"),
    ("model: open\nstages: [{duration: 1s, rate: 100001/s}]", ":2:31:", "at most 100000/s"),
    ("spawn_rate: 0\nstages: [{duration: 1s, users: 1}]", ":1:13:", "more than 0 and at most 10000 users per second"),
    ("think_time: 1h 1s\nstages: [{duration: 1s, users: 1}]", ":1:13:", "expected at most 1h"),
    ("think_time: 1/1000000h\nstages: [{duration: 1s, users: 1}]", ":1:13:", "invalid rate"),
    ("think_time: 0.5/h\nstages: [{duration: 1s, users: 1}]", ":1:13:", "expected at least 1/h and at most 1000/s"),
];

#[rustfmt::skip]
const FLAG_CASES: &[(&str, &str)] = &[
    // (flag, message after the flag's name)
    ("--rate=1/1000000h", "invalid rate \"1/1000000h\""),
    ("--rate=0.5/h", "expected at least 1/h and at most 100000/s"),
    ("--rate=100001", "expected at least 1/h and at most 100000/s"),
    ("--max-in-flight=18446744073709551615", "expected a whole number from 1 to 10000"),
    ("--max-in-flight=0", "expected a whole number from 1 to 10000"),
    ("--users=0", "expected a whole number from 1 to 10000"),
    ("--users=10001", "expected a whole number from 1 to 10000"),
    ("--duration=0s", "expected more than 0 and at most 24h"),
    ("--duration=24h 1s", "expected more than 0 and at most 24h"),
    ("--spawn-rate=0", "more than 0 and at most 10000"),
    ("--spawn-rate=inf", "invalid spawn rate"),
    ("--think-time=2h", "expected at most 1h"),
    ("--shard=0/1001", "0 <= I < N <= 1000"),
    ("--shard=7/2", "0 <= I < N <= 1000"),
    ("--max-error-ratio=150%", "at most 100%"),
    ("--profile-pause=1h 1ms", "expected 0s to 1h"),
];

#[test]
fn load_flags_and_profile_values_outside_their_range_are_refused_before_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "c.yml", "timeout: 1s");
    let load = |extra: &[String]| {
        let mut args = vec!["load".to_string(), format!("--config.file={config}")];
        args.extend_from_slice(extra);
        run(&args)
    };
    for (i, (yaml, location, message)) in PROFILE_CASES.iter().enumerate() {
        let path = dir.path().join(format!("p{i}.yml"));
        std::fs::write(&path, yaml).unwrap();
        let (code, text) = load(&[format!("--profile={}", path.display())]);
        assert_eq!(code, 2, "{yaml}: {text}");
        assert!(
            text.contains(&format!("{}{location}", path.display())),
            "{yaml}: {text}"
        );
        assert!(text.contains(message), "{yaml}: {text}");
    }
    for (flag, message) in FLAG_CASES {
        let (code, text) = load(&[flag.to_string()]);
        let name = &flag[..flag.find('=').unwrap()];
        assert_eq!(code, 2, "{flag}: {text}");
        assert!(text.contains(&format!("for '{name} ")), "{flag}: {text}");
        assert!(text.contains(message), "{flag}: {text}");
    }
    // The daemon's duration flag reads the same grammar: `1m 30s` passes (the missing config
    // file is what stops it), a bare number is refused with the grammar's message.
    let reload = |value: &str| {
        run(&[
            "run".to_string(),
            "--config.file=/nonexistent.yml".to_string(),
            format!("--config.auto-reload-interval={value}"),
        ])
    };
    let (code, text) = reload("1m 30s");
    assert!(code == 2 && text.contains("nonexistent.yml"), "{text}");
    let (code, text) = reload("5");
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("'--config.auto-reload-interval <D>': invalid duration \"5\": expected a number with a unit"),
        "{text}"
    );
    let (code, text) = run(&["healthcheck".to_string(), "--timeout=5m 1ms".to_string()]);
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("'--timeout <D>'") && text.contains("at most 5m"),
        "{text}"
    );
}

#[test]
fn a_daemon_at_every_upper_edge_runs_and_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let path = dir.path().join("edges.yml");
    std::fs::write(
        &path,
        "global: {quantile_window: 1h, shutdown_grace: 1h, max_body_bytes: 1GiB, jitter: 50%, max_total_rate: 100000/s,\n\
         \x20 native_histogram: {schema: 8, max_buckets: 10000}}\n\
         resources: {interval: 1h}\n\
         targets:\n\
         \x20 - {name: slow, base_url: 'http://127.0.0.1:9', rate: 1/h, timeout: 5m, max_in_flight: 10000,\n\
         \x20    stats: {url: /stats, interval: 1h, fields: {a: /a}}, objectives: {p99.9: 5m, availability: 99.999%},\n\
         \x20    scenarios: [{name: a, weight: 10000, request: {path: /}}, {name: b, weight: 1, request: {path: /}}]}\n\
         \x20 - {name: fast, base_url: 'http://127.0.0.1:9', rate: 1000/s, timeout: 1ms, max_in_flight: 1,\n\
         \x20    scenarios: [{name: a, request: {path: /}}]}\n",
    )
    .unwrap();
    let (code, text) = run(&["check-config".to_string(), path.display().to_string()]);
    assert_eq!(code, 0, "{text}");
    let mut daemon = Proc::spawn(
        "synthex",
        synthex_bin(),
        &[
            "run",
            &format!("--config.file={}", path.display()),
            &format!("--web.listen-address=127.0.0.1:{port}"),
        ],
        &dir.path().join("synthex.log"),
    );
    // Not /metrics: after a scrape the daemon keeps serving until a scrape reads the final
    // counts, up to the (here 1h) grace period, as Prometheus would come back within one interval.
    wait_http_ok(
        &format!("http://127.0.0.1:{port}/-/healthy"),
        Duration::from_secs(10),
    );
    std::thread::sleep(Duration::from_secs(1));
    assert!(daemon.is_running());
    let status = daemon.terminate(Duration::from_secs(20));
    let log = std::fs::read_to_string(dir.path().join("synthex.log")).unwrap();
    assert_eq!(status.and_then(|s| s.code()), Some(0), "{log}");
    assert!(!log.contains("panicked"), "{log}");
}
