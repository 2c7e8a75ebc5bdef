//! `synthex report trend DIR...`: many runs side by side. Every report in the folders given
//! (synthex `report.json`, Locust `*_stats.csv`; see [`runs`]) in the order the runs started,
//! per scenario its p95, error ratio and requests/s over the runs, and the steady degradations
//! ([`degradation`]) a nightly job fails on (exit 3).
//!
//! - [`runs`]: finding and reading the runs, and when each started.
//! - [`degradation`]: the rule, per scenario and signal.
//! - [`render`]: the terminal table, Markdown and JSON.
//! - [`page`]: the offline HTML page with a chart per scenario and signal.
//! - [`command`]: the command's flags and exit status.

use serde::Serialize;

use super::format;
use super::model::{LatencyHistogram, Report};
use super::table;

pub mod command;
pub mod degradation;
pub mod page;
pub mod render;
pub mod runs;

use degradation::{Degradation, Rule};
use runs::{Run, RunInfo};

/// The trend of a set of runs: what every format shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trend {
    /// The runs, oldest first; run numbers elsewhere count from 1 in this order.
    pub runs: Vec<RunInfo>,
    /// The degradation rule applied.
    pub rule: Rule,
    /// Each scenario (by label, in order of first appearance), then `Total`.
    pub scenarios: Vec<ScenarioTrend>,
    /// Every degraded signal.
    pub degradations: Vec<Degradation>,
}

/// One scenario over the runs it ran in.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScenarioTrend {
    /// `scenario` (or `flow/step`), with `target/` in front when a run has several targets;
    /// a Locust run's rows match by their `Name`. `Total` is every scenario of a run together.
    pub name: String,
    /// One point per run in which it had requests.
    pub points: Vec<Point>,
}

/// One scenario in one run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Point {
    /// The run's number (1-based).
    pub run: usize,
    /// Finished requests.
    pub requests: u64,
    /// Of which failed.
    pub failures: u64,
    /// 95th percentile latency, seconds.
    pub p95_seconds: Option<f64>,
    /// Failed share of the requests.
    pub error_ratio: Option<f64>,
    /// Requests per second over the run's length.
    pub rps: Option<f64>,
}

/// The label of the every-scenario row.
pub const TOTAL: &str = "Total";

impl Point {
    fn new(
        run: usize,
        requests: u64,
        failures: u64,
        latency: &LatencyHistogram,
        length: f64,
    ) -> Point {
        Point {
            run,
            requests,
            failures,
            p95_seconds: latency.quantile(0.95).map(|d| d.as_secs_f64()),
            error_ratio: format::ratio(failures as f64, requests as f64),
            rps: format::ratio(requests as f64, length),
        }
    }
}

/// One label's run: run number, requests, failures, latency.
type RunSum = (usize, u64, u64, LatencyHistogram);

/// The trend of `runs` (oldest first) under `rule`.
pub fn build(runs: &[Run], rule: Rule) -> Trend {
    let with_target = runs.iter().any(|r| table::several_targets(&r.report));
    // Per label, per run: requests, failures, latency (rows of one label in one run, such as a
    // Locust GET and POST of one name, add up).
    let mut sums: Vec<(String, Vec<RunSum>)> = Vec::new();
    let mut add = |label: String, run: usize, requests, failures, latency: &LatencyHistogram| {
        let at = match sums.iter().position(|(l, _)| *l == label) {
            Some(at) => at,
            None => {
                sums.push((label, Vec::new()));
                sums.len() - 1
            }
        };
        let runs = &mut sums[at].1;
        match runs.last_mut() {
            Some(last) if last.0 == run => {
                last.1 += requests;
                last.2 += failures;
                last.3.merge(latency);
            }
            _ => runs.push((run, requests, failures, latency.clone())),
        }
    };
    let mut totals = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        let report: &Report = &run.report;
        for s in report.scenarios.iter().filter(|s| s.requests > 0) {
            let with = with_target && !s.target.is_empty();
            let label = table::scenario_label(with, &s.target, &s.name());
            add(label, i + 1, s.requests, s.failures, &s.latency);
        }
        let (requests, failures, latency) = report.total();
        if requests > 0 {
            totals.push((i + 1, requests, failures, latency));
        }
    }
    sums.push((TOTAL.to_string(), totals));
    let scenarios: Vec<ScenarioTrend> = sums
        .into_iter()
        .map(|(name, points)| ScenarioTrend {
            name,
            points: points
                .iter()
                .map(|(run, requests, failures, latency)| {
                    let length = runs[run - 1].report.duration_seconds;
                    Point::new(*run, *requests, *failures, latency, length)
                })
                .collect(),
        })
        .collect();
    let degradations = scenarios
        .iter()
        .flat_map(|s| degradation::find(s, &rule))
        .collect();
    Trend {
        runs: runs.iter().map(|r| r.info.clone()).collect(),
        rule,
        scenarios,
        degradations,
    }
}
