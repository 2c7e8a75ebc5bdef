//! `synthex run`: wires the config into running parts and owns their lifecycle.
//!
//! Start-up builds everything that can fail on bad input (probes with their TLS roots, metrics)
//! before the first request, so a bad config never half-starts. A reload (SIGHUP,
//! `POST /-/reload`, a changed file) does the same with the new config before it changes
//! anything: a target whose definition is unchanged keeps its schedule and series, a changed one
//! gets a new schedule on the next slot (its requests in flight finish), a removed one stops and
//! its requests in flight are cancelled; a refused config leaves everything as it was. Shutdown stops the schedules
//! first, lets in-flight requests finish within `shutdown_grace`, and only then stops serving
//! `/metrics`: once a scrape has read the final counts, or when the grace period ends.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::time::Duration;

use crate::http_server::Listener;
use rand::SeedableRng;
use rand::rngs::StdRng;
use thiserror::Error;
use tokio::signal::unix::Signal;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::alarm::Alarm;
use crate::config::{self, ConfigError};
use crate::data::Mode;
use crate::definition::{runner_key, same};
use crate::exporter::{self, AppState};
use crate::flow::{self, Session, Via};
use crate::guard::{Admission, Guard, Guards};
use crate::metrics::{Metrics, SkipReason, TargetHandle};
use crate::outcome::{FailureReason, Outcome};
use crate::probe::{IdleConnections, Probe};
use crate::reload::{self, Trigger};
use crate::sampler::Sampler;
use crate::scenario::{Action, Config, StatsEndpoint, Target};
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

/// How the running daemon can be told to re-read its config (besides nothing: then it runs
/// the config it started with until it stops).
#[derive(Default)]
pub struct Options {
    /// `--web.enable-lifecycle`: serve `POST /-/reload` (otherwise it answers 403).
    pub enable_lifecycle: bool,
    /// `--config.auto-reload-interval`: reload when the file's content changes.
    pub auto_reload_interval: Option<Duration>,
    /// SIGHUP, taken over by the caller before anything else ([`crate::shutdown::hangups`]).
    pub hangups: Option<Signal>,
}

/// Runs the daemon on `listener` until `shutdown` resolves.
pub async fn run(
    config: Config,
    listener: impl Into<Listener> + Send + 'static,
    options: Options,
    shutdown: impl Future<Output = ()>,
) -> Result<(), DaemonError> {
    let metrics = Arc::new(Metrics::new(&config)?);
    let sampler = Sampler::new(&config.resources, metrics.registry())?;
    let stats = Arc::new(StatsPoller::new(metrics.registry())?);

    let schedule_stop = CancellationToken::new();
    let serve_stop = CancellationToken::new();
    let background = TaskTracker::new();
    let requests = TaskTracker::new();
    let ready = Arc::new(AtomicBool::new(false));
    let mut fleet = Fleet {
        config: Arc::new(config),
        runners: Vec::new(),
        metrics: Arc::clone(&metrics),
        stats,
        schedules: background.clone(),
        requests: requests.clone(),
        stop: schedule_stop.clone(),
        guards: Guards::default(),
    };
    let handles = (0..fleet.config.targets.len())
        .filter_map(|index| metrics.target(index))
        .collect();
    let probes = fleet.probes_for(&fleet.config.clone())?;
    fleet.start(&fleet.config.clone(), probes, handles);

    let (reloader, mut reloads) = reload::channel();
    let state = Arc::new(AppState {
        metrics: Arc::clone(&metrics),
        ready: Arc::clone(&ready),
        enable_lifecycle: options.enable_lifecycle,
        reloader: Some(reloader.clone()),
        guards: Some(fleet.guards.clone()),
        live: None,
    });
    let server = tokio::spawn(exporter::serve(listener, state, serve_stop.clone()));

    background.spawn(sampler.run(schedule_stop.clone()));
    if let Some(hangups) = options.hangups {
        background.spawn(reload::on_hangup(
            hangups,
            reloader.clone(),
            schedule_stop.clone(),
        ));
    }
    if let Some(interval) = options.auto_reload_interval {
        background.spawn(reload::watch_file(
            fleet.config.source.clone(),
            interval,
            reloader,
            schedule_stop.clone(),
        ));
    }
    background.spawn(mark_ready(
        Arc::clone(&metrics),
        ready,
        schedule_stop.clone(),
    ));
    tracing::info!(
        config = %fleet.config.source.display(),
        targets = fleet.config.targets.len(),
        "synthex started"
    );

    let server = wait_server(server);
    tokio::pin!(shutdown, server);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            result = &mut server => return result,
            Some(request) = reloads.recv() => {
                let outcome = fleet.reload(request.trigger);
                let _ = request.reply.send(outcome);
            }
        }
    }
    let deadline = Instant::now() + fleet.config.global.shutdown_grace;
    schedule_stop.cancel();
    background.close();
    background.wait().await;
    drain(&requests, fleet.config.global.shutdown_grace, deadline).await;
    final_scrape(&metrics, deadline).await;
    serve_stop.cancel();
    server.await
}

/// Refuses `unique` test data: it hands out each row once, and a daemon runs until stopped, so
/// its scenario would stop sending after the last row and never page about it. The daemon
/// takes rows `sequential` or `random`; `unique` is for `synthex load`.
fn daemon_data(target: &Target) -> Result<(), DaemonError> {
    for (index, scenario) in target.scenarios.iter().enumerate() {
        if let Some(data) = &scenario.data
            && data.settings().mode == Mode::Unique
        {
            return Err(DaemonError::Target {
                target: target.name.clone(),
                message: format!(
                    "scenarios[{index}].data.mode: unique hands out each row of {} once, and the daemon runs until stopped: use sequential or random here (unique is for `synthex load`)",
                    data.settings().file.display()
                ),
            });
        }
    }
    Ok(())
}

/// The running schedules, one per target of the current config, and what a reload needs to
/// replace them.
struct Fleet {
    config: Arc<Config>,
    /// In the current config's target order.
    runners: Vec<Running>,
    metrics: Arc<Metrics>,
    stats: Arc<StatsPoller>,
    schedules: TaskTracker,
    requests: TaskTracker,
    /// Parent of every schedule's token: cancelled at shutdown.
    stop: CancellationToken,
    /// The running schedules' guards, for the exporter's pause and resume.
    guards: Guards,
}

/// One target's running schedule.
struct Running {
    name: String,
    /// [`runner_key`] of the definition it runs.
    key: u64,
    stats: Option<StatsEndpoint>,
    /// Stops the schedule (and the stats poller); requests in flight go on.
    schedule: CancellationToken,
    /// Cancels the requests in flight, when the target is removed.
    requests: CancellationToken,
}

impl Fleet {
    /// A probe for every target of `config` that needs a new schedule (`None` for those whose
    /// definition is running already). Fails on the first target that cannot be set up, before
    /// anything changed.
    fn probes_for(&self, config: &Config) -> Result<Vec<Option<Probe>>, DaemonError> {
        config
            .targets
            .iter()
            .map(|target| {
                if self.kept(config, target).is_some() {
                    return Ok(None);
                }
                daemon_data(target)?;
                Probe::new(target, &config.global)
                    .map(Some)
                    .map_err(|e| DaemonError::Target {
                        target: target.name.clone(),
                        message: e.to_string(),
                    })
            })
            .collect()
    }

    /// The running schedule of `target` if its definition is unchanged.
    fn kept(&self, config: &Config, target: &Target) -> Option<usize> {
        let key = runner_key(&config.global, target);
        self.runners
            .iter()
            .position(|r| r.name == target.name && r.key == key)
    }

    /// Re-reads the config file and switches to it, or changes nothing and says why.
    fn reload(&mut self, trigger: Trigger) -> Result<(), String> {
        // Worded and redacted exactly as `check-config` prints it.
        let outcome = self
            .try_reload()
            .map_err(|error| config::redact(&error).into_owned());
        match &outcome {
            Ok(summary) => tracing::info!(
                %trigger, config = %self.config.source.display(), kept = summary.kept,
                started = summary.started, stopped = summary.stopped,
                "configuration reloaded"
            ),
            Err(error) => {
                self.metrics.reload_failed(error);
                tracing::error!(
                    %trigger, config = %self.config.source.display(), %error,
                    "configuration reload failed; the previous configuration keeps running"
                );
            }
        }
        outcome.map(|_| ())
    }

    fn try_reload(&mut self) -> Result<Summary, String> {
        let new = config::load(&self.config.source).map_err(|e| e.to_string())?;
        self.metrics
            .check_reloadable(&new)
            .map_err(|e| e.to_string())?;
        if !same(&self.config.resources, &new.resources) {
            return Err(ConfigError::Invalid {
                path: new.source.clone(),
                field: "resources".to_string(),
                message: "differs from the running configuration; the resource sampler's \
                          series need a restart to change"
                    .to_string(),
            }
            .to_string());
        }
        let probes = self.probes_for(&new).map_err(|e| e.to_string())?;
        let handles = self.metrics.apply(&self.config, &new);
        let mut summary = Summary::default();
        let mut kept = Vec::new();
        for running in std::mem::take(&mut self.runners) {
            let successor = new.targets.iter().find(|t| t.name == running.name);
            if successor.is_some_and(|t| runner_key(&new.global, t) == running.key) {
                kept.push(running);
                continue;
            }
            summary.stopped += 1;
            running.schedule.cancel();
            if let Some(endpoint) = &running.stats {
                self.stats.retire(
                    &running.name,
                    endpoint,
                    successor.and_then(|t| t.stats.as_ref()),
                );
            }
            if successor.is_none() {
                running.requests.cancel();
            }
        }
        self.guards
            .retain(|name| new.targets.iter().any(|t| t.name == name));
        summary.kept = kept.len();
        summary.started = probes.iter().filter(|p| p.is_some()).count();
        self.runners = kept;
        let new = Arc::new(new);
        self.start(&new, probes, handles);
        self.config = new;
        Ok(summary)
    }

    /// Starts a schedule (and stats poller) for every target with a probe, then puts the
    /// runners in `config`'s target order.
    fn start(
        &mut self,
        config: &Arc<Config>,
        probes: Vec<Option<Probe>>,
        handles: Vec<TargetHandle>,
    ) {
        for ((target, probe), handle) in config.targets.iter().zip(probes).zip(handles) {
            let Some(probe) = probe else { continue };
            let schedule = self.stop.child_token();
            let requests = CancellationToken::new();
            let guard = Arc::new(Guard::for_target(target, handle.guard_gauges()));
            self.guards.insert(Arc::clone(&guard));
            let runner = Arc::new(TargetRunner {
                target: target.clone(),
                probe,
                guard,
                metrics: Arc::clone(&self.metrics),
                handle,
                cancel: requests.clone(),
                last_state: rows(target)
                    .into_iter()
                    .map(|name| (name, AtomicU8::new(STATE_UNKNOWN)))
                    .collect(),
                iterations: AtomicU64::new(0),
                idle: IdleConnections::default(),
            });
            if let Some(endpoint) = &target.stats {
                let (stats, runner, endpoint, stop) = (
                    Arc::clone(&self.stats),
                    Arc::clone(&runner),
                    endpoint.clone(),
                    schedule.clone(),
                );
                self.schedules.spawn(async move {
                    stats
                        .run(&runner.target.name, &endpoint, &runner.probe, stop)
                        .await
                });
            }
            let plan = Plan::for_target(target, config.global.jitter);
            let rng = StdRng::from_rng(&mut rand::rng());
            self.schedules.spawn(scheduler::run(
                plan,
                runner,
                rng,
                Alarm::timerfd(),
                self.requests.clone(),
                schedule.clone(),
            ));
            self.runners.push(Running {
                name: target.name.clone(),
                key: runner_key(&config.global, target),
                stats: target.stats.clone(),
                schedule,
                requests,
            });
        }
        let order = |r: &Running| config.targets.iter().position(|t| t.name == r.name);
        self.runners.sort_by_key(order);
    }
}

/// What a reload changed, for its log line.
#[derive(Default)]
struct Summary {
    kept: usize,
    started: usize,
    stopped: usize,
}

/// Waits for in-flight requests until `deadline`, the end of the `grace` period; each one that
/// finishes is recorded as usual.
async fn drain(requests: &TaskTracker, grace: Duration, deadline: Instant) {
    requests.close();
    let in_flight = requests.len();
    if in_flight > 0 {
        tracing::info!(in_flight, grace = %humantime::format_duration(grace), "waiting for in-flight requests");
    }
    if tokio::time::timeout_at(deadline, requests.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            abandoned = requests.len(),
            "shutdown grace period ran out; abandoning requests still in flight"
        );
    }
}

/// Keeps the exporter up after the drain until a scrape has read the final counts: otherwise the
/// results of the last requests would end with the process unseen. It waits only for a scraper
/// it has seen (two scrapes or more), at most until that scraper is overdue (two of its
/// intervals after its last scrape) and never past `deadline`; no wait when every result was
/// scraped already.
async fn final_scrape(metrics: &Metrics, deadline: Instant) {
    let mut scrapes = metrics.scrapes();
    if metrics.unscraped() != Some(true) {
        return;
    }
    let Some(overdue) = metrics.scrape_overdue() else {
        return;
    };
    let until = deadline.min(overdue + SCRAPE_SLACK);
    let wait = async {
        while metrics.unscraped() == Some(true) {
            if scrapes.changed().await.is_err() {
                return;
            }
        }
    };
    tracing::info!("serving /metrics until a scrape reads the final counts");
    match tokio::time::timeout_at(until, wait).await {
        Ok(()) => tracing::info!("final counts scraped"),
        Err(_) => tracing::info!("no scrape came for the final counts"),
    }
}

/// Added to the expected time of the scraper's next scrape: network and scheduling delays.
const SCRAPE_SLACK: Duration = Duration::from_secs(1);

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
    target: Target,
    probe: Probe,
    /// Backoff, Retry-After and pause of this target (shared with [`Guards`]).
    guard: Arc<Guard>,
    metrics: Arc<Metrics>,
    handle: TargetHandle,
    /// Cancelled when a reload removes the target: its requests in flight stop at once and
    /// record nothing, so none of its series comes back after the reload removed them.
    cancel: CancellationToken,
    /// Per row (a scenario, or a step of a flow: see [`TargetHandle::first_row`]): its name
    /// in logs, and the last failure reason (as its index in `FailureReason::ALL`), `STATE_OK`
    /// or `STATE_UNKNOWN`; logging only on change keeps info logs to one line per incident.
    last_state: Vec<(String, AtomicU8)>,
    /// Slots dispatched so far: the `{{ counter }}` of the daemon, which has no virtual users.
    iterations: AtomicU64,
    /// A `keep_alive: true` plain-HTTP target's open connections between requests: a request
    /// borrows one ([`Probe::run_on`]) instead of going through reqwest's pool, whose
    /// per-request machinery cost more CPU than the request itself at a canary's rate.
    idle: IdleConnections,
}

/// The names of `target`'s rows in logs, in row order: `scenario`, or `flow/step`.
fn rows(target: &Target) -> Vec<String> {
    target
        .scenarios
        .iter()
        .flat_map(|s| {
            s.rows().into_iter().map(|(step, _)| match step {
                Some(step) => format!("{}/{step}", s.name),
                None => s.name.clone(),
            })
        })
        .collect()
}

impl Dispatch for TargetRunner {
    fn admit(&self, now: Instant) -> Admission {
        self.guard.admit(now)
    }

    fn running(&self) -> impl Future<Output = ()> + Send + 'static {
        self.guard.running()
    }

    fn dispatch(
        self: &Arc<Self>,
        scenario: usize,
        due: Instant,
    ) -> impl Future<Output = ()> + Send + 'static {
        let me = Arc::clone(self);
        async move {
            let definition = &me.target.scenarios[scenario];
            let counter = me.iterations.fetch_add(1, Ordering::Relaxed) + 1;
            // `unique` data is refused in the daemon (`daemon_data`): there is always a row.
            let Some(iteration) = definition.iteration(counter, &mut rand::rng()) else {
                return;
            };
            let gauge = me.handle.in_flight();
            gauge.inc();
            let row = me.handle.first_row(scenario);
            // A pause stops the traffic at once too: the request (or flow run) is abandoned (its
            // connection closed) and, never finished, not counted.
            match &me.target.scenarios[scenario].action {
                Action::Request(call) => {
                    let outcome = tokio::select! {
                        biased;
                        () = me.cancel.cancelled() => None,
                        () = me.guard.paused() => None,
                        outcome = me.probe.run_on(&me.idle, call, due, &iteration) => Some(outcome),
                    };
                    if let Some(outcome) = outcome {
                        me.step(row, &outcome);
                    }
                }
                Action::Flow(flow) => {
                    let tally = RowsFrom(&me, row);
                    // Each daemon run is a fresh session: on_start runs before its steps.
                    let mut session = Session::new();
                    session.begin(iteration);
                    let mut via = Via::Probe(&me.probe);
                    let run = tokio::select! {
                        biased;
                        () = me.guard.paused() => None,
                        run = flow::run(&mut via, flow, &mut session, due, &me.cancel, &tally) => Some(run),
                    };
                    if let Some(run) = run.filter(|r| !r.interrupted) {
                        me.metrics
                            .record_flow(&me.handle, scenario, run.duration, run.success);
                    }
                }
            }
            gauge.dec();
        }
    }

    fn skipped(&self, reason: SkipReason) {
        self.handle.skip(reason);
    }
}

/// A flow's rows of a target's series, from its first row on.
struct RowsFrom<'a>(&'a TargetRunner, usize);

impl flow::Tally for RowsFrom<'_> {
    fn step(&self, row: usize, outcome: &Outcome) {
        self.0.step(self.1 + row, outcome);
    }

    fn not_run(&self, row: usize) {
        self.0.handle.not_run(self.1 + row);
    }

    /// The target was removed: like its single requests, nothing more is recorded.
    fn interrupted(&self, _row: usize, _started: Instant) {}
}

impl TargetRunner {
    /// Records a finished request of `row`: the guard, the metrics and the log see it.
    fn step(&self, row: usize, outcome: &Outcome) {
        self.guard.observe(outcome, Instant::now());
        self.metrics.record_to(&self.handle, row, outcome);
        self.log_change(row, outcome);
    }

    fn log_change(&self, row: usize, outcome: &Outcome) {
        let target = &self.target;
        let Some((name, last_state)) = self.last_state.get(row) else {
            return;
        };
        let state = match &outcome.failure {
            None => STATE_OK,
            Some(f) => FailureReason::ALL
                .iter()
                .position(|r| *r == f.reason)
                .unwrap_or(0) as u8,
        };
        let before = last_state.swap(state, Ordering::AcqRel);
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
