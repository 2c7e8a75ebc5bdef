//! What differs between the plans of two compared runs: a p95 that grew because the current run
//! had five times the users is not a regression of the service, so the comparison says so
//! beside its verdict (it does not change it).

use crate::report::format;
use crate::report::model::{LoadModel, Report};

/// Planned run lengths closer than this (relative, and absolute in seconds) are the same plan:
/// a Locust run's length is measured, not planned, and lands a little off its `-t`.
const DURATION_TOLERANCE: (f64, f64) = (0.05, 1.0);

/// One sentence per difference in users, rate, duration, profile, iterations per user and tags; empty when the plans
/// agree or what differs is unknown on one side (a Locust run names no profile tags).
pub fn differences(baseline: &Report, current: &Report) -> Vec<String> {
    let mut found = Vec::new();
    let mut differ = |what: &str, old: String, new: String| {
        if old != new {
            found.push(format!("{what}: {old} in the baseline, {new} in this run"));
        }
    };
    differ(
        "profile",
        baseline.plan.profile.clone(),
        current.plan.profile.clone(),
    );
    match (peak(baseline), peak(current)) {
        (Some((old_model, old)), Some((new_model, new))) if old_model == new_model => {
            let (what, show): (&str, fn(f64) -> String) = match old_model {
                LoadModel::Closed => ("peak users", |n| format::decimals(n, 0)),
                LoadModel::Open => ("peak rate", |r| format!("{}/s", format::decimals(r, 2))),
            };
            differ(what, show(old), show(new));
        }
        (Some((old_model, old)), Some((new_model, new))) => {
            differ("load", describe(old_model, old), describe(new_model, new));
        }
        _ => {}
    }
    let (old, new) = (planned_seconds(baseline), planned_seconds(current));
    let (relative, absolute) = DURATION_TOLERANCE;
    if (old - new).abs() > absolute.max(relative * old.max(new)) {
        differ("duration", format::duration(old), format::duration(new));
    }
    let per_user = |iterations: Option<u64>| {
        iterations.map_or_else(|| "none (time-bound)".to_string(), |n| n.to_string())
    };
    differ(
        "iterations per user",
        per_user(baseline.plan.iterations),
        per_user(current.plan.iterations),
    );
    if let (Some(old), Some(new)) = (&baseline.plan.tags, &current.plan.tags) {
        let show = |tags: &[String]| {
            if tags.is_empty() {
                "all scenarios".to_string()
            } else {
                format!("tags {}", tags.join(","))
            }
        };
        differ("tags", show(old), show(new));
    }
    found
}

/// The peak of the plan's stages with its model; `None` without stages (a Locust run without
/// its history file).
fn peak(report: &Report) -> Option<(LoadModel, f64)> {
    let stages = &report.plan.stages;
    (!stages.is_empty()).then(|| {
        let peak = stages.iter().map(|s| s.target).fold(0.0, f64::max);
        (report.plan.model, peak)
    })
}

fn describe(model: LoadModel, peak: f64) -> String {
    match model {
        LoadModel::Closed => format!("{} users", format::decimals(peak, 0)),
        LoadModel::Open => format!("{}/s", format::decimals(peak, 2)),
    }
}

/// The planned length: the stages' sum, or the measured length without stages.
fn planned_seconds(report: &Report) -> f64 {
    let planned: f64 = report.plan.stages.iter().map(|s| s.duration_seconds).sum();
    if planned > 0.0 {
        planned
    } else {
        report.duration_seconds
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::StageSummary;
    use crate::report::testing;

    #[test]
    fn the_same_plan_has_no_differences() {
        let report = testing::report();
        assert!(differences(&report, &report).is_empty());
    }

    #[test]
    fn each_plan_change_is_named_once() {
        let old = testing::report();
        let mut new = testing::report();
        new.plan.profile = "heavy".into();
        new.plan.stages = vec![StageSummary {
            duration_seconds: 10.4,
            target: 50.0,
            profile: None,
        }];
        new.plan.tags = Some(vec!["api".into(), "!slow".into()]);
        new.plan.iterations = Some(25);
        assert_eq!(
            differences(&old, &new),
            [
                "profile: light in the baseline, heavy in this run",
                "peak users: 10 in the baseline, 50 in this run",
                "iterations per user: none (time-bound) in the baseline, 25 in this run",
                "tags: all scenarios in the baseline, tags api,!slow in this run",
            ],
            "10s and 10.4s are within the duration tolerance"
        );
        new.plan.stages[0].duration_seconds = 11.1;
        new.plan.model = LoadModel::Open;
        new.plan.tags = None;
        new.plan.iterations = None;
        assert_eq!(
            differences(&old, &new)[1..],
            [
                "load: 10 users in the baseline, 50/s in this run",
                "duration: 10s in the baseline, 11.1s in this run",
            ]
        );
    }
}
