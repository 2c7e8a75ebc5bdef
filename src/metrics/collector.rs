//! The per-scenario families, read from the scenarios' state at scrape time:
//! request duration and phase histograms, the windowed latency summary (the prometheus crate
//! has no Summary type), request/failure/cache counters and the windowed cache hit ratio.
//!
//! [`RequestCollector`] is registered in the registry, so `Registry::gather` sees these families
//! like any other. [`super::Metrics::encode`] instead writes them straight to text and asks the
//! collector to stay silent during its own gather ([`without_request_families`]), which is what
//! keeps a 100-scenario scrape within a few milliseconds.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::Arc;

use prometheus::core::{Collector, Desc};
use prometheus::proto::{MetricFamily, MetricType};
use tokio::time::Instant;

use super::PHASES;
use super::series::Bounds;
use super::sink::{Extras, Family, ProtoSink, Sink};
use super::state::{FLOW_RESULTS, SharedSlots, TargetSlot, lock};
use crate::outcome::{CacheResult, FailureReason};
use crate::window::Counts;

pub(super) const DURATION: Family = Family {
    name: "synthex_request_duration_seconds",
    help: "Latency of synthetic requests from their scheduled start to the end of the body.",
    kind: MetricType::HISTOGRAM,
};
const LATENCY: Family = Family {
    name: "synthex_request_latency_seconds",
    help: "Latency of synthetic requests from their scheduled start: quantiles over the sliding \
           window, _sum and _count since start.",
    kind: MetricType::SUMMARY,
};
const PHASE: Family = Family {
    name: "synthex_request_phase_duration_seconds",
    help: "Duration of each request phase (dns, connect incl. TLS, first_byte, transfer); dns \
           and connect only on new connections.",
    kind: MetricType::HISTOGRAM,
};
const REQUESTS: Family = Family {
    name: "synthex_requests_total",
    help: "Synthetic requests finished, by HTTP status code (0 when no response arrived).",
    kind: MetricType::COUNTER,
};
const FAILURES: Family = Family {
    name: "synthex_request_failures_total",
    help: "Synthetic requests that failed, by failure reason.",
    kind: MetricType::COUNTER,
};
const CACHE: Family = Family {
    name: "synthex_cache_requests_total",
    help: "Synthetic responses by cache classification (hit, miss, unknown).",
    kind: MetricType::COUNTER,
};
const CACHE_RATIO: Family = Family {
    name: "synthex_cache_hit_ratio",
    help: "Cache hits / (hits + misses) of the target over the sliding window; absent while no \
           response was classified.",
    kind: MetricType::GAUGE,
};

const FLOW_DURATION: Family = Family {
    name: "synthex_flow_duration_seconds",
    help: "Duration of whole runs of a flow scenario, from the run's scheduled start to the end \
           of its last step that ran (failed runs included).",
    kind: MetricType::HISTOGRAM,
};
const FLOW_RUNS: Family = Family {
    name: "synthex_flow_runs_total",
    help: "Runs of a flow scenario, by result: success (every step passed) or failure (a step \
           failed and ended the run).",
    kind: MetricType::COUNTER,
};
const STEPS_NOT_RUN: Family = Family {
    name: "synthex_flow_steps_not_run_total",
    help: "Flow steps that did not run because an earlier step of the run failed.",
    kind: MetricType::COUNTER,
};

/// Values of the `result` label, indexed like the scenario's cache counters.
pub(super) const CACHE_RESULTS: [CacheResult; 3] =
    [CacheResult::Hit, CacheResult::Miss, CacheResult::Unknown];

thread_local! {
    /// Set while [`super::Metrics::encode`] gathers the rest of the registry on this thread.
    static SILENT: Cell<bool> = const { Cell::new(false) };
}

/// Runs `gather` with the request collector silent on this thread (the registry calls
/// collectors on the caller's thread), so the text path can render these families itself.
pub(super) fn without_request_families<T>(gather: impl FnOnce() -> T) -> T {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            SILENT.with(|s| s.set(false));
        }
    }
    SILENT.with(|s| s.set(true));
    let _reset = Reset;
    gather()
}

/// Emits the per-scenario families of every target.
pub(super) struct RequestCollector {
    targets: Arc<SharedSlots>,
    bounds: Arc<Bounds>,
    quantiles: Vec<f64>,
    descs: Vec<Desc>,
}

impl RequestCollector {
    pub(super) fn new(
        targets: Arc<SharedSlots>,
        bounds: Arc<Bounds>,
        quantiles: Vec<f64>,
    ) -> prometheus::Result<RequestCollector> {
        let scenario = ["scenario", "target"];
        let descs = [
            (&DURATION, &scenario[..], None),
            (&LATENCY, &scenario[..], None),
            (&PHASE, &scenario[..], Some("phase")),
            (&REQUESTS, &scenario[..], Some("code")),
            (&FAILURES, &scenario[..], Some("reason")),
            (&CACHE, &scenario[..], Some("result")),
            (&CACHE_RATIO, &["target"][..], None),
            (&FLOW_DURATION, &scenario[..], None),
            (&FLOW_RUNS, &scenario[..], Some("result")),
            (&STEPS_NOT_RUN, &["scenario", "step", "target"][..], None),
        ]
        .into_iter()
        .map(|(family, labels, extra)| {
            let names = extra.into_iter().chain(labels.iter().copied());
            Desc::new(
                family.name.into(),
                family.help.into(),
                names.map(String::from).collect(),
                HashMap::new(),
            )
        })
        .collect::<prometheus::Result<Vec<Desc>>>()?;
        Ok(RequestCollector {
            targets,
            bounds,
            quantiles,
            descs,
        })
    }

    /// Feeds every family to `sink`, reading the windows as of `now`.
    pub(super) fn walk(&self, sink: &mut impl Sink, now: Instant) {
        let targets = self.targets.get();
        let scenarios = || targets.iter().flat_map(|t| t.scenarios.iter());
        sink.begin(&DURATION);
        for s in scenarios() {
            let state = lock(&s.state);
            let extras = Extras {
                exemplars: &state.exemplars,
                native: state.native.as_ref(),
            };
            sink.histogram(&s.labels, None, &self.bounds, &state.duration, extras);
        }
        sink.begin(&LATENCY);
        for s in scenarios() {
            let mut state = lock(&s.state);
            let values = state.window.quantiles(now, &self.quantiles);
            let pairs: Vec<_> = self.quantiles.iter().copied().zip(values).collect();
            sink.summary(&s.labels, &pairs, state.duration.sum, state.duration.count);
        }
        sink.begin(&PHASE);
        for s in scenarios() {
            let state = lock(&s.state);
            for (phase, data) in PHASES.iter().zip(&state.phases) {
                if let Some(data) = data {
                    let phase = Some(("phase", *phase));
                    sink.histogram(&s.labels, phase, &self.bounds, data, Extras::default());
                }
            }
        }
        sink.begin(&REQUESTS);
        for s in scenarios() {
            for code in &lock(&s.state).codes {
                sink.counter(&s.labels, Some(("code", &code.label)), code.count);
            }
        }
        sink.begin(&FAILURES);
        for s in scenarios() {
            let state = lock(&s.state);
            for (reason, count) in FailureReason::ALL.iter().zip(state.failures) {
                sink.counter(&s.labels, Some(("reason", reason.as_str())), count);
            }
        }
        sink.begin(&CACHE);
        for s in scenarios() {
            let state = lock(&s.state);
            for (result, count) in CACHE_RESULTS.iter().zip(state.cache) {
                sink.counter(&s.labels, Some(("result", result.as_str())), count);
            }
        }
        cache_ratios(&targets, sink, now);
        flows(&targets, &self.bounds, sink);
    }
}

/// The flow families: whole-run durations and results, and the steps that did not run.
fn flows(targets: &[Arc<TargetSlot>], bounds: &Bounds, sink: &mut impl Sink) {
    let flows = || targets.iter().flat_map(|t| t.flows.iter());
    sink.begin(&FLOW_DURATION);
    for flow in flows() {
        let state = lock(&flow.state);
        sink.histogram(
            &flow.labels,
            None,
            bounds,
            &state.duration,
            Extras::default(),
        );
    }
    sink.begin(&FLOW_RUNS);
    for flow in flows() {
        let runs = lock(&flow.state).runs;
        for (result, count) in FLOW_RESULTS.iter().zip(runs) {
            sink.counter(&flow.labels, Some(("result", result)), count);
        }
    }
    sink.begin(&STEPS_NOT_RUN);
    for target in targets {
        for s in target.scenarios.iter().filter(|s| s.step.is_some()) {
            sink.counter(&s.labels, None, lock(&s.state).not_run);
        }
    }
}

fn cache_ratios(targets: &[Arc<TargetSlot>], sink: &mut impl Sink, now: Instant) {
    sink.begin(&CACHE_RATIO);
    for target in targets {
        let mut counts = Counts::default();
        for s in &target.scenarios {
            counts.add(&lock(&s.state).window.counts(now));
        }
        if let Some(ratio) = counts.cache_hit_ratio() {
            sink.gauge(&target.labels, ratio);
        }
    }
}

impl Collector for RequestCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        if SILENT.with(Cell::get) {
            return Vec::new();
        }
        let mut sink = ProtoSink::default();
        self.walk(&mut sink, Instant::now());
        sink.finish()
    }
}
