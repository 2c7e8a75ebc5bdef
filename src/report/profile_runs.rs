//! The profiles of a run of several (`--profile=light,medium,heavy`), each cut out of the one
//! report as a report of its own: its thresholds are judged on it, its section in the summary,
//! Markdown and HTML shows its scenarios, and it gets its own Locust `_stats.csv`.
//!
//! A profile is found by the plan's stages tagged with its name. It owns the timeline intervals
//! from its start to the next profile's start: the pause after it holds only its last requests
//! finishing (the runner starts each profile on a whole interval once the previous one's
//! requests are done, see [`crate::loadtest::sequence`]), so the per-scenario shares of those
//! intervals are exactly its requests. Everything is derived from the timeline, so a merged
//! report of a sharded run is cut the same way.

use std::path::{Path, PathBuf};

use super::model::{
    LatencyHistogram, PlanSummary, Report, ScenarioStats, StageSummary, ThresholdResult,
};
use super::threshold::{self, Threshold};
use super::{ReportError, table};

/// Where one profile ran, seconds since the start of the run.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileSpan {
    /// The profile's name (built-in name or file path) as `--profile` gave it.
    pub name: String,
    /// Where its first stage starts.
    pub start: f64,
    /// Where its last stage ends, or the run's end when it was cut short.
    pub end: f64,
    /// Where the next profile starts (its requests finish before): the end of its intervals.
    pub until: f64,
    /// Its stages, as planned.
    pub stages: Vec<StageSummary>,
}

/// The profiles of a run of several that started, in run order; empty for a run of one.
pub fn spans(report: &Report) -> Vec<ProfileSpan> {
    let mut spans: Vec<ProfileSpan> = Vec::new();
    let mut at = 0.0;
    for stage in &report.plan.stages {
        let start = at;
        at += stage.duration_seconds;
        let Some(name) = &stage.profile else {
            continue;
        };
        match spans.last_mut() {
            Some(last) if &last.name == name => {
                last.end = at;
                last.stages.push(stage.clone());
            }
            _ => spans.push(ProfileSpan {
                name: name.clone(),
                start,
                end: at,
                until: f64::INFINITY,
                stages: vec![stage.clone()],
            }),
        }
    }
    spans.retain(|s| s.start < report.duration_seconds || s.start == 0.0);
    let starts: Vec<f64> = spans.iter().skip(1).map(|s| s.start).collect();
    for (span, next) in spans.iter_mut().zip(starts) {
        span.until = next;
    }
    for span in &mut spans {
        span.end = span.end.min(report.duration_seconds);
    }
    spans
}

/// The report of one profile: its scenarios (requests, failures and latency of its intervals;
/// content size and cache verdicts as the run's per-request averages, which intervals do not
/// keep per scenario), its timeline, resources, stats and Prometheus samples, its length.
pub fn slice(report: &Report, span: &ProfileSpan) -> Report {
    let inside = |offset: f64| offset >= span.start && offset < span.until;
    let kept: Vec<usize> = (0..report.timeline.len())
        .filter(|&i| inside(report.timeline[i].offset_seconds))
        .collect();
    let scenarios = report
        .scenarios
        .iter()
        .map(|whole| {
            let mut latency = LatencyHistogram::new();
            let (mut requests, mut failures) = (0, 0);
            for share in kept.iter().filter_map(|&i| whole.timeline.get(i)) {
                requests += share.requests;
                failures += share.failures;
                latency.merge(&share.latency);
            }
            let part = |n: u64| match whole.requests {
                0 => 0,
                all => ((n as f64) * requests as f64 / all as f64).round() as u64,
            };
            ScenarioStats {
                requests,
                failures,
                not_run: 0,
                body_bytes: part(whole.body_bytes),
                cache_hits: part(whole.cache_hits),
                cache_misses: part(whole.cache_misses),
                latency,
                timeline: kept
                    .iter()
                    .map(|&i| whole.timeline.get(i).cloned().unwrap_or_default())
                    .collect(),
                ..whole.clone()
            }
        })
        .collect();
    let mut part = Report::of_scenarios(
        &span.name,
        report.plan.model,
        scenarios,
        span.end - span.start,
    );
    part.plan = PlanSummary {
        profile: span.name.clone(),
        model: report.plan.model,
        stages: span.stages.clone(),
        tags: report.plan.tags.clone(),
        iterations: None,
    };
    part.config.clone_from(&report.config);
    part.started_at = report.started_at + span.start;
    part.shards.clone_from(&report.shards);
    part.interrupted = report.interrupted && span.until.is_infinite();
    part.timeline = kept.iter().map(|&i| report.timeline[i].clone()).collect();
    part.timeline_interval_seconds = report.timeline_interval_seconds;
    part.resources = clipped(&report.resources, |series| {
        series.samples.retain(|s| inside(s.offset_seconds))
    });
    part.target_stats = clipped(&report.target_stats, |series| {
        series.samples.retain(|(at, _)| inside(*at))
    });
    part.prometheus = clipped(&report.prometheus, |series| {
        series.samples.retain(|s| inside(s.offset_seconds))
    });
    part
}

/// Copies of `all`'s series, each cut down by `retain` to the samples of one profile.
fn clipped<T: Clone>(all: &[T], retain: impl Fn(&mut T)) -> Vec<T> {
    all.iter()
        .map(|series| {
            let mut series = series.clone();
            retain(&mut series);
            series
        })
        .collect()
}

/// Judges `thresholds`: on the whole run, or in a run of several profiles on each profile on
/// its own, each verdict naming its profile.
pub fn evaluate(thresholds: &[Threshold], report: &Report) -> Vec<ThresholdResult> {
    let spans = spans(report);
    if spans.is_empty() {
        return threshold::evaluate(thresholds, report);
    }
    spans
        .iter()
        .flat_map(|span| {
            let part = slice(report, span);
            threshold::evaluate(thresholds, &part)
                .into_iter()
                .map(|mut result| {
                    result.profile = Some(span.name.clone());
                    result
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// One profile's section in the summary, Markdown and HTML reports.
pub struct Section {
    /// `light: 0s to 1m 10s, 1234 requests` (and `, cut short` when interrupted).
    pub title: String,
    /// Its scenario table, header first, as the whole run's.
    pub cells: Vec<Vec<String>>,
    /// Its thresholds' verdicts.
    pub thresholds: Vec<ThresholdResult>,
}

/// The sections of a run of several profiles; empty for a run of one.
pub fn sections(report: &Report) -> Vec<Section> {
    spans(report)
        .iter()
        .map(|span| {
            let part = slice(report, span);
            let mut cells = vec![table::HEADERS.map(String::from).to_vec()];
            cells.extend(table::rows(&part).iter().map(table::Row::cells));
            let mut title = format!(
                "{}: {} to {}, {} requests",
                span.name,
                moment(span.start),
                moment(span.end),
                part.total().0
            );
            if part.interrupted {
                title.push_str(", cut short");
            }
            Section {
                title,
                cells,
                thresholds: report
                    .thresholds
                    .iter()
                    .filter(|t| t.profile.as_deref() == Some(span.name.as_str()))
                    .cloned()
                    .collect(),
            }
        })
        .collect()
}

/// A moment of the run as a span from its start, to the millisecond: `0s`, `1m 10s`.
fn moment(seconds: f64) -> String {
    let millis = (seconds.max(0.0) * 1000.0).round() as u64;
    humantime::format_duration(std::time::Duration::from_millis(millis)).to_string()
}

/// Writes each profile's Locust `_stats.csv` into `dir` as `{prefix}_{profile}_stats.csv`
/// (see [`file_part`]; a name two profiles would share gets their position), so each level
/// compares on its own with a Locust run of that level; nothing for a run of one profile.
pub fn write_stats(report: &Report, dir: &Path, prefix: &str) -> Result<Vec<PathBuf>, ReportError> {
    let spans = spans(report);
    let parts: Vec<String> = spans.iter().map(|s| file_part(&s.name)).collect();
    let mut paths = Vec::new();
    for (i, span) in spans.iter().enumerate() {
        let shared = parts.iter().filter(|p| **p == parts[i]).count() > 1;
        let part = if shared {
            format!("{}-{}", parts[i], i + 1)
        } else {
            parts[i].clone()
        };
        let path = dir.join(format!("{prefix}_{part}_stats.csv"));
        let profile = slice(report, span);
        super::write_file(&path, |out| super::csv::stats(&profile, out))?;
        paths.push(path);
    }
    Ok(paths)
}

/// The file-name part for a profile's files: the file stem of a profile file, with anything
/// but letters, digits, `-` and `_` made `_`.
pub fn file_part(name: &str) -> String {
    let stem = Path::new(name)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or(name);
    stem.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testing;

    /// The test report (10 s) planned as profile `a` for 4 s, a 2 s pause, profile `b` for 4 s.
    fn two_profiles() -> Report {
        let mut report = testing::report();
        let stage = |duration_seconds: f64, target: f64, profile: Option<&str>| StageSummary {
            duration_seconds,
            target,
            profile: profile.map(str::to_string),
        };
        report.plan.profile = "a,b".into();
        report.plan.stages = vec![
            stage(4.0, 10.0, Some("a")),
            stage(0.0, 0.0, None),
            stage(2.0, 0.0, None),
            stage(4.0, 20.0, Some("b")),
        ];
        report
    }

    #[test]
    fn each_profile_owns_its_intervals_up_to_the_next_profile() {
        let report = two_profiles();
        let spans = spans(&report);
        let shape: Vec<(&str, f64, f64, f64)> = spans
            .iter()
            .map(|s| (s.name.as_str(), s.start, s.end, s.until))
            .collect();
        assert_eq!(
            shape,
            [("a", 0.0, 4.0, 6.0), ("b", 6.0, 10.0, f64::INFINITY)]
        );
        let count = |range: std::ops::Range<usize>| -> u64 {
            report.timeline[range].iter().map(|i| i.requests).sum()
        };
        let a = slice(&report, &spans[0]);
        let b = slice(&report, &spans[1]);
        assert_eq!(a.total().0, count(0..6));
        assert_eq!(b.total().0, count(6..10));
        assert_eq!(a.total().0 + b.total().0, report.total().0);
        assert_eq!(a.duration_seconds, 4.0);
        // Per scenario: the shares of the profile's intervals.
        let search = |r: &Report| r.scenarios[1].requests;
        let shares: u64 = report.scenarios[1].timeline[..6]
            .iter()
            .map(|s| s.requests)
            .sum();
        assert_eq!(search(&a), shares);
        assert_eq!(search(&a) + search(&b), report.scenarios[1].requests);
    }

    #[test]
    fn thresholds_are_judged_per_profile_and_say_which() {
        let report = two_profiles();
        let spans = spans(&report);
        let b_requests = slice(&report, &spans[1]).total().0;
        // Holds in `a` (more requests), fails in `b`.
        let limit = format!("requests > {b_requests}");
        let results = evaluate(&[limit.parse().unwrap()], &report);
        let verdicts: Vec<(Option<&str>, bool)> = results
            .iter()
            .map(|r| (r.profile.as_deref(), r.passed))
            .collect();
        assert_eq!(verdicts, [(Some("a"), true), (Some("b"), false)]);
        let single = evaluate(&[limit.parse().unwrap()], &testing::report());
        assert_eq!(single.len(), 1);
        assert_eq!(single[0].profile, None);
    }

    #[test]
    fn a_run_cut_short_has_only_the_profiles_that_started() {
        let mut report = two_profiles();
        report.duration_seconds = 5.0;
        report.interrupted = true;
        let spans = spans(&report);
        assert_eq!(spans.len(), 1);
        assert_eq!(spans[0].until, f64::INFINITY);
        assert!(slice(&report, &spans[0]).interrupted);
        assert!(sections(&report)[0].title.ends_with("cut short"));
    }

    #[test]
    fn file_parts_keep_names_safe() {
        assert_eq!(file_part("light"), "light");
        assert_eq!(file_part("profiles/ramp hold.yml"), "ramp_hold");
    }
}
