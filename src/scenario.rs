//! The validated domain model that every mode runs on.
//!
//! `config::load` turns the YAML file into these types once, at start-up: every string that has a
//! structure (URL, method, header, duration, regex, template) is parsed here, so the scheduler,
//! probe and metrics never see raw config and never fail on it at run time.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use rand::Rng;
use regex::Regex;
use reqwest::Url;

use crate::data::DataSource;
use crate::report::compare::Tolerances;
use crate::report::findings::FindingRules;
use crate::report::grade::GradeScale;
use crate::report::threshold::Threshold;
use crate::template::{Iteration, Template};

/// Everything one `synthex` process runs: global settings, the targets with their scenarios, and
/// the resource sampling. Built by `config::load`.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file this was loaded from, named in logs and on the status page.
    pub source: PathBuf,
    /// Settings that apply to every target.
    pub global: Global,
    /// The services to probe, in file order.
    pub targets: Vec<Target>,
    /// Host and watched-process resource sampling.
    pub resources: Resources,
    /// What load tests of these scenarios must meet (`load:`).
    pub load: LoadSettings,
}

/// `load:` settings: thresholds checked after every load test, grade boundaries and baseline
/// tolerances. All have defaults, so a daemon config runs as a load test unchanged.
#[derive(Debug, Clone, Default)]
pub struct LoadSettings {
    /// Thresholds from the file (the command line may add more).
    pub thresholds: Vec<Threshold>,
    /// Grade boundaries of the summary.
    pub grades: GradeScale,
    /// What counts as a regression against a baseline.
    pub baseline_tolerances: Tolerances,
    /// Checked on every target before a load test (`load.health`); none when absent.
    pub health: Option<HealthCheck>,
    /// The bounds of the findings drawn at the end of a run (`load.findings`).
    pub findings: FindingRules,
    /// The service's own metrics read from Prometheus during a run (`load.prometheus`).
    pub prometheus: Option<PrometheusSource>,
    /// Warm-up before the measured run (`load.warmup`), none when absent.
    pub warmup: Option<Duration>,
    /// Arrival rate of the warm-up, requests/s.
    pub warmup_rate: f64,
}

/// `load.prometheus`: where the service's own metrics are and which to read. synthex's
/// sampler sees only its own host; in Kubernetes or behind a load balancer the service's CPU,
/// queues and pools are in Prometheus.
#[derive(Debug, Clone)]
pub struct PrometheusSource {
    /// The server's base URL (`/api/v1/query` is appended).
    pub url: Url,
    /// How often every query is evaluated.
    pub interval: Duration,
    /// Longest wait for one answer.
    pub timeout: Duration,
    /// `(name, PromQL)` in file order.
    pub queries: Vec<(String, String)>,
    /// `Authorization` from the credentials, if any (sensitive).
    pub authorization: Option<HeaderValue>,
    /// Certificate verification.
    pub tls: TlsSettings,
}

/// `load.health`: a load test against a broken deployment measures the breakage, not the
/// service, so each target must answer this request well before any load is sent.
#[derive(Debug, Clone)]
pub struct HealthCheck {
    /// Path (and query) joined onto each target's `base_url`.
    pub path: Template,
    /// Longest wait for the answer.
    pub timeout: Duration,
    /// What a healthy answer looks like.
    pub expect: Expectations,
}

/// Process-wide settings (`global:` in the file).
#[derive(Debug, Clone)]
pub struct Global {
    /// Constant labels added to every synthex metric (e.g. `env: prod`), sorted by name.
    pub labels: BTreeMap<String, String>,
    /// Quantiles exported by the `synthex_request_latency_seconds` summary, each in (0, 1).
    pub quantiles: Vec<f64>,
    /// Sliding window of the summary quantiles and the cache hit ratio.
    pub quantile_window: Duration,
    /// Upper bounds (seconds, strictly increasing) of `synthex_request_duration_seconds`.
    pub buckets: Vec<f64>,
    /// Largest response body read; a longer body fails the request with reason `body`.
    pub max_body_bytes: u64,
    /// Header that marks synthetic requests so the service can exclude them from business
    /// metrics (default `X-Synthetic: 1`); `None` when the config disables it.
    pub marker_header: Option<(HeaderName, HeaderValue)>,
    /// Largest fraction of the period by which a slot's start is shifted at random, so sidecars
    /// started together do not synchronise (default 0.1).
    pub jitter: f64,
    /// How long shutdown waits for in-flight requests before giving up on them.
    pub shutdown_grace: Duration,
    /// The most requests per second the targets together may be configured for: a config
    /// whose rates add up to more is refused, so a typo cannot turn a canary into a load test.
    pub max_total_rate: Rate,
    /// Whether every request carries a W3C `traceparent` header whose trace id becomes the
    /// latency histogram's exemplar (default on; `trace_context: off`).
    pub trace_context: bool,
    /// Resolution and size of the native form of `synthex_request_duration_seconds` in the
    /// protobuf exposition; `None` with `native_histogram: off`.
    pub native_histogram: Option<NativeHistogramSettings>,
}

/// `global.native_histogram`: the schema (resolution) and the most populated buckets of the
/// native duration histogram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NativeHistogramSettings {
    /// Each power of two is split into `2^schema` buckets (-4 to 8, as Prometheus accepts).
    pub schema: i32,
    /// Populated buckets above this halve the resolution, as client_golang does.
    pub max_buckets: usize,
}

/// Default `global.native_histogram`: schema 3 (buckets ~9 % wide, client_golang's
/// `NativeHistogramBucketFactor: 1.1`) and room for 160 buckets, enough for latencies from
/// 1 ms to 1 min at that resolution.
pub const DEFAULT_NATIVE_HISTOGRAM: NativeHistogramSettings = NativeHistogramSettings {
    schema: 3,
    max_buckets: 160,
};

/// Default of `global.max_total_rate`: well above what a sidecar canary needs (a few targets at
/// a few requests per second), well below what would load a small service.
pub const DEFAULT_MAX_TOTAL_RATE: Rate = Rate { per_second: 50.0 };

/// One service under watch (`targets[]`).
#[derive(Debug, Clone)]
pub struct Target {
    /// Label value `target` on every metric of this target; unique, `[a-zA-Z0-9_.-]+`.
    pub name: String,
    /// Scenario paths are joined onto this URL.
    pub base_url: Url,
    /// Arrival rate of synthetic requests, spread over all scenarios by weight.
    pub rate: Rate,
    /// Whole-request timeout (connect, headers and body); always set.
    pub timeout: Duration,
    /// Cap on requests of this target in flight at once; a slot beyond it is skipped and counted.
    pub max_in_flight: usize,
    /// `false` (default): a fresh connection per request, so DNS, connect and TLS are measured
    /// every time. `true`: pooled connections, like real clients.
    pub keep_alive: bool,
    /// How synthex eases off a target in trouble (backoff, `Retry-After`).
    pub guard: GuardSettings,
    /// Redirects a request follows (0: a redirect is the answer, judged by `expect.status`).
    pub follow_redirects: u32,
    /// Headers sent with every request of this target (secrets already resolved).
    pub headers: HeaderMap,
    /// Explicit proxy; environment proxy variables are never used.
    pub proxy: Option<Url>,
    /// How the target's TLS certificate is verified.
    pub tls: TlsSettings,
    /// How a response is classified as cache hit or miss.
    pub cache: CacheRule,
    /// The target's own JSON stats endpoint, if any.
    pub stats: Option<StatsEndpoint>,
    /// Objectives exported as `synthex_objective_*` gauges for the alert rules.
    pub objectives: Objectives,
    /// Weighted request scenarios, at least one.
    pub scenarios: Vec<Scenario>,
}

/// A request rate, stored as the interval between two arrivals.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Requests per second (`2/s` → 2.0, `30/m` → 0.5).
    pub per_second: f64,
}

impl Rate {
    /// Time between two scheduled requests.
    pub fn period(&self) -> Duration {
        Duration::from_secs_f64(1.0 / self.per_second)
    }
}

/// What protects a target that is in trouble from synthex's own traffic.
#[derive(Debug, Clone, PartialEq)]
pub struct GuardSettings {
    /// Slowing down after consecutive failures; `None` with `backoff: off`.
    pub backoff: Option<Backoff>,
    /// Longest pause a 429 or 503 answer's `Retry-After` can impose; zero ignores the header.
    pub retry_after_cap: Duration,
}

impl Default for GuardSettings {
    /// Backoff on with its defaults, `Retry-After` honoured for up to 5 minutes.
    fn default() -> GuardSettings {
        GuardSettings {
            backoff: Some(Backoff::default()),
            retry_after_cap: Duration::from_secs(300),
        }
    }
}

/// After `after_failures` consecutive failed requests the target's rate halves, and halves
/// again with every further failure, down to `floor`; the first success restores it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// Consecutive failures before the first halving (≥ 1).
    pub after_failures: u32,
    /// Lowest rate the halving reaches (at most the target's rate).
    pub floor: Rate,
}

impl Default for Backoff {
    /// 5 failures, then down to one request every 30 seconds.
    fn default() -> Backoff {
        Backoff {
            after_failures: 5,
            floor: Rate {
                per_second: 1.0 / 30.0,
            },
        }
    }
}

/// TLS verification settings of one target.
#[derive(Debug, Clone, Default)]
pub struct TlsSettings {
    /// Extra PEM CA bundle trusted on top of the system roots (private CAs).
    pub ca_file: Option<PathBuf>,
    /// Accept any certificate. Still records the expiry of whatever the peer presents.
    pub insecure_skip_verify: bool,
    /// Server name to verify instead of the URL host (SNI is sent for it too).
    pub server_name: Option<String>,
}

/// Cache detection: the first listed header present in a response decides hit or miss.
#[derive(Debug, Clone)]
pub struct CacheRule {
    /// Headers looked at, in order (default `X-Cache`, `X-Cache-Status`, `CF-Cache-Status`).
    pub headers: Vec<HeaderName>,
    /// A header value matching this is a hit, anything else a miss (default `(?i)\bhit\b`).
    pub hit: Regex,
    /// When no cache header is present, `Age > 0` counts as a hit and `Age: 0` as a miss.
    pub age_is_hit: bool,
}

/// The target's JSON stats endpoint; each field becomes `synthex_target_stat{target,field}`.
#[derive(Debug, Clone)]
pub struct StatsEndpoint {
    /// Absolute URL (a relative `url:` in the file is joined onto `base_url`).
    pub url: Url,
    /// Poll interval.
    pub interval: Duration,
    /// `field` label value → JSON pointer (RFC 6901) to a number or boolean.
    pub fields: BTreeMap<String, String>,
}

/// Service objectives of one target (all optional); exported, never evaluated here.
#[derive(Debug, Clone, Default)]
pub struct Objectives {
    /// Latency objectives by quantile, e.g. `p95: 50ms` → (0.95, 50 ms).
    pub latency: Vec<(f64, Duration)>,
    /// Highest acceptable failure ratio (0–1).
    pub error_ratio: Option<f64>,
    /// Availability SLO (0–1), for burn-rate alerts.
    pub availability: Option<f64>,
    /// Lowest acceptable cache hit ratio (0–1).
    pub cache_hit_ratio: Option<f64>,
}

/// One weighted kind of traffic (`targets[].scenarios[]`): a single request, or a flow of
/// steps run in order by one virtual user (or one daemon slot).
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Label value `scenario`; unique within its target.
    pub name: String,
    /// Relative weight (≥ 1) in the choice of the next request.
    pub weight: u32,
    /// Tags for selecting subsets in load tests.
    pub tags: Vec<String>,
    /// What one run of the scenario sends.
    pub action: Action,
    /// Rows for `{{ row.FIELD }}`, one per iteration; shared by every virtual user.
    pub data: Option<Arc<DataSource>>,
}

/// What one run of a scenario sends.
#[derive(Debug, Clone)]
pub enum Action {
    /// One request (`request:` and `expect:` on the scenario).
    Request(Call),
    /// Several requests in order (`steps:`, `on_start:`).
    Flow(Flow),
}

impl Scenario {
    /// A single-request scenario.
    pub fn single(name: &str, request: RequestTemplate, expect: Expectations) -> Scenario {
        Scenario {
            name: name.to_string(),
            weight: 1,
            tags: Vec::new(),
            action: Action::Request(Call { request, expect }),
            data: None,
        }
    }

    /// The request, when this scenario is a single request.
    pub fn call(&self) -> Option<&Call> {
        match &self.action {
            Action::Request(call) => Some(call),
            Action::Flow(_) => None,
        }
    }

    /// The flow, when this scenario is one.
    pub fn flow(&self) -> Option<&Flow> {
        match &self.action {
            Action::Flow(flow) => Some(flow),
            Action::Request(_) => None,
        }
    }

    /// The rows this scenario's requests are counted in, in order: one unnamed row for a single
    /// request, one per step (`on_start` steps first) for a flow. A row is a series of the
    /// request metrics and a line of the load-test report.
    pub fn rows(&self) -> Vec<(Option<&str>, &Call)> {
        match &self.action {
            Action::Request(call) => vec![(None, call)],
            Action::Flow(flow) => flow
                .all_steps()
                .map(|step| (Some(step.name.as_str()), &step.call))
                .collect(),
        }
    }
}

/// One request and what its response must look like.
#[derive(Debug, Clone)]
pub struct Call {
    /// What to send.
    pub request: RequestTemplate,
    /// What the response must look like to count as a success.
    pub expect: Expectations,
}

impl Scenario {
    /// What iteration number `counter` of this scenario renders with: its data row, if it
    /// has data. `None` once `unique` data has handed out every row: the iteration must not
    /// run. `rng` picks `random` rows.
    pub fn iteration<R: Rng + ?Sized>(&self, counter: u64, rng: &mut R) -> Option<Iteration> {
        let row = match &self.data {
            Some(data) => Some(data.next_row(rng)?),
            None => None,
        };
        Some(Iteration {
            row,
            counter,
            ..Iteration::default()
        })
    }
}

/// A multi-step flow: `on_start` steps once per virtual user, then `steps` on every run, all
/// sharing one cookie jar and one set of variables.
#[derive(Debug, Clone)]
pub struct Flow {
    /// Run once when a virtual user starts (load tests), or before the steps of every run in
    /// the daemon, where each run is a fresh session.
    pub on_start: Vec<Step>,
    /// Run in order on every run; at least one.
    pub steps: Vec<Step>,
}

impl Flow {
    /// `on_start` then `steps`: the order of the flow's rows.
    pub fn all_steps(&self) -> impl Iterator<Item = &Step> {
        self.on_start.iter().chain(&self.steps)
    }
}

/// One request of a flow.
#[derive(Debug, Clone)]
pub struct Step {
    /// Label value `step`; unique within its flow.
    pub name: String,
    /// The request and its expectations.
    pub call: Call,
    /// Values taken from a successful response into variables for the later steps.
    pub extract: Vec<Extraction>,
}

/// `extract: {VAR: {json|header|regex: …}}`: one variable taken from a response.
#[derive(Debug, Clone)]
pub struct Extraction {
    /// The variable, used as `{{ var NAME }}` by later steps.
    pub var: String,
    /// Where in the response the value is.
    pub source: ExtractSource,
}

/// Where an extracted value comes from.
#[derive(Debug, Clone)]
pub enum ExtractSource {
    /// A JSON pointer (RFC 6901) into the body; a string is taken as it is, any other JSON
    /// value as its JSON text.
    Json(String),
    /// A response header's value.
    Header(HeaderName),
    /// The first capture group of the first match in the body.
    Regex(Regex),
}

/// A request whose path, header values and body may vary per send.
#[derive(Debug, Clone)]
pub struct RequestTemplate {
    /// HTTP method.
    pub method: Method,
    /// Path and query, joined onto the target's `base_url`.
    pub path: Template,
    /// Extra headers of this scenario (override the target's on the same name).
    pub headers: Vec<(HeaderName, Template)>,
    /// Request body, if any.
    pub body: Option<Template>,
}

/// Checks on a response. A status outside `status` fails with reason `http_status`; any other
/// miss fails with reason `assertion`.
#[derive(Debug, Clone)]
pub struct Expectations {
    /// Accepted status codes (default: any 2xx).
    pub status: Vec<StatusMatch>,
    /// Substrings the body must contain.
    pub body_contains: Vec<String>,
    /// Patterns the body must match.
    pub body_regex: Vec<Regex>,
    /// JSON pointer → value the body's JSON must hold there.
    pub json: Vec<(String, serde_json::Value)>,
    /// Response header checks.
    pub headers: Vec<HeaderExpectation>,
    /// A slower response (from scheduled start) is an `assertion` failure.
    pub max_latency: Option<Duration>,
}

/// One accepted status: an exact code or a class such as `2xx`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusMatch {
    /// Exactly this code.
    Code(u16),
    /// Any code in `class*100 .. class*100+99`.
    Class(u16),
}

impl StatusMatch {
    /// Whether `code` is accepted.
    pub fn matches(&self, code: u16) -> bool {
        match *self {
            StatusMatch::Code(c) => c == code,
            StatusMatch::Class(class) => code / 100 == class,
        }
    }
}

/// A response header that must be present, and optionally match a pattern.
#[derive(Debug, Clone)]
pub struct HeaderExpectation {
    /// Header name.
    pub name: HeaderName,
    /// Pattern the value must match; `None` = presence is enough.
    pub matches: Option<Regex>,
}

/// Resource sampling (`resources:`).
#[derive(Debug, Clone)]
pub struct Resources {
    /// Sampling interval (≥ 1s; sysinfo needs 200 ms between CPU readings).
    pub interval: Duration,
    /// Processes of the service synthex sits beside.
    pub processes: Vec<WatchedProcess>,
}

/// A watched process group, label value `process`.
#[derive(Debug, Clone)]
pub struct WatchedProcess {
    /// Label value `process`; unique.
    pub name: String,
    /// How matching processes are found.
    pub selector: ProcessSelector,
}

/// How a watched process is found on each sample.
#[derive(Debug, Clone)]
pub enum ProcessSelector {
    /// Executable name (as in `/proc/PID/comm` or the file name of the exe).
    Exe(String),
    /// Regex over the full command line joined by spaces.
    Cmdline(Regex),
    /// File holding the pid (re-read each sample, so restarts are followed).
    PidFile(PathBuf),
}
