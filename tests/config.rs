//! Config loading end to end: every refusal's exact message (a table of
//! `testdata/invalid-*.yml` files), the shipped example, block vs flow style, defaults, secrets.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use synthex::config::{ConfigError, describe, load, load_str_with_env};

#[path = "config/properties.rs"]
mod properties;
#[path = "config/secrets.rs"]
mod secrets;
use synthex::scenario::{Config, ProcessSelector, StatusMatch};

/// The environment the table runs with: `BAD_URL` holds a value that must never be echoed.
fn table_env(name: &str) -> Option<String> {
    match name {
        "BAD_URL" => Some("no-scheme-secret".to_string()),
        "TEAM" => Some("core".to_string()),
        _ => None,
    }
}

fn load_testdata(name: &str) -> Result<Config, ConfigError> {
    let path = Path::new("tests/testdata").join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    load_str_with_env(&text, &path, &table_env)
}

/// `invalid-NAME.yml` → the message after the file name (`:line:col: …` or `: field: …`).
#[rustfmt::skip]
const INVALID: &[(&str, &str)] = &[
    ("auth-conflict", ": targets[0].basic_auth: both a bearer token and `basic_auth` are set: expected one of them"),
    ("backoff", r#":5:14: targets[0].backoff: invalid backoff "on": expected `off` or a mapping such as {after_failures: 5, floor: 1/30s}"#),
    ("backoff-failures", r#":6:23: targets[0].backoff.after_failures: invalid after_failures "1001": expected a whole number from 1 to 1000"#),
    ("backoff-floor", ": targets[0].backoff.floor: floor 2/m is above the target's rate 1/m: expected at most the rate"),
    ("block-syntax", ":4:4: invalid YAML: did not find expected '-' indicator, while parsing a block collection at line 2 column 3"),
    ("bucket", r#":2:13: global.buckets[0]: bucket "0" is out of range: expected more than 0 seconds"#),
    ("buckets-order", ": global.buckets[2]: buckets must be strictly increasing, found 0.25 after 0.5"),
    ("bytes", r#":2:19: global.max_body_bytes: invalid byte size "1 TB": expected a number of bytes or a size such as 512KiB, 1MiB, 1MB or 10kB"#),
    ("ca-file", ": targets[0].tls.ca_file: tests/testdata/invalid-ca-file.yml holds no certificate: expected PEM blocks starting with -----BEGIN CERTIFICATE-----"),
    ("cache-both", ": targets[0].cache: both `header` and `headers` are set: expected one of them"),
    ("data-column", r#": targets[0].scenarios[1].data.file: tests/testdata/data-users.jsonl:1: the object has no field "emial", used by {{ row.emial }} in targets[0].scenarios[1].request.body"#),
    ("data-missing", ": targets[0].scenarios[0].data.file: tests/testdata/missing-users.csv: cannot open the data file: no such file or directory"),
    ("data-mode", r#":7:39: targets[0].scenarios[0].data.mode: invalid data mode "once": expected sequential, random or unique"#),
    ("data-on-exhausted", ": targets[0].scenarios[0].data.on_exhausted: applies to mode unique only, found mode sequential: remove it or set `mode: unique`"),
    ("data-ragged", ": targets[0].scenarios[0].data.file: tests/testdata/data-ragged.csv:4: expected 2 fields as in the header, found 1"),
    ("duplicate-header", r#":7:7: targets[0].headers: duplicate key "x-team": each key may appear only once"#),
    ("duplicate-scenario", r#": targets[1].scenarios[2].name: duplicate scenario name "login" in target "web""#),
    ("duplicate-target", r#": targets[1].name: duplicate target name "api": already used by targets[0]"#),
    ("duration", r#":5:14: targets[0].timeout: invalid duration "5": expected a number with a unit such as 250ms, 1.5s, 5m or 1m 30s"#),
    ("empty", ": the config file is empty: expected a mapping with at least a `targets:` list"),
    ("env-syntax", ":5:19: targets[0].bearer_token: unclosed `${`: expected `${NAME}` (write `$${` for a literal `${`)"),
    ("env-url", r#": targets[0].base_url: invalid URL "${BAD_URL}": relative URL without a base: expected http(s)://host[:port][/path]"#),
    ("flow-syntax", ":3:1: invalid YAML: did not find expected ',' or ']', while parsing a flow sequence at line 1 column 10"),
    ("jitter", r#":2:11: global.jitter: jitter "60%" is out of range: expected 0% to 50% of the period"#),
    ("label-name", r#":3:5: global.labels: invalid label name "1env": expected [a-zA-Z_][a-zA-Z0-9_]*"#),
    ("label-reserved", r#":2:23: global.labels: label name "target" is reserved: synthex or Prometheus sets it (reserved: target, scenario, code, reason, phase, result, process, field, quantile, le, job, instance, and any name starting with __)"#),
    ("marker", r#":2:18: global.marker_header: invalid marker header "X-Synthetic": no `:`; expected "Name: value" or "" to disable"#),
    ("max-in-flight", r#":5:20: targets[0].max_in_flight: invalid max_in_flight "0": expected a whole number from 1 to 10000"#),
    ("method", r#":7:27: targets[0].scenarios[0].request.method: invalid method "FETCH": expected one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, TRACE"#),
    ("missing-env", ": targets[0].headers.authorization: environment variable API_TOKEN is not set"),
    ("missing-field", ":2:5: targets[0]: missing field `rate`"),
    ("name", r#":2:11: targets[0].name: invalid name "my api": expected letters, digits, _, . or - (at least one)"#),
    ("no-scenarios", ": targets[0].scenarios: at least one scenario is required, found none"),
    ("no-targets", ": targets: at least one target is required, found none"),
    ("objective", r#":5:29: targets[0].objectives: unknown objective "p95_latency", expected a latency quantile pNN such as p95 or p999, `error_ratio`, `availability` or `cache_hit_ratio`"#),
    ("password-both", ": targets[0].basic_auth: expected exactly one of `password` or `password_file`"),
    ("redirects", r#":5:23: targets[0].follow_redirects: invalid follow_redirects "21": expected a whole number from 0 to 20"#),
    ("retry-after-cap", r#":5:22: targets[0].retry_after_cap: retry_after_cap "2h" is out of range: expected 0s (ignore Retry-After) to 1h"#),
    ("total-rate", ": targets: the target rates add up to 60/s, more than the default limit of 50/s: lower the rates, or raise the limit explicitly with global.max_total_rate (at most 100000/s)"),
    ("total-rate-raised", ": global.max_total_rate: the target rates add up to 100.5/s, more than the limit of 100/s: lower the rates, or raise the limit (at most 100000/s)"),
    ("total-rate-range", r#":2:19: global.max_total_rate: max_total_rate "200000/s" is out of range: expected at least 1/h and at most 100000/s"#),
    ("path", r#":7:25: targets[0].scenarios[0].request.path: invalid path "health": expected a path starting with /"#),
    ("pointer", r#":9:18: targets[0].scenarios[0].expect.json: invalid JSON pointer "status": expected "" or a path starting with / such as /cache/hit_rate (write ~0 for ~ and ~1 for /)"#),
    ("process-duplicate", r#": resources.processes[1].name: duplicate process name "api": already used by resources.processes[0]"#),
    ("process-none", ": resources.processes[0]: expected exactly one of exe, cmdline or pid_file, found none"),
    ("process-selector", ": resources.processes[0]: expected exactly one of exe, cmdline or pid_file, found exe and pid_file"),
    ("quantile-duplicate", ": global.quantiles[2]: duplicate quantile 0.9"),
    ("quantile", r#":2:20: global.quantiles[1]: quantile "1.5" is out of range: expected more than 0 and less than 1"#),
    ("row-without-data", ": targets[0].scenarios[0].request.headers.x-user: {{ row.user }} needs a data row: add `data: {file: …}` to the scenario"),
    ("rate-range", r#":4:11: targets[0].rate: rate "2000/s" is out of range: expected at least 1/h and at most 1000/s"#),
    ("rate", r#":4:11: targets[0].rate: invalid rate "2/x": expected N/s, N/m, N/h or N per duration, such as 2/s, 30/m, 0.5/h or 1/30s"#),
    ("regex", r#":8:37: targets[0].scenarios[0].expect.body_regex[1]: invalid regex "(unclosed": unclosed group"#),
    ("resources-interval", r#":9:13: resources.interval: interval "500ms" is out of range: expected at least 1s and at most 1h"#),
    ("scenario-env", ":7:59: targets[0].scenarios[0].request.headers.Authorization: ${VAR} is not expanded in scenario requests: put secrets in the target's headers, bearer_token or basic_auth"),
    ("second-document", ":4:1: invalid YAML: a second document starts here: expected one mapping (is a key indented too far, or its parent key missing?)"),
    ("secret-value", ":5:19: targets[0].bearer_token: invalid header value: expected visible ASCII characters, spaces and tabs only"),
    ("stats-fields", ": targets[0].stats.fields: at least one field is required, found none"),
    ("stats-interval", r#":5:36: targets[0].stats.interval: interval "0s" is out of range: expected at least 1s and at most 1h"#),
    ("status", r#":8:32: targets[0].scenarios[0].expect.status[1]: invalid status "2yy": expected a code 100..599 such as 200, or a class 1xx..5xx"#),
    ("threshold", r#":7:31: load.thresholds[1]: threshold "p95 < 50 parsecs": invalid duration "50 parsecs": expected a number with a unit such as 250ms, 1.5s, 5m or 1m 30s"#),
    ("grades", ": load.grades.p95: grade boundaries must satisfy excellent <= good <= acceptable, found 1, 0.3, 2"),
    ("template", r#":7:25: targets[0].scenarios[0].request.path: invalid template "/orders/{{ int 1..x }}": `int` expects a range like `1..1000`, found "1..x""#),
    ("template-now", r#":7:25: targets[0].scenarios[0].request.path: invalid template "/report?day={{ now -1d \"%Y-%m-%Q\" }}": `now` format "%Y-%m-%Q": invalid component name `Q` at byte index 7"#),
    ("timeout-range", r#":5:14: targets[0].timeout: timeout "10m" is out of range: expected more than 0 and at most 5m"#),
    ("token-file", ": targets[0].bearer_token_file: cannot read tests/testdata/missing-token.txt: no such file or directory"),
    ("unknown-flow", ":2:48: targets[0].scenarios[0].request: unknown field `pth`, expected one of `method`, `path`, `headers`, `body`"),
    ("unknown-nested", ":5:5: targets[0]: unknown field `rat`, expected one of `name`, `base_url`, `rate`, `timeout`, `max_in_flight`, `keep_alive`, `backoff`, `retry_after_cap`, `follow_redirects`, `headers`, `bearer_token`, `bearer_token_file`, `basic_auth`, `proxy`, `tls`, `cache`, `stats`, `objectives`, `scenarios`"),
    ("unknown-top", ":1:1: unknown field `target`, expected one of `global`, `targets`, `resources`, `load`"),
    ("url-scheme", r#":3:15: targets[0].base_url: invalid URL "ftp://127.0.0.1": scheme "ftp" is not supported: expected http or https"#),
    ("url", r#":3:15: targets[0].base_url: invalid URL "127.0.0.1:8080": relative URL without a base: expected http(s)://host[:port][/path]"#),
    ("var-unset", ": targets[0].scenarios[0].request.body: {{ var token }} is never set before this request: variables come from the `extract:` of an earlier step of a flow (set by then: none)"),
    ("weight", r#":7:17: targets[0].scenarios[0].weight: invalid weight "0": expected a whole number from 1 to 10000"#),
    ("window", r#":1:27: global.quantile_window: quantile window "5s" is out of range: expected at least 10s and at most 1h"#),
    ("wrong-type", r#":5:17: targets[0].keep_alive: invalid type: string "yes", expected a boolean"#),
];

#[test]
fn every_invalid_file_is_refused_with_its_exact_message() {
    let mut failures = Vec::new();
    for (name, expected) in INVALID {
        let file = format!("invalid-{name}.yml");
        let expected = format!("tests/testdata/{file}{expected}");
        match load_testdata(&file) {
            Ok(_) => failures.push(format!("{file}: loaded, expected {expected}")),
            Err(err) if err.to_string() != expected => {
                failures.push(format!("{file}:\n  got      {err}\n  expected {expected}"))
            }
            Err(_) => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_table_covers_every_invalid_file() {
    let on_disk: BTreeSet<String> = std::fs::read_dir("tests/testdata")
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter_map(|f| {
            Some(
                f.strip_prefix("invalid-")?
                    .strip_suffix(".yml")?
                    .to_string(),
            )
        })
        .collect();
    let in_table: BTreeSet<String> = INVALID.iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(on_disk, in_table);
}

#[test]
fn located_errors_carry_line_and_column_and_messages_keep_secrets_out() {
    match load_testdata("invalid-rate.yml") {
        Err(ConfigError::Parse { location, .. }) => assert_eq!(location, Some((4, 11))),
        other => panic!("expected a located parse error, got {other:?}"),
    }
    match load_testdata("invalid-duplicate-scenario.yml") {
        Err(ConfigError::Invalid { field, .. }) => {
            assert_eq!(field, "targets[1].scenarios[2].name")
        }
        other => panic!("expected a field error, got {other:?}"),
    }
    let err = load_testdata("invalid-env-url.yml").unwrap_err();
    assert!(
        !format!("{err} {err:?}").contains("no-scheme-secret"),
        "{err}"
    );
}

#[test]
fn unreadable_files_get_clear_messages() {
    let missing = load(Path::new("tests/testdata/no-such-file.yml")).unwrap_err();
    assert_eq!(
        missing.to_string(),
        "tests/testdata/no-such-file.yml: cannot read the config file: no such file or directory"
    );
    let dir = load(Path::new("tests/testdata")).unwrap_err();
    assert_eq!(
        dir.to_string(),
        "tests/testdata: cannot read the config file: is a directory"
    );
    let tmp = tempfile::tempdir().unwrap();
    let binary = tmp.path().join("binary.yml");
    std::fs::write(&binary, [0x74, 0x3a, 0xff, 0xfe]).unwrap();
    let err = load(&binary).unwrap_err().to_string();
    assert!(
        err.ends_with("cannot read the config file: the file is not valid UTF-8 text"),
        "{err}"
    );
}

#[test]
fn defaults_fill_every_optional_key() {
    let config = load_testdata("valid-minimal.yml").unwrap();
    let global = &config.global;
    assert!(global.labels.is_empty());
    assert_eq!(global.quantiles, [0.5, 0.9, 0.95, 0.99]);
    assert_eq!(global.quantile_window, Duration::from_secs(300));
    assert_eq!(global.buckets.len(), 18);
    assert_eq!((global.buckets[0], global.buckets[17]), (0.005, 10.0));
    assert_eq!(global.max_body_bytes, 1 << 20);
    let (name, value) = global.marker_header.as_ref().unwrap();
    assert_eq!(
        (name.as_str(), value.to_str().unwrap()),
        ("x-synthetic", "1")
    );
    assert_eq!(global.jitter, 0.1);
    assert_eq!(global.shutdown_grace, Duration::from_secs(10));
    assert_eq!(global.max_total_rate.per_second, 50.0);
    let target = &config.targets[0];
    let backoff = target.guard.backoff.unwrap();
    assert_eq!(backoff.after_failures, 5);
    assert_eq!(backoff.floor.per_second, 1.0 / 30.0);
    assert_eq!(target.guard.retry_after_cap, Duration::from_secs(300));
    assert_eq!(target.follow_redirects, 0);
    assert_eq!(target.rate.per_second, 2.0);
    assert_eq!(target.timeout, Duration::from_secs(5));
    assert_eq!(target.max_in_flight, 4);
    assert!(!target.keep_alive && target.headers.is_empty() && target.proxy.is_none());
    let cache: Vec<&str> = target.cache.headers.iter().map(|h| h.as_str()).collect();
    assert_eq!(cache, ["x-cache", "x-cache-status", "cf-cache-status"]);
    assert!(target.cache.hit.is_match("HIT from edge-1") && !target.cache.hit.is_match("MISS"));
    assert!(target.stats.is_none() && target.objectives.latency.is_empty());
    let scenario = &target.scenarios[0];
    let call = scenario.call().unwrap();
    assert_eq!((scenario.weight, call.request.method.as_str()), (1, "GET"));
    assert_eq!(call.expect.status, [StatusMatch::Class(2)]);
    assert_eq!(config.resources.interval, Duration::from_secs(5));
    assert!(config.resources.processes.is_empty());
}

#[test]
fn flow_style_loads_identical_to_block_style() {
    let block = load_testdata("valid-block.yml").unwrap();
    let flow = load_testdata("valid-flow.yml").unwrap();
    let strip_source = |c: &Config| describe(c).lines().skip(1).collect::<Vec<_>>().join("\n");
    assert_eq!(strip_source(&block), strip_source(&flow));
    assert_eq!(
        format!("{:?}", block.targets),
        format!("{:?}", flow.targets)
    );
    let team = |c: &Config| c.targets[0].headers["x-team"].to_str().unwrap().to_string();
    assert_eq!(
        (team(&block), team(&flow)),
        ("core".to_string(), "core".to_string())
    );
    let scenario = block.targets[0].scenarios[0].call().unwrap();
    assert_eq!(scenario.request.method.as_str(), "POST");
    assert_eq!(
        scenario.expect.status,
        [StatusMatch::Code(201), StatusMatch::Class(4)]
    );
    assert_eq!(scenario.expect.json[1].1, serde_json::json!([1, 2]));
    assert!(scenario.expect.headers[1].matches.is_none());
    let stats = block.targets[0].stats.as_ref().unwrap();
    assert_eq!(stats.url.as_str(), "http://127.0.0.1:8080/v1/stats");
    let target = &flow.targets[0];
    let backoff = target.guard.backoff.unwrap();
    assert_eq!(
        (backoff.after_failures, backoff.floor.per_second),
        (3, 1.0 / 120.0)
    );
    assert_eq!(target.guard.retry_after_cap, Duration::from_secs(60));
    assert_eq!(target.follow_redirects, 2);
    assert_eq!(flow.global.max_total_rate.per_second, 1.0);
}

/// A config with one target per rate in `rates`, and `global` under `global:`.
fn with_rates(global: &str, rates: &[&str]) -> Result<Config, ConfigError> {
    let targets: String = rates
        .iter()
        .enumerate()
        .map(|(i, rate)| {
            format!(
                "  - {{name: t{i}, base_url: http://127.0.0.1:1, rate: {rate}, \
                 scenarios: [{{name: s, request: {{path: /}}}}]}}\n"
            )
        })
        .collect();
    let text = format!("global: {{{global}}}\ntargets:\n{targets}");
    load_str_with_env(&text, Path::new("budget.yml"), &table_env)
}

#[test]
fn the_total_budget_holds_at_its_edge() {
    // Exactly the default limit, in rates that do not add up exactly in binary.
    let ninths = ["50/9s"; 9];
    assert!(with_rates("", &ninths).is_ok());
    assert!(with_rates("", &["10/s", "20/s", "20/s"]).is_ok());
    let over = with_rates("", &["10/s", "20/s", "20.001/s"]).unwrap_err();
    assert!(
        over.to_string()
            .contains("add up to 180003.6/h, more than the default limit of 50/s"),
        "{over}"
    );
    // Raised explicitly, the new limit is the edge; lowered, too.
    assert!(with_rates("max_total_rate: 1000/s", &["1000/s"]).is_ok());
    assert!(with_rates("max_total_rate: 1000/s", &["1000/s", "1/h"]).is_err());
    assert!(with_rates("max_total_rate: 1/m", &["1/m"]).is_ok());
    let lowered = with_rates("max_total_rate: 1/m", &["2/m"]).unwrap_err();
    assert_eq!(
        lowered.to_string(),
        "budget.yml: global.max_total_rate: the target rates add up to 2/m, more than the limit \
         of 1/m: lower the rates, or raise the limit (at most 100000/s)"
    );
    // The largest budget: 100 targets at the largest rate.
    assert!(with_rates("max_total_rate: 100000/s", &["1000/s"; 100]).is_ok());
}

#[test]
fn backoff_can_be_turned_off_or_tuned() {
    let one = |settings: &str| {
        let text = format!(
            "targets: [{{name: a, base_url: http://127.0.0.1:1, rate: 2/s, {settings} \
             scenarios: [{{name: s, request: {{path: /}}}}]}}]"
        );
        load_str_with_env(&text, Path::new("b.yml"), &table_env)
    };
    assert!(
        one("backoff: off,").unwrap().targets[0]
            .guard
            .backoff
            .is_none()
    );
    assert!(
        one("backoff: false,").unwrap().targets[0]
            .guard
            .backoff
            .is_none()
    );
    let defaults = one("backoff: {},").unwrap().targets[0]
        .guard
        .backoff
        .unwrap();
    assert_eq!(
        (defaults.after_failures, defaults.floor.per_second),
        (5, 1.0 / 30.0)
    );
    // The floor may equal the rate (no slowing down at all) but not exceed it.
    assert!(one("backoff: {floor: 2/s},").is_ok());
    assert!(one("backoff: {floor: 2.1/s},").is_err());
    assert!(one("backoff: {after_failures: 1000},").is_ok());
    assert!(one("retry_after_cap: 0s,").is_ok());
    assert!(one("retry_after_cap: 1h,").is_ok());
    assert!(one("follow_redirects: 20,").is_ok());
}

#[test]
fn latency_objectives_become_bucket_bounds_and_shares_are_described() {
    let config = load_testdata("valid-block.yml").unwrap();
    assert!(
        config.global.buckets.contains(&0.12),
        "{:?}",
        config.global.buckets
    );
    assert!(config.global.buckets.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(config.global.buckets.len(), 19);
    let text = describe(&config);
    assert!(
        text.contains("weight          3 (75% of requests, 0.375/s)"),
        "{text}"
    );
    assert!(
        text.contains("weight          1 (25% of requests, 0.125/s)"),
        "{text}"
    );
    assert!(
        text.contains("rate              30/m (one request every 2s)"),
        "{text}"
    );
}

#[test]
fn the_shipped_example_loads_with_the_documented_values() {
    let path = Path::new("config/synthex.yml");
    let config = load(path).unwrap();
    assert_eq!(config.source, path);
    assert_eq!(config.global.labels["region"], "eu-west-1");
    let names: Vec<&str> = config.targets.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["api", "admin"]);
    let api = &config.targets[0];
    assert_eq!(api.rate.per_second, 2.0);
    assert_eq!(api.timeout, Duration::from_secs(2));
    let token = api.headers["authorization"].to_str().unwrap();
    assert_eq!(token, "Bearer example-token-not-a-secret");
    assert!(api.headers.values().all(|v| v.is_sensitive()));
    assert_eq!(
        api.proxy.as_ref().unwrap().as_str(),
        "http://127.0.0.1:3128/"
    );
    assert_eq!(
        api.tls.ca_file.as_deref(),
        Some(Path::new("config/secrets/private-ca.pem"))
    );
    assert_eq!(api.tls.server_name.as_deref(), Some("api.internal"));
    assert_eq!(
        api.stats.as_ref().unwrap().fields["pool_active"],
        "/pool/active"
    );
    assert_eq!(
        api.objectives.latency,
        [
            (0.95, Duration::from_millis(120)),
            (0.99, Duration::from_millis(300))
        ]
    );
    assert_eq!(api.objectives.availability, Some(0.999));
    let weights: Vec<u32> = api.scenarios.iter().map(|s| s.weight).collect();
    assert_eq!(weights, [50, 25, 25]);
    assert_eq!(
        api.scenarios[0].call().unwrap().expect.max_latency,
        Some(Duration::from_millis(500))
    );
    assert!(api.scenarios[2].call().unwrap().request.body.is_some());
}

#[test]
fn the_shipped_example_second_target_and_resources() {
    let config = load(Path::new("config/synthex.yml")).unwrap();
    let admin = &config.targets[1];
    assert_eq!(admin.rate.per_second, 0.5);
    let basic = admin.headers["authorization"].to_str().unwrap();
    assert_eq!(
        basic, "Basic cHJvYmU6ZXhhbXBsZS1wYXNzd29yZA==",
        "probe:example-password"
    );
    assert_eq!(admin.cache.headers.len(), 1);
    let selectors: Vec<&str> = config
        .resources
        .processes
        .iter()
        .map(|p| match &p.selector {
            ProcessSelector::Exe(_) => "exe",
            ProcessSelector::Cmdline(_) => "cmdline",
            ProcessSelector::PidFile(_) => "pid_file",
        })
        .collect();
    assert_eq!(selectors, ["exe", "cmdline", "pid_file"]);
}
