//! What a report read from a file must satisfy beyond its JSON shape, checked before `compare`,
//! `report merge` or `--baseline` use it.
//!
//! A report is input like any other file: truncated, hand-edited or hostile. Each rule below is
//! one a report written by synthex always meets; a report that breaks one is refused with the
//! field path and what was expected, so nothing later can panic, wrap a count or allocate
//! without bound (a zero timeline interval or a far-off interval offset once made `report
//! merge` fill memory with empty intervals).

use super::model::{Report, ScenarioStats};

/// Most shards a run can be split into.
pub const MAX_SHARDS: u32 = 10_000;

/// Timeline interval lengths a report may declare, seconds (synthex writes 1).
const INTERVAL_RANGE: (f64, f64) = (0.001, 3_600.0);

/// Longest run a report may describe, seconds (31 days).
pub const MAX_DURATION_SECONDS: f64 = 31.0 * 86_400.0;

/// Latest wall-clock time a report may name, Unix seconds (the end of year 9999).
const LAST_TIMESTAMP: f64 = 253_402_300_799.0;

/// Most timeline intervals a report may hold (a bit over a day at 1 s).
pub const MAX_INTERVALS: usize = 100_000;

/// A rule a report breaks: the field path (`scenarios[2].failures`) and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// Path of the offending field.
    pub field: String,
    /// What is wrong and what was expected.
    pub message: String,
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> Invalid {
    Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// Checks every rule of the module docs.
pub fn check(report: &Report) -> Result<(), Invalid> {
    shards(report)?;
    number(
        "duration_seconds",
        report.duration_seconds,
        0.0,
        MAX_DURATION_SECONDS,
    )?;
    number("started_at", report.started_at, 0.0, f64::MAX)?;
    for (i, stage) in report.plan.stages.iter().enumerate() {
        let field = format!("plan.stages[{i}]");
        number(
            &format!("{field}.duration_seconds"),
            stage.duration_seconds,
            0.0,
            MAX_DURATION_SECONDS,
        )?;
        number(&format!("{field}.target"), stage.target, 0.0, f64::MAX)?;
    }
    for (i, scenario) in report.scenarios.iter().enumerate() {
        scenario_counts(&format!("scenarios[{i}]"), scenario)?;
    }
    for (i, flow) in report.flows.iter().enumerate() {
        counts(
            &format!("flows[{i}]"),
            flow.runs,
            flow.failures,
            flow.duration.count(),
        )?;
    }
    // The reports' totals add these up (failures and latencies are at most the requests).
    total(
        "scenarios",
        "requests",
        report.scenarios.iter().map(|s| s.requests),
    )?;
    total(
        "scenarios",
        "body_bytes",
        report.scenarios.iter().map(|s| s.body_bytes),
    )?;
    total(
        "timeline",
        "requests",
        report.timeline.iter().map(|i| i.requests),
    )?;
    timeline(report)?;
    for (i, group) in report.failures.iter().enumerate() {
        for (name, seen) in [
            ("first_seen", group.first_seen),
            ("last_seen", group.last_seen),
        ] {
            if let Some(at) = seen {
                number(&format!("failures[{i}].{name}"), at, 0.0, LAST_TIMESTAMP)?;
            }
        }
    }
    for (i, series) in report.resources.iter().enumerate() {
        for (j, sample) in series.samples.iter().enumerate() {
            let field = format!("resources[{i}].samples[{j}]");
            number(
                &format!("{field}.offset_seconds"),
                sample.offset_seconds,
                0.0,
                MAX_DURATION_SECONDS,
            )?;
            number(
                &format!("{field}.cpu_ratio"),
                sample.cpu_ratio,
                0.0,
                f64::MAX,
            )?;
        }
    }
    if let Some(done) = &report.iterations
        && done.users_done > done.users
    {
        return Err(invalid(
            "iterations.users_done",
            format!(
                "{}: expected at most the {} users",
                done.users_done, done.users
            ),
        ));
    }
    if let Some(abort) = &report.aborted {
        number(
            "aborted.offset_seconds",
            abort.offset_seconds,
            0.0,
            MAX_DURATION_SECONDS,
        )?;
    }
    if let Some(point) = &report.breaking_point {
        for (i, step) in point.steps.iter().enumerate() {
            let field = format!("breaking_point.steps[{i}]");
            number(
                &format!("{field}.target_rate"),
                step.target_rate,
                0.0,
                f64::MAX,
            )?;
            number(
                &format!("{field}.achieved_rate"),
                step.achieved_rate,
                0.0,
                f64::MAX,
            )?;
            if let Some(ratio) = step.error_ratio {
                number(&format!("{field}.error_ratio"), ratio, 0.0, 1.0)?;
            }
            if let Some(p95) = step.p95_seconds {
                number(&format!("{field}.p95_seconds"), p95, 0.0, f64::MAX)?;
            }
        }
    }
    Ok(())
}

/// At least one shard, each `index < count <= MAX_SHARDS`, one count, no index twice.
fn shards(report: &Report) -> Result<(), Invalid> {
    let first = report.shards.first().ok_or_else(|| {
        invalid(
            "shards",
            "empty: expected at least one shard ({\"index\": 0, \"count\": 1} for a plain run)",
        )
    })?;
    for (i, shard) in report.shards.iter().enumerate() {
        let field = format!("shards[{i}]");
        if shard.count == 0 || shard.count > MAX_SHARDS {
            return Err(invalid(
                format!("{field}.count"),
                format!("{}: expected 1 to {MAX_SHARDS}", shard.count),
            ));
        }
        if shard.index >= shard.count {
            return Err(invalid(
                format!("{field}.index"),
                format!(
                    "shard {} of {}: expected an index below the count (0-based)",
                    shard.index, shard.count
                ),
            ));
        }
        if shard.count != first.count {
            return Err(invalid(
                format!("{field}.count"),
                format!("{}, but shards[0] has {}", shard.count, first.count),
            ));
        }
        if report.shards[..i].iter().any(|s| s.index == shard.index) {
            return Err(invalid(
                format!("{field}.index"),
                format!("shard {} appears twice", shard.index),
            ));
        }
    }
    Ok(())
}

/// Failures and cache results within the requests, and one latency per request.
fn scenario_counts(field: &str, s: &ScenarioStats) -> Result<(), Invalid> {
    counts(field, s.requests, s.failures, s.latency.count())?;
    let cached = s.cache_hits.checked_add(s.cache_misses);
    if cached.is_none_or(|cached| cached > s.requests) {
        return Err(invalid(
            format!("{field}.cache_hits"),
            format!(
                "{} hits and {} misses: expected at most the {} requests",
                s.cache_hits, s.cache_misses, s.requests
            ),
        ));
    }
    Ok(())
}

fn counts(field: &str, requests: u64, failures: u64, latencies: u64) -> Result<(), Invalid> {
    if failures > requests {
        return Err(invalid(
            format!("{field}.failures"),
            format!("{failures}: expected at most the {requests} requests"),
        ));
    }
    if latencies != requests {
        return Err(invalid(
            format!("{field}.latency"),
            format!("holds {latencies} latencies: expected one per request ({requests})"),
        ));
    }
    Ok(())
}

/// A sane interval length, at most [`MAX_INTERVALS`] intervals, the `i`-th at `i` intervals
/// from the start (as synthex writes them), each with consistent counts.
fn timeline(report: &Report) -> Result<(), Invalid> {
    let step = report.timeline_interval_seconds;
    number(
        "timeline_interval_seconds",
        step,
        INTERVAL_RANGE.0,
        INTERVAL_RANGE.1,
    )?;
    if report.timeline.len() > MAX_INTERVALS {
        return Err(invalid(
            "timeline",
            format!(
                "{} intervals: expected at most {MAX_INTERVALS}",
                report.timeline.len()
            ),
        ));
    }
    for (i, interval) in report.timeline.iter().enumerate() {
        let field = format!("timeline[{i}]");
        let expected = i as f64 * step;
        let off_by = (interval.offset_seconds - expected).abs();
        if off_by.is_nan() || off_by > step / 2.0 {
            return Err(invalid(
                format!("{field}.offset_seconds"),
                format!(
                    "{}: expected {expected} (interval {i} of {step} s)",
                    interval.offset_seconds
                ),
            ));
        }
        number(
            &format!("{field}.target_rate"),
            interval.target_rate,
            0.0,
            f64::MAX,
        )?;
        counts(
            &field,
            interval.requests,
            interval.failures,
            interval.latency.count(),
        )?;
        if let Some(length) = interval.duration_seconds {
            // The last interval may take in a sliver of run after it (see the recorder).
            number(
                &format!("{field}.duration_seconds"),
                length,
                0.0,
                2.0 * step,
            )?;
        }
        let mut reasons: u64 = 0;
        for count in interval.failure_reasons.values() {
            reasons = reasons.saturating_add(*count);
        }
        if !interval.failure_reasons.is_empty() && reasons != interval.failures {
            return Err(invalid(
                format!("{field}.failure_reasons"),
                format!(
                    "add up to {reasons}: expected the interval's {} failures",
                    interval.failures
                ),
            ));
        }
    }
    scenario_timelines(report)
}

/// Each scenario's per-interval shares are consistent and, when the report has them, add up
/// to the timeline's requests and failures interval by interval.
fn scenario_timelines(report: &Report) -> Result<(), Invalid> {
    let intervals = report.timeline.len();
    let mut sums = vec![(0u64, 0u64); intervals];
    for (i, scenario) in report.scenarios.iter().enumerate() {
        if scenario.timeline.len() > intervals {
            return Err(invalid(
                format!("scenarios[{i}].timeline"),
                format!(
                    "{} intervals: expected at most the timeline's {intervals}",
                    scenario.timeline.len()
                ),
            ));
        }
        for (j, share) in scenario.timeline.iter().enumerate() {
            let field = format!("scenarios[{i}].timeline[{j}]");
            counts(
                &field,
                share.requests,
                share.failures,
                share.latency.count(),
            )?;
            // Both are at most the scenario's totals, checked to fit a u64 above.
            sums[j].0 = sums[j].0.saturating_add(share.requests);
            sums[j].1 = sums[j].1.saturating_add(share.failures);
        }
    }
    if report.scenarios.iter().all(|s| s.timeline.is_empty()) {
        return Ok(());
    }
    for (j, (interval, (requests, failures))) in report.timeline.iter().zip(sums).enumerate() {
        if (requests, failures) != (interval.requests, interval.failures) {
            return Err(invalid(
                format!("timeline[{j}]"),
                format!(
                    "{} requests and {} failures, but the scenarios' timelines add up to \
                     {requests} and {failures}",
                    interval.requests, interval.failures
                ),
            ));
        }
    }
    Ok(())
}

/// The sum of `values` (the `name` field of each element of `list`) fits in a u64.
fn total(list: &str, name: &str, values: impl Iterator<Item = u64>) -> Result<(), Invalid> {
    let mut sum: u64 = 0;
    for (i, value) in values.enumerate() {
        sum = sum.checked_add(value).ok_or_else(|| {
            invalid(
                format!("{list}[{i}].{name}"),
                format!("the {list}' {name} add up to more than 2^64"),
            )
        })?;
    }
    Ok(())
}

/// A finite number within `low..=high`.
fn number(field: &str, value: f64, low: f64, high: f64) -> Result<(), Invalid> {
    if value.is_finite() && (low..=high).contains(&value) {
        Ok(())
    } else {
        Err(invalid(
            field,
            format!("{value}: expected a number from {low} to {high}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::Shard;
    use crate::report::testing;

    fn field_of(edit: impl FnOnce(&mut Report)) -> String {
        let mut report = testing::report();
        edit(&mut report);
        check(&report).unwrap_err().field
    }

    #[test]
    fn a_report_synthex_wrote_passes() {
        assert_eq!(check(&testing::report()), Ok(()));
    }

    #[test]
    fn each_rule_names_its_field() {
        assert_eq!(field_of(|r| r.shards.clear()), "shards");
        assert_eq!(
            field_of(|r| r.shards = vec![Shard { index: 7, count: 2 }]),
            "shards[0].index"
        );
        assert_eq!(
            field_of(|r| r.shards = vec![Shard { index: 0, count: 0 }]),
            "shards[0].count"
        );
        assert_eq!(
            field_of(|r| r.shards = vec![Shard {
                index: 0,
                count: MAX_SHARDS + 1
            }]),
            "shards[0].count"
        );
        assert_eq!(
            field_of(|r| r.timeline_interval_seconds = 0.0),
            "timeline_interval_seconds"
        );
        assert_eq!(
            field_of(|r| r.timeline[0].offset_seconds = 1e18),
            "timeline[0].offset_seconds"
        );
        assert_eq!(
            field_of(|r| r.scenarios[0].failures = u64::MAX),
            "scenarios[0].failures"
        );
        assert_eq!(
            field_of(|r| r.scenarios[0].requests += 1),
            "scenarios[0].failures"
                .replace("failures", "latency")
                .as_str()
        );
        assert_eq!(
            field_of(|r| r.duration_seconds = f64::NAN),
            "duration_seconds"
        );
        assert_eq!(
            field_of(|r| {
                r.iterations = Some(crate::report::model::IterationsDone {
                    users: 3,
                    users_done: 4,
                    ended_by: crate::report::model::IterationsEnd::Iterations,
                })
            }),
            "iterations.users_done"
        );
        assert_eq!(
            field_of(|r| {
                r.aborted = Some(crate::report::model::Abort {
                    threshold: "p95 < 1s".into(),
                    offset_seconds: -1.0,
                    detail: String::new(),
                })
            }),
            "aborted.offset_seconds"
        );
    }

    #[test]
    fn interval_lengths_reasons_and_scenario_timelines_are_checked() {
        let mut report = testing::report();
        report.timeline[9].duration_seconds = Some(2.0);
        assert_eq!(check(&report), Ok(()), "up to two intervals long");
        report.timeline[9].duration_seconds = Some(2.001);
        assert_eq!(
            check(&report).unwrap_err().field,
            "timeline[9].duration_seconds"
        );
        assert_eq!(
            field_of(|r| r.timeline[0].duration_seconds = Some(-1.0)),
            "timeline[0].duration_seconds"
        );
        assert_eq!(
            field_of(|r| *r.timeline[0]
                .failure_reasons
                .entry("timeout".into())
                .or_default() += 1),
            "timeline[0].failure_reasons"
        );
        assert_eq!(
            field_of(|r| r.scenarios[0].timeline[0].requests += 1),
            "scenarios[0].timeline[0].latency"
        );
        assert_eq!(
            field_of(|r| r.scenarios[1].timeline.resize(11, Default::default())),
            "scenarios[1].timeline"
        );
        assert_eq!(
            field_of(|r| r.scenarios[0].timeline[3] = Default::default()),
            "timeline[3]"
        );
        let mut old = testing::report();
        for s in &mut old.scenarios {
            s.timeline.clear();
        }
        for i in &mut old.timeline {
            i.failure_reasons.clear();
        }
        assert_eq!(check(&old), Ok(()), "reports without them are still read");
    }

    #[test]
    fn limits_hold_at_their_edge() {
        let mut report = testing::report();
        report.shards = vec![Shard {
            index: MAX_SHARDS - 1,
            count: MAX_SHARDS,
        }];
        report.timeline_interval_seconds = INTERVAL_RANGE.1;
        for (i, interval) in report.timeline.iter_mut().enumerate() {
            interval.offset_seconds = i as f64 * INTERVAL_RANGE.1;
        }
        report.duration_seconds = MAX_DURATION_SECONDS;
        assert_eq!(check(&report), Ok(()));
        report.duration_seconds = MAX_DURATION_SECONDS * 1.000_001;
        assert_eq!(check(&report).unwrap_err().field, "duration_seconds");
    }
}
