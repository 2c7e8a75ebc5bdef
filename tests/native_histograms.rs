//! Native histograms, exemplars and trace context against the real Prometheus 2.42 (Debian
//! package `prometheus`). Three synthex processes probe one test target whose latencies it
//! chooses (80 % between 20 and 100 ms, 20 % between 500 and 560 ms: the slow ones fill only the
//! lower quarter of the classic (0.5, 0.75] bucket). Two Prometheus servers scrape all three:
//! - "native" (`--enable-feature=native-histograms,exemplar-storage`) negotiates the protobuf
//!   exposition and ingests the native histogram;
//! - "classic" (`--enable-feature=exemplar-storage`) negotiates OpenMetrics and ingests the
//!   classic buckets, so its scrapes succeeding is OpenMetrics parsed by Prometheus's own parser.
//!
//! The truth is the target's own record of every request (its handling time, measured by the
//! target). The fleet-wide p95 from the native histograms must be within 5 % of the true p95,
//! and the classic buckets' estimate must be further off (both figures are printed). The
//! exemplars both servers return must carry trace ids the target received in `traceparent`
//! headers, with that request's latency. Both load `alerts/synthex.rules.yml`: the native server
//! holds `SynthexLatencyHighNative`, the classic one `SynthexLatencyHigh`, neither the other.
//! Runs ~60 s.

mod common;

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prost::Message;
use synthex::metrics::protobuf::model::{MetricFamily, MetricType};

use common::counting_target::CountingTarget;
use common::{
    Proc, free_port, http_get, require_tool, start_prometheus_named, synthex_bin, urlencode,
    wait_http_ok,
};

/// The latency the target gives its `n`-th request: a golden-ratio sequence, so any stretch of
/// requests has nearly the same distribution as the whole run.
fn delay(n: u64) -> Duration {
    let u = (n as f64 * 0.618_033_988_749_895).fract();
    let ms = if u < 0.8 {
        20.0 + u / 0.8 * 80.0
    } else {
        500.0 + (u - 0.8) / 0.2 * 60.0
    };
    Duration::from_secs_f64(ms / 1000.0)
}

fn synthex_config(target_port: u16) -> String {
    format!(
        "targets:\n  - name: native\n    base_url: http://127.0.0.1:{target_port}\n    \
         rate: 10/s\n    timeout: 5s\n    max_in_flight: 32\n    objectives: {{p95: 300ms}}\n    \
         scenarios:\n      \
         - name: spread\n        request: {{path: /}}\n"
    )
}

fn prometheus_config(synthex_ports: &[u16]) -> String {
    let targets: Vec<String> = synthex_ports
        .iter()
        .map(|p| format!("'127.0.0.1:{p}'"))
        .collect();
    let rules = concat!(env!("CARGO_MANIFEST_DIR"), "/alerts/synthex.rules.yml");
    format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: ['{rules}']\n\
         scrape_configs:\n  - job_name: synthex\n    static_configs:\n      - targets: [{}]\n",
        targets.join(", ")
    )
}

fn query(prometheus: &str, path_and_query: &str) -> serde_json::Value {
    let (status, body) = http_get(&format!("{prometheus}{path_and_query}")).unwrap();
    assert_eq!(status, 200, "{path_and_query}: {body}");
    serde_json::from_str(&body).unwrap()
}

fn query_value(prometheus: &str, promql: &str) -> Option<f64> {
    let json = query(
        prometheus,
        &format!("/api/v1/query?query={}", urlencode(promql)),
    );
    let value = json.pointer("/data/result/0/value/1")?.as_str()?;
    value.parse().ok().filter(|v: &f64| v.is_finite())
}

/// `/metrics` with an `Accept` header: the response head and the raw body.
fn scrape(port: u16, accept: &str) -> (String, Vec<u8>) {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\nAccept: {accept}\r\n\r\n"
    )
    .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8_lossy(&response[..split]).to_string();
    (head, response[split + 4..].to_vec())
}

const PROTOBUF: &str =
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";

/// The trace id of a W3C `traceparent` (version 00, sampled), checked independently of synthex.
fn trace_id(traceparent: &str) -> Option<&str> {
    let parts: Vec<&str> = traceparent.split('-').collect();
    let hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    };
    (parts.len() == 4
        && parts[0] == "00"
        && hex(parts[1], 32)
        && hex(parts[2], 16)
        && parts[3] == "01"
        && parts[1] != "0".repeat(32)
        && parts[2] != "0".repeat(16))
    .then_some(parts[1])
}

/// The `q` quantile of `values` as Prometheus-free truth: the smallest value with at least
/// `q` of all values at or below it.
fn quantile(values: &mut [f64], q: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let rank = ((q * values.len() as f64).ceil() as usize).max(1);
    values[rank - 1]
}

/// The exemplars a server holds for `selector` since `start`: (trace id, value).
fn exemplars(prometheus: &str, selector: &str, start: f64) -> Vec<(String, f64)> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let json = query(
        prometheus,
        &format!(
            "/api/v1/query_exemplars?query={}&start={start:.3}&end={:.3}",
            urlencode(selector),
            now + 1.0
        ),
    );
    let mut out = Vec::new();
    for series in json["data"].as_array().cloned().unwrap_or_default() {
        for exemplar in series["exemplars"].as_array().cloned().unwrap_or_default() {
            let id = exemplar["labels"]["trace_id"].as_str().unwrap_or_default();
            let value = exemplar["value"].as_str().and_then(|v| v.parse().ok());
            out.push((id.to_string(), value.unwrap_or(f64::NAN)));
        }
    }
    out
}

/// The queries of the overview panel `title` that ask Grafana for exemplars, with the dashboard
/// variables set to match everything.
fn exemplar_queries(dashboard: &serde_json::Value, title: &str) -> Vec<String> {
    let panel = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["title"] == title)
        .unwrap_or_else(|| panic!("no panel {title}"));
    let queries: Vec<String> = panel["targets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["exemplar"] == true)
        .map(|t| {
            let mut expr = t["expr"].as_str().unwrap().to_string();
            for (variable, value) in [
                ("$__rate_interval", "1m"),
                ("$job", ".*"),
                ("$instance", ".*"),
                ("$target", ".*"),
                ("$scenario", ".*"),
            ] {
                expr = expr.replace(variable, value);
            }
            expr
        })
        .collect();
    assert!(!queries.is_empty(), "{title}: no query asks for exemplars");
    queries
}

/// The alerts a server has pending or firing: (name, state).
fn active_alerts(prometheus: &str) -> Vec<(String, String)> {
    let json = query(prometheus, "/api/v1/alerts");
    json["data"]["alerts"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|a| {
            let name = a["labels"]["alertname"].as_str().unwrap_or_default();
            (
                name.to_string(),
                a["state"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// How long a server may take to hold exemplars for a query once the checks reach them: a few
/// scrapes (1 s apart), with room for a machine busy enough to delay them.
const EXEMPLARS_WITHIN: Duration = Duration::from_secs(60);

/// The exemplars `server` holds for `expr` since `started` name traces the target received,
/// each with that request's latency: at least the target's handling time, at most a generous
/// client-side overhead more. Polls until the server holds exemplars whose traces are all in
/// the target's records (at most [`EXEMPLARS_WITHIN`]): exemplars come with scrapes, and a
/// request the target handled after an earlier look at its records may be scraped by now, so
/// the records are read after each query, never before.
fn assert_exemplars_lead_to_traces(
    server: &str,
    prometheus: &str,
    expr: &str,
    started: f64,
    target: &CountingTarget,
) {
    let deadline = Instant::now() + EXEMPLARS_WITHIN;
    loop {
        let found = exemplars(prometheus, expr, started);
        let by_trace: HashMap<String, f64> = target
            .handled()
            .iter()
            .filter_map(|r| Some((trace_id(r.traceparent.as_deref()?)?.to_string(), r.seconds)))
            .collect();
        let unknown = found.iter().find(|(id, _)| !by_trace.contains_key(id));
        if !found.is_empty() && unknown.is_none() {
            for (id, value) in &found {
                let handled = by_trace[id];
                assert!(
                    *value >= handled - 1e-3 && *value <= handled + 0.25,
                    "{server}: exemplar {id} says {value} s, the target handled it in {handled} s"
                );
            }
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{server}: {expr}: within {EXEMPLARS_WITHIN:?} {}",
            match unknown {
                Some((id, _)) => format!("exemplar trace id {id} was never sent to the target"),
                None => "no exemplars".to_string(),
            }
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn native_histograms_give_the_true_fleet_p95_and_exemplars_lead_to_the_traces() {
    let promtool = require_tool("promtool", "prometheus");
    let dir = tempfile::tempdir().unwrap();
    let target = CountingTarget::start_with(delay);
    let target_port = target.addr.port();

    let config_path = dir.path().join("synthex.yml");
    std::fs::write(&config_path, synthex_config(target_port)).unwrap();
    let ports = [free_port(), free_port(), free_port()];
    let _synthex: Vec<Proc> = ports
        .iter()
        .enumerate()
        .map(|(i, port)| {
            Proc::spawn(
                &format!("synthex-{i}"),
                synthex_bin(),
                &[
                    "run",
                    &format!("--config.file={}", config_path.display()),
                    &format!("--web.listen-address=127.0.0.1:{port}"),
                ],
                &dir.path().join(format!("synthex-{i}.log")),
            )
        })
        .collect();
    for port in ports {
        wait_http_ok(
            &format!("http://127.0.0.1:{port}/-/healthy"),
            Duration::from_secs(15),
        );
    }
    let started = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let config = prometheus_config(&ports);
    let (_native_prom, native) = start_prometheus_named(
        dir.path(),
        "prometheus-native",
        &config,
        &["--enable-feature=native-histograms,exemplar-storage"],
    );
    let (_classic_prom, classic) = start_prometheus_named(
        dir.path(),
        "prometheus-classic",
        &config,
        &["--enable-feature=exemplar-storage"],
    );

    std::thread::sleep(Duration::from_secs(40));

    // Both servers scrape every process: protobuf and OpenMetrics parsed by Prometheus itself.
    for (server, url) in [("native", &native), ("classic", &classic)] {
        assert_eq!(
            query_value(url, "sum(up{job=\"synthex\"})"),
            Some(3.0),
            "{server}: every synthex scrape succeeds"
        );
    }
    let native_p95 = query_value(
        &native,
        "histogram_quantile(0.95, sum(rate(synthex_request_duration_seconds[1m])))",
    )
    .expect("native p95");
    let classic_p95 = query_value(
        &classic,
        "histogram_quantile(0.95, sum by (le) (rate(synthex_request_duration_seconds_bucket[1m])))",
    )
    .expect("classic p95");
    let records = target.handled();
    let mut seconds: Vec<f64> = records.iter().map(|r| r.seconds).collect();
    let true_p95 = quantile(&mut seconds, 0.95);
    let native_error = (native_p95 - true_p95).abs() / true_p95;
    let classic_error = (classic_p95 - true_p95).abs() / true_p95;
    println!(
        "fleet p95 over {} requests of 3 synthex processes: true {:.1} ms (target's records), \
         native histograms {:.1} ms ({:+.1} %), classic buckets {:.1} ms ({:+.1} %)",
        records.len(),
        true_p95 * 1e3,
        native_p95 * 1e3,
        (native_p95 / true_p95 - 1.0) * 100.0,
        classic_p95 * 1e3,
        (classic_p95 / true_p95 - 1.0) * 100.0,
    );
    assert!(
        native_error <= 0.05,
        "native p95 {native_p95} is {:.1} % off the true {true_p95}",
        native_error * 100.0
    );
    assert!(
        classic_error > native_error,
        "classic p95 {classic_p95} should be further off the true {true_p95} than native {native_p95}"
    );

    // The dashboard's native p95 panel shows the same on the native server, where the classic
    // buckets it falls back to are absent.
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/grafana/dashboards/synthex-overview.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let native_panel = exemplar_queries(&dashboard, "p95 latency per target (native histogram)");
    let expr = &native_panel[0];
    let panel_p95 = query_value(&native, expr).expect("the panel has data");
    assert!(
        (panel_p95 / native_p95 - 1.0).abs() < 0.02,
        "panel {panel_p95} vs native p95 {native_p95}"
    );
    let (_, classic_part) = expr.split_once(" or ").expect("a classic fallback");
    assert_eq!(
        query_value(&native, classic_part),
        None,
        "no _bucket series on the native server"
    );

    // The latency alerts (p95 ~550 ms over the 300 ms objective): each server evaluates the
    // variant for the data it has, never both. `for: 5m` outlasts the test, so they are pending.
    for (server, url, holds, silent) in [
        (
            "native",
            &native,
            "SynthexLatencyHighNative",
            "SynthexLatencyHigh",
        ),
        (
            "classic",
            &classic,
            "SynthexLatencyHigh",
            "SynthexLatencyHighNative",
        ),
    ] {
        let alerts = active_alerts(url);
        let instances = alerts.iter().filter(|(name, _)| name == holds).count();
        assert_eq!(
            instances, 3,
            "{server}: {holds} for each synthex: {alerts:?}"
        );
        assert!(
            alerts
                .iter()
                .all(|(name, state)| name != silent && (name != holds || state == "pending")),
            "{server}: {alerts:?}"
        );
    }

    // Every request carried a valid, sampled traceparent with a fresh trace id.
    let mut ids = HashSet::new();
    for record in &records {
        let header = record
            .traceparent
            .as_deref()
            .expect("every request has a traceparent");
        let id = trace_id(header).unwrap_or_else(|| panic!("malformed traceparent {header:?}"));
        assert!(ids.insert(id.to_string()), "trace id {id} sent twice");
    }
    // The exemplars Grafana asks for with the latency panels' queries lead to those traces.
    let classic_panel = exemplar_queries(&dashboard, "Latency p50 / p95 / p99 (histogram)");
    assert_eq!(classic_panel.len(), 3, "p50, p95 and p99 ask for exemplars");
    for expr in &native_panel {
        assert_exemplars_lead_to_traces("native (protobuf)", &native, expr, started, &target);
    }
    for expr in &classic_panel {
        assert_exemplars_lead_to_traces("classic (OpenMetrics)", &classic, expr, started, &target);
    }

    // The protobuf exposition decodes with the same metrics.proto: one duration family with the
    // native buckets and the classic ones agreeing on the count.
    let (head, body) = scrape(ports[0], PROTOBUF);
    assert!(head.contains("encoding=delimited"), "{head}");
    let mut rest = &body[..];
    let mut families = Vec::new();
    while !rest.is_empty() {
        families.push(
            MetricFamily::decode_length_delimited(&mut rest).expect("a delimited MetricFamily"),
        );
    }
    let duration = families
        .iter()
        .find(|f| f.name() == "synthex_request_duration_seconds")
        .expect("the duration family");
    assert_eq!(duration.r#type(), MetricType::Histogram);
    let histogram = duration.metric[0].histogram.as_ref().expect("a histogram");
    assert_eq!(histogram.schema, Some(3));
    // Deltas to the previous bucket: the running sum is each bucket's count.
    let (mut count, mut native_total) = (0i64, 0i64);
    for delta in &histogram.positive_delta {
        count += delta;
        native_total += count;
    }
    assert_eq!(
        native_total as u64 + histogram.zero_count(),
        histogram.sample_count(),
        "native buckets hold every observation"
    );
    assert!(
        !histogram.bucket.is_empty(),
        "classic buckets kept in the same family"
    );
    assert!(
        histogram.bucket.iter().any(|b| b.exemplar.is_some()),
        "bucket exemplars"
    );

    // The text format is unchanged and still passes promtool.
    let (head, text) = scrape(ports[0], "text/plain");
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    let page = dir.path().join("metrics.txt");
    std::fs::write(&page, &text).unwrap();
    let out = std::process::Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&page).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !String::from_utf8_lossy(&text).contains("trace_id"),
        "no exemplars in 0.0.4"
    );
}
