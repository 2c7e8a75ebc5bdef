//! `synthex run`: wires the config into running parts and owns their lifecycle.
//!
//! Start-up builds everything that can fail on bad input (probes with their TLS roots, metrics)
//! before the first request, so a bad config never half-starts. Shutdown stops the schedules
//! first, lets in-flight requests finish within `shutdown_grace`, and only then stops serving
//! `/metrics`, so a last scrape still sees the final counts.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::Duration;

use crate::http_server::Listener;
use rand::SeedableRng;
use rand::rngs::StdRng;
use thiserror::Error;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::exporter::{self, AppState};
use crate::metrics::{Metrics, SkipReason};
use crate::outcome::{FailureReason, Outcome};
use crate::probe::Probe;
use crate::sampler::Sampler;
use crate::scenario::Config;
use crate::scheduler::{self, Dispatch, Plan};
use crate::stats_poller::StatsPoller;

/// Why the daemon could not start or stopped abnormally.
#[derive(Debug, Error)]
pub enum DaemonError {
    /// A target's settings could not be turned into a working client (e.g. an unreadable CA
    /// file): a configuration problem, exit status 2.
    #[error("target {target:?}: {message}")]
    Target {
        /// The target's name.
        target: String,
        /// What was wrong.
        message: String,
    },
    /// The metrics registry refused a metric: a bug, exit status 1.
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// The exporter failed to serve.
    #[error("web server: {0}")]
    Io(#[from] std::io::Error),
}

/// Runs the daemon on `listener` until `shutdown` resolves.
pub async fn run(
    config: Config,
    listener: impl Into<Listener> + Send + 'static,
    shutdown: impl Future<Output = ()>,
) -> Result<(), DaemonError> {
    let config = Arc::new(config);
    let metrics = Arc::new(Metrics::new(&config)?);
    let runners = build_runners(&config, &metrics)?;
    let sampler = Sampler::new(&config.resources, metrics.registry())?;
    let stats = Arc::new(StatsPoller::new(metrics.registry())?);

    let schedule_stop = CancellationToken::new();
    let serve_stop = CancellationToken::new();
    let background = TaskTracker::new();
    let requests = TaskTracker::new();
    let ready = Arc::new(AtomicBool::new(false));

    let state = Arc::new(AppState {
        metrics: Arc::clone(&metrics),
        ready: Arc::clone(&ready),
    });
    let server = tokio::spawn(exporter::serve(listener, state, serve_stop.clone()));

    background.spawn(sampler.run(schedule_stop.clone()));
    for runner in &runners {
        let target = &config.targets[runner.index];
        if let Some(endpoint) = &target.stats {
            let (stats, runner, name, endpoint, stop) = (
                Arc::clone(&stats),
                Arc::clone(runner),
                target.name.clone(),
                endpoint.clone(),
                schedule_stop.clone(),
            );
            background.spawn(async move { stats.run(&name, &endpoint, &runner.probe, stop).await });
        }
    }
    for runner in runners {
        let plan = Plan::for_target(&config.targets[runner.index], config.global.jitter);
        let rng = StdRng::from_rng(&mut rand::rng());
        background.spawn(scheduler::run(
            plan,
            runner,
            rng,
            requests.clone(),
            schedule_stop.clone(),
        ));
    }
    background.spawn(mark_ready(
        Arc::clone(&metrics),
        ready,
        schedule_stop.clone(),
    ));
    tracing::info!(
        config = %config.source.display(),
        targets = config.targets.len(),
        "synthex started"
    );

    tokio::select! {
        () = shutdown => {}
        result = wait_server(server) => return result,
    }
    schedule_stop.cancel();
    background.close();
    background.wait().await;
    drain(&requests, config.global.shutdown_grace).await;
    serve_stop.cancel();
    Ok(())
}

/// Builds one runner (probe + metrics handle) per target, failing on the first bad target.
fn build_runners(
    config: &Arc<Config>,
    metrics: &Arc<Metrics>,
) -> Result<Vec<Arc<TargetRunner>>, DaemonError> {
    config
        .targets
        .iter()
        .enumerate()
        .map(|(index, target)| {
            let probe = Probe::new(target, &config.global).map_err(|e| DaemonError::Target {
                target: target.name.clone(),
                message: e.to_string(),
            })?;
            Ok(Arc::new(TargetRunner {
                index,
                config: Arc::clone(config),
                probe,
                metrics: Arc::clone(metrics),
                last_state: target
                    .scenarios
                    .iter()
                    .map(|_| AtomicU8::new(STATE_UNKNOWN))
                    .collect(),
            }))
        })
        .collect()
}

/// Waits for in-flight requests, at most `grace`.
async fn drain(requests: &TaskTracker, grace: Duration) {
    requests.close();
    let in_flight = requests.len();
    if in_flight > 0 {
        tracing::info!(in_flight, grace = %humantime::format_duration(grace), "waiting for in-flight requests");
    }
    if tokio::time::timeout(grace, requests.wait()).await.is_err() {
        tracing::warn!(
            abandoned = requests.len(),
            "shutdown grace period ran out; abandoning requests still in flight"
        );
    }
}

async fn wait_server(
    server: tokio::task::JoinHandle<std::io::Result<()>>,
) -> Result<(), DaemonError> {
    match server.await {
        Ok(result) => result.map_err(DaemonError::from),
        Err(join) => Err(DaemonError::Io(std::io::Error::other(join.to_string()))),
    }
}

/// `/-/ready` turns green once every target has a first result (success or failure), so a
/// Prometheus scrape after readiness never sees an empty exporter.
async fn mark_ready(metrics: Arc<Metrics>, ready: Arc<AtomicBool>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        if metrics.has_results() {
            ready.store(true, Ordering::Release);
            tracing::info!("first results in for every target: ready");
            return;
        }
    }
}

const STATE_UNKNOWN: u8 = u8::MAX;
const STATE_OK: u8 = u8::MAX - 1;

/// Runs one target's slots: probe, record, and log when a scenario's failure class changes.
struct TargetRunner {
    index: usize,
    config: Arc<Config>,
    probe: Probe,
    metrics: Arc<Metrics>,
    /// Per scenario: the last failure reason (as its index in `FailureReason::ALL`), `STATE_OK`
    /// or `STATE_UNKNOWN`; logging only on change keeps info logs to one line per incident.
    last_state: Vec<AtomicU8>,
}

impl Dispatch for TargetRunner {
    fn dispatch(
        self: &Arc<Self>,
        scenario: usize,
        due: Instant,
    ) -> impl Future<Output = ()> + Send + 'static {
        let me = Arc::clone(self);
        async move {
            let gauge = me.metrics.in_flight(me.index);
            gauge.inc();
            let outcome = me
                .probe
                .run(&me.config.targets[me.index].scenarios[scenario], due)
                .await;
            gauge.dec();
            me.metrics.record(me.index, scenario, &outcome);
            me.log_change(scenario, &outcome);
        }
    }

    fn skipped(&self, reason: SkipReason) {
        self.metrics.record_skip(self.index, reason);
    }
}

impl TargetRunner {
    fn log_change(&self, scenario: usize, outcome: &Outcome) {
        let target = &self.config.targets[self.index];
        let name = &target.scenarios[scenario].name;
        let state = match &outcome.failure {
            None => STATE_OK,
            Some(f) => FailureReason::ALL
                .iter()
                .position(|r| *r == f.reason)
                .unwrap_or(0) as u8,
        };
        let before = self.last_state[scenario].swap(state, Ordering::AcqRel);
        let latency_ms = outcome.latency.as_secs_f64() * 1e3;
        match (&outcome.failure, before == state) {
            (Some(f), false) => tracing::warn!(
                target = %target.name, scenario = %name, reason = %f.reason, error = %f.message,
                "scenario failing"
            ),
            (None, false) if before != STATE_UNKNOWN => tracing::info!(
                target = %target.name, scenario = %name, latency_ms, "scenario recovered"
            ),
            _ => tracing::debug!(
                target = %target.name, scenario = %name, code = outcome.status.unwrap_or(0), latency_ms,
                failure = outcome.failure.as_ref().map(|f| f.reason.as_str()).unwrap_or(""),
                "request finished"
            ),
        }
    }
}
