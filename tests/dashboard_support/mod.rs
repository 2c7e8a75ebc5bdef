//! Shared by tests/dashboards.rs: loading the dashboards, walking their panels and queries, a
//! small PromQL scanner, README's metric table, and the recording rules a panel must not
//! recompute.

pub mod lint;
pub mod live;
pub mod recorded;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

/// Every dashboard JSON under grafana/dashboards/, sorted by path; none may use import-only
/// `__inputs`.
pub fn dashboards() -> Vec<(PathBuf, Value)> {
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

/// The dashboard of grafana/dashboards/`file`.
pub fn dashboard(file: &str) -> Value {
    dashboards()
        .into_iter()
        .find(|(p, _)| p.ends_with(file))
        .unwrap_or_else(|| panic!("no dashboard {file}"))
        .1
}

/// All panels, rows' nested panels included.
pub fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut out = vec![];
    for p in dashboard["panels"].as_array().expect("panels") {
        out.push(p);
        if let Some(nested) = p["panels"].as_array() {
            out.extend(nested);
        }
    }
    out
}

/// Rows only group panels: no queries, no unit.
pub fn is_row(panel: &Value) -> bool {
    panel["type"] == "row"
}

/// (panel title, expr) of every query of every panel.
pub fn queries(dashboard: &Value) -> Vec<(String, String)> {
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

/// One metric selector found in an expression.
#[derive(Debug)]
pub struct Selector {
    /// The metric name.
    pub metric: String,
    /// Raw text between the braces ("" when there are none).
    pub matchers: String,
    /// Innermost enclosing function or aggregation ("" at top level).
    pub enclosing: String,
}

/// The metric selectors of `expr` and the text of its range brackets.
pub fn scan(expr: &str) -> (Vec<Selector>, Vec<String>) {
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
            // Recorded series (`synthex:…`) are selectors like any other.
            let is_metric = ["synthex_", "synthex:", "process_"]
                .iter()
                .any(|prefix| ident.starts_with(prefix));
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

/// Whether `matchers` holds `label=~"$label"`.
pub fn has_matcher(matchers: &str, label: &str) -> bool {
    matchers.contains(&format!("{label}=~\"${label}\""))
}

/// `$name` and `${name}` references in a string.
pub fn variables(text: &str) -> BTreeSet<String> {
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

/// The PromQL of a query variable (string form or the query-editor object form).
pub fn variable_query(v: &Value) -> String {
    v["query"]
        .as_str()
        .or_else(|| v["query"]["query"].as_str())
        .expect("variable query")
        .to_string()
}

/// README's metric table: name → type (`counter`, `gauge`, `histogram`, `summary`).
pub fn documented_metrics() -> BTreeMap<String, String> {
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
pub fn is_counter_series(metric: &str, types: &BTreeMap<String, String>) -> bool {
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
