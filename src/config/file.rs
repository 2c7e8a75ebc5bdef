//! Serde structs mirroring the YAML file, one per mapping, kept apart from the domain model.
//!
//! Every mapping denies unknown fields, so a typo is an error listing the expected keys. Values
//! are parsed into typed kinds while the YAML is read (see [`super::scalar`]); what remains for
//! [`super::validate`] and [`super::build`] are checks across fields and lists, environment
//! lookups and file reads. Defaults live in `build`, where the domain values are made.

use serde::Deserialize;

use super::collections::{
    BackoffFile, Entries, NativeHistogramFile, ObjectivesFile, OffOr, OneOrMany,
};
use super::kinds::*;
use super::load::LoadFile;
use super::scalar::Scalar;
use super::text::*;

/// The whole file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Settings for every target; all optional.
    #[serde(default)]
    pub global: GlobalFile,
    /// The services to probe; at least one.
    #[serde(default)]
    pub targets: Vec<TargetFile>,
    /// Host and watched-process sampling.
    #[serde(default)]
    pub resources: ResourcesFile,
    /// Settings of `synthex load` runs on this file's scenarios.
    #[serde(default)]
    pub load: LoadFile,
}

/// `global:`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct GlobalFile {
    /// Constant labels on every metric (`env: prod`).
    #[serde(default)]
    pub labels: Entries<LabelNameKind, String>,
    /// Summary quantiles (default 0.5, 0.9, 0.95, 0.99).
    pub quantiles: Option<Vec<Scalar<QuantileKind>>>,
    /// Window of the summary quantiles and cache hit ratio (default 5m).
    pub quantile_window: Option<Scalar<WindowKind>>,
    /// Histogram bucket bounds in seconds (default: dense from 5 ms to 10 s).
    pub buckets: Option<Vec<Scalar<BucketKind>>>,
    /// Largest body read (default 1MiB).
    pub max_body_bytes: Option<Scalar<BytesKind>>,
    /// `Name: value` marking synthetic requests (default `X-Synthetic: 1`; `""` disables).
    pub marker_header: Option<Scalar<MarkerKind>>,
    /// Random shift of each slot, as a fraction of the period (default 10%).
    pub jitter: Option<Scalar<JitterKind>>,
    /// How long shutdown waits for in-flight requests (default 10s).
    pub shutdown_grace: Option<Scalar<GraceKind>>,
    /// Most requests per second all targets together may be configured for (default 50/s).
    pub max_total_rate: Option<Scalar<TotalRateKind>>,
    /// A W3C `traceparent` header on every request (default on).
    pub trace_context: Option<Scalar<SwitchKind>>,
    /// The native duration histogram (default {schema: 3, max_buckets: 160}; `off`).
    pub native_histogram: Option<OffOr<NativeHistogramFile>>,
}

/// `targets[]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetFile {
    /// Label value `target`.
    pub name: Scalar<NameKind>,
    /// URL that scenario paths are appended to; may reference `${VAR}`.
    pub base_url: Scalar<UrlKind>,
    /// Arrival rate across all scenarios.
    pub rate: Scalar<RateKind>,
    /// Whole-request timeout (default 5s).
    pub timeout: Option<Scalar<TimeoutKind>>,
    /// Cap on requests in flight (default 4).
    pub max_in_flight: Option<Scalar<InFlightKind>>,
    /// Reuse connections (default false: a fresh connection per request).
    #[serde(default)]
    pub keep_alive: bool,
    /// Slowing down after consecutive failures (default on: 5 failures, floor 1/30s).
    pub backoff: Option<BackoffFile>,
    /// Longest pause a `Retry-After` answer can impose (default 5m; 0s ignores it).
    pub retry_after_cap: Option<Scalar<RetryAfterCapKind>>,
    /// Redirects followed per request (default 0: the redirect is the answer).
    pub follow_redirects: Option<Scalar<RedirectsKind>>,
    /// Headers on every request; values may reference `${VAR}` and are treated as secrets.
    #[serde(default)]
    pub headers: Entries<HeaderNameKind, Scalar<SecretKind>>,
    /// Token sent as `Authorization: Bearer …`; may reference `${VAR}`.
    pub bearer_token: Option<Scalar<SecretKind>>,
    /// File holding the bearer token (read at load time, trailing newline trimmed).
    pub bearer_token_file: Option<Scalar<FileKind>>,
    /// HTTP basic authentication.
    pub basic_auth: Option<BasicAuthFile>,
    /// Explicit proxy URL; may reference `${VAR}`.
    pub proxy: Option<Scalar<UrlKind>>,
    /// Certificate verification.
    #[serde(default)]
    pub tls: TlsFile,
    /// Cache hit detection.
    pub cache: Option<CacheFile>,
    /// The target's JSON stats endpoint.
    pub stats: Option<StatsFile>,
    /// Objectives exported for alert rules.
    pub objectives: Option<ObjectivesFile>,
    /// Weighted scenarios; at least one.
    #[serde(default)]
    pub scenarios: Vec<ScenarioFile>,
}

/// `targets[].basic_auth`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuthFile {
    /// User name (no `:`).
    pub username: Scalar<UsernameKind>,
    /// Password; may reference `${VAR}`.
    pub password: Option<Scalar<SecretKind>>,
    /// File holding the password (read at load time, trailing newline trimmed).
    pub password_file: Option<Scalar<FileKind>>,
}

/// `targets[].tls`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TlsFile {
    /// Extra PEM CA bundle.
    pub ca_file: Option<Scalar<FileKind>>,
    /// Accept any certificate.
    #[serde(default)]
    pub insecure_skip_verify: bool,
    /// Name to verify instead of the URL host.
    pub server_name: Option<Scalar<ServerNameKind>>,
}

/// `targets[].cache`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheFile {
    /// Headers looked at in order.
    pub headers: Option<Vec<Scalar<HeaderNameKind>>>,
    /// A single header (shorthand for `headers: [X]`).
    pub header: Option<Scalar<HeaderNameKind>>,
    /// Pattern of a hit (default `(?i)\bhit\b`).
    pub hit: Option<Scalar<RegexKind>>,
    /// `Age > 0` counts as a hit when no cache header is present.
    #[serde(default)]
    pub age_is_hit: bool,
}

/// `targets[].stats`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatsFile {
    /// Path appended to `base_url`, or an absolute URL.
    pub url: Scalar<StatsUrlKind>,
    /// Poll interval (default 15s).
    pub interval: Option<Scalar<IntervalKind>>,
    /// `field` label value → JSON pointer.
    pub fields: Entries<NameKind, Scalar<PointerKind>>,
}

/// `targets[].scenarios[]`: a single request (`request`, `expect`) or a flow (`steps`,
/// `on_start`); `validate` checks that exactly one form is used.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// Label value `scenario`.
    pub name: Scalar<NameKind>,
    /// Relative weight (default 1).
    pub weight: Option<Scalar<WeightKind>>,
    /// Tags for load-test selection.
    #[serde(default)]
    pub tags: Vec<Scalar<NameKind>>,
    /// What to send (a single-request scenario).
    pub request: Option<RequestFile>,
    /// What the response must look like (a single-request scenario).
    pub expect: Option<ExpectFile>,
    /// The flow's steps, run in order.
    pub steps: Option<Vec<StepFile>>,
    /// Steps run once per virtual user before its first run of `steps`.
    pub on_start: Option<Vec<StepFile>>,
    /// Test data rows for `{{ row.FIELD }}`.
    pub data: Option<DataFile>,
}

/// `scenarios[].data`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataFile {
    /// CSV or JSON-lines file, relative to the config file.
    pub file: Scalar<FileKind>,
    /// Row order (default sequential).
    pub mode: Option<Scalar<DataModeKind>>,
    /// What a load test does when a `unique` file runs out (default stop).
    pub on_exhausted: Option<Scalar<OnExhaustedKind>>,
}

/// `scenarios[].steps[]` and `scenarios[].on_start[]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepFile {
    /// Label value `step`.
    pub name: Scalar<NameKind>,
    /// What to send.
    pub request: RequestFile,
    /// What the response must look like.
    #[serde(default)]
    pub expect: ExpectFile,
    /// Variable name → where in the response its value is.
    #[serde(default)]
    pub extract: Entries<VarNameKind, ExtractFile>,
}

/// `steps[].extract.VAR`: exactly one source (`validate` checks it).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtractFile {
    /// JSON pointer into the body.
    pub json: Option<Scalar<PointerKind>>,
    /// Response header.
    pub header: Option<Scalar<HeaderNameKind>>,
    /// Regex over the body with a capture group.
    pub regex: Option<Scalar<CaptureRegexKind>>,
}

/// `scenarios[].request`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestFile {
    /// Method (default GET).
    pub method: Option<Scalar<MethodKind>>,
    /// Path template starting with `/`.
    pub path: Scalar<PathKind>,
    /// Header templates.
    #[serde(default)]
    pub headers: Entries<HeaderNameKind, Scalar<TemplateKind>>,
    /// Body template.
    pub body: Option<Scalar<TemplateKind>>,
}

/// `scenarios[].expect`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ExpectFile {
    /// Accepted statuses (default `["2xx"]`).
    pub status: Option<Vec<Scalar<StatusKind>>>,
    /// Substrings the body must contain.
    #[serde(default)]
    pub body_contains: OneOrMany<NonEmptyKind>,
    /// Patterns the body must match.
    #[serde(default)]
    pub body_regex: OneOrMany<RegexKind>,
    /// JSON pointer → expected value.
    #[serde(default)]
    pub json: Entries<PointerKind, serde_json::Value>,
    /// Header name → pattern (`""` = presence).
    #[serde(default)]
    pub headers: Entries<HeaderNameKind, Scalar<OptionalRegexKind>>,
    /// Slowest acceptable response.
    pub max_latency: Option<Scalar<LatencyKind>>,
}

/// `resources:`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ResourcesFile {
    /// Sampling interval (default 5s).
    pub interval: Option<Scalar<IntervalKind>>,
    /// Watched processes.
    #[serde(default)]
    pub processes: Vec<ProcessFile>,
}

/// `resources.processes[]`: a name and exactly one selector.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessFile {
    /// Label value `process`.
    pub name: Scalar<NameKind>,
    /// Executable name.
    pub exe: Option<Scalar<NonEmptyKind>>,
    /// Regex over the command line.
    pub cmdline: Option<Scalar<RegexKind>>,
    /// File holding the pid.
    pub pid_file: Option<Scalar<FileKind>>,
}

/// Shorthand used by `build` for an optional parsed value.
pub fn value<K: super::scalar::Kind>(scalar: Option<Scalar<K>>) -> Option<K::Value> {
    scalar.map(Scalar::into_inner)
}
