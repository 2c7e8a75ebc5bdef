//! Grades: each signal of a run (p95 and p99 latency, error ratio, P99/P95 consistency, host CPU
//! headroom) rated excellent / good / acceptable / poor against a configurable [`GradeScale`],
//! and an overall score 0–100.
//!
//! Every signal is "lower is better", so a scale is three inclusive upper bounds. The score is
//! the mean of the graded signals' points (excellent 100, good 75, acceptable 50, poor 0);
//! a signal without data (no requests, no host samples) is left out rather than guessed.

use std::fmt;

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

impl Grade {
    /// Points towards the overall score.
    pub fn points(self) -> u32 {
        match self {
            Grade::Excellent => 100,
            Grade::Good => 75,
            Grade::Acceptable => 50,
            Grade::Poor => 0,
        }
    }
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
    /// Mean points of the graded signals, 0–100 (0 when nothing could be graded).
    pub score: u32,
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
    let points: u32 = signals.iter().map(|s| s.grade.points()).sum();
    let score = u32::try_from(signals.len())
        .ok()
        .filter(|n| *n > 0)
        .map_or(0, |n| (f64::from(points) / f64::from(n)).round() as u32);
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
        // excellent, excellent, poor, excellent, good: (100 + 100 + 0 + 100 + 75) / 5.
        assert_eq!(grades.score, 75);
    }

    #[test]
    fn an_empty_run_has_no_grades_and_scores_zero() {
        let grades = grade(
            &testing::build(&[], vec![], 0, vec![]),
            &GradeScale::default(),
        );
        assert_eq!(
            grades,
            Grades {
                signals: vec![],
                score: 0
            }
        );
    }
}
