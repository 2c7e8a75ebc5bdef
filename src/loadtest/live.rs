//! What the live page of a running load test reads (`GET /api/v1/load`), and its Stop.
//!
//! The page polls every second with `?since=N`, N being the first timeline interval it does
//! not have yet, so each answer carries only the new one-second points (users or rate,
//! requests/s, failures/s, p50/p95/p99) plus the current totals: the per-scenario table and
//! the failures. An hour-long test costs the same per poll as a minute-long one.
//!
//! Stop (`POST /-/stop`, with `--web.enable-lifecycle`) ends the test at once: no new request
//! starts, the requests in flight are cut and counted as interrupted, and the reports are
//! written as after Ctrl-C (the run is marked interrupted, exit status 130).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::recorder::{IntervalFigures, LIVE_QUANTILES, Recorder};
use crate::report::model::{LoadModel, ScenarioStats};

/// Failure groups sent to the page (the most frequent first); the reports have them all.
const MAX_FAILURE_ROWS: usize = 20;

/// The running test, as the exporter sees it.
pub struct LiveTest {
    recorder: Arc<Recorder>,
    model: LoadModel,
    profile: String,
    planned: Duration,
    /// The run's stop: no new request starts.
    stop: CancellationToken,
    /// Cuts the requests in flight (counted as interrupted).
    stop_now: CancellationToken,
    /// Whether `POST /-/stop` acts (`--web.enable-lifecycle`), for the page's button.
    can_stop: bool,
    stopped_from_page: AtomicBool,
}

/// The answer of `GET /api/v1/load`.
#[derive(Debug, Serialize)]
pub struct LiveDocument {
    /// `running`, `stopping` (stopped, the requests in flight ending, reports being written).
    pub state: &'static str,
    /// `closed` (users) or `open` (arrival rate).
    pub model: LoadModel,
    /// Profile name or file.
    pub profile: String,
    /// Seconds since the start.
    pub elapsed_seconds: f64,
    /// Planned length, seconds.
    pub planned_seconds: f64,
    /// Length of one point, seconds.
    pub interval_seconds: f64,
    /// Whether the Stop button works (`--web.enable-lifecycle`).
    pub can_stop: bool,
    /// Requests finished so far.
    pub requests: u64,
    /// Of which failed.
    pub failures: u64,
    /// Index of the next point to ask for (`?since=`).
    pub next: usize,
    /// The complete one-second points from `since` on.
    pub points: Vec<LivePoint>,
    /// One row per scenario, in config order.
    pub scenarios: Vec<ScenarioRow>,
    /// The most frequent failures, at most 20 rows.
    pub failure_groups: Vec<FailureRow>,
}

/// One second of the test.
#[derive(Debug, Serialize, PartialEq)]
pub struct LivePoint {
    /// Start of the interval, seconds since the start.
    pub offset_seconds: f64,
    /// Users (closed model) or scheduled requests/s (open model) at its end.
    pub level: f64,
    /// Requests finished per second.
    pub requests_per_second: f64,
    /// Failed requests per second.
    pub failures_per_second: f64,
    /// Latency percentiles of the second.
    #[serde(flatten)]
    pub latency: Percentiles,
}

/// p50, p95 and p99 in seconds; `null` without requests.
#[derive(Debug, Serialize, PartialEq)]
pub struct Percentiles {
    /// 50th percentile.
    pub p50_seconds: Option<f64>,
    /// 95th percentile.
    pub p95_seconds: Option<f64>,
    /// 99th percentile.
    pub p99_seconds: Option<f64>,
}

impl Percentiles {
    fn of(values: [Option<Duration>; 3]) -> Percentiles {
        let [p50, p95, p99] = values.map(|d| d.map(|d| d.as_secs_f64()));
        Percentiles {
            p50_seconds: p50,
            p95_seconds: p95,
            p99_seconds: p99,
        }
    }
}

/// One scenario's totals so far.
#[derive(Debug, Serialize)]
pub struct ScenarioRow {
    /// Target name.
    pub target: String,
    /// Scenario name.
    pub scenario: String,
    /// HTTP method.
    pub method: String,
    /// Requests finished.
    pub requests: u64,
    /// Of which failed.
    pub failures: u64,
    /// Average requests per second since the start.
    pub requests_per_second: f64,
    /// Percentiles over the whole run so far.
    #[serde(flatten)]
    pub latency: Percentiles,
    /// Slowest.
    pub max_seconds: Option<f64>,
}

/// Failures of one scenario with one reason and message.
#[derive(Debug, Serialize)]
pub struct FailureRow {
    /// Target name.
    pub target: String,
    /// Scenario name.
    pub scenario: String,
    /// Failure class.
    pub reason: String,
    /// What happened.
    pub message: String,
    /// How often.
    pub occurrences: u64,
}

impl LiveTest {
    /// The live view of the test `recorder` collects: `stop` and `stop_now` are the run's
    /// own tokens (the ones Ctrl-C cancels).
    pub fn new(
        recorder: Arc<Recorder>,
        model: LoadModel,
        profile: String,
        planned: Duration,
        stop: CancellationToken,
        stop_now: CancellationToken,
        can_stop: bool,
    ) -> LiveTest {
        LiveTest {
            recorder,
            model,
            profile,
            planned,
            stop,
            stop_now,
            can_stop,
            stopped_from_page: AtomicBool::new(false),
        }
    }

    /// The load model.
    pub fn model(&self) -> LoadModel {
        self.model
    }

    /// The profile's name or file.
    pub fn profile(&self) -> &str {
        &self.profile
    }

    /// Whether the page's Stop button works.
    pub fn can_stop(&self) -> bool {
        self.can_stop
    }

    /// Ends the test now (see the module doc); said once in the log.
    pub fn stop(&self) {
        if !self.stopped_from_page.swap(true, Ordering::SeqCst) {
            tracing::warn!("load test stopped from its web page (POST /-/stop)");
        }
        self.stop.cancel();
        self.stop_now.cancel();
    }

    /// The document for a page that has every point before `since`.
    pub fn document(&self, since: usize) -> LiveDocument {
        let elapsed = Instant::now().saturating_duration_since(self.recorder.start());
        let interval = self.recorder.interval().as_secs_f64();
        let points = self.recorder.complete_intervals(since);
        let next = points.last().map_or(since, |p| p.index + 1);
        let stats = self.recorder.scenario_stats();
        let (requests, failures) = stats
            .iter()
            .fold((0, 0), |(r, f), s| (r + s.requests, f + s.failures));
        let seconds = elapsed.as_secs_f64();
        LiveDocument {
            state: if self.stop.is_cancelled() {
                "stopping"
            } else {
                "running"
            },
            model: self.model,
            profile: self.profile.clone(),
            elapsed_seconds: seconds,
            planned_seconds: self.planned.as_secs_f64(),
            interval_seconds: interval,
            can_stop: self.can_stop,
            requests,
            failures,
            next,
            points: points
                .iter()
                .map(|figures| point(figures, self.model, interval))
                .collect(),
            scenarios: stats.iter().map(|s| row(s, seconds)).collect(),
            failure_groups: self
                .recorder
                .failure_groups()
                .into_iter()
                .take(MAX_FAILURE_ROWS)
                .map(|group| FailureRow {
                    target: group.target,
                    scenario: group.scenario,
                    reason: group.reason,
                    message: group.message,
                    occurrences: group.occurrences,
                })
                .collect(),
        }
    }

    /// [`LiveTest::document`] as JSON text.
    pub fn json(&self, since: usize) -> String {
        // Numbers, strings and options only: serialising cannot fail.
        serde_json::to_string(&self.document(since)).unwrap_or_else(|_| "{}".to_string())
    }
}

fn point(figures: &IntervalFigures, model: LoadModel, interval: f64) -> LivePoint {
    LivePoint {
        offset_seconds: figures.offset_seconds,
        level: match model {
            LoadModel::Closed => figures.users as f64,
            LoadModel::Open => figures.target_rate,
        },
        requests_per_second: figures.requests as f64 / interval,
        failures_per_second: figures.failures as f64 / interval,
        latency: Percentiles::of(figures.latency),
    }
}

fn row(stats: &ScenarioStats, elapsed: f64) -> ScenarioRow {
    ScenarioRow {
        target: stats.target.clone(),
        scenario: stats.scenario.clone(),
        method: stats.method.clone(),
        requests: stats.requests,
        failures: stats.failures,
        requests_per_second: if elapsed > 0.0 {
            stats.requests as f64 / elapsed
        } else {
            0.0
        },
        latency: Percentiles::of(LIVE_QUANTILES.map(|q| stats.latency.quantile(q))),
        max_seconds: stats.latency.max().map(|d| d.as_secs_f64()),
    }
}
