//! The Grafana dashboards under `grafana/dashboards/` are correct as code and show live data:
//! - static lint (the grafana/dashboard-linter rules, re-implemented): unique panel ids, grid
//!   rectangles inside the 24 columns and not overlapping, a unit from the allowed set on every
//!   panel (and the right one for byte, ratio and latency queries), the `${datasource}` variable on
//!   every panel and query, `$__rate_interval` as the only range, counters and histogram series only
//!   inside `rate`/`increase`, every selector filtering on `$job` and `$instance`, the template
//!   variables `datasource`, `job`, `instance`, `target`, `scenario` as Grafana wants them, no
//!   import-only `__inputs`, objective lines on the latency, error and cache panels, and every
//!   metric of README's table on some panel;
//! - live: a real synthex (`run`, with objectives, cache detection, a stats endpoint, a watched
//!   process and an HTTPS target) probes the real demo target, a real Prometheus scrapes it every
//!   second, and then every panel query and every template variable query, with the variables
//!   substituted, returns data with at least one finite value; each selector filters on `$target`
//!   and `$scenario` whenever the scraped series carry those labels.

mod common;
mod dashboard_support;

#[allow(dead_code)] // only the HTTPS server and certificate helpers are used here
#[path = "probe_support/servers.rs"]
mod servers;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{Proc, free_port, require_tool, synthex_bin, wait_http_ok};
use dashboard_support::lint::{lint_panels, lint_queries, lint_templating};
use dashboard_support::live::{
    api, query_problem, substitute, synthex_config, urlencode, variable_values,
};
use dashboard_support::{
    dashboards, documented_metrics, has_matcher, is_counter_series, is_row, panels, queries, scan,
    variable_query, variables,
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
    let (_, d) = dashboards()
        .into_iter()
        .find(|(p, _)| p.ends_with("synthex-overview.json"))
        .expect("synthex-overview.json");
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
            "synthex_requests_total",
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

/// Every metric in README's table is on some panel (process_* is synthex's own overhead).
#[test]
fn every_documented_metric_has_a_panel() {
    let documented = documented_metrics();
    let (_, d) = dashboards()
        .into_iter()
        .find(|(p, _)| p.ends_with("synthex-overview.json"))
        .unwrap();
    let used: BTreeSet<String> = queries(&d)
        .iter()
        .flat_map(|(_, e)| scan(e).0)
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
    assert!(!is_counter_series("synthex_watched_process_count", &types));
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

/// An HTTPS target on 127.0.0.1 (so the TLS expiry panel has data) and its CA file.
fn start_tls_target(runtime: &tokio::runtime::Runtime, dir: &Path) -> (u16, PathBuf) {
    let cert = servers::test_cert(&["127.0.0.1"], "2031-05-17T08:30:00Z");
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, &cert.pem).unwrap();
    let server = runtime.block_on(servers::https(&cert, |_| servers::reply(200, &[], "ok")));
    (server.port(), ca)
}

/// synthex probing the demo target and an HTTPS target, scraped every second by Prometheus.
/// Fields drop in order: the processes stop before their directory goes.
struct Stack {
    _processes: Vec<Proc>,
    _runtime: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
    prometheus: String,
    instance: String,
}

fn start_stack() -> Stack {
    let prometheus_bin = require_tool("prometheus", "prometheus");
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (tls_port, ca) = start_tls_target(&runtime, dir.path());
    let (target_port, synthex_port, prom_port) = (free_port(), free_port(), free_port());
    let log = |name: &str| dir.path().join(format!("{name}.log"));

    let target = Proc::spawn(
        "demo-target",
        synthex_bin(),
        &["demo-target", &format!("--listen=127.0.0.1:{target_port}")],
        &log("target"),
    );
    wait_http_ok(
        &format!("http://127.0.0.1:{target_port}/health"),
        Duration::from_secs(10),
    );
    let config = dir.path().join("synthex.yml");
    std::fs::write(&config, synthex_config(target_port, tls_port, &ca)).unwrap();
    let synthex = Proc::spawn(
        "synthex",
        synthex_bin(),
        &[
            "run",
            &format!("--config.file={}", config.display()),
            &format!("--web.listen-address=127.0.0.1:{synthex_port}"),
        ],
        &log("synthex"),
    );
    wait_http_ok(
        &format!("http://127.0.0.1:{synthex_port}/-/ready"),
        Duration::from_secs(15),
    );

    let prom_config = dir.path().join("prometheus.yml");
    std::fs::write(
        &prom_config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: synthex\n    static_configs:\n      - targets: ['127.0.0.1:{synthex_port}']\n"
        ),
    )
    .unwrap();
    let prometheus = Proc::spawn(
        "prometheus",
        &prometheus_bin,
        &[
            &format!("--config.file={}", prom_config.display()),
            &format!("--storage.tsdb.path={}", dir.path().join("tsdb").display()),
            &format!("--web.listen-address=127.0.0.1:{prom_port}"),
        ],
        &log("prometheus"),
    );
    let url = format!("http://127.0.0.1:{prom_port}");
    wait_http_ok(&format!("{url}/-/ready"), Duration::from_secs(30));
    Stack {
        _processes: vec![prometheus, synthex, target],
        _runtime: runtime,
        _dir: dir,
        prometheus: url,
        instance: format!("127.0.0.1:{synthex_port}"),
    }
}

/// Polls until every panel query has data (rates need two scrapes, the TLS target its first
/// probe), for at most a minute; then names every dead panel.
fn assert_every_query_has_data(
    prometheus: &str,
    all: &[(PathBuf, Value)],
    values: &BTreeMap<&str, String>,
) {
    let started = Instant::now();
    let mut pending: Vec<(String, String, String)> = vec![];
    for (path, d) in all {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        for (title, expr) in queries(d) {
            let substituted = substitute(&expr, values);
            pending.push((format!("{name}: {title}"), expr, substituted));
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
/// exactly the synthex that runs.
fn assert_variables_list_values(
    prometheus: &str,
    all: &[(PathBuf, Value)],
    values: &BTreeMap<&str, String>,
    instance: &str,
) {
    for (path, d) in all {
        for v in d["templating"]["list"].as_array().unwrap() {
            if v["type"] != "query" {
                continue;
            }
            let query = substitute(&variable_query(v), values);
            let found = variable_values(prometheus, &query);
            assert!(
                !found.is_empty(),
                "{}: variable {} lists nothing: {query}",
                path.display(),
                v["name"]
            );
            if v["name"] == "instance" {
                assert_eq!(found, vec![instance.to_string()], "{query}");
            }
        }
    }
}

/// Every selector narrows by target and scenario when its scraped series carry those labels.
fn assert_selectors_filter_on_scraped_labels(prometheus: &str, all: &[(PathBuf, Value)]) {
    let mut labels_of: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (path, d) in all {
        for (title, expr) in queries(d) {
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
                        path.display(),
                        s.metric
                    );
                }
            }
        }
    }
}

#[test]
fn every_panel_query_returns_data_from_a_real_prometheus() {
    let stack = start_stack();
    let values = BTreeMap::from([
        ("job", "synthex".to_string()),
        ("instance", stack.instance.clone()),
        ("target", ".+".to_string()),
        ("scenario", ".+".to_string()),
        ("__rate_interval", "15s".to_string()),
        ("__interval", "15s".to_string()),
        ("__range", "1h".to_string()),
    ]);
    let all = dashboards();
    assert_every_query_has_data(&stack.prometheus, &all, &values);
    assert_variables_list_values(&stack.prometheus, &all, &values, &stack.instance);
    assert_selectors_filter_on_scraped_labels(&stack.prometheus, &all);
}
