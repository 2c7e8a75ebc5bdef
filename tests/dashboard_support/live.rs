//! Helpers of the live dashboard test: the load test's config, Grafana's variable
//! substitution, and queries against Prometheus' HTTP API.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::common::{http_get, urlencode};

/// The load test's config: a scenario that checks JSON, a slow one (so requests are in flight
/// when scraped), one failing 30 % of the time (errors by reason) and the watched synthex.
pub fn load_config(target_port: u16) -> String {
    format!(
        r#"
targets:
  - name: demo
    base_url: http://127.0.0.1:{target_port}
    rate: 1/s
    scenarios:
      - name: order_status
        request: {{path: "/orders/{{{{ int 1..100 }}}}"}}
        expect: {{json: {{/status: shipped}}}}
      - name: slow
        request: {{path: /delay/50}}
      - name: flaky
        request: {{path: "/flaky?error_ratio=0.3"}}
resources:
  interval: 1s
  processes:
    - {{name: synthex, exe: synthex}}
"#
    )
}

/// Grafana's substitution of the variables, as the test sees them.
pub fn substitute(expr: &str, values: &BTreeMap<&str, String>) -> String {
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

/// A GET on Prometheus' HTTP API that must answer 200 with status success.
pub fn api(prometheus: &str, path_and_query: &str) -> Value {
    let (status, body) = http_get(&format!("{prometheus}{path_and_query}")).unwrap();
    let json: Value = serde_json::from_str(&body)
        .unwrap_or_else(|e| panic!("{path_and_query}: {e}: {body:.300}"));
    assert_eq!(status, 200, "{path_and_query}: {body:.500}");
    assert_eq!(json["status"], "success", "{path_and_query}: {body:.500}");
    json
}

/// Why a panel query is not (yet) showing data, or `None` when it is.
pub fn query_problem(prometheus: &str, expr: &str) -> Option<String> {
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
pub fn variable_values(prometheus: &str, query: &str) -> Vec<String> {
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
