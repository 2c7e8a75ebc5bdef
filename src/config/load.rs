//! The `load:` section as written: thresholds, grade boundaries and baseline tolerances, each
//! value read with the one grammar of values while the YAML is read (so a bad one is refused at
//! its line and column), then turned into the report's [`GradeScale`] and [`Tolerances`].

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use super::FieldError;
use super::build::expectations;
use super::collections::Entries;
use super::file::{BasicAuthFile, ExpectFile, TlsFile, value};
use super::kinds::{
    IntervalKind, LatencyBoundKind, LimitKind, ProportionKind, RatioKind, SwitchKind,
    ThresholdKind, TimeoutKind, TotalRateKind,
};
use super::scalar::{Kind, Scalar};
use super::secrets::Credentials;
use super::text::{FileKind, NameKind, NonEmptyKind, PathKind, SecretKind, UrlKind};
use super::units::format_number;
use crate::loadtest::values::{PeakRateKind, RunDurationKind, StageDurationKind};
use crate::report::compare::Tolerances;
use crate::report::findings::FindingRules;
use crate::report::grade::{Boundaries, GradeScale, ScoreSettings};
use crate::report::threshold::Threshold;
use crate::scenario::{HealthCheck, LoadSettings};

/// `load:`: what a load test of these scenarios must meet, and how it is graded.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LoadFile {
    /// k6-style thresholds (`p95 < 50ms`, `order_status: error_rate < 1%`, or the object
    /// form with `abort_on_fail`), on top of `--threshold` flags.
    #[serde(default)]
    pub thresholds: Vec<ThresholdEntry>,
    /// Where the grades of the summary start and end.
    #[serde(default)]
    pub grades: GradesFile,
    /// What counts as a regression against a baseline.
    #[serde(default)]
    pub baseline_tolerances: TolerancesFile,
    /// A request every target must answer well before any load is sent.
    pub health: Option<HealthFile>,
    /// The bounds of the findings drawn at the end of a run.
    #[serde(default)]
    pub findings: FindingsFile,
    /// The service's own metrics, read from Prometheus during the run.
    pub prometheus: Option<PrometheusFile>,
    /// How long the scenarios run at `warmup_rate` before the measured test (kept out of
    /// every statistic); `--warmup` overrides it.
    pub warmup: Option<Scalar<RunDurationKind>>,
    /// Arrival rate of the warm-up (default 5/s).
    pub warmup_rate: Option<Scalar<PeakRateKind>>,
    /// How the overall score weighs its signals, and their targets.
    #[serde(default)]
    pub score: ScoreFile,
}

/// One entry of `load.thresholds`: `"p95 < 50ms"`, or the object form
/// `{threshold: "error_rate < 1%", abort_on_fail: true, delay: 10s}` (k6's `abortOnFail` and
/// `delayAbortEval`: stop the run as soon as the threshold is crossed, but not in its first
/// `delay`).
pub struct ThresholdEntry(pub Threshold);

/// The object form of a threshold, as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ThresholdObject {
    threshold: Scalar<ThresholdKind>,
    abort_on_fail: Option<Scalar<SwitchKind>>,
    delay: Option<Scalar<StageDurationKind>>,
}

impl<'de> Deserialize<'de> for ThresholdEntry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ThresholdVisitor)
    }
}

struct ThresholdVisitor;

impl<'de> Visitor<'de> for ThresholdVisitor {
    type Value = ThresholdEntry;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "a threshold such as \"p95 < 50ms\", or a mapping such as {threshold: \"error_rate < 1%\", abort_on_fail: true, delay: 10s}",
        )
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        ThresholdKind::parse(text)
            .map(ThresholdEntry)
            .map_err(E::custom)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let object = ThresholdObject::deserialize(MapAccessDeserializer::new(map))?;
        let threshold = object.threshold.0;
        let abort = object.abort_on_fail.is_some_and(|a| a.0);
        match (abort, object.delay) {
            (true, delay) => threshold
                .with_abort(delay.map_or(Duration::ZERO, |d| d.0))
                .map(ThresholdEntry)
                .map_err(de::Error::custom),
            (false, Some(_)) => Err(de::Error::custom(format!(
                "threshold {:?}: delay applies to abort_on_fail: true only",
                threshold.to_string()
            ))),
            (false, None) => Ok(ThresholdEntry(threshold)),
        }
    }
}

/// `load.prometheus`: instant queries evaluated during the run, with a target's credentials
/// and TLS keys.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusFile {
    /// The Prometheus server (`http://prometheus:9090`, a path prefix allowed); may reference
    /// `${VAR}`.
    pub url: Scalar<UrlKind>,
    /// How often every query is evaluated (default 5s).
    pub interval: Option<Scalar<IntervalKind>>,
    /// Longest wait for one query's answer (default 5s).
    pub timeout: Option<Scalar<TimeoutKind>>,
    /// Name → PromQL expression returning one series (or a scalar).
    #[serde(default)]
    pub queries: Entries<NameKind, Scalar<NonEmptyKind>>,
    /// Token sent as `Authorization: Bearer …`; may reference `${VAR}`.
    pub bearer_token: Option<Scalar<SecretKind>>,
    /// File holding the bearer token.
    pub bearer_token_file: Option<Scalar<FileKind>>,
    /// HTTP basic authentication.
    pub basic_auth: Option<BasicAuthFile>,
    /// Certificate verification, as for targets.
    #[serde(default)]
    pub tls: TlsFile,
}

impl PrometheusFile {
    /// Its credential keys.
    pub fn credentials(&self) -> Credentials<'_> {
        Credentials {
            bearer_token: self.bearer_token.as_ref(),
            bearer_token_file: self.bearer_token_file.as_ref(),
            basic_auth: self.basic_auth.as_ref(),
        }
    }
}

/// `load.findings`: the bound of each rule (see `report::findings`); every key optional.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FindingsFile {
    /// Error ratio above which the run gets an `error_ratio` finding (default 1%).
    pub error_ratio: Option<Scalar<RatioKind>>,
    /// P99/P95 above which it gets `tail_latency` (default 2, at least 1).
    pub tail_ratio: Option<Scalar<ProportionKind>>,
    /// p95 growth against the first stage that makes a `latency_knee` (default 2, at least 1).
    pub knee: Option<Scalar<ProportionKind>>,
    /// Share of the load's growth throughput must follow, else `saturation` (default 50%).
    pub saturation: Option<Scalar<RatioKind>>,
    /// Host CPU counted as at its limit (default 90%).
    pub host_cpu: Option<Scalar<RatioKind>>,
    /// CPU of a watched process, in cores, counted as at its limit (default: not checked).
    pub process_cpu: Option<Scalar<LimitKind>>,
    /// Prometheus query name → value counted as at its limit.
    #[serde(default)]
    pub limits: Entries<NameKind, Scalar<LimitKind>>,
}

/// `load.health`: `{path, timeout, expect}`, checked once per target before the test.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthFile {
    /// Path joined onto each target's `base_url`, e.g. `/health`.
    pub path: Scalar<PathKind>,
    /// Longest wait for the answer (default 5s).
    pub timeout: Option<Scalar<TimeoutKind>>,
    /// What a healthy answer looks like (default: any 2xx), as a scenario's `expect`.
    #[serde(default)]
    pub expect: ExpectFile,
}

/// `load.score`: `weights` and `targets` of p95, error ratio, throughput and consistency.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ScoreFile {
    /// Relative weights (`40%` or `0.4`; renormalised over the signals scored).
    #[serde(default)]
    pub weights: ScoreWeightsFile,
    /// What each signal must meet for full points.
    #[serde(default)]
    pub targets: ScoreTargetsFile,
}

/// `load.score.weights`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ScoreWeightsFile {
    /// Weight of p95 latency.
    pub p95: Option<Scalar<ProportionKind>>,
    /// Weight of the error ratio.
    pub error_ratio: Option<Scalar<ProportionKind>>,
    /// Weight of throughput (scored only with a target).
    pub throughput: Option<Scalar<ProportionKind>>,
    /// Weight of P99/P95 consistency.
    pub consistency: Option<Scalar<ProportionKind>>,
}

/// `load.score.targets`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ScoreTargetsFile {
    /// p95 latency for full points, more than 0.
    pub p95: Option<Scalar<LatencyBoundKind>>,
    /// Error ratio for full points.
    pub error_ratio: Option<Scalar<RatioKind>>,
    /// Requests per second for full points.
    pub throughput: Option<Scalar<TotalRateKind>>,
    /// P99/P95 for full points, at least 1.
    pub consistency: Option<Scalar<ProportionKind>>,
}

/// `load.grades`: per signal, the upper bounds of the three better grades.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct GradesFile {
    /// p95 latency bounds, durations.
    pub p95: Option<BoundsFile<LatencyBoundKind>>,
    /// p99 latency bounds, durations.
    pub p99: Option<BoundsFile<LatencyBoundKind>>,
    /// Error ratio bounds, ratios.
    pub error_ratio: Option<BoundsFile<RatioKind>>,
    /// P99/P95 bounds, numbers of at least 1.
    pub consistency: Option<BoundsFile<ProportionKind>>,
    /// Host CPU peak bounds, ratios.
    pub host_cpu: Option<BoundsFile<RatioKind>>,
}

/// `{excellent, good, acceptable}` of one signal.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, bound = "")]
pub struct BoundsFile<K: Kind<Value = f64>> {
    /// Highest excellent value.
    pub excellent: Scalar<K>,
    /// Highest good value.
    pub good: Scalar<K>,
    /// Highest acceptable value.
    pub acceptable: Scalar<K>,
}

/// `load.baseline_tolerances`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TolerancesFile {
    /// Relative latency growth tolerated (`10%`).
    pub latency_relative: Option<Scalar<ProportionKind>>,
    /// Absolute latency growth tolerated (`1ms`).
    pub latency_absolute: Option<Scalar<LatencyBoundKind>>,
    /// Error ratio growth tolerated, in ratio points (`1%`).
    pub error_ratio: Option<Scalar<RatioKind>>,
    /// Relative RPS drop tolerated (`10%`).
    pub rps_relative: Option<Scalar<RatioKind>>,
}

impl<K: Kind<Value = f64>> BoundsFile<K> {
    fn boundaries(&self) -> Boundaries {
        Boundaries {
            excellent: self.excellent.0,
            good: self.good.0,
            acceptable: self.acceptable.0,
        }
    }

    /// The bounds must not decrease from excellent to acceptable.
    fn check(&self, field: &str) -> Result<(), FieldError> {
        let b = self.boundaries();
        if b.excellent <= b.good && b.good <= b.acceptable {
            return Ok(());
        }
        Err(FieldError::new(
            format!("load.grades.{field}"),
            format!(
                "grade boundaries must satisfy excellent <= good <= acceptable, found {}, {}, {}",
                format_number(b.excellent),
                format_number(b.good),
                format_number(b.acceptable)
            ),
        ))
    }
}

/// The order of each signal's grade boundaries (single values were checked while reading).
pub fn check(load: &LoadFile) -> Result<(), FieldError> {
    let g = &load.grades;
    let latency = [("p95", &g.p95), ("p99", &g.p99)];
    let ratios = [("error_ratio", &g.error_ratio), ("host_cpu", &g.host_cpu)];
    for (field, bounds) in latency {
        bounds.as_ref().map_or(Ok(()), |b| b.check(field))?;
    }
    for (field, bounds) in ratios {
        bounds.as_ref().map_or(Ok(()), |b| b.check(field))?;
    }
    g.consistency
        .as_ref()
        .map_or(Ok(()), |b| b.check("consistency"))?;
    if let Some(prometheus) = &load.prometheus {
        super::validate::check_credentials("load.prometheus", &prometheus.credentials(), false)?;
        if prometheus.queries.0.is_empty() {
            return Err(FieldError::new(
                "load.prometheus.queries",
                "no query: expected at least one NAME: PROMQL entry",
            ));
        }
    }
    let f = &load.findings;
    for (field, factor) in [("tail_ratio", &f.tail_ratio), ("knee", &f.knee)] {
        if let Some(factor) = factor.as_ref().filter(|v| v.0 < 1.0) {
            return Err(FieldError::new(
                format!("load.findings.{field}"),
                format!(
                    "{} is below 1: expected a factor of at least 1 (such as 2)",
                    format_number(factor.0)
                ),
            ));
        }
    }
    let targets = &load.score.targets;
    if targets.p95.as_ref().is_some_and(|t| t.0 <= 0.0) {
        return Err(FieldError::new(
            "load.score.targets.p95",
            "the p95 target must be more than 0",
        ));
    }
    if targets.consistency.as_ref().is_some_and(|t| t.0 < 1.0) {
        return Err(FieldError::new(
            "load.score.targets.consistency",
            "P99/P95 is at least 1: the target must be at least 1",
        ));
    }
    let settings = score_settings(&load.score);
    let scored_weight = settings.weights[0]
        + settings.weights[1]
        + settings.weights[3]
        + settings.throughput.map_or(0.0, |_| settings.weights[2]);
    if scored_weight <= 0.0 {
        return Err(FieldError::new(
            "load.score.weights",
            "every signal scored has weight 0: give at least one a weight",
        ));
    }
    Ok(())
}

/// `load.warmup_rate` when omitted: low enough for any service that takes a load test.
pub const DEFAULT_WARMUP_RATE: f64 = 5.0;

/// `load.score` with every omitted value at its default.
fn score_settings(score: &ScoreFile) -> ScoreSettings {
    let d = ScoreSettings::default();
    let (w, t) = (&score.weights, &score.targets);
    let weight =
        |v: &Option<Scalar<ProportionKind>>, default: f64| v.as_ref().map_or(default, |s| s.0);
    ScoreSettings {
        weights: [
            weight(&w.p95, d.weights[0]),
            weight(&w.error_ratio, d.weights[1]),
            weight(&w.throughput, d.weights[2]),
            weight(&w.consistency, d.weights[3]),
        ],
        p95: t.p95.as_ref().map_or(d.p95, |s| s.0),
        error_ratio: t.error_ratio.as_ref().map_or(d.error_ratio, |s| s.0),
        throughput: t
            .throughput
            .as_ref()
            .map(|s| s.0.per_second)
            .or(d.throughput),
        consistency: t.consistency.as_ref().map_or(d.consistency, |s| s.0),
    }
}

/// `load.health.timeout` when omitted.
const DEFAULT_HEALTH_TIMEOUT: Duration = Duration::from_secs(5);

/// The settings with every omitted value at its default.
pub fn settings(load: LoadFile) -> LoadSettings {
    fn or<K: Kind<Value = f64>>(bounds: Option<BoundsFile<K>>, default: Boundaries) -> Boundaries {
        bounds.map_or(default, |b| b.boundaries())
    }
    let (g, d) = (load.grades, GradeScale::default());
    let (t, dt) = (load.baseline_tolerances, Tolerances::default());
    let health = load.health.map(|h| HealthCheck {
        path: h.path.0,
        timeout: value(h.timeout).unwrap_or(DEFAULT_HEALTH_TIMEOUT),
        expect: expectations(h.expect),
    });
    let (f, df) = (load.findings, FindingRules::default());
    let findings = FindingRules {
        error_ratio: value(f.error_ratio).unwrap_or(df.error_ratio),
        tail_ratio: value(f.tail_ratio).unwrap_or(df.tail_ratio),
        knee: value(f.knee).unwrap_or(df.knee),
        saturation: value(f.saturation).unwrap_or(df.saturation),
        host_cpu: value(f.host_cpu).unwrap_or(df.host_cpu),
        process_cpu: value(f.process_cpu),
        limits: f.limits.0.into_iter().map(|(k, v)| (k, v.0)).collect(),
    };
    LoadSettings {
        health,
        findings,
        // Built with the file's context (environment, secrets, CA files) by `build`.
        prometheus: None,
        warmup: value(load.warmup),
        warmup_rate: value(load.warmup_rate).unwrap_or(DEFAULT_WARMUP_RATE),
        thresholds: load.thresholds.into_iter().map(|t| t.0).collect(),
        grades: GradeScale {
            p95: or(g.p95, d.p95),
            p99: or(g.p99, d.p99),
            error_ratio: or(g.error_ratio, d.error_ratio),
            consistency: or(g.consistency, d.consistency),
            host_cpu: or(g.host_cpu, d.host_cpu),
            score: score_settings(&load.score),
        },
        baseline_tolerances: Tolerances {
            latency_relative: t.latency_relative.map_or(dt.latency_relative, |s| s.0),
            latency_absolute: t.latency_absolute.map_or(dt.latency_absolute, |s| s.0),
            error_ratio: t.error_ratio.map_or(dt.error_ratio, |s| s.0),
            rps_relative: t.rps_relative.map_or(dt.rps_relative, |s| s.0),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(yaml: &str) -> Result<LoadFile, String> {
        let file: LoadFile = serde_yaml::from_str(yaml).map_err(|e| e.to_string())?;
        check(&file).map_err(|e| format!("{}: {}", e.field, e.message))?;
        Ok(file)
    }

    #[test]
    fn a_scale_reads_the_grammar_and_keeps_defaults() {
        let file = read(
            "grades: {p95: {excellent: 50ms, good: 0.2s, acceptable: 1m 30s}, error_ratio: {excellent: 0.1%, good: 1%, acceptable: 99.9%}}\n\
             baseline_tolerances: {latency_absolute: 5ms, latency_relative: 150%}",
        )
        .unwrap();
        let settings = settings(file);
        let scale = settings.grades;
        assert_eq!(
            (scale.p95.excellent, scale.p95.good, scale.p95.acceptable),
            (0.05, 0.2, 90.0)
        );
        assert_eq!(scale.error_ratio.acceptable, 0.999);
        assert_eq!(scale.p99, GradeScale::default().p99);
        let t = settings.baseline_tolerances;
        assert_eq!((t.latency_absolute, t.latency_relative), (0.005, 1.5));
        assert_eq!(t.rps_relative, 0.10);
    }

    #[test]
    fn bad_bounds_are_refused_with_their_field() {
        let unordered = "grades: {error_ratio: {excellent: 0.1, good: 0.01, acceptable: 0.5}}";
        assert_eq!(
            read(unordered).err().unwrap(),
            "load.grades.error_ratio: grade boundaries must satisfy excellent <= good <= acceptable, found 0.1, 0.01, 0.5"
        );
        let bad = "grades: {p99: {excellent: fast, good: 1s, acceptable: 2s}}";
        assert!(
            read(bad)
                .err()
                .unwrap()
                .contains("invalid duration \"fast\"")
        );
        assert!(read("grades: {p90: {}}").is_err());
        assert!(read("grades: {host_cpu: {excellent: 50%, good: 1, acceptable: 120%}}").is_err());
    }

    #[test]
    fn thresholds_are_strings_or_objects_with_abort_on_fail() {
        let file = read(
            "thresholds:\n  - p95 < 50ms\n  - {threshold: \"error_rate < 1%\", abort_on_fail: true, delay: 10s}\n  - threshold: p99 < 1s\n    abort_on_fail: true\n  - {threshold: rps > 5, abort_on_fail: false}\n",
        )
        .unwrap();
        let t = settings(file).thresholds;
        let shown: Vec<(String, Option<Duration>)> =
            t.iter().map(|t| (t.to_string(), t.abort_delay())).collect();
        assert_eq!(
            shown,
            [
                ("p95 < 50ms".into(), None),
                ("error_rate < 1%".into(), Some(Duration::from_secs(10))),
                ("p99 < 1s".into(), Some(Duration::ZERO)),
                ("rps > 5".into(), None),
            ]
        );
        let refused = |yaml: &str, said: &str| {
            let error = read(yaml).err().unwrap_or_default();
            assert!(error.contains(said), "{yaml}: {error:?}");
        };
        // A bad value is refused at its line and column.
        refused(
            "thresholds:\n  - {threshold: p95 < 50ms, abort_on_fail: yes}",
            "invalid switch \"yes\": expected on or off at line 2 column 44",
        );
        refused(
            "thresholds:\n  - threshold: p95 < 50ms\n    abort_on_fail: true\n    delay: soon",
            "invalid duration \"soon\"",
        );
        refused(
            "thresholds:\n  - {threshold: p95 < 50ms, abort_on_fail: true, delay: 24h 1s}",
            "at most 24h",
        );
        refused(
            "thresholds:\n  - {threshold: p95 < 5 parsecs}",
            "threshold \"p95 < 5 parsecs\": invalid duration",
        );
        refused(
            "thresholds:\n  - {threshold: p95 < 50ms, delay: 5s}",
            "delay applies to abort_on_fail: true only",
        );
        refused(
            "thresholds:\n  - {threshold: requests > 10, abort_on_fail: true}",
            "abort_on_fail cannot judge a count that only grows",
        );
        refused(
            "thresholds:\n  - {abort_on_fail: true}",
            "missing field `threshold`",
        );
        refused(
            "thresholds:\n  - {threshold: p95 < 50ms, abortOnFail: true}",
            "unknown field `abortOnFail`",
        );
        refused("thresholds:\n  - [p95 < 50ms]", "or a mapping such as");
        // The delay's edges: 0s and 24h.
        for delay in ["0s", "24h"] {
            let yaml = format!(
                "thresholds: [{{threshold: p95 < 50ms, abort_on_fail: true, delay: {delay}}}]"
            );
            assert!(read(&yaml).is_ok(), "{delay}");
        }
    }

    #[test]
    fn score_weights_and_targets_are_read_and_checked_at_their_edges() {
        let file = read(
            "score: {weights: {p95: 50%, error_ratio: 0, throughput: 0.3}, targets: {p95: 150ms, throughput: 500/s, consistency: 1}}",
        )
        .unwrap();
        let score = settings(file).grades.score;
        assert_eq!(score.weights, [0.5, 0.0, 0.3, 10.0]);
        assert_eq!(score.p95, 0.15);
        assert_eq!(score.throughput, Some(500.0));
        assert_eq!(score.consistency, 1.0);
        assert_eq!(score.error_ratio, ScoreSettings::default().error_ratio);
        let refused = |yaml: &str, said: &str| {
            let error = read(yaml).err().unwrap_or_default();
            assert!(error.contains(said), "{yaml}: {error:?}");
        };
        refused(
            "score: {targets: {p95: 0s}}",
            "load.score.targets.p95: the p95 target must be more than 0",
        );
        refused(
            "score: {targets: {consistency: 0.99}}",
            "load.score.targets.consistency",
        );
        // Throughput has no target by default, so its weight alone scores nothing.
        refused(
            "score: {weights: {p95: 0, error_ratio: 0, consistency: 0, throughput: 1}}",
            "load.score.weights: every signal scored has weight 0",
        );
        refused("score: {weights: {p95: 1001%}}", "1001%");
        refused("score: {weights: {p99: 1}}", "unknown field");
    }
}
