//! The one grammar of values, held to its promise: the same cases, valid and invalid, go through
//! every place a value is written — config keys, threshold expressions, `synthex load` flags
//! (through clap, as the binary parses them) and load profile files — and each must give the
//! same value or the same message. (Report JSON carries numbers in base units, never text in
//! this grammar, so it has no entry point here; the binary's refusals are in `tests/cli.rs`.)

use std::path::Path;

use clap::Parser;

use crate::config::load_str_with_env;
use crate::loadtest::command::LoadArgs;
use crate::loadtest::profile::Profile;
use crate::loadtest::values::ThinkTime;
use crate::report::threshold::Threshold;
use crate::scenario::Config;

/// An entry point: the text in, the value in base units (seconds, per second, ratio, bytes) or
/// the whole message out.
type Entry = (&'static str, fn(&str) -> Result<f64, String>);

/// A case: the text, and its value or the grammar's message for it.
type Case = (&'static str, Result<f64, &'static str>);

const DURATION_EXPECTED: &str = "expected a number with a unit such as 250ms, 1.5s, 5m or 1m 30s";

#[rustfmt::skip]
const DURATIONS: &[Case] = &[
    ("250ms", Ok(0.25)),
    ("1.5s", Ok(1.5)),
    ("1m 30s", Ok(90.0)),
    ("1m30s", Ok(90.0)),
    ("250us", Ok(0.000_25)),
    ("250 µs", Ok(0.000_25)),
    ("0.1s", Ok(0.1)),
    ("2m", Ok(120.0)),
    ("1.0000000005s", Ok(1.000_000_001)),
    ("5", Err(r#"invalid duration "5": "#)),
    ("5 parsecs", Err(r#"invalid duration "5 parsecs": "#)),
    ("-5s", Err(r#"invalid duration "-5s": "#)),
    ("1e3ms", Err(r#"invalid duration "1e3ms": "#)),
    ("1.2.3ms", Err(r#"invalid duration "1.2.3ms": "#)),
    ("1M", Err(r#"invalid duration "1M": "#)),
    ("5s 3", Err(r#"invalid duration "5s 3": "#)),
];

const RATE_EXPECTED: &str =
    "expected N/s, N/m, N/h or N per duration, such as 2/s, 30/m, 0.5/h or 1/30s";

#[rustfmt::skip]
const RATES: &[Case] = &[
    ("2/s", Ok(2.0)),
    ("30/m", Ok(0.5)),
    ("0.5/s", Ok(0.5)),
    ("36/h", Ok(0.01)),
    ("200", Ok(200.0)),
    ("1000/s", Ok(1000.0)),
    ("1/h", Ok(1.0 / 3600.0)),
    ("1/30s", Ok(1.0 / 30.0)),
    ("3/1.5s", Ok(2.0)),
    ("1/0s", Err(r#"invalid rate "1/0s": "#)),
    ("2/x", Err(r#"invalid rate "2/x": "#)),
    ("x/s", Err(r#"invalid rate "x/s": "#)),
    ("-1/s", Err(r#"invalid rate "-1/s": "#)),
    ("1e3/s", Err(r#"invalid rate "1e3/s": "#)),
    ("2/s/s", Err(r#"invalid rate "2/s/s": "#)),
];

#[rustfmt::skip]
const RATIOS: &[Case] = &[
    ("1%", Ok(0.01)),
    ("99.9%", Ok(0.999)),
    ("99.99%", Ok(0.9999)),
    ("0.5%", Ok(0.005)),
    ("100%", Ok(1.0)),
    ("0%", Ok(0.0)),
    ("0.25", Ok(0.25)),
    ("1", Ok(1.0)),
    ("150%", Err(r#"invalid ratio "150%": at most 100%"#)),
    ("50", Err(r#"invalid ratio "50": expected a percentage such as 1% or 99.9%, or a number between 0 and 1 (did you mean 50%?)"#)),
    ("-1%", Err(r#"invalid ratio "-1%": expected a percentage"#)),
    ("1e-2", Err(r#"invalid ratio "1e-2": expected a percentage"#)),
];

#[rustfmt::skip]
const SIZES: &[Case] = &[
    ("1048576", Ok(1_048_576.0)),
    ("1MiB", Ok(1_048_576.0)),
    ("512KiB", Ok(524_288.0)),
    ("1.5 KiB", Ok(1536.0)),
    ("10kB", Ok(10_000.0)),
    ("0.5MB", Ok(500_000.0)),
    ("7B", Ok(7.0)),
    ("1 XB", Err(r#"invalid byte size "1 XB": expected a number of bytes"#)),
    ("1mib", Err(r#"invalid byte size "1mib": "#)),
    ("1.5", Err(r#"invalid byte size "1.5": "#)),
    ("-1", Err(r#"invalid byte size "-1": "#)),
];

/// A config with one target, `global` and `target` and `load` entries added.
fn config(global: &str, target: &str, load: &str) -> Result<Config, String> {
    let yaml = format!(
        "global: {{{global}}}\ntargets:\n  - {{name: a, base_url: 'http://127.0.0.1:9', rate: 1/s, {target}\n     scenarios: [{{name: s, request: {{path: /}}}}]}}\nload: {{{load}}}\n"
    );
    load_str_with_env(&yaml, Path::new("t.yml"), &|_| None).map_err(|e| e.to_string())
}

fn threshold(expression: String) -> Result<Threshold, String> {
    expression.parse::<Threshold>().map_err(|e| e.to_string())
}

/// `synthex load` flags, parsed by clap as the binary parses them.
#[derive(Parser)]
struct Load {
    #[command(flatten)]
    args: LoadArgs,
}

fn flag(name: &str, value: &str) -> Result<LoadArgs, String> {
    Load::try_parse_from(["load", "--config.file=x.yml", &format!("--{name}={value}")])
        .map(|load| load.args)
        .map_err(|e| e.to_string())
}

fn profile(yaml: String) -> Result<Profile, String> {
    Profile::from_yaml(&yaml, "p.yml")
}

fn constant(think: ThinkTime) -> f64 {
    match think {
        ThinkTime::Constant(pause) => pause.as_secs_f64(),
        other => panic!("not a constant think time: {other:?}"),
    }
}

#[rustfmt::skip]
const DURATION_ENTRIES: &[Entry] = &[
    ("targets[].timeout", |v| config("", &format!("timeout: '{v}',"), "").map(|c| c.targets[0].timeout.as_secs_f64())),
    ("objectives pNN", |v| config("", &format!("objectives: {{p95: '{v}'}},"), "").map(|c| c.targets[0].objectives.latency[0].1.as_secs_f64())),
    ("load.grades.p95", |v| config("", "", &format!("grades: {{p95: {{excellent: '{v}', good: '{v}', acceptable: '{v}'}}}}")).map(|c| c.load.grades.p95.good)),
    ("load.baseline_tolerances", |v| config("", "", &format!("baseline_tolerances: {{latency_absolute: '{v}'}}")).map(|c| c.load.baseline_tolerances.latency_absolute)),
    ("threshold", |v| threshold(format!("p95 < {v}")).map(|t| t.limit())),
    ("--duration", |v| flag("duration", v).map(|a| a.duration.unwrap_or_default().as_secs_f64())),
    ("--think-time", |v| flag("think-time", v).map(|a| constant(a.think_time.unwrap_or_default()))),
    ("profile stage", |v| profile(format!("stages: [{{duration: '{v}', users: 1}}]")).map(|p| p.stages[0].duration.as_secs_f64())),
    ("profile think_time", |v| profile(format!("think_time: '{v}'\nstages: [{{duration: 1s, users: 1}}]")).map(|p| constant(p.think_time))),
];

#[rustfmt::skip]
const RATE_ENTRIES: &[Entry] = &[
    ("targets[].rate", config_rate),
    ("threshold", |v| threshold(format!("rps > {v}")).map(|t| t.limit())),
    ("--rate", |v| flag("rate", v).map(|a| a.rate.unwrap_or_default())),
    ("profile stage", |v| profile(format!("model: open\nstages: [{{duration: 1s, rate: '{v}'}}]")).map(|p| p.stages[0].target)),
];

/// The target's `rate` key (the `config` helper writes its own `rate: 1/s`), under a total
/// budget that every valid rate fits in.
fn config_rate(rate: &str) -> Result<f64, String> {
    let yaml = format!(
        "global: {{max_total_rate: 1000/s}}\ntargets: [{{name: a, base_url: 'http://127.0.0.1:9', rate: '{rate}', scenarios: [{{name: s, request: {{path: /}}}}]}}]"
    );
    load_str_with_env(&yaml, Path::new("t.yml"), &|_| None)
        .map(|c| c.targets[0].rate.per_second)
        .map_err(|e| e.to_string())
}

#[rustfmt::skip]
const RATIO_ENTRIES: &[Entry] = &[
    ("objectives.error_ratio", |v| config("", &format!("objectives: {{error_ratio: '{v}'}},"), "").map(|c| c.targets[0].objectives.error_ratio.unwrap_or(f64::NAN))),
    ("load.grades.error_ratio", |v| config("", "", &format!("grades: {{error_ratio: {{excellent: '{v}', good: '{v}', acceptable: '{v}'}}}}")).map(|c| c.load.grades.error_ratio.acceptable)),
    ("load.baseline_tolerances", |v| config("", "", &format!("baseline_tolerances: {{error_ratio: '{v}'}}")).map(|c| c.load.baseline_tolerances.error_ratio)),
    ("threshold", |v| threshold(format!("error_rate < {v}")).map(|t| t.limit())),
    ("--max-error-ratio", |v| flag("max-error-ratio", v).map(|a| a.max_error_ratio)),
];

#[rustfmt::skip]
const SIZE_ENTRIES: &[Entry] = &[
    ("global.max_body_bytes", |v| config(&format!("max_body_bytes: '{v}'"), "", "").map(|c| c.global.max_body_bytes as f64)),
];

/// Runs every case through every entry point and lists each disagreement.
fn check(cases: &[Case], entries: &[Entry], expected: &str) {
    let mut wrong = Vec::new();
    for (text, want) in cases {
        for (entry, parse) in entries {
            let got = parse(text);
            let agrees = match (want, &got) {
                (Ok(value), Ok(parsed)) => value == parsed,
                (Err(message), Err(error)) => error.contains(message) && error.contains(expected),
                _ => false,
            };
            if !agrees {
                wrong.push(format!("{entry} {text:?}: got {got:?}, want {want:?}"));
            }
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}

#[test]
fn durations_read_the_same_everywhere() {
    check(DURATIONS, DURATION_ENTRIES, DURATION_EXPECTED);
}

#[test]
fn rates_read_the_same_everywhere() {
    check(RATES, RATE_ENTRIES, RATE_EXPECTED);
}

#[test]
fn ratios_read_the_same_everywhere() {
    check(RATIOS, RATIO_ENTRIES, "");
}

#[test]
fn sizes_read_the_same_everywhere() {
    check(SIZES, SIZE_ENTRIES, "");
}

#[test]
fn percentile_names_read_the_same_in_thresholds_and_objectives() {
    for (name, quantile) in [
        ("p99.9", 0.999),
        ("p999", 0.999),
        ("p95", 0.95),
        ("p5", 0.05),
    ] {
        let t = threshold(format!("{name} < 1s")).unwrap();
        assert_eq!(t.quantile(), Some(quantile), "threshold {name}");
        let c = config("", &format!("objectives: {{{name}: 1s}},"), "").unwrap();
        assert_eq!(
            c.targets[0].objectives.latency[0].0, quantile,
            "objective {name}"
        );
    }
}

#[test]
fn a_wrong_entry_is_caught() {
    // The checker itself fails on a disagreement, so the tables above cannot pass vacuously.
    let result = std::panic::catch_unwind(|| check(&[("1s", Ok(2.0))], &DURATION_ENTRIES[..1], ""));
    assert!(result.is_err());
}
