//! The charts of a load-test report (drawn by [`crate::chart`]): the run over time for all
//! scenarios together and for each scenario on its own, the response-time distribution per
//! scenario, resources per host and watched process, and the breaking-point curve.
//!
//! A timeline interval is plotted at its middle, its rates per its own length (the last one
//! ends with the run); a scenario without requests in an interval is a gap, not a 0. Every
//! chart over time spans the whole run from 0 s and shades the profile's stages; thresholds
//! are lines on the chart of what they limit.

use crate::chart::{Axis, Band, Chart, Line, Unit};

use super::format;
use super::model::{LatencyHistogram, LoadModel, Report, ScenarioInterval};
use super::table;
use super::threshold::{Drawn, RowKey, Threshold};

/// The percentiles of the charts over time.
const PERCENTILES: [(&str, f64); 3] = [("p50", 0.50), ("p95", 0.95), ("p99", 0.99)];

/// Points of a percentile curve per decade of nines (p0 … p99.999).
const CURVE_STEPS_PER_NINE: u32 = 10;
const CURVE_NINES: u32 = 5;

/// Every chart of the report, in page order: [`over_time`], [`per_scenario`], [`resources`],
/// [`breaking_point`] and [`prometheus`].
pub fn all(report: &Report) -> Vec<Chart> {
    let mut charts = over_time(report);
    charts.extend(per_scenario(report));
    charts.extend(resources(report));
    charts.extend(breaking_point(report));
    charts.extend(prometheus(report));
    charts
}

/// The `load.prometheus` queries over the run's time, one series each; an evaluation without
/// a value leaves a gap.
pub fn prometheus(report: &Report) -> Vec<Chart> {
    if report.prometheus.is_empty() {
        return Vec::new();
    }
    let queries = report
        .prometheus
        .iter()
        .map(|q| {
            let points = q
                .samples
                .iter()
                .map(|s| (s.offset_seconds, s.value))
                .collect();
            (q.name.clone(), points)
        })
        .collect();
    vec![
        timed(
            report,
            "chart-prometheus",
            "Prometheus queries",
            Unit::Count,
        )
        .aligned(queries)
        .lines(threshold_lines(report, Drawn::Query, None)),
    ]
}

/// The x of each timeline interval: its middle.
fn midpoints(report: &Report) -> Vec<f64> {
    let step = report.timeline_interval_seconds;
    report
        .timeline
        .iter()
        .map(|i| i.offset_seconds + i.length(step) / 2.0)
        .collect()
}

/// Length of each timeline interval, seconds.
fn lengths(report: &Report) -> Vec<f64> {
    let step = report.timeline_interval_seconds;
    report.timeline.iter().map(|i| i.length(step)).collect()
}

/// `count` per second of an interval `length` long.
fn per_second(count: u64, length: f64) -> Option<f64> {
    (length > 0.0).then(|| count as f64 / length)
}

/// The profile's stages as bands: "ramp to 50 users", "hold 50 users".
pub fn stage_bands(report: &Report) -> Vec<Band> {
    let unit = match report.plan.model {
        LoadModel::Closed => "users",
        LoadModel::Open => "req/s",
    };
    let mut from = 0.0;
    let mut level = 0.0;
    report
        .plan
        .stages
        .iter()
        .filter_map(|stage| {
            let to = from + stage.duration_seconds;
            let verb = if stage.target == level { "hold" } else { "to" };
            let band = Band {
                from,
                to,
                label: format!("{verb} {} {unit}", format::decimals(stage.target, 1)),
            };
            from = to;
            level = stage.target;
            (band.to > band.from).then_some(band)
        })
        .collect()
}

/// A chart over the run's time with its stages shaded.
pub fn timed(report: &Report, id: &str, title: &str, unit: Unit) -> Chart {
    Chart::new(id, title, Axis::elapsed(run_length(report)), Axis::of(unit))
        .bands(stage_bands(report))
}

/// The run's length: its duration, or the timeline's end when that is later.
pub fn run_length(report: &Report) -> f64 {
    let step = report.timeline_interval_seconds;
    let timeline_end = report
        .timeline
        .last()
        .map_or(0.0, |i| i.offset_seconds + i.length(step));
    report.duration_seconds.max(timeline_end)
}

/// The thresholds that are drawn on `chart` and scoped to the row `row` of the report's
/// scenarios (`None`: unscoped).
fn threshold_lines(report: &Report, chart: Drawn, row: Option<usize>) -> Vec<Line> {
    let rows: Vec<RowKey> = report.scenarios.iter().map(RowKey::of).collect();
    // In a run of several profiles each threshold has a verdict per profile: one line each.
    let mut seen: Vec<&str> = Vec::new();
    report
        .thresholds
        .iter()
        .filter(|result| {
            let first = !seen.contains(&result.expression.as_str());
            seen.push(&result.expression);
            first
        })
        .filter_map(|result| {
            let threshold: Threshold = result.expression.parse().ok()?;
            let (drawn, limit) = threshold.drawn()?;
            let matches = match (threshold.scope_name(), row) {
                (None, None) => true,
                (Some(_), Some(index)) => threshold.covers(&rows)[index],
                _ => false,
            };
            (drawn == chart && matches).then(|| Line {
                value: limit,
                label: result.expression.clone(),
            })
        })
        .collect()
}

/// The scenario's share of each interval (an empty one where its timeline ends early).
fn shares(report: &Report, index: usize) -> impl Iterator<Item = ScenarioInterval> + '_ {
    let timeline = &report.scenarios[index].timeline;
    (0..report.timeline.len()).map(move |i| timeline.get(i).cloned().unwrap_or_default())
}

fn quantile_seconds(latency: &LatencyHistogram, q: f64) -> Option<f64> {
    latency.quantile(q).map(|d| d.as_secs_f64())
}

fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// Scenario `index`'s requests per second, one `(x, rate)` per interval: what the per-scenario
/// and comparison charts of throughput plot.
pub fn scenario_rates(report: &Report, index: usize) -> Vec<(f64, Option<f64>)> {
    midpoints(report)
        .into_iter()
        .zip(lengths(report))
        .zip(shares(report, index))
        .map(|((x, length), share)| (x, per_second(share.requests, length)))
        .collect()
}

/// The scenarios that have a timeline of their own (all of them, in reports that keep one).
fn timed_scenarios(report: &Report) -> Vec<usize> {
    (0..report.scenarios.len())
        .filter(|&i| !report.scenarios[i].timeline.is_empty())
        .collect()
}

/// All scenarios together: requests and failures per second, latency percentiles, error
/// ratio (all scenarios and each), failures per second by reason, users or target rate.
pub fn over_time(report: &Report) -> Vec<Chart> {
    let xs = midpoints(report);
    let lengths = lengths(report);
    let rate = |f: &dyn Fn(&super::model::Interval) -> u64| -> Vec<Option<f64>> {
        report
            .timeline
            .iter()
            .zip(&lengths)
            .map(|(i, length)| per_second(f(i), *length))
            .collect()
    };
    let rps = timed(
        report,
        "chart-rps",
        "Requests per second, all scenarios",
        Unit::Rate,
    )
    .xs(xs.clone())
    .series("requests/s", rate(&|i| i.requests))
    .series("failures/s", rate(&|i| i.failures))
    .lines(threshold_lines(report, Drawn::Rate, None));
    let mut latency = timed(
        report,
        "chart-latency",
        "Latency, all scenarios",
        Unit::Seconds,
    )
    .xs(xs.clone())
    .lines(threshold_lines(report, Drawn::Latency, None));
    for (name, q) in PERCENTILES {
        let values = report
            .timeline
            .iter()
            .map(|i| quantile_seconds(&i.latency, q))
            .collect();
        latency = latency.series(name, values);
    }
    let mut errors = timed(report, "chart-errors", "Error ratio", Unit::Ratio)
        .xs(xs.clone())
        .series(
            "all scenarios",
            report
                .timeline
                .iter()
                .map(|i| ratio(i.failures, i.requests))
                .collect(),
        )
        .lines(
            scoped_lines(report, Drawn::ErrorRatio)
                .into_iter()
                .chain(threshold_lines(report, Drawn::ErrorRatio, None))
                .collect(),
        );
    for index in timed_scenarios(report) {
        let values = shares(report, index)
            .map(|s| ratio(s.failures, s.requests))
            .collect();
        errors = errors.series(table::label(report, &report.scenarios[index]), values);
    }
    let mut reasons: Vec<&String> = report
        .timeline
        .iter()
        .flat_map(|i| i.failure_reasons.keys())
        .collect();
    reasons.sort();
    reasons.dedup();
    let mut by_reason = timed(
        report,
        "chart-failure-reasons",
        "Failures per second by reason",
        Unit::Rate,
    )
    .xs(xs.clone());
    for reason in reasons {
        let values = report
            .timeline
            .iter()
            .zip(&lengths)
            .map(|(i, length)| {
                per_second(i.failure_reasons.get(reason).copied().unwrap_or(0), *length)
            })
            .collect();
        by_reason = by_reason.series(reason.clone(), values);
    }
    let (id, title, unit, level): (_, _, _, fn(&super::model::Interval) -> f64) =
        match report.plan.model {
            LoadModel::Closed => ("chart-users", "Virtual users", Unit::Count, |i| {
                i.users as f64
            }),
            LoadModel::Open => ("chart-users", "Target rate (requests/s)", Unit::Rate, |i| {
                i.target_rate
            }),
        };
    let load = timed(report, id, title, unit).xs(xs).series(
        title,
        report.timeline.iter().map(|i| Some(level(i))).collect(),
    );
    vec![rps, latency, errors, by_reason, load]
}

/// Each scenario on its own: requests per second and p95 of every scenario on one chart
/// each, the response-time distribution, then one latency chart (p50/p95/p99) per scenario
/// with its own thresholds.
pub fn per_scenario(report: &Report) -> Vec<Chart> {
    let xs = midpoints(report);
    let scenarios = timed_scenarios(report);
    let mut charts = Vec::new();
    if !scenarios.is_empty() {
        let mut rps = timed(
            report,
            "chart-scenario-rps",
            "Requests per second by scenario",
            Unit::Rate,
        )
        .xs(xs.clone())
        .lines(scoped_lines(report, Drawn::Rate));
        // A log scale: a 0.3 ms and a 50 ms scenario are both readable on one chart.
        let mut p95 = Chart::new(
            "chart-scenario-p95",
            "p95 by scenario (log scale)",
            Axis::elapsed(run_length(report)),
            Axis::of(Unit::Seconds).log(),
        )
        .bands(stage_bands(report))
        .xs(xs.clone());
        for &index in &scenarios {
            let name = table::label(report, &report.scenarios[index]);
            let shares: Vec<ScenarioInterval> = shares(report, index).collect();
            rps = rps.series(
                name.clone(),
                scenario_rates(report, index)
                    .into_iter()
                    .map(|(_, rate)| rate)
                    .collect(),
            );
            p95 = p95.series(
                name,
                shares
                    .iter()
                    .map(|s| quantile_seconds(&s.latency, 0.95))
                    .collect(),
            );
        }
        charts.push(rps);
        charts.push(p95);
    }
    charts.push(distribution(
        "chart-distribution",
        "Response-time distribution by scenario (log scale)",
        report
            .scenarios
            .iter()
            .map(|s| (table::label(report, s), &s.latency, false)),
    ));
    for index in scenarios {
        let stats = &report.scenarios[index];
        let name = table::label(report, stats);
        let mut chart = timed(
            report,
            &format!("chart-latency-s{index}"),
            &format!("Latency: {name}"),
            Unit::Seconds,
        )
        .xs(xs.clone())
        .lines(threshold_lines(report, Drawn::Latency, Some(index)));
        let shares: Vec<ScenarioInterval> = shares(report, index).collect();
        for (label, q) in PERCENTILES {
            chart = chart.series(
                label,
                shares
                    .iter()
                    .map(|s| quantile_seconds(&s.latency, q))
                    .collect(),
            );
        }
        charts.push(chart);
    }
    charts
}

/// The scoped thresholds drawn on `chart` for any scenario.
fn scoped_lines(report: &Report, chart: Drawn) -> Vec<Line> {
    (0..report.scenarios.len())
        .flat_map(|index| threshold_lines(report, chart, Some(index)))
        .collect()
}

/// Percentile curves (x: p0 … p99.999 on a nines scale, y: latency on a log scale) of each
/// `(label, histogram, dashed)`. A curve stops at the percentile its sample count can tell
/// apart from the maximum (p99.9 needs a thousand requests).
pub fn distribution<'a>(
    id: &str,
    title: &str,
    curves: impl Iterator<Item = (String, &'a LatencyHistogram, bool)>,
) -> Chart {
    let steps = CURVE_STEPS_PER_NINE * CURVE_NINES;
    let xs: Vec<f64> = (0..=steps)
        .map(|i| f64::from(i) / f64::from(CURVE_STEPS_PER_NINE))
        .collect();
    let mut chart = Chart::new(
        id,
        title,
        Axis::of(Unit::Nines),
        Axis::of(Unit::Seconds).log(),
    );
    for (label, latency, dashed) in curves {
        let count = latency.count() as f64;
        let values = xs
            .iter()
            .map(|&x| {
                let q = 1.0 - 10f64.powf(-x);
                // Beyond 1 - 1/count the curve would only repeat the maximum.
                (count > 0.0 && (1.0 - q) * count >= 1.0 - 1e-9)
                    .then(|| quantile_seconds(latency, q))
                    .flatten()
            })
            .collect();
        chart = if dashed {
            chart.dashed(label, values)
        } else {
            chart.series(label, values)
        };
    }
    chart.xs(xs)
}

/// CPU and memory: the host's busy share of all its cores, the watched processes' CPU seconds
/// per second, and memory of both, one series per host (shard) and process group.
pub fn resources(report: &Report) -> Vec<Chart> {
    if report.resources.is_empty() {
        return Vec::new();
    }
    let length = run_length(report);
    let series = |host: Option<bool>, f: &dyn Fn(&super::model::ResourceSample) -> f64| {
        report
            .resources
            .iter()
            .filter(|r| host.is_none_or(|host| (r.source == "host") == host))
            .map(|r| {
                (
                    table::series_label(report, r),
                    r.samples
                        .iter()
                        .map(|s| (s.offset_seconds, Some(f(s))))
                        .collect(),
                )
            })
            .collect::<Vec<_>>()
    };
    let chart = |id: &str, title: &str, unit| {
        Chart::new(id, title, Axis::elapsed(length), Axis::of(unit)).bands(stage_bands(report))
    };
    let mut charts = Vec::new();
    let host = series(Some(true), &|s| s.cpu_ratio);
    if !host.is_empty() {
        charts.push(chart("chart-cpu", "CPU busy, host (all cores)", Unit::Ratio).aligned(host));
    }
    let processes = series(Some(false), &|s| s.cpu_ratio);
    if !processes.is_empty() {
        charts.push(
            chart(
                "chart-cpu-processes",
                "CPU, watched processes (cores)",
                Unit::Cores,
            )
            .aligned(processes),
        );
    }
    charts.push(
        chart(
            "chart-memory",
            "Memory (host: in use; processes: resident)",
            Unit::Bytes,
        )
        .aligned(series(None, &|s| s.memory_bytes as f64)),
    );
    charts
}

/// The breaking-point curve: p95 and error ratio against the scheduled rate.
pub fn breaking_point(report: &Report) -> Vec<Chart> {
    let Some(bp) = &report.breaking_point else {
        return Vec::new();
    };
    let xs: Vec<f64> = bp.steps.iter().map(|s| s.target_rate).collect();
    let (by, unit) = match bp.model {
        LoadModel::Open => ("arrival rate (requests/s)", Unit::Rate),
        LoadModel::Closed => ("virtual users", Unit::Count),
    };
    vec![
        Chart::new(
            "chart-breaking-latency",
            format!("p95 by {by}"),
            Axis::of(unit),
            Axis::of(Unit::Seconds),
        )
        .xs(xs.clone())
        .series("p95", bp.steps.iter().map(|s| s.p95_seconds).collect())
        .lines(threshold_lines(report, Drawn::Latency, None)),
        Chart::new(
            "chart-breaking-errors",
            format!("Error ratio by {by}"),
            Axis::of(unit),
            Axis::of(Unit::Ratio),
        )
        .xs(xs)
        .series(
            "error ratio",
            bp.steps.iter().map(|s| s.error_ratio).collect(),
        )
        .lines(threshold_lines(report, Drawn::ErrorRatio, None)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::ThresholdResult;
    use crate::report::testing;

    #[test]
    fn a_step_threshold_is_drawn_on_that_step_only() {
        let mut report = testing::flow_report();
        report.thresholds = ["session/me: p99 < 2s", "session: p95 < 1s", "p95 < 3s"]
            .map(|expression| ThresholdResult {
                expression: expression.into(),
                measured: None,
                passed: true,
                detail: String::new(),
                profile: None,
            })
            .to_vec();
        let labels = |row: Option<usize>| -> Vec<String> {
            threshold_lines(&report, Drawn::Latency, row)
                .into_iter()
                .map(|l| l.label)
                .collect()
        };
        assert_eq!(labels(Some(0)), ["session: p95 < 1s"]);
        assert_eq!(
            labels(Some(1)),
            ["session/me: p99 < 2s", "session: p95 < 1s"]
        );
        assert!(labels(Some(2)).is_empty(), "web/home");
        assert_eq!(labels(None), ["p95 < 3s"]);
    }
}
