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

#[allow(dead_code)] // only the HTTPS server and certificate helpers are used here
#[path = "probe_support/servers.rs"]
mod servers;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{Proc, free_port, http_get, require_tool, synthex_bin, wait_http_ok};
use serde_json::Value;

const DS_UID: &str = "${datasource}";
const ALLOWED_UNITS: &[&str] = &[
    "s",
    "ms",
    "percentunit",
    "percent",
    "reqps",
    "bytes",
    "short",
    "none",
    "dateTimeAsIso",
    "dtdurations",
];
/// Functions inside which a counter or histogram series may appear.
const RATE_FUNCTIONS: &[&str] = &["rate", "irate", "increase"];
/// Grafana's built-in variables the queries may use.
const BUILTINS: &[&str] = &["__rate_interval", "__interval", "__range"];
const TEMPLATE_VARS: &[&str] = &["job", "instance", "target", "scenario"];

fn dashboards() -> Vec<(PathBuf, Value)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("grafana/dashboards");
    let mut out: Vec<(PathBuf, Value)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            assert!(
                !text.contains("DS_PROMETHEUS") && !text.contains("__inputs"),
                "{}: import-only datasource inputs do not work when provisioned",
                p.display()
            );
            let json =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p, json)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(!out.is_empty(), "no dashboards in {}", dir.display());
    out
}

/// All panels, rows' nested panels included.
fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut out = vec![];
    for p in dashboard["panels"].as_array().expect("panels") {
        out.push(p);
        if let Some(nested) = p["panels"].as_array() {
            out.extend(nested);
        }
    }
    out
}

fn is_row(panel: &Value) -> bool {
    panel["type"] == "row"
}

/// (panel title, expr) of every query of every panel.
fn queries(dashboard: &Value) -> Vec<(String, String)> {
    panels(dashboard)
        .into_iter()
        .filter(|p| !is_row(p))
        .flat_map(|p| {
            let title = p["title"].as_str().unwrap_or("?").to_string();
            p["targets"]
                .as_array()
                .unwrap_or_else(|| panic!("panel {title}: no targets"))
                .iter()
                .map(move |t| {
                    let expr = t["expr"]
                        .as_str()
                        .unwrap_or_else(|| panic!("panel {title}: target without expr"));
                    (title.clone(), expr.to_string())
                })
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// A small PromQL scanner: enough to find metric selectors, their matchers, the function each one
// sits in, and range durations. Strings are skipped, so label values never look like names.

#[derive(Debug)]
struct Selector {
    metric: String,
    /// Raw text between the braces ("" when there are none).
    matchers: String,
    /// Innermost enclosing function or aggregation ("" at top level).
    enclosing: String,
}

fn scan(expr: &str) -> (Vec<Selector>, Vec<String>) {
    let chars: Vec<char> = expr.chars().collect();
    let mut selectors = vec![];
    let mut ranges = vec![];
    let mut stack: Vec<String> = vec![];
    let mut last_ident = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' {
            i += 1;
            while i < chars.len() && chars[i] != c {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            last_ident.clear();
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || "_:".contains(chars[i])) {
                i += 1;
            }
            let ident: String = chars[start..i].iter().collect();
            let mut j = i;
            while j < chars.len() && chars[j] == ' ' {
                j += 1;
            }
            let is_metric = ident.starts_with("synthex_") || ident.starts_with("process_");
            if is_metric && chars.get(j) != Some(&'(') {
                let matchers = if chars.get(i) == Some(&'{') {
                    let end = chars[i..].iter().position(|&c| c == '}').unwrap() + i;
                    let m: String = chars[i + 1..end].iter().collect();
                    i = end + 1;
                    m
                } else {
                    String::new()
                };
                selectors.push(Selector {
                    metric: ident.clone(),
                    matchers,
                    enclosing: stack.last().cloned().unwrap_or_default(),
                });
            }
            last_ident = ident;
            continue;
        } else if c == '(' {
            stack.push(std::mem::take(&mut last_ident));
            i += 1;
        } else if c == ')' {
            stack.pop();
            last_ident.clear();
            i += 1;
        } else if c == '[' {
            let end = chars[i..].iter().position(|&c| c == ']').unwrap() + i;
            ranges.push(chars[i + 1..end].iter().collect());
            i = end + 1;
        } else {
            if !c.is_whitespace() {
                last_ident.clear();
            }
            i += 1;
        }
    }
    (selectors, ranges)
}

fn has_matcher(matchers: &str, label: &str) -> bool {
    matchers.contains(&format!("{label}=~\"${label}\""))
}

/// `$name` and `${name}` references in a string.
fn variables(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(pos) = rest.find('$') {
        rest = &rest[pos + 1..];
        let braced = rest.starts_with('{');
        let body = if braced { &rest[1..] } else { rest };
        let name: String = body
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            out.insert(name);
        }
    }
    out
}

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

fn lint_templating(file: &str, d: &Value) {
    let vars = d["templating"]["list"].as_array().expect("templating.list");
    let ds: Vec<&Value> = vars.iter().filter(|v| v["type"] == "datasource").collect();
    assert_eq!(ds.len(), 1, "{file}: exactly one datasource variable");
    assert_eq!(ds[0]["name"], "datasource");
    assert_eq!(ds[0]["label"], "Data Source");
    assert_eq!(ds[0]["query"], "prometheus");

    let mut defined = vec!["datasource".to_string()];
    for name in TEMPLATE_VARS {
        let v = vars
            .iter()
            .find(|v| v["name"] == *name)
            .unwrap_or_else(|| panic!("{file}: template variable {name} missing"));
        assert_eq!(v["type"], "query", "{file}: {name} is a query variable");
        assert_eq!(v["label"], *name, "{file}: {name} label");
        assert_eq!(
            v["datasource"],
            serde_json::json!({"type": "prometheus", "uid": DS_UID}),
            "{file}: {name} uses the datasource variable"
        );
        assert_eq!(
            v["refresh"], 2,
            "{file}: {name} refreshes on time-range change"
        );
        assert_eq!(v["multi"], true, "{file}: {name} is multi-select");
        assert_eq!(v["includeAll"], true, "{file}: {name} includes All");
        assert_eq!(v["allValue"], ".+", "{file}: {name} allValue");
        let query = variable_query(v);
        assert!(
            query.starts_with("label_values(") && query.ends_with(&format!(", {name})")),
            "{file}: {name} query {query}"
        );
        for used in variables(&query) {
            assert!(
                defined.contains(&used),
                "{file}: {name} uses ${used} before it is defined"
            );
        }
        defined.push(name.to_string());
    }
}

/// The PromQL of a query variable (string form or the query-editor object form).
fn variable_query(v: &Value) -> String {
    v["query"]
        .as_str()
        .or_else(|| v["query"]["query"].as_str())
        .expect("variable query")
        .to_string()
}

fn lint_panels(file: &str, d: &Value) {
    let all = panels(d);
    let mut ids = BTreeSet::new();
    let mut rects: Vec<(String, [u64; 4])> = vec![];
    for p in &all {
        let title = p["title"].as_str().unwrap_or_default().to_string();
        let id = p["id"]
            .as_u64()
            .unwrap_or_else(|| panic!("{file}: {title}: id"));
        assert!(ids.insert(id), "{file}: panel id {id} used twice");
        let g = &p["gridPos"];
        let [x, y, w, h] = ["x", "y", "w", "h"].map(|k| {
            g[k].as_u64()
                .unwrap_or_else(|| panic!("{file}: {title}: gridPos.{k}"))
        });
        assert!(
            w > 0 && h > 0 && x + w <= 24,
            "{file}: {title}: gridPos {g} outside the 24 columns"
        );
        for (other, [ox, oy, ow, oh]) in &rects {
            let overlap = x < ox + ow && *ox < x + w && y < oy + oh && *oy < y + h;
            assert!(!overlap, "{file}: panels {other:?} and {title:?} overlap");
        }
        rects.push((title.clone(), [x, y, w, h]));
        if is_row(p) {
            continue;
        }
        assert!(!title.is_empty(), "{file}: panel {id} has no title");
        assert!(
            p["description"].as_str().is_some_and(|s| !s.is_empty()),
            "{file}: {title}: description"
        );
        assert_eq!(
            p["datasource"],
            serde_json::json!({"type": "prometheus", "uid": DS_UID}),
            "{file}: {title}: panel datasource"
        );
        let targets = p["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{file}: {title}: no queries");
        for t in targets {
            assert_eq!(
                t["datasource"],
                serde_json::json!({"type": "prometheus", "uid": DS_UID}),
                "{file}: {title}: query datasource"
            );
        }
        lint_unit(file, &title, p);
    }
}

/// A unit from the allowed set; bytes, ratios and latencies get theirs.
fn lint_unit(file: &str, title: &str, p: &Value) {
    let unit = if p["type"] == "heatmap" {
        p["options"]["yAxis"]["unit"].as_str()
    } else {
        p["fieldConfig"]["defaults"]["unit"].as_str()
    }
    .unwrap_or_else(|| panic!("{file}: {title}: no unit"));
    assert!(
        ALLOWED_UNITS.contains(&unit),
        "{file}: {title}: unit {unit} not in {ALLOWED_UNITS:?}"
    );
    let first = p["targets"][0]["expr"].as_str().unwrap();
    let (selectors, _) = scan(first);
    let metric = &selectors[0].metric;
    let expected = if first.starts_with("histogram_quantile") || p["type"] == "heatmap" {
        Some("s")
    } else if metric.ends_with("_bytes") {
        Some("bytes")
    } else if metric.ends_with("_ratio") {
        Some("percentunit")
    } else if metric.ends_with("_timestamp_seconds") {
        None // shown as a date or as time left
    } else if metric.ends_with("_seconds") || metric.ends_with("_seconds_sum") {
        Some("s")
    } else {
        None
    };
    if let Some(expected) = expected {
        assert_eq!(unit, expected, "{file}: {title}: unit for {first}");
    }
}

fn lint_queries(file: &str, d: &Value) {
    let types = documented_metrics();
    let defined: BTreeSet<String> = d["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap().to_string())
        .collect();
    for (title, expr) in queries(d) {
        let (selectors, ranges) = scan(&expr);
        assert!(
            !selectors.is_empty(),
            "{file}: {title}: no metric in {expr}"
        );
        for range in &ranges {
            assert_eq!(
                range, "$__rate_interval",
                "{file}: {title}: ranges use $__rate_interval: {expr}"
            );
        }
        for s in &selectors {
            for label in ["job", "instance"] {
                assert!(
                    has_matcher(&s.matchers, label),
                    "{file}: {title}: {} does not filter on {label}=~\"${label}\"",
                    s.metric
                );
            }
            let counter_like = is_counter_series(&s.metric, &types);
            if counter_like {
                assert!(
                    RATE_FUNCTIONS.contains(&s.enclosing.as_str()),
                    "{file}: {title}: {} must be inside rate/increase, found in {:?}",
                    s.metric,
                    s.enclosing
                );
            }
        }
        for used in variables(&expr) {
            assert!(
                defined.contains(&used) || BUILTINS.contains(&used.as_str()),
                "{file}: {title}: unknown variable ${used}"
            );
        }
    }
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

/// README's metric table: name → type (`counter`, `gauge`, `histogram`, `summary`).
fn documented_metrics() -> BTreeMap<String, String> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let table = readme
        .split("## Metrics")
        .nth(1)
        .expect("README has a Metrics section");
    let mut documented = BTreeMap::new();
    for line in table.lines().filter(|l| l.starts_with("| `synthex_")) {
        let cells: Vec<&str> = line.split('|').collect();
        for name in cells[1].split(',') {
            documented.insert(
                name.trim().trim_matches('`').to_string(),
                cells[2].trim().to_string(),
            );
        }
    }
    assert!(documented.len() > 20, "README metrics table not found");
    documented
}

/// Whether a series only makes sense inside rate/increase: counters, and the `_bucket`, `_sum`
/// and `_count` series of histograms and summaries (a gauge may well end in `_count`).
fn is_counter_series(metric: &str, types: &BTreeMap<String, String>) -> bool {
    if metric.ends_with("_total") || metric.ends_with("_bucket") {
        return true;
    }
    ["_sum", "_count"].iter().any(|suffix| {
        metric.strip_suffix(suffix).is_some_and(|base| {
            types
                .get(base)
                .is_some_and(|t| t == "histogram" || t == "summary")
        })
    })
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

fn synthex_config(target_port: u16, tls_port: u16, ca_file: &Path) -> String {
    format!(
        r#"
global:
  quantile_window: 1m
targets:
  - name: demo
    base_url: http://127.0.0.1:{target_port}
    rate: 40/s
    timeout: 2s
    max_in_flight: 16
    stats:
      url: /stats
      interval: 1s
      fields:
        requests_total: /requests_total
        cache_hit_ratio: /cache/hit_ratio
        healthy: /healthy
    objectives: {{p95: 75ms, p99: 150ms, error_ratio: 5%, availability: 99%, cache_hit_ratio: 50%}}
    scenarios:
      - name: order_status
        weight: 2
        request: {{path: "/orders/{{{{ int 1..100 }}}}"}}
        expect: {{json: {{/status: shipped}}}}
      - name: fixed_delay
        request: {{path: /delay/20}}
      - name: cached_page
        weight: 2
        request: {{path: "/cache/page-{{{{ int 1..5 }}}}"}}
      - name: flaky
        weight: 2
        request: {{path: "/flaky?error_ratio=0.3"}}
  - name: tls
    base_url: https://127.0.0.1:{tls_port}
    rate: 5/s
    tls: {{ca_file: {ca}}}
    scenarios:
      - name: health
        request: {{path: /health}}
resources:
  interval: 1s
  processes:
    - {{name: synthex, exe: synthex}}
"#,
        ca = ca_file.display()
    )
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Grafana's substitution of the variables, as the test sees them.
fn substitute(expr: &str, values: &BTreeMap<&str, String>) -> String {
    let mut out = expr.to_string();
    // Longest names first, so no name is replaced inside a longer one.
    let mut ordered: Vec<_> = values.iter().collect();
    ordered.sort_by_key(|(name, _)| std::cmp::Reverse(name.len()));
    for (name, value) in ordered {
        out = out.replace(&format!("${{{name}}}"), value);
        out = out.replace(&format!("${name}"), value);
    }
    out
}

fn api(prometheus: &str, path_and_query: &str) -> Value {
    let (status, body) = http_get(&format!("{prometheus}{path_and_query}")).unwrap();
    let json: Value = serde_json::from_str(&body)
        .unwrap_or_else(|e| panic!("{path_and_query}: {e}: {body:.300}"));
    assert_eq!(status, 200, "{path_and_query}: {body:.500}");
    assert_eq!(json["status"], "success", "{path_and_query}: {body:.500}");
    json
}

/// Why a panel query is not (yet) showing data, or `None` when it is.
fn query_problem(prometheus: &str, expr: &str) -> Option<String> {
    let json = api(
        prometheus,
        &format!("/api/v1/query?query={}", urlencode(expr)),
    );
    let result = json["data"]["result"].as_array()?;
    if result.is_empty() {
        return Some("empty result".into());
    }
    let finite = result.iter().any(|series| {
        series["value"][1]
            .as_str()
            .and_then(|v| v.parse::<f64>().ok())
            .is_some_and(f64::is_finite)
    });
    (!finite).then(|| format!("no finite value in {} series", result.len()))
}

/// `label_values(selector, label)` run as Grafana does, through the label values API.
fn variable_values(prometheus: &str, query: &str) -> Vec<String> {
    let inner = query
        .strip_prefix("label_values(")
        .and_then(|q| q.strip_suffix(')'))
        .unwrap();
    let (selector, label) = inner.rsplit_once(',').unwrap();
    let json = api(
        prometheus,
        &format!(
            "/api/v1/label/{}/values?match[]={}",
            label.trim(),
            urlencode(selector.trim())
        ),
    );
    json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

/// An HTTPS target on 127.0.0.1 (so the TLS expiry panel has data) and its CA file.
fn start_tls_target(runtime: &tokio::runtime::Runtime, dir: &Path) -> (u16, PathBuf) {
    let cert = servers::test_cert(&["127.0.0.1"], "2031-05-17T08:30:00Z");
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, &cert.pem).unwrap();
    let server = runtime.block_on(servers::https(&cert, |_| servers::reply(200, &[], "ok")));
    (server.port(), ca)
}

#[test]
fn every_panel_query_returns_data_from_a_real_prometheus() {
    let prometheus_bin = require_tool("prometheus", "prometheus");
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (tls_port, ca) = start_tls_target(&runtime, dir.path());
    let (target_port, synthex_port, prom_port) = (free_port(), free_port(), free_port());

    let _target = Proc::spawn(
        "demo-target",
        synthex_bin(),
        &["demo-target", &format!("--listen=127.0.0.1:{target_port}")],
        &dir.path().join("target.log"),
    );
    wait_http_ok(
        &format!("http://127.0.0.1:{target_port}/health"),
        Duration::from_secs(10),
    );
    let config = dir.path().join("synthex.yml");
    std::fs::write(&config, synthex_config(target_port, tls_port, &ca)).unwrap();
    let _synthex = Proc::spawn(
        "synthex",
        synthex_bin(),
        &[
            "run",
            &format!("--config.file={}", config.display()),
            &format!("--web.listen-address=127.0.0.1:{synthex_port}"),
        ],
        &dir.path().join("synthex.log"),
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
    let _prometheus = Proc::spawn(
        "prometheus",
        &prometheus_bin,
        &[
            &format!("--config.file={}", prom_config.display()),
            &format!("--storage.tsdb.path={}", dir.path().join("tsdb").display()),
            &format!("--web.listen-address=127.0.0.1:{prom_port}"),
        ],
        &dir.path().join("prometheus.log"),
    );
    let prometheus = format!("http://127.0.0.1:{prom_port}");
    wait_http_ok(&format!("{prometheus}/-/ready"), Duration::from_secs(30));

    let instance = format!("127.0.0.1:{synthex_port}");
    let values = BTreeMap::from([
        ("job", "synthex".to_string()),
        ("instance", instance.clone()),
        ("target", ".+".to_string()),
        ("scenario", ".+".to_string()),
        ("__rate_interval", "15s".to_string()),
        ("__interval", "15s".to_string()),
        ("__range", "1h".to_string()),
    ]);

    let all = dashboards();
    let mut pending: Vec<(String, String, String)> = vec![];
    for (path, d) in &all {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        for (title, expr) in queries(d) {
            pending.push((
                format!("{name}: {title}"),
                expr.clone(),
                substitute(&expr, &values),
            ));
        }
    }

    // Poll until every query has data; rates need two scrapes, the TLS target its first probe.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut problems: Vec<String>;
    loop {
        problems = pending
            .iter()
            .filter_map(|(panel, raw, expr)| {
                query_problem(&prometheus, expr).map(|p| format!("{panel}: {p}: {raw}"))
            })
            .collect();
        if problems.is_empty() || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    assert!(
        problems.is_empty(),
        "dead panels after {:?}:\n{}",
        started.elapsed(),
        problems.join("\n")
    );

    // Template variables list real values, each one scoped by the ones before it.
    for (path, d) in &all {
        for v in d["templating"]["list"].as_array().unwrap() {
            if v["type"] != "query" {
                continue;
            }
            let query = substitute(&variable_query(v), &values);
            let found = variable_values(&prometheus, &query);
            assert!(
                !found.is_empty(),
                "{}: variable {} lists nothing: {query}",
                path.display(),
                v["name"]
            );
        }
    }
    let d = &all
        .iter()
        .find(|(p, _)| p.ends_with("synthex-overview.json"))
        .unwrap()
        .1;
    let instances = variable_values(
        &prometheus,
        &substitute(
            &variable_query(
                d["templating"]["list"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|v| v["name"] == "instance")
                    .unwrap(),
            ),
            &values,
        ),
    );
    assert_eq!(instances, vec![instance]);

    // Every selector narrows by target and scenario when its series carry those labels.
    let mut labels_of: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (path, d) in &all {
        for (title, expr) in queries(d) {
            for s in scan(&expr).0 {
                let labels = labels_of.entry(s.metric.clone()).or_insert_with(|| {
                    let json = api(
                        &prometheus,
                        &format!("/api/v1/series?match[]={}", urlencode(&s.metric)),
                    );
                    json["data"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .flat_map(|series| series.as_object().unwrap().keys().cloned())
                        .collect()
                });
                for label in ["target", "scenario"] {
                    if labels.contains(label) {
                        assert!(
                            has_matcher(&s.matchers, label),
                            "{}: {title}: {} has a {label} label but does not filter on ${label}",
                            path.display(),
                            s.metric
                        );
                    }
                }
            }
        }
    }
    eprintln!("every panel had data after {:?}", started.elapsed());
}
