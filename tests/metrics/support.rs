//! Shared by the metrics and exporter tests and the render bench: `Config` values built
//! directly (as `config::load` would produce them), outcomes, and readers of the registry.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use http::Method;
use prometheus::proto::{Metric, MetricFamily};
use regex::Regex;
use synthex::metrics::Metrics;
use synthex::outcome::{CacheResult, Failure, FailureReason, Outcome, Phases};
use synthex::scenario::{
    CacheRule, Config, DEFAULT_MAX_TOTAL_RATE, DEFAULT_NATIVE_HISTOGRAM, Expectations, Global,
    GuardSettings, LoadSettings, Objectives, Rate, RequestTemplate, Resources, Scenario,
    StatusMatch, Target, TlsSettings,
};
use synthex::template::Template;

// ---------------------------------------------------------------------------------------------
// Config and outcome builders

pub fn scenario(name: &str, weight: u32) -> Scenario {
    let mut scenario = Scenario::single(
        name,
        RequestTemplate {
            method: Method::GET,
            path: Template::literal("/"),
            headers: vec![],
            body: None,
        },
        Expectations {
            status: vec![StatusMatch::Class(2)],
            body_contains: vec![],
            body_regex: vec![],
            json: vec![],
            headers: vec![],
            max_latency: None,
        },
    );
    scenario.weight = weight;
    scenario
}

pub fn target(name: &str, per_second: f64, scenarios: Vec<Scenario>) -> Target {
    Target {
        name: name.to_string(),
        base_url: "http://user:secret@127.0.0.1:8080/base?token=x"
            .parse()
            .unwrap(),
        rate: Rate { per_second },
        timeout: Duration::from_secs(5),
        max_in_flight: 4,
        keep_alive: false,
        guard: GuardSettings::default(),
        follow_redirects: 0,
        headers: Default::default(),
        proxy: None,
        tls: TlsSettings::default(),
        cache: CacheRule {
            headers: vec![],
            hit: Regex::new(r"(?i)\bhit\b").unwrap(),
            age_is_hit: false,
        },
        stats: None,
        objectives: Objectives::default(),
        scenarios,
    }
}

pub fn config(targets: Vec<Target>) -> Config {
    Config {
        source: "test.yml".into(),
        global: Global {
            labels: BTreeMap::new(),
            quantiles: vec![0.5, 0.9, 0.95, 0.99],
            quantile_window: Duration::from_secs(300),
            buckets: vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ],
            max_body_bytes: 1 << 20,
            marker_header: None,
            jitter: 0.1,
            shutdown_grace: Duration::from_secs(10),
            max_total_rate: DEFAULT_MAX_TOTAL_RATE,
            trace_context: true,
            native_histogram: Some(DEFAULT_NATIVE_HISTOGRAM),
        },
        targets,
        resources: Resources {
            interval: Duration::from_secs(5),
            processes: vec![],
        },
        load: LoadSettings::default(),
    }
}

/// One target `api` with scenarios `read` (weight 3) and `write` (weight 1) at 2/s.
pub fn api_config() -> Config {
    config(vec![target(
        "api",
        2.0,
        vec![scenario("read", 3), scenario("write", 1)],
    )])
}

pub fn ok(latency: Duration) -> Outcome {
    Outcome {
        latency,
        status: Some(200),
        retry_after: None,
        failure: None,
        cache: CacheResult::Unknown,
        phases: Phases::default(),
        body_bytes: 10,
        cert_expiry: None,
        finished_at: SystemTime::now(),
        trace_id: None,
    }
}

pub fn failed(status: Option<u16>, reason: FailureReason, message: &str) -> Outcome {
    Outcome {
        status,
        failure: Some(Failure {
            reason,
            message: message.to_string(),
        }),
        ..ok(Duration::from_millis(20))
    }
}

pub fn cached(cache: CacheResult) -> Outcome {
    Outcome {
        cache,
        ..ok(Duration::from_millis(5))
    }
}

// ---------------------------------------------------------------------------------------------
// Reading the registry

pub fn family(metrics: &Metrics, name: &str) -> Option<MetricFamily> {
    metrics
        .registry()
        .gather()
        .into_iter()
        .find(|f| f.name() == name)
}

pub fn has_labels(metric: &Metric, labels: &[(&str, &str)]) -> bool {
    labels.iter().all(|(name, value)| {
        metric
            .get_label()
            .iter()
            .any(|l| l.name() == *name && l.value() == *value)
    })
}

/// The counter or gauge value of the series with (at least) these labels.
pub fn value(metrics: &Metrics, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let family = family(metrics, name)?;
    let metric = family.get_metric().iter().find(|m| has_labels(m, labels))?;
    Some(match name {
        n if n.ends_with("_total") => metric.get_counter().get_value(),
        _ => metric.get_gauge().get_value(),
    })
}

/// `(quantile → value, sum, count)` of the latency summary of one scenario.
pub fn summary(metrics: &Metrics, target: &str, scenario: &str) -> (Vec<(f64, f64)>, f64, u64) {
    let family = family(metrics, "synthex_request_latency_seconds").expect("summary family");
    let metric = family
        .get_metric()
        .iter()
        .find(|m| has_labels(m, &[("target", target), ("scenario", scenario)]))
        .expect("summary series");
    let s = metric.get_summary();
    let quantiles = s
        .get_quantile()
        .iter()
        .map(|q| (q.quantile(), q.value()))
        .collect();
    (quantiles, s.sample_sum(), s.sample_count())
}

pub fn quantile(metrics: &Metrics, target: &str, scenario: &str, q: f64) -> f64 {
    summary(metrics, target, scenario)
        .0
        .into_iter()
        .find(|(qq, _)| *qq == q)
        .map(|(_, v)| v)
        .expect("configured quantile")
}

pub fn encoded(metrics: &Metrics) -> String {
    String::from_utf8(metrics.encode().unwrap()).unwrap()
}
