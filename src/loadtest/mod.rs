//! `synthex load`: bounded load tests on the scenarios of a daemon config.
//!
//! The same targets, scenarios, weights, templates, expectations, cache detection and resource
//! sampling as the daemon; only the scheduler is swapped for a load executor (virtual users or
//! an arrival rate, in stages) and the outcomes go to a [`recorder::Recorder`] that becomes the
//! [`Report`] at the end. The daemon's metrics and exporter keep running beside it, so
//! `/metrics` and a live Grafana view work during the test.
//!
//! Submodules: `profile` (stages, built-in profiles, think time), `executor` (closed and open
//! models), `recorder` (outcomes → report data), `outputs` (where the results go), `out_path` (`--out` placeholders), `breaking`
//! (the breaking-point search), `progress` (the live display), `values` (the load test's values
//! and their ranges, for profile files and flags alike), `live` and `live_page` (the web page
//! of the running test, with its Stop button), `health` (the health gate before any load),
//! `queries` (the service's own metrics from Prometheus during the run), `abort` (thresholds
//! with `abort_on_fail`, judged live).

pub mod abort;
pub mod breaking;
pub mod command;
pub mod executor;
pub mod health;
pub mod live;
pub mod live_page;
pub mod out_path;
pub mod outputs;
pub mod profile;
pub mod progress;
pub mod queries;
pub mod recorder;
pub mod sequence;
pub mod values;

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus::{Gauge, Opts, Registry};
use thiserror::Error;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use self::executor::{Exercise, Planned, RunEnd, Workload};
use self::live::LiveTest;
use self::profile::Profile;
use self::recorder::{FlowRef, Recorder, ScenarioRef};
use crate::data::DataSource;
use crate::exporter::{self, AppState};
use crate::http_server::Listener;
use crate::metrics::Metrics;
use crate::probe::Probe;
use crate::report::model::{
    BreakingPoint, DataExhausted, DataUse, LoadModel, PlanSummary, Report, ResourceSample,
    ResourceSeries, SCHEMA_VERSION, Shard, StatSeries, Warmup,
};
use crate::sampler::{Reading, Sampler};
use crate::scenario::{Config, Scenario};
use crate::stats_poller::StatsPoller;

/// Length of one timeline interval in the report.
const TIMELINE_INTERVAL: Duration = Duration::from_secs(1);

/// Longest resource sampling interval during a load test.
const RESOURCE_INTERVAL: Duration = Duration::from_secs(1);

/// Everything about a load test that is not in the config file.
pub struct LoadOptions {
    /// What this process runs: the profile with overrides applied and, in a sharded run,
    /// cut down to this shard's part.
    pub profile: Profile,
    /// A run of several profiles (`--profile=a,b,c`), this shard's part of each; `profile` is
    /// then their combination, for the progress display and the live page.
    pub sequence: Option<sequence::Sequence>,
    /// The whole run's plan as the report records it (the same in every shard, so shard
    /// reports merge).
    pub plan: PlanSummary,
    /// Run only scenarios carrying one of these tags (all when empty).
    pub tags: Vec<String>,
    /// Leave out scenarios carrying one of these tags.
    pub exclude_tags: Vec<String>,
    /// This process's part of a distributed run.
    pub shard: Shard,
    /// Open model: arrivals beyond this many requests in flight are dropped and counted.
    pub max_in_flight: usize,
    /// Open a fresh connection per request instead of pooling them like real clients.
    pub new_connections: bool,
    /// Where to serve `/metrics` and the live page during the test, if anywhere.
    pub listener: Option<Listener>,
    /// `--web.enable-lifecycle`: the live page's Stop button (`POST /-/stop`) works.
    pub enable_lifecycle: bool,
    /// Show live progress (a bar on a terminal, plain lines otherwise).
    pub progress: bool,
    /// The breaking-point search's limits (stress runs only).
    pub breaking: breaking::Limits,
    /// Cancelled to end the requests in flight at once (a second Ctrl-C) instead of giving
    /// them the grace period; they are counted as interrupted.
    pub stop_now: CancellationToken,
    /// The warm-up before the measured run, if any.
    pub warmup: Option<WarmupPlan>,
}

/// A warm-up: the scenarios at a low arrival rate, before the measured run and out of it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WarmupPlan {
    /// How long.
    pub duration: Duration,
    /// Arrivals per second (this shard's part).
    pub rate: f64,
}

/// Why a load test could not run.
#[derive(Debug, Error)]
pub enum LoadError {
    /// No scenario is left after the tag filters.
    #[error("no scenario to run: {0}")]
    NoScenarios(String),
    /// A target's client could not be built (TLS or proxy settings).
    #[error("{0}")]
    Probe(#[from] crate::probe::ProbeError),
    /// The metrics registry refused a metric.
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// `load.prometheus` cannot be used: unreachable, refused a query, or a bad TLS setup.
    #[error("{0}")]
    Prometheus(String),
    /// `load.health` failed on a target: no load was sent.
    #[error("{0}; no load was sent (load.health)")]
    Unhealthy(String),
}

/// Runs the load test until the profile ends or `stop` is cancelled, and returns its report
/// (thresholds not yet evaluated: the caller does that, as it does for merged reports).
pub async fn run(
    config: Config,
    options: LoadOptions,
    stop: CancellationToken,
    judge: &breaking::Judge<'_>,
) -> Result<Report, LoadError> {
    let selected = select(&config, &options.tags, &options.exclude_tags)?;
    let metrics = Arc::new(Metrics::new(&config)?);
    let built = build(&config, &selected, options.new_connections)?;
    let prometheus = match &config.load.prometheus {
        Some(source) => {
            let client = queries::Prometheus::new(source).map_err(LoadError::Prometheus)?;
            client.check().await.map_err(LoadError::Prometheus)?;
            Some(client)
        }
        None => None,
    };
    if let Some(check) = &config.load.health {
        let mut names: Vec<String> = Vec::new();
        for r in &built.rows {
            if !names.contains(&r.target_name) {
                names.push(r.target_name.clone());
            }
        }
        let unhealthy = health::check(check, &built.probes, &names).await;
        if !unhealthy.is_empty() {
            return Err(LoadError::Unhealthy(unhealthy.join("; ")));
        }
    }
    let grace = config
        .targets
        .iter()
        .map(|t| t.timeout)
        .max()
        .unwrap_or_default()
        + Duration::from_secs(1);
    let data = data_sources(&config, &selected);
    for (.., source) in &data {
        source.take_share(options.shard.index, options.shard.count);
    }
    let before_warmup: Vec<u64> = data.iter().map(|(.., d)| d.taken()).collect();
    let warmup = match options.warmup {
        Some(plan) => {
            let parts = (&config, selected.as_slice(), built.rows.as_slice());
            Some(warm_up(parts, &options, plan, &stop, grace).await?)
        }
        None => None,
    };
    let after_warmup: Vec<u64> = data.iter().map(|(.., d)| d.taken()).collect();
    // A load test is short and its resource curve is part of the report: sample every second.
    let mut resources = config.resources.clone();
    resources.interval = resources.interval.min(RESOURCE_INTERVAL);
    let sampler = Sampler::new(&resources, metrics.registry())?;
    let started = SystemTime::now();
    let started_at = started
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let start = Instant::now();
    let recorder = Arc::new(
        Recorder::new(
            built.rows,
            start,
            TIMELINE_INTERVAL,
            Some(Arc::clone(&metrics)),
        )
        .with_flows(built.flows)
        .with_level_gauge(level_gauge(options.profile.model, metrics.registry())?)
        .with_stop_now(options.stop_now.clone()),
    );
    // Ends with `stop`, or earlier when a scenario's `unique` data runs out.
    let stop_run = stop.child_token();
    let work = Arc::new(Workload::new(
        built.probes,
        built.scenarios,
        Arc::clone(&recorder),
        stop_run.clone(),
    ));

    let side_stop = CancellationToken::new();
    let exporter = options.listener.map(|listener| {
        let live = LiveTest::new(
            Arc::clone(&recorder),
            options.profile.model,
            options.plan.profile.clone(),
            options.profile.duration(),
            stop.clone(),
            options.stop_now.clone(),
            options.enable_lifecycle,
        );
        let state = Arc::new(AppState::for_load_test(
            Arc::clone(&metrics),
            Arc::new(live),
            options.enable_lifecycle,
        ));
        tokio::spawn(exporter::serve(listener, state, side_stop.clone()))
    });
    let resources = Arc::new(Mutex::new(Vec::new()));
    let sampling = {
        let resources = Arc::clone(&resources);
        let mut primed = false;
        tokio::spawn(
            sampler.run_observed(side_stop.clone(), move |at, readings: Vec<Reading>| {
                // The first sample only primes CPU readings (they read 0): keep it out of the series.
                if !std::mem::replace(&mut primed, true) {
                    return;
                }
                // When the sample read /proc, not when it was handed over: the CPU figures
                // belong to the interval that ends there.
                let offset = at.saturating_duration_since(start.into_std()).as_secs_f64();
                if let Ok(mut all) = resources.lock() {
                    all.push((offset, readings));
                }
            }),
        )
    };
    let queries = Arc::new(Mutex::new(Vec::new()));
    let querying = prometheus.map(|client| {
        tokio::spawn(client.sample(start, started, Arc::clone(&queries), side_stop.clone()))
    });
    let aborting = {
        let (recorder, queries) = (Arc::clone(&recorder), Arc::clone(&queries));
        let model = options.profile.model;
        let so_far = move |elapsed: Duration| {
            let mut report = Report::of_scenarios(
                "so far",
                model,
                recorder.scenario_stats(),
                elapsed.as_secs_f64(),
            );
            report.prometheus = queries.lock().map(|q| q.clone()).unwrap_or_default();
            report
        };
        let thresholds = config.load.thresholds.clone();
        tokio::spawn(abort::watch(
            thresholds,
            start,
            so_far,
            stop_run.clone(),
            side_stop.clone(),
        ))
    };
    let stats = Arc::new(Mutex::new(Vec::new()));
    let polling = poll_stats(
        &config,
        &selected,
        metrics.registry(),
        start,
        &stats,
        &side_stop,
    )?;
    let progress = options.progress.then(|| {
        let recorder = Arc::clone(&recorder);
        let level_source = Arc::clone(&recorder);
        tokio::spawn(progress::show(
            recorder,
            options.profile.model,
            options.profile.duration(),
            move || level_source.current_level(),
            side_stop.clone(),
        ))
    });

    let profile = &options.profile;
    let mut plan = options.plan.clone();
    let (end, breaking_point): (RunEnd, Option<BreakingPoint>) =
        if let Some(several) = &options.sequence {
            let (end, pauses) = several
                .run(Arc::clone(&work), stop_run, options.max_in_flight, grace)
                .await;
            sequence::retime(&mut plan.stages, &pauses);
            (end, None)
        } else if profile.breaking_point {
            let (end, found) = breaking::search(
                profile,
                Arc::clone(&work),
                stop_run,
                options.max_in_flight,
                grace,
                &options.breaking,
                judge,
            )
            .await;
            (end, Some(found))
        } else {
            let end = match profile.model {
                LoadModel::Closed => {
                    executor::closed(profile, Arc::clone(&work), stop_run, grace).await
                }
                LoadModel::Open => {
                    executor::open(
                        profile,
                        Arc::clone(&work),
                        stop_run,
                        options.max_in_flight,
                        grace,
                    )
                    .await
                }
            };
            (end, None)
        };

    if end.dropped > 0 {
        tracing::warn!(
            dropped = end.dropped,
            max_in_flight = options.max_in_flight,
            "arrivals dropped: the in-flight cap was full (the target could not keep up)"
        );
    }
    side_stop.cancel();
    let aborted = aborting.await.ok().flatten();
    for task in [Some(sampling), progress, querying]
        .into_iter()
        .flatten()
        .chain(polling)
    {
        let _ = task.await;
    }
    if let Some(exporter) = exporter {
        let _ = exporter.await;
    }
    let data_exhausted = work.exhausted().and_then(|index| {
        let (target, scenario) = selected.get(index)?;
        let target = config.targets.get(*target)?;
        let scenario = target.scenarios.get(*scenario)?;
        let source = scenario.data.as_ref()?;
        Some(DataExhausted {
            target: target.name.clone(),
            scenario: scenario.name.clone(),
            file: source.settings().file.display().to_string(),
            rows: source.unique_rows(),
            on_exhausted: source.settings().on_exhausted.as_str().to_string(),
        })
    });
    let samples = resources.lock().map(|r| r.clone()).unwrap_or_default();
    let (timeline, shares) = recorder.timelines(end.elapsed);
    let mut scenarios = recorder.scenario_stats();
    for (stats, share) in scenarios.iter_mut().zip(shares) {
        stats.timeline = share;
    }
    Ok(Report {
        schema_version: SCHEMA_VERSION,
        synthex_version: env!("CARGO_PKG_VERSION").to_string(),
        config: config.source.display().to_string(),
        plan,
        started_at,
        duration_seconds: end.elapsed.as_secs_f64(),
        // A threshold that stopped the run failed it: that is a verdict, not an interruption.
        interrupted: end.interrupted && aborted.is_none(),
        shards: vec![options.shard],
        scenarios,
        flows: recorder.flow_stats(),
        failures: recorder.failure_groups(),
        timeline,
        timeline_interval_seconds: recorder.interval().as_secs_f64(),
        resources: series(options.shard.index, &samples),
        target_stats: stats.lock().map(|s| s.clone()).unwrap_or_default(),
        thresholds: Vec::new(),
        breaking_point,
        prometheus: queries.lock().map(|q| q.clone()).unwrap_or_default(),
        warmup,
        findings: Vec::new(),
        stages: Vec::new(),
        score: None,
        data: data_use(&data, &before_warmup, &after_warmup),
        data_exhausted,
        iterations: end.iterations,
        aborted,
    })
}

/// The data file of every selected scenario that has one, with its target and scenario names.
fn data_sources(
    config: &Config,
    selected: &[(usize, usize)],
) -> Vec<(String, String, Arc<DataSource>)> {
    selected
        .iter()
        .filter_map(|&(t, s)| {
            let target = config.targets.get(t)?;
            let scenario = target.scenarios.get(s)?;
            let data = scenario.data.as_ref()?;
            Some((target.name.clone(), scenario.name.clone(), Arc::clone(data)))
        })
        .collect()
}

/// What each data file gave: rows taken before the warm-up, after it, and now (the run's end).
fn data_use(
    data: &[(String, String, Arc<DataSource>)],
    before_warmup: &[u64],
    after_warmup: &[u64],
) -> Vec<DataUse> {
    data.iter()
        .zip(before_warmup.iter().zip(after_warmup))
        .map(|((target, scenario, source), (&before, &after))| DataUse {
            target: target.clone(),
            scenario: scenario.clone(),
            file: source.settings().file.display().to_string(),
            mode: source.settings().mode.as_str().to_string(),
            file_rows: source.rows() as u64,
            warmup_rows: after.saturating_sub(before),
            rows: source.taken().saturating_sub(after),
        })
        .collect()
}

/// Runs the warm-up: the selected scenarios in the open model at `plan.rate` for
/// `plan.duration`, on probes and a recorder of their own, so none of its requests reaches the
/// measured run's figures, metrics or thresholds. Requests still in flight at its end get the
/// grace period before the measured run starts.
async fn warm_up(
    (config, selected, refs): (&Config, &[(usize, usize)], &[ScenarioRef]),
    options: &LoadOptions,
    plan: WarmupPlan,
    stop: &CancellationToken,
    grace: Duration,
) -> Result<Warmup, LoadError> {
    tracing::info!(
        duration = %humantime::format_duration(plan.duration),
        rate = plan.rate,
        "warming up (kept out of the results)"
    );
    let built = build(config, selected, options.new_connections)?;
    let recorder = Arc::new(
        Recorder::new(refs.to_vec(), Instant::now(), TIMELINE_INTERVAL, None)
            .with_flows(built.flows),
    );
    // Ends with `stop`, or earlier when a scenario's `unique` data runs out.
    let warm_stop = stop.child_token();
    let work = Arc::new(Workload::new(
        built.probes,
        built.scenarios,
        Arc::clone(&recorder),
        warm_stop.clone(),
    ));
    let profile = Profile::constant(LoadModel::Open, plan.rate, plan.duration);
    let end = executor::open(
        &profile,
        Arc::clone(&work),
        warm_stop,
        options.max_in_flight,
        grace,
    )
    .await;
    let length = if end.interrupted || work.out_of_data() {
        end.elapsed
    } else {
        plan.duration
    };
    Ok(Warmup {
        duration_seconds: length.as_secs_f64(),
        rate: plan.rate,
        scenarios: recorder.scenario_stats(),
    })
}

/// Polls the stats endpoint of every target with selected scenarios and one configured, as the
/// daemon does (same gauges on `/metrics`), at least every second like the resources, and
/// records each poll's fields into `into` for the report's per-stage stats.
fn poll_stats(
    config: &Config,
    selected: &[(usize, usize)],
    registry: &Registry,
    start: Instant,
    into: &Arc<Mutex<Vec<StatSeries>>>,
    stop: &CancellationToken,
) -> Result<Vec<tokio::task::JoinHandle<()>>, LoadError> {
    let poller = Arc::new(StatsPoller::new(registry)?);
    let mut tasks = Vec::new();
    for (t, target) in config.targets.iter().enumerate() {
        let Some(endpoint) = target.stats.clone() else {
            continue;
        };
        if !selected.iter().any(|&(s, _)| s == t) {
            continue;
        }
        let probe = Probe::new(target, &config.global)?;
        let (poller, into, stop) = (Arc::clone(&poller), Arc::clone(into), stop.clone());
        let name = target.name.clone();
        tasks.push(tokio::spawn(async move {
            let mut ticks = tokio::time::interval(endpoint.interval.min(RESOURCE_INTERVAL));
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    _ = ticks.tick() => {}
                }
                let polled = tokio::select! {
                    () = stop.cancelled() => return,
                    result = poller.poll_once(&name, &endpoint, &probe) => result,
                };
                if let Err(error) = polled {
                    tracing::debug!(target = %name, %error, "stats endpoint poll failed");
                }
                let at = start.elapsed().as_secs_f64();
                let Ok(mut all) = into.lock() else { return };
                for (field, value) in poller.current(&name) {
                    match all
                        .iter_mut()
                        .find(|s| s.target == name && s.field == field)
                    {
                        Some(series) => series.samples.push((at, value)),
                        None => all.push(StatSeries {
                            target: name.clone(),
                            field,
                            samples: vec![(at, value)],
                        }),
                    }
                }
            }
        }));
    }
    Ok(tasks)
}

/// The gauge of the planned load, registered beside the daemon's metrics: virtual users in the
/// closed model, scheduled requests per second in the open one.
fn level_gauge(model: LoadModel, registry: &Registry) -> Result<Gauge, prometheus::Error> {
    let opts = match model {
        LoadModel::Closed => Opts::new(
            "synthex_load_virtual_users",
            "Virtual users the running load test has started (closed model).",
        ),
        LoadModel::Open => Opts::new(
            "synthex_load_scheduled_requests_per_second",
            "Arrival rate the running load test schedules now (open model).",
        ),
    };
    let gauge = Gauge::with_opts(opts)?;
    registry.register(Box::new(gauge.clone()))?;
    Ok(gauge)
}

/// The scenarios to run, as `(target index, scenario index)`, after the tag filters.
pub(crate) fn select(
    config: &Config,
    tags: &[String],
    exclude: &[String],
) -> Result<Vec<(usize, usize)>, LoadError> {
    let has = |scenario: &Scenario, list: &[String]| scenario.tags.iter().any(|t| list.contains(t));
    let selected: Vec<(usize, usize)> = config
        .targets
        .iter()
        .enumerate()
        .flat_map(|(t, target)| {
            target
                .scenarios
                .iter()
                .enumerate()
                .filter(|(_, s)| (tags.is_empty() || has(s, tags)) && !has(s, exclude))
                .map(move |(s, _)| (t, s))
        })
        .collect();
    if selected.is_empty() {
        return Err(LoadError::NoScenarios(format!(
            "--tags {:?} and --exclude-tags {:?} leave none of the config's scenarios",
            tags.join(","),
            exclude.join(",")
        )));
    }
    Ok(selected)
}

/// Probes for the targets that have selected scenarios, the scenarios with their rows, and
/// the recorder's rows and flows.
struct Built {
    probes: Vec<Probe>,
    scenarios: Vec<Planned>,
    rows: Vec<ScenarioRef>,
    flows: Vec<FlowRef>,
}

fn build(
    config: &Config,
    selected: &[(usize, usize)],
    new_connections: bool,
) -> Result<Built, LoadError> {
    let mut built = Built {
        probes: Vec::new(),
        scenarios: Vec::new(),
        rows: Vec::new(),
        flows: Vec::new(),
    };
    let mut probe_of_target: Vec<Option<usize>> = vec![None; config.targets.len()];
    for &(t, s) in selected {
        let target = &config.targets[t];
        let probe = match probe_of_target[t] {
            Some(index) => index,
            None => {
                let mut settings = target.clone();
                settings.keep_alive = !new_connections;
                built.probes.push(Probe::new(&settings, &config.global)?);
                probe_of_target[t] = Some(built.probes.len() - 1);
                built.probes.len() - 1
            }
        };
        let scenario = &target.scenarios[s];
        // The rows of a target's metrics: those of the scenarios before this one, then its own.
        let metrics_row: usize = target.scenarios[..s].iter().map(|x| x.rows().len()).sum();
        let first_row = built.rows.len();
        for (offset, (step, call)) in scenario.rows().into_iter().enumerate() {
            built.rows.push(ScenarioRef {
                target: t,
                row: metrics_row + offset,
                target_name: target.name.clone(),
                scenario_name: scenario.name.clone(),
                step: step.map(str::to_string),
                method: call.request.method.to_string(),
            });
        }
        let flow = scenario.flow().map(|_| {
            built.flows.push(FlowRef {
                target: t,
                scenario: s,
                target_name: target.name.clone(),
                scenario_name: scenario.name.clone(),
            });
            built.flows.len() - 1
        });
        built.scenarios.push(Planned {
            probe,
            scenario: scenario.clone(),
            first_row,
            flow,
        });
    }
    Ok(built)
}

/// Resource samples regrouped into one series per source.
fn series(shard: u32, samples: &[(f64, Vec<Reading>)]) -> Vec<ResourceSeries> {
    let mut out: Vec<ResourceSeries> = Vec::new();
    for (offset, readings) in samples {
        for reading in readings {
            let sample = ResourceSample {
                offset_seconds: *offset,
                cpu_ratio: reading.cpu_ratio,
                memory_bytes: reading.memory_bytes,
            };
            match out.iter_mut().find(|s| s.source == reading.source) {
                Some(series) => series.samples.push(sample),
                None => out.push(ResourceSeries {
                    shard,
                    source: reading.source.clone(),
                    samples: vec![sample],
                }),
            }
        }
    }
    out
}
