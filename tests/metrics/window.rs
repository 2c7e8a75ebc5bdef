//! Windowed quantiles: accuracy against an exact sort, ageing, and the summary's exposition.

use std::time::Duration;

use synthex::metrics::Metrics;
use synthex::outcome::CacheResult;

use crate::support::*;

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
