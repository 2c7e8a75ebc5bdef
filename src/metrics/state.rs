//! Per-target and per-scenario state: label sets built once per config (so recording never
//! formats a label) and each scenario's counters, histograms, window and last result behind one
//! mutex, so a record is one short uncontended lock and a scrape reads a consistent scenario.
//!
//! A reload builds new slots from the new config but moves the state that must survive into
//! them: a scenario's state when its definition is unchanged (same key), a target's counters,
//! gauges and failure list when its name is kept.

use std::collections::VecDeque;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use prometheus::{IntCounter, IntGauge};
use tokio::time::Instant;

use super::collector::CACHE_RESULTS;
use super::exemplar::Exemplar;
use super::families::{Families, GuardGauges, LazyTargetSeries};
use super::history::History;
use super::native::NativeHistogram;
use super::series::{Bounds, HistogramData, Labels};
use super::status::{FailureRecord, LastResult};
use super::{PHASES, SkipReason, WINDOW_SLOTS};
use crate::definition::scenario_key;
use crate::outcome::{FailureReason, Outcome};
use crate::scenario::{Config, Global, Objectives, Target};
use crate::window::Window;

/// Failures kept per target for the status page.
pub(super) const RECENT_FAILURES: usize = 20;

/// One target's handles and shared state.
pub(super) struct TargetSlot {
    pub(super) name: String,
    /// Scheme, host and port of the base URL; never user info, path or query (may hold secrets).
    pub(super) origin: String,
    pub(super) rate: f64,
    /// The target's objectives, drawn on the status page's charts and colouring its badges.
    pub(super) objectives: Objectives,
    /// One row per single-request scenario and one per flow step, in config order.
    pub(super) scenarios: Vec<ScenarioSlot>,
    /// Per scenario of the config: the index of its first row in `scenarios`.
    pub(super) first_row: Vec<usize>,
    /// One per flow scenario: the whole runs' series.
    pub(super) flows: Vec<FlowSlot>,
    /// Indexed like [`SkipReason::ALL`].
    pub(super) skipped: [IntCounter; 4],
    /// Effective rate and pause state, kept current by the target's guard.
    pub(super) guard: GuardGauges,
    pub(super) in_flight: IntGauge,
    pub(super) lazy: Arc<LazyTargetSeries>,
    pub(super) failures: Arc<Mutex<FailureBook>>,
    pub(super) has_result: Arc<AtomicBool>,
    /// `target="…"`.
    pub(super) labels: Labels,
}

/// One row's labels and state: a single-request scenario, or one step of a flow.
pub(super) struct ScenarioSlot {
    pub(super) name: String,
    /// The step, for a row of a flow.
    pub(super) step: Option<String>,
    /// [`scenario_key`] of the definition the state was recorded under.
    pub(super) key: u64,
    /// This scenario's share of the target rate, by weight.
    pub(super) rate: f64,
    /// `scenario="…",[step="…",]target="…"` (sorted by name, as the prometheus crate orders
    /// labels).
    pub(super) labels: Labels,
    pub(super) state: Arc<Mutex<ScenarioState>>,
}

impl ScenarioSlot {
    /// The row's name on the status page and in logs: `scenario` or `flow/step`.
    pub(super) fn display(&self) -> String {
        match &self.step {
            Some(step) => format!("{}/{step}", self.name),
            None => self.name.clone(),
        }
    }
}

/// One flow scenario's whole-run series.
pub(super) struct FlowSlot {
    /// Index of the flow in its target's scenarios.
    pub(super) scenario: usize,
    pub(super) name: String,
    /// [`scenario_key`] of the flow's definition.
    pub(super) key: u64,
    /// `scenario="…",target="…"`.
    pub(super) labels: Labels,
    pub(super) state: Arc<Mutex<FlowState>>,
}

/// What one flow's runs add up to.
pub(super) struct FlowState {
    /// Whole-run durations.
    pub(super) duration: HistogramData,
    /// Runs that succeeded, then runs that failed (indexed like [`FLOW_RESULTS`]).
    pub(super) runs: [u64; 2],
}

/// Values of the `result` label of `synthex_flow_runs_total`.
pub(super) const FLOW_RESULTS: [&str; 2] = ["success", "failure"];

/// Requests of one status code.
pub(super) struct CodeCount {
    pub(super) code: u16,
    /// The `code` label value, formatted once when the code first appears.
    pub(super) label: String,
    pub(super) count: u64,
}

/// What changes on every record of one scenario.
pub(super) struct ScenarioState {
    pub(super) window: Window,
    /// The last hour in one-minute points.
    pub(super) history: History,
    /// Since start; its sum and count are also the summary's `_sum` and `_count`.
    pub(super) duration: HistogramData,
    /// The latest request with a trace id in each bucket of `duration` (indexed alike).
    pub(super) exemplars: Vec<Option<Exemplar>>,
    /// The native form of `duration`; `None` with `native_histogram: off`.
    pub(super) native: Option<NativeHistogram>,
    /// Indexed like [`PHASES`]; `None` until the phase is first seen, so reused connections
    /// export no empty dns/connect histograms.
    pub(super) phases: [Option<HistogramData>; 4],
    pub(super) codes: Vec<CodeCount>,
    /// Indexed like [`FailureReason::ALL`].
    pub(super) failures: [u64; FailureReason::ALL.len()],
    /// Indexed like [`CACHE_RESULTS`].
    pub(super) cache: [u64; 3],
    /// Runs of the flow in which this step did not run because an earlier one failed.
    pub(super) not_run: u64,
    pub(super) last: Option<LastResult>,
}

/// Locks a mutex even if a panicking thread poisoned it: the data are counters and samples,
/// still meaningful, and metrics must keep flowing.
pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Builds every target's state. A target named in `previous` keeps its counters, gauges and
/// failures, and each of its scenarios whose key is unchanged keeps its state; everything else
/// starts at zero.
pub(super) fn build(
    config: &Config,
    previous: &[Arc<TargetSlot>],
    families: &Families,
    bounds: &Bounds,
    now: Instant,
) -> Vec<Arc<TargetSlot>> {
    config
        .targets
        .iter()
        .map(|target| {
            let before = previous.iter().find(|slot| slot.name == target.name);
            Arc::new(build_target(
                &config.global,
                target,
                before.map(|slot| &**slot),
                families,
                bounds,
                now,
            ))
        })
        .collect()
}

fn build_target(
    global: &Global,
    target: &Target,
    before: Option<&TargetSlot>,
    families: &Families,
    bounds: &Bounds,
    now: Instant,
) -> TargetSlot {
    let name = target.name.as_str();
    let total_weight: f64 = target.scenarios.iter().map(|s| f64::from(s.weight)).sum();
    let new_state = || Arc::new(Mutex::new(ScenarioState::new(bounds, global, now)));
    let mut scenarios = Vec::new();
    let mut first_row = Vec::with_capacity(target.scenarios.len());
    let mut flows = Vec::new();
    for (index, scenario) in target.scenarios.iter().enumerate() {
        let key = scenario_key(global, target, scenario);
        let rate = target.rate.per_second * f64::from(scenario.weight) / total_weight.max(1.0);
        first_row.push(scenarios.len());
        for (step, _) in scenario.rows() {
            let kept = before.and_then(|t| {
                t.scenarios
                    .iter()
                    .find(|s| s.name == scenario.name && s.step.as_deref() == step && s.key == key)
            });
            let labels = match step {
                Some(step) => Labels::new(&[
                    ("scenario", &scenario.name),
                    ("step", step),
                    ("target", name),
                ]),
                None => Labels::new(&[("scenario", &scenario.name), ("target", name)]),
            };
            scenarios.push(ScenarioSlot {
                name: scenario.name.clone(),
                step: step.map(str::to_string),
                key,
                rate,
                labels,
                state: kept.map_or_else(new_state, |s| Arc::clone(&s.state)),
            });
        }
        if scenario.flow().is_some() {
            let kept = before.and_then(|t| {
                t.flows
                    .iter()
                    .find(|f| f.name == scenario.name && f.key == key)
            });
            flows.push(FlowSlot {
                scenario: index,
                name: scenario.name.clone(),
                key,
                labels: Labels::new(&[("scenario", &scenario.name), ("target", name)]),
                state: kept.map_or_else(
                    || {
                        Arc::new(Mutex::new(FlowState {
                            duration: HistogramData::new(bounds),
                            runs: [0; 2],
                        }))
                    },
                    |f| Arc::clone(&f.state),
                ),
            });
        }
    }
    TargetSlot {
        name: target.name.clone(),
        origin: target.base_url.origin().ascii_serialization(),
        rate: target.rate.per_second,
        objectives: target.objectives.clone(),
        scenarios,
        first_row,
        flows,
        skipped: before.map_or_else(
            || SkipReason::ALL.map(|r| families.skipped.with_label_values(&[name, r.as_str()])),
            |t| t.skipped.clone(),
        ),
        guard: before.map_or_else(
            || families.guard_gauges(name, target.rate.per_second),
            |t| t.guard.clone(),
        ),
        in_flight: before.map_or_else(
            || families.in_flight.with_label_values(&[name]),
            |t| t.in_flight.clone(),
        ),
        lazy: before.map_or_else(Default::default, |t| Arc::clone(&t.lazy)),
        failures: before.map_or_else(Default::default, |t| Arc::clone(&t.failures)),
        has_result: before.map_or_else(Default::default, |t| Arc::clone(&t.has_result)),
        labels: Labels::new(&[("target", name)]),
    }
}

/// Removes the registry series of a target that a reload dropped; its per-scenario families go
/// with its slot.
pub(super) fn remove_series(families: &Families, name: &str) {
    for reason in SkipReason::ALL {
        let _ = families
            .skipped
            .remove_label_values(&[name, reason.as_str()]);
    }
    let _ = families.effective_rate.remove_label_values(&[name]);
    let _ = families.paused.remove_label_values(&[name]);
    let _ = families.in_flight.remove_label_values(&[name]);
    let _ = families.target_up.remove_label_values(&[name]);
    let _ = families.cert_expiry.remove_label_values(&[name]);
}

impl ScenarioState {
    fn new(bounds: &Bounds, global: &Global, now: Instant) -> ScenarioState {
        ScenarioState {
            window: Window::new(global.quantile_window, WINDOW_SLOTS, now),
            history: History::new(now, SystemTime::now()),
            duration: HistogramData::new(bounds),
            exemplars: vec![None; bounds.upper.len() + 1],
            native: global.native_histogram.as_ref().map(NativeHistogram::new),
            phases: Default::default(),
            codes: Vec::new(),
            failures: [0; FailureReason::ALL.len()],
            cache: [0; 3],
            not_run: 0,
            last: None,
        }
    }

    /// Adds one outcome to every per-scenario series, the window and the last result.
    pub(super) fn record(&mut self, bounds: &Bounds, outcome: &Outcome, now: Instant) {
        let seconds = outcome.latency.as_secs_f64();
        let bucket = self.duration.observe(bounds, seconds);
        if let Some(native) = &mut self.native {
            native.observe(seconds);
        }
        if let (Some(trace_id), Some(slot)) = (outcome.trace_id, self.exemplars.get_mut(bucket)) {
            *slot = Some(Exemplar {
                trace_id,
                value: seconds,
                at: outcome.finished_at,
            });
        }
        for (phase, took) in outcome.phases.iter() {
            if let Some(index) = PHASES.iter().position(|p| *p == phase) {
                self.phases[index]
                    .get_or_insert_with(|| HistogramData::new(bounds))
                    .observe(bounds, took.as_secs_f64());
            }
        }
        if let Some(failure) = &outcome.failure
            && let Some(i) = FailureReason::ALL.iter().position(|r| *r == failure.reason)
        {
            self.failures[i] += 1;
        }
        if let Some(i) = CACHE_RESULTS.iter().position(|c| *c == outcome.cache) {
            self.cache[i] += 1;
        }
        let code = outcome.code();
        // Kept sorted by code, so the exposition is stable from scrape to scrape.
        let index = self.codes.partition_point(|c| c.code < code);
        match self.codes.get_mut(index) {
            Some(entry) if entry.code == code => entry.count += 1,
            _ => self.codes.insert(
                index,
                CodeCount {
                    code,
                    label: crate::outcome::code_label(code),
                    count: 1,
                },
            ),
        }
        self.window
            .record(now, outcome.latency, outcome.is_success(), outcome.cache);
        self.history
            .record(now, outcome.latency, outcome.is_success());
        self.last = Some(LastResult {
            finished_at: outcome.finished_at,
            status: outcome.status,
            failure: outcome.failure.clone(),
            latency: outcome.latency,
        });
    }
}

impl TargetSlot {
    /// Keeps the failure for the status page.
    pub(super) fn remember_failure(&self, scenario: &str, outcome: &Outcome) {
        let Some(failure) = &outcome.failure else {
            return;
        };
        lock(&self.failures).add(FailureRecord {
            at: outcome.finished_at,
            scenario: scenario.to_string(),
            reason: failure.reason,
            message: failure.message.clone(),
            trace_id: outcome.trace_id,
        });
    }
}

/// A target's failures for the status page: the latest few, and the latest of each reason (a
/// rare reason stays visible when a flood of another one has pushed it out of the list).
#[derive(Default)]
pub(super) struct FailureBook {
    /// Newest last, at most [`RECENT_FAILURES`].
    pub(super) recent: VecDeque<FailureRecord>,
    /// Indexed like [`FailureReason::ALL`].
    pub(super) last_by_reason: [Option<FailureRecord>; FailureReason::ALL.len()],
}

impl FailureBook {
    fn add(&mut self, record: FailureRecord) {
        if let Some(i) = FailureReason::ALL.iter().position(|r| *r == record.reason) {
            self.last_by_reason[i] = Some(record.clone());
        }
        if self.recent.len() == RECENT_FAILURES {
            self.recent.pop_front();
        }
        self.recent.push_back(record);
    }
}

/// The current targets, replaced as a whole by a reload; readers take a cheap copy of the list.
#[derive(Default)]
pub(super) struct SharedSlots(std::sync::RwLock<Arc<[Arc<TargetSlot>]>>);

impl SharedSlots {
    pub(super) fn new(slots: Vec<Arc<TargetSlot>>) -> SharedSlots {
        SharedSlots(std::sync::RwLock::new(slots.into()))
    }

    /// The list as of now.
    pub(super) fn get(&self) -> Arc<[Arc<TargetSlot>]> {
        Arc::clone(&self.0.read().unwrap_or_else(PoisonError::into_inner))
    }

    pub(super) fn set(&self, slots: Vec<Arc<TargetSlot>>) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = slots.into();
    }
}
