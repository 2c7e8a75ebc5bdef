//! The prometheus registry and every synthex request metric.
//!
//! [`Metrics`] owns the registry (the sampler and stats poller register into it too), the
//! per-target prometheus families and config gauges (`families`), the per-scenario families read
//! at scrape time (`collector`: histograms, windowed summary, counters, cache ratio) and the
//! status data behind the status page ([`status`]). Targets and scenarios are addressed by their
//! index in the config and every label set is built once at start-up, so [`Metrics::record`] is
//! one short per-scenario lock plus a few atomic adds, with no string formatting (except a
//! status code's label, once per new code). [`Metrics::encode`] writes the per-scenario families
//! straight to text, which keeps a 100-scenario scrape at about 2 ms.
//!
//! Exported families (names are a contract with dashboards and alert rules):
//! `synthex_request_duration_seconds`, `synthex_request_latency_seconds`,
//! `synthex_requests_total`, `synthex_request_failures_total`, `synthex_requests_skipped_total`,
//! `synthex_in_flight_requests`, `synthex_request_phase_duration_seconds`,
//! `synthex_tls_cert_expiry_timestamp_seconds`, `synthex_target_up`,
//! `synthex_cache_requests_total`, `synthex_cache_hit_ratio`, `synthex_build_info`,
//! `synthex_schedule_requests_per_second`, `synthex_effective_requests_per_second`,
//! `synthex_target_paused`, `synthex_objective_*`, and the standard `process_*`.

mod collector;
mod config_status;
mod exemplar;
mod families;
mod format;
pub mod history;
mod native;
mod openmetrics;
pub mod protobuf;
mod series;
mod sink;
mod state;
pub mod status;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus::{Encoder, IntGauge, Registry, TextEncoder};
use tokio::sync::watch;
use tokio::time::Instant;

use self::collector::RequestCollector;
use self::config_status::ConfigStatus;
pub use self::config_status::{ConfigHistory, ReloadFailure};
pub use self::families::GuardGauges;
use self::families::{Constants, Families};
pub use self::format::Format;
use self::protobuf::ProtobufSink;
use self::series::{Bounds, Labels};
use self::sink::TextSink;
use self::state::{SharedSlots, TargetSlot, lock};
use self::status::StatusSnapshot;
use crate::config::ConfigError;
use crate::definition::same;
use crate::outcome::Outcome;
use crate::scenario::{Config, Global};

/// Slots in each sliding window: a 5 m window ages out in 1 m steps, like the Go client's
/// default summary age buckets.
pub const WINDOW_SLOTS: usize = 5;

/// `phase` label values, in the order the probe reports them.
pub const PHASES: [&str; 4] = ["dns", "connect", "first_byte", "transfer"];

/// What the encodings of the metrics (scrapes of `/metrics`) have seen.
#[derive(Debug, Clone, Copy)]
pub struct Scraped {
    /// Requests recorded when the last encoding started.
    pub recorded: u64,
    /// When the last encoding started.
    pub at: Instant,
    /// When the one before started.
    pub previous: Option<Instant>,
}

/// Why a scheduled slot was not started: the `reason` label of `synthex_requests_skipped_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SkipReason {
    /// `max_in_flight` requests of the target were already running.
    InFlightCap,
    /// The slot could not start within 100 ms of its due time because synthex itself was held up
    /// (suspended, starved of CPU, a blocked runtime); the same cut-off at every rate. Sending
    /// such slots in a catch-up burst would distort the target's load.
    Late,
    /// The target failed repeatedly and its rate is halved ([`crate::guard`]).
    Backoff,
    /// The target answered 429 or 503 with `Retry-After`, and that time has not come yet.
    RetryAfter,
}

impl SkipReason {
    /// Every reason, in label order; their series are created at zero.
    pub const ALL: [SkipReason; 4] = [
        SkipReason::InFlightCap,
        SkipReason::Late,
        SkipReason::Backoff,
        SkipReason::RetryAfter,
    ];

    /// The label value.
    pub fn as_str(&self) -> &'static str {
        match self {
            SkipReason::InFlightCap => "in_flight_cap",
            SkipReason::Late => "late",
            SkipReason::Backoff => "backoff",
            SkipReason::RetryAfter => "retry_after",
        }
    }
}

/// Every synthex request metric plus the status page data, shared by the scheduler (writing)
/// and the exporter (reading).
pub struct Metrics {
    registry: Registry,
    families: Families,
    constants: Constants,
    config_status: ConfigStatus,
    targets: Arc<SharedSlots>,
    bounds: Arc<Bounds>,
    /// The settings that shape every series, which a reload cannot change.
    shape: Global,
    requests: Arc<RequestCollector>,
    /// The global labels (`env="prod"`), for the families written without the registry.
    global_labels: Labels,
    /// Size of the last encoding, to allocate the next one in one go.
    last_size: AtomicUsize,
    source: PathBuf,
    window: Duration,
    /// Returned by [`Metrics::in_flight`] for an index that names no target, so a caller bug
    /// costs a wrong gauge rather than a panic; never registered.
    detached_in_flight: IntGauge,
    /// Requests recorded so far, for [`Metrics::unscraped`].
    recorded: AtomicU64,
    /// What the encodings have seen, `None` before the first.
    scraped: watch::Sender<Option<Scraped>>,
}

/// One target's series, as a running schedule records into them. A handle stays valid across
/// reloads: an unchanged scenario's state is shared with the slots of the new config, and the
/// requests a replaced schedule still has in flight finish into it.
#[derive(Clone)]
pub struct TargetHandle(Arc<TargetSlot>);

impl TargetHandle {
    /// The target's in-flight gauge; the scheduler increments it when a request starts and
    /// decrements it when it ends.
    pub fn in_flight(&self) -> &IntGauge {
        &self.0.in_flight
    }

    /// Counts a scheduled slot of the target that was not started.
    pub fn skip(&self, reason: SkipReason) {
        if let Some(index) = SkipReason::ALL.iter().position(|r| *r == reason) {
            self.0.skipped[index].inc();
        }
    }

    /// The row of the target's scenario `scenario` (its index in the config the handle was
    /// made from): a single request's only row, or a flow's first step. A flow's steps follow
    /// in [`crate::scenario::Flow::all_steps`] order.
    pub fn first_row(&self, scenario: usize) -> usize {
        self.0
            .first_row
            .get(scenario)
            .copied()
            .unwrap_or(usize::MAX)
    }

    /// Counts a step of a flow (`row`) that did not run because an earlier one failed.
    pub fn not_run(&self, row: usize) {
        if let Some(s) = self.0.scenarios.get(row) {
            lock(&s.state).not_run += 1;
        }
    }

    /// The gauges the target's guard keeps current: its effective rate and whether it is
    /// paused. They survive a reload that keeps the target's name, like its counters.
    pub fn guard_gauges(&self) -> GuardGauges {
        self.0.guard.clone()
    }
}

impl Metrics {
    /// Builds the registry with the config's global labels and pre-creates every series that
    /// must start at zero (request durations, failures by reason, skips by reason, cache
    /// results), so `rate()` and `increase()` work from the first scrape.
    pub fn new(config: &Config) -> Result<Metrics, prometheus::Error> {
        let labels: HashMap<String, String> = config
            .global
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let registry = Registry::new_custom(None, (!labels.is_empty()).then_some(labels))?;
        let families = Families::register(&registry)?;
        families::register_build_info(&registry)?;
        let constants = Constants::register(config, &registry)?;
        let config_status = ConfigStatus::register(&registry)?;
        let bounds = Arc::new(Bounds::new(&config.global.buckets));
        let targets = Arc::new(SharedSlots::new(state::build(
            config,
            &[],
            &families,
            &bounds,
            Instant::now(),
        )));
        let requests = Arc::new(RequestCollector::new(
            targets.clone(),
            bounds.clone(),
            config.global.quantiles.clone(),
        )?);
        registry.register(Box::new(SharedCollector(requests.clone())))?;
        #[cfg(target_os = "linux")]
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        let global: Vec<(&str, &str)> = config
            .global
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        Ok(Metrics {
            registry,
            families,
            constants,
            config_status,
            targets,
            bounds,
            shape: config.global.clone(),
            requests,
            global_labels: Labels::new(&global),
            last_size: AtomicUsize::new(64 * 1024),
            source: config.source.clone(),
            window: config.global.quantile_window,
            detached_in_flight: IntGauge::new("synthex_detached_in_flight", "unregistered")?,
            recorded: AtomicU64::new(0),
            scraped: watch::Sender::new(None),
        })
    }

    /// The registry, for other collectors (resource sampler, stats poller) to register into.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The series of `config.targets[target]` of the current config.
    pub fn target(&self, target: usize) -> Option<TargetHandle> {
        self.targets.get().get(target).cloned().map(TargetHandle)
    }

    /// Records one finished request of row `row` ([`TargetHandle::first_row`]) of
    /// `config.targets[target]` of the current config.
    pub fn record(&self, target: usize, row: usize, outcome: &Outcome) {
        match self.target(target) {
            Some(handle) => self.record_to(&handle, row, outcome),
            None => tracing::warn!(target_index = target, "metrics: record for unknown target"),
        }
    }

    /// Records one finished request of row `row` (see [`TargetHandle::first_row`]). Cheap and
    /// thread-safe: counters are atomics, the window is behind a per-row lock.
    pub fn record_to(&self, handle: &TargetHandle, row: usize, outcome: &Outcome) {
        self.record_at(handle, row, outcome, Instant::now());
    }

    /// [`Metrics::record_to`] for a request that finished at `now` (when its windows count
    /// it), for a caller that has read the clock already.
    pub fn record_at(&self, handle: &TargetHandle, row: usize, outcome: &Outcome, now: Instant) {
        let t = &handle.0;
        let Some(s) = t.scenarios.get(row) else {
            tracing::warn!(target = %t.name, row, "metrics: record for unknown scenario");
            return;
        };
        lock(&s.state).record(&self.bounds, outcome, now);
        if outcome.failure.is_some() {
            t.remember_failure(&s.display(), outcome);
        }
        t.lazy
            .up
            .get_or_init(|| self.families.target_up.with_label_values(&[&t.name]))
            .set(i64::from(outcome.is_success()));
        if let Some(expiry) = outcome.cert_expiry
            && let Ok(since_epoch) = expiry.duration_since(UNIX_EPOCH)
        {
            t.lazy
                .cert_expiry
                .get_or_init(|| self.families.cert_expiry.with_label_values(&[&t.name]))
                .set(since_epoch.as_secs_f64());
        }
        t.has_result.store(true, Ordering::Relaxed);
        self.recorded.fetch_add(1, Ordering::SeqCst);
    }

    /// Records one whole run of the flow `scenario` (its index in the config the handle was
    /// made from): its duration and whether every step succeeded.
    pub fn record_flow(
        &self,
        handle: &TargetHandle,
        scenario: usize,
        duration: Duration,
        success: bool,
    ) {
        if let Some(flow) = handle.0.flows.iter().find(|f| f.scenario == scenario) {
            let mut state = lock(&flow.state);
            state.duration.observe(&self.bounds, duration.as_secs_f64());
            state.runs[usize::from(!success)] += 1;
        }
    }

    /// Counts a scheduled slot of `config.targets[target]` (current config) that was not
    /// started.
    pub fn record_skip(&self, target: usize, reason: SkipReason) {
        if let Some(handle) = self.target(target) {
            handle.skip(reason);
        }
    }

    /// The in-flight gauge of `config.targets[target]` of the current config.
    pub fn in_flight(&self, target: usize) -> IntGauge {
        self.target(target).map_or_else(
            || self.detached_in_flight.clone(),
            |h| h.in_flight().clone(),
        )
    }

    /// Refuses a new config that changes what shapes every series (the registry's constant
    /// labels, histogram buckets, exported quantiles, window length, native histogram):
    /// those need a restart.
    /// The message names the file and field, as a config error does.
    pub fn check_reloadable(&self, config: &Config) -> Result<(), ConfigError> {
        let new = &config.global;
        let fields = [
            ("global.labels", same(&self.shape.labels, &new.labels)),
            ("global.buckets", same(&self.shape.buckets, &new.buckets)),
            (
                "global.quantiles",
                same(&self.shape.quantiles, &new.quantiles),
            ),
            (
                "global.quantile_window",
                self.shape.quantile_window == new.quantile_window,
            ),
            (
                "global.native_histogram",
                self.shape.native_histogram == new.native_histogram,
            ),
        ];
        match fields.iter().find(|(_, same)| !same) {
            None => Ok(()),
            Some((field, _)) => Err(ConfigError::Invalid {
                path: config.source.clone(),
                field: field.to_string(),
                message: "differs from the running configuration; it shapes every series, so \
                          changing it needs a restart"
                    .to_string(),
            }),
        }
    }

    /// Switches the series to `new` (a reload from `old`): unchanged scenarios keep their
    /// state, kept target names their counters; new ones start at zero; the series of removed
    /// targets and scenarios disappear from `/metrics`. Returns the handles of `new`'s
    /// targets, in config order.
    pub fn apply(&self, old: &Config, new: &Config) -> Vec<TargetHandle> {
        let previous = self.targets.get();
        let slots = state::build(new, &previous, &self.families, &self.bounds, Instant::now());
        let handles = slots.iter().cloned().map(TargetHandle).collect();
        self.targets.set(slots);
        for gone in previous
            .iter()
            .filter(|slot| !new.targets.iter().any(|t| t.name == slot.name))
        {
            state::remove_series(&self.families, &gone.name);
        }
        self.constants.apply(&old.targets, &new.targets);
        self.config_status.succeeded(SystemTime::now());
        handles
    }

    /// Records a refused reload: the gauge goes to 0 and the status page shows `message`.
    pub fn reload_failed(&self, message: &str) {
        self.config_status.failed(SystemTime::now(), message);
    }

    /// Everything in the registry, in the Prometheus text format 0.0.4. The per-scenario
    /// families are written straight from their state; the rest goes through the registry.
    pub fn encode(&self) -> Result<Vec<u8>, prometheus::Error> {
        self.encode_as(Format::Text)
    }

    /// Everything in the registry, in `format` (see [`Format`]).
    pub fn encode_as(&self, format: Format) -> Result<Vec<u8>, prometheus::Error> {
        let recorded = self.recorded.load(Ordering::SeqCst);
        self.scraped.send_modify(|scraped| {
            *scraped = Some(Scraped {
                recorded,
                at: Instant::now(),
                previous: scraped.map(|s| s.at),
            });
        });
        let others = collector::without_request_families(|| self.registry.gather());
        let mut buffer = Vec::with_capacity(self.last_size.load(Ordering::Relaxed) + 4096);
        let now = Instant::now();
        match format {
            Format::Text => {
                TextEncoder::new().encode(&others, &mut buffer)?;
                let text = &self.global_labels.text;
                self.requests
                    .walk(&mut TextSink::new(&mut buffer, text, false), now);
            }
            Format::OpenMetrics => {
                openmetrics::encode(&others, &mut buffer);
                let text = &self.global_labels.text;
                self.requests
                    .walk(&mut TextSink::new(&mut buffer, text, true), now);
                buffer.extend_from_slice(openmetrics::EOF);
            }
            Format::Protobuf => {
                let mut sink = ProtobufSink::new(&mut buffer, &self.global_labels);
                sink.registry_families(&others);
                self.requests.walk(&mut sink, now);
                sink.finish();
            }
        }
        self.last_size.store(buffer.len(), Ordering::Relaxed);
        Ok(buffer)
    }

    /// Whether requests were recorded that no encoding (a scrape of `/metrics`) has read yet;
    /// `None` when nothing was ever encoded. The daemon's shutdown waits, within the grace
    /// period, until a scrape has read the final counts.
    pub fn unscraped(&self) -> Option<bool> {
        let seen = (*self.scraped.borrow())?;
        Some(self.recorded.load(Ordering::SeqCst) != seen.recorded)
    }

    /// When the scraper is overdue: two of its intervals (as seen between the last two
    /// encodings) after the last one, so one late scrape is still waited for. `None` before two
    /// encodings: no rhythm to go by.
    pub fn scrape_overdue(&self) -> Option<Instant> {
        let seen = (*self.scraped.borrow())?;
        let interval = seen.at.saturating_duration_since(seen.previous?);
        Some(seen.at + interval * 2)
    }

    /// Changes at every encoding from now on.
    pub fn scrapes(&self) -> watch::Receiver<Option<Scraped>> {
        self.scraped.subscribe()
    }

    /// Whether every target has at least one finished request: the daemon's readiness.
    pub fn has_results(&self) -> bool {
        self.targets
            .get()
            .iter()
            .all(|t| t.has_result.load(Ordering::Relaxed))
    }

    /// A copy of what the status page shows, as of now.
    pub fn status(&self) -> StatusSnapshot {
        status::snapshot(
            &self.targets.get(),
            self.source.clone(),
            self.config_status.history(),
            self.window,
            Instant::now(),
        )
    }
}

/// Registers the request collector while [`Metrics`] keeps its own handle for the text path.
struct SharedCollector(Arc<RequestCollector>);

impl prometheus::core::Collector for SharedCollector {
    fn desc(&self) -> Vec<&prometheus::core::Desc> {
        self.0.desc()
    }

    fn collect(&self) -> Vec<prometheus::proto::MetricFamily> {
        self.0.collect()
    }
}
