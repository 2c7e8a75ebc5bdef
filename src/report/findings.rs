//! Findings: what a finished run shows, each with the figures that triggered it and what to
//! look at next, as a performance engineer ends a load-test write-up.
//!
//! | rule | fires when | cites |
//! |---|---|---|
//! | `error_ratio` | failed share of all requests above `error_ratio` (default 1%) | top failure reasons and scenarios, with counts |
//! | `tail_latency` | P99/P95 above `tail_ratio` (default 2) | slowest scenarios; share of requests over 2× the median |
//! | `latency_knee` | a stage's p95 at least `knee` (default 2) × the first stage's, at a higher load | the stage, its load and throughput |
//! | `saturation` | load grew between stages but throughput grew by less than `saturation` (default 50%) of that growth | the stage where it stopped, the throughput there |
//! | `resource_limit` | host CPU over `host_cpu` (90%), a watched process over `process_cpu` cores, a Prometheus query over its `limits` entry, while latency rose | which, when, how far, p95 before and during |
//!
//! No finding is made without its numbers; a run with none gets one line saying so
//! ([`healthy_line`]).

use std::collections::BTreeMap;

use super::format;
use super::model::{Finding, LatencyHistogram, Report};
use super::stage_table::{self, Stage};

/// The bounds of every rule (`load.findings`).
#[derive(Debug, Clone, PartialEq)]
pub struct FindingRules {
    /// Error ratio (0–1) above which `error_ratio` fires.
    pub error_ratio: f64,
    /// P99/P95 above which `tail_latency` fires.
    pub tail_ratio: f64,
    /// Growth of p95 against the first stage that makes a knee.
    pub knee: f64,
    /// Share (0–1) of the load's growth that throughput must keep up with.
    pub saturation: f64,
    /// Host CPU ratio (0–1) counted as at the limit.
    pub host_cpu: f64,
    /// CPU of a watched process, in cores, counted as at the limit (`None`: not checked).
    pub process_cpu: Option<f64>,
    /// Prometheus query name → value counted as at the limit.
    pub limits: BTreeMap<String, f64>,
}

impl Default for FindingRules {
    fn default() -> Self {
        FindingRules {
            error_ratio: 0.01,
            tail_ratio: 2.0,
            knee: 2.0,
            saturation: 0.5,
            host_cpu: 0.9,
            process_cpu: None,
            limits: BTreeMap::new(),
        }
    }
}

/// How many reasons, scenarios or stages a finding cites at most.
const CITED: usize = 3;

/// Latency must be this much higher while a resource is at its limit to count as risen.
const LATENCY_ROSE: f64 = 1.1;

/// Draws every finding of `report`, in the order of the table above.
pub fn find(report: &Report, rules: &FindingRules) -> Vec<Finding> {
    let stages = stage_table::stages(report);
    [
        error_ratio(report, rules),
        tail_latency(report, rules),
        knee(&stages, rules),
        saturation(&stages, rules),
    ]
    .into_iter()
    .flatten()
    .chain(resource_limits(report, rules))
    .collect()
}

/// The one line of a run without findings, with its main figures.
pub fn healthy_line(report: &Report) -> String {
    let (requests, failures, latency) = report.total();
    let errors = format::ratio(failures as f64, requests as f64).unwrap_or(0.0);
    let tail = tail_ratio(&latency).map_or("no latency measured".to_string(), |r| {
        format!("P99/P95 {}", format::decimals(r, 2))
    });
    format!(
        "No findings: error ratio {}, {tail}, no latency knee, no saturation, no resource at its limit.",
        format::percent(errors)
    )
}

fn finding(rule: &str, summary: String, evidence: Vec<String>, next: &str) -> Finding {
    Finding {
        rule: rule.to_string(),
        summary,
        evidence,
        next: next.to_string(),
        values: BTreeMap::new(),
    }
}

fn with(mut finding: Finding, values: &[(&str, f64)]) -> Finding {
    finding
        .values
        .extend(values.iter().map(|(k, v)| (k.to_string(), *v)));
    finding
}

fn label(target: &str, scenario: &str) -> String {
    format!("{target}/{scenario}")
}

fn error_ratio(report: &Report, rules: &FindingRules) -> Option<Finding> {
    let (requests, failures, _) = report.total();
    let ratio = format::ratio(failures as f64, requests as f64)?;
    if ratio <= rules.error_ratio {
        return None;
    }
    let mut reasons: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    for f in &report.failures {
        *reasons.entry((&f.reason, &f.message)).or_default() += f.occurrences;
    }
    let mut reasons: Vec<_> = reasons.into_iter().collect();
    reasons.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut scenarios: Vec<_> = report.scenarios.iter().filter(|s| s.failures > 0).collect();
    scenarios.sort_by_key(|s| std::cmp::Reverse(s.failures));
    let mut evidence: Vec<String> = reasons
        .iter()
        .take(CITED)
        .map(|((reason, message), n)| format!("{n} × {reason}: {message}"))
        .collect();
    evidence.extend(scenarios.iter().take(CITED).map(|s| {
        format!(
            "{}: {} of {} requests failed ({})",
            label(&s.target, &s.scenario),
            s.failures,
            s.requests,
            format::percent(s.failures as f64 / s.requests.max(1) as f64)
        )
    }));
    let next = match reasons.first().map(|((reason, _), _)| *reason) {
        Some("timeout") => {
            "timeouts: the service (or a dependency) stalls; look at its slowest calls and pools at the times the failures were seen"
        }
        Some("http_status") => {
            "error statuses: look at the service's logs and error metrics for these answers at the times they were seen"
        }
        Some("connect") => {
            "connections refused or reset: look at the listener's backlog, connection limits and restarts"
        }
        _ => {
            "look at the top reason first: the service's logs and metrics at the times it was seen"
        }
    };
    Some(with(
        finding(
            "error_ratio",
            format!(
                "Error ratio {} is above {}: {failures} of {requests} requests failed",
                format::percent(ratio),
                format::percent(rules.error_ratio)
            ),
            evidence,
            next,
        ),
        &[
            ("error_ratio", ratio),
            ("failures", failures as f64),
            ("requests", requests as f64),
        ],
    ))
}

/// P99 / P95 of a histogram.
fn tail_ratio(latency: &LatencyHistogram) -> Option<f64> {
    let p95 = latency.quantile(0.95)?.as_secs_f64();
    let p99 = latency.quantile(0.99)?.as_secs_f64();
    format::ratio(p99, p95)
}

fn tail_latency(report: &Report, rules: &FindingRules) -> Option<Finding> {
    let (_, _, latency) = report.total();
    let ratio = tail_ratio(&latency)?;
    if ratio <= rules.tail_ratio {
        return None;
    }
    let secs = |q: f64| latency.quantile(q).map_or(0.0, |d| d.as_secs_f64());
    let (median, p95, p99) = (secs(0.5), secs(0.95), secs(0.99));
    let over = latency.count_above(std::time::Duration::from_secs_f64(2.0 * median));
    let share = over as f64 / latency.count().max(1) as f64;
    let mut slowest: Vec<_> = report
        .scenarios
        .iter()
        .filter_map(|s| Some((s, s.latency.quantile(0.99)?.as_secs_f64())))
        .collect();
    slowest.sort_by(|a, b| b.1.total_cmp(&a.1));
    let mut evidence = vec![format!(
        "{over} of {} requests ({}) took over 2× the median {}",
        latency.count(),
        format::percent(share),
        format::duration(median)
    )];
    evidence.extend(slowest.iter().take(CITED).map(|(s, p99)| {
        let p95 = s.latency.quantile(0.95).map_or(0.0, |d| d.as_secs_f64());
        format!(
            "{}: p95 {}, p99 {}",
            label(&s.target, &s.scenario),
            format::duration(p95),
            format::duration(*p99)
        )
    }));
    Some(with(
        finding(
            "tail_latency",
            format!(
                "P99 {} is {}× P95 {} (above {}×)",
                format::duration(p99),
                format::decimals(ratio, 2),
                format::duration(p95),
                format::decimals(rules.tail_ratio, 2)
            ),
            evidence,
            "a few requests are far slower than the rest: look for cold starts, GC pauses, lock contention, a slow dependency or retries at the times of the slowest requests",
        ),
        &[
            ("p50_seconds", median),
            ("p95_seconds", p95),
            ("p99_seconds", p99),
            ("p99_p95_ratio", ratio),
            ("share_over_twice_median", share),
            ("requests_over_twice_median", over as f64),
        ],
    ))
}

/// Stages with requests and a latency, the first of them the reference.
fn measured(stages: &[Stage]) -> Vec<(&Stage, f64)> {
    stages.iter().filter_map(|s| Some((s, s.p95()?))).collect()
}

fn stage_line(s: &Stage, p95: f64) -> String {
    format!(
        "stage {} (level {}): p95 {}, {}/s",
        s.span.number,
        format::decimals(s.span.to, 1),
        format::duration(p95),
        format::rate(s.throughput())
    )
}

fn knee(stages: &[Stage], rules: &FindingRules) -> Option<Finding> {
    let measured = measured(stages);
    let (first, first_p95) = *measured.first()?;
    let (knee, knee_p95) = *measured
        .iter()
        .skip(1)
        .find(|(s, p95)| s.span.to > first.span.to && *p95 >= rules.knee * first_p95)?;
    let evidence = measured
        .iter()
        .take_while(|(s, _)| s.span.number <= knee.span.number)
        .map(|(s, p95)| stage_line(s, *p95))
        .collect();
    Some(with(
        finding(
            "latency_knee",
            format!(
                "Latency knee at stage {} (level {}): p95 {} is {}× the first stage's {}, at {}/s",
                knee.span.number,
                format::decimals(knee.span.to, 1),
                format::duration(knee_p95),
                format::decimals(knee_p95 / first_p95, 2),
                format::duration(first_p95),
                format::rate(knee.throughput())
            ),
            evidence,
            "the service queues somewhere below this load: look at what is shared and bounded at that concurrency (worker and connection pools, database connections, locks, CPU)",
        ),
        &[
            ("stage", knee.span.number as f64),
            ("level", knee.span.to),
            ("first_p95_seconds", first_p95),
            ("p95_seconds", knee_p95),
            ("throughput", knee.throughput()),
        ],
    ))
}

fn saturation(stages: &[Stage], rules: &FindingRules) -> Option<Finding> {
    let with_requests: Vec<&Stage> = stages.iter().filter(|s| s.requests > 0).collect();
    let (before, after) = with_requests.windows(2).find_map(|pair| {
        let (a, b) = (pair[0], pair[1]);
        let load_growth = b.span.mean_level() / a.span.mean_level() - 1.0;
        let throughput_growth = b.throughput() / a.throughput() - 1.0;
        // Growth under 10% is within noise: no verdict on it.
        (a.span.mean_level() > 0.0
            && a.throughput() > 0.0
            && load_growth >= 0.1
            && throughput_growth < rules.saturation * load_growth)
            .then_some((a, b))
    })?;
    let load_growth = after.span.mean_level() / before.span.mean_level() - 1.0;
    let throughput_growth = after.throughput() / before.throughput() - 1.0;
    Some(with(
        finding(
            "saturation",
            format!(
                "Throughput stopped growing at {}/s: load grew {} from stage {} to stage {}, throughput {}",
                format::rate(before.throughput()),
                format::percent(load_growth),
                before.span.number,
                after.span.number,
                format::percent(throughput_growth)
            ),
            vec![
                format!(
                    "stage {}: mean level {}, {}/s",
                    before.span.number,
                    format::decimals(before.span.mean_level(), 1),
                    format::rate(before.throughput())
                ),
                format!(
                    "stage {}: mean level {}, {}/s",
                    after.span.number,
                    format::decimals(after.span.mean_level(), 1),
                    format::rate(after.throughput())
                ),
            ],
            "the saturation point is about this throughput: more users only queue; find the bottleneck resource (CPU, pools, a dependency) at this load before adding capacity",
        ),
        &[
            ("stage", after.span.number as f64),
            ("level", before.span.mean_level()),
            ("throughput", before.throughput()),
            ("next_level", after.span.mean_level()),
            ("next_throughput", after.throughput()),
        ],
    ))
}

/// A time series checked against a limit: its name, samples `(offset, value)` and how to show
/// a value.
struct Watched<'a> {
    name: String,
    limit: f64,
    samples: Vec<(f64, f64)>,
    show: &'a dyn Fn(f64) -> String,
}

fn resource_limits(report: &Report, rules: &FindingRules) -> Vec<Finding> {
    let percent = |v: f64| format::percent(v);
    let cores = |v: f64| format!("{} cores", format::decimals(v, 2));
    let plain = |v: f64| format::decimals(v, 3);
    let mut watched = Vec::new();
    for series in &report.resources {
        let samples = series
            .samples
            .iter()
            .map(|s| (s.offset_seconds, s.cpu_ratio))
            .collect();
        let (limit, show): (Option<f64>, &dyn Fn(f64) -> String) = if series.source == "host" {
            (Some(rules.host_cpu), &percent)
        } else {
            (rules.process_cpu, &cores)
        };
        if let Some(limit) = limit {
            watched.push(Watched {
                name: format!("{} CPU", series.source),
                limit,
                samples,
                show,
            });
        }
    }
    for series in &report.prometheus {
        if let Some(limit) = rules.limits.get(&series.name) {
            watched.push(Watched {
                name: format!("prometheus.{}", series.name),
                limit: *limit,
                samples: series.values().collect(),
                show: &plain,
            });
        }
    }
    watched.iter().filter_map(|w| at_limit(report, w)).collect()
}

/// The finding for one watched series, when it reached its limit while latency rose.
fn at_limit(report: &Report, w: &Watched<'_>) -> Option<Finding> {
    let index = w.samples.iter().position(|(_, v)| *v >= w.limit)?;
    let first = w.samples[index].0;
    // The limit was reached somewhere after the sample before: that stretch is neither side.
    let last_below = index.checked_sub(1).map_or(0.0, |i| w.samples[i].0);
    let (peak_at, peak) = w
        .samples
        .iter()
        .copied()
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    let at_limit = w.samples.iter().filter(|(_, v)| *v >= w.limit).count();
    let step = report.timeline_interval_seconds;
    let (mut before, mut during) = (LatencyHistogram::new(), LatencyHistogram::new());
    for interval in &report.timeline {
        if interval.offset_seconds + step <= last_below {
            before.merge(&interval.latency);
        } else if interval.offset_seconds >= first {
            during.merge(&interval.latency);
        }
    }
    let p95 = |h: &LatencyHistogram| h.quantile(0.95).map(|d| d.as_secs_f64());
    // Without requests before the limit was reached there is no rise to speak of.
    let (before_p95, during_p95) = (p95(&before)?, p95(&during)?);
    if during_p95 < LATENCY_ROSE * before_p95 {
        return None;
    }
    let latency = format!(
        "p95 {} from then on, {} before",
        format::duration(during_p95),
        format::duration(before_p95)
    );
    let mut finding = finding(
        "resource_limit",
        format!(
            "{} reached its limit {} at {}s and peaked at {} at {}s",
            w.name,
            (w.show)(w.limit),
            format::decimals(first, 1),
            (w.show)(peak),
            format::decimals(peak_at, 1)
        ),
        vec![
            format!(
                "{at_limit} of {} samples at or over {}",
                w.samples.len(),
                (w.show)(w.limit)
            ),
            latency,
        ],
        "this resource is the likely bottleneck: check whether it is sized for this load (limits, quotas, cores), or what consumes it",
    );
    finding.values.insert("limit".into(), w.limit);
    finding.values.insert("peak".into(), peak);
    finding.values.insert("first_at_seconds".into(), first);
    finding
        .values
        .insert("p95_during_seconds".into(), during_p95);
    finding
        .values
        .insert("p95_before_seconds".into(), before_p95);
    Some(finding)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testing;

    #[test]
    fn a_healthy_run_says_so_in_one_line() {
        let report = testing::build(&testing::samples()[..0], vec![], 1, vec![]);
        assert!(find(&report, &FindingRules::default()).is_empty());
        assert_eq!(
            healthy_line(&report),
            "No findings: error ratio 0%, no latency measured, no latency knee, no saturation, no resource at its limit."
        );
        // The shared sample run: 33 failures in 600 (5.5%), P99/P95 under 2.
        let report = testing::report();
        let rules = FindingRules {
            error_ratio: 0.06,
            ..FindingRules::default()
        };
        assert!(find(&report, &rules).is_empty());
        let line = healthy_line(&report);
        assert!(
            line.starts_with("No findings: error ratio 5.5%, P99/P95 1.04,"),
            "{line}"
        );
        // At the bound exactly, not above it: still no finding; just under it: one.
        let (requests, failures, _) = report.total();
        let exact = FindingRules {
            error_ratio: failures as f64 / requests as f64,
            ..rules.clone()
        };
        assert!(find(&report, &exact).is_empty());
        let under = FindingRules {
            error_ratio: exact.error_ratio - 1e-9,
            ..rules
        };
        assert_eq!(find(&report, &under)[0].rule, "error_ratio");
    }
}
