//! Load levels side by side: one row per stage of the plan (and per profile in a run of several
//! profiles), so that "10 → 50 → 100 users" reads as one table and the degradation between
//! levels shows: requests/s, p50/p95/p99, standard deviation, error ratio, cache hit ratio, the
//! CPU and memory of the host and of each watched process, and the mean of each field of the
//! target's stats endpoint while the stage ran.
//!
//! Rows are derived from the report's timeline (an interval belongs to the stage it starts in;
//! the last stage also takes the requests that finished while the run wound down), resource
//! samples and stats samples, so a merged report gets its rows recomputed from the
//! merged data. Zero-length stages (jumps) have no row; stages that never started (an
//! interrupted run) neither. In a run of several profiles, stages are numbered per profile and
//! the pauses between profiles have no row: a profile's last stage (and the profile's row)
//! keeps its requests that finished in the pause after it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::format;
use super::model::{Interval, LatencyHistogram, LoadModel, Report};
use super::table;

/// One stage (or one profile) of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageRow {
    /// `stage 2`, or the profile's name for a profile's row.
    pub name: String,
    /// In a run of several profiles, the profile the stage belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// Start, seconds since the run started.
    pub start_seconds: f64,
    /// End (the run's end when it stopped early), seconds since the run started.
    pub end_seconds: f64,
    /// `closed` (users) or `open` (requests/s): the unit of the two levels.
    pub model: LoadModel,
    /// Planned level at the stage's start.
    pub from: f64,
    /// Planned level at the stage's end.
    pub to: f64,
    /// Requests finished in the stage.
    pub requests: u64,
    /// Of which failed.
    pub failures: u64,
    /// Requests per second over the stage's length.
    pub rps: f64,
    /// Median latency, seconds.
    pub p50_seconds: Option<f64>,
    /// 95th percentile, seconds.
    pub p95_seconds: Option<f64>,
    /// 99th percentile, seconds.
    pub p99_seconds: Option<f64>,
    /// Standard deviation of the latencies, seconds.
    pub stdev_seconds: Option<f64>,
    /// Failed share of the stage's requests.
    pub error_ratio: Option<f64>,
    /// Hits over hits and misses (responses without a cache verdict left out).
    pub cache_hit_ratio: Option<f64>,
    /// CPU and memory of each sampled source in the stage.
    pub resources: Vec<StageResource>,
    /// Mean of each stats-endpoint field (`target/field`) over the stage's polls.
    #[serde(default)]
    pub stats: BTreeMap<String, f64>,
}

/// One sampled source in one stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageResource {
    /// `host` or the watched process group (with the shard when there are several).
    pub source: String,
    /// Mean CPU (host: busy share of all cores; process: cores used).
    pub cpu_avg: f64,
    /// Highest CPU sample.
    pub cpu_max: f64,
    /// Mean memory, bytes.
    pub memory_avg_bytes: f64,
    /// Highest memory sample, bytes.
    pub memory_max_bytes: f64,
}

/// A span of the run to summarise: one stage of the plan, or one profile of a run of several.
#[derive(Debug, Clone)]
pub struct Span {
    /// 1-based position in the plan, zero-length stages (jumps) and pauses counted; 0 for a
    /// profile.
    pub number: usize,
    /// `stage 2` (numbered among the stages with a length), or the profile's name.
    pub name: String,
    /// In a run of several profiles, the profile.
    pub profile: Option<String>,
    /// Start, seconds since the run started.
    pub start: f64,
    /// End (the run's end when it stopped early).
    pub end: f64,
    /// Planned level at the start: users (closed) or requests/s (open).
    pub from: f64,
    /// Planned level at the end.
    pub to: f64,
    /// Intervals and samples starting before this count: `end`, or for the last stage before a
    /// pause the next profile's start, and for the run's last span, everything after.
    until: f64,
}

impl Span {
    /// Whether a moment (seconds since the start) counts for the span.
    pub fn holds(&self, offset: f64) -> bool {
        offset >= self.start && offset < self.until
    }

    /// Mean planned level over the span (a ramp's midpoint).
    pub fn mean_level(&self) -> f64 {
        (self.from + self.to) / 2.0
    }
}

/// One stage of the plan (or one profile of a run of several) with what the timeline measured
/// in it: the one cut of a run into stages that the stage table, the findings (where p95 first
/// doubled, where throughput stopped growing) and the Prometheus table all read.
#[derive(Debug, Clone)]
pub struct Stage {
    /// Where the stage lies in the run and its planned levels.
    pub span: Span,
    /// Requests finished in the stage.
    pub requests: u64,
    /// Of which failed.
    pub failures: u64,
    /// Their latencies.
    pub latency: LatencyHistogram,
    /// Responses classified as cache hits.
    pub cache_hits: u64,
    /// Responses classified as cache misses.
    pub cache_misses: u64,
}

impl Stage {
    /// Finished requests per second over the stage's length.
    pub fn throughput(&self) -> f64 {
        format::ratio(self.requests as f64, self.span.end - self.span.start).unwrap_or(0.0)
    }

    /// The stage's p95 latency, seconds.
    pub fn p95(&self) -> Option<f64> {
        self.latency.quantile(0.95).map(|d| d.as_secs_f64())
    }
}

/// The plan's stages with a length that ran (pauses between profiles left out), measured.
pub fn stages(report: &Report) -> Vec<Stage> {
    spans(report)
        .into_iter()
        .map(|s| measure(report, s))
        .collect()
}

/// What the timeline measured in `span`.
fn measure(report: &Report, span: Span) -> Stage {
    let mut stage = Stage {
        span,
        requests: 0,
        failures: 0,
        latency: LatencyHistogram::new(),
        cache_hits: 0,
        cache_misses: 0,
    };
    let inside = |i: &&Interval| stage.span.holds(i.offset_seconds);
    for interval in report.timeline.iter().filter(inside) {
        stage.latency.merge(&interval.latency);
        stage.requests += interval.requests;
        stage.failures += interval.failures;
        stage.cache_hits += interval.cache_hits;
        stage.cache_misses += interval.cache_misses;
    }
    stage
}

/// The stage rows of `report`, then (in a run of several profiles) one row per profile.
pub fn rows(report: &Report) -> Vec<StageRow> {
    let spans = spans(report);
    let mut profiles: Vec<Span> = Vec::new();
    for span in spans.iter().filter(|s| s.profile.is_some()) {
        match profiles.last_mut() {
            Some(last) if last.profile == span.profile => {
                last.end = span.end;
                last.to = span.to;
                last.until = span.until;
            }
            _ => profiles.push(Span {
                number: 0,
                name: span.profile.clone().unwrap_or_default(),
                ..span.clone()
            }),
        }
    }
    spans
        .into_iter()
        .chain(profiles)
        .map(|span| row(report, measure(report, span)))
        .collect()
}

/// The plan's stages with a length that ran, pauses between profiles left out (what finishes
/// in a pause counts for the stage before it).
fn spans(report: &Report) -> Vec<Span> {
    let mut spans: Vec<Span> = Vec::new();
    let several = report.plan.stages.iter().any(|s| s.profile.is_some());
    let (mut at, mut level) = (0.0, 0.0);
    let mut number = 0;
    for (i, stage) in report.plan.stages.iter().enumerate() {
        let start = at;
        at += stage.duration_seconds;
        let from = level;
        level = stage.target;
        if stage.duration_seconds <= 0.0 || start >= report.duration_seconds {
            continue;
        }
        if several && stage.profile.is_none() {
            // A pause: what finishes in it belongs to the stage before.
            if let Some(before) = spans.last_mut() {
                before.until = at;
            }
            continue;
        }
        if spans.last().is_some_and(|s| s.profile != stage.profile) {
            number = 0;
        }
        number += 1;
        let end = at.min(report.duration_seconds);
        spans.push(Span {
            number: i + 1,
            name: format!("stage {number}"),
            profile: stage.profile.clone(),
            start,
            end,
            from,
            to: stage.target,
            until: end,
        });
    }
    if let Some(last) = spans.last_mut() {
        last.until = f64::INFINITY;
    }
    spans
}

/// The row of one measured stage.
fn row(report: &Report, stage: Stage) -> StageRow {
    let inside = |offset: f64| stage.span.holds(offset);
    let (requests, failures) = (stage.requests, stage.failures);
    let (hits, misses) = (stage.cache_hits, stage.cache_misses);
    let latency = &stage.latency;
    let secs = |d: Option<std::time::Duration>| d.map(|d| d.as_secs_f64());
    let resources = report
        .resources
        .iter()
        .filter_map(|series| {
            let samples: Vec<_> = series
                .samples
                .iter()
                .filter(|s| inside(s.offset_seconds))
                .collect();
            let cpu = table::Spread::of(samples.iter().map(|s| s.cpu_ratio))?;
            let memory = table::Spread::of(samples.iter().map(|s| s.memory_bytes as f64))?;
            Some(StageResource {
                source: table::series_label(report, series),
                cpu_avg: cpu.avg,
                cpu_max: cpu.max,
                memory_avg_bytes: memory.avg,
                memory_max_bytes: memory.max,
            })
        })
        .collect();
    let stats = report
        .target_stats
        .iter()
        .filter_map(|series| {
            let spread = table::Spread::of(
                series
                    .samples
                    .iter()
                    .filter(|(at, _)| inside(*at))
                    .map(|(_, v)| *v),
            )?;
            Some((format!("{}/{}", series.target, series.field), spread.avg))
        })
        .collect();
    let rps = stage.throughput();
    let span = stage.span;
    StageRow {
        name: span.name,
        profile: span.profile,
        start_seconds: span.start,
        end_seconds: span.end,
        model: report.plan.model,
        from: span.from,
        to: span.to,
        requests,
        failures,
        rps,
        p50_seconds: secs(latency.quantile(0.5)),
        p95_seconds: secs(latency.quantile(0.95)),
        p99_seconds: secs(latency.quantile(0.99)),
        stdev_seconds: secs(latency.stdev()),
        error_ratio: format::ratio(failures as f64, requests as f64),
        cache_hit_ratio: format::ratio(hits as f64, (hits + misses) as f64),
        resources,
        stats,
    }
}

impl StageRow {
    /// The planned load: `10 users`, `0 → 50 users`, `200/s`.
    pub fn load(&self) -> String {
        let show = |level: f64| match self.model {
            LoadModel::Closed => format::decimals(level, 0),
            LoadModel::Open => format::decimals(level, 2),
        };
        let unit = match self.model {
            LoadModel::Closed => " users",
            LoadModel::Open => "/s",
        };
        if self.from == self.to {
            format!("{}{unit}", show(self.to))
        } else {
            format!("{} → {}{unit}", show(self.from), show(self.to))
        }
    }
}

/// The stage table as display rows (header first): what the summary, Markdown and HTML show.
/// Resource columns: mean CPU and peak memory of each source.
pub fn cells(rows: &[StageRow]) -> Vec<Vec<String>> {
    let sources: Vec<String> = rows
        .iter()
        .flat_map(|r| r.resources.iter().map(|u| u.source.clone()))
        .fold(Vec::new(), |mut all, s| {
            if !all.contains(&s) {
                all.push(s);
            }
            all
        });
    let mut header: Vec<String> = [
        "Stage",
        "Load",
        "Requests",
        "RPS",
        "p50",
        "p95",
        "p99",
        "Stdev",
        "Errors",
        "Cache hit",
    ]
    .map(String::from)
    .to_vec();
    for source in &sources {
        header.push(format!("CPU {source}"));
        header.push(format!("Mem {source}"));
    }
    let dash = || "-".to_string();
    let mut out = vec![header];
    for r in rows {
        let duration = |v: Option<f64>| v.map_or_else(dash, format::duration);
        let name = match (&r.profile, r.name.starts_with("stage")) {
            (Some(profile), true) => format!("{profile} {}", r.name),
            _ => r.name.clone(),
        };
        let mut line = vec![
            name,
            r.load(),
            r.requests.to_string(),
            format::rate(r.rps),
            duration(r.p50_seconds),
            duration(r.p95_seconds),
            duration(r.p99_seconds),
            duration(r.stdev_seconds),
            r.error_ratio.map_or_else(dash, format::percent),
            r.cache_hit_ratio.map_or_else(dash, format::percent),
        ];
        for source in &sources {
            match r.resources.iter().find(|u| &u.source == source) {
                Some(u) => {
                    line.push(format::percent(u.cpu_avg));
                    line.push(format::bytes(u.memory_max_bytes));
                }
                None => line.extend([dash(), dash()]),
            }
        }
        out.push(line);
    }
    out
}

/// The stats-endpoint fields per stage (header first); empty without stats.
pub fn stats_cells(rows: &[StageRow]) -> Vec<Vec<String>> {
    let fields: Vec<&String> =
        rows.iter()
            .flat_map(|r| r.stats.keys())
            .fold(Vec::new(), |mut all, f| {
                if !all.contains(&f) {
                    all.push(f);
                }
                all
            });
    if fields.is_empty() {
        return Vec::new();
    }
    let mut header = vec!["Stage".to_string()];
    header.extend(fields.iter().map(|f| f.to_string()));
    let mut out = vec![header];
    for r in rows {
        let mut line = vec![r.name.clone()];
        line.extend(fields.iter().map(|f| {
            r.stats
                .get(*f)
                .map_or_else(|| "-".to_string(), |v| format::decimals(*v, 3))
        }));
        out.push(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::StageSummary;
    use crate::report::testing;
    use std::time::Duration;

    /// The test report re-planned as 0 → 10 users over 4 s, then 10 for 6 s, with cache
    /// verdicts in the first 4 intervals.
    fn two_stages() -> Report {
        let mut report = testing::report();
        report.plan.stages = vec![
            StageSummary {
                duration_seconds: 0.0,
                target: 0.0,
                profile: None,
            },
            StageSummary {
                duration_seconds: 4.0,
                target: 10.0,
                profile: None,
            },
            StageSummary {
                duration_seconds: 6.0,
                target: 10.0,
                profile: None,
            },
        ];
        for interval in &mut report.timeline[..4] {
            interval.cache_hits = 3;
            interval.cache_misses = 1;
        }
        report
    }

    #[test]
    fn each_stage_gets_the_intervals_and_samples_that_start_in_it() {
        let report = two_stages();
        let rows = rows(&report);
        assert_eq!(rows.len(), 2, "the jump has no row");
        let (first, second) = (&rows[0], &rows[1]);
        assert_eq!((first.start_seconds, first.end_seconds), (0.0, 4.0));
        assert_eq!(first.load(), "0 → 10 users");
        assert_eq!(second.load(), "10 users");
        let sum = |range: std::ops::Range<usize>| -> u64 {
            report.timeline[range].iter().map(|i| i.requests).sum()
        };
        assert_eq!(first.requests, sum(0..4));
        assert_eq!(second.requests, sum(4..10));
        assert_eq!(first.rps, sum(0..4) as f64 / 4.0);
        assert_eq!(first.cache_hit_ratio, Some(0.75));
        assert_eq!(second.cache_hit_ratio, None);
        // The stage's p95 is the p95 of its own intervals' histograms.
        let mut own = LatencyHistogram::new();
        for i in &report.timeline[4..10] {
            own.merge(&i.latency);
        }
        assert_eq!(
            second.p95_seconds,
            own.quantile(0.95).map(|d: Duration| d.as_secs_f64())
        );
        assert_eq!(first.resources[0].source, "host");
        let table = cells(&rows);
        assert_eq!(table[0][..3], ["Stage", "Load", "Requests"]);
        assert_eq!(table[1][0], "stage 1");
    }

    #[test]
    fn an_interrupted_run_has_rows_only_for_what_ran() {
        let mut report = two_stages();
        report.duration_seconds = 3.0;
        report.timeline.truncate(3);
        let rows = rows(&report);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].end_seconds, 3.0);
        assert_eq!(rows[0].rps, rows[0].requests as f64 / 3.0);
    }

    #[test]
    fn profiles_of_a_combined_run_get_a_row_each_after_their_stages() {
        let mut report = two_stages();
        report.plan.stages[1].profile = Some("light".into());
        report.plan.stages[2].profile = Some("medium".into());
        let rows = rows(&report);
        let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["stage 1", "stage 1", "light", "medium"]);
        assert_eq!(rows[2].requests, rows[0].requests);
        assert_eq!(cells(&rows)[1][0], "light stage 1");
        assert_eq!(cells(&rows)[2][0], "medium stage 1");
    }

    #[test]
    fn a_pause_between_profiles_has_no_row_and_its_requests_go_to_the_profile_before() {
        let mut report = two_stages();
        // light 0–4 s, a pause 4–6 s, medium 6–10 s.
        report.plan.stages = [
            (4.0, 10.0, Some("light")),
            (0.0, 0.0, None),
            (2.0, 0.0, None),
        ]
        .into_iter()
        .chain([(4.0, 20.0, Some("medium"))])
        .map(|(duration_seconds, target, profile)| StageSummary {
            duration_seconds,
            target,
            profile: profile.map(str::to_string),
        })
        .collect();
        let rows = rows(&report);
        let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["stage 1", "stage 1", "light", "medium"]);
        let sum = |range: std::ops::Range<usize>| -> u64 {
            report.timeline[range].iter().map(|i| i.requests).sum()
        };
        assert_eq!(rows[0].requests, sum(0..6), "the pause's requests");
        assert_eq!(
            rows[0].rps,
            sum(0..6) as f64 / 4.0,
            "over the stage's length"
        );
        assert_eq!(rows[2].requests, sum(0..6));
        assert_eq!(rows[3].requests, sum(6..10));
    }
}
