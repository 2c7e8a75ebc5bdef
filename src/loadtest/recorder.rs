//! Collects every finished request of a load test into what the report needs: per-scenario
//! totals with exact latency histograms, failures grouped by message, and a timeline of
//! one-second intervals (users or rate, and per scenario requests, failures and latency, so
//! the report can chart each scenario on its own; the all-scenario figures are their sum).
//!
//! Memory: the interval in progress holds a dense HDR histogram per scenario (3 significant
//! digits: about 16 KiB up to 2 ms, 57 KiB up to 65 ms, 90 KiB up to 1 s); once the next
//! interval starts, the closed one keeps only its non-empty buckets
//! ([`LatencyHistogram::pack`], a few KiB), so a long test grows by kilobytes a second, not
//! by tens of them per scenario. A scenario without requests in an interval costs nothing.
//!
//! Recording is the hot path of a load test (tens of thousands of requests per second), so it
//! takes two short uncontended locks and never allocates except when a new interval or failure
//! message appears. The same outcome also goes to the daemon's [`Metrics`], so `/metrics` and a
//! live Grafana view work during the test.
//!
//! For the breaking-point search the recorder also keeps a "step" accumulator that can be taken
//! and reset at each rate step, so each step is judged on its own requests only. It is kept
//! from the first [`Recorder::take_step`] on: other runs do not pay a lock and a histogram
//! record per request for it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use prometheus::Gauge;
use tokio_util::sync::CancellationToken;

use crate::metrics::{Metrics, SkipReason, TargetHandle};
use crate::outcome::{CacheResult, Failure, FailureReason, Outcome, Phases};
use crate::report::model::{
    FailureGroup, FlowStats, Interval, LatencyHistogram, ScenarioInterval, ScenarioStats,
};

/// Distinct failure messages kept per scenario and reason; more are counted under one entry,
/// so a target answering a different error text each time cannot grow memory.
const MAX_MESSAGES: usize = 50;

/// Where one load-test row (a scenario, or one step of a flow) comes from in the config.
#[derive(Debug, Clone)]
pub struct ScenarioRef {
    /// Index of the target in `config.targets`.
    pub target: usize,
    /// The row's index in that target's metrics ([`crate::metrics::TargetHandle::first_row`]).
    pub row: usize,
    /// Target name.
    pub target_name: String,
    /// Scenario name.
    pub scenario_name: String,
    /// The step, for a row of a flow.
    pub step: Option<String>,
    /// HTTP method.
    pub method: String,
}

/// Where one load-test flow comes from in the config.
#[derive(Debug, Clone)]
pub struct FlowRef {
    /// Index of the target in `config.targets`.
    pub target: usize,
    /// Index of the flow in that target's `scenarios`.
    pub scenario: usize,
    /// Target name.
    pub target_name: String,
    /// The flow's scenario name.
    pub scenario_name: String,
}

/// Running totals of one flow's whole runs.
#[derive(Debug, Default, Clone)]
struct FlowTotals {
    runs: u64,
    failures: u64,
    duration: LatencyHistogram,
}

/// The load test's collector; share it with `Arc`.
pub struct Recorder {
    start: Instant,
    interval: Duration,
    scenarios: Vec<ScenarioRef>,
    totals: Vec<Mutex<Totals>>,
    flows: Vec<(FlowRef, Mutex<FlowTotals>)>,
    step: Vec<Mutex<Totals>>,
    /// Set by the first [`Recorder::take_step`]: `step` is kept from then on.
    stepping: AtomicBool,
    timeline: Mutex<Vec<Cell>>,
    failures: Mutex<HashMap<(usize, FailureReason), HashMap<String, Seen>>>,
    /// The planned level (users or rate) now, as f64 bits; stamped on the intervals.
    level: AtomicU64,
    metrics: Option<Arc<Metrics>>,
    /// The handles of `metrics`' targets, by target index, looked up once: a load test's
    /// config does not change, and the lookup (a lock and two reference counts) would
    /// otherwise be paid on every request.
    targets: Vec<TargetHandle>,
    /// `synthex_load_virtual_users` or `synthex_load_scheduled_requests_per_second`.
    level_gauge: Option<Gauge>,
    /// Cancelled to end the requests still in flight at once (a second Ctrl-C, or the grace
    /// period over); each is then recorded by [`Recorder::record_interrupted`].
    stop_now: CancellationToken,
    /// Requests recorded by [`Recorder::record_interrupted`].
    interrupted: AtomicU64,
}

/// Percentiles of [`IntervalFigures::latency`]: p50, p95, p99.
pub const LIVE_QUANTILES: [f64; 3] = [0.5, 0.95, 0.99];

/// One complete timeline interval as the live page charts it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IntervalFigures {
    /// Position in the timeline.
    pub index: usize,
    /// Interval start, seconds since the run started.
    pub offset_seconds: f64,
    /// Virtual users at the end of the interval (closed model).
    pub users: u64,
    /// Scheduled arrival rate at the end of the interval (open model).
    pub target_rate: f64,
    /// Requests finished in the interval.
    pub requests: u64,
    /// Of which failed.
    pub failures: u64,
    /// Latency at [`LIVE_QUANTILES`]; `None` without requests.
    pub latency: [Option<Duration>; 3],
}

/// The failure message of a request cut short by [`Recorder::stop_now`].
pub const INTERRUPTED_MESSAGE: &str = "interrupted: still in flight when the test stopped";

/// How often one failure message was seen, and when first and last (Unix seconds).
#[derive(Debug, Clone, Copy)]
struct Seen {
    count: u64,
    first: f64,
    last: f64,
}

/// One timeline interval while it fills.
#[derive(Debug, Clone)]
struct Cell {
    /// Planned level at the last stamp: users (closed model) or requests/s (open model).
    level: f64,
    /// One entry per scenario, in recording-index order.
    scenarios: Vec<ScenarioInterval>,
    /// Failures by reason.
    reasons: HashMap<FailureReason, u64>,
    /// Responses classified as cache hits, and as misses.
    cache: (u64, u64),
}

/// Running totals of one scenario.
#[derive(Debug, Default, Clone)]
struct Totals {
    requests: u64,
    failures: u64,
    body_bytes: u64,
    hits: u64,
    misses: u64,
    not_run: u64,
    latency: LatencyHistogram,
}

/// What the progress display shows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Live {
    /// Requests finished so far.
    pub requests: u64,
    /// Of which failed.
    pub failures: u64,
    /// Requests per second over the last complete intervals.
    pub recent_rps: f64,
    /// 95th percentile over the last complete intervals.
    pub recent_p95: Option<Duration>,
    /// Failed share over the last complete intervals.
    pub recent_error_ratio: Option<f64>,
}

impl Recorder {
    /// A recorder for `scenarios` whose clock starts at `start`; `metrics`, when given, also
    /// receives every outcome.
    pub fn new(
        scenarios: Vec<ScenarioRef>,
        start: Instant,
        interval: Duration,
        metrics: Option<Arc<Metrics>>,
    ) -> Recorder {
        let empty = || (0..scenarios.len()).map(|_| Mutex::default()).collect();
        let targets = metrics.as_ref().map_or_else(Vec::new, |metrics| {
            (0..).map_while(|target| metrics.target(target)).collect()
        });
        Recorder {
            start,
            interval,
            totals: empty(),
            step: empty(),
            stepping: AtomicBool::new(false),
            flows: Vec::new(),
            scenarios,
            timeline: Mutex::new(Vec::new()),
            failures: Mutex::new(HashMap::new()),
            level: AtomicU64::new(0f64.to_bits()),
            metrics,
            targets,
            level_gauge: None,
            stop_now: CancellationToken::new(),
            interrupted: AtomicU64::new(0),
        }
    }

    /// Also keeps the whole runs of `flows` (their indexes are those of
    /// [`Recorder::record_flow`]).
    pub fn with_flows(mut self, flows: Vec<FlowRef>) -> Recorder {
        self.flows = flows.into_iter().map(|f| (f, Mutex::default())).collect();
        self
    }

    /// Records one whole run of flow `index`: its duration, and whether every step passed.
    pub fn record_flow(&self, index: usize, duration: Duration, success: bool) {
        let Some((flow, totals)) = self.flows.get(index) else {
            return;
        };
        {
            let mut totals = lock(totals);
            totals.runs += 1;
            totals.failures += u64::from(!success);
            totals.duration.record(duration);
        }
        if let Some((metrics, handle)) = self.metrics_of(flow.target) {
            metrics.record_flow(handle, flow.scenario, duration, success);
        }
    }

    /// Counts a step (row `index`) that did not run because an earlier step of its flow failed.
    pub fn record_not_run(&self, index: usize) {
        let Some(scenario) = self.scenarios.get(index) else {
            return;
        };
        lock(&self.totals[index]).not_run += 1;
        if self.stepping.load(Ordering::Relaxed) {
            lock(&self.step[index]).not_run += 1;
        }
        if let Some((_, handle)) = self.metrics_of(scenario.target) {
            handle.not_run(scenario.row);
        }
    }

    /// The flows' whole runs, in the order given to [`Recorder::with_flows`].
    pub fn flow_stats(&self) -> Vec<FlowStats> {
        self.flows
            .iter()
            .map(|(f, totals)| {
                let t = lock(totals).clone();
                FlowStats {
                    target: f.target_name.clone(),
                    scenario: f.scenario_name.clone(),
                    runs: t.runs,
                    failures: t.failures,
                    duration: t.duration,
                }
            })
            .collect()
    }

    /// Cuts the requests in flight short when `token` is cancelled (see [`Recorder::stop_now`]).
    pub fn with_stop_now(mut self, token: CancellationToken) -> Recorder {
        self.stop_now = token;
        self
    }

    /// Requests counted as interrupted so far.
    pub fn interrupted(&self) -> u64 {
        self.interrupted.load(Ordering::Relaxed)
    }

    /// Cancelled when the requests still in flight must end now.
    pub fn stop_now(&self) -> &CancellationToken {
        &self.stop_now
    }

    /// Records a request of scenario `index`, started at `from`, that was still in flight when
    /// the test stopped: a failure (reason `other`, [`INTERRUPTED_MESSAGE`]) whose latency is
    /// how long it had run, a lower bound of what it would have taken, so a hanging target shows.
    pub fn record_interrupted(&self, index: usize, from: Instant) {
        self.interrupted.fetch_add(1, Ordering::Relaxed);
        self.record(
            index,
            &Outcome {
                latency: from.elapsed(),
                status: None,
                retry_after: None,
                failure: Some(Failure {
                    reason: FailureReason::Other,
                    message: INTERRUPTED_MESSAGE.to_string(),
                }),
                cache: CacheResult::Unknown,
                phases: Phases::default(),
                body_bytes: 0,
                cert_expiry: None,
                finished_at: SystemTime::now(),
                trace_id: None,
            },
        );
    }

    /// Also shows the planned level on `gauge` (for `/metrics` during the test).
    pub fn with_level_gauge(mut self, gauge: Gauge) -> Recorder {
        self.level_gauge = Some(gauge);
        self
    }

    /// Counts an arrival of scenario `index` that was dropped at the in-flight cap, in
    /// `synthex_requests_skipped_total{reason="in_flight_cap"}` as the daemon counts its slots.
    pub fn record_dropped(&self, index: usize) {
        if let (Some(metrics), Some(scenario)) = (&self.metrics, self.scenarios.get(index)) {
            metrics.record_skip(scenario.target, SkipReason::InFlightCap);
        }
    }

    /// The scenarios, in recording-index order.
    pub fn scenarios(&self) -> &[ScenarioRef] {
        &self.scenarios
    }

    /// When the run started.
    pub fn start(&self) -> Instant {
        self.start
    }

    /// Records one finished request of scenario `index`.
    pub fn record(&self, index: usize, outcome: &Outcome) {
        let Some(scenario) = self.scenarios.get(index) else {
            return;
        };
        let now = Instant::now();
        let success = outcome.is_success();
        lock(&self.totals[index]).add(outcome);
        if self.stepping.load(Ordering::Relaxed) {
            lock(&self.step[index]).add(outcome);
        }
        {
            let mut timeline = lock(&self.timeline);
            let cell = self.cell_at(&mut timeline, now, false);
            let share = &mut cell.scenarios[index];
            share.requests += 1;
            share.failures += u64::from(!success);
            share.latency.record(outcome.latency);
            if let Some(failure) = &outcome.failure {
                *cell.reasons.entry(failure.reason).or_default() += 1;
            }
            match outcome.cache {
                CacheResult::Hit => cell.cache.0 += 1,
                CacheResult::Miss => cell.cache.1 += 1,
                CacheResult::Unknown => {}
            }
        }
        if let Some(failure) = &outcome.failure {
            let mut failures = lock(&self.failures);
            let messages = failures.entry((index, failure.reason)).or_default();
            let key = if messages.len() < MAX_MESSAGES || messages.contains_key(&failure.message) {
                failure.message.clone()
            } else {
                "(other messages)".to_string()
            };
            let at = outcome
                .finished_at
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            let seen = messages.entry(key).or_insert(Seen {
                count: 0,
                first: at,
                last: at,
            });
            seen.count += 1;
            seen.first = seen.first.min(at);
            seen.last = seen.last.max(at);
        }
        if let Some((metrics, handle)) = self.metrics_of(scenario.target) {
            metrics.record_at(handle, scenario.row, outcome, now);
        }
    }

    /// The daemon metrics and the handle of target `target` in them, when kept.
    fn metrics_of(&self, target: usize) -> Option<(&Metrics, &TargetHandle)> {
        Some((self.metrics.as_deref()?, self.targets.get(target)?))
    }

    /// Sets the planned level (users or requests/s) and makes sure the current interval exists,
    /// so intervals without finished requests still show the load.
    pub fn set_level(&self, level: f64) {
        self.show_level(level);
        let mut timeline = lock(&self.timeline);
        self.cell_at(&mut timeline, Instant::now(), true);
    }

    /// Sets the planned level for the gauge and progress display only: the level after the
    /// run (0) must not be stamped on the run's last interval, which then looked as if the
    /// load had stopped before the end.
    pub fn show_level(&self, level: f64) {
        self.level.store(level.to_bits(), Ordering::Relaxed);
        if let Some(gauge) = &self.level_gauge {
            gauge.set(level);
        }
    }

    /// The planned level (users or requests/s) last set.
    pub fn current_level(&self) -> f64 {
        f64::from_bits(self.level.load(Ordering::Relaxed))
    }

    /// The interval holding `now`, creating it (and any gap before it) with the level of the
    /// interval before; `stamp` sets the current level on it.
    fn cell_at<'a>(&self, timeline: &'a mut Vec<Cell>, now: Instant, stamp: bool) -> &'a mut Cell {
        let elapsed = now.saturating_duration_since(self.start);
        let index = usize::try_from(elapsed.as_nanos() / self.interval.as_nanos().max(1))
            .unwrap_or(usize::MAX)
            .min(timeline.len() + 100_000);
        while timeline.len() <= index {
            // The interval before is closed: no request is recorded in it any more.
            if let Some(last) = timeline.last_mut() {
                last.pack();
            }
            // A gap (no request finished, no level set) kept the level of the interval before.
            let level = timeline.last().map_or(0.0, |last| last.level);
            timeline.push(Cell {
                level,
                scenarios: vec![ScenarioInterval::default(); self.scenarios.len()],
                reasons: HashMap::new(),
                cache: (0, 0),
            });
        }
        let cell = &mut timeline[index];
        if stamp {
            cell.level = self.current_level();
        }
        cell
    }

    /// Progress figures: totals so far and the last `recent` complete intervals.
    pub fn live(&self, recent: usize) -> Live {
        let (requests, failures) = self.totals.iter().fold((0, 0), |(r, f), t| {
            let t = lock(t);
            (r + t.requests, f + t.failures)
        });
        let timeline = lock(&self.timeline);
        let complete = timeline.len().saturating_sub(1);
        let window = &timeline[complete.saturating_sub(recent)..complete];
        let mut latency = LatencyHistogram::new();
        let (mut recent_requests, mut recent_failures) = (0, 0);
        for share in window.iter().flat_map(|cell| &cell.scenarios) {
            latency.merge(&share.latency);
            recent_requests += share.requests;
            recent_failures += share.failures;
        }
        let seconds = self.interval.as_secs_f64() * window.len() as f64;
        Live {
            requests,
            failures,
            recent_rps: if seconds > 0.0 {
                recent_requests as f64 / seconds
            } else {
                0.0
            },
            recent_p95: latency.quantile(0.95),
            recent_error_ratio: (recent_requests > 0)
                .then(|| recent_failures as f64 / recent_requests as f64),
        }
    }

    /// The timeline's complete intervals from index `from` on (the one in progress is left
    /// out: its figures would read low), with their latency percentiles computed here, under
    /// the lock, from the scenarios' shares of each interval, so a live page polling every
    /// second gets only figures.
    pub fn complete_intervals(&self, from: usize) -> Vec<IntervalFigures> {
        let timeline = lock(&self.timeline);
        let complete = timeline.len().saturating_sub(1);
        let step = self.interval.as_secs_f64();
        timeline
            .iter()
            .enumerate()
            .take(complete)
            .skip(from)
            .map(|(index, cell)| {
                let interval = cell.interval(index as f64 * step);
                IntervalFigures {
                    index,
                    offset_seconds: interval.offset_seconds,
                    users: interval.users,
                    target_rate: interval.target_rate,
                    requests: interval.requests,
                    failures: interval.failures,
                    latency: LIVE_QUANTILES.map(|q| interval.latency.quantile(q)),
                }
            })
            .collect()
    }

    /// Per-scenario totals over the whole run.
    pub fn scenario_stats(&self) -> Vec<ScenarioStats> {
        self.stats_of(&self.totals)
    }

    /// Per-scenario totals since the last call (the current breaking-point step), resetting them;
    /// the first call starts keeping them and returns empty totals.
    pub fn take_step(&self) -> Vec<ScenarioStats> {
        self.stepping.store(true, Ordering::Relaxed);
        let stats = self.stats_of(&self.step);
        for step in &self.step {
            *lock(step) = Totals::default();
        }
        stats
    }

    fn stats_of(&self, totals: &[Mutex<Totals>]) -> Vec<ScenarioStats> {
        self.scenarios
            .iter()
            .zip(totals)
            .map(|(s, t)| {
                let t = lock(t).clone();
                ScenarioStats {
                    target: s.target_name.clone(),
                    scenario: s.scenario_name.clone(),
                    step: s.step.clone(),
                    method: s.method.clone(),
                    requests: t.requests,
                    not_run: t.not_run,
                    failures: t.failures,
                    body_bytes: t.body_bytes,
                    cache_hits: t.hits,
                    cache_misses: t.misses,
                    latency: t.latency,
                    timeline: Vec::new(),
                }
            })
            .collect()
    }

    /// Failures grouped by scenario, reason and message, most frequent first.
    pub fn failure_groups(&self) -> Vec<FailureGroup> {
        let failures = lock(&self.failures);
        let mut groups: Vec<FailureGroup> = failures
            .iter()
            .flat_map(|((index, reason), messages)| {
                let s = &self.scenarios[*index];
                messages.iter().map(move |(message, seen)| FailureGroup {
                    target: s.target_name.clone(),
                    scenario: s.scenario_name.clone(),
                    step: s.step.clone(),
                    method: s.method.clone(),
                    reason: reason.as_str().to_string(),
                    message: message.clone(),
                    occurrences: seen.count,
                    first_seen: Some(seen.first),
                    last_seen: Some(seen.last),
                })
            })
            .collect();
        groups.sort_by(|a, b| {
            b.occurrences.cmp(&a.occurrences).then_with(|| {
                (&a.target, &a.scenario, &a.message).cmp(&(&b.target, &b.scenario, &b.message))
            })
        });
        groups
    }

    /// The timeline up to `elapsed` (see [`Recorder::timelines`]).
    pub fn timeline(&self, elapsed: Duration) -> Vec<Interval> {
        self.timelines(elapsed).0
    }

    /// The timeline of a run that lasted `elapsed`, all scenarios together, and each
    /// scenario's share of it (trailing empty intervals left out).
    ///
    /// Requests that finished after `elapsed` (while the run wound down) count in the last
    /// interval: each belongs to the run whatever happens after. The last interval ends with
    /// the run and says how long it is, so its rates are not those of a full interval; a last
    /// sliver shorter than half an interval (a run ends a control tick after its planned
    /// length) is folded into the interval before rather than charted as an interval of its own.
    pub fn timelines(&self, elapsed: Duration) -> (Vec<Interval>, Vec<Vec<ScenarioInterval>>) {
        let mut cells = lock(&self.timeline).clone();
        let step = self.interval.as_secs_f64();
        let run = elapsed.as_secs_f64();
        let mut keep = ((run / step).ceil() as usize).max(1);
        let last_length = run - (keep - 1) as f64 * step;
        if keep > 1 && last_length < step / 2.0 {
            keep -= 1;
        }
        if cells.len() > keep {
            for late in cells.split_off(keep) {
                if let Some(last) = cells.last_mut() {
                    last.absorb(late);
                }
            }
        }
        // Packed like the cells, so that writing a long test's report needs no dense
        // histogram per interval.
        let mut intervals: Vec<Interval> = cells
            .iter()
            .enumerate()
            .map(|(i, cell)| {
                let mut interval = cell.interval(i as f64 * step);
                interval.latency.pack();
                interval
            })
            .collect();
        if let Some(last) = intervals.last_mut() {
            let length = run - last.offset_seconds;
            if cells.len() == keep && (length - step).abs() > 1e-9 {
                last.duration_seconds = Some(length.max(0.0));
            }
        }
        let shares = (0..self.scenarios.len())
            .map(|index| {
                let mut shares: Vec<ScenarioInterval> = cells
                    .iter()
                    .map(|cell| cell.scenarios[index].clone())
                    .collect();
                while shares.last().is_some_and(|share| share.requests == 0) {
                    shares.pop();
                }
                shares
            })
            .collect();
        (intervals, shares)
    }

    /// Length of one timeline interval.
    pub fn interval(&self) -> Duration {
        self.interval
    }
}

impl Cell {
    /// Packs the scenarios' histograms of a closed interval.
    fn pack(&mut self) {
        for share in &mut self.scenarios {
            share.latency.pack();
        }
    }

    /// Adds a later interval's requests to this one.
    fn absorb(&mut self, late: Cell) {
        for (share, more) in self.scenarios.iter_mut().zip(late.scenarios) {
            share.requests += more.requests;
            share.failures += more.failures;
            share.latency.merge(&more.latency);
        }
        for (reason, count) in late.reasons {
            *self.reasons.entry(reason).or_default() += count;
        }
        self.cache.0 += late.cache.0;
        self.cache.1 += late.cache.1;
    }

    /// The report's interval: the scenarios' shares added up.
    fn interval(&self, offset_seconds: f64) -> Interval {
        // Both are stamped; the report keeps the one of its model (users or rate).
        let mut interval = Interval::empty(offset_seconds, self.level.round() as u64, self.level);
        for share in &self.scenarios {
            interval.requests += share.requests;
            interval.failures += share.failures;
            interval.latency.merge(&share.latency);
        }
        interval.failure_reasons = self
            .reasons
            .iter()
            .map(|(reason, count)| (reason.as_str().to_string(), *count))
            .collect();
        (interval.cache_hits, interval.cache_misses) = self.cache;
        interval
    }
}

impl Totals {
    fn add(&mut self, outcome: &Outcome) {
        self.requests += 1;
        self.failures += u64::from(!outcome.is_success());
        self.body_bytes += outcome.body_bytes;
        match outcome.cache {
            CacheResult::Hit => self.hits += 1,
            CacheResult::Miss => self.misses += 1,
            CacheResult::Unknown => {}
        }
        self.latency.record(outcome.latency);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{Failure, Phases};
    use std::time::SystemTime;

    fn outcome(ms: u64, failure: Option<&str>) -> Outcome {
        Outcome {
            latency: Duration::from_millis(ms),
            status: Some(200),
            retry_after: None,
            failure: failure.map(|m| Failure {
                reason: FailureReason::HttpStatus,
                message: m.to_string(),
            }),
            cache: CacheResult::Hit,
            phases: Phases::default(),
            body_bytes: 10,
            cert_expiry: None,
            finished_at: SystemTime::now(),
            trace_id: None,
        }
    }

    fn recorder() -> Recorder {
        let s = |name: &str| ScenarioRef {
            target: 0,
            row: 0,
            target_name: "t".into(),
            scenario_name: name.into(),
            step: None,
            method: "GET".into(),
        };
        Recorder::new(
            vec![s("a"), s("b")],
            Instant::now(),
            Duration::from_secs(1),
            None,
        )
    }

    #[tokio::test(start_paused = true)]
    async fn totals_timeline_and_failures_add_up() {
        let r = recorder();
        r.set_level(5.0);
        r.record(0, &outcome(10, None));
        r.record(1, &outcome(20, Some("expected status 200, got 503")));
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        r.set_level(7.0);
        r.record(0, &outcome(30, Some("expected status 200, got 503")));
        r.record(0, &outcome(30, Some("expected status 200, got 500")));

        let stats = r.scenario_stats();
        assert_eq!((stats[0].requests, stats[0].failures), (3, 2));
        assert_eq!((stats[1].requests, stats[1].failures), (1, 1));
        assert_eq!(stats[0].cache_hits, 3);
        assert_eq!(stats[0].body_bytes, 30);
        let timeline = r.timeline(Duration::from_secs(3));
        assert_eq!(timeline.len(), 3);
        assert_eq!((timeline[0].requests, timeline[0].users), (2, 5));
        assert_eq!((timeline[1].requests, timeline[1].users), (0, 5));
        assert_eq!((timeline[2].requests, timeline[2].failures), (2, 2));
        assert_eq!(timeline[2].users, 7);
        let failures = r.failure_groups();
        assert_eq!(failures.len(), 3);
        assert!(failures.iter().all(|f| f.occurrences == 1));
    }

    #[tokio::test(start_paused = true)]
    async fn the_last_interval_ends_with_the_run() {
        let r = recorder();
        r.set_level(4.0);
        for _ in 0..3 {
            r.record(0, &outcome(10, None));
            r.record(1, &outcome(10, Some("boom")));
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        r.record(0, &outcome(10, None));
        r.show_level(0.0);
        assert_eq!(r.current_level(), 0.0);

        let (timeline, shares) = r.timelines(Duration::from_millis(3_600));
        assert_eq!(timeline.len(), 4);
        assert!(timeline.iter().all(|i| i.users == 4), "{timeline:?}");
        let last = timeline[3].duration_seconds.unwrap();
        assert!((last - 0.6).abs() < 1e-9, "{last}");
        assert!(timeline[..3].iter().all(|i| i.duration_seconds.is_none()));
        assert_eq!((timeline[3].requests, timeline[2].requests), (1, 2));
        assert_eq!(
            timeline[2].failure_reasons,
            [("http_status".to_string(), 1)].into()
        );
        assert_eq!(
            shares[0].iter().map(|s| s.requests).collect::<Vec<_>>(),
            [1, 1, 1, 1]
        );
        assert_eq!(shares[1].len(), 3, "trailing empty intervals left out");
        assert_eq!(shares[1][0].failures, 1);

        // A sliver under half an interval joins the interval before.
        let (timeline, shares) = r.timelines(Duration::from_millis(3_200));
        assert_eq!(timeline.len(), 3);
        assert_eq!(timeline[2].requests, 3);
        let last = timeline[2].duration_seconds.unwrap();
        assert!((last - 1.2).abs() < 1e-9, "{last}");
        assert_eq!(shares[0].len(), 3);
        assert_eq!(shares[0][2].requests, 2);

        // A run of whole intervals has no partial one.
        let (timeline, _) = r.timelines(Duration::from_secs(4));
        assert!(timeline.iter().all(|i| i.duration_seconds.is_none()));
    }

    #[tokio::test(start_paused = true)]
    async fn steps_reset_but_totals_keep_everything() {
        let r = recorder();
        r.record(0, &outcome(10, None));
        // Steps are kept from the first take on.
        assert_eq!(r.take_step()[0].requests, 0);
        r.record(0, &outcome(10, None));
        r.record_not_run(0);
        let step = &r.take_step()[0];
        assert_eq!((step.requests, step.not_run), (1, 1));
        r.record(0, &outcome(10, None));
        assert_eq!(r.take_step()[0].requests, 1);
        assert_eq!(r.scenario_stats()[0].requests, 3);
    }

    #[tokio::test(start_paused = true)]
    async fn failure_messages_are_bounded() {
        let r = recorder();
        for i in 0..200 {
            r.record(0, &outcome(1, Some(&format!("error {i}"))));
        }
        let groups = r.failure_groups();
        assert_eq!(groups.len(), MAX_MESSAGES + 1);
        assert_eq!(groups[0].message, "(other messages)");
        assert_eq!(groups[0].occurrences, 150);
    }

    #[tokio::test(start_paused = true)]
    async fn complete_intervals_leave_out_the_one_in_progress() {
        let r = recorder();
        r.set_level(3.0);
        for ms in 1..=100 {
            r.record(0, &outcome(ms, (ms > 90).then_some("slow")));
        }
        assert!(r.complete_intervals(0).is_empty());
        tokio::time::sleep(Duration::from_secs(2)).await;
        r.record(1, &outcome(7, None));
        let figures = r.complete_intervals(0);
        assert_eq!(figures.len(), 2, "{figures:?}");
        assert_eq!(
            (figures[0].requests, figures[0].failures, figures[0].users),
            (100, 10, 3)
        );
        let [p50, p95, p99] = figures[0].latency.map(|d| d.unwrap().as_secs_f64());
        for (got, want) in [(p50, 0.050), (p95, 0.095), (p99, 0.099)] {
            assert!((got - want).abs() / want < 0.001, "{got} vs {want}");
        }
        // The quiet second in between is there, empty; asking from an index skips the rest.
        assert_eq!((figures[1].index, figures[1].requests), (1, 0));
        assert_eq!(figures[1].latency, [None; 3]);
        assert_eq!(r.complete_intervals(1).len(), 1);
        assert!(r.complete_intervals(5).is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn closed_intervals_are_packed_and_read_the_same() {
        let r = recorder();
        r.set_level(2.0);
        // Each second's latencies, known here: 1..=400 ms in the first, 2..=800 µs steps after.
        let seconds: Vec<Vec<Duration>> = (1..=3u64)
            .map(|s| {
                (1..=400)
                    .map(|i| Duration::from_micros(i * 1_000 / s))
                    .collect()
            })
            .collect();
        for latencies in &seconds {
            for (i, latency) in latencies.iter().enumerate() {
                let mut o = outcome(0, None);
                o.latency = *latency;
                r.record(i % 2, &o);
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        {
            let timeline = lock(&r.timeline);
            assert_eq!(timeline.len(), 3);
            let closed = &timeline[..2];
            assert!(
                closed
                    .iter()
                    .flat_map(|c| &c.scenarios)
                    .all(|s| s.latency.is_packed())
            );
            assert!(timeline[2].scenarios.iter().all(|s| !s.latency.is_packed()));
        }
        let (timeline, shares) = r.timelines(Duration::from_secs(3));
        let figures = r.complete_intervals(0);
        assert_eq!(figures.len(), 2);
        for (i, latencies) in seconds.iter().enumerate() {
            let mut dense = LatencyHistogram::new();
            latencies.iter().for_each(|l| dense.record(*l));
            let interval = &timeline[i];
            assert_eq!((interval.requests, interval.latency.count()), (400, 400));
            for q in [0.0, 0.5, 0.95, 0.99, 1.0] {
                assert_eq!(interval.latency.quantile(q), dense.quantile(q), "{i} {q}");
            }
            assert_eq!(interval.latency.mean(), dense.mean());
            assert_eq!(interval.latency, dense);
            if let Some(figures) = figures.get(i) {
                assert_eq!(figures.latency, LIVE_QUANTILES.map(|q| dense.quantile(q)));
            }
            let mut both = shares[0][i].latency.clone();
            both.merge(&shares[1][i].latency);
            assert_eq!(both, dense);
        }
        // The first second's p50 is the 200th of 1..=400 ms, to the histogram's 0.1 %.
        let p50 = timeline[0].latency.quantile(0.5).unwrap().as_secs_f64();
        assert!((p50 - 0.2).abs() / 0.2 < 0.001, "{p50}");
    }

    #[tokio::test(start_paused = true)]
    async fn live_figures_come_from_complete_intervals() {
        let r = recorder();
        for _ in 0..10 {
            r.record(0, &outcome(5, None));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        r.record(0, &outcome(5, Some("x")));
        let live = r.live(5);
        assert_eq!((live.requests, live.failures), (11, 1));
        assert_eq!(live.recent_rps, 10.0);
        assert_eq!(live.recent_error_ratio, Some(0.0));
        assert!(live.recent_p95.is_some());
    }
}
