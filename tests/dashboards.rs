//! The Grafana dashboards under `grafana/dashboards/` are correct as code and show live data:
//! - static lint (the grafana/dashboard-linter rules, re-implemented): unique panel ids, grid
//!   rectangles inside the 24 columns and not overlapping, a unit from the allowed set on every
//!   panel (and the right one for byte, ratio and latency queries), the `${datasource}` variable on
//!   every panel and query, `$__rate_interval` as the only range, counters and histogram series only
//!   inside `rate`/`increase`, every selector filtering on `$job` and `$instance`, the template
//!   variables `datasource`, `job`, `instance`, `target`, `scenario` as Grafana wants them, no
//!   import-only `__inputs`, objective lines on the latency, error and cache panels, and every
//!   metric of README's table on some panel;
//! - recording rules: no panel recomputes what a recording rule of `alerts/` records (the rule
//!   files parsed, expressions normalised and compared with every panel query);
//! - live: the real `synthex demo` (the built-in config/demo.yml on free ports: its HTTP and HTTPS
//!   demo target, objectives, cache, stats endpoint, watched process) while a real load test
//!   (`synthex load --users=4 --web.listen-address=…`) runs against its demo target; a real
//!   Prometheus with the shipped rule file scrapes both every second (jobs `synthex` and
//!   `synthex-load`), and then every panel query and every template variable query of each
//!   dashboard, with the variables substituted for the job that dashboard is for (the overview:
//!   the demo; the load-test dashboard: the load test), returns data with at least one finite
//!   value, `instance` lists exactly that job's synthex, and each selector filters on `$target`
//!   and `$scenario` whenever the scraped series carry those labels.

mod common;
mod dashboard_support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use common::{Proc, free_port, http_request, require_tool, synthex_bin, urlencode, wait_http_ok};
use dashboard_support::lint::{lint_panels, lint_queries, lint_templating};
use dashboard_support::live::{api, load_config, query_problem, substitute, variable_values};
use dashboard_support::recorded::{recomputed, recording_rules};
use dashboard_support::{
    dashboard, dashboards, documented_metrics, has_matcher, is_counter_series, is_row, panels,
    queries, scan, variable_query, variables,
};
use serde_json::Value;
// ---------------------------------------------------------------------------------------------
// Static lint

#[test]
fn dashboards_follow_the_lint_rules() {
    for (path, d) in dashboards() {
        let file = path.display().to_string();
        let uid = d["uid"].as_str().expect("uid");
        assert!(
            !uid.is_empty() && uid.len() <= 40,
            "{file}: uid {uid:?} must be 1–40 characters"
        );
        assert!(
            d.get("id").is_none_or(Value::is_null),
            "{file}: no fixed id in provisioned dashboards"
        );
        assert_eq!(
            d["editable"], false,
            "{file}: provisioned dashboards are not editable"
        );
        assert!(d["schemaVersion"].is_u64(), "{file}: schemaVersion");
        assert!(d["title"].as_str().is_some_and(|t| !t.is_empty()));
        lint_templating(&file, &d);
        lint_panels(&file, &d);
        lint_queries(&file, &d);
    }
}

#[test]
fn dashboards_share_one_schema_version_and_unique_uids() {
    let all = dashboards();
    let versions: BTreeSet<u64> = all
        .iter()
        .map(|(_, d)| d["schemaVersion"].as_u64().unwrap())
        .collect();
    assert_eq!(versions.len(), 1, "one schemaVersion across dashboards");
    let uids: BTreeSet<&str> = all
        .iter()
        .map(|(_, d)| d["uid"].as_str().unwrap())
        .collect();
    assert_eq!(uids.len(), all.len(), "dashboard uids are unique");
}

/// Objective gauges are drawn on the panels of what they bound.
#[test]
fn objectives_are_drawn_on_the_panels_they_bound() {
    let d = dashboard("synthex-overview.json");
    let pairs = [
        (
            "synthex_objective_latency_seconds",
            "synthex_request_duration_seconds_bucket",
        ),
        (
            "synthex_objective_latency_seconds",
            "synthex_request_latency_seconds",
        ),
        (
            "synthex_objective_error_ratio",
            "synthex_request_failures_total",
        ),
        (
            "synthex_objective_availability_ratio",
            "synthex_request_failures_total",
        ),
        (
            "synthex_objective_cache_hit_ratio",
            "synthex_cache_hit_ratio",
        ),
        (
            "synthex_schedule_requests_per_second",
            "synthex:requests:rate5m",
        ),
    ];
    for (objective, measured) in pairs {
        let found = panels(&d).into_iter().filter(|p| !is_row(p)).any(|p| {
            let metrics: BTreeSet<String> = p["targets"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|t| scan(t["expr"].as_str().unwrap()).0)
                .map(|s| s.metric)
                .collect();
            metrics.contains(objective) && metrics.contains(measured)
        });
        assert!(found, "no panel draws {objective} beside {measured}");
    }
}

/// The overview's latency panels ask Grafana for exemplars, so a slow point links to the trace
/// of that very request (the Prometheus data source maps `trace_id` to the tracing data source,
/// tests/stack_files.rs): every query over the duration histogram, classic or native, has
/// `exemplar: true`; no other query does, as no other series carries exemplars.
#[test]
fn latency_queries_ask_for_exemplars_and_only_they() {
    let d = dashboard("synthex-overview.json");
    let mut with_exemplars = vec![];
    for panel in panels(&d).into_iter().filter(|p| !is_row(p)) {
        let title = panel["title"].as_str().unwrap_or("?");
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            let reads_durations = scan(expr).0.iter().any(|s| {
                s.metric == "synthex_request_duration_seconds"
                    || s.metric == "synthex_request_duration_seconds_bucket"
            });
            let asks = target["exemplar"].as_bool().unwrap_or(false);
            assert_eq!(asks, reads_durations, "{title}: exemplar on {expr}");
            if asks {
                with_exemplars.push(title);
            }
        }
    }
    for title in [
        "Latency p50 / p95 / p99 (histogram)",
        "p95 latency per target (native histogram)",
    ] {
        assert!(
            with_exemplars.contains(&title),
            "{title}: {with_exemplars:?}"
        );
    }
}

/// Every metric in README's table is on a panel of one of the dashboards (process_* is
/// synthex's own overhead; the load-test gauges are on the load-test dashboard).
#[test]
fn every_documented_metric_has_a_panel() {
    let documented = documented_metrics();
    let used: BTreeSet<String> = ["synthex-overview.json", "synthex-load-test.json"]
        .into_iter()
        .flat_map(|file| queries(&dashboard(file)))
        .flat_map(|(_, e)| scan(&e).0)
        .map(|s| s.metric)
        .collect();
    let missing: Vec<&String> = documented
        .keys()
        .filter(|m| {
            !used.iter().any(|u| {
                u == *m
                    || ["_bucket", "_sum", "_count"]
                        .iter()
                        .any(|s| *u == format!("{m}{s}"))
            })
        })
        .collect();
    assert!(missing.is_empty(), "metrics without a panel: {missing:?}");
}

/// The load-test dashboard shows what watching a load test needs, summed over shards.
#[test]
fn the_load_test_dashboard_has_the_load_test_panels() {
    let d = dashboard("synthex-load-test.json");
    let all = queries(&d);
    let has = |needle: &str| all.iter().any(|(_, e)| e.contains(needle));
    for (what, needle) in [
        ("total RPS", "sum(rate(synthex_requests_total{"),
        (
            "RPS by scenario",
            "sum by (target, scenario) (rate(synthex_requests_total{",
        ),
        (
            "RPS by status code",
            "sum by (code) (rate(synthex_requests_total{",
        ),
        ("in-flight requests", "synthex_in_flight_requests{"),
        ("p50", "histogram_quantile(0.5, sum by (le) (rate("),
        ("p95", "histogram_quantile(0.95, sum by (le) (rate("),
        ("p99", "histogram_quantile(0.99, sum by (le) (rate("),
        (
            "errors by reason",
            "sum by (target, scenario, reason) (rate(synthex_request_failures_total{",
        ),
        ("error ratio", "sum(rate(synthex_request_failures_total{"),
        ("host CPU", "synthex_host_cpu_usage_ratio{"),
        ("host memory", "synthex_host_memory_used_bytes{"),
        (
            "watched process CPU",
            "synthex_watched_process_cpu_usage_ratio{",
        ),
        (
            "watched process memory",
            "synthex_watched_process_resident_memory_bytes{",
        ),
    ] {
        assert!(has(needle), "no {what} panel (a query with {needle:?})");
    }
    let heatmap = panels(&d).into_iter().find(|p| p["type"] == "heatmap");
    let heatmap = heatmap.expect("a latency heatmap");
    assert!(
        heatmap["targets"][0]["expr"]
            .as_str()
            .unwrap()
            .contains("synthex_request_duration_seconds_bucket")
    );
    assert_eq!(heatmap["targets"][0]["format"], "heatmap");
}

/// Dashboards that read the recording rules wherever one exists: the overview, watched all day
/// across a fleet. Not the load-test dashboard: a load test lasts minutes, and its panels need
/// the short `$__rate_interval` windows where the rules' 5-minute ones would lag behind.
const ON_RECORDING_RULES: &[&str] = &["synthex-overview.json"];

/// The overview reads the recording rules of alerts/ (one cheap series per target, shared with
/// the alerts) wherever one records what a panel shows, instead of recomputing it from the raw
/// series at every refresh of every viewer.
#[test]
fn panels_use_the_recording_rules_instead_of_recomputing_them() {
    let rules = recording_rules(Path::new(env!("CARGO_MANIFEST_DIR")));
    let mut problems = vec![];
    for file in ON_RECORDING_RULES {
        for (title, expr) in queries(&dashboard(file)) {
            for rule in recomputed(&expr, &rules) {
                problems.push(format!("{file}: {title}: recomputes {rule}: {expr}"));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "use the recorded series:\n{}",
        problems.join("\n")
    );
    let overview: BTreeSet<String> = queries(&dashboard("synthex-overview.json"))
        .into_iter()
        .flat_map(|(_, e)| scan(&e).0)
        .map(|s| s.metric)
        .filter(|m| m.contains(':'))
        .collect();
    for used in &overview {
        assert!(
            rules.contains_key(used),
            "{used} is no recording rule of alerts/"
        );
    }
    assert!(
        overview.len() >= 3,
        "the overview reads recorded series: {overview:?}"
    );
}

/// What the recomputation check flags: the per-target aggregations the rules record, however
/// spelled, but not a breakdown the rules do not have.
#[test]
fn the_recomputation_check_tells_recorded_from_other_aggregations() {
    let rules = recording_rules(Path::new(env!("CARGO_MANIFEST_DIR")));
    let sel = r#"{job=~"$job",instance=~"$instance",target=~"$target",scenario=~"$scenario"}"#;
    for (expr, expected) in [
        (
            format!("sum by (target) (rate(synthex_requests_total{sel}[$__rate_interval]))"),
            vec!["synthex:requests:rate5m"],
        ),
        (
            "sum without (scenario,code,le) (rate(synthex_requests_total[1h]))".to_string(),
            vec!["synthex:requests:rate5m"],
        ),
        (
            format!(
                "1 - sum by (target) (rate(synthex_request_failures_total{sel}[$__rate_interval])) \
                 / sum by (target) (rate(synthex_requests_total{sel}[$__rate_interval]))"
            ),
            vec![
                "synthex:request_errors:ratio_rate1h",
                "synthex:request_errors:ratio_rate30m",
                "synthex:request_errors:ratio_rate5m",
                "synthex:request_errors:ratio_rate6h",
                "synthex:request_failures:rate5m",
                "synthex:requests:rate5m",
            ],
        ),
        (
            format!(
                "histogram_quantile(0.5, sum by (target, le) (rate(synthex_request_duration_seconds_bucket{sel}[$__rate_interval])))"
            ),
            vec!["synthex:request_duration_seconds:p50_rate5m"],
        ),
        // Per scenario or per code: no rule records these.
        (
            format!(
                "sum by (target, scenario, code) (rate(synthex_requests_total{sel}[$__rate_interval]))"
            ),
            vec![],
        ),
        (
            format!(
                "histogram_quantile(0.5, sum by (target, scenario, le) (rate(synthex_request_duration_seconds_bucket{sel}[$__rate_interval])))"
            ),
            vec![],
        ),
        // Another quantile, another metric, another matcher.
        (
            format!(
                "histogram_quantile(0.9, sum by (target, le) (rate(synthex_request_duration_seconds_bucket{sel}[$__rate_interval])))"
            ),
            vec![],
        ),
        (
            format!(
                "sum by (target) (rate(synthex_request_phase_duration_seconds_count{sel}[$__rate_interval]))"
            ),
            vec![],
        ),
        (
            r#"sum by (target) (rate(synthex_requests_total{code="200"}[5m]))"#.to_string(),
            vec![],
        ),
        (
            format!("sum by (target) (synthex:requests:rate5m{sel})"),
            vec![],
        ),
    ] {
        let mut found = recomputed(&expr, &rules);
        found.sort_unstable();
        assert_eq!(found, expected, "{expr}");
    }
}

#[test]
fn the_scanner_finds_what_the_lint_relies_on() {
    let (s, r) = scan(
        r#"sum by (target, le) (rate(synthex_x_bucket{job=~"$job",le="0.1"}[$__rate_interval])) / synthex_y_total{a="b(c)"}"#,
    );
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].metric, "synthex_x_bucket");
    assert_eq!(s[0].enclosing, "rate");
    assert!(has_matcher(&s[0].matchers, "job"));
    assert_eq!(s[1].metric, "synthex_y_total");
    assert_eq!(s[1].enclosing, "", "a bare counter is at top level");
    assert_eq!(r, vec!["$__rate_interval"]);
    let types = documented_metrics();
    assert!(is_counter_series(
        "synthex_request_duration_seconds_count",
        &types
    ));
    assert!(is_counter_series(
        "synthex_request_latency_seconds_sum",
        &types
    ));
    assert!(!is_counter_series("synthex_watched_processes", &types));
    assert!(!is_counter_series(
        "synthex_request_latency_seconds",
        &types
    ));
    assert_eq!(
        variables("a{b=~\"$job\"}[${__rate_interval}]"),
        BTreeSet::from(["job".to_string(), "__rate_interval".to_string()])
    );
}

// ---------------------------------------------------------------------------------------------
// Live: every query against a real Prometheus scraping a real synthex

/// Prometheus job of the synthex daemon (`synthex demo`).
const DAEMON_JOB: &str = "synthex";
/// Prometheus job of a running load test (`synthex load --web.listen-address=…`).
const LOAD_JOB: &str = "synthex-load";

/// Which synthex each dashboard is checked against: the overview against the daemon, the
/// load-test dashboard against a load test while it runs. A new dashboard must be added here.
const SCRAPE_JOB_OF: &[(&str, &str)] = &[
    ("synthex-overview.json", DAEMON_JOB),
    ("synthex-load-test.json", LOAD_JOB),
];

/// A synthex subcommand listening on `port`, once it answers `/-/ready`.
fn spawn_synthex(name: &str, args: &[&str], port: u16, log: &Path) -> Proc {
    let listen = format!("--web.listen-address=127.0.0.1:{port}");
    let args: Vec<&str> = args.iter().copied().chain([listen.as_str()]).collect();
    let process = Proc::spawn(name, synthex_bin(), &args, log);
    wait_http_ok(
        &format!("http://127.0.0.1:{port}/-/ready"),
        Duration::from_secs(15),
    );
    process
}

/// `synthex demo` (its demo target over HTTP and HTTPS, and the daemon probing both), and a load
/// test (closed model) against the same demo target, both scraped every second by a Prometheus
/// evaluating the shipped rule file every second.
/// Fields drop in order: the processes stop before their directory goes.
struct Stack {
    processes: Vec<(&'static str, Proc)>,
    _dir: tempfile::TempDir,
    prometheus: String,
    /// Scrape job → the one instance it scrapes.
    instances: BTreeMap<&'static str, String>,
}

/// The built-in demo config with the demo target's ports moved to free ones.
fn demo_config(target_port: u16, tls_port: u16) -> String {
    let shipped = include_str!("../config/demo.yml");
    for address in ["http://127.0.0.1:8089", "https://127.0.0.1:8443"] {
        assert!(
            shipped.contains(address),
            "config/demo.yml has no {address}"
        );
    }
    shipped
        .replace(
            "http://127.0.0.1:8089",
            &format!("http://127.0.0.1:{target_port}"),
        )
        .replace(
            "https://127.0.0.1:8443",
            &format!("https://127.0.0.1:{tls_port}"),
        )
}

fn start_stack() -> Stack {
    let prometheus_bin = require_tool("prometheus", "prometheus");
    let dir = tempfile::tempdir().unwrap();
    let [target_port, tls_port, daemon_port, load_port, prom_port] = [(); 5].map(|()| free_port());
    let path = |name: &str| dir.path().join(name);
    let flag = |name: &str, file: &str| format!("--{name}={}", path(file).display());

    std::fs::write(path("demo.yml"), demo_config(target_port, tls_port)).unwrap();
    std::fs::write(path("load.yml"), load_config(target_port)).unwrap();
    let daemon = spawn_synthex(
        "synthex demo",
        &["demo", &flag("config.file", "demo.yml")],
        daemon_port,
        &path("demo.log"),
    );
    // The demo's failure mode, as its README section shows: 5 % of the requests fail with a
    // 503, so the failure panels have data within seconds (the demo's own flaky scenario fails
    // about one request in 20 s).
    let target = format!("http://127.0.0.1:{target_port}");
    let (status, body) = http_request("PUT", &format!("{target}/fault?error_ratio=0.05"), "")
        .expect("the demo target's /fault");
    assert_eq!(status, 200, "{body}");
    // Longer than the test: it is killed at the end, and must still run while being checked.
    let load = spawn_synthex(
        "synthex load",
        &[
            "load",
            &flag("config.file", "load.yml"),
            "--users=4",
            "--think-time=50ms",
            "--duration=5m",
            "--quiet",
        ],
        load_port,
        &path("load.log"),
    );

    let instances = BTreeMap::from([
        (DAEMON_JOB, format!("127.0.0.1:{daemon_port}")),
        (LOAD_JOB, format!("127.0.0.1:{load_port}")),
    ]);
    let jobs: String = instances
        .iter()
        .map(|(job, instance)| {
            format!("  - job_name: {job}\n    static_configs:\n      - targets: ['{instance}']\n")
        })
        .collect();
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("alerts/synthex.rules.yml");
    std::fs::write(
        path("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: ['{}']\nscrape_configs:\n{jobs}",
            rules.display()
        ),
    )
    .unwrap();
    let prometheus = Proc::spawn(
        "prometheus",
        &prometheus_bin,
        &[
            &flag("config.file", "prometheus.yml"),
            &flag("storage.tsdb.path", "tsdb"),
            &format!("--web.listen-address=127.0.0.1:{prom_port}"),
        ],
        &path("prometheus.log"),
    );
    let url = format!("http://127.0.0.1:{prom_port}");
    wait_http_ok(&format!("{url}/-/ready"), Duration::from_secs(30));
    Stack {
        processes: vec![
            ("prometheus", prometheus),
            ("synthex load", load),
            ("synthex demo", daemon),
        ],
        _dir: dir,
        prometheus: url,
        instances,
    }
}

/// One dashboard, and the values its variables take for the synthex it is checked against.
struct Check {
    name: String,
    dashboard: Value,
    values: BTreeMap<&'static str, String>,
}

/// Every dashboard with its variables set to its scrape job and that job's instance.
fn checks(stack: &Stack) -> Vec<Check> {
    dashboards()
        .into_iter()
        .map(|(path, dashboard)| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let job = SCRAPE_JOB_OF
                .iter()
                .find(|(file, _)| *file == name)
                .map(|(_, job)| *job)
                .unwrap_or_else(|| panic!("{name}: add it to SCRAPE_JOB_OF"));
            let values = BTreeMap::from([
                ("job", job.to_string()),
                ("instance", stack.instances[job].clone()),
                ("target", ".+".to_string()),
                ("scenario", ".+".to_string()),
                ("__rate_interval", "15s".to_string()),
                ("__interval", "15s".to_string()),
                ("__range", "1h".to_string()),
            ]);
            Check {
                name,
                dashboard,
                values,
            }
        })
        .collect()
}

/// Polls until every panel query has data (rates need two scrapes, the TLS target its first
/// probe), for at most a minute; then names every dead panel.
fn assert_every_query_has_data(prometheus: &str, checks: &[Check]) {
    let started = Instant::now();
    let mut pending: Vec<(String, String, String)> = vec![];
    for check in checks {
        for (title, expr) in queries(&check.dashboard) {
            let substituted = substitute(&expr, &check.values);
            pending.push((format!("{}: {title}", check.name), expr, substituted));
        }
    }
    let deadline = started + Duration::from_secs(60);
    loop {
        let problems: Vec<String> = pending
            .iter()
            .filter_map(|(panel, raw, expr)| {
                query_problem(prometheus, expr).map(|p| format!("{panel}: {p}: {raw}"))
            })
            .collect();
        if problems.is_empty() {
            eprintln!("every panel had data after {:?}", started.elapsed());
            return;
        }
        assert!(
            Instant::now() < deadline,
            "dead panels after {:?}:\n{}",
            started.elapsed(),
            problems.join("\n")
        );
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Template variables list real values, each scoped by the ones before it; `instance` lists
/// exactly the synthex of the dashboard's job.
fn assert_variables_list_values(prometheus: &str, checks: &[Check]) {
    for check in checks {
        for v in check.dashboard["templating"]["list"].as_array().unwrap() {
            if v["type"] != "query" {
                continue;
            }
            let query = substitute(&variable_query(v), &check.values);
            let found = variable_values(prometheus, &query);
            assert!(
                !found.is_empty(),
                "{}: variable {} lists nothing: {query}",
                check.name,
                v["name"]
            );
            if v["name"] == "instance" {
                assert_eq!(found, vec![check.values["instance"].clone()], "{query}");
            }
        }
    }
}

/// Every selector narrows by target and scenario when its scraped series carry those labels.
fn assert_selectors_filter_on_scraped_labels(prometheus: &str, checks: &[Check]) {
    let mut labels_of: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for check in checks {
        for (title, expr) in queries(&check.dashboard) {
            for s in scan(&expr).0 {
                let labels = labels_of.entry(s.metric.clone()).or_insert_with(|| {
                    let path = format!("/api/v1/series?match[]={}", urlencode(&s.metric));
                    api(prometheus, &path)["data"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .flat_map(|series| series.as_object().unwrap().keys().cloned())
                        .collect()
                });
                for label in ["target", "scenario"] {
                    assert!(
                        !labels.contains(label) || has_matcher(&s.matchers, label),
                        "{}: {title}: {} has a {label} label but does not filter on ${label}",
                        check.name,
                        s.metric
                    );
                }
            }
        }
    }
}

#[test]
fn every_panel_query_returns_data_from_a_real_prometheus() {
    let mut stack = start_stack();
    let checks = checks(&stack);
    assert_every_query_has_data(&stack.prometheus, &checks);
    assert_variables_list_values(&stack.prometheus, &checks);
    assert_selectors_filter_on_scraped_labels(&stack.prometheus, &checks);
    for (name, process) in &mut stack.processes {
        assert!(process.is_running(), "{name} ended during the checks");
    }
}
