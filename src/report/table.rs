//! The numbers every human-facing renderer shows: one [`Row`] per scenario plus a Total row,
//! and the resource usage of each sampled source, computed once here so that the summary table,
//! the Markdown and the HTML report cannot disagree.

use super::format;
use super::model::{
    BreakingPoint, DataExhausted, IterationsEnd, LatencyHistogram, LoadModel, Report,
    ResourceSeries, ScenarioStats,
};

/// Column headers matching [`Row::cells`].
pub const HEADERS: [&str; 14] = [
    "Name",
    "Requests",
    "Failures",
    "Failure %",
    "RPS",
    "Min",
    "Mean",
    "p50",
    "p95",
    "p99",
    "Max",
    "P99/P95",
    "Stdev",
    "Share",
];

/// Alignment of the [`HEADERS`] columns for [`format::align`] and the Markdown table.
pub const ALIGN: &str = "lrrrrrrrrrrrrr";

/// Latency statistics of a row, seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latency {
    /// Fastest request.
    pub min: f64,
    /// Mean latency.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Slowest request.
    pub max: f64,
    /// Standard deviation, from the histogram.
    pub stdev: f64,
}

impl Latency {
    /// Statistics of a histogram, `None` when it is empty.
    pub fn of(histogram: &LatencyHistogram) -> Option<Latency> {
        let secs = |d: Option<std::time::Duration>| d.map(|d| d.as_secs_f64());
        Some(Latency {
            min: secs(histogram.min())?,
            mean: secs(histogram.mean())?,
            p50: secs(histogram.quantile(0.50))?,
            p95: secs(histogram.quantile(0.95))?,
            p99: secs(histogram.quantile(0.99))?,
            max: secs(histogram.max())?,
            stdev: secs(histogram.stdev())?,
        })
    }

    /// P99/P95: how far the tail runs beyond the 95th percentile (1.0 is a flat tail).
    pub fn consistency(&self) -> Option<f64> {
        format::ratio(self.p99, self.p95)
    }
}

/// One line of the summary table.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Scenario label (see [`label`]) or `Total`.
    pub name: String,
    /// Finished requests.
    pub requests: u64,
    /// Failed requests.
    pub failures: u64,
    /// Requests per second over the run.
    pub rps: f64,
    /// Latency statistics; `None` without requests.
    pub latency: Option<Latency>,
    /// This row's share of all requests (`None` on the Total row and without requests).
    pub share: Option<f64>,
}

impl Row {
    fn new(name: String, requests: u64, failures: u64, hist: &LatencyHistogram, secs: f64) -> Row {
        Row {
            name,
            requests,
            failures,
            rps: format::ratio(requests as f64, secs).unwrap_or(0.0),
            latency: Latency::of(hist),
            share: None,
        }
    }

    /// Failed share of the requests, `None` without requests.
    pub fn failure_ratio(&self) -> Option<f64> {
        format::ratio(self.failures as f64, self.requests as f64)
    }

    /// The row as display cells, in [`HEADERS`] order (`-` where there is no value).
    pub fn cells(&self) -> Vec<String> {
        let dash = || "-".to_string();
        let mut cells = vec![
            self.name.clone(),
            self.requests.to_string(),
            self.failures.to_string(),
            self.failure_ratio().map_or_else(dash, format::percent),
            format::rate(self.rps),
        ];
        match self.latency {
            Some(l) => {
                cells.extend([l.min, l.mean, l.p50, l.p95, l.p99, l.max].map(format::duration));
                cells.push(
                    l.consistency()
                        .map_or_else(dash, |c| format::decimals(c, 2)),
                );
                cells.push(format::duration(l.stdev));
            }
            None => cells.extend(std::iter::repeat_with(dash).take(8)),
        }
        cells.push(self.share.map_or_else(dash, format::percent));
        cells
    }
}

/// Whether the report covers more than one target, so labels need the target name.
pub fn several_targets(report: &Report) -> bool {
    report
        .scenarios
        .windows(2)
        .any(|pair| pair[0].target != pair[1].target)
}

/// A row's display name: `scenario` (or `flow/step`), prefixed with `target/` when the report
/// has several targets.
pub fn label(report: &Report, stats: &ScenarioStats) -> String {
    scenario_label(several_targets(report), &stats.target, &stats.name())
}

/// Whole runs of each flow as display rows: header first, then one row per flow; only the
/// header when the report has no flow. `Not run` lists the steps that a failed earlier step
/// kept from running, and how often.
pub fn flow_cells(report: &Report) -> Vec<Vec<String>> {
    let header = [
        "Flow", "Runs", "Failed", "Failed %", "p50", "p95", "p99", "Max", "Not run",
    ];
    let mut rows = vec![header.map(String::from).to_vec()];
    let with_target = several_targets(report);
    for flow in &report.flows {
        let dash = || "-".to_string();
        let mut row = vec![
            scenario_label(with_target, &flow.target, &flow.scenario),
            flow.runs.to_string(),
            flow.failures.to_string(),
            format::ratio(flow.failures as f64, flow.runs as f64)
                .map_or_else(dash, format::percent),
        ];
        match Latency::of(&flow.duration) {
            Some(l) => row.extend([l.p50, l.p95, l.p99, l.max].map(format::duration)),
            None => row.extend(std::iter::repeat_with(dash).take(4)),
        }
        let not_run: Vec<String> = report
            .scenarios
            .iter()
            .filter(|s| s.target == flow.target && s.scenario == flow.scenario && s.not_run > 0)
            .filter_map(|s| Some(format!("{} {}", s.step.as_deref()?, s.not_run)))
            .collect();
        row.push(if not_run.is_empty() {
            dash()
        } else {
            not_run.join(", ")
        });
        rows.push(row);
    }
    rows
}

/// `target/scenario` when `with_target`, else `scenario`.
pub fn scenario_label(with_target: bool, target: &str, scenario: &str) -> String {
    if with_target {
        format!("{target}/{scenario}")
    } else {
        scenario.to_string()
    }
}

/// One row per scenario in report order, then the Total row.
pub fn rows(report: &Report) -> Vec<Row> {
    let secs = report.duration_seconds;
    let (requests, failures, latency) = report.total();
    let mut rows: Vec<Row> = report
        .scenarios
        .iter()
        .map(|s| Row {
            share: format::ratio(s.requests as f64, requests as f64),
            ..Row::new(label(report, s), s.requests, s.failures, &s.latency, secs)
        })
        .collect();
    rows.push(Row::new("Total".into(), requests, failures, &latency, secs));
    rows
}

/// Minimum, mean and maximum of a series of values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    /// Smallest value.
    pub min: f64,
    /// Arithmetic mean.
    pub avg: f64,
    /// Largest value.
    pub max: f64,
}

impl Spread {
    /// The spread of `values`, `None` when there are none.
    pub fn of(values: impl Iterator<Item = f64>) -> Option<Spread> {
        let (mut min, mut max, mut sum, mut n) = (f64::INFINITY, f64::NEG_INFINITY, 0.0, 0usize);
        for v in values {
            min = min.min(v);
            max = max.max(v);
            sum += v;
            n += 1;
        }
        (n > 0).then(|| Spread {
            min,
            avg: sum / n as f64,
            max,
        })
    }
}

/// Resource usage of one sampled source over the run.
#[derive(Debug, Clone, PartialEq)]
pub struct Usage {
    /// `host` or the process group, prefixed with the shard when the report has several.
    pub source: String,
    /// CPU ratio spread (host: busy share of all cores; process: cores used).
    pub cpu: Spread,
    /// Memory spread, bytes.
    pub memory: Spread,
}

/// A resource series' display name: its source, with the shard when there are several shards.
pub fn series_label(report: &Report, series: &ResourceSeries) -> String {
    if report.shards.len() > 1 {
        format!("shard {} {}", series.shard, series.source)
    } else {
        series.source.clone()
    }
}

/// Usage of every resource series that has samples, in report order.
pub fn usage(report: &Report) -> Vec<Usage> {
    report
        .resources
        .iter()
        .filter_map(|series| {
            Some(Usage {
                source: series_label(report, series),
                cpu: Spread::of(series.samples.iter().map(|s| s.cpu_ratio))?,
                memory: Spread::of(series.samples.iter().map(|s| s.memory_bytes as f64))?,
            })
        })
        .collect()
}

/// Resource usage as display rows: header first, then one row per source.
pub fn usage_cells(report: &Report) -> Vec<Vec<String>> {
    let header = [
        "Source", "CPU min", "CPU avg", "CPU max", "Mem min", "Mem avg", "Mem max",
    ];
    let mut rows = vec![header.map(String::from).to_vec()];
    for u in usage(report) {
        let mut row = vec![u.source];
        row.extend([u.cpu.min, u.cpu.avg, u.cpu.max].map(format::percent));
        row.extend([u.memory.min, u.memory.avg, u.memory.max].map(format::bytes));
        rows.push(row);
    }
    rows
}

/// The warm-up in one sentence, when the run had one: its requests are in no other figure.
pub fn warmup_sentence(report: &Report) -> Option<String> {
    let w = report.warmup.as_ref()?;
    let requests: u64 = w.scenarios.iter().map(|s| s.requests).sum();
    let failures: u64 = w.scenarios.iter().map(|s| s.failures).sum();
    Some(format!(
        "Warm-up: {} at {}/s before the run, {requests} requests ({failures} failed), kept out of every figure and threshold.",
        format::duration(w.duration_seconds),
        format::decimals(w.rate, 2)
    ))
}

/// One line saying what ran: `profile light, closed model, 10s, config config/demo.yml`.
pub fn headline(report: &Report) -> String {
    let model = match report.plan.model {
        LoadModel::Closed => "closed model (virtual users)",
        LoadModel::Open => "open model (arrival rate)",
    };
    let mut line = format!(
        "profile {}, {model}, {}, config {}",
        report.plan.profile,
        format::duration(report.duration_seconds),
        report.config
    );
    if let Some(n) = report.plan.iterations {
        line.push_str(&format!(", {}", iterations_phrase(n, report)));
    }
    if report.shards.len() > 1 {
        line.push_str(&format!(", {} shards merged", report.shards.len()));
    }
    line
}

/// `13 iterations per user, every user done` or what ended the run before they were.
fn iterations_phrase(per_user: u64, report: &Report) -> String {
    let each = format!("{per_user} iteration(s) per user");
    match report.iterations {
        Some(done) => match done.ended_by {
            IterationsEnd::Iterations => format!("{each}, all {} users done", done.users),
            IterationsEnd::Duration => format!(
                "{each}, ended by the duration with {} of {} users done",
                done.users_done, done.users
            ),
            IterationsEnd::Stopped => format!(
                "{each}, stopped with {} of {} users done",
                done.users_done, done.users
            ),
        },
        None => each,
    }
}

/// What the headings of the summary, Markdown and HTML reports call the run: failed
/// thresholds first (they failed on what ran), then an interruption (what ran held, but it is
/// not the planned test), then test data that ran out under `on_exhausted: fail`, then a
/// regression; passed only when none of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Complete, every threshold held, no regression.
    Passed,
    /// Stopped early with every threshold holding on what ran: not a pass.
    Interrupted,
    /// This many thresholds failed.
    Failed(usize),
    /// A scenario's `unique` data ran out and its `on_exhausted` is `fail`.
    DataExhausted,
    /// Thresholds held but the baseline comparison found a regression.
    Regressed,
}

impl Verdict {
    /// The verdict of `report`, `regressed` telling whether a baseline comparison regressed.
    pub fn of(report: &Report, regressed: bool) -> Verdict {
        let failed = report.thresholds.iter().filter(|t| !t.passed).count();
        let out_of_data = report
            .data_exhausted
            .as_ref()
            .is_some_and(DataExhausted::fails);
        match (failed, report.interrupted, out_of_data, regressed) {
            (0, true, _, _) => Verdict::Interrupted,
            (0, false, true, _) => Verdict::DataExhausted,
            (0, false, false, false) => Verdict::Passed,
            (0, false, false, true) => Verdict::Regressed,
            (n, ..) => Verdict::Failed(n),
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Verdict::Passed => f.write_str("passed"),
            Verdict::Interrupted => f.write_str("INTERRUPTED (not a verdict)"),
            Verdict::Failed(n) => write!(f, "{n} threshold(s) failed"),
            Verdict::DataExhausted => f.write_str("FAILED: the test data ran out (data_exhausted)"),
            Verdict::Regressed => f.write_str("regressed against the baseline"),
        }
    }
}

/// The line shown first and last when the run ended before its plan did: stopped early
/// (Ctrl-C), aborted by an `abort_on_fail` threshold, or its `unique` test data ran out;
/// `None` for a run that ran its plan.
pub fn end_note(report: &Report) -> Option<String> {
    let planned: f64 = report.plan.stages.iter().map(|s| s.duration_seconds).sum();
    if let Some(abort) = &report.aborted {
        return Some(format!(
            "ABORTED at {} of {} planned: threshold {:?} (abort_on_fail) was crossed: {}",
            format::duration(abort.offset_seconds),
            format::duration(planned),
            abort.threshold,
            abort.detail
        ));
    }
    let ran = format!(
        "after {} of {} planned",
        format::duration(report.duration_seconds),
        format::duration(planned)
    );
    if report.interrupted {
        return Some(format!(
            "INTERRUPTED: stopped {ran}; the numbers cover only what ran"
        ));
    }
    let data = report.data_exhausted.as_ref()?;
    let what = format!(
        "the test data ran out: all {} rows of {} (scenario {}) were used once, {ran}",
        data.rows, data.file, data.scenario
    );
    Some(match data.fails() {
        true => format!("FAILED (data_exhausted, on_exhausted: fail): {what}"),
        false => format!("ENDED (on_exhausted: stop): {what}; the thresholds decide the verdict"),
    })
}

/// One sentence per scenario with a data file: rows in the file and rows taken by the warm-up
/// and by the run.
pub fn data_sentences(report: &Report) -> Vec<String> {
    report
        .data
        .iter()
        .map(|d| {
            let warmup = match d.warmup_rows {
                0 => String::new(),
                n => format!("{n} in the warm-up, "),
            };
            format!(
                "Test data of {}/{}: {} ({}, {} rows): {warmup}{} in the run",
                d.target, d.scenario, d.file, d.mode, d.file_rows, d.rows
            )
        })
        .collect()
}

/// The breaking-point verdict in one sentence.
pub fn breaking_point_sentence(bp: &BreakingPoint) -> String {
    let what = match bp.model {
        LoadModel::Open => "rate",
        LoadModel::Closed => "user count",
    };
    let held = bp.highest_passing_rate.map_or_else(
        || "no step held".to_string(),
        |level| format!("highest {what} that held: {}", bp.level(level)),
    );
    match (bp.breaking_rate, &bp.first_broken) {
        (Some(level), Some(why)) => format!("{held}; broke at {} on {why}", bp.level(level)),
        (Some(level), None) => format!("{held}; broke at {}", bp.level(level)),
        (None, _) => format!("{held}; nothing broke"),
    }
}

/// `✓` for a passed threshold, `✗` for a failed one.
pub fn mark(passed: bool) -> &'static str {
    if passed { "✓" } else { "✗" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testing;

    #[test]
    fn rows_cover_each_scenario_and_the_total() {
        let report = testing::report();
        let rows = rows(&report);
        assert_eq!(rows.len(), report.scenarios.len() + 1);
        let total = rows.last().unwrap();
        assert_eq!(total.name, "Total");
        assert_eq!(
            total.requests,
            rows[..rows.len() - 1]
                .iter()
                .map(|r| r.requests)
                .sum::<u64>()
        );
        assert_eq!(total.rps, total.requests as f64 / report.duration_seconds);
        let cells = total.cells();
        assert_eq!(cells.len(), HEADERS.len());
        assert_eq!(rows[0].name, "api/order_status");
        // Shares add up to the whole, each the scenario's requests over all requests.
        let shares: Vec<f64> = rows.iter().filter_map(|r| r.share).collect();
        assert_eq!(shares.len(), report.scenarios.len());
        assert!((shares.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert_eq!(shares[0], rows[0].requests as f64 / total.requests as f64);
        // The standard deviation of the scenario's latencies, computed here from the samples.
        let samples: Vec<f64> = crate::report::testing::samples()
            .iter()
            .filter(|s| s.target == "api" && s.scenario == "order_status")
            .map(|s| s.latency_us as f64 / 1e6)
            .collect();
        let mean = samples.iter().sum::<f64>() / samples.len() as f64;
        let variance =
            samples.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / samples.len() as f64;
        let stdev = rows[0].latency.unwrap().stdev;
        assert!(
            (stdev - variance.sqrt()).abs() <= variance.sqrt() * 0.01 + 1e-6,
            "{stdev} vs {}",
            variance.sqrt()
        );
    }

    #[test]
    fn an_empty_scenario_shows_dashes() {
        let row = Row::new("x".into(), 0, 0, &LatencyHistogram::new(), 10.0);
        assert_eq!(
            row.cells()[3..],
            ["-", "0.0", "-", "-", "-", "-", "-", "-", "-", "-", "-"]
        );
    }

    #[test]
    fn usage_spreads_each_series() {
        let report = testing::report();
        let usage = usage(&report);
        assert_eq!(usage.len(), 1);
        assert_eq!(usage[0].source, "host");
        assert!(usage[0].cpu.min <= usage[0].cpu.avg && usage[0].cpu.avg <= usage[0].cpu.max);
        assert_eq!(Spread::of(std::iter::empty()), None);
    }
}
