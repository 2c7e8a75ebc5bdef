//! How long one `/metrics` render takes with 100 scenarios (10 targets × 10 scenarios), each
//! holding ~1000 recorded outcomes with every phase, two status codes, failures, cache results
//! and trace ids (exemplars): the worst realistic series count, in each exposition format
//! (text 0.0.4, OpenMetrics, protobuf with native histograms). Target: ≤ 5 ms. Also the
//! per-request cost of what issue 11 added on the request path: recording an outcome with the
//! native histogram and exemplar against recording it without, and generating a `traceparent`.
//!
//! Run: `cargo bench --bench metrics_render`

#[path = "../tests/metrics/support.rs"]
mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use synthex::metrics::{Format, Metrics};
use synthex::outcome::{CacheResult, Failure, FailureReason, Outcome, Phases};
use synthex::scenario::{Config, Objectives};

const TARGETS: usize = 10;
const SCENARIOS: usize = 10;
const OUTCOMES_PER_SCENARIO: usize = 1000;
const ITERATIONS: usize = 500;

/// 10 targets × 10 scenarios with every objective, the default buckets and a global label.
fn config() -> Config {
    let targets = (0..TARGETS)
        .map(|t| {
            let scenarios = (0..SCENARIOS)
                .map(|s| support::scenario(&format!("scenario_{s}"), 1))
                .collect();
            let mut target = support::target(&format!("target_{t}"), 10.0, scenarios);
            target.objectives = Objectives {
                latency: vec![
                    (0.95, Duration::from_millis(50)),
                    (0.99, Duration::from_millis(200)),
                ],
                error_ratio: Some(0.01),
                availability: Some(0.999),
                cache_hit_ratio: Some(0.8),
            };
            target
        })
        .collect();
    let mut config = support::config(targets);
    config.global.labels = BTreeMap::from([("env".to_string(), "bench".to_string())]);
    config.global.buckets = vec![
        0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.5,
        5.0, 10.0,
    ];
    config
}

fn outcome(i: usize) -> Outcome {
    let ms = |n: u64| Some(Duration::from_micros(n));
    let failed = i.is_multiple_of(50);
    Outcome {
        latency: Duration::from_micros(2_000 + (i as u64 * 7919) % 400_000),
        status: Some(if failed { 503 } else { 200 }),
        retry_after: None,
        failure: failed.then(|| Failure {
            reason: FailureReason::HttpStatus,
            message: "expected 2xx, got 503".to_string(),
        }),
        cache: match i % 3 {
            0 => CacheResult::Hit,
            1 => CacheResult::Miss,
            _ => CacheResult::Unknown,
        },
        phases: Phases {
            dns: ms(100 + i as u64 % 300),
            connect: ms(500 + i as u64 % 1000),
            first_byte: ms(1_000 + (i as u64 * 31) % 300_000),
            transfer: ms(50 + i as u64 % 5000),
        },
        body_bytes: 512,
        cert_expiry: Some(SystemTime::now() + Duration::from_secs(86_400 * 60)),
        finished_at: SystemTime::now(),
        trace_id: Some(synthex::trace_context::generate().0),
    }
}

/// Mean time per render in `format`, and its size.
fn render(metrics: &Metrics, format: Format) -> (Vec<Duration>, usize) {
    let sample = metrics.encode_as(format).expect("encode");
    for _ in 0..20 {
        std::hint::black_box(metrics.encode_as(format).expect("encode"));
    }
    let mut times: Vec<Duration> = (0..ITERATIONS)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(metrics.encode_as(format).expect("encode"));
            start.elapsed()
        })
        .collect();
    times.sort();
    (times, sample.len())
}

/// Nanoseconds per `Metrics::record` of a config with or without the native histogram, over
/// interleaved rounds (median of 7, as the machine's speed drifts).
fn record_cost() -> (f64, f64) {
    let outcomes: Vec<Outcome> = (0..10_000).map(outcome).collect();
    let mut with_native = Vec::new();
    let mut without = Vec::new();
    for _ in 0..7 {
        for native in [true, false] {
            let mut config = config();
            if !native {
                config.global.native_histogram = None;
                config.global.trace_context = false;
            }
            let metrics = Metrics::new(&config).expect("bench config is valid");
            let plain: Vec<Outcome> = outcomes
                .iter()
                .map(|o| Outcome {
                    trace_id: o.trace_id.filter(|_| native),
                    ..o.clone()
                })
                .collect();
            let start = Instant::now();
            for (i, o) in plain.iter().enumerate() {
                metrics.record(i % TARGETS, i % SCENARIOS, o);
            }
            let ns = start.elapsed().as_nanos() as f64 / plain.len() as f64;
            match native {
                true => with_native.push(ns),
                false => without.push(ns),
            }
        }
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    (median(with_native), median(without))
}

fn main() {
    let metrics = Metrics::new(&config()).expect("bench config is valid");
    for t in 0..TARGETS {
        for s in 0..SCENARIOS {
            for i in 0..OUTCOMES_PER_SCENARIO {
                metrics.record(t, s, &outcome(i));
            }
        }
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    for (name, format) in [
        ("text", Format::Text),
        ("openmetrics", Format::OpenMetrics),
        ("protobuf", Format::Protobuf),
    ] {
        let (times, size) = render(&metrics, format);
        let mean = times.iter().sum::<Duration>() / ITERATIONS as u32;
        let p99 = times[(ITERATIONS * 99).div_ceil(100) - 1];
        println!(
            "metrics_render {name}: {} scenarios, {} KiB per render, mean {:.3} ms, p50 {:.3} ms, \
             p99 {:.3} ms, max {:.3} ms (target <= 5 ms)",
            TARGETS * SCENARIOS,
            size / 1024,
            ms(mean),
            ms(times[ITERATIONS / 2]),
            ms(p99),
            ms(times[ITERATIONS - 1])
        );
    }
    let (with_native, without) = record_cost();
    println!(
        "record: {with_native:.0} ns per request with native histogram and exemplar, \
         {without:.0} ns without (+{:.0} ns)",
        with_native - without
    );
    let start = Instant::now();
    for _ in 0..100_000 {
        std::hint::black_box(synthex::trace_context::generate());
    }
    println!(
        "traceparent: {:.0} ns per generated header",
        start.elapsed().as_nanos() as f64 / 100_000.0
    );
}
