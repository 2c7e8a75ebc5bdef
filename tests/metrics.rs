//! The metrics layer against its contract: exact names and labels, pre-created series, windowed
//! quantiles accurate to 1% against an exact sort, ageing out of old samples, cache ratio, and
//! `promtool check metrics` on the encoded text.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::Method;
use prometheus::proto::{Metric, MetricFamily};
use regex::Regex;
use synthex::metrics::{Metrics, SkipReason};
use synthex::outcome::{CacheResult, Failure, FailureReason, Outcome, Phases};
use synthex::scenario::{
    CacheRule, Config, Expectations, Global, Objectives, Rate, RequestTemplate, Resources,
    Scenario, StatusMatch, Target, TlsSettings,
};
use synthex::template::Template;

// ---------------------------------------------------------------------------------------------
// Config and outcome builders

fn scenario(name: &str, weight: u32) -> Scenario {
    Scenario {
        name: name.to_string(),
        weight,
        tags: vec![],
        request: RequestTemplate {
            method: Method::GET,
            path: Template::literal("/"),
            headers: vec![],
            body: None,
        },
        expect: Expectations {
            status: vec![StatusMatch::Class(2)],
            body_contains: vec![],
            body_regex: vec![],
            json: vec![],
            headers: vec![],
            max_latency: None,
        },
    }
}

fn target(name: &str, per_second: f64, scenarios: Vec<Scenario>) -> Target {
    Target {
        name: name.to_string(),
        base_url: "http://user:secret@127.0.0.1:8080/base?token=x"
            .parse()
            .unwrap(),
        rate: Rate { per_second },
        timeout: Duration::from_secs(5),
        max_in_flight: 4,
        keep_alive: false,
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

fn config(targets: Vec<Target>) -> Config {
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
        },
        targets,
        resources: Resources {
            interval: Duration::from_secs(5),
            processes: vec![],
        },
    }
}

/// One target `api` with scenarios `read` (weight 3) and `write` (weight 1) at 2/s.
fn api_config() -> Config {
    config(vec![target(
        "api",
        2.0,
        vec![scenario("read", 3), scenario("write", 1)],
    )])
}

fn ok(latency: Duration) -> Outcome {
    Outcome {
        latency,
        status: Some(200),
        failure: None,
        cache: CacheResult::Unknown,
        phases: Phases::default(),
        body_bytes: 10,
        cert_expiry: None,
        finished_at: SystemTime::now(),
    }
}

fn failed(status: Option<u16>, reason: FailureReason, message: &str) -> Outcome {
    Outcome {
        status,
        failure: Some(Failure {
            reason,
            message: message.to_string(),
        }),
        ..ok(Duration::from_millis(20))
    }
}

fn cached(cache: CacheResult) -> Outcome {
    Outcome {
        cache,
        ..ok(Duration::from_millis(5))
    }
}

// ---------------------------------------------------------------------------------------------
// Reading the registry

fn family(metrics: &Metrics, name: &str) -> Option<MetricFamily> {
    metrics
        .registry()
        .gather()
        .into_iter()
        .find(|f| f.name() == name)
}

fn has_labels(metric: &Metric, labels: &[(&str, &str)]) -> bool {
    labels.iter().all(|(name, value)| {
        metric
            .get_label()
            .iter()
            .any(|l| l.name() == *name && l.value() == *value)
    })
}

/// The counter or gauge value of the series with (at least) these labels.
fn value(metrics: &Metrics, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let family = family(metrics, name)?;
    let metric = family.get_metric().iter().find(|m| has_labels(m, labels))?;
    Some(match name {
        n if n.ends_with("_total") => metric.get_counter().get_value(),
        _ => metric.get_gauge().get_value(),
    })
}

/// `(quantile → value, sum, count)` of the latency summary of one scenario.
fn summary(metrics: &Metrics, target: &str, scenario: &str) -> (Vec<(f64, f64)>, f64, u64) {
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

fn quantile(metrics: &Metrics, target: &str, scenario: &str, q: f64) -> f64 {
    summary(metrics, target, scenario)
        .0
        .into_iter()
        .find(|(qq, _)| *qq == q)
        .map(|(_, v)| v)
        .expect("configured quantile")
}

fn encoded(metrics: &Metrics) -> String {
    String::from_utf8(metrics.encode().unwrap()).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Quantiles and the window

/// Deterministic uniform numbers in (0, 1) (splitmix64), so the sample is the same every run.
struct Uniform(u64);

impl Uniform {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        ((z >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
}

#[test]
fn windowed_quantiles_are_within_one_percent_of_an_exact_sort() {
    let metrics = Metrics::new(&api_config()).unwrap();
    // Log-normal latencies (median 20 ms, long right tail up to seconds), like a real service.
    let mut uniform = Uniform(42);
    let mut sample: Vec<f64> = (0..100_000)
        .map(|_| {
            let (u1, u2) = (uniform.next(), uniform.next());
            let normal = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
            0.020 * (0.9 * normal).exp()
        })
        .collect();
    for &seconds in &sample {
        metrics.record(0, 0, &ok(Duration::from_secs_f64(seconds)));
    }
    sample.sort_by(f64::total_cmp);
    let (quantiles, sum, count) = summary(&metrics, "api", "read");
    assert_eq!(quantiles.len(), 4);
    for (q, value) in quantiles {
        // Nearest-rank quantile of the exact sample.
        let rank = ((q * sample.len() as f64).ceil() as usize).max(1);
        let exact = sample[rank - 1];
        let error = (value - exact).abs() / exact;
        assert!(
            error <= 0.01,
            "q{q}: exported {value}, exact {exact}, error {:.3}%",
            error * 100.0
        );
    }
    assert_eq!(count, 100_000);
    let exact_sum: f64 = sample.iter().sum();
    assert!(
        (sum - exact_sum).abs() / exact_sum < 1e-6,
        "sum {sum} vs {exact_sum}"
    );
}

#[tokio::test(start_paused = true)]
async fn old_samples_leave_the_window_but_sum_and_count_stay_cumulative() {
    let mut cfg = api_config();
    cfg.global.quantile_window = Duration::from_secs(60);
    let metrics = Metrics::new(&cfg).unwrap();
    for _ in 0..100 {
        metrics.record(0, 0, &ok(Duration::from_millis(10)));
        metrics.record(0, 0, &cached(CacheResult::Hit));
    }
    tokio::time::advance(Duration::from_secs(30)).await;
    for _ in 0..100 {
        metrics.record(0, 0, &ok(Duration::from_millis(500)));
        metrics.record(0, 0, &cached(CacheResult::Miss));
    }
    let near = |a: f64, b: f64| (a - b).abs() / b < 0.01;
    // 400 samples: 100 × 5 ms, 100 × 10 ms, 100 × 5 ms, 100 × 500 ms.
    assert!(near(quantile(&metrics, "api", "read", 0.5), 0.005));
    assert!(near(quantile(&metrics, "api", "read", 0.99), 0.5));
    assert_eq!(
        value(&metrics, "synthex_cache_hit_ratio", &[("target", "api")]),
        Some(0.5)
    );

    // At 60 s the first 12 s slot (the 10 ms and hit samples) has left the 60 s window.
    tokio::time::advance(Duration::from_secs(30)).await;
    assert!(near(quantile(&metrics, "api", "read", 0.5), 0.005));
    assert!(near(quantile(&metrics, "api", "read", 0.9), 0.5));
    assert_eq!(
        value(&metrics, "synthex_cache_hit_ratio", &[("target", "api")]),
        Some(0.0)
    );
    let (_, sum, count) = summary(&metrics, "api", "read");
    assert_eq!(count, 400);
    assert!((sum - (100.0 * 0.010 + 100.0 * 0.5 + 200.0 * 0.005)).abs() < 1e-9);

    // After another window nothing is left: quantiles NaN (as the Go client), no cache ratio,
    // but _sum and _count keep counting since start.
    tokio::time::advance(Duration::from_secs(60)).await;
    let (quantiles, _, count) = summary(&metrics, "api", "read");
    assert!(quantiles.iter().all(|(_, v)| v.is_nan()), "{quantiles:?}");
    assert_eq!(count, 400);
    assert_eq!(
        value(&metrics, "synthex_cache_hit_ratio", &[("target", "api")]),
        None
    );
    let status = metrics.status();
    assert_eq!(status.targets[0].scenarios[0].counts.requests, 0);
    assert_eq!(status.targets[0].scenarios[0].quantiles, [None, None, None]);
}

#[test]
fn summary_renders_quantiles_sum_and_count_with_global_labels() {
    let mut cfg = api_config();
    cfg.global.labels.insert("env".into(), "prod".into());
    let metrics = Metrics::new(&cfg).unwrap();
    for ms in [10, 20, 30] {
        metrics.record(0, 1, &ok(Duration::from_millis(ms)));
    }
    let text = encoded(&metrics);
    assert!(
        text.contains("# TYPE synthex_request_latency_seconds summary\n"),
        "{text}"
    );
    let series = r#"{scenario="write",target="api",env="prod""#;
    for q in ["0.5", "0.9", "0.95", "0.99"] {
        let line = format!("synthex_request_latency_seconds{series},quantile=\"{q}\"}} ");
        assert!(text.contains(&line), "missing {line}\n{text}");
    }
    assert!(text.contains(&format!(
        "synthex_request_latency_seconds_sum{series}}} 0.06"
    )));
    assert!(text.contains(&format!(
        "synthex_request_latency_seconds_count{series}}} 3\n"
    )));
    // The global label is on every sample, ours and the process collector's.
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        assert!(line.contains(r#"env="prod""#), "no global label: {line}");
    }
    assert!(text.contains("process_resident_memory_bytes{"), "{text}");
}

// ---------------------------------------------------------------------------------------------
// Counters, gauges and pre-created series

#[test]
fn zero_series_exist_before_the_first_request() {
    let metrics = Metrics::new(&api_config()).unwrap();
    for scenario in ["read", "write"] {
        for reason in FailureReason::ALL {
            let labels = [
                ("target", "api"),
                ("scenario", scenario),
                ("reason", reason.as_str()),
            ];
            assert_eq!(
                value(&metrics, "synthex_request_failures_total", &labels),
                Some(0.0),
                "{scenario}/{reason}"
            );
        }
        for result in ["hit", "miss", "unknown"] {
            let labels = [
                ("target", "api"),
                ("scenario", scenario),
                ("result", result),
            ];
            assert_eq!(
                value(&metrics, "synthex_cache_requests_total", &labels),
                Some(0.0)
            );
        }
    }
    for reason in ["in_flight_cap", "late"] {
        let labels = [("target", "api"), ("reason", reason)];
        assert_eq!(
            value(&metrics, "synthex_requests_skipped_total", &labels),
            Some(0.0)
        );
    }
    let text = encoded(&metrics);
    assert!(
        text.contains(
            "synthex_request_duration_seconds_count{scenario=\"read\",target=\"api\"} 0\n"
        )
    );
    assert!(text.contains("synthex_in_flight_requests{target=\"api\"} 0\n"));
    // Nothing observed yet, so no claims: no up, no expiry, no cache ratio, no phases.
    for absent in [
        "synthex_target_up",
        "synthex_tls_cert_expiry_timestamp_seconds",
        "synthex_cache_hit_ratio",
        "synthex_request_phase_duration_seconds",
        "synthex_requests_total",
    ] {
        assert!(
            !text.contains(&format!("{absent}{{")),
            "{absent} present early"
        );
    }
    assert!(!metrics.has_results());
}

#[test]
fn requests_are_counted_by_code_and_failures_by_reason() {
    let metrics = Metrics::new(&api_config()).unwrap();
    for _ in 0..3 {
        metrics.record(0, 0, &ok(Duration::from_millis(5)));
    }
    for _ in 0..2 {
        metrics.record(
            0,
            0,
            &failed(Some(503), FailureReason::HttpStatus, "got 503"),
        );
    }
    metrics.record(
        0,
        0,
        &failed(None, FailureReason::Timeout, "timed out after 5s"),
    );
    let read =
        |extra: (&'static str, &'static str)| [("target", "api"), ("scenario", "read"), extra];
    let requests = |code| value(&metrics, "synthex_requests_total", &read(("code", code)));
    assert_eq!(requests("200"), Some(3.0));
    assert_eq!(requests("503"), Some(2.0));
    assert_eq!(requests("0"), Some(1.0));
    let failures = |reason| {
        value(
            &metrics,
            "synthex_request_failures_total",
            &read(("reason", reason)),
        )
    };
    assert_eq!(failures("http_status"), Some(2.0));
    assert_eq!(failures("timeout"), Some(1.0));
    assert_eq!(failures("connect"), Some(0.0));
    assert_eq!(
        value(&metrics, "synthex_target_up", &[("target", "api")]),
        Some(0.0)
    );
    metrics.record(0, 1, &ok(Duration::from_millis(5)));
    assert_eq!(
        value(&metrics, "synthex_target_up", &[("target", "api")]),
        Some(1.0)
    );
    let histogram = family(&metrics, "synthex_request_duration_seconds").unwrap();
    let read_series = histogram
        .get_metric()
        .iter()
        .find(|m| has_labels(m, &[("scenario", "read")]))
        .unwrap();
    assert_eq!(read_series.get_histogram().get_sample_count(), 6);

    metrics.record_skip(0, SkipReason::InFlightCap);
    metrics.record_skip(0, SkipReason::InFlightCap);
    metrics.record_skip(0, SkipReason::Late);
    let skipped = |reason| {
        value(
            &metrics,
            "synthex_requests_skipped_total",
            &[("target", "api"), ("reason", reason)],
        )
    };
    assert_eq!(skipped("in_flight_cap"), Some(2.0));
    assert_eq!(skipped("late"), Some(1.0));
    metrics.in_flight(0).inc();
    metrics.in_flight(0).inc();
    metrics.in_flight(0).dec();
    assert_eq!(
        value(&metrics, "synthex_in_flight_requests", &[("target", "api")]),
        Some(1.0)
    );
    // Out-of-range indices are ignored, not a panic.
    metrics.record(7, 0, &ok(Duration::from_millis(1)));
    metrics.record(0, 9, &ok(Duration::from_millis(1)));
    metrics.record_skip(3, SkipReason::Late);
    metrics.in_flight(3).inc();
}

#[test]
fn cache_hit_ratio_covers_classified_responses_of_all_scenarios() {
    let cfg = config(vec![
        target("cdn", 1.0, vec![scenario("a", 1), scenario("b", 1)]),
        target("nocache", 1.0, vec![scenario("x", 1)]),
    ]);
    let metrics = Metrics::new(&cfg).unwrap();
    metrics.record(0, 0, &cached(CacheResult::Hit));
    metrics.record(0, 0, &cached(CacheResult::Hit));
    metrics.record(0, 1, &cached(CacheResult::Hit));
    metrics.record(0, 1, &cached(CacheResult::Miss));
    for _ in 0..5 {
        metrics.record(0, 1, &cached(CacheResult::Unknown));
        metrics.record(1, 0, &cached(CacheResult::Unknown));
    }
    assert_eq!(
        value(&metrics, "synthex_cache_hit_ratio", &[("target", "cdn")]),
        Some(0.75)
    );
    assert_eq!(
        value(
            &metrics,
            "synthex_cache_hit_ratio",
            &[("target", "nocache")]
        ),
        None
    );
    let cache = |scenario, result| {
        value(
            &metrics,
            "synthex_cache_requests_total",
            &[
                ("target", "cdn"),
                ("scenario", scenario),
                ("result", result),
            ],
        )
    };
    assert_eq!(cache("a", "hit"), Some(2.0));
    assert_eq!(cache("b", "miss"), Some(1.0));
    assert_eq!(cache("b", "unknown"), Some(5.0));
    assert!(metrics.has_results());
}

#[test]
fn phases_cert_expiry_and_config_gauges_are_exported() {
    let mut cfg = api_config();
    cfg.targets[0].objectives = Objectives {
        latency: vec![
            (0.95, Duration::from_millis(50)),
            (0.99, Duration::from_millis(200)),
        ],
        error_ratio: Some(0.01),
        availability: Some(0.999),
        cache_hit_ratio: Some(0.8),
    };
    let metrics = Metrics::new(&cfg).unwrap();
    let expiry = UNIX_EPOCH + Duration::from_secs(1_900_000_000);
    let outcome = Outcome {
        phases: Phases {
            dns: Some(Duration::from_micros(300)),
            connect: Some(Duration::from_millis(2)),
            first_byte: Some(Duration::from_millis(15)),
            transfer: None,
        },
        cert_expiry: Some(expiry),
        ..ok(Duration::from_millis(18))
    };
    metrics.record(0, 0, &outcome);
    let phases = family(&metrics, "synthex_request_phase_duration_seconds").unwrap();
    let mut seen: Vec<&str> = phases
        .get_metric()
        .iter()
        .flat_map(|m| {
            m.get_label()
                .iter()
                .filter(|l| l.name() == "phase")
                .map(|l| l.value())
        })
        .collect();
    seen.sort();
    assert_eq!(seen, ["connect", "dns", "first_byte"]);
    let t = [("target", "api")];
    assert_eq!(
        value(&metrics, "synthex_tls_cert_expiry_timestamp_seconds", &t),
        Some(1_900_000_000.0)
    );
    assert_eq!(
        value(&metrics, "synthex_schedule_requests_per_second", &t),
        Some(2.0)
    );
    assert_eq!(
        value(
            &metrics,
            "synthex_objective_latency_seconds",
            &[("target", "api"), ("slo_quantile", "0.95")]
        ),
        Some(0.05)
    );
    assert_eq!(
        value(&metrics, "synthex_objective_error_ratio", &t),
        Some(0.01)
    );
    assert_eq!(
        value(&metrics, "synthex_objective_availability_ratio", &t),
        Some(0.999)
    );
    assert_eq!(
        value(&metrics, "synthex_objective_cache_hit_ratio", &t),
        Some(0.8)
    );
    let build = family(&metrics, "synthex_build_info").unwrap();
    let labels: BTreeMap<&str, &str> = build.get_metric()[0]
        .get_label()
        .iter()
        .map(|l| (l.name(), l.value()))
        .collect();
    assert_eq!(labels.len(), 2);
    assert_eq!(labels["version"], env!("CARGO_PKG_VERSION"));
    assert!(!labels["revision"].is_empty());
    assert_eq!(build.get_metric()[0].get_gauge().get_value(), 1.0);
}

#[test]
fn status_keeps_last_result_per_scenario_and_twenty_newest_failures() {
    let metrics = Metrics::new(&api_config()).unwrap();
    for i in 0..25 {
        metrics.record(
            0,
            1,
            &failed(Some(500), FailureReason::HttpStatus, &format!("fail {i}")),
        );
    }
    metrics.record(0, 0, &ok(Duration::from_millis(7)));
    let status = metrics.status();
    let api = &status.targets[0];
    assert_eq!(
        api.origin, "http://127.0.0.1:8080",
        "no credentials, path or query"
    );
    assert_eq!(api.rate_per_second, 2.0);
    assert_eq!(api.scenarios[0].rate_per_second, 1.5);
    assert_eq!(api.scenarios[1].rate_per_second, 0.5);
    let last_read = api.scenarios[0].last.as_ref().unwrap();
    assert_eq!(
        (last_read.status, last_read.failure.is_none()),
        (Some(200), true)
    );
    assert_eq!(last_read.latency, Duration::from_millis(7));
    let last_write = api.scenarios[1].last.as_ref().unwrap();
    assert_eq!(last_write.failure.as_ref().unwrap().message, "fail 24");
    assert_eq!(api.recent_failures.len(), 20);
    assert_eq!(api.recent_failures[0].message, "fail 24");
    assert_eq!(api.recent_failures[19].message, "fail 5");
    assert_eq!(api.recent_failures[0].scenario, "write");
    assert_eq!(api.recent_failures[0].reason, FailureReason::HttpStatus);
    assert_eq!(api.counts.requests, 26);
    assert_eq!(api.counts.error_ratio(), Some(25.0 / 26.0));
}

// ---------------------------------------------------------------------------------------------
// promtool

#[test]
fn encoded_metrics_pass_promtool_check_metrics() {
    let promtool = "/usr/bin/promtool";
    assert!(
        std::path::Path::new(promtool).exists(),
        "{promtool} is missing: install the Debian package `prometheus` (apt-get install prometheus)"
    );
    let mut cfg = api_config();
    cfg.global.labels.insert("env".into(), "test".into());
    cfg.targets[0].objectives.latency = vec![(0.95, Duration::from_millis(50))];
    cfg.targets[0].objectives.error_ratio = Some(0.01);
    // A scenario without results exports NaN quantiles and zero counters: promtool must accept that.
    cfg.targets[0].scenarios.push(scenario("idle", 1));
    let metrics = Metrics::new(&cfg).unwrap();
    let full = Outcome {
        phases: Phases {
            dns: Some(Duration::from_micros(200)),
            connect: Some(Duration::from_millis(1)),
            first_byte: Some(Duration::from_millis(9)),
            transfer: Some(Duration::from_micros(400)),
        },
        cert_expiry: Some(SystemTime::now() + Duration::from_secs(86_400 * 30)),
        cache: CacheResult::Hit,
        ..ok(Duration::from_millis(11))
    };
    metrics.record(0, 0, &full);
    metrics.record(
        0,
        1,
        &failed(
            Some(404),
            FailureReason::HttpStatus,
            "expected 2xx, got 404",
        ),
    );
    metrics.record_skip(0, SkipReason::Late);
    let text = encoded(&metrics);
    assert!(text.contains(r#"scenario="idle",target="api",env="test",quantile="0.5"} NaN"#));

    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "promtool check metrics failed:\nstdout: {}\nstderr: {}\n---\n{text}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
