//! `synthex load`: flags → a load plan, the run, then the verdict: thresholds, grades, the
//! summary on stdout, report files, baseline comparison and the exit status.
//!
//! Everything that can be wrong with the input (config, profile, thresholds, shard, baseline
//! file, output locations) is checked before the first request, so a typo never costs a test
//! run; reports that cannot be written at the end are rescued to a temp directory.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use clap::Args;
use tokio_util::sync::CancellationToken;

use super::breaking::Limits;
use super::out_path;
use super::outputs::Outputs;
use super::profile::{self, Profile};
use super::sequence::Sequence;
use super::values::{
    IterationsKind, MAX_STAGE, PeakRateKind, PeakUsersKind, ProfilePauseKind, RunDurationKind,
    ShardKind, SpawnRateKind, ThinkTime, ThinkTimeKind,
};
use super::{LoadOptions, WarmupPlan, run};
use crate::config::kinds::InFlightKind;
use crate::config::scalar::Kind;
use crate::config::units::parse_ratio;
use crate::exit;
use crate::http_server::Listener;
use crate::report::compare::{self, Comparison};
use crate::report::csv;
use crate::report::findings;
use crate::report::grade;
use crate::report::model::{LoadModel, PlanSummary, Report, ScenarioStats, Shard, ThresholdResult};
use crate::report::profile_runs;
use crate::report::summary;
use crate::report::threshold::{self, RowKey, Threshold};
use crate::scenario::Config;

/// Flags of `synthex load`.
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Path to the configuration file whose targets and scenarios are loaded.
    #[arg(long = "config.file", value_name = "FILE")]
    pub config_file: PathBuf,
    /// A built-in profile (smoke, light, medium, heavy, spike, stress) or a profile file;
    /// several, comma-separated, run one after the other into one report. Without one,
    /// --users or --rate with --duration make a constant load.
    #[arg(long, value_name = "NAME|FILE[,…]")]
    pub profile: Option<String>,
    /// The pause between the profiles of a run of several (0s to 1h).
    #[arg(long = "profile-pause", value_name = "D", default_value = "10s", value_parser = ProfilePauseKind::parse)]
    pub profile_pause: Duration,
    /// Virtual users (closed model), 1 to 10000. With a profile: scales its stages to this peak.
    #[arg(long, value_name = "N", value_parser = PeakUsersKind::parse)]
    pub users: Option<u32>,
    /// Users started per second at most (closed model), more than 0 and at most 10000.
    #[arg(long = "spawn-rate", value_name = "N", value_parser = SpawnRateKind::parse)]
    pub spawn_rate: Option<f64>,
    /// Arrival rate (open model), e.g. 200/s or 200 (per second), 1/h to 100000/s. With a
    /// profile: scales it to this peak.
    #[arg(long, value_name = "R", value_parser = PeakRateKind::parse)]
    pub rate: Option<f64>,
    /// How long to run (with --users or --rate), more than 0 and at most 24h; with a profile, the run stops
    /// after this; with --iterations, the longest the run may take.
    #[arg(long, value_name = "D", value_parser = RunDurationKind::parse)]
    pub duration: Option<Duration>,
    /// Each virtual user runs N iterations (a request, or a flow run) and stops; the test ends
    /// when every user is done (--duration, when given, is an upper bound). With --users only,
    /// 1 to 1000000000.
    #[arg(long, value_name = "N", value_parser = IterationsKind::parse)]
    pub iterations: Option<u64>,
    /// Pause between a user's requests: 1s, a range 500ms..2s (pauses 0 to 1h), or a pace per
    /// user such as 2/s (1/h to 1000/s).
    #[arg(long = "think-time", value_name = "D|MIN..MAX|N/s", value_parser = ThinkTimeKind::parse)]
    pub think_time: Option<ThinkTime>,
    /// A threshold such as "p95 < 50ms", "error_rate < 1%", "rps > 100" or
    /// "order_status: p99 < 200ms"; repeatable, added to the config's load.thresholds.
    #[arg(long = "threshold", value_name = "EXPR")]
    pub thresholds: Vec<String>,
    /// Write report.json, Locust-style CSVs, summary.md and report.html into this directory;
    /// {timestamp}, {profile} and {revision} (from SYNTHEX_REVISION or GITHUB_SHA) are filled in,
    /// e.g. reports/{timestamp}_{profile}.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// As Locust's flag: the stats history CSV in --out gets a row per scenario (flow steps as
    /// flow/step) in every interval, with percentiles over the last 10 seconds.
    #[arg(long = "csv-full-history", requires = "out")]
    pub csv_full_history: bool,
    /// Run the I-th (0-based, as JOB_COMPLETION_INDEX) of N equal parts of the load
    /// (N at most 1000).
    #[arg(long, value_name = "I/N", value_parser = ShardKind::parse)]
    pub shard: Option<Shard>,
    /// Run only scenarios with one of these tags (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "TAGS")]
    pub tags: Vec<String>,
    /// Leave out scenarios with one of these tags (comma-separated).
    #[arg(long = "exclude-tags", value_delimiter = ',', value_name = "TAGS")]
    pub exclude_tags: Vec<String>,
    /// Save this run's report as a baseline for later runs.
    #[arg(long = "save-baseline", value_name = "FILE")]
    pub save_baseline: Option<PathBuf>,
    /// Compare with a baseline report (p95, p99, error ratio and RPS per scenario).
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Exit with status 3 when the baseline comparison finds a regression.
    #[arg(long = "fail-on-regression")]
    pub fail_on_regression: bool,
    /// Raise the load step by step until a step breaks: the arrival rate (`rate`, the default:
    /// same as --profile=stress, from --rate) or the virtual users (`users`, from --users).
    #[arg(
        long = "find-breaking-point",
        value_name = "users|rate",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "rate",
        value_enum
    )]
    pub find_breaking_point: Option<SearchUnit>,
    /// Breaking-point search: a step whose error ratio passes this ratio (0% to 100%) is broken.
    #[arg(long = "max-error-ratio", value_name = "RATIO", default_value = "5%", value_parser = parse_ratio)]
    pub max_error_ratio: f64,
    /// Open model: arrivals beyond this many requests in flight (1 to 10000) are dropped and
    /// counted.
    #[arg(long = "max-in-flight", value_name = "N", default_value = "10000", value_parser = InFlightKind::parse)]
    pub max_in_flight: usize,
    /// Open a fresh connection per request instead of pooling connections like real clients.
    #[arg(long = "new-connections")]
    pub new_connections: bool,
    /// Serve /metrics and the live page (/) here during the test ("" for nowhere).
    #[arg(long = "web.listen-address", value_name = "ADDR", default_value = "")]
    pub listen_address: String,
    /// TLS, basic auth and headers for that port, in exporter-toolkit's web config format.
    #[arg(long = "web.config.file", value_name = "FILE")]
    pub web_config_file: Option<PathBuf>,
    /// Enable the lifecycle endpoint `POST /-/stop` (the live page's Stop button): ends the
    /// test and writes the reports.
    #[arg(long = "web.enable-lifecycle")]
    pub enable_lifecycle: bool,
    /// No live progress display.
    #[arg(long)]
    pub quiet: bool,
    /// Send the scenarios at load.warmup_rate (default 5/s) for this long first; those requests
    /// are kept out of every figure and threshold (overrides load.warmup).
    #[arg(long, value_name = "D", value_parser = RunDurationKind::parse)]
    pub warmup: Option<Duration>,
}

/// What the breaking-point search raises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SearchUnit {
    /// Virtual users (closed model).
    Users,
    /// The arrival rate (open model).
    Rate,
}

/// A plan checked and ready to run.
struct Plan {
    config: Config,
    profile: Profile,
    /// The profiles of a run of several, this shard's part of each.
    sequence: Option<Sequence>,
    whole: PlanSummary,
    thresholds: Vec<Threshold>,
    shard: Shard,
    baseline: Option<Report>,
    limits: Limits,
    /// `--out` with its placeholders filled in.
    out: Option<PathBuf>,
    /// `--warmup` or `load.warmup`, this shard's part of its rate.
    warmup: Option<WarmupPlan>,
}

/// The first SIGINT or SIGTERM cancels `stop` (the test ends, requests in flight get the grace
/// period, the reports are written); the second cancels `stop_now` (they end at once).
pub async fn stop_on_signals(stop: CancellationToken, stop_now: CancellationToken) {
    crate::shutdown::signal().await;
    stop.cancel();
    crate::shutdown::signal().await;
    tracing::warn!("second signal: ending the requests in flight now");
    stop_now.cancel();
}

/// Runs `synthex load` and returns its exit status. `listener` is the already-bound exporter
/// address (bound by the caller, which owns address parsing), `stop` ends the run early and
/// `stop_now` ends its requests in flight at once (see [`stop_on_signals`]).
pub async fn execute(
    args: LoadArgs,
    listener: Option<Listener>,
    stop: CancellationToken,
    stop_now: CancellationToken,
) -> u8 {
    let plan = match prepare(&args) {
        Ok(plan) => plan,
        Err(message) => {
            error(&message);
            return exit::USAGE;
        }
    };
    let judge_thresholds = plan.thresholds.clone();
    let judge = move |stats: &[ScenarioStats], length: Duration| {
        step_verdict(&judge_thresholds, stats, length)
    };
    let options = LoadOptions {
        profile: plan.profile,
        sequence: plan.sequence,
        plan: plan.whole,
        tags: args.tags.clone(),
        exclude_tags: args.exclude_tags.clone(),
        shard: plan.shard,
        max_in_flight: args.max_in_flight,
        new_connections: args.new_connections,
        listener,
        enable_lifecycle: args.enable_lifecycle,
        progress: !args.quiet,
        breaking: plan.limits,
        stop_now,
        warmup: plan.warmup,
    };
    let grades_scale = plan.config.load.grades;
    let finding_rules = plan.config.load.findings.clone();
    let out = plan.out;
    let tolerances = plan.config.load.baseline_tolerances;
    let mut report = match run(plan.config, options, stop, &judge).await {
        Ok(report) => report,
        Err(e @ (super::LoadError::NoScenarios(_) | super::LoadError::Prometheus(_))) => {
            error(&e.to_string());
            return exit::USAGE;
        }
        Err(e) => {
            error(&e.to_string());
            return exit::RUNTIME;
        }
    };
    report.thresholds = profile_runs::evaluate(&plan.thresholds, &report);
    if let Some(abort) = &report.aborted {
        threshold::mark_abort(&mut report.thresholds, abort);
    }
    report.findings = findings::find(&report, &finding_rules);
    let grades = crate::report::conclude(&mut report, &grades_scale);
    let comparison = plan
        .baseline
        .as_ref()
        .map(|baseline| compare::compare(baseline, &report, &tolerances));
    let published = publish(&args, out.as_deref(), &report, &grades, comparison.as_ref());
    match verdict(&report, comparison.as_ref(), args.fail_on_regression) {
        exit::INTERRUPTED => exit::INTERRUPTED,
        _ if !published => exit::RUNTIME,
        status => status,
    }
}

/// Checks every input and builds the plan, or says what is wrong.
fn prepare(args: &LoadArgs) -> Result<Plan, String> {
    let config = crate::config::load(&args.config_file).map_err(|e| e.to_string())?;
    let mut thresholds = config.load.thresholds.clone();
    thresholds.extend(threshold::parse_all(&args.thresholds).map_err(|e| e.to_string())?);
    iterations_fit(args)?;
    let mut sequence = several_profiles(args)?;
    let mut profile = match &sequence {
        Some(several) => several.combined(),
        None => build_profile(args)?,
    };
    profile.iterations = args.iterations;
    let shard = args.shard.unwrap_or(Shard { index: 0, count: 1 });
    let mut whole = match &sequence {
        Some(several) => several.summary(),
        None => profile.summary(),
    };
    whole.tags = Some(tag_filter(&args.tags, &args.exclude_tags));
    profile.split(shard.index, shard.count);
    if let Some(several) = sequence.as_mut() {
        several.split(shard.index, shard.count);
    }
    let baseline = args
        .baseline
        .as_deref()
        .map(|path| crate::report::read_run(path).map_err(|e| format!("--baseline: {e}")))
        .transpose()?;
    if args.fail_on_regression && baseline.is_none() {
        return Err("--fail-on-regression needs --baseline FILE".to_string());
    }
    scoped_thresholds_run(&config, &thresholds, &args.tags, &args.exclude_tags)?;
    query_thresholds_known(&config, &thresholds)?;
    let out = args
        .out
        .as_deref()
        .map(|template| {
            let names = out_path::RunNames {
                started: SystemTime::now(),
                profile: &whole.profile,
                env: &|name| std::env::var(name).ok(),
            };
            out_path::expand(template, &names)
                .map_err(|e| format!("--out {}: {e}", template.display()))
        })
        .transpose()?;
    // Last, once everything else is known good: it creates the directories.
    outputs(args, out.as_deref()).check()?;
    let warmup = args
        .warmup
        .or(config.load.warmup)
        .map(|duration| WarmupPlan {
            duration,
            rate: config.load.warmup_rate / f64::from(shard.count.max(1)),
        });
    Ok(Plan {
        config,
        profile,
        sequence,
        whole,
        thresholds,
        shard,
        baseline,
        limits: Limits {
            max_error_ratio: args.max_error_ratio,
            ..Limits::default()
        },
        warmup,
        out,
    })
}

/// The tag filter as the report records it: the `--tags`, then each `--exclude-tags` as `!tag`.
fn tag_filter(tags: &[String], exclude: &[String]) -> Vec<String> {
    let mut filter = tags.to_vec();
    filter.extend(exclude.iter().map(|t| format!("!{t}")));
    filter
}

/// Refuses a scoped threshold whose name covers no row of the run: a typo (said with the valid
/// names), or a scenario the tag filters leave out: it could only fail (no requests), and in a
/// breaking-point search it would break the first step, so the run would prove nothing. Said
/// before the run, naming where the threshold came from (`load.thresholds[i]` or `--threshold`).
fn scoped_thresholds_run(
    config: &Config,
    thresholds: &[Threshold],
    tags: &[String],
    exclude: &[String],
) -> Result<(), String> {
    let selected = super::select(config, tags, exclude).map_err(|e| e.to_string())?;
    let rows_of = |scenarios: &mut dyn Iterator<Item = (usize, usize)>| -> Vec<RowKey> {
        scenarios
            .flat_map(|(t, s)| {
                let target = &config.targets[t];
                let scenario = &target.scenarios[s];
                scenario.rows().into_iter().map(|(step, _)| RowKey {
                    target: &target.name,
                    scenario: &scenario.name,
                    step,
                })
            })
            .collect()
    };
    let all = rows_of(
        &mut config
            .targets
            .iter()
            .enumerate()
            .flat_map(|(t, target)| (0..target.scenarios.len()).map(move |s| (t, s))),
    );
    let run = rows_of(&mut selected.iter().copied());
    for (index, threshold) in thresholds.iter().enumerate() {
        let Some(name) = threshold.scope_name() else {
            continue;
        };
        if threshold.covers(&run).contains(&true) {
            continue;
        }
        let why = if threshold.covers(&all).contains(&true) {
            format!(
                "is left out by --tags {:?} / --exclude-tags {:?}; drop the threshold or change the tags",
                tags.join(","),
                exclude.join(",")
            )
        } else {
            format!(
                "names no scenario or flow step of the config (expected scenario, flow/step, \
                 target/scenario or target/flow/step; the names are {})",
                row_names(&all).join(", ")
            )
        };
        let source = if index < config.load.thresholds.len() {
            format!("load.thresholds[{index}]")
        } else {
            "--threshold".to_string()
        };
        return Err(format!(
            "{source}: threshold {:?}: {name} {why}",
            threshold.to_string()
        ));
    }
    Ok(())
}

/// The names a threshold may scope to, in config order: each scenario (a flow by its own name)
/// and each flow step as `flow/step`.
fn row_names(rows: &[RowKey]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for row in rows {
        let scenario = row.scenario.to_string();
        let step = row.step.map(|step| format!("{}/{step}", row.scenario));
        for name in std::iter::once(scenario).chain(step) {
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    names
}

/// Refuses a `prometheus.NAME` threshold whose NAME is not a `load.prometheus` query: it could
/// only fail.
fn query_thresholds_known(config: &Config, thresholds: &[Threshold]) -> Result<(), String> {
    let queries = config.load.prometheus.as_ref().map(|p| &p.queries);
    for threshold in thresholds {
        let Some(name) = threshold.query() else {
            continue;
        };
        let known = queries.is_some_and(|q| q.iter().any(|(n, _)| n == name));
        if !known {
            let have = match queries {
                Some(q) => format!(
                    "the queries of load.prometheus are {}",
                    q.iter()
                        .map(|(n, _)| n.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                None => "the config has no load.prometheus section".to_string(),
            };
            return Err(format!(
                "threshold {:?}: no query named {name}: {have}",
                threshold.to_string()
            ));
        }
    }
    Ok(())
}

/// The profile from `--profile` or the constant-load flags, with the overrides applied.
fn build_profile(args: &LoadArgs) -> Result<Profile, String> {
    let (duration, rate) = (args.duration, args.rate);
    if args.users.is_some() && rate.is_some() {
        return Err("--users (closed model) and --rate (open model) exclude each other".into());
    }
    let search = args.find_breaking_point;
    let name = match (&args.profile, search) {
        (Some(name), None) => Some(name.as_str()),
        (None, Some(_)) => Some("stress"),
        (Some(name), Some(_)) if name == "stress" => Some("stress"),
        (Some(name), Some(_)) => {
            return Err(format!(
                "--find-breaking-point runs the stress profile, not {name:?}"
            ));
        }
        (None, None) => None,
    };
    let mut profile = match name {
        Some("stress") => {
            let step = duration.unwrap_or(Duration::from_secs(30));
            match search.unwrap_or(SearchUnit::Rate) {
                SearchUnit::Rate if args.users.is_some() => {
                    return Err("the rate search starts at --rate; --users starts --find-breaking-point=users".into());
                }
                SearchUnit::Rate => Profile::stress(rate.unwrap_or(10.0), 1.5, step, 12),
                SearchUnit::Users if rate.is_some() => {
                    return Err("the users search starts at --users; --rate starts --find-breaking-point=rate".into());
                }
                SearchUnit::Users => {
                    Profile::stress_users(f64::from(args.users.unwrap_or(1)), step, 12)
                }
            }
        }
        Some(name) => named_profile(name).map_err(|e| format!("--profile {name:?}: {e}"))?,
        None => {
            // With --iterations, the users' work ends the run; the longest run is its bound.
            let bound = args.iterations.map(|_| MAX_STAGE);
            let duration = duration.or(bound).ok_or_else(|| {
                "give --profile NAME|FILE, or --users N (or --rate R) with --duration D".to_string()
            })?;
            match (args.users, rate) {
                (Some(users), None) => {
                    Profile::constant(LoadModel::Closed, f64::from(users), duration)
                }
                (None, Some(rate)) => Profile::constant(LoadModel::Open, rate, duration),
                _ => return Err("--duration needs --users N or --rate R".into()),
            }
        }
    };
    if name.is_some() && name != Some("stress") {
        rescale(&mut profile, args.users.map(f64::from).or(rate))?;
    }
    user_settings(&mut profile, args, name.is_some() && name != Some("stress"))?;
    Ok(profile)
}

/// A built-in profile other than `stress`, or a profile file.
fn named_profile(name: &str) -> Result<Profile, String> {
    match Profile::built_in(name) {
        Some(profile) => Ok(profile),
        None if Path::new(name).exists() => Profile::from_file(Path::new(name)),
        None => Err(format!(
            "neither a built-in profile ({}) nor a file",
            profile::BUILT_IN.join(", ")
        )),
    }
}

/// Applies `--duration` (when `cut`: a named profile stops after it), `--think-time` and
/// `--spawn-rate` to a profile.
fn user_settings(profile: &mut Profile, args: &LoadArgs, cut: bool) -> Result<(), String> {
    if let Some(limit) = args.duration.filter(|_| cut) {
        truncate(profile, limit);
    }
    if let Some(think_time) = args.think_time {
        if profile.model == LoadModel::Open {
            return Err("--think-time applies to the closed model (users), not to --rate".into());
        }
        profile.think_time = think_time;
    }
    if let Some(rate) = args.spawn_rate {
        profile.spawn_rate = Some(rate);
    }
    Ok(())
}

/// The profiles of `--profile=a,b,c`, checked before any traffic: each known (a built-in or a
/// file), given once, of one load model, none a breaking-point search. `None` for one profile.
/// `--duration` cuts each profile; `--users`/`--rate` (one peak) would make the profiles the
/// same, so they are refused.
fn several_profiles(args: &LoadArgs) -> Result<Option<Sequence>, String> {
    let Some(list) = args.profile.as_deref().filter(|p| p.contains(',')) else {
        return Ok(None);
    };
    let refuse = |why: &str| Err(format!("--profile {list:?}: {why}"));
    if args.find_breaking_point.is_some() {
        return refuse("--find-breaking-point runs one search, not several profiles");
    }
    if args.users.is_some() || args.rate.is_some() {
        return refuse(
            "--users and --rate scale one profile; give each profile its level in a profile file",
        );
    }
    let mut profiles: Vec<Profile> = Vec::new();
    for name in list.split(',').map(str::trim) {
        if name.is_empty() {
            return refuse("an empty profile name; separate names with single commas");
        }
        if name == "stress" {
            return refuse(
                "stress is a breaking-point search (--find-breaking-point) and runs on its own",
            );
        }
        if profiles.iter().any(|p| p.name == name) {
            return refuse(&format!("{name} is named twice; name each profile once"));
        }
        let mut profile = named_profile(name).map_err(|e| format!("--profile {name:?}: {e}"))?;
        if let Some(first) = profiles.first()
            && first.model != profile.model
        {
            return refuse(&format!(
                "{name} uses the {} model but {} the {}; the profiles of one run share a load model",
                model_name(profile.model),
                first.name,
                model_name(first.model)
            ));
        }
        user_settings(&mut profile, args, true)?;
        profiles.push(profile);
    }
    Ok(Some(Sequence {
        profiles,
        pause: args.profile_pause,
    }))
}

/// `closed` or `open`, as profile files write it.
fn model_name(model: LoadModel) -> &'static str {
    match model {
        LoadModel::Closed => "closed",
        LoadModel::Open => "open",
    }
}

/// Refuses `--iterations` where "N per user" has no meaning: it needs virtual users at a
/// constant number (`--users N`), not an arrival rate nor a profile whose users come and go.
fn iterations_fit(args: &LoadArgs) -> Result<(), String> {
    if args.iterations.is_none() {
        return Ok(());
    }
    if args.rate.is_some() {
        return Err("--iterations counts each virtual user's iterations: it needs --users N (closed model), not --rate (open model, no users)".into());
    }
    if args.profile.is_some() || args.find_breaking_point.is_some() {
        return Err("--iterations runs a constant number of users (--users N): in a staged profile users come and go, so N iterations per user has no meaning; drop --profile".into());
    }
    if args.users.is_none() {
        return Err("--iterations needs --users N: how many virtual users run them".into());
    }
    Ok(())
}

/// Scales a profile's stages so that its peak is `peak` (a `--users`/`--rate` override).
fn rescale(profile: &mut Profile, peak: Option<f64>) -> Result<(), String> {
    let Some(peak) = peak else { return Ok(()) };
    let current = profile.stages.iter().map(|s| s.target).fold(0.0, f64::max);
    if current <= 0.0 {
        return Err(format!("profile {}: has no load to scale", profile.name));
    }
    for stage in &mut profile.stages {
        stage.target *= peak / current;
        if profile.model == LoadModel::Closed {
            stage.target = stage.target.round();
        }
    }
    Ok(())
}

/// Cuts the profile at `limit`.
fn truncate(profile: &mut Profile, limit: Duration) {
    let mut left = limit;
    profile.stages.retain_mut(|stage| {
        if left.is_zero() && !stage.duration.is_zero() {
            return false;
        }
        stage.duration = stage.duration.min(left);
        left -= stage.duration;
        true
    });
}

/// Judges one breaking-point step with the thresholds: the first that failed, if any.
fn step_verdict(
    thresholds: &[Threshold],
    stats: &[ScenarioStats],
    length: Duration,
) -> Option<String> {
    let step = Report::for_step(stats.to_vec(), length);
    // A step has no Prometheus series of its own: query thresholds judge the whole run.
    let on_requests: Vec<Threshold> = thresholds
        .iter()
        .filter(|t| t.query().is_none())
        .cloned()
        .collect();
    threshold::evaluate(&on_requests, &step)
        .into_iter()
        .find(|r| !r.passed)
        .map(|r: ThresholdResult| r.detail)
}

/// Prints the summary and writes the requested files; false when a location failed and its
/// files were rescued elsewhere (said on stderr).
fn publish(
    args: &LoadArgs,
    out: Option<&Path>,
    report: &Report,
    grades: &grade::Grades,
    comparison: Option<&Comparison>,
) -> bool {
    let mut stdout = std::io::stdout().lock();
    let shown = summary::render(report, grades, &mut stdout)
        .and_then(|()| comparison.map_or(Ok(()), |c| compare::render_text(c, &mut stdout)));
    // A closed stdout must not keep the report files from being written.
    if let Err(e) = shown {
        error(&format!("stdout: {e}"));
    }
    let prefix = match report.shards.as_slice() {
        [shard] if shard.count > 1 => format!("synthex-shard{}", shard.index),
        _ => "synthex".to_string(),
    };
    let written = outputs(args, out).write(report, grades, comparison, &prefix);
    for path in &written.files {
        eprintln!("synthex: wrote {}", path.display());
    }
    for line in &written.rescued {
        error(line);
    }
    written.rescued.is_empty()
}

/// Prints an error line, through the redaction every printed text gets (a proxy error can
/// quote the proxy's URL with its password).
fn error(message: &str) {
    eprintln!("synthex: error: {}", crate::config::redact(message));
}

/// The output locations the flags name (`out`: `--out` with its placeholders filled in).
fn outputs<'a>(args: &'a LoadArgs, out: Option<&'a Path>) -> Outputs<'a> {
    Outputs {
        dir: out,
        baseline: args.save_baseline.as_deref(),
        history: csv::History::of_flag(args.csv_full_history),
    }
}

/// The exit status: interrupted, thresholds failed (or one aborted the run) or regressions
/// found, test data ran out under `on_exhausted: fail`, or ok.
fn verdict(report: &Report, comparison: Option<&Comparison>, fail_on_regression: bool) -> u8 {
    if report.interrupted {
        return exit::INTERRUPTED;
    }
    let thresholds_failed = report.thresholds.iter().any(|t| !t.passed) || report.aborted.is_some();
    let regressed = fail_on_regression && comparison.is_some_and(Comparison::has_regressions);
    let out_of_data = report.data_exhausted.as_ref().is_some_and(|d| d.fails());
    if thresholds_failed || regressed || out_of_data {
        exit::THRESHOLDS
    } else {
        exit::OK
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_scales_to_a_peak_and_stops_at_a_duration() {
        let mut spike = Profile::built_in("spike").unwrap();
        rescale(&mut spike, Some(100.0)).unwrap();
        assert_eq!(spike.level_at(Duration::from_secs(25)), 100.0);
        assert_eq!(spike.level_at(Duration::from_secs(5)), 2.0);
        let mut light = Profile::built_in("light").unwrap();
        truncate(&mut light, Duration::from_secs(15));
        assert_eq!(light.duration(), Duration::from_secs(15));
        assert_eq!(light.level_at(Duration::from_secs(12)), 10.0);
    }
}
