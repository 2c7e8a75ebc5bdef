//! Baseline comparison (`--baseline`, `synthex compare OLD.json NEW.json`): each scenario's p95,
//! p99, error ratio and RPS in the current run against a baseline report, with tolerances so
//! that noise is not called a regression.
//!
//! A latency regression needs both a relative and an absolute change (10% *and* 1 ms by
//! default: 1.0 → 1.2 ms is noise, 100 → 115 ms is not); the error ratio is judged in
//! percentage points and RPS relatively. Changes beyond the same tolerances the other way are
//! listed as improvements. Scenarios found on one side only are reported too.

pub mod html;
pub mod issue;
mod plan;
mod render;

use std::collections::BTreeMap;

pub use render::{render_markdown, render_text};

use super::format;
use super::model::{LatencyHistogram, Report, ScenarioStats};
use super::table;

/// How much change is noise. Defaults: latency +10% and +1 ms, error ratio +1 point, RPS −10%.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerances {
    /// Relative latency growth tolerated (0.10 = 10%).
    pub latency_relative: f64,
    /// Absolute latency growth tolerated, seconds (a duration such as `1ms` in a config file).
    pub latency_absolute: f64,
    /// Error ratio growth tolerated, as a ratio (0.01 = one percentage point).
    pub error_ratio: f64,
    /// Relative RPS drop tolerated (0.10 = 10%).
    pub rps_relative: f64,
}

impl Default for Tolerances {
    fn default() -> Self {
        Tolerances {
            latency_relative: 0.10,
            latency_absolute: 0.001,
            error_ratio: 0.01,
            rps_relative: 0.10,
        }
    }
}

/// A compared signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// 95th percentile latency, seconds.
    P95,
    /// 99th percentile latency, seconds.
    P99,
    /// Failed share of requests.
    ErrorRatio,
    /// Requests per second over the run.
    Rps,
}

impl Metric {
    /// Display name.
    pub fn name(self) -> &'static str {
        match self {
            Metric::P95 => "p95",
            Metric::P99 => "p99",
            Metric::ErrorRatio => "error ratio",
            Metric::Rps => "RPS",
        }
    }
}

/// How a signal moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Worse beyond the tolerances.
    Regression,
    /// Better beyond the tolerances.
    Improvement,
    /// Within the tolerances.
    Unchanged,
}

/// One signal of one scenario, before and after.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// Scenario label, or `Total`.
    pub scenario: String,
    /// The signal.
    pub metric: Metric,
    /// Baseline value.
    pub old: f64,
    /// Current value.
    pub new: f64,
    /// Its verdict under the tolerances.
    pub verdict: Verdict,
}

impl Change {
    /// `old → new (difference)`, e.g. `45ms → 61ms (+16ms, +35.6%)` or `0.5% → 2.5% (+2 points)`.
    pub fn describe(&self) -> String {
        let relative = format::ratio(self.new - self.old, self.old).map_or(String::new(), |r| {
            format!(", {}", signed(&format::percent(r)))
        });
        let (old, new, delta) = match self.metric {
            Metric::P95 | Metric::P99 => {
                let delta = format::duration((self.new - self.old).abs());
                let sign = if self.new >= self.old { "+" } else { "-" };
                let old = format::duration(self.old);
                (
                    old,
                    format::duration(self.new),
                    format!("{sign}{delta}{relative}"),
                )
            }
            Metric::ErrorRatio => {
                let points = format::decimals((self.new - self.old) * 100.0, 2);
                (
                    format::percent(self.old),
                    format::percent(self.new),
                    format!("{} points", signed(&points)),
                )
            }
            Metric::Rps => (
                format::rate(self.old),
                format::rate(self.new),
                relative.trim_start_matches(", ").to_string(),
            ),
        };
        format!("{old} → {new} ({delta})")
    }
}

fn signed(number: &str) -> String {
    if number.starts_with('-') {
        number.to_string()
    } else {
        format!("+{number}")
    }
}

/// The result of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Every compared signal of every scenario found on both sides, then of the total.
    pub changes: Vec<Change>,
    /// Scenarios in the baseline but not in the current run.
    pub only_in_baseline: Vec<String>,
    /// Scenarios in the current run but not in the baseline.
    pub only_in_current: Vec<String>,
    /// How the two runs' plans differ (users, rate, duration, profile, tags), one sentence
    /// each: the comparison holds, but a change may come from the plan, not the service.
    pub plan_differences: Vec<String>,
    /// The tolerances applied.
    pub tolerances: Tolerances,
}

impl Comparison {
    /// Signals that got worse beyond the tolerances.
    pub fn regressions(&self) -> impl Iterator<Item = &Change> {
        self.changes
            .iter()
            .filter(|c| c.verdict == Verdict::Regression)
    }

    /// Signals that got better beyond the tolerances.
    pub fn improvements(&self) -> impl Iterator<Item = &Change> {
        self.changes
            .iter()
            .filter(|c| c.verdict == Verdict::Improvement)
    }

    /// Whether anything regressed (the run fails on it when asked to).
    pub fn has_regressions(&self) -> bool {
        self.regressions().next().is_some()
    }

    /// The tolerances in words, for headings.
    pub fn tolerances_text(&self) -> String {
        let t = &self.tolerances;
        format!(
            "latency +{} and +{}, error ratio +{} point(s), RPS -{}",
            format::percent(t.latency_relative),
            format::duration(t.latency_absolute),
            format::decimals(t.error_ratio * 100.0, 2),
            format::percent(t.rps_relative),
        )
    }
}

/// Compares each scenario (and the total) of `current` with `baseline`.
///
/// Scenarios are matched by their labels: `scenario`, or `target/scenario` when either run has
/// several targets. A Locust run's rows (no target) are matched by their `Name` against the
/// other run's labels as that run shows them.
pub fn compare(baseline: &Report, current: &Report, tolerances: &Tolerances) -> Comparison {
    let with_target = table::several_targets(baseline) || table::several_targets(current);
    let (old, new) = (
        labelled(baseline, with_target && !from_locust(current)),
        labelled(current, with_target && !from_locust(baseline)),
    );
    let mut changes = Vec::new();
    for (label, o) in &old {
        if let Some(n) = new.get(label) {
            let before = Totals::new(
                o.requests,
                o.failures,
                &o.latency,
                baseline.duration_seconds,
            );
            let after = Totals::new(n.requests, n.failures, &n.latency, current.duration_seconds);
            changes.extend(before.compare(&after, label, tolerances));
        }
    }
    let (before, after) = (baseline.total(), current.total());
    let before = Totals::new(before.0, before.1, &before.2, baseline.duration_seconds);
    let after = Totals::new(after.0, after.1, &after.2, current.duration_seconds);
    changes.extend(before.compare(&after, "Total", tolerances));
    Comparison {
        changes,
        only_in_baseline: old
            .keys()
            .filter(|k| !new.contains_key(*k))
            .cloned()
            .collect(),
        only_in_current: new
            .keys()
            .filter(|k| !old.contains_key(*k))
            .cloned()
            .collect(),
        plan_differences: plan::differences(baseline, current),
        tolerances: *tolerances,
    }
}

/// Whether `report` was read from Locust's CSVs (its rows have no target).
fn from_locust(report: &Report) -> bool {
    report.plan.profile == super::locust_input::PROFILE
        && report.scenarios.iter().all(|s| s.target.is_empty())
}

/// The scenarios of `report` by label (with the target when `with_target` and it has one).
fn labelled(report: &Report, with_target: bool) -> BTreeMap<String, &ScenarioStats> {
    report
        .scenarios
        .iter()
        .map(|s| {
            let label =
                table::scenario_label(with_target && !s.target.is_empty(), &s.target, &s.scenario);
            (label, s)
        })
        .collect()
}

/// The compared signals of one scenario; `None` where there were no requests.
struct Totals {
    p95: Option<f64>,
    p99: Option<f64>,
    error_ratio: Option<f64>,
    rps: Option<f64>,
}

impl Totals {
    fn new(requests: u64, failures: u64, latency: &LatencyHistogram, secs: f64) -> Totals {
        let q = |q| latency.quantile(q).map(|d| d.as_secs_f64());
        Totals {
            p95: q(0.95),
            p99: q(0.99),
            error_ratio: format::ratio(failures as f64, requests as f64),
            rps: format::ratio(requests as f64, secs),
        }
    }

    fn compare(&self, after: &Totals, scenario: &str, t: &Tolerances) -> Vec<Change> {
        let latency = |old: f64, new: f64| {
            let limit = (old * t.latency_relative).max(t.latency_absolute);
            verdict(new - old > limit, old - new > limit)
        };
        let errors =
            |old: f64, new: f64| verdict(new - old > t.error_ratio, old - new > t.error_ratio);
        let rps = |old: f64, new: f64| {
            verdict(
                new < old * (1.0 - t.rps_relative),
                new > old * (1.0 + t.rps_relative),
            )
        };
        type Judge<'a> = &'a dyn Fn(f64, f64) -> Verdict;
        let signals: [(Metric, Option<f64>, Option<f64>, Judge); 4] = [
            (Metric::P95, self.p95, after.p95, &latency),
            (Metric::P99, self.p99, after.p99, &latency),
            (
                Metric::ErrorRatio,
                self.error_ratio,
                after.error_ratio,
                &errors,
            ),
            (Metric::Rps, self.rps, after.rps, &rps),
        ];
        signals
            .into_iter()
            .filter_map(|(metric, old, new, judge)| {
                let (old, new) = (old?, new?);
                Some(Change {
                    scenario: scenario.to_string(),
                    metric,
                    old,
                    new,
                    verdict: judge(old, new),
                })
            })
            .collect()
    }
}

fn verdict(worse: bool, better: bool) -> Verdict {
    match (worse, better) {
        (true, _) => Verdict::Regression,
        (_, true) => Verdict::Improvement,
        _ => Verdict::Unchanged,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testing::{self, Sample};

    /// The test report with every latency scaled by `factor` and every `nth` request failed.
    fn run(factor: f64, fail_every: Option<usize>) -> Report {
        let samples: Vec<Sample> = testing::samples()
            .into_iter()
            .enumerate()
            .map(|(i, mut s)| {
                s.latency_us = (s.latency_us as f64 * factor) as u64;
                s.failure = fail_every
                    .filter(|n| i % n == 0)
                    .map(|_| ("http_status", "503"));
                s
            })
            .collect();
        testing::build(&samples, vec![], 10, vec![])
    }

    #[test]
    fn noise_is_not_a_regression() {
        let comparison = compare(&run(1.0, None), &run(1.05, None), &Tolerances::default());
        assert!(!comparison.has_regressions(), "{comparison:?}");
        assert_eq!(comparison.improvements().count(), 0);
        assert_eq!(
            comparison.changes.len(),
            4 * 4,
            "3 scenarios and the total, 4 signals each"
        );
    }

    #[test]
    fn a_slower_run_regresses_latency_and_says_by_how_much() {
        let comparison = compare(&run(1.0, None), &run(1.5, Some(20)), &Tolerances::default());
        let regressed: Vec<(&str, Metric)> = comparison
            .regressions()
            .map(|c| (c.scenario.as_str(), c.metric))
            .collect();
        assert!(
            regressed.contains(&("api/search", Metric::P95)),
            "{regressed:?}"
        );
        assert!(
            regressed.contains(&("Total", Metric::ErrorRatio)),
            "{regressed:?}"
        );
        let p95 = comparison
            .regressions()
            .find(|c| c.scenario == "api/search")
            .unwrap();
        let text = p95.describe();
        assert_eq!(text, "64ms → 96ms (+32ms, +50%)");

        let mut out = Vec::new();
        render_text(&comparison, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("Regressions\n  ✗ api/order_status"), "{text}");
        assert!(
            text.lines().any(|l| l.starts_with("  ✗ api/search ")
                && l.ends_with("p95          64ms → 96ms (+32ms, +50%)")),
            "{text}"
        );
        assert!(!text.contains("No regressions"), "{text}");
        // A faster run the other way round is an improvement, not a regression.
        let back = compare(&run(1.5, Some(20)), &run(1.0, None), &Tolerances::default());
        assert!(!back.has_regressions());
        assert!(back.improvements().any(|c| c.metric == Metric::ErrorRatio));
    }

    #[test]
    fn missing_scenarios_are_reported_on_both_sides() {
        let mut current = run(1.0, None);
        current.scenarios[0].scenario = "checkout".into();
        let comparison = compare(&run(1.0, None), &current, &Tolerances::default());
        assert_eq!(comparison.only_in_baseline, ["api/order_status"]);
        assert_eq!(comparison.only_in_current, ["api/checkout"]);
        let mut out = Vec::new();
        render_markdown(&comparison, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("Only in the baseline: api/order_status"),
            "{text}"
        );
    }

    #[test]
    fn describe_formats_each_signal() {
        let change = |metric, old, new| Change {
            scenario: "x".into(),
            metric,
            old,
            new,
            verdict: Verdict::Regression,
        };
        assert_eq!(
            change(Metric::P95, 0.045, 0.061).describe(),
            "45ms → 61ms (+16ms, +35.56%)"
        );
        assert_eq!(
            change(Metric::ErrorRatio, 0.005, 0.025).describe(),
            "0.5% → 2.5% (+2 points)"
        );
        assert_eq!(
            change(Metric::Rps, 100.0, 80.0).describe(),
            "100.0 → 80.0 (-20%)"
        );
    }
}
