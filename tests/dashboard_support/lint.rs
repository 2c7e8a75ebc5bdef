//! The static lint rules (grafana/dashboard-linter's, re-implemented) applied to each dashboard.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{
    documented_metrics, has_matcher, is_counter_series, is_row, panels, queries, scan,
    variable_query, variables,
};

/// The datasource uid every panel and query must use: the template variable.
pub const DS_UID: &str = "${datasource}";
/// Units a panel may declare.
pub const ALLOWED_UNITS: &[&str] = &[
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
pub const RATE_FUNCTIONS: &[&str] = &["rate", "irate", "increase"];
/// Grafana's built-in variables the queries may use.
pub const BUILTINS: &[&str] = &["__rate_interval", "__interval", "__range"];
/// Query variables the dashboard must offer, in dependency order.
pub const TEMPLATE_VARS: &[&str] = &["job", "instance", "target", "scenario"];

/// One `datasource` variable; `job`, `instance`, `target`, `scenario` as dashboard-linter wants
/// them (query, `$datasource`, refresh on time change, multi, All = `.+`), each using only
/// variables defined before it.
pub fn lint_templating(file: &str, d: &Value) {
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

/// Unique ids, grid rectangles inside 24 columns without overlap, title, description, the
/// datasource variable on the panel and each query, and a unit.
pub fn lint_panels(file: &str, d: &Value) {
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
pub fn lint_unit(file: &str, title: &str, p: &Value) {
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
    // A recorded series (level:metric:operations) is named after the metric it derives from.
    let recorded = selectors[0].metric.split(':').collect::<Vec<_>>();
    let (metric, operations) = match recorded[..] {
        [_, metric, operations] => (metric, operations),
        _ => (selectors[0].metric.as_str(), ""),
    };
    let quantile = first.starts_with("histogram_quantile")
        || (operations.starts_with('p')
            && operations[1..].starts_with(|c: char| c.is_ascii_digit()));
    let expected = if quantile || p["type"] == "heatmap" {
        Some("s")
    } else if metric.ends_with("_bytes") {
        Some("bytes")
    } else if metric.ends_with("_ratio") || operations.starts_with("ratio") {
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

/// Ranges are `$__rate_interval`, selectors filter on `$job` and `$instance`, counter series sit
/// inside rate/increase, and only defined variables are used.
pub fn lint_queries(file: &str, d: &Value) {
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
