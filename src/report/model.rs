//! The load-test report: everything a run produced, as one serialisable value.
//!
//! This is the JSON report's schema (versioned by [`SCHEMA_VERSION`]) and the input of every
//! renderer (summary table, CSV, Markdown, HTML), of `synthex report merge` and of baseline
//! comparison. Latencies are kept as HDR histograms serialised bucket by bucket
//! ([`LatencyHistogram`]), never as precomputed percentiles, so shard reports merge exactly and
//! any percentile can be computed again from a saved report.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::packed::PackedBuckets;

/// Version of the JSON schema below; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// Significant decimal digits of every latency histogram: a relative error ≤ 0.1%.
pub const SIGNIFICANT_DIGITS: u8 = 3;

/// One load-test run (or the exact merge of several shards' runs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// [`SCHEMA_VERSION`] of the writer; readers refuse a version they do not know.
    pub schema_version: u32,
    /// synthex version that ran the test.
    pub synthex_version: String,
    /// The config file the scenarios came from.
    pub config: String,
    /// What was run: profile name (or file) and the load model.
    pub plan: PlanSummary,
    /// Wall-clock start, Unix seconds.
    pub started_at: f64,
    /// Length of the run, seconds (shorter than planned when interrupted).
    pub duration_seconds: f64,
    /// The run was stopped early (Ctrl-C); its numbers cover what ran.
    pub interrupted: bool,
    /// The shards this report covers (`[{index: 0, count: 1}]` for a plain run); a merge lists
    /// every shard it merged.
    pub shards: Vec<Shard>,
    /// One entry per scenario that ran, in config order (target, then scenario); a flow has
    /// one entry per step.
    pub scenarios: Vec<ScenarioStats>,
    /// One entry per flow scenario that ran: its whole runs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flows: Vec<FlowStats>,
    /// Failures grouped by scenario, reason and message, most frequent first.
    pub failures: Vec<FailureGroup>,
    /// One entry per interval (`timeline_interval_seconds` long) from the start.
    pub timeline: Vec<Interval>,
    /// Length of one timeline interval, seconds.
    pub timeline_interval_seconds: f64,
    /// Host and watched-process resource samples, one series per source host and process.
    pub resources: Vec<ResourceSeries>,
    /// Thresholds evaluated at the end of the run, pass or fail.
    pub thresholds: Vec<ThresholdResult>,
    /// The breaking-point search, when the run was a stress run.
    pub breaking_point: Option<BreakingPoint>,
    /// The service's own metrics read from Prometheus during the run (`load.prometheus`), one
    /// series per query; absent in reports of older synthex versions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prometheus: Vec<QuerySeries>,
    /// The warm-up before the measured run (`load.warmup`): its requests are in no other field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warmup: Option<Warmup>,
    /// What the run shows, each with the figures behind it (see `report::findings`); empty
    /// until the findings are drawn at the end of the run.
    #[serde(default)]
    pub findings: Vec<Finding>,
    /// The target's stats-endpoint fields polled during the run, one series per target and
    /// field (absent in older reports).
    #[serde(default)]
    pub target_stats: Vec<StatSeries>,
    /// One row per stage of the plan that ran (see [`super::stage_table`]): derived from the
    /// timeline, resources and stats when the report is made or merged, kept here so the JSON
    /// report carries the stage table.
    #[serde(default)]
    pub stages: Vec<super::stage_table::StageRow>,
    /// The overall score and its band (see [`super::grade`]), set when the run is graded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<super::grade::Score>,
    /// The rows each scenario with a `data:` file took, in the warm-up and in the run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data: Vec<DataUse>,
    /// Set when the run ended because a scenario's `unique` data ran out, before the profile's
    /// end: a normal end with `on_exhausted: stop`, a failed run (exit 3) with `fail`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_exhausted: Option<DataExhausted>,
    /// How the users of an `--iterations` run ended: all done, or cut by the duration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iterations: Option<IterationsDone>,
    /// The `abort_on_fail` threshold that stopped the run early, when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aborted: Option<Abort>,
}

/// The users of an `--iterations` run at its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IterationsDone {
    /// Virtual users started.
    pub users: u64,
    /// Users that ran all their iterations.
    pub users_done: u64,
    /// What ended the run.
    pub ended_by: IterationsEnd,
}

/// What ended an `--iterations` run, from the best end to the worst (a merge keeps the worst).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IterationsEnd {
    /// Every user ran its iterations.
    Iterations,
    /// The duration (the upper bound) ran out first.
    Duration,
    /// A stop came first: Ctrl-C, the Stop button, an `abort_on_fail` threshold or `unique`
    /// data running out.
    Stopped,
}

/// A threshold with `abort_on_fail` crossed during the run: the run stopped there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Abort {
    /// The threshold as written, e.g. `error_rate < 1%`.
    pub threshold: String,
    /// When it was crossed, seconds since the run started.
    pub offset_seconds: f64,
    /// The verdict at that moment, e.g. `error_rate 12.5% is 11.5% over 1%`.
    pub detail: String,
}

/// What one scenario's test data gave: the file, how it was read and how many rows were taken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataUse {
    /// Target name.
    pub target: String,
    /// Scenario (or flow) name.
    pub scenario: String,
    /// The data file, as resolved against the config file's directory.
    pub file: String,
    /// `sequential`, `random` or `unique`.
    pub mode: String,
    /// Rows in the file.
    pub file_rows: u64,
    /// Rows the warm-up took (they are not in the run's figures; in `unique` mode the run
    /// never takes them again).
    pub warmup_rows: u64,
    /// Rows the run took: one per iteration (flow run or request) that started.
    pub rows: u64,
}

/// The scenario whose `unique` data ran out first, and what the config said to do then.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataExhausted {
    /// Target name.
    pub target: String,
    /// Scenario (or flow) name.
    pub scenario: String,
    /// The data file.
    pub file: String,
    /// Rows handed out, each sent once (warm-up included): the whole file, or in a
    /// distributed run this shard's share of it (summed when shard reports merge).
    pub rows: u64,
    /// `stop` (the run ended normally, thresholds decide) or `fail` (the run failed: exit 3,
    /// reason `data_exhausted`).
    pub on_exhausted: String,
}

impl DataExhausted {
    /// The run must fail because of it (`on_exhausted: fail`).
    pub fn fails(&self) -> bool {
        self.on_exhausted == "fail"
    }
}

/// One Prometheus query evaluated every `interval_seconds` during the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuerySeries {
    /// The name given in `load.prometheus.queries` (thresholds say `prometheus.NAME`).
    pub name: String,
    /// The PromQL expression.
    pub query: String,
    /// Evaluations in time order.
    pub samples: Vec<QuerySample>,
}

/// One instant-query evaluation: a value, or why there is none (never a made-up 0).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuerySample {
    /// Seconds since the run started (the query's evaluation time).
    pub offset_seconds: f64,
    /// The single value the query returned; `None` when it failed or returned no data.
    pub value: Option<f64>,
    /// Why there is no value: the error Prometheus or the connection gave, or `no data`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

impl QuerySeries {
    /// The values that were returned, in time order.
    pub fn values(&self) -> impl Iterator<Item = (f64, f64)> + '_ {
        self.samples
            .iter()
            .filter_map(|s| s.value.map(|v| (s.offset_seconds, v)))
    }
}

/// The warm-up: scenarios at a low rate before the measured run, kept out of every statistic
/// and threshold, shown on their own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Warmup {
    /// Length of the warm-up, seconds.
    pub duration_seconds: f64,
    /// Arrival rate of the warm-up, requests/s.
    pub rate: f64,
    /// Per-scenario totals of the warm-up's requests.
    pub scenarios: Vec<ScenarioStats>,
}

/// One finding: what the run shows, the figures that show it and where to look next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// The rule that found it: `error_ratio`, `tail_latency`, `latency_knee`, `saturation` or
    /// `resource_limit`.
    pub rule: String,
    /// One line saying what was found, with its main figure.
    pub summary: String,
    /// The figures behind it, one line each (top reasons, slowest scenarios, stages).
    pub evidence: Vec<String>,
    /// What to look at next.
    pub next: String,
    /// The figures as numbers, by name (ratios 0–1, latencies in seconds), for tools.
    pub values: BTreeMap<String, f64>,
}

/// The load plan as run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanSummary {
    /// Profile name (`light`, `spike`, …) or the profile file's path.
    pub profile: String,
    /// `closed` (virtual users) or `open` (arrival rate).
    pub model: LoadModel,
    /// The stages, in order.
    pub stages: Vec<StageSummary>,
    /// The `--tags` filter the run was given (empty: every scenario); absent when unknown (a
    /// Locust run, a report of an older synthex), so comparisons do not warn about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// `--iterations=N`: each virtual user ran N iterations (a request, or a flow run) and
    /// stopped; the stages' length is then only an upper bound. Absent in other runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iterations: Option<u64>,
}

/// The two load models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LoadModel {
    /// Virtual users, each looping over scenarios with think time.
    Closed,
    /// Requests start at an arrival rate whatever the latency.
    Open,
}

/// One stage: over `duration_seconds`, move linearly to `target` users or requests/s.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageSummary {
    /// Stage length, seconds.
    pub duration_seconds: f64,
    /// Users (closed model) or requests per second (open model) at the end of the stage.
    pub target: f64,
    /// In a run of several profiles (`--profile=light,medium`), the profile this stage belongs
    /// to; absent in a single-profile run and for the pauses between profiles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
}

/// One shard of a distributed run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Shard {
    /// 0-based index.
    pub index: u32,
    /// Number of shards the load was split into.
    pub count: u32,
}

/// Totals of one scenario over the whole run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioStats {
    /// Target name from the config.
    pub target: String,
    /// Scenario name from the config.
    pub scenario: String,
    /// The step, for a row of a flow scenario.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// HTTP method (Locust's `Type` column).
    pub method: String,
    /// Finished requests, successful or not.
    pub requests: u64,
    /// Runs of the flow in which this step did not run because an earlier step failed; not
    /// requests, not failures.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub not_run: u64,
    /// Of which failed.
    pub failures: u64,
    /// Response body bytes read, for the average content size.
    pub body_bytes: u64,
    /// Responses by cache result.
    pub cache_hits: u64,
    /// Responses classified as cache misses.
    pub cache_misses: u64,
    /// Latency of every finished request (failed ones included, as Locust does).
    pub latency: LatencyHistogram,
    /// This scenario's share of each timeline interval: entry `i` belongs to `timeline[i]`
    /// (a report may hold fewer entries: the rest had no request). Empty in reports written
    /// before synthex kept it; the per-scenario charts are then left out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timeline: Vec<ScenarioInterval>,
}

/// One scenario during one timeline interval.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScenarioInterval {
    /// Requests of the scenario finished in the interval.
    pub requests: u64,
    /// Of which failed.
    pub failures: u64,
    /// Their latencies.
    pub latency: LatencyHistogram,
}

impl ScenarioStats {
    /// The row's name: `scenario`, or `flow/step` for a step of a flow (Locust's `Name`).
    pub fn name(&self) -> String {
        row_name(&self.scenario, self.step.as_deref())
    }
}

impl FailureGroup {
    /// The failed row's name: `scenario`, or `flow/step`.
    pub fn name(&self) -> String {
        row_name(&self.scenario, self.step.as_deref())
    }
}

/// `scenario`, or `scenario/step`.
pub fn row_name(scenario: &str, step: Option<&str>) -> String {
    match step {
        Some(step) => format!("{scenario}/{step}"),
        None => scenario.to_string(),
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Whole runs of one flow scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlowStats {
    /// Target name from the config.
    pub target: String,
    /// The flow's scenario name.
    pub scenario: String,
    /// Runs that finished (successful or not).
    pub runs: u64,
    /// Of which a step failed (ending the run).
    pub failures: u64,
    /// Duration of each run, from its start to the end of its last step that ran.
    pub duration: LatencyHistogram,
}

/// Failures of one scenario with the same reason and message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailureGroup {
    /// Target name.
    pub target: String,
    /// Scenario name.
    pub scenario: String,
    /// The step, for a failure of a flow's step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// HTTP method.
    pub method: String,
    /// Failure class (`timeout`, `http_status`, …).
    pub reason: String,
    /// The message, e.g. `expected status 200, got 503`.
    pub message: String,
    /// How many requests failed this way.
    pub occurrences: u64,
    /// When the first of them finished, Unix seconds (Locust's `First Seen`); absent in
    /// reports of older synthex versions.
    #[serde(default)]
    pub first_seen: Option<f64>,
    /// When the last of them finished, Unix seconds (Locust's `Last Seen`).
    #[serde(default)]
    pub last_seen: Option<f64>,
}

/// What happened during one timeline interval, all scenarios together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// Interval start, seconds since the run started.
    pub offset_seconds: f64,
    /// Virtual users running at the end of the interval (closed model; 0 in the open model).
    pub users: u64,
    /// Scheduled arrival rate at the end of the interval (open model; 0 in the closed model).
    pub target_rate: f64,
    /// Requests finished in the interval.
    pub requests: u64,
    /// Of which failed.
    pub failures: u64,
    /// Latency of the requests finished in the interval.
    pub latency: LatencyHistogram,
    /// Of the interval's responses, those classified as cache hits (0 in older reports).
    #[serde(default)]
    pub cache_hits: u64,
    /// Those classified as cache misses.
    #[serde(default)]
    pub cache_misses: u64,
    /// Length of the interval when it is not `timeline_interval_seconds`: the last interval
    /// ends with the run (a run rarely lasts a whole number of intervals), so its rates are
    /// per its own length. Absent for a full interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<f64>,
    /// The interval's failures by reason (`timeout`, `http_status`, …); empty in reports
    /// written before synthex kept it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub failure_reasons: BTreeMap<String, u64>,
}

impl Interval {
    /// An interval at `offset_seconds` where nothing happened yet.
    pub fn empty(offset_seconds: f64, users: u64, target_rate: f64) -> Interval {
        Interval {
            offset_seconds,
            users,
            target_rate,
            requests: 0,
            failures: 0,
            latency: LatencyHistogram::new(),
            cache_hits: 0,
            cache_misses: 0,
            duration_seconds: None,
            failure_reasons: BTreeMap::new(),
        }
    }

    /// The interval's length, given the report's `timeline_interval_seconds`.
    pub fn length(&self, step: f64) -> f64 {
        self.duration_seconds.unwrap_or(step)
    }
}

/// A series of resource samples from one host (and optionally one watched process group).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceSeries {
    /// Which shard (host) sampled it.
    pub shard: u32,
    /// `host`, or the watched process group's name from the config.
    pub source: String,
    /// Samples in time order.
    pub samples: Vec<ResourceSample>,
}

/// The values of one stats-endpoint field of one target during the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatSeries {
    /// Target name.
    pub target: String,
    /// The field (`cache.hits`), as `synthex_target_stat` labels it.
    pub field: String,
    /// `(seconds since the run started, value)`, in time order.
    pub samples: Vec<(f64, f64)>,
}

/// One resource sample.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ResourceSample {
    /// Seconds since the run started.
    pub offset_seconds: f64,
    /// CPU usage: host busy ratio 0–1 over all cores, or for a process CPU seconds per second.
    pub cpu_ratio: f64,
    /// Memory in use (host) or resident memory (process), bytes.
    pub memory_bytes: u64,
}

/// One threshold's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdResult {
    /// The threshold as written, e.g. `p95 < 50ms` or `order_status: error_rate < 1%`.
    pub expression: String,
    /// The measured value, in the threshold's unit (seconds, ratio or requests/s).
    pub measured: Option<f64>,
    /// Whether it held; a threshold on a scenario without requests fails.
    pub passed: bool,
    /// Human-readable verdict, e.g. `p95 62.1ms is 12.1ms over 50ms`.
    pub detail: String,
    /// In a run of several profiles, the profile judged (each threshold is judged on each
    /// profile on its own); absent in a run of one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
}

impl ThresholdResult {
    /// The threshold as the reports list it: the expression, after its profile in a run of
    /// several (`[heavy] p95 < 50ms`).
    pub fn label(&self) -> String {
        match &self.profile {
            Some(profile) => format!("[{profile}] {}", self.expression),
            None => self.expression.clone(),
        }
    }
}

/// The result of a breaking-point search.
///
/// Its levels are in the unit the search raised: requests/s when `model` is `open` (the rate
/// search), virtual users when it is `closed` (`--find-breaking-point=users`); the field names
/// say rate for the older, rate-only reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BreakingPoint {
    /// What was raised: `open` the arrival rate, `closed` the virtual users (absent in reports
    /// of older versions, which only searched on rate).
    #[serde(default = "rate_search")]
    pub model: LoadModel,
    /// Highest level (rate, or users) whose step met every threshold; `None` when the first
    /// step broke.
    pub highest_passing_rate: Option<f64>,
    /// The level of the first step that broke, if any step broke.
    pub breaking_rate: Option<f64>,
    /// What broke first there, e.g. `p95 < 200ms` or `error_rate 12% > 5%`.
    pub first_broken: Option<String>,
    /// One point per step: the rate → latency and error curve.
    pub steps: Vec<BreakingStep>,
}

fn rate_search() -> LoadModel {
    LoadModel::Open
}

impl BreakingPoint {
    /// A level of the search in its unit: `12.5 req/s`, `40 users`.
    pub fn level(&self, level: f64) -> String {
        match self.model {
            LoadModel::Open => format!("{} req/s", super::format::decimals(level, 1)),
            LoadModel::Closed => format!("{} users", super::format::decimals(level, 0)),
        }
    }
}

/// One step of the breaking-point search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BreakingStep {
    /// The step's level: scheduled arrival rate (requests/s), or virtual users in a users
    /// search.
    pub target_rate: f64,
    /// Achieved rate of finished requests, requests/s.
    pub achieved_rate: f64,
    /// 95th percentile latency, seconds.
    pub p95_seconds: Option<f64>,
    /// Failed share of the step's requests.
    pub error_ratio: Option<f64>,
    /// Whether every threshold held in this step.
    pub passed: bool,
}

/// An HDR latency histogram in microseconds, serialised as its non-empty buckets so that it
/// can be merged exactly: `[[value_us, count], …]`, where `value_us` is the highest value
/// equivalent to the bucket (re-recording it lands in the same bucket).
///
/// An empty histogram allocates nothing (an HDR histogram's smallest array is 16 KiB), so a
/// report's empty timeline intervals cost almost nothing, read back or merged. Latencies are
/// capped at [`MAX_LATENCY`] and counts never wrap: a report read from a file that breaks
/// either is refused.
///
/// A histogram that takes no more samples can be [`LatencyHistogram::pack`]ed: it then keeps
/// only its non-empty buckets ([`PackedBuckets`], a few KiB instead of tens), reads the same
/// figures, and becomes dense again if it takes another sample.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "SerializedHistogram", into = "SerializedHistogram")]
pub struct LatencyHistogram {
    samples: Samples,
}

/// Where a [`LatencyHistogram`]'s samples are.
#[derive(Debug, Clone)]
enum Samples {
    /// None yet: nothing allocated.
    Empty,
    /// Recording.
    Dense(Histogram<u64>),
    /// Kept ([`LatencyHistogram::pack`]).
    Packed(PackedBuckets),
}

/// Two histograms are equal when they hold the same samples, dense or packed.
impl PartialEq for LatencyHistogram {
    fn eq(&self, other: &LatencyHistogram) -> bool {
        self.count() == other.count() && self.buckets().eq(other.buckets())
    }
}

/// The longest latency a histogram holds (one day); longer ones are recorded as this. It
/// bounds a histogram's memory, whatever a report file says.
pub const MAX_LATENCY: Duration = Duration::from_secs(86_400);

#[derive(Serialize, Deserialize)]
struct SerializedHistogram {
    significant_digits: u8,
    buckets: Vec<(u64, u64)>,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram::new()
    }
}

impl LatencyHistogram {
    /// An empty histogram that grows to fit any latency up to [`MAX_LATENCY`].
    pub fn new() -> LatencyHistogram {
        LatencyHistogram {
            samples: Samples::Empty,
        }
    }

    /// Adds one latency.
    pub fn record(&mut self, latency: Duration) {
        self.record_n_at(latency, 1);
    }

    /// Adds `count` samples of one latency (rebuilding a histogram from another tool's
    /// percentiles, see [`super::locust_input`]).
    pub fn record_n_at(&mut self, latency: Duration, count: u64) {
        let micros = u64::try_from(latency.min(MAX_LATENCY).as_micros()).unwrap_or(u64::MAX);
        self.record_n(micros, count);
    }

    fn record_n(&mut self, micros: u64, count: u64) {
        if count == 0 {
            return;
        }
        record_into(self.dense(), micros, count);
    }

    /// The dense histogram to record into: made on the first sample, unpacked after a pack.
    fn dense(&mut self) -> &mut Histogram<u64> {
        if !matches!(self.samples, Samples::Dense(_)) {
            let histogram = self.unpacked();
            self.samples = Samples::Dense(histogram);
        }
        match &mut self.samples {
            Samples::Dense(histogram) => histogram,
            Samples::Empty | Samples::Packed(_) => unreachable!("made dense just above"),
        }
    }

    /// A dense histogram holding these samples.
    fn unpacked(&self) -> Histogram<u64> {
        let mut histogram = Histogram::new(SIGNIFICANT_DIGITS)
            .expect("3 significant digits is within the HDR limit of 0..=5");
        histogram.auto(true);
        for (value, count) in self.buckets() {
            record_into(&mut histogram, value, count);
        }
        histogram
    }

    /// Whether the samples are held packed.
    #[cfg(test)]
    pub(crate) fn is_packed(&self) -> bool {
        matches!(self.samples, Samples::Packed(_))
    }

    /// Keeps only the non-empty buckets (see [`PackedBuckets`]): for a histogram that is done
    /// recording, such as a closed timeline interval's. Every figure read stays the same.
    pub fn pack(&mut self) {
        if let Samples::Dense(histogram) = &self.samples {
            self.samples = if histogram.is_empty() {
                Samples::Empty
            } else {
                Samples::Packed(PackedBuckets::pack(self.buckets()))
            };
        }
    }

    /// Adds every sample of `other` (exact: bucket counts add up); `None`, and nothing added,
    /// when the total count would pass `u64::MAX`.
    pub fn checked_merge(&mut self, other: &LatencyHistogram) -> Option<()> {
        self.count().checked_add(other.count())?;
        for (value, count) in other.buckets() {
            self.record_n(value, count);
        }
        Some(())
    }

    /// Adds every sample of `other` (exact: bucket counts add up), saturating at `u64::MAX`
    /// samples: for histograms of one run, which cannot get near it.
    pub fn merge(&mut self, other: &LatencyHistogram) {
        for (value, count) in other.buckets() {
            self.record_n(value, count);
        }
    }

    /// Number of samples.
    pub fn count(&self) -> u64 {
        match &self.samples {
            Samples::Empty => 0,
            Samples::Dense(histogram) => histogram.len(),
            Samples::Packed(packed) => packed.count(),
        }
    }

    /// The histogram when it holds samples (unpacked for the call when packed).
    fn recorded(&self) -> Option<Cow<'_, Histogram<u64>>> {
        match &self.samples {
            Samples::Empty => None,
            Samples::Dense(histogram) => Some(Cow::Borrowed(histogram)).filter(|h| !h.is_empty()),
            Samples::Packed(_) => Some(Cow::Owned(self.unpacked())),
        }
    }

    /// The latency at quantile `q` (0–1), `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        self.recorded()
            .map(|h| Duration::from_micros(h.value_at_quantile(q)))
    }

    /// Samples recorded above `latency` (to histogram precision, 0.1%).
    pub fn count_above(&self, latency: Duration) -> u64 {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.buckets()
            .filter(|(value, _)| *value > micros)
            .map(|(_, count)| count)
            .sum()
    }

    /// Smallest recorded latency.
    pub fn min(&self) -> Option<Duration> {
        self.recorded().map(|h| Duration::from_micros(h.min()))
    }

    /// Largest recorded latency (to histogram precision).
    pub fn max(&self) -> Option<Duration> {
        self.recorded().map(|h| Duration::from_micros(h.max()))
    }

    /// Standard deviation of the latencies (from the histogram's buckets).
    pub fn stdev(&self) -> Option<Duration> {
        self.recorded()
            .map(|h| Duration::from_secs_f64(h.stdev() / 1e6))
    }

    /// Mean latency.
    pub fn mean(&self) -> Option<Duration> {
        self.recorded()
            .map(|h| Duration::from_secs_f64(h.mean() / 1e6))
    }

    /// Non-empty buckets as `(highest equivalent value in µs, count)`, ascending.
    pub fn buckets(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        let (dense, packed) = match &self.samples {
            Samples::Empty => (None, None),
            Samples::Dense(histogram) => (Some(histogram), None),
            Samples::Packed(packed) => (None, Some(packed)),
        };
        let dense = dense.into_iter().flat_map(|h| {
            h.iter_recorded().map(|v| {
                (
                    h.highest_equivalent(v.value_iterated_to()),
                    v.count_at_value(),
                )
            })
        });
        dense.chain(packed.into_iter().flat_map(PackedBuckets::iter))
    }
}

/// Records `count` samples of `micros`; an auto-resizing histogram only refuses values beyond
/// its u64 range, which are clamped.
fn record_into(histogram: &mut Histogram<u64>, micros: u64, count: u64) {
    if histogram.record_n(micros, count).is_err() {
        histogram.saturating_record_n(micros, count);
    }
}

impl From<LatencyHistogram> for SerializedHistogram {
    fn from(h: LatencyHistogram) -> SerializedHistogram {
        SerializedHistogram {
            significant_digits: SIGNIFICANT_DIGITS,
            buckets: h.buckets().collect(),
        }
    }
}

impl TryFrom<SerializedHistogram> for LatencyHistogram {
    type Error = String;

    fn try_from(s: SerializedHistogram) -> Result<LatencyHistogram, String> {
        if s.significant_digits != SIGNIFICANT_DIGITS {
            return Err(format!(
                "histogram with {} significant digits, expected {SIGNIFICANT_DIGITS}",
                s.significant_digits
            ));
        }
        // The highest value equivalent to MAX_LATENCY's bucket is a little above it.
        let limit = MAX_LATENCY.as_micros() as u64 + MAX_LATENCY.as_micros() as u64 / 1000;
        let mut histogram = LatencyHistogram::new();
        let mut total: u64 = 0;
        for (value, count) in s.buckets {
            if value > limit {
                return Err(format!(
                    "histogram bucket {value} µs is beyond the longest latency kept ({limit} µs, one day)"
                ));
            }
            total = total
                .checked_add(count)
                .ok_or("histogram counts add up to more than 2^64")?;
            histogram.record_n(value, count);
        }
        Ok(histogram)
    }
}

/// Per-row lookup key, `(target, name)` ([`ScenarioStats::name`]).
pub type ScenarioKey = (String, String);

impl Report {
    /// Totals over every scenario: requests, failures and the merged latency histogram.
    pub fn total(&self) -> (u64, u64, LatencyHistogram) {
        let mut latency = LatencyHistogram::new();
        let (mut requests, mut failures) = (0, 0);
        for s in &self.scenarios {
            requests += s.requests;
            failures += s.failures;
            latency.merge(&s.latency);
        }
        (requests, failures, latency)
    }

    /// A report of one breaking-point step: just its scenarios and length, so thresholds can
    /// judge the step on its own requests.
    pub fn for_step(scenarios: Vec<ScenarioStats>, length: Duration) -> Report {
        Report::of_scenarios("step", LoadModel::Open, scenarios, length.as_secs_f64())
    }

    /// A report holding only `scenarios` over `duration_seconds` under a named plan, every other
    /// part empty: what a breaking-point step or a Locust CSV (which keeps no timeline) gives.
    pub fn of_scenarios(
        profile: &str,
        model: LoadModel,
        scenarios: Vec<ScenarioStats>,
        duration_seconds: f64,
    ) -> Report {
        Report {
            schema_version: SCHEMA_VERSION,
            synthex_version: env!("CARGO_PKG_VERSION").to_string(),
            config: String::new(),
            plan: PlanSummary {
                profile: profile.to_string(),
                model,
                stages: Vec::new(),
                tags: None,
                iterations: None,
            },
            started_at: 0.0,
            duration_seconds,
            interrupted: false,
            shards: Vec::new(),
            scenarios,
            flows: Vec::new(),
            failures: Vec::new(),
            timeline: Vec::new(),
            timeline_interval_seconds: 1.0,
            resources: Vec::new(),
            thresholds: Vec::new(),
            breaking_point: None,
            prometheus: Vec::new(),
            warmup: None,
            findings: Vec::new(),
            target_stats: Vec::new(),
            stages: Vec::new(),
            score: None,
            data: Vec::new(),
            data_exhausted: None,
            iterations: None,
            aborted: None,
        }
    }

    /// Rows by `(target, name)`.
    pub fn scenario_map(&self) -> BTreeMap<ScenarioKey, &ScenarioStats> {
        self.scenarios
            .iter()
            .map(|s| ((s.target.clone(), s.name()), s))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_survives_json_and_merges_exactly() {
        let mut a = LatencyHistogram::new();
        let mut b = LatencyHistogram::new();
        for ms in 1..=100u64 {
            a.record(Duration::from_millis(ms));
            b.record(Duration::from_micros(ms * 1_234));
        }
        b.record(Duration::from_secs(30));
        let json = serde_json::to_string(&a).unwrap();
        let back: LatencyHistogram = serde_json::from_str(&json).unwrap();
        assert_eq!(back, a);

        let mut merged = back;
        merged.merge(&b);
        let mut union = LatencyHistogram::new();
        for ms in 1..=100u64 {
            union.record(Duration::from_millis(ms));
            union.record(Duration::from_micros(ms * 1_234));
        }
        union.record(Duration::from_secs(30));
        assert_eq!(merged, union);
        assert_eq!(merged.count(), 201);
        for q in [0.5, 0.95, 0.99, 1.0] {
            assert_eq!(merged.quantile(q), union.quantile(q));
        }
    }

    #[test]
    fn a_packed_histogram_reads_the_same_as_the_dense_one_it_came_from() {
        // Latencies from 1 µs to 20 s, denser below 2 ms as a load test's are, with repeats.
        let mut dense = LatencyHistogram::new();
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for i in 0..50_000u64 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let micros = match i % 10 {
                0 => state % 20_000_000,
                1..=3 => state % 65_000,
                _ => 100 + state % 1_900,
            };
            dense.record(Duration::from_micros(micros.max(1)));
        }
        let mut packed = dense.clone();
        packed.pack();
        assert!(packed.is_packed());
        assert_eq!(packed.count(), 50_000);
        assert_eq!(packed, dense);
        let quantiles = [0.0, 0.001, 0.1, 0.5, 0.9, 0.95, 0.99, 0.999, 0.9999, 1.0];
        for q in quantiles {
            assert_eq!(packed.quantile(q), dense.quantile(q), "q {q}");
        }
        assert_eq!(packed.min(), dense.min());
        assert_eq!(packed.max(), dense.max());
        assert_eq!(packed.mean(), dense.mean());
        assert_eq!(packed.stdev(), dense.stdev());
        for ms in [0, 1, 2, 65, 1_000, 30_000] {
            let at = Duration::from_millis(ms);
            assert_eq!(packed.count_above(at), dense.count_above(at), "{ms} ms");
        }
        assert_eq!(
            serde_json::to_string(&packed).unwrap(),
            serde_json::to_string(&dense).unwrap()
        );
        // Even for samples this spread (about 9,000 distinct buckets), a fraction of the size.
        let (Samples::Packed(buckets), Samples::Dense(histogram)) =
            (&packed.samples, &dense.samples)
        else {
            unreachable!("packed and dense above")
        };
        let dense_bytes = histogram.distinct_values() * size_of::<u64>();
        assert!(
            buckets.size() * 5 < dense_bytes,
            "{} bytes packed, {dense_bytes} dense",
            buckets.size()
        );

        // Merged either way round, and recorded into again, it is still the same histogram.
        let mut more = LatencyHistogram::new();
        more.merge(&packed);
        assert_eq!(more, dense);
        packed.record(Duration::from_millis(3));
        dense.record(Duration::from_millis(3));
        assert!(!packed.is_packed());
        assert_eq!(packed, dense);
        assert_eq!(packed.quantile(0.5), dense.quantile(0.5));

        // An empty histogram packs to nothing.
        let mut empty = LatencyHistogram::new();
        empty.pack();
        assert_eq!((empty.count(), empty.quantile(0.5)), (0, None));
    }

    #[test]
    fn a_histogram_with_another_precision_is_refused() {
        let error = serde_json::from_str::<LatencyHistogram>(
            r#"{"significant_digits": 2, "buckets": [[1000, 1]]}"#,
        )
        .unwrap_err();
        assert!(error.to_string().contains("expected 3"), "{error}");
    }
}
