//! The metrics layer against its contract: exact names and labels, pre-created series, windowed
//! quantiles accurate to 1% against an exact sort, ageing out of old samples, cache ratio, and
//! the text of idle series (`promtool check metrics` runs on whole pages in tests/metrics_page.rs).

#[path = "metrics/support.rs"]
mod support;
#[path = "metrics/window.rs"]
mod window;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prost::Message;
use synthex::metrics::protobuf::model::{Metric as ProtoMetric, MetricFamily as ProtoFamily};
use synthex::metrics::{Format, Metrics, SkipReason};
use synthex::outcome::{CacheResult, FailureReason, Outcome, Phases};
use synthex::scenario::Objectives;

use support::*;

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
// Idle series

#[test]
fn idle_scenario_exports_nan_quantiles_beside_recorded_ones() {
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
}

#[test]
fn fast_text_path_matches_the_registry_and_text_encoder() {
    let mut cfg = api_config();
    cfg.global.labels.insert("env".into(), "prod".into());
    cfg.targets
        .push(target("other", 0.5, vec![scenario("only", 1)]));
    let metrics = Metrics::new(&cfg).unwrap();
    let full = Outcome {
        phases: Phases {
            dns: Some(Duration::from_micros(200)),
            connect: Some(Duration::from_millis(1)),
            first_byte: Some(Duration::from_millis(30)),
            transfer: Some(Duration::from_millis(3)),
        },
        cache: CacheResult::Miss,
        ..ok(Duration::from_millis(35))
    };
    metrics.record(0, 0, &full);
    metrics.record(0, 0, &cached(CacheResult::Hit));
    metrics.record(
        0,
        1,
        &failed(None, FailureReason::Connect, "connection refused"),
    );
    metrics.record(
        1,
        0,
        &failed(Some(500), FailureReason::HttpStatus, "got 500"),
    );
    metrics.record_skip(1, SkipReason::InFlightCap);
    // The process collector's values move between two calls; everything else must be identical.
    let lines = |text: &str| {
        let mut lines: Vec<String> = text
            .lines()
            .filter(|l| !l.contains("process_"))
            .map(String::from)
            .collect();
        lines.sort();
        lines
    };
    let fast = encoded(&metrics);
    let slow = prometheus::TextEncoder::new()
        .encode_to_string(&metrics.registry().gather())
        .unwrap();
    assert_eq!(lines(&fast), lines(&slow));
    assert!(fast.contains(
        "synthex_request_phase_duration_seconds_bucket{phase=\"first_byte\",scenario=\"read\",target=\"api\",env=\"prod\",le=\"0.05\"} 1\n"
    ), "{fast}");
    // Each family appears once, with its HELP and TYPE right before its samples.
    for family in ["synthex_request_duration_seconds", "synthex_requests_total"] {
        assert_eq!(fast.matches(&format!("# TYPE {family} ")).count(), 1);
    }
}

/// Every length-delimited `MetricFamily` of a protobuf scrape, by name.
fn decode_protobuf(mut bytes: &[u8]) -> Vec<ProtoFamily> {
    let mut families = Vec::new();
    while !bytes.is_empty() {
        families.push(ProtoFamily::decode_length_delimited(&mut bytes).unwrap());
    }
    families
}

/// The protobuf scrape carries the same families, series and values as the registry's own gather
/// (the other sink of the same walk), each family encoded exactly as prost encodes the whole
/// message (so the bytes are what Prometheus's Go client would write), with each classic bucket's
/// exemplar the last request that landed in it and the native buckets holding every request.
/// The outcomes alternate between families with and without an extra label and between targets
/// with one and two labels, so a label or bucket left over from the previous series shows.
#[test]
fn protobuf_scrape_is_canonical_and_decodes_to_the_registry_families() {
    let mut cfg = api_config();
    cfg.global.labels.insert("env".into(), "prod".into());
    cfg.targets
        .push(target("other", 0.5, vec![scenario("only", 1)]));
    let bounds = cfg.global.buckets.clone();
    let metrics = Metrics::new(&cfg).unwrap();
    let mut last_in_bucket: BTreeMap<(usize, usize, usize), (String, f64)> = BTreeMap::new();
    for i in 0..300u64 {
        let (t, s) = [(0, 0), (0, 1), (1, 0)][i as usize % 3];
        let latency = Duration::from_micros(500 + i * i * 9_973 % 12_000_000);
        let trace = synthex::trace_context::generate().0;
        let mut outcome = match i % 7 {
            0 => failed(Some(503), FailureReason::HttpStatus, "got 503"),
            1 => failed(None, FailureReason::Connect, "refused"),
            _ => ok(latency),
        };
        outcome.latency = latency;
        outcome.trace_id = (i % 11 != 0).then_some(trace);
        outcome.cache = [CacheResult::Hit, CacheResult::Miss, CacheResult::Unknown][i as usize % 3];
        if i % 2 == 0 {
            outcome.phases = Phases {
                dns: Some(Duration::from_micros(100 + i)),
                connect: Some(Duration::from_micros(900 + i)),
                first_byte: Some(latency / 2),
                transfer: Some(latency / 4),
            };
        }
        if let Some(trace) = outcome.trace_id {
            let seconds = latency.as_secs_f64();
            let bucket = bounds.partition_point(|&b| b < seconds);
            last_in_bucket.insert((t, s, bucket), (trace.to_string(), seconds));
        }
        metrics.record(t, s, &outcome);
    }
    metrics.record_skip(1, SkipReason::InFlightCap);

    let bytes = metrics.encode_as(Format::Protobuf).unwrap();
    let families = decode_protobuf(&bytes);
    let canonical: Vec<u8> = families
        .iter()
        .flat_map(|f| f.encode_length_delimited_to_vec())
        .collect();
    assert!(
        canonical == bytes,
        "not prost's encoding of the same families"
    );

    let gathered = metrics.registry().gather();
    let names = |names: Vec<&str>| -> Vec<String> {
        let mut names: Vec<String> = names.into_iter().map(String::from).collect();
        names.sort();
        names
    };
    assert_eq!(
        names(families.iter().map(|f| f.name()).collect()),
        names(gathered.iter().map(|f| f.name()).collect())
    );
    for expected in gathered
        .iter()
        .filter(|f| !f.name().starts_with("process_"))
    {
        let name = expected.name();
        let found = families.iter().find(|f| f.name() == name).unwrap();
        assert_eq!(found.help(), expected.help(), "{name}");
        assert_eq!(
            format!("{:?}", found.r#type()).to_uppercase(),
            format!("{:?}", expected.get_field_type()),
            "{name}"
        );
        assert_eq!(found.metric.len(), expected.get_metric().len(), "{name}");
        // The registry sorts a family's series; the scrape keeps the config's order.
        for want in expected.get_metric() {
            let wanted: Vec<(&str, &str)> = want
                .get_label()
                .iter()
                .map(|l| (l.name(), l.value()))
                .collect();
            let mut same_labels = found.metric.iter().filter(|got| {
                got.label
                    .iter()
                    .map(|l| (l.name(), l.value()))
                    .eq(wanted.iter().copied())
            });
            let got = same_labels
                .next()
                .unwrap_or_else(|| panic!("{name}: no {wanted:?}"));
            assert!(same_labels.next().is_none(), "{name}: {wanted:?} twice");
            assert_same_value(name, got, want);
        }
    }

    let duration = families
        .iter()
        .find(|f| f.name() == "synthex_request_duration_seconds")
        .unwrap();
    let series = [("api", "read"), ("api", "write"), ("other", "only")];
    for (index, (t, s)) in [(0, 0), (0, 1), (1, 0)].into_iter().enumerate() {
        let histogram = duration.metric[index].histogram.as_ref().unwrap();
        let labels: Vec<&str> = duration.metric[index]
            .label
            .iter()
            .map(|l| l.value())
            .collect();
        assert_eq!(labels, [series[index].1, series[index].0, "prod"]);
        for (bucket, b) in histogram.bucket.iter().enumerate() {
            let want = last_in_bucket.get(&(t, s, bucket));
            let got = b.exemplar.as_ref().map(|e| {
                assert_eq!(e.label[0].name(), "trace_id");
                (e.label[0].value().to_string(), e.value())
            });
            assert_eq!(got.as_ref(), want, "{labels:?} bucket {bucket}");
        }
        let native: u64 = histogram.zero_count()
            + histogram
                .positive_delta
                .iter()
                .scan(0i64, |count, delta| {
                    *count += delta;
                    Some(*count as u64)
                })
                .sum::<u64>();
        assert_eq!(native, histogram.sample_count(), "{labels:?}");
        assert_eq!(histogram.schema(), 3);
        let exemplars = histogram.exemplars.len();
        assert_eq!(
            exemplars,
            histogram
                .bucket
                .iter()
                .filter(|b| b.exemplar.is_some())
                .count()
        );
    }
}

/// The sample of a protobuf metric equals the registry's.
fn assert_same_value(name: &str, got: &ProtoMetric, want: &prometheus::proto::Metric) {
    let same = |a: f64, b: f64| a == b || (a.is_nan() && b.is_nan());
    if let Some(counter) = &got.counter {
        assert!(
            same(counter.value(), want.get_counter().get_value()),
            "{name}"
        );
    } else if let Some(gauge) = &got.gauge {
        assert!(same(gauge.value(), want.get_gauge().get_value()), "{name}");
    } else if let Some(summary) = &got.summary {
        let wanted = want.get_summary();
        assert_eq!(summary.sample_count(), wanted.sample_count(), "{name}");
        assert!(same(summary.sample_sum(), wanted.sample_sum()), "{name}");
        let quantiles: Vec<(f64, f64)> = summary
            .quantile
            .iter()
            .map(|q| (q.quantile(), q.value()))
            .collect();
        let expected: Vec<(f64, f64)> = wanted
            .get_quantile()
            .iter()
            .map(|q| (q.quantile(), q.value()))
            .collect();
        assert_eq!(quantiles.len(), expected.len(), "{name}");
        for (a, b) in quantiles.iter().zip(&expected) {
            assert!(a.0 == b.0 && same(a.1, b.1), "{name}: {a:?} vs {b:?}");
        }
    } else if let Some(histogram) = &got.histogram {
        let wanted = want.get_histogram();
        assert_eq!(
            histogram.sample_count(),
            wanted.get_sample_count(),
            "{name}"
        );
        assert!(
            same(histogram.sample_sum(), wanted.get_sample_sum()),
            "{name}"
        );
        let buckets: Vec<(f64, u64)> = histogram
            .bucket
            .iter()
            .map(|b| (b.upper_bound(), b.cumulative_count()))
            .collect();
        let (finite, inf): (Vec<_>, Vec<_>) = buckets.into_iter().partition(|b| b.0.is_finite());
        let expected: Vec<(f64, u64)> = wanted
            .get_bucket()
            .iter()
            .map(|b| (b.upper_bound(), b.cumulative_count()))
            .collect();
        assert_eq!(finite, expected, "{name}");
        // The +Inf bucket is written only to carry its exemplar, and then counts everything.
        assert!(
            inf.iter().all(|b| b.1 == histogram.sample_count()),
            "{name}"
        );
        if !name.starts_with("synthex_request_duration") {
            assert!(
                histogram.schema.is_none() && histogram.positive_span.is_empty(),
                "{name}"
            );
        }
    } else {
        panic!("{name}: a metric without a value");
    }
}

/// A load test's recorder feeds the daemon metrics of the right target and row (it looks the
/// targets' handles up once): outcomes recorded for the second target's second scenario, a
/// step not run, and the first target's only scenario each land in their own series.
#[test]
fn the_load_recorder_counts_each_row_in_its_own_targets_series() {
    use synthex::loadtest::recorder::{Recorder, ScenarioRef};
    let config = support::config(vec![
        support::target("web", 1.0, vec![support::scenario("home", 1)]),
        support::target(
            "api",
            1.0,
            vec![support::scenario("read", 1), support::scenario("write", 1)],
        ),
    ]);
    let metrics = std::sync::Arc::new(Metrics::new(&config).unwrap());
    let row = |target: usize, row: usize, scenario: &str| ScenarioRef {
        target,
        row,
        target_name: ["web", "api"][target].to_string(),
        scenario_name: scenario.to_string(),
        step: None,
        method: "GET".to_string(),
    };
    let recorder = Recorder::new(
        vec![row(0, 0, "home"), row(1, 1, "write")],
        tokio::time::Instant::now(),
        Duration::from_secs(1),
        Some(metrics.clone()),
    );
    for _ in 0..3 {
        recorder.record(1, &ok(Duration::from_millis(5)));
    }
    recorder.record(0, &failed(Some(503), FailureReason::HttpStatus, "got 503"));
    let requests = |target, scenario, code| {
        value(
            &metrics,
            "synthex_requests_total",
            &[("target", target), ("scenario", scenario), ("code", code)],
        )
    };
    assert_eq!(requests("api", "write", "200"), Some(3.0));
    assert_eq!(requests("api", "read", "200"), None);
    assert_eq!(requests("web", "home", "503"), Some(1.0));
}
