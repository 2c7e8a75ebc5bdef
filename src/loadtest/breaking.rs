//! The breaking-point search (`--profile=stress` or `--find-breaking-point[=rate]`, and
//! `--find-breaking-point=users`): raise the arrival rate (open model) or the virtual users
//! (closed model) step by step until the service breaks, and report the highest level that
//! held, in that unit, the first signal that broke and the whole level → latency and errors
//! curve.
//!
//! Each step runs its model at one level and is judged on its own requests only: the user's
//! thresholds (through the [`Judge`]), and limits that hold whatever thresholds are set: the
//! step's error ratio and, in the open model, whether the load could be generated at all (an
//! achieved rate far below the scheduled one, or arrivals dropped at the in-flight cap, means
//! the service stopped keeping up; users, which wait for their answers, cannot fall behind).
//! The search stops at the first broken step.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::executor::{self, Exercise, RunEnd};
use super::profile::Profile;
use crate::report::model::{
    BreakingPoint, BreakingStep, LatencyHistogram, LoadModel, ScenarioStats,
};

/// Judges one step: `None` when every threshold held, else what broke (e.g. `p95 < 200ms`).
pub type Judge<'a> = dyn Fn(&[ScenarioStats], Duration) -> Option<String> + Sync + 'a;

/// Limits that break a step whatever the thresholds say.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// A step whose failed share exceeds this is broken (default 5%).
    pub max_error_ratio: f64,
    /// A step whose finished requests fall below this share of the scheduled rate is broken
    /// (default 90%).
    pub min_achieved_share: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_error_ratio: 0.05,
            min_achieved_share: 0.9,
        }
    }
}

/// Runs `profile`'s stages as steps of its model until one breaks or `stop` is cancelled.
pub async fn search<W: Exercise>(
    profile: &Profile,
    work: Arc<W>,
    stop: CancellationToken,
    max_in_flight: usize,
    grace: Duration,
    limits: &Limits,
    judge: &Judge<'_>,
) -> (RunEnd, BreakingPoint) {
    let mut total = RunEnd {
        interrupted: false,
        dropped: 0,
        elapsed: Duration::ZERO,
        iterations: None,
    };
    let mut found = BreakingPoint {
        model: profile.model,
        highest_passing_rate: None,
        breaking_rate: None,
        first_broken: None,
        steps: Vec::new(),
    };
    work.recorder().take_step();
    for stage in &profile.stages {
        let mut step = Profile::constant(profile.model, stage.target, stage.duration);
        step.think_time = profile.think_time;
        step.spawn_rate = profile.spawn_rate;
        let end = match profile.model {
            LoadModel::Closed => {
                executor::closed(&step, Arc::clone(&work), stop.clone(), grace).await
            }
            LoadModel::Open => {
                executor::open(&step, Arc::clone(&work), stop.clone(), max_in_flight, grace).await
            }
        };
        total.elapsed += end.elapsed;
        total.dropped += end.dropped;
        let stats = work.recorder().take_step();
        if end.interrupted {
            total.interrupted = true;
            break;
        }
        // A step cut short by the end of the test data is not judged: it did not run its length.
        if work.out_of_data() {
            break;
        }
        let (point, broken) = judge_step(&step, &stats, end, limits, judge);
        found.steps.push(point);
        match broken {
            None => found.highest_passing_rate = Some(stage.target),
            Some(what) => {
                tracing::info!(level = stage.target, broke = %what, "breaking point found");
                found.breaking_rate = Some(stage.target);
                found.first_broken = Some(what);
                break;
            }
        }
    }
    (total, found)
}

/// The curve point of one step (a constant level) and, when it broke, what broke first.
fn judge_step(
    step: &Profile,
    stats: &[ScenarioStats],
    end: RunEnd,
    limits: &Limits,
    judge: &Judge<'_>,
) -> (BreakingStep, Option<String>) {
    let seconds = end.elapsed.as_secs_f64().max(f64::EPSILON);
    let mut latency = LatencyHistogram::new();
    let (mut requests, mut failures) = (0u64, 0u64);
    for s in stats {
        latency.merge(&s.latency);
        requests += s.requests;
        failures += s.failures;
    }
    let achieved = requests as f64 / seconds;
    let error_ratio = (requests > 0).then(|| failures as f64 / requests as f64);
    let level = step.level_at(Duration::ZERO);
    // Only arrivals can fall behind their schedule.
    let rate = match step.model {
        LoadModel::Open => level,
        LoadModel::Closed => 0.0,
    };
    let scheduled = rate * seconds;
    let broken = judge(stats, end.elapsed)
        .or_else(|| {
            error_ratio
                .filter(|r| *r > limits.max_error_ratio)
                .map(|r| {
                    format!(
                        "error ratio {:.2}% above the {:.2}% limit",
                        r * 100.0,
                        limits.max_error_ratio * 100.0
                    )
                })
        })
        .or_else(|| {
            let dropped = end.dropped as f64 > scheduled * (1.0 - limits.min_achieved_share);
            (end.dropped > 0 && dropped).then(|| {
                format!(
                    "{} arrivals dropped: the in-flight cap was full",
                    end.dropped
                )
            })
        })
        .or_else(|| {
            (achieved < rate * limits.min_achieved_share)
                .then(|| format!("achieved {achieved:.1}/s of the scheduled {rate:.1}/s"))
        });
    let point = BreakingStep {
        target_rate: level,
        achieved_rate: achieved,
        p95_seconds: latency.quantile(0.95).map(|d| d.as_secs_f64()),
        error_ratio,
        passed: broken.is_none(),
    };
    (point, broken)
}
