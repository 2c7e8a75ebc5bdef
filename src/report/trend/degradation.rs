//! The steady-degradation rule of `synthex report trend`, per scenario and signal (p95, error
//! ratio, requests/s), over the runs in which the scenario ran, oldest first.
//!
//! With `--degradation-runs=N` and `--degradation-threshold=X`, a signal degrades when either
//! holds for the newest N runs:
//! - **steady**: each of them is worse than the run before it by more than X: a climb of N
//!   steps (N + 1 runs);
//! - **drift**: each of them is worse than the first run of the trend by more than X: a slow
//!   creep whose steps stay under X, or a loss that stayed for N runs.
//!
//! "Worse by more than X": p95 above `before × (1 + X)`, requests/s below `before × (1 − X)`,
//! error ratio above `before × (1 + X)` *and* at least [`MIN_ERROR_RATIO_STEP`] higher (so
//! 0.001 % → 0.002 % of a run is not a doubling that matters, and 0 → 0.5 % is). Both need at
//! least N + 1 runs with the signal; only the newest runs count, so a past degradation that
//! recovered does not fail tonight's job.

use serde::Serialize;

use super::super::format;
use super::{Point, ScenarioTrend};

/// The least rise of the error ratio (0.1 percentage point) that counts as worse.
pub const MIN_ERROR_RATIO_STEP: f64 = 0.001;

/// A signal followed over runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// 95th percentile latency, seconds: higher is worse.
    P95,
    /// Failed share of the requests: higher is worse.
    ErrorRatio,
    /// Finished requests per second over the run: lower is worse.
    Rps,
}

impl Metric {
    /// Every signal, in table order.
    pub const ALL: [Metric; 3] = [Metric::P95, Metric::ErrorRatio, Metric::Rps];

    /// The signal's name in tables and sentences.
    pub fn name(self) -> &'static str {
        match self {
            Metric::P95 => "p95",
            Metric::ErrorRatio => "error ratio",
            Metric::Rps => "requests/s",
        }
    }

    /// The signal's value at one run.
    pub fn of(self, point: &Point) -> Option<f64> {
        match self {
            Metric::P95 => point.p95_seconds,
            Metric::ErrorRatio => point.error_ratio,
            Metric::Rps => point.rps,
        }
    }

    /// A value as tables show it.
    pub fn show(self, value: f64) -> String {
        match self {
            Metric::P95 => format::duration(value),
            Metric::ErrorRatio => format::percent(value),
            Metric::Rps => format::rate(value),
        }
    }

    /// Whether `after` is worse than `before` by more than `threshold` (a proportion).
    pub fn worse(self, before: f64, after: f64, threshold: f64) -> bool {
        match self {
            Metric::P95 => after > before * (1.0 + threshold),
            Metric::ErrorRatio => {
                after > before * (1.0 + threshold) && after - before >= MIN_ERROR_RATIO_STEP
            }
            Metric::Rps => after < before * (1.0 - threshold),
        }
    }

    /// Which way is worse, for sentences.
    fn worse_word(self) -> &'static str {
        match self {
            Metric::Rps => "lower",
            Metric::P95 | Metric::ErrorRatio => "higher",
        }
    }
}

/// `--degradation-runs` and `--degradation-threshold`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Rule {
    /// N: runs in a row.
    pub runs: usize,
    /// X: the relative change that counts, as a proportion (0.1 is 10 %).
    pub threshold: f64,
}

impl Default for Rule {
    fn default() -> Self {
        Rule {
            runs: 3,
            threshold: 0.1,
        }
    }
}

impl Rule {
    /// The rule in one sentence.
    pub fn describe(&self) -> String {
        format!(
            "a signal degrades when each of the newest {n} runs is more than {x} worse than the run before it (steady), or than the first run (drift)",
            n = self.runs,
            x = format::percent(self.threshold)
        )
    }
}

/// Which half of the rule held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Each run worse than the one before.
    Steady,
    /// Each run worse than the first.
    Drift,
}

/// One degraded signal of one scenario.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Degradation {
    /// The scenario's label (or `Total`).
    pub scenario: String,
    /// The signal.
    pub metric: Metric,
    /// Which half of the rule held (steady when both did).
    pub kind: Kind,
    /// Run numbers (1-based, in `runs` order): the reference run (the one before, or the
    /// first), then the N newest.
    pub runs: Vec<usize>,
    /// The signal at those runs.
    pub values: Vec<f64>,
    /// The finding in one sentence, with its figures.
    pub summary: String,
}

/// The degraded signals of `scenario` under `rule`, in [`Metric::ALL`] order.
pub fn find(scenario: &ScenarioTrend, rule: &Rule) -> Vec<Degradation> {
    Metric::ALL
        .into_iter()
        .filter_map(|metric| check(scenario, metric, rule))
        .collect()
}

fn check(scenario: &ScenarioTrend, metric: Metric, rule: &Rule) -> Option<Degradation> {
    let values: Vec<(usize, f64)> = scenario
        .points
        .iter()
        .filter_map(|p| Some((p.run, metric.of(p)?)))
        .collect();
    if rule.runs == 0 || values.len() < rule.runs + 1 {
        return None;
    }
    let window = &values[values.len() - rule.runs - 1..];
    let newest = &window[1..];
    let steady = window
        .windows(2)
        .all(|pair| metric.worse(pair[0].1, pair[1].1, rule.threshold));
    let first = values[0];
    let drift = newest
        .iter()
        .all(|(_, v)| metric.worse(first.1, *v, rule.threshold));
    let (kind, reference) = match (steady, drift) {
        (true, _) => (Kind::Steady, window[0]),
        (false, true) => (Kind::Drift, first),
        (false, false) => return None,
    };
    let shown = |(run, v): &(usize, f64)| format!("{} (#{run})", metric.show(*v));
    let (than, shown_values) = match kind {
        Kind::Steady => (
            "the one before".to_string(),
            window.iter().map(shown).collect::<Vec<_>>().join(" → "),
        ),
        Kind::Drift => (
            format!("the first run's {}", shown(&first)),
            newest.iter().map(shown).collect::<Vec<_>>().join(", "),
        ),
    };
    let summary = format!(
        "{} {}: each of the last {} runs more than {} {} than {than}: {shown_values}",
        scenario.name,
        metric.name(),
        rule.runs,
        format::percent(rule.threshold),
        metric.worse_word(),
    );
    let involved: Vec<(usize, f64)> = std::iter::once(reference)
        .chain(newest.iter().copied())
        .collect();
    Some(Degradation {
        scenario: scenario.name.clone(),
        metric,
        kind,
        runs: involved.iter().map(|(run, _)| *run).collect(),
        values: involved.iter().map(|(_, v)| *v).collect(),
        summary,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scenario whose p95 (s), error ratio and rps take these values in runs 1, 2, …
    fn scenario(p95: &[f64], errors: &[f64], rps: &[f64]) -> ScenarioTrend {
        ScenarioTrend {
            name: "svc/work".into(),
            points: (0..p95.len())
                .map(|i| Point {
                    run: i + 1,
                    requests: 100,
                    failures: 0,
                    p95_seconds: Some(p95[i]),
                    error_ratio: Some(errors[i]),
                    rps: Some(rps[i]),
                })
                .collect(),
        }
    }

    fn kinds(found: &[Degradation]) -> Vec<(Metric, Kind)> {
        found.iter().map(|d| (d.metric, d.kind)).collect()
    }

    #[test]
    fn a_steady_climb_of_exactly_n_steps_is_found_and_n_minus_one_is_not() {
        let rule = Rule {
            runs: 3,
            threshold: 0.1,
        };
        let flat = [0.0; 5];
        let rps = [100.0; 5];
        // 10 → 5 is a drop; then three climbs of 20 % each.
        let climbing = scenario(&[0.010, 0.005, 0.006, 0.0072, 0.00864], &flat, &rps);
        let found = find(&climbing, &rule);
        assert_eq!(kinds(&found), [(Metric::P95, Kind::Steady)]);
        assert_eq!(found[0].runs, [2, 3, 4, 5]);
        assert_eq!(
            found[0].summary,
            "svc/work p95: each of the last 3 runs more than 10% higher than the one before: 5ms (#2) → 6ms (#3) → 7.2ms (#4) → 8.64ms (#5)"
        );
        // Four steps asked, three made (10 → 5 went the other way); the newest four are not all
        // above the first run's 10 ms either.
        let four = Rule { runs: 4, ..rule };
        assert!(find(&climbing, &four).is_empty());
        // Fewer runs than N + 1: no verdict.
        let short = scenario(&[0.005, 0.006, 0.0072], &flat[..3], &rps[..3]);
        assert!(find(&short, &rule).is_empty());
    }

    #[test]
    fn the_threshold_is_exclusive() {
        // Each step exactly +25 % (binary fractions, so no rounding): more than 24.99 %, not
        // more than 25 %.
        let p95 = [8.0, 10.0, 12.5, 15.625];
        let s = scenario(&p95, &[0.0; 4], &[100.0; 4]);
        let rule = |threshold| Rule { runs: 3, threshold };
        assert_eq!(
            kinds(&find(&s, &rule(0.2499))),
            [(Metric::P95, Kind::Steady)]
        );
        assert!(find(&s, &rule(0.25)).is_empty());
    }

    #[test]
    fn a_creep_under_the_step_threshold_is_a_drift_from_the_first_run() {
        // +6 % a run: no step over 10 %, but runs 3–5 are each over 10 % above run 1.
        let p95 = [0.1, 0.106, 0.1124, 0.1191, 0.1262];
        let s = scenario(&p95, &[0.0; 5], &[100.0; 5]);
        let found = find(&s, &Rule::default());
        assert_eq!(kinds(&found), [(Metric::P95, Kind::Drift)]);
        assert_eq!(found[0].runs, [1, 3, 4, 5]);
        assert!(
            found[0].summary.ends_with(
                "than the first run's 100ms (#1): 112.4ms (#3), 119.1ms (#4), 126.2ms (#5)"
            ),
            "{}",
            found[0].summary
        );
    }

    #[test]
    fn throughput_degrades_downwards_and_error_ratios_need_a_real_rise() {
        let rps = [100.0, 85.0, 70.0, 55.0];
        // Error ratio doubling each run but far under 0.1 point: not a degradation.
        let tiny = [0.00001, 0.00002, 0.00004, 0.00008];
        let s = scenario(&[0.01; 4], &tiny, &rps);
        assert_eq!(
            kinds(&find(&s, &Rule::default())),
            [(Metric::Rps, Kind::Steady)]
        );
        // From none to 0.1 %, 0.2 %, 0.4 %: each a real rise.
        let real = [0.0, 0.001, 0.002, 0.004];
        let s = scenario(&[0.01; 4], &real, &[100.0; 4]);
        assert_eq!(
            kinds(&find(&s, &Rule::default())),
            [(Metric::ErrorRatio, Kind::Steady)]
        );
    }
}
