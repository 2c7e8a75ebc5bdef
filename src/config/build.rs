//! Turns the checked file structs into the domain model: applies defaults, resolves `${VAR}`
//! references and secret files, joins URLs, and merges latency objectives into the histogram
//! buckets so alert rules find a bucket boundary at each threshold.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue, Method};
use regex::Regex;
use reqwest::Url;

use super::FieldError;
use super::collections::{BackoffFile, NativeHistogramFile, OffOr};
use super::env::{EnvLookup, EnvText};
use super::file::*;
use super::load::PrometheusFile;
use super::scalar::{Kind, Scalar};
use super::secrets::{authorization, expand, target_headers};
use super::text::http_url;
use super::{io_message, units::quote};
use crate::scenario::*;
use crate::scheduler;

/// Default summary quantiles.
pub const DEFAULT_QUANTILES: [f64; 4] = [0.5, 0.9, 0.95, 0.99];
/// Default histogram buckets (seconds): dense from 5 ms to 1 s, where objectives usually sit.
pub const DEFAULT_BUCKETS: [f64; 18] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0,
    10.0,
];
/// Default cache headers, the ones common CDNs and proxies set.
pub const DEFAULT_CACHE_HEADERS: [&str; 3] = ["x-cache", "x-cache-status", "cf-cache-status"];
/// Default pattern of a cache hit.
pub const DEFAULT_CACHE_HIT: &str = r"(?i)\bhit\b";

/// What building needs besides the file: where relative paths start, and the environment.
pub struct Context<'a> {
    /// Directory of the config file; relative file paths are resolved against it.
    pub dir: PathBuf,
    /// Source of `${VAR}` values.
    pub env: EnvLookup<'a>,
}

impl Context<'_> {
    fn resolve(&self, path: &Path) -> PathBuf {
        self.dir.join(path)
    }
}

/// Builds the domain [`Config`]; `file` must have passed `validate::check`.
pub fn config(
    mut file: ConfigFile,
    source: &Path,
    ctx: &Context<'_>,
) -> Result<Config, FieldError> {
    let prometheus = file
        .load
        .prometheus
        .take()
        .map(|p| prometheus(p, ctx))
        .transpose()?;
    let mut global = global(file.global);
    let targets = file
        .targets
        .into_iter()
        .enumerate()
        .map(|(index, t)| target(&format!("targets[{index}]"), t, ctx))
        .collect::<Result<Vec<_>, _>>()?;
    let thresholds = targets.iter().flat_map(|t| {
        t.objectives
            .latency
            .iter()
            .map(|(_, limit)| limit.as_secs_f64())
    });
    global.buckets = merge_buckets(&global.buckets, thresholds);
    Ok(Config {
        source: source.to_path_buf(),
        global,
        targets,
        resources: resources(file.resources, ctx),
        load: LoadSettings {
            prometheus,
            ..super::load::settings(file.load)
        },
    })
}

/// `load.prometheus` with `${VAR}`s expanded, secrets read and the CA bundle checked.
fn prometheus(file: PrometheusFile, ctx: &Context<'_>) -> Result<PrometheusSource, FieldError> {
    let path = "load.prometheus";
    let url = expanded_url(&format!("{path}.url"), &file.url.0, ctx)?;
    let authorization = authorization(path, &file.credentials(), ctx.env, &|p| ctx.resolve(p))?;
    let interval = value(file.interval).unwrap_or(Duration::from_secs(5));
    Ok(PrometheusSource {
        url,
        interval,
        timeout: value(file.timeout).unwrap_or(Duration::from_secs(5)),
        queries: file.queries.0.into_iter().map(|(k, v)| (k, v.0)).collect(),
        authorization,
        tls: tls(&format!("{path}.tls"), file.tls, ctx)?,
    })
}

/// Sorted union of `buckets` and `extra`, with bounds closer than a nanosecond merged.
pub fn merge_buckets(buckets: &[f64], extra: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut all: Vec<f64> = buckets.iter().copied().chain(extra).collect();
    all.sort_by(f64::total_cmp);
    all.dedup_by(|later, earlier| (*later - *earlier).abs() < 1e-9);
    all
}

fn global(file: GlobalFile) -> Global {
    let marker = (
        HeaderName::from_static("x-synthetic"),
        HeaderValue::from_static("1"),
    );
    Global {
        labels: file.labels.0.into_iter().collect(),
        quantiles: floats(file.quantiles, &DEFAULT_QUANTILES),
        quantile_window: value(file.quantile_window).unwrap_or(Duration::from_secs(300)),
        buckets: floats(file.buckets, &DEFAULT_BUCKETS),
        max_body_bytes: value(file.max_body_bytes).unwrap_or(1 << 20),
        marker_header: value(file.marker_header).unwrap_or(Some(marker)),
        jitter: value(file.jitter).unwrap_or(0.1),
        shutdown_grace: value(file.shutdown_grace).unwrap_or(Duration::from_secs(10)),
        max_total_rate: value(file.max_total_rate).unwrap_or(DEFAULT_MAX_TOTAL_RATE),
        trace_context: value(file.trace_context).unwrap_or(true),
        native_histogram: native_histogram(file.native_histogram),
    }
}

fn native_histogram(file: Option<OffOr<NativeHistogramFile>>) -> Option<NativeHistogramSettings> {
    let settings = match file {
        Some(OffOr::Off) => return None,
        Some(OffOr::On(settings)) => settings,
        None => NativeHistogramFile::default(),
    };
    let default = DEFAULT_NATIVE_HISTOGRAM;
    Some(NativeHistogramSettings {
        schema: value(settings.schema).unwrap_or(default.schema),
        max_buckets: value(settings.max_buckets).unwrap_or(default.max_buckets),
    })
}

/// The listed numbers, or `default` when the key is absent.
fn floats<K: Kind<Value = f64>>(values: Option<Vec<Scalar<K>>>, default: &[f64]) -> Vec<f64> {
    match values {
        Some(values) => values.into_iter().map(Scalar::into_inner).collect(),
        None => default.to_vec(),
    }
}

fn target(path: &str, file: TargetFile, ctx: &Context<'_>) -> Result<Target, FieldError> {
    let headers = target_headers(path, &file, ctx.env, &|p| ctx.resolve(p))?;
    let base_url = expanded_url(&format!("{path}.base_url"), &file.base_url.0, ctx)?;
    let proxy = match &file.proxy {
        Some(proxy) => Some(expanded_url(&format!("{path}.proxy"), &proxy.0, ctx)?),
        None => None,
    };
    let stats = match file.stats {
        Some(stats) => Some(stats_endpoint(&format!("{path}.stats"), stats, &base_url)?),
        None => None,
    };
    Ok(Target {
        name: file.name.0,
        base_url,
        rate: file.rate.0,
        timeout: value(file.timeout).unwrap_or(Duration::from_secs(5)),
        max_in_flight: value(file.max_in_flight)
            .unwrap_or_else(|| scheduler::default_max_in_flight(file.rate.0.period())),
        keep_alive: file.keep_alive,
        guard: guard(file.backoff, value(file.retry_after_cap)),
        follow_redirects: value(file.follow_redirects).unwrap_or(0),
        headers,
        proxy,
        tls: tls(&format!("{path}.tls"), file.tls, ctx)?,
        cache: cache_rule(file.cache),
        stats,
        objectives: file.objectives.map(|o| o.0).unwrap_or_default(),
        scenarios: file
            .scenarios
            .into_iter()
            .enumerate()
            .map(|(index, s)| scenario(&format!("{path}.scenarios[{index}]"), s, ctx))
            .collect::<Result<_, _>>()?,
    })
}

/// The target's guard settings: each absent key takes its default.
fn guard(backoff: Option<BackoffFile>, retry_after_cap: Option<Duration>) -> GuardSettings {
    let defaults = GuardSettings::default();
    let backoff = match backoff {
        Some(BackoffFile::Off) => None,
        Some(BackoffFile::On(settings)) => {
            let default = Backoff::default();
            Some(Backoff {
                after_failures: value(settings.after_failures).unwrap_or(default.after_failures),
                floor: value(settings.floor).unwrap_or(default.floor),
            })
        }
        None => defaults.backoff,
    };
    GuardSettings {
        backoff,
        retry_after_cap: retry_after_cap.unwrap_or(defaults.retry_after_cap),
    }
}

/// Expands and checks a URL; messages quote it as written, never with secrets filled in.
fn expanded_url(field: &str, text: &EnvText, ctx: &Context<'_>) -> Result<Url, FieldError> {
    let expanded = expand(field, text, ctx.env)?;
    http_url("URL", &expanded, &text.as_written()).map_err(|m| FieldError::new(field, m))
}

/// A stats URL starting with `/` is appended to `base_url`'s path (`http://h/api` + `/stats`
/// → `http://h/api/stats`); anything else is an absolute URL already checked.
pub fn stats_url(base: &Url, url: &str) -> Result<Url, String> {
    let joined = match url.strip_prefix('/') {
        Some(_) => {
            let mut base = base.clone();
            base.set_query(None);
            base.set_fragment(None);
            format!("{}{url}", base.as_str().trim_end_matches('/'))
        }
        None => url.to_string(),
    };
    Url::parse(&joined).map_err(|e| format!("invalid stats URL {}: {e}", quote(url)))
}

fn stats_endpoint(path: &str, file: StatsFile, base: &Url) -> Result<StatsEndpoint, FieldError> {
    Ok(StatsEndpoint {
        url: stats_url(base, &file.url.0).map_err(|m| FieldError::new(format!("{path}.url"), m))?,
        interval: value(file.interval).unwrap_or(Duration::from_secs(15)),
        fields: file.fields.0.into_iter().map(|(k, v)| (k, v.0)).collect(),
    })
}

fn tls(path: &str, file: TlsFile, ctx: &Context<'_>) -> Result<TlsSettings, FieldError> {
    let ca_file = value(file.ca_file).map(|p| ctx.resolve(&p));
    if let Some(ca) = &ca_file {
        let field = format!("{path}.ca_file");
        let pem = std::fs::read_to_string(ca).map_err(|e| {
            FieldError::new(
                &field,
                format!("cannot read {}: {}", ca.display(), io_message(&e)),
            )
        })?;
        if !pem.contains("-----BEGIN CERTIFICATE-----") {
            return Err(FieldError::new(
                &field,
                format!(
                    "{} holds no certificate: expected PEM blocks starting with -----BEGIN CERTIFICATE-----",
                    ca.display()
                ),
            ));
        }
    }
    Ok(TlsSettings {
        ca_file,
        insecure_skip_verify: file.insecure_skip_verify,
        server_name: value(file.server_name),
    })
}

fn cache_rule(file: Option<CacheFile>) -> CacheRule {
    let default_headers = || {
        DEFAULT_CACHE_HEADERS
            .iter()
            .map(|h| HeaderName::from_static(h))
            .collect()
    };
    let default_hit =
        || Regex::new(DEFAULT_CACHE_HIT).expect("the default cache-hit pattern is a valid regex");
    let Some(file) = file else {
        return CacheRule {
            headers: default_headers(),
            hit: default_hit(),
            age_is_hit: false,
        };
    };
    let headers = match (file.header, file.headers) {
        (Some(one), _) => vec![one.0],
        (None, Some(list)) => list.into_iter().map(|h| h.0).collect(),
        (None, None) => default_headers(),
    };
    CacheRule {
        headers,
        hit: value(file.hit).unwrap_or_else(default_hit),
        age_is_hit: file.age_is_hit,
    }
}

/// The scenario of `file`, which `validate::check` found to be either a single request or a
/// flow, with its data source opened and checked against the fields its templates read.
fn scenario(path: &str, file: ScenarioFile, ctx: &Context<'_>) -> Result<Scenario, FieldError> {
    let data = match &file.data {
        Some(data) => {
            let templates: Vec<(String, &crate::template::Template)> =
                super::data::scenario_templates(path, &file)
                    .into_iter()
                    .map(|(at, template, _)| (at, template))
                    .collect();
            let resolved = ctx.resolve(&data.file.0);
            Some(Arc::new(super::data::source(
                path, data, resolved, &templates,
            )?))
        }
        None => None,
    };
    let action = match (file.request, file.steps) {
        (Some(request), _) => Action::Request(call(request, file.expect.unwrap_or_default())),
        (None, steps) => Action::Flow(Flow {
            on_start: file.on_start.into_iter().flatten().map(step).collect(),
            steps: steps.into_iter().flatten().map(step).collect(),
        }),
    };
    Ok(Scenario {
        name: file.name.0,
        weight: value(file.weight).unwrap_or(1),
        tags: file.tags.into_iter().map(|t| t.0).collect(),
        action,
        data,
    })
}

fn step(file: StepFile) -> Step {
    Step {
        name: file.name.0,
        call: call(file.request, file.expect),
        extract: file
            .extract
            .0
            .into_iter()
            .filter_map(|(var, from)| {
                let source = match (from.json, from.header, from.regex) {
                    (Some(pointer), _, _) => ExtractSource::Json(pointer.0),
                    (None, Some(header), _) => ExtractSource::Header(header.0),
                    (None, None, Some(regex)) => ExtractSource::Regex(regex.0),
                    // validate::check refuses an extraction without a source before building.
                    (None, None, None) => return None,
                };
                Some(Extraction { var, source })
            })
            .collect(),
    }
}

fn call(request: RequestFile, expect: ExpectFile) -> Call {
    Call {
        request: RequestTemplate {
            method: value(request.method).unwrap_or(Method::GET),
            path: request.path.0,
            headers: request
                .headers
                .0
                .into_iter()
                .map(|(k, v)| (k, v.0))
                .collect(),
            body: value(request.body),
        },
        expect: expectations(expect),
    }
}

/// The checks of an `expect:` mapping, with the default status (any 2xx) when none is given;
/// scenarios and the load test's health gate share them.
pub fn expectations(expect: ExpectFile) -> Expectations {
    Expectations {
        status: match expect.status {
            Some(list) => list.into_iter().map(|s| s.0).collect(),
            None => vec![StatusMatch::Class(2)],
        },
        body_contains: expect.body_contains.0,
        body_regex: expect.body_regex.0,
        json: expect.json.0,
        headers: expect
            .headers
            .0
            .into_iter()
            .map(|(name, matches)| HeaderExpectation {
                name,
                matches: matches.0,
            })
            .collect(),
        max_latency: value(expect.max_latency),
    }
}

fn resources(file: ResourcesFile, ctx: &Context<'_>) -> Resources {
    let processes = file.processes.into_iter().filter_map(|p| {
        let selector = match (p.exe, p.cmdline, p.pid_file) {
            (Some(exe), _, _) => ProcessSelector::Exe(exe.0),
            (None, Some(cmdline), _) => ProcessSelector::Cmdline(cmdline.0),
            (None, None, Some(pid_file)) => ProcessSelector::PidFile(ctx.resolve(&pid_file.0)),
            // validate::check refuses a process without a selector before building.
            (None, None, None) => return None,
        };
        Some(WatchedProcess {
            name: p.name.0,
            selector,
        })
    });
    Resources {
        interval: value(file.interval).unwrap_or(Duration::from_secs(5)),
        processes: processes.collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objective_thresholds_merge_into_sorted_unique_buckets() {
        let merged = merge_buckets(&[0.05, 0.1, 1.0], [0.12, 0.05, 0.1 + 1e-12].into_iter());
        assert_eq!(merged, [0.05, 0.1, 0.12, 1.0]);
        let from_duration = Duration::from_millis(250).as_secs_f64();
        assert_eq!(
            merge_buckets(&DEFAULT_BUCKETS, [from_duration].into_iter()).len(),
            18
        );
    }

    #[test]
    fn stats_paths_append_to_the_base_path() {
        let join = |base: &str, url: &str| {
            stats_url(&Url::parse(base).unwrap(), url)
                .unwrap()
                .to_string()
        };
        assert_eq!(join("http://h:1", "/stats"), "http://h:1/stats");
        assert_eq!(
            join("http://h/api/", "/stats?x=1"),
            "http://h/api/stats?x=1"
        );
        assert_eq!(join("http://h/api?k=v", "/stats"), "http://h/api/stats");
        assert_eq!(join("http://h/api", "https://other/s"), "https://other/s");
    }
}
