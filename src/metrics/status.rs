//! A point-in-time copy of what the status page shows, taken under the metrics' locks and then
//! rendered without them, so a slow page never holds up recording.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::config_status::ConfigHistory;
use super::history::DatedPoint;
use super::state::{TargetSlot, lock};
use crate::outcome::{Failure, FailureReason};
use crate::scenario::Objectives;
use crate::trace_context::TraceId;
use crate::window::{Counts, Merged};

/// Quantiles shown on the status page, whatever the exported summary uses.
pub const STATUS_QUANTILES: [f64; 3] = [0.5, 0.95, 0.99];

/// The most recent result of one scenario.
#[derive(Debug, Clone)]
pub struct LastResult {
    /// When the request finished (wall clock).
    pub finished_at: SystemTime,
    /// HTTP status, when a response head arrived.
    pub status: Option<u16>,
    /// Why it failed; `None` on success.
    pub failure: Option<Failure>,
    /// Latency from the scheduled start.
    pub latency: Duration,
}

/// One remembered failure of a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureRecord {
    /// When the request finished (wall clock).
    pub at: SystemTime,
    /// Scenario name.
    pub scenario: String,
    /// Failure class.
    pub reason: FailureReason,
    /// What happened, as the probe described it.
    pub message: String,
    /// The trace id of the request's `traceparent`, to find the service's trace of it.
    pub trace_id: Option<TraceId>,
}

/// Everything the status page shows.
#[derive(Debug, Clone)]
pub struct StatusSnapshot {
    /// The config file the daemon runs.
    pub source: PathBuf,
    /// When it was loaded, and the last refused reload.
    pub config: ConfigHistory,
    /// Length of the sliding window of quantiles and ratios.
    pub window: Duration,
    /// Targets in config order.
    pub targets: Vec<TargetStatus>,
}

/// Status of one target.
#[derive(Debug, Clone)]
pub struct TargetStatus {
    /// Target name.
    pub name: String,
    /// Scheme, host and port of the base URL (no credentials, path or query).
    pub origin: String,
    /// Configured requests per second over all scenarios.
    pub rate_per_second: f64,
    /// Requests per second the target's guard allows now (less while backing off, 0 while held
    /// by Retry-After or paused).
    pub effective_rate_per_second: f64,
    /// Whether an operator has paused the target.
    pub paused: bool,
    /// Whether any request of this target has finished yet.
    pub has_result: bool,
    /// Window counts summed over the scenarios.
    pub counts: Counts,
    /// Window latencies at [`STATUS_QUANTILES`] over all the scenarios' requests together.
    pub quantiles: [Option<Duration>; 3],
    /// The target's objectives from the config.
    pub objectives: Objectives,
    /// Scenarios in config order.
    pub scenarios: Vec<ScenarioStatus>,
    /// The last failures, newest first.
    pub recent_failures: Vec<FailureRecord>,
    /// The latest failure of each reason that occurred since start, in reason order.
    pub last_failure_by_reason: Vec<FailureRecord>,
}

/// Status of one scenario.
#[derive(Debug, Clone)]
pub struct ScenarioStatus {
    /// Scenario name.
    pub name: String,
    /// This scenario's share of the target rate, by weight.
    pub rate_per_second: f64,
    /// The most recent result, if any.
    pub last: Option<LastResult>,
    /// Window latencies at [`STATUS_QUANTILES`]; `None` with an empty window.
    pub quantiles: [Option<Duration>; 3],
    /// Window request, failure and cache counts.
    pub counts: Counts,
    /// The last hour in one-minute points, oldest first, the minute in progress last.
    pub history: Vec<DatedPoint>,
}

/// Copies the status of every target as of `now`.
pub(super) fn snapshot(
    targets: &[std::sync::Arc<TargetSlot>],
    source: PathBuf,
    config: ConfigHistory,
    window: Duration,
    now: Instant,
) -> StatusSnapshot {
    let targets = targets
        .iter()
        .map(|target| {
            let mut merged = Merged::default();
            let scenarios: Vec<ScenarioStatus> = target
                .scenarios
                .iter()
                .map(|scenario| {
                    let mut state = lock(&scenario.state);
                    let q = state.window.quantiles(now, &STATUS_QUANTILES);
                    state.window.add_to(now, &mut merged);
                    ScenarioStatus {
                        name: scenario.display(),
                        rate_per_second: scenario.rate,
                        last: state.last.clone(),
                        quantiles: [q[0], q[1], q[2]],
                        counts: state.window.counts(now),
                        history: state.history.points(now),
                    }
                })
                .collect();
            let mut counts = Counts::default();
            scenarios.iter().for_each(|s| counts.add(&s.counts));
            let q = merged.quantiles(&STATUS_QUANTILES);
            let book = lock(&target.failures);
            TargetStatus {
                name: target.name.clone(),
                origin: target.origin.clone(),
                quantiles: [q[0], q[1], q[2]],
                objectives: target.objectives.clone(),
                rate_per_second: target.rate,
                effective_rate_per_second: target.guard.effective_rate.get(),
                paused: target.guard.paused.get() == 1,
                has_result: target.has_result.load(Ordering::Relaxed),
                counts,
                scenarios,
                recent_failures: book.recent.iter().rev().cloned().collect(),
                last_failure_by_reason: book.last_by_reason.iter().flatten().cloned().collect(),
            }
        })
        .collect();
    StatusSnapshot {
        source,
        config,
        window,
        targets,
    }
}
