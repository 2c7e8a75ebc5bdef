//! k6-style thresholds: `p95 < 50ms`, `error_rate < 1%`, `rps > 100`, optionally scoped by a
//! name as the report's rows use it: a scenario (`order_status: p95 < 50ms`; a flow's name covers
//! all its steps), one step of a flow (`checkout/pay: …`), or either of those on one target
//! (`api/order_status: …`, `api/checkout/pay: …`); and on the service's own metrics from
//! `load.prometheus`: `prometheus.api_cpu < 0.8` (the peak over the run) or
//! `prometheus.queue:avg < 100` (the mean).
//!
//! `a/b` reads as target `a`'s scenario `b` when the run has such a row, else as step `b` of
//! flow `a`; `target/flow/step` says the second without doubt.
//!
//! A threshold is parsed with [`str::parse`] before the test starts, so a typo is refused with a
//! message naming the bad part; [`evaluate`] then checks each one against the finished
//! [`Report`] and says by how much it failed.
//!
//! A threshold may also stop the run as soon as it is crossed (k6's `abortOnFail`, with
//! `delayAbortEval` as `delay`): [`Threshold::with_abort`] marks it, [`Threshold::crossed`]
//! judges it on the running totals, and [`mark_abort`] makes the verdict say it ended the run.

mod parse;

use std::time::Duration;

use serde::Deserialize;

use super::format;
use super::model::{Abort, LatencyHistogram, Report, ScenarioStats, ThresholdResult};

/// One parsed threshold.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "String")]
pub struct Threshold {
    expression: String,
    scope: Option<Scope>,
    /// The `load.prometheus` query a `prometheus.NAME` threshold looks at.
    query: Option<String>,
    metric: Metric,
    op: Op,
    limit: f64,
    /// `abort_on_fail`: the run stops when this threshold is crossed, but not before this much
    /// of it has run (`delay`).
    abort_after: Option<Duration>,
}

/// The rows a threshold is limited to: the name as written, `/`-separated (1 to 3 parts).
#[derive(Debug, Clone, PartialEq)]
struct Scope {
    parts: Vec<String>,
}

/// A row of a run as a scope names it: its target, scenario and, in a flow, step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowKey<'a> {
    /// Target name.
    pub target: &'a str,
    /// Scenario (or flow) name.
    pub scenario: &'a str,
    /// The flow's step, for a flow's row.
    pub step: Option<&'a str>,
}

impl<'a> RowKey<'a> {
    /// The key of one row of a report.
    pub fn of(stats: &'a ScenarioStats) -> RowKey<'a> {
        RowKey {
            target: &stats.target,
            scenario: &stats.scenario,
            step: stats.step.as_deref(),
        }
    }
}

impl Scope {
    /// Which of `rows` the name covers (see the module doc for `a/b`).
    fn covers(&self, rows: &[RowKey]) -> Vec<bool> {
        let reading = |read: &dyn Fn(&RowKey) -> bool| rows.iter().map(read).collect::<Vec<_>>();
        match self.parts.as_slice() {
            [scenario] => reading(&|r| r.scenario == scenario),
            [a, b] => {
                let of_target = reading(&|r| r.target == a && r.scenario == b);
                if of_target.contains(&true) {
                    of_target
                } else {
                    reading(&|r| r.scenario == a && r.step == Some(b.as_str()))
                }
            }
            [target, flow, step] => reading(&|r| {
                r.target == target && r.scenario == flow && r.step == Some(step.as_str())
            }),
            _ => vec![false; rows.len()],
        }
    }

    /// The name as written.
    fn name(&self) -> String {
        self.parts.join("/")
    }
}

/// What a threshold measures. Latencies are in seconds, ratios 0–1.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Metric {
    /// `pNN`: the NN-th percentile latency, held as its quantile (`p99.9` is exactly 0.999).
    Percentile(f64),
    Avg,
    Min,
    Max,
    ErrorRate,
    Rps,
    Requests,
    /// `prometheus.NAME`: the highest value the query returned.
    QueryPeak,
    /// `prometheus.NAME:avg`: the mean of the values it returned.
    QueryAvg,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Lt,
    Le,
    Gt,
    Ge,
}

/// A threshold that could not be parsed: the expression and what is wrong with it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("threshold {expression:?}: {problem}")]
pub struct ThresholdError {
    /// The threshold as written.
    pub expression: String,
    /// What is wrong, and what was expected.
    pub problem: String,
}

#[cfg(test)]
impl Threshold {
    /// The limit in its unit (seconds, ratio, per second or count), for the grammar table.
    pub(crate) fn limit(&self) -> f64 {
        self.limit
    }

    /// The quantile of a `pNN` threshold.
    pub(crate) fn quantile(&self) -> Option<f64> {
        match self.metric {
            Metric::Percentile(q) => Some(q),
            _ => None,
        }
    }
}

/// The chart a threshold is drawn on, as a line at its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drawn {
    /// Latency over time (any percentile, avg, min or max), seconds.
    Latency,
    /// Error ratio over time, 0–1.
    ErrorRatio,
    /// Requests per second over time.
    Rate,
    /// The `load.prometheus` queries over time.
    Query,
}

impl Threshold {
    /// Where this threshold is drawn and its limit in that chart's unit; `None` for a
    /// `requests` count, which no chart over time shows.
    pub fn drawn(&self) -> Option<(Drawn, f64)> {
        let chart = match self.metric {
            Metric::Percentile(_) | Metric::Avg | Metric::Min | Metric::Max => Drawn::Latency,
            Metric::ErrorRate => Drawn::ErrorRatio,
            Metric::Rps => Drawn::Rate,
            Metric::QueryPeak | Metric::QueryAvg => Drawn::Query,
            Metric::Requests => return None,
        };
        Some((chart, self.limit))
    }

    /// The name a scoped threshold (`order_status: p95 < 80ms`) is limited to, as written;
    /// `None` for a threshold on the whole run or a Prometheus query.
    pub fn scope_name(&self) -> Option<String> {
        self.scope.as_ref().map(Scope::name)
    }

    /// Which of `rows` (the rows of a run) this threshold looks at: all of them without a
    /// scope, none for a `prometheus.NAME` threshold.
    pub fn covers(&self, rows: &[RowKey]) -> Vec<bool> {
        match (&self.scope, &self.query) {
            (_, Some(_)) => vec![false; rows.len()],
            (Some(scope), None) => scope.covers(rows),
            (None, None) => vec![true; rows.len()],
        }
    }

    /// The `load.prometheus` query a `prometheus.NAME` threshold looks at.
    pub fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }

    /// This threshold with `abort_on_fail`: crossing it stops the run, once `delay` of the run
    /// has gone by. Refused for `requests >`/`>=`: a count only grows, so it would stop every
    /// run at its first check.
    pub fn with_abort(self, delay: Duration) -> Result<Threshold, ThresholdError> {
        if self.metric == Metric::Requests && matches!(self.op, Op::Gt | Op::Ge) {
            return Err(ThresholdError {
                expression: self.expression,
                problem: "abort_on_fail cannot judge a count that only grows before the end of \
                          the run (it would stop every run at once); drop abort_on_fail or use \
                          requests < N"
                    .into(),
            });
        }
        Ok(Threshold {
            abort_after: Some(delay),
            ..self
        })
    }

    /// With `abort_on_fail`: how much of the run must have gone by before it may stop it.
    pub fn abort_delay(&self) -> Option<Duration> {
        self.abort_after
    }

    /// Judged on the running totals `so_far` (the report of the run up to now), the verdict
    /// when this threshold is crossed: failed on a measured value. A threshold with nothing to
    /// measure yet (no request, no Prometheus value) is not crossed.
    pub fn crossed(&self, so_far: &Report) -> Option<ThresholdResult> {
        let result = self.evaluate(so_far);
        (!result.passed && result.measured.is_some()).then_some(result)
    }
}

/// Marks the threshold that aborted the run as failed, with when and what it measured then:
/// the end-of-run figures may differ from the moment it stopped the run (the requests that
/// were in flight), but the verdict is the one that ended it.
pub fn mark_abort(results: &mut [ThresholdResult], abort: &Abort) {
    if let Some(result) = results.iter_mut().find(|r| r.expression == abort.threshold) {
        result.passed = false;
        result.detail = format!(
            "aborted the run at {}: {}",
            format::duration(abort.offset_seconds),
            abort.detail
        );
    }
}

/// Requests, failures and latency of the part of the report a threshold looks at.
struct Measured {
    requests: u64,
    failures: u64,
    latency: LatencyHistogram,
}

impl Threshold {
    /// Checks this threshold against a finished run.
    pub fn evaluate(&self, report: &Report) -> ThresholdResult {
        let prefix = self
            .scope
            .as_ref()
            .map_or(String::new(), |s| format!("{}: ", s.name()));
        let verdict = |measured: Option<f64>, passed: bool, detail: String| ThresholdResult {
            expression: self.expression.clone(),
            measured,
            passed,
            detail: format!("{prefix}{detail}"),
            profile: None,
        };
        let measured = match &self.query {
            Some(name) => self.measure_query(report, name),
            None => self.measure_requests(report),
        };
        let value = match measured {
            Ok(value) => value,
            Err(detail) => return verdict(None, false, detail),
        };
        let passed = match self.op {
            Op::Lt => value < self.limit,
            Op::Le => value <= self.limit,
            Op::Gt => value > self.limit,
            Op::Ge => value >= self.limit,
        };
        let name = match &self.query {
            Some(query) if self.metric == Metric::QueryAvg => format!("prometheus.{query}:avg"),
            Some(query) => format!("prometheus.{query}"),
            None => self.metric.name(),
        };
        let show = |v| self.metric.show(v);
        let detail = match (passed, self.op) {
            (true, op) => format!(
                "{name} {} {} {}",
                show(value),
                op.symbol(),
                show(self.limit)
            ),
            (false, _) if value == self.limit => {
                format!(
                    "{name} {} is not {} {}",
                    show(value),
                    self.op.words(),
                    show(self.limit)
                )
            }
            (false, Op::Lt | Op::Le) => format!(
                "{name} {} is {} over {}",
                show(value),
                show(value - self.limit),
                show(self.limit)
            ),
            (false, Op::Gt | Op::Ge) => format!(
                "{name} {} is {} under {}",
                show(value),
                show(self.limit - value),
                show(self.limit)
            ),
        };
        verdict(Some(value), passed, detail)
    }

    /// The measured value of a threshold on requests, or why there is none.
    fn measure_requests(&self, report: &Report) -> Result<f64, String> {
        let data = self.select(report).ok_or("no such row in the report")?;
        self.measure(&data, report.duration_seconds)
            .ok_or_else(|| format!("no requests to measure {}", self.metric.name()))
    }

    /// The peak or mean of a Prometheus query's values; a query without values fails with
    /// its evaluations' problem, never as 0.
    fn measure_query(&self, report: &Report, name: &str) -> Result<f64, String> {
        let series = report
            .prometheus
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| format!("prometheus.{name}: no such query in the report"))?;
        let values: Vec<f64> = series.values().map(|(_, v)| v).collect();
        if values.is_empty() {
            let problem = series
                .samples
                .iter()
                .find_map(|s| s.problem.as_deref())
                .unwrap_or("not evaluated");
            return Err(format!(
                "prometheus.{name}: no value in {} evaluations ({problem})",
                series.samples.len()
            ));
        }
        Ok(match self.metric {
            Metric::QueryAvg => values.iter().sum::<f64>() / values.len() as f64,
            _ => values.iter().copied().fold(f64::MIN, f64::max),
        })
    }

    /// The totals of the rows in scope; `None` when a scoped name names no row.
    fn select(&self, report: &Report) -> Option<Measured> {
        let mut data = Measured {
            requests: 0,
            failures: 0,
            latency: LatencyHistogram::new(),
        };
        let rows: Vec<RowKey> = report.scenarios.iter().map(RowKey::of).collect();
        let covered = self.covers(&rows);
        for (s, _) in report.scenarios.iter().zip(&covered).filter(|(_, c)| **c) {
            data.requests += s.requests;
            data.failures += s.failures;
            data.latency.merge(&s.latency);
        }
        (covered.contains(&true) || self.scope.is_none()).then_some(data)
    }

    fn measure(&self, data: &Measured, duration_seconds: f64) -> Option<f64> {
        let secs = |d: Option<std::time::Duration>| d.map(|d| d.as_secs_f64());
        match self.metric {
            Metric::Percentile(q) => secs(data.latency.quantile(q)),
            Metric::Avg => secs(data.latency.mean()),
            Metric::Min => secs(data.latency.min()),
            Metric::Max => secs(data.latency.max()),
            Metric::ErrorRate => format::ratio(data.failures as f64, data.requests as f64),
            Metric::Rps => format::ratio(data.requests as f64, duration_seconds),
            Metric::Requests => Some(data.requests as f64),
            Metric::QueryPeak | Metric::QueryAvg => None,
        }
    }
}

impl Metric {
    fn name(self) -> String {
        match self {
            Metric::Percentile(q) => format!("p{}", format::decimals(q * 100.0, 3)),
            Metric::Avg => "avg".into(),
            Metric::Min => "min".into(),
            Metric::Max => "max".into(),
            Metric::ErrorRate => "error_rate".into(),
            Metric::Rps => "rps".into(),
            Metric::Requests => "requests".into(),
            Metric::QueryPeak => "peak".into(),
            Metric::QueryAvg => "avg".into(),
        }
    }

    /// A value in this metric's unit, for verdicts.
    fn show(self, value: f64) -> String {
        match self {
            Metric::ErrorRate => format::percent(value),
            Metric::Rps => format::decimals(value, 1),
            Metric::Requests => format::decimals(value, 0),
            Metric::QueryPeak | Metric::QueryAvg => format::decimals(value, 3),
            _ => format::duration(value),
        }
    }
}

impl Op {
    fn symbol(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }

    fn words(self) -> &'static str {
        match self {
            Op::Lt => "under",
            Op::Gt => "over",
            Op::Le | Op::Ge => "within",
        }
    }
}

/// Parses `--threshold` flags, in order; the first malformed one is the error, so a typo stops
/// the command before any work.
pub fn parse_all(texts: &[String]) -> Result<Vec<Threshold>, ThresholdError> {
    texts.iter().map(|text| text.parse()).collect()
}

/// Checks every threshold against a finished run, in order.
pub fn evaluate(thresholds: &[Threshold], report: &Report) -> Vec<ThresholdResult> {
    thresholds.iter().map(|t| t.evaluate(report)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testing;

    #[test]
    fn parse_all_keeps_the_order_and_stops_at_the_first_malformed_one() {
        let texts = |list: &[&str]| list.iter().map(|t| t.to_string()).collect::<Vec<_>>();
        let parsed = parse_all(&texts(&["p95 < 50ms", "rps > 100"])).unwrap();
        let shown: Vec<_> = parsed.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["p95 < 50ms", "rps > 100"]);
        let bad = parse_all(&texts(&["p95 < 50ms", "p95 << 1s", "rps >"])).unwrap_err();
        assert!(bad.to_string().contains("p95 << 1s"), "{bad}");
    }

    #[test]
    fn verdicts_say_by_how_much() {
        let report = testing::report();
        let check = |text: &str| text.parse::<Threshold>().unwrap().evaluate(&report);
        let p95 = LatencyHistogram::quantile(&report.total().2, 0.95)
            .unwrap()
            .as_secs_f64();

        let failed = check("p95 < 10ms");
        assert!(!failed.passed);
        assert_eq!(failed.measured, Some(p95));
        let over = format::duration(p95 - 0.01);
        assert_eq!(
            failed.detail,
            format!("p95 {} is {over} over 10ms", format::duration(p95))
        );
        assert!(check("p95 < 1s").passed);
        assert_eq!(
            check("p95 < 1s").detail,
            format!("p95 {} < 1s", format::duration(p95))
        );

        let rps = check("rps > 100");
        assert_eq!(rps.measured, Some(60.0));
        assert_eq!(rps.detail, "rps 60 is 40 under 100");
        assert!(check("requests >= 600").passed);
        assert!(!check("requests > 600").passed);
        assert_eq!(
            check("requests > 600").detail,
            "requests 600 is not over 600"
        );
    }

    #[test]
    fn scoped_thresholds_look_at_their_scenario_only() {
        let report = testing::report();
        let check = |text: &str| text.parse::<Threshold>().unwrap().evaluate(&report);
        // web/home is fast (3–23 ms), api/search slow (45–65 ms).
        assert!(check("home: p95 < 30ms").passed);
        assert!(check("web/home: max < 30ms").passed);
        assert!(!check("api/search: p95 < 30ms").passed);
        assert!(check("api/search: min > 40ms").passed);
        let missing = check("api/checkout: p95 < 30ms");
        assert!(!missing.passed);
        assert_eq!(missing.detail, "api/checkout: no such row in the report");
        assert!(
            !check("api/home: p95 < 30ms").passed,
            "home belongs to target web"
        );
        let errors = check("search: error_rate < 1%");
        assert!(!errors.passed);
        assert!(
            errors.detail.starts_with("search: error_rate "),
            "{}",
            errors.detail
        );
    }

    #[test]
    fn a_flow_step_is_scoped_by_its_row_name() {
        let mut report = testing::flow_report();
        let check = |text: &str| text.parse::<Threshold>().unwrap().evaluate(&report);
        let requests = |row: usize| Some(report.scenarios[row].requests as f64);
        assert_eq!(check("session/me: requests > 0").measured, requests(1));
        assert_eq!(check("api/session/me: requests > 0").measured, requests(1));
        assert_eq!(check("session/login: requests > 0").measured, requests(0));
        let both = report.scenarios[0].requests + report.scenarios[1].requests;
        assert_eq!(check("session: requests > 0").measured, Some(both as f64));
        assert_eq!(
            check("api/session: requests > 0").measured,
            Some(both as f64)
        );
        assert!(check("session/me: min > 40ms").passed, "me only");
        assert!(!check("session: min > 40ms").passed, "the flow: login too");
        let wrong = check("web/session/me: p95 < 1s");
        assert_eq!(wrong.detail, "web/session/me: no such row in the report");
        assert!(!check("session/logout: p95 < 1s").passed);
        // `a/b` is target a's scenario b when there is one, else flow a's step b.
        report.scenarios[2].target = "session".into();
        report.scenarios[2].scenario = "me".into();
        let check = |text: &str| text.parse::<Threshold>().unwrap().evaluate(&report);
        let requests = |row: usize| Some(report.scenarios[row].requests as f64);
        assert_eq!(check("session/me: requests > 0").measured, requests(2));
        assert_eq!(check("api/session/me: requests > 0").measured, requests(1));
    }

    #[test]
    fn abort_on_fail_is_refused_on_a_growing_count_and_marks_the_verdict() {
        let t = |text: &str| text.parse::<Threshold>().unwrap();
        let refused = t("requests >= 1000")
            .with_abort(Duration::ZERO)
            .unwrap_err();
        assert!(
            refused.to_string().starts_with(
                "threshold \"requests >= 1000\": abort_on_fail cannot judge a count that only grows"
            ),
            "{refused}"
        );
        assert!(t("requests > 5").with_abort(Duration::ZERO).is_err());
        let capped = t("requests < 5000")
            .with_abort(Duration::from_secs(3))
            .unwrap();
        assert_eq!(capped.abort_delay(), Some(Duration::from_secs(3)));
        assert_eq!(t("p95 < 1s").abort_delay(), None);

        let report = testing::report();
        assert!(t("p95 < 1s").crossed(&report).is_none());
        assert!(t("requests < 600").crossed(&report).is_some());
        let empty = testing::build(&[], vec![], 0, vec![]);
        assert!(
            t("p95 < 1ms").crossed(&empty).is_none(),
            "nothing measured yet"
        );

        let mut results = evaluate(&[t("p95 < 1s"), t("rps > 1")], &report);
        assert!(results.iter().all(|r| r.passed));
        let abort = Abort {
            threshold: "rps > 1".into(),
            offset_seconds: 12.0,
            detail: "rps 0.5 is 0.5 under 1".into(),
        };
        mark_abort(&mut results, &abort);
        assert!(results[0].passed);
        assert!(!results[1].passed);
        assert_eq!(
            results[1].detail,
            "aborted the run at 12s: rps 0.5 is 0.5 under 1"
        );
    }

    #[test]
    fn a_run_without_requests_fails_latency_thresholds() {
        let report = testing::build(&[], vec![], 0, vec![]);
        let result = evaluate(&["p95 < 1s".parse().unwrap()], &report);
        assert!(!result[0].passed);
        assert_eq!(result[0].detail, "no requests to measure p95");
    }
}
