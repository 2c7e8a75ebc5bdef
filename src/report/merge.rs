//! Exact merge of shard reports (`synthex report merge`): the shards of one distributed run,
//! each a [`Report`] of its part of the users or rate, become one report as if one machine had
//! run it all.
//!
//! Counts and HDR histograms add up bucket by bucket, so every percentile of the merge is the
//! percentile of the union of the samples. Timeline intervals are aligned by index (offset ÷
//! interval length); users and target rates add up across shards. Resource series are kept side
//! by side (each names its shard). Thresholds are left empty for the caller to evaluate again on
//! the merged numbers. A breaking-point search is not exactly mergeable (its steps keep no
//! histograms): step rates add up, p95 is the worst shard's and the error ratio is weighted by
//! achieved rate.

use std::collections::BTreeSet;

use super::model::{
    BreakingPoint, BreakingStep, DataUse, FailureGroup, FlowStats, Interval, IterationsDone,
    Report, ScenarioInterval, ScenarioStats,
};
use super::{format, validate};

/// Why shard reports cannot be merged.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MergeError {
    /// Nothing to merge.
    #[error("no reports to merge")]
    Empty,
    /// The reports were written with different schema versions.
    #[error(
        "reports have different schema versions ({0} and {1}); merge reports from one synthex version"
    )]
    SchemaVersion(u32, u32),
    /// The reports come from different runs.
    #[error("reports are from different runs: {0}; merge only the shards of one run")]
    DifferentRun(String),
    /// Two reports cover the same shard.
    #[error("shard {0} appears twice; each shard's report must be merged once")]
    DuplicateShard(u32),
    /// A report lists no shard (reports read by `json::read` always list one).
    #[error("a report lists no shard")]
    NoShard,
    /// A timeline interval lies beyond the longest timeline a report may have.
    #[error("timeline interval {0} is beyond the {max} a report may hold", max = validate::MAX_INTERVALS)]
    TimelineTooLong(f64),
    /// The merge breaks a rule of `validate` (a total beyond 2^64, too many shards).
    #[error("the merged report's {0}")]
    Invalid(String),
    /// A sum passes what a count can hold: the reports cannot be of one real run.
    #[error("{0} add up to more than 2^64; these reports cannot be of one real run")]
    Overflow(String),
}

/// Merges the reports of the shards of one run.
pub fn merge(reports: &[Report]) -> Result<Report, MergeError> {
    let (first, rest) = reports.split_first().ok_or(MergeError::Empty)?;
    check_compatible(first, rest)?;
    let mut merged = first.clone();
    merged.thresholds.clear();
    // Drawn again from the merged numbers by whoever judges the merge.
    merged.findings.clear();
    for report in rest {
        merged.started_at = merged.started_at.min(report.started_at);
        merged.duration_seconds = merged.duration_seconds.max(report.duration_seconds);
        merged.interrupted |= report.interrupted;
        merged.data_exhausted = match (merged.data_exhausted.take(), &report.data_exhausted) {
            (Some(mut a), Some(b)) => {
                a.rows = add(a.rows, b.rows, "data_exhausted rows")?;
                Some(a)
            }
            (a, b) => a.or_else(|| b.clone()),
        };
        merge_data(&mut merged.data, &report.data)?;
        merged.shards.extend(report.shards.iter().copied());
        merge_scenarios(&mut merged.scenarios, &report.scenarios)?;
        merge_flows(&mut merged.flows, &report.flows)?;
        merge_failures(&mut merged.failures, &report.failures)?;
        merge_timeline(
            &mut merged.timeline,
            &report.timeline,
            report.timeline_interval_seconds,
        )?;
        merged.resources.extend(report.resources.iter().cloned());
        // Every shard asks the same Prometheus: one shard's series is the run's.
        if merged.prometheus.is_empty() {
            merged.prometheus = report.prometheus.clone();
        }
        if let (Some(warmup), Some(other)) = (merged.warmup.as_mut(), &report.warmup) {
            merge_scenarios(&mut warmup.scenarios, &other.scenarios)?;
            warmup.rate += other.rate;
        }
        merged.iterations = match (merged.iterations, report.iterations) {
            (Some(a), Some(b)) => Some(IterationsDone {
                users: a.users + b.users,
                users_done: a.users_done + b.users_done,
                // The shard that ended worst says what ended the run.
                ended_by: a.ended_by.max(b.ended_by),
            }),
            (a, b) => a.or(b),
        };
        // The first shard to abort stopped only itself; the run is aborted all the same.
        merged.aborted = match (merged.aborted.take(), &report.aborted) {
            (Some(a), Some(b)) if b.offset_seconds < a.offset_seconds => Some(b.clone()),
            (a, b) => a.or_else(|| b.clone()),
        };
        merged.breaking_point = match (merged.breaking_point.take(), &report.breaking_point) {
            (Some(a), Some(b)) => Some(merge_breaking_point(a, b)),
            (a, b) => a.or_else(|| b.clone()),
        };
    }
    merged.shards.sort();
    // Most frequent first, ties in a fixed order whatever the order of the inputs.
    merged.failures.sort_by(|a, b| {
        b.occurrences
            .cmp(&a.occurrences)
            .then_with(|| failure_key(a).cmp(&failure_key(b)))
    });
    validate::check(&merged)
        .map_err(|e| MergeError::Invalid(format!("{}: {}", e.field, e.message)))?;
    Ok(merged)
}

fn check_compatible(first: &Report, rest: &[Report]) -> Result<(), MergeError> {
    let mut shards = BTreeSet::new();
    let count = first.shards.first().ok_or(MergeError::NoShard)?.count;
    for report in std::iter::once(first).chain(rest) {
        if report.schema_version != first.schema_version {
            return Err(MergeError::SchemaVersion(
                first.schema_version,
                report.schema_version,
            ));
        }
        let different = |what: &str, a: &dyn std::fmt::Debug, b: &dyn std::fmt::Debug| {
            Err(MergeError::DifferentRun(format!("{what} {a:?} and {b:?}")))
        };
        if report.config != first.config {
            return different("config", &first.config, &report.config);
        }
        if report.plan != first.plan {
            return different("plan", &first.plan, &report.plan);
        }
        if report.timeline_interval_seconds != first.timeline_interval_seconds {
            return different(
                "timeline interval",
                &first.timeline_interval_seconds,
                &report.timeline_interval_seconds,
            );
        }
        for shard in &report.shards {
            if shard.count != count {
                return different("shard count", &count, &shard.count);
            }
            if !shards.insert(shard.index) {
                return Err(MergeError::DuplicateShard(shard.index));
            }
        }
    }
    Ok(())
}

/// `a + b`, or the overflow error naming `what`.
fn add(a: u64, b: u64, what: &str) -> Result<u64, MergeError> {
    a.checked_add(b)
        .ok_or_else(|| MergeError::Overflow(what.to_string()))
}

fn merge_scenarios(
    into: &mut Vec<ScenarioStats>,
    from: &[ScenarioStats],
) -> Result<(), MergeError> {
    for s in from {
        match into
            .iter_mut()
            .find(|x| x.target == s.target && x.scenario == s.scenario && x.step == s.step)
        {
            Some(x) => {
                let what = |field: &str| format!("{}/{} {field}", s.target, s.name());
                x.requests = add(x.requests, s.requests, &what("requests"))?;
                x.not_run = add(x.not_run, s.not_run, &what("not_run"))?;
                x.failures = add(x.failures, s.failures, &what("failures"))?;
                x.body_bytes = add(x.body_bytes, s.body_bytes, &what("body_bytes"))?;
                x.cache_hits = add(x.cache_hits, s.cache_hits, &what("cache_hits"))?;
                x.cache_misses = add(x.cache_misses, s.cache_misses, &what("cache_misses"))?;
                x.latency
                    .checked_merge(&s.latency)
                    .ok_or_else(|| MergeError::Overflow(what("latency counts")))?;
                merge_scenario_timeline(&mut x.timeline, &s.timeline, &what("timeline"))?;
            }
            None => into.push(s.clone()),
        }
    }
    Ok(())
}

fn merge_flows(into: &mut Vec<FlowStats>, from: &[FlowStats]) -> Result<(), MergeError> {
    for f in from {
        match into
            .iter_mut()
            .find(|x| x.target == f.target && x.scenario == f.scenario)
        {
            Some(x) => {
                let what = |field: &str| format!("flow {}/{} {field}", f.target, f.scenario);
                x.runs = add(x.runs, f.runs, &what("runs"))?;
                x.failures = add(x.failures, f.failures, &what("failures"))?;
                x.duration
                    .checked_merge(&f.duration)
                    .ok_or_else(|| MergeError::Overflow(what("duration counts")))?;
            }
            None => into.push(f.clone()),
        }
    }
    Ok(())
}

/// Rows taken by each shard add up; the file is the same in every shard.
fn merge_data(into: &mut Vec<DataUse>, from: &[DataUse]) -> Result<(), MergeError> {
    for d in from {
        match into
            .iter_mut()
            .find(|x| x.target == d.target && x.scenario == d.scenario)
        {
            Some(x) => {
                let what = |field: &str| format!("data of {}/{} {field}", d.target, d.scenario);
                x.rows = add(x.rows, d.rows, &what("rows"))?;
                x.warmup_rows = add(x.warmup_rows, d.warmup_rows, &what("warmup_rows"))?;
            }
            None => into.push(d.clone()),
        }
    }
    Ok(())
}

/// `pick` of both when both are known, else the one that is.
fn either(a: Option<f64>, b: Option<f64>, pick: fn(f64, f64) -> f64) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(pick(a, b)),
        (a, b) => a.or(b),
    }
}

fn failure_key(f: &FailureGroup) -> (&str, &str, Option<&str>, &str, &str, &str) {
    (
        &f.target,
        &f.scenario,
        f.step.as_deref(),
        &f.method,
        &f.reason,
        &f.message,
    )
}

fn merge_failures(into: &mut Vec<FailureGroup>, from: &[FailureGroup]) -> Result<(), MergeError> {
    for f in from {
        match into.iter_mut().find(|x| failure_key(x) == failure_key(f)) {
            Some(x) => {
                x.occurrences = add(x.occurrences, f.occurrences, "failure occurrences")?;
                x.first_seen = either(x.first_seen, f.first_seen, f64::min);
                x.last_seen = either(x.last_seen, f.last_seen, f64::max);
            }
            None => into.push(f.clone()),
        }
    }
    Ok(())
}

/// Adds `from`'s intervals to `into`'s by index. Offsets are `index × step` in every report
/// read from a file (see `validate`); an index beyond [`validate::MAX_INTERVALS`] is refused
/// rather than filled up to.
fn merge_timeline(
    into: &mut Vec<Interval>,
    from: &[Interval],
    step: f64,
) -> Result<(), MergeError> {
    for interval in from {
        let index = (interval.offset_seconds / step).round();
        if !(0.0..validate::MAX_INTERVALS as f64).contains(&index) {
            return Err(MergeError::TimelineTooLong(index));
        }
        let index = index as usize;
        while into.len() <= index {
            into.push(Interval::empty(into.len() as f64 * step, 0, 0.0));
        }
        let x = &mut into[index];
        x.users = add(x.users, interval.users, "timeline users")?;
        x.target_rate += interval.target_rate;
        x.requests = add(x.requests, interval.requests, "timeline requests")?;
        x.failures = add(x.failures, interval.failures, "timeline failures")?;
        x.cache_hits = add(x.cache_hits, interval.cache_hits, "timeline cache hits")?;
        x.cache_misses = add(
            x.cache_misses,
            interval.cache_misses,
            "timeline cache misses",
        )?;
        x.latency
            .checked_merge(&interval.latency)
            .ok_or_else(|| MergeError::Overflow("timeline latency counts".to_string()))?;
        // Shards ran side by side: the merged interval lasts as long as the longest of them.
        let length = x.length(step).max(interval.length(step));
        x.duration_seconds = (length != step).then_some(length);
        for (reason, count) in &interval.failure_reasons {
            let sum = x.failure_reasons.entry(reason.clone()).or_default();
            *sum = add(*sum, *count, "timeline failure reasons")?;
        }
    }
    Ok(())
}

/// Adds one scenario's per-interval shares of another shard to `into`, index by index.
fn merge_scenario_timeline(
    into: &mut Vec<ScenarioInterval>,
    from: &[ScenarioInterval],
    what: &str,
) -> Result<(), MergeError> {
    if into.len() < from.len() {
        into.resize(from.len(), ScenarioInterval::default());
    }
    for (x, share) in into.iter_mut().zip(from) {
        x.requests = add(x.requests, share.requests, what)?;
        x.failures = add(x.failures, share.failures, what)?;
        x.latency
            .checked_merge(&share.latency)
            .ok_or_else(|| MergeError::Overflow(what.to_string()))?;
    }
    Ok(())
}

fn merge_breaking_point(a: BreakingPoint, b: &BreakingPoint) -> BreakingPoint {
    let steps: Vec<BreakingStep> = (0..a.steps.len().max(b.steps.len()))
        .filter_map(|i| match (a.steps.get(i), b.steps.get(i)) {
            (Some(x), Some(y)) => Some(merge_step(x, y)),
            (x, y) => x.or(y).cloned(),
        })
        .collect();
    let broken = steps.iter().position(|s| !s.passed);
    let held = broken.map_or(steps.len(), |i| i);
    BreakingPoint {
        model: a.model,
        highest_passing_rate: held.checked_sub(1).map(|i| steps[i].target_rate),
        breaking_rate: broken.map(|i| steps[i].target_rate),
        first_broken: a.first_broken.or_else(|| b.first_broken.clone()),
        steps,
    }
}

/// One step of both shards: rates add, the worst p95, errors weighted by achieved rate.
fn merge_step(x: &BreakingStep, y: &BreakingStep) -> BreakingStep {
    let achieved_rate = x.achieved_rate + y.achieved_rate;
    let error_ratio = match (x.error_ratio, y.error_ratio) {
        (None, None) => None,
        (e, f) => format::ratio(
            e.unwrap_or(0.0) * x.achieved_rate + f.unwrap_or(0.0) * y.achieved_rate,
            achieved_rate,
        ),
    };
    let p95_seconds = match (x.p95_seconds, y.p95_seconds) {
        (Some(p), Some(q)) => Some(p.max(q)),
        (p, q) => p.or(q),
    };
    BreakingStep {
        target_rate: x.target_rate + y.target_rate,
        achieved_rate,
        p95_seconds,
        error_ratio,
        passed: x.passed && y.passed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::Shard;
    use crate::report::testing::{self, Sample};

    fn shard(samples: &[Sample], index: u32) -> Report {
        testing::build(
            samples,
            vec![Shard { index, count: 2 }],
            5,
            vec![testing::host_series(index)],
        )
    }

    #[test]
    fn merging_two_shards_equals_one_run_of_the_union() {
        let all = testing::samples();
        // Alternate blocks of three samples, so both shards see the scenarios in config order.
        let half = |parity: usize| -> Vec<Sample> {
            let blocks = all
                .iter()
                .enumerate()
                .filter(|(i, _)| (i / 3) % 2 == parity);
            blocks.map(|(_, s)| *s).collect()
        };
        let (a, b) = (half(0), half(1));
        let (mut shard_a, shard_b) = (shard(&a, 0), shard(&b, 1));
        shard_a
            .thresholds
            .push(crate::report::model::ThresholdResult {
                expression: "p95 < 1s".into(),
                measured: Some(0.05),
                passed: true,
                detail: "on shard 0 only".into(),
                profile: None,
            });
        let union = testing::build(
            &all,
            vec![Shard { index: 0, count: 2 }, Shard { index: 1, count: 2 }],
            10,
            vec![testing::host_series(0), testing::host_series(1)],
        );
        // Order of the inputs does not matter, except for resource series order.
        assert_eq!(merge(&[shard_a.clone(), shard_b.clone()]).unwrap(), union);
        let reversed = merge(&[shard_b, shard_a]).unwrap();
        assert_eq!(reversed.scenarios, union.scenarios);
        assert_eq!(reversed.timeline, union.timeline);
        assert_eq!(reversed.shards, union.shards);
    }

    #[test]
    fn iterations_add_up_and_the_earliest_abort_is_the_runs() {
        use crate::report::model::{Abort, IterationsEnd};
        let samples = testing::samples();
        let (mut a, mut b, mut c) = (shard(&samples, 0), shard(&samples, 1), shard(&samples, 2));
        for (report, count) in [(&mut a, 3), (&mut b, 3), (&mut c, 3)] {
            report.shards[0].count = count;
        }
        let done = |users_done, ended_by| IterationsDone {
            users: 4,
            users_done,
            ended_by,
        };
        a.iterations = Some(done(4, IterationsEnd::Iterations));
        b.iterations = Some(done(1, IterationsEnd::Stopped));
        c.iterations = Some(done(2, IterationsEnd::Duration));
        let abort = |at: f64| Abort {
            threshold: "error_rate < 1%".into(),
            offset_seconds: at,
            detail: format!("at {at}"),
        };
        b.aborted = Some(abort(9.0));
        c.aborted = Some(abort(4.0));
        let merged = merge(&[a.clone(), b, c]).unwrap();
        let expected = IterationsDone {
            users: 12,
            users_done: 7,
            ended_by: IterationsEnd::Stopped,
        };
        assert_eq!(merged.iterations, Some(expected));
        assert_eq!(merged.aborted, Some(abort(4.0)));
        let alone = merge(&[a]).unwrap();
        assert_eq!(alone.aborted, None);
    }

    #[test]
    fn incompatible_reports_are_refused() {
        let report = testing::report();
        assert_eq!(merge(&[]), Err(MergeError::Empty));
        assert_eq!(
            merge(&[report.clone(), report.clone()]),
            Err(MergeError::DuplicateShard(0))
        );
        let mut other = report.clone();
        other.shards[0].index = 1;
        other.schema_version = 99;
        assert_eq!(
            merge(&[report.clone(), other.clone()]),
            Err(MergeError::SchemaVersion(1, 99))
        );
        other.schema_version = report.schema_version;
        other.plan.profile = "heavy".into();
        let error = merge(&[report.clone(), other.clone()])
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("reports are from different runs: plan"),
            "{error}"
        );
        other.plan = report.plan.clone();
        other.config = "other.yml".into();
        let error = merge(&[report.clone(), other]).unwrap_err().to_string();
        assert!(
            error.contains(r#"config "config/demo.yml" and "other.yml""#),
            "{error}"
        );
    }

    #[test]
    fn breaking_point_steps_add_rates_and_keep_the_worst_latency() {
        let step = |rate: f64, p95: f64, passed: bool| BreakingStep {
            target_rate: rate,
            achieved_rate: rate,
            p95_seconds: Some(p95),
            error_ratio: Some(if passed { 0.0 } else { 0.2 }),
            passed,
        };
        let a = BreakingPoint {
            model: crate::report::model::LoadModel::Open,
            highest_passing_rate: Some(100.0),
            breaking_rate: Some(200.0),
            first_broken: Some("p95 < 200ms".into()),
            steps: vec![step(100.0, 0.05, true), step(200.0, 0.3, false)],
        };
        let b = BreakingPoint {
            model: crate::report::model::LoadModel::Open,
            steps: vec![step(100.0, 0.06, true), step(200.0, 0.1, true)],
            highest_passing_rate: Some(200.0),
            breaking_rate: None,
            first_broken: None,
        };
        let merged = merge_breaking_point(a, &b);
        assert_eq!(merged.highest_passing_rate, Some(200.0));
        assert_eq!(merged.breaking_rate, Some(400.0));
        assert_eq!(merged.steps[1].p95_seconds, Some(0.3));
        assert_eq!(merged.steps[1].error_ratio, Some(0.1));
        assert_eq!(merged.first_broken.as_deref(), Some("p95 < 200ms"));
    }
}
