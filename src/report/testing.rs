//! Test support: [`Report`]s built from raw request samples, so tests can compare a merge of
//! shard reports with one report of the union of their samples.
//!
//! Compiled only for the unit tests; the integration tests include this same file with
//! `#[path = "../src/report/testing.rs"] mod testing;` next to a `mod model` that re-exports
//! `synthex::report::model`, which is why it names the model through `super::model`.
#![allow(dead_code)] // each test crate uses its own subset

use std::collections::BTreeMap;
use std::time::Duration;

use super::model::{
    FailureGroup, Interval, LatencyHistogram, LoadModel, Report, ResourceSample, ResourceSeries,
    ScenarioInterval, ScenarioStats, Shard, StageSummary,
};

/// One finished request.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Target name.
    pub target: &'static str,
    /// Scenario name.
    pub scenario: &'static str,
    /// Seconds since the start.
    pub at: f64,
    /// Latency, µs.
    pub latency_us: u64,
    /// `(reason, message)` when the request failed.
    pub failure: Option<(&'static str, &'static str)>,
    /// Body bytes.
    pub bytes: u64,
}

/// Length of every test run, seconds (one timeline interval per second).
pub const DURATION: f64 = 10.0;

/// 600 deterministic samples over 10 s on three scenarios of two targets, with some failures.
pub fn samples() -> Vec<Sample> {
    const SCENARIOS: [(&str, &str, u64); 3] = [
        ("api", "order_status", 20_000),
        ("api", "search", 45_000),
        ("web", "home", 3_000),
    ];
    (0..600u64)
        .map(|i| {
            let (target, scenario, base) = SCENARIOS[(i % 3) as usize];
            let failure = match i % 37 {
                0 => Some(("http_status", "expected status 200, got 503")),
                18 => Some(("timeout", "no response within 5s")),
                _ => None,
            };
            Sample {
                target,
                scenario,
                at: i as f64 / 60.0,
                latency_us: base + (i * 7919) % 20_000,
                failure,
                bytes: 100 + i % 50,
            }
        })
        .collect()
}

/// The report of a run that produced `samples`, with `users` users in every interval.
pub fn build(
    samples: &[Sample],
    shards: Vec<Shard>,
    users: u64,
    resources: Vec<ResourceSeries>,
) -> Report {
    let mut scenarios: Vec<ScenarioStats> = Vec::new();
    let mut failures: BTreeMap<(String, String, String, String), u64> = BTreeMap::new();
    let mut timeline: Vec<Interval> = (0..DURATION as usize)
        .map(|i| Interval::empty(i as f64, users, 0.0))
        .collect();
    for s in samples {
        let latency = Duration::from_micros(s.latency_us);
        let position = scenarios
            .iter()
            .position(|x| x.target == s.target && x.scenario == s.scenario);
        let stats = match position {
            Some(p) => &mut scenarios[p],
            None => {
                scenarios.push(empty_stats(s.target, s.scenario));
                let last = scenarios.len() - 1;
                &mut scenarios[last]
            }
        };
        stats.requests += 1;
        stats.body_bytes += s.bytes;
        stats.latency.record(latency);
        let index = s.at as usize;
        if stats.timeline.len() <= index {
            stats
                .timeline
                .resize(index + 1, ScenarioInterval::default());
        }
        let share = &mut stats.timeline[index];
        share.requests += 1;
        share.latency.record(latency);
        let interval = &mut timeline[index];
        interval.requests += 1;
        interval.latency.record(latency);
        if let Some((reason, message)) = s.failure {
            stats.failures += 1;
            share.failures += 1;
            interval.failures += 1;
            *interval.failure_reasons.entry(reason.into()).or_default() += 1;
            let key = (
                s.target.into(),
                s.scenario.into(),
                reason.into(),
                message.into(),
            );
            *failures.entry(key).or_default() += 1;
        }
    }
    let mut failures: Vec<FailureGroup> = failures
        .into_iter()
        .map(
            |((target, scenario, reason, message), occurrences)| FailureGroup {
                target,
                scenario,
                step: None,
                method: "GET".into(),
                reason,
                message,
                occurrences,
                first_seen: None,
                last_seen: None,
            },
        )
        .collect();
    failures.sort_by_key(|f| std::cmp::Reverse(f.occurrences));
    let mut report = Report::of_scenarios("light", LoadModel::Closed, scenarios, DURATION);
    report.config = "config/demo.yml".into();
    report.plan.stages = vec![StageSummary {
        duration_seconds: DURATION,
        target: 10.0,
        profile: None,
    }];
    report.plan.tags = Some(Vec::new());
    report.started_at = 1_700_000_000.0;
    report.shards = shards;
    report.failures = failures;
    report.timeline = timeline;
    report.resources = resources;
    report
}

fn empty_stats(target: &str, scenario: &str) -> ScenarioStats {
    ScenarioStats {
        target: target.into(),
        scenario: scenario.into(),
        step: None,
        method: "GET".into(),
        requests: 0,
        not_run: 0,
        failures: 0,
        body_bytes: 0,
        cache_hits: 0,
        cache_misses: 0,
        latency: LatencyHistogram::new(),
        timeline: Vec::new(),
    }
}

/// A host resource series of one sample per second sampled by `shard`. CPU ratios are
/// multiples of 1/64 so that they survive JSON exactly (serde_json's default float parser may
/// be one ULP off otherwise).
pub fn host_series(shard: u32) -> ResourceSeries {
    ResourceSeries {
        shard,
        source: "host".into(),
        samples: (0..DURATION as u64)
            .map(|i| ResourceSample {
                offset_seconds: i as f64,
                cpu_ratio: (13.0 + 3.0 * i as f64 + f64::from(shard)) / 64.0,
                memory_bytes: (512 + 8 * i) * 1024 * 1024,
            })
            .collect(),
    }
}

/// A plain single-shard report of [`samples`] with 10 users and one host series.
pub fn report() -> Report {
    build(
        &samples(),
        vec![Shard { index: 0, count: 1 }],
        10,
        vec![host_series(0)],
    )
}

/// [`report`] with api's two scenarios made the steps of one flow: `session/login` (the
/// order_status requests, 20–40 ms) and `session/me` (the search requests, 45–65 ms); web/home
/// stays a scenario.
pub fn flow_report() -> Report {
    let mut report = report();
    for (row, step) in [(0, "login"), (1, "me")] {
        report.scenarios[row].scenario = "session".into();
        report.scenarios[row].step = Some(step.into());
    }
    report
}

/// The chart ids of the HTML page of a three-scenario run with host samples, in page order;
/// `processes`: the run watched processes too, which adds their CPU chart.
pub fn chart_ids(processes: bool) -> Vec<&'static str> {
    let mut ids = vec![
        "chart-rps",
        "chart-latency",
        "chart-errors",
        "chart-failure-reasons",
        "chart-users",
        "chart-scenario-rps",
        "chart-scenario-p95",
        "chart-distribution",
        "chart-latency-s0",
        "chart-latency-s1",
        "chart-latency-s2",
        "chart-cpu",
    ];
    if processes {
        ids.push("chart-cpu-processes");
    }
    ids.push("chart-memory");
    ids
}
