//! Per-target and per-scenario state: pre-built label handles (so recording never formats a
//! label) and the mutable window and status data behind one mutex per scenario.

use std::collections::VecDeque;
use std::sync::atomic::AtomicBool;
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use prometheus::proto::LabelPair;
use prometheus::{Histogram, IntCounter, IntGauge};
use tokio::time::Instant;

use super::families::{Families, LazyTargetSeries};
use super::status::{FailureRecord, LastResult};
use super::{PHASES, SkipReason, WINDOW_SLOTS};
use crate::outcome::{CacheResult, FailureReason, Outcome};
use crate::scenario::{Config, Target};
use crate::window::Window;

/// Failures kept per target for the status page.
pub(super) const RECENT_FAILURES: usize = 20;

/// One target's handles and shared state.
pub(super) struct TargetSlot {
    pub(super) name: String,
    /// Scheme, host and port of the base URL; never user info, path or query (may hold secrets).
    pub(super) origin: String,
    pub(super) rate: f64,
    pub(super) scenarios: Vec<ScenarioSlot>,
    pub(super) skipped: [IntCounter; 2],
    pub(super) in_flight: IntGauge,
    pub(super) lazy: LazyTargetSeries,
    /// Newest last.
    pub(super) failures: Mutex<VecDeque<FailureRecord>>,
    pub(super) has_result: AtomicBool,
    /// `target="…"` for the scrape-time cache hit ratio gauge.
    pub(super) label: LabelPair,
}

/// One scenario's handles and shared state.
pub(super) struct ScenarioSlot {
    pub(super) name: String,
    /// This scenario's share of the target rate, by weight.
    pub(super) rate: f64,
    pub(super) duration: Histogram,
    /// Indexed like [`FailureReason::ALL`].
    pub(super) failures: [IntCounter; 8],
    /// Indexed hit, miss, unknown.
    pub(super) cache: [IntCounter; 3],
    /// Indexed like [`PHASES`]; created at first use so reused connections add no empty
    /// dns/connect histograms.
    pub(super) phases: [OnceLock<Histogram>; 4],
    /// `scenario="…", target="…"` (sorted by name, as the prometheus crate orders its own) for
    /// the scrape-time summary.
    pub(super) labels: Vec<LabelPair>,
    pub(super) state: Mutex<ScenarioState>,
}

/// What changes on every record of one scenario.
pub(super) struct ScenarioState {
    pub(super) window: Window,
    /// Cumulative since start, like the Go client's summary `_sum` and `_count`.
    pub(super) sum_seconds: f64,
    pub(super) count: u64,
    /// `synthex_requests_total` handles by status code, created as codes appear.
    pub(super) codes: Vec<(u16, IntCounter)>,
    pub(super) last: Option<LastResult>,
}

/// Locks a mutex even if a panicking thread poisoned it: the data are counters and samples,
/// still meaningful, and metrics must keep flowing.
pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn label(name: &str, value: &str) -> LabelPair {
    let mut pair = LabelPair::default();
    pair.set_name(name.to_string());
    pair.set_value(value.to_string());
    pair
}

/// Builds every target's handles, pre-creating the series that must start at zero.
pub(super) fn build(
    config: &Config,
    families: &Families,
    window: Duration,
    now: Instant,
) -> Vec<TargetSlot> {
    config
        .targets
        .iter()
        .map(|target| build_target(target, families, window, now))
        .collect()
}

fn build_target(
    target: &Target,
    families: &Families,
    window: Duration,
    now: Instant,
) -> TargetSlot {
    let name = target.name.as_str();
    let total_weight: f64 = target.scenarios.iter().map(|s| f64::from(s.weight)).sum();
    let scenarios = target
        .scenarios
        .iter()
        .map(|scenario| {
            let share = f64::from(scenario.weight) / total_weight.max(1.0);
            let s = scenario.name.as_str();
            ScenarioSlot {
                name: scenario.name.clone(),
                rate: target.rate.per_second * share,
                duration: families.duration.with_label_values(&[name, s]),
                failures: FailureReason::ALL
                    .map(|r| families.failures.with_label_values(&[name, s, r.as_str()])),
                cache: [CacheResult::Hit, CacheResult::Miss, CacheResult::Unknown]
                    .map(|c| families.cache.with_label_values(&[name, s, c.as_str()])),
                phases: Default::default(),
                labels: vec![label("scenario", s), label("target", name)],
                state: Mutex::new(ScenarioState {
                    window: Window::new(window, WINDOW_SLOTS, now),
                    sum_seconds: 0.0,
                    count: 0,
                    codes: Vec::new(),
                    last: None,
                }),
            }
        })
        .collect();
    TargetSlot {
        name: target.name.clone(),
        origin: target.base_url.origin().ascii_serialization(),
        rate: target.rate.per_second,
        scenarios,
        skipped: [SkipReason::InFlightCap, SkipReason::Late]
            .map(|r| families.skipped.with_label_values(&[name, r.as_str()])),
        in_flight: families.in_flight.with_label_values(&[name]),
        lazy: LazyTargetSeries::default(),
        failures: Mutex::new(VecDeque::with_capacity(RECENT_FAILURES)),
        has_result: AtomicBool::new(false),
        label: label("target", name),
    }
}

impl ScenarioSlot {
    /// Updates this scenario's counters, histograms, window and last result.
    pub(super) fn record(
        &self,
        target: &str,
        families: &Families,
        outcome: &Outcome,
        now: Instant,
    ) {
        let seconds = outcome.latency.as_secs_f64();
        self.duration.observe(seconds);
        for (phase, took) in outcome.phases.iter() {
            if let Some(index) = PHASES.iter().position(|p| *p == phase) {
                self.phases[index]
                    .get_or_init(|| {
                        families
                            .phase
                            .with_label_values(&[target, &self.name, phase])
                    })
                    .observe(took.as_secs_f64());
            }
        }
        if let Some(failure) = &outcome.failure {
            if let Some(i) = FailureReason::ALL.iter().position(|r| *r == failure.reason) {
                self.failures[i].inc();
            }
        }
        let cache_index = match outcome.cache {
            CacheResult::Hit => 0,
            CacheResult::Miss => 1,
            CacheResult::Unknown => 2,
        };
        self.cache[cache_index].inc();

        let mut state = lock(&self.state);
        state
            .window
            .record(now, outcome.latency, outcome.is_success(), outcome.cache);
        state.sum_seconds += seconds;
        state.count += 1;
        let code = outcome.status.unwrap_or(0);
        match state.codes.iter().find(|(c, _)| *c == code) {
            Some((_, counter)) => counter.inc(),
            None => {
                let counter =
                    families
                        .requests
                        .with_label_values(&[target, &self.name, &code.to_string()]);
                counter.inc();
                state.codes.push((code, counter));
            }
        }
        state.last = Some(LastResult {
            finished_at: outcome.finished_at,
            status: outcome.status,
            failure: outcome.failure.clone(),
            latency: outcome.latency,
        });
    }
}

impl TargetSlot {
    /// Keeps the failure for the status page, dropping the oldest beyond [`RECENT_FAILURES`].
    pub(super) fn remember_failure(&self, scenario: usize, outcome: &Outcome) {
        let Some(failure) = &outcome.failure else {
            return;
        };
        let mut ring = lock(&self.failures);
        if ring.len() == RECENT_FAILURES {
            ring.pop_front();
        }
        ring.push_back(FailureRecord {
            at: outcome.finished_at,
            scenario: self
                .scenarios
                .get(scenario)
                .map(|s| s.name.clone())
                .unwrap_or_default(),
            reason: failure.reason,
            message: failure.message.clone(),
        });
    }
}
