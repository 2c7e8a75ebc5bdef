//! Grades: each signal of a run (p95 and p99 latency, error ratio, P99/P95 consistency, host CPU
//! headroom) rated excellent / good / acceptable / poor against a configurable [`GradeScale`],
//! and an overall [`Score`] 0–100 with its [`Band`].
//!
//! Every graded signal is "lower is better", so a scale is three inclusive upper bounds. The
//! score weighs four signals against targets (`load.score`, see [`ScoreSettings`]): p95 latency,
//! error ratio, throughput and consistency (P99/P95). Each scores 100 when it meets its target and
//! falls off smoothly beyond it (a p95 twice the target scores 50); the score is their weighted
//! mean. A signal without data (no requests) or without a target (throughput by default) is left
//! out rather than guessed, and the weights of the others are renormalised.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::format;
use super::model::Report;
use super::table::Latency;

/// A rating, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Grade {
    /// Within the `excellent` bound.
    Excellent,
    /// Within the `good` bound.
    Good,
    /// Within the `acceptable` bound.
    Acceptable,
    /// Beyond every bound.
    Poor,
}

impl fmt::Display for Grade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Grade::Excellent => "excellent",
            Grade::Good => "good",
            Grade::Acceptable => "acceptable",
            Grade::Poor => "poor",
        })
    }
}

/// What is graded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// 95th percentile latency of all requests, seconds.
    P95,
    /// 99th percentile latency of all requests, seconds.
    P99,
    /// Failed share of all requests.
    ErrorRatio,
    /// P99/P95: a long tail makes latency unpredictable even with a good p95.
    Consistency,
    /// Highest host CPU sample: how close the host came to saturation (1 − headroom).
    HostCpu,
}

impl Signal {
    /// Display name.
    pub fn name(self) -> &'static str {
        match self {
            Signal::P95 => "p95 latency",
            Signal::P99 => "p99 latency",
            Signal::ErrorRatio => "error ratio",
            Signal::Consistency => "P99/P95 consistency",
            Signal::HostCpu => "host CPU peak",
        }
    }

    /// A value of this signal for display.
    pub fn show(self, value: f64) -> String {
        match self {
            Signal::P95 | Signal::P99 => format::duration(value),
            Signal::ErrorRatio | Signal::HostCpu => format::percent(value),
            Signal::Consistency => format::decimals(value, 2),
        }
    }
}

/// One graded signal.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SignalGrade {
    /// The signal.
    pub signal: Signal,
    /// Its measured value (seconds or ratio).
    pub value: f64,
    /// Its rating.
    pub grade: Grade,
}

/// Every graded signal and the overall score.
#[derive(Debug, Clone, PartialEq)]
pub struct Grades {
    /// Graded signals, in [`Signal`] order; signals without data are absent.
    pub signals: Vec<SignalGrade>,
    /// The weighted score and its band.
    pub score: Score,
}

/// The band a score falls in: excellent ≥ 90, good ≥ 75, acceptable ≥ 50, poor ≥ 25, else
/// critical.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Band {
    /// 90–100.
    Excellent,
    /// 75–89.
    Good,
    /// 50–74.
    Acceptable,
    /// 25–49.
    Poor,
    /// 0–24.
    Critical,
}

impl Band {
    /// The band of a score 0–100.
    pub fn of(score: u32) -> Band {
        match score {
            90.. => Band::Excellent,
            75..=89 => Band::Good,
            50..=74 => Band::Acceptable,
            25..=49 => Band::Poor,
            _ => Band::Critical,
        }
    }
}

impl fmt::Display for Band {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Band::Excellent => "excellent",
            Band::Good => "good",
            Band::Acceptable => "acceptable",
            Band::Poor => "poor",
            Band::Critical => "critical",
        })
    }
}

/// A signal of the score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScoreSignal {
    /// p95 latency of all requests against `targets.p95`.
    P95,
    /// Failed share against `targets.error_ratio`.
    ErrorRatio,
    /// Requests per second against `targets.throughput` (higher is better).
    Throughput,
    /// P99/P95 against `targets.consistency`.
    Consistency,
}

/// One signal's part of the score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScorePart {
    /// The signal.
    pub signal: ScoreSignal,
    /// Its measured value (seconds, ratio, requests/s or P99/P95).
    pub value: f64,
    /// Its target.
    pub target: f64,
    /// Its points, 0–100.
    pub points: f64,
    /// Its weight after renormalisation, 0–1.
    pub weight: f64,
}

/// The overall score of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// 0–100 (0 when nothing could be scored).
    pub value: u32,
    /// Its band.
    pub band: Band,
    /// The signals that made it.
    pub parts: Vec<ScorePart>,
}

impl fmt::Display for Score {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/100 ({})", self.value, self.band)
    }
}

impl ScoreSignal {
    /// Display name.
    pub fn name(self) -> &'static str {
        match self {
            ScoreSignal::P95 => "p95 latency",
            ScoreSignal::ErrorRatio => "error ratio",
            ScoreSignal::Throughput => "throughput",
            ScoreSignal::Consistency => "P99/P95 consistency",
        }
    }

    /// A value (or target) of this signal for display.
    pub fn show(self, value: f64) -> String {
        match self {
            ScoreSignal::P95 => format::duration(value),
            ScoreSignal::ErrorRatio => format::percent(value),
            ScoreSignal::Throughput => format!("{} req/s", format::rate(value)),
            ScoreSignal::Consistency => format::decimals(value, 2),
        }
    }
}

impl Score {
    /// The score's signals as display rows, header first.
    pub fn cells(&self) -> Vec<Vec<String>> {
        let mut rows = vec![
            ["Score signal", "Value", "Target", "Points", "Weight"]
                .map(String::from)
                .to_vec(),
        ];
        rows.extend(self.parts.iter().map(|p| {
            vec![
                p.signal.name().to_string(),
                p.signal.show(p.value),
                p.signal.show(p.target),
                format::decimals(p.points, 1),
                format::percent(p.weight),
            ]
        }));
        rows
    }
}

/// Points of a lower-is-better signal: 100 up to the target, then target/value.
fn lower(value: f64, target: f64) -> f64 {
    if value <= target {
        100.0
    } else {
        100.0 * target / value
    }
}

/// `load.score`: weights (relative, any scale) and targets of the score's signals.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreSettings {
    /// Weights of p95, error ratio, throughput and consistency; default 40, 30, 20, 10.
    pub weights: [f64; 4],
    /// p95 target, seconds; default 300 ms.
    pub p95: f64,
    /// Error ratio target; default 1%.
    pub error_ratio: f64,
    /// Throughput target, requests/s; none by default (the signal is left out).
    pub throughput: Option<f64>,
    /// P99/P95 target, at least 1; default 2.
    pub consistency: f64,
}

impl Default for ScoreSettings {
    fn default() -> Self {
        ScoreSettings {
            weights: [40.0, 30.0, 20.0, 10.0],
            p95: 0.3,
            error_ratio: 0.01,
            throughput: None,
            consistency: 2.0,
        }
    }
}

impl ScoreSettings {
    /// The score of a run with these totals.
    pub fn score(&self, latency: Option<Latency>, error_ratio: Option<f64>, rps: f64) -> Score {
        let measured = [
            (
                ScoreSignal::P95,
                latency.map(|l| l.p95),
                Some(self.p95),
                lower as fn(f64, f64) -> f64,
            ),
            (
                ScoreSignal::ErrorRatio,
                error_ratio,
                Some(self.error_ratio),
                lower,
            ),
            (
                ScoreSignal::Throughput,
                latency.map(|_| rps),
                self.throughput,
                |value, target| 100.0 * (value / target).min(1.0),
            ),
            (
                ScoreSignal::Consistency,
                latency.and_then(|l| l.consistency()),
                Some(self.consistency),
                // The ratio's floor is 1: score the tail beyond it.
                |value, target| lower(value - 1.0, target - 1.0),
            ),
        ];
        let mut parts: Vec<ScorePart> = measured
            .into_iter()
            .zip(self.weights)
            .filter(|(_, weight)| *weight > 0.0)
            .filter_map(|((signal, value, target, points), weight)| {
                let (value, target) = (value?, target?);
                Some(ScorePart {
                    signal,
                    value,
                    target,
                    points: points(value, target).clamp(0.0, 100.0),
                    weight,
                })
            })
            .collect();
        let total: f64 = parts.iter().map(|p| p.weight).sum();
        for part in &mut parts {
            part.weight /= total;
        }
        let value = parts
            .iter()
            .map(|p| p.points * p.weight)
            .sum::<f64>()
            .round() as u32;
        Score {
            value,
            band: Band::of(value),
            parts,
        }
    }
}

/// Inclusive upper bounds of the three better grades; anything above `acceptable` is poor.
/// Written in a config file as `{excellent, good, acceptable}` (see `config::load`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Boundaries {
    /// Highest excellent value.
    pub excellent: f64,
    /// Highest good value.
    pub good: f64,
    /// Highest acceptable value.
    pub acceptable: f64,
}

impl Boundaries {
    /// The grade of `value`.
    pub fn grade(&self, value: f64) -> Grade {
        if value <= self.excellent {
            Grade::Excellent
        } else if value <= self.good {
            Grade::Good
        } else if value <= self.acceptable {
            Grade::Acceptable
        } else {
            Grade::Poor
        }
    }
}

/// Where each grade ends, per signal. In a config file latency bounds are durations
/// (`p95: {excellent: 100ms, good: 300ms, acceptable: 1s}`), the others ratios or numbers; an
/// omitted signal keeps its default.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GradeScale {
    /// p95 latency; default 100ms / 300ms / 1s.
    pub p95: Boundaries,
    /// p99 latency; default 250ms / 750ms / 2s.
    pub p99: Boundaries,
    /// Error ratio; default 0.001 / 0.01 / 0.05 (0.1% / 1% / 5%).
    pub error_ratio: Boundaries,
    /// P99/P95; default 1.5 / 2.5 / 4.
    pub consistency: Boundaries,
    /// Highest host CPU ratio; default 0.6 / 0.8 / 0.95.
    pub host_cpu: Boundaries,
    /// How the overall score weighs its signals (`load.score`).
    pub score: ScoreSettings,
}

impl Default for GradeScale {
    fn default() -> Self {
        let bounds = |excellent, good, acceptable| Boundaries {
            excellent,
            good,
            acceptable,
        };
        GradeScale {
            p95: bounds(0.1, 0.3, 1.0),
            p99: bounds(0.25, 0.75, 2.0),
            error_ratio: bounds(0.001, 0.01, 0.05),
            consistency: bounds(1.5, 2.5, 4.0),
            host_cpu: bounds(0.6, 0.8, 0.95),
            score: ScoreSettings::default(),
        }
    }
}

/// Grades a finished run.
pub fn grade(report: &Report, scale: &GradeScale) -> Grades {
    let (requests, failures, latency) = report.total();
    let latency = Latency::of(&latency);
    let host_cpu = report
        .resources
        .iter()
        .filter(|series| series.source == "host")
        .flat_map(|series| series.samples.iter().map(|s| s.cpu_ratio))
        .reduce(f64::max);
    let measured = [
        (Signal::P95, latency.map(|l| l.p95), scale.p95),
        (Signal::P99, latency.map(|l| l.p99), scale.p99),
        (
            Signal::ErrorRatio,
            format::ratio(failures as f64, requests as f64),
            scale.error_ratio,
        ),
        (
            Signal::Consistency,
            latency.and_then(|l| l.consistency()),
            scale.consistency,
        ),
        (Signal::HostCpu, host_cpu, scale.host_cpu),
    ];
    let signals: Vec<SignalGrade> = measured
        .into_iter()
        .filter_map(|(signal, value, bounds)| {
            value.map(|value| SignalGrade {
                signal,
                value,
                grade: bounds.grade(value),
            })
        })
        .collect();
    let error_ratio = format::ratio(failures as f64, requests as f64);
    let rps = format::ratio(requests as f64, report.duration_seconds).unwrap_or(0.0);
    let score = scale.score.score(latency, error_ratio, rps);
    Grades { signals, score }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testing;

    #[test]
    fn boundaries_are_inclusive_upper_bounds() {
        let b = GradeScale::default().error_ratio;
        assert_eq!(b.grade(0.0), Grade::Excellent);
        assert_eq!(b.grade(0.001), Grade::Excellent);
        assert_eq!(b.grade(0.002), Grade::Good);
        assert_eq!(b.grade(0.05), Grade::Acceptable);
        assert_eq!(b.grade(0.051), Grade::Poor);
    }

    #[test]
    fn a_run_is_graded_on_every_signal_with_data() {
        let report = testing::report();
        let grades = grade(&report, &GradeScale::default());
        let names: Vec<Signal> = grades.signals.iter().map(|s| s.signal).collect();
        use Signal::*;
        assert_eq!(names, [P95, P99, ErrorRatio, Consistency, HostCpu]);
        // p95 ≈ 63 ms and p99 ≈ 65 ms are excellent; 33 failures in 600 (5.5%) are poor;
        // a flat tail is excellent; the host peaks at 62.5% CPU: good.
        let by = |s: Signal| grades.signals.iter().find(|g| g.signal == s).unwrap().grade;
        assert_eq!(by(P95), Grade::Excellent);
        assert_eq!(by(ErrorRatio), Grade::Poor);
        assert_eq!(by(HostCpu), Grade::Good);
        // Score: p95 within 300 ms (100), 5.5% errors against 1% (100 × 1/5.5), a flat tail
        // (100), no throughput target; weights 40, 30, 10 renormalised.
        let expected: f64 =
            (40.0 * 100.0 + 30.0 * 100.0 * 0.01 / (33.0 / 600.0) + 10.0 * 100.0) / 80.0;
        assert_eq!(grades.score.value, expected.round() as u32);
        assert_eq!(grades.score.value, 69);
        assert_eq!(grades.score.band, Band::Acceptable);
        assert_eq!(grades.score.parts.len(), 3);
        assert_eq!(grades.score.to_string(), "69/100 (acceptable)");
    }

    #[test]
    fn an_empty_run_has_no_grades_and_scores_zero() {
        let grades = grade(
            &testing::build(&[], vec![], 0, vec![]),
            &GradeScale::default(),
        );
        assert!(grades.signals.is_empty());
        assert_eq!(grades.score.value, 0);
        assert_eq!(grades.score.band, Band::Critical);
        assert!(grades.score.parts.is_empty());
    }

    #[test]
    fn bands_end_where_documented() {
        let bands: Vec<Band> = [100, 90, 89, 75, 74, 50, 49, 25, 24, 0]
            .into_iter()
            .map(Band::of)
            .collect();
        use Band::*;
        assert_eq!(
            bands,
            [
                Excellent, Excellent, Good, Good, Acceptable, Acceptable, Poor, Poor, Critical,
                Critical
            ]
        );
    }

    #[test]
    fn each_score_signal_meets_its_target_at_100_and_falls_off_beyond() {
        let settings = ScoreSettings {
            weights: [1.0, 0.0, 1.0, 0.0],
            throughput: Some(200.0),
            ..ScoreSettings::default()
        };
        let latency = |p95: f64, p99: f64| Latency {
            min: 0.0,
            mean: p95,
            p50: p95,
            p95,
            p99,
            max: p99,
            stdev: 0.0,
        };
        // p95 exactly at the 300 ms target and 200 req/s exactly at the throughput target.
        let at = settings.score(Some(latency(0.3, 0.3)), Some(0.5), 200.0);
        assert_eq!(at.value, 100, "weight 0 leaves the error ratio out: {at:?}");
        // Twice the p95 target scores 50; half the throughput target scores 50.
        let worse = settings.score(Some(latency(0.6, 0.6)), Some(0.0), 100.0);
        assert_eq!(worse.parts[0].points, 50.0);
        assert_eq!(worse.parts[1].points, 50.0);
        assert_eq!(worse.value, 50);
        // Consistency: P99/P95 of 3 against a target of 2 scores (2-1)/(3-1).
        let tail = ScoreSettings::default().score(Some(latency(0.1, 0.3)), Some(0.0), 1.0);
        let consistency = tail
            .parts
            .iter()
            .find(|p| p.signal == ScoreSignal::Consistency);
        let points = consistency.map_or(0.0, |p| p.points);
        assert!((points - 50.0).abs() < 1e-9, "{points}");
    }
}
