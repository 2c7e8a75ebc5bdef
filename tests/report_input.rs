//! `synthex report merge` and `synthex compare` read reports as untrusted input: truncated,
//! hand-edited or hostile files end in exit 2 with the file and the field, never a panic, a
//! wrapped count or memory without bound. The real binary on the cases issue 8 found, then a
//! property test that mutates a valid report's JSON and runs every reader on it.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use proptest::prelude::*;
use serde_json::{Value, json};
use synthex::report::compare::{Tolerances, compare, render_markdown, render_text};
use synthex::report::{json as report_json, merge};

/// The model under the name `testing.rs` expects (it is shared with the unit tests).
mod model {
    pub use synthex::report::model::*;
}
#[path = "../src/report/testing.rs"]
mod testing;

use common::synthex_bin;

fn valid() -> Value {
    serde_json::to_value(testing::report()).unwrap()
}

fn write(dir: &Path, name: &str, report: &Value) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec_pretty(report).unwrap()).unwrap();
    path
}

fn synthex(args: &[&str]) -> Output {
    Command::new(synthex_bin()).args(args).output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs `report merge` and `compare` on (a, b) and expects exit 2 with every one of `said`.
fn refused(a: &Value, b: &Value, said: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (
        write(dir.path(), "a.json", a),
        write(dir.path(), "b.json", b),
    );
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let out = dir.path().join("merged");
    let runs = [
        synthex(&["report", "merge", a, b, "--out", out.to_str().unwrap()]),
        synthex(&["compare", a, b]),
    ];
    for (i, output) in runs.iter().enumerate() {
        let message = stderr(output);
        // `compare` reads both files; a merge-only problem (sums) is not an error there.
        if i == 1 && said.iter().any(|s| s.contains("2^64")) {
            assert!(matches!(output.status.code(), Some(0 | 3)), "{message}");
            continue;
        }
        assert_eq!(output.status.code(), Some(2), "{message}");
        for text in said {
            assert!(message.contains(text), "{text:?} not in {message}");
        }
        assert!(!message.contains("panicked"), "{message}");
    }
    assert!(!out.join("report.json").exists());
}

#[test]
fn hostile_reports_get_exit_2_with_the_file_and_the_field() {
    let sharded = |index: u32, count: u32| {
        let mut report = valid();
        report["shards"] = json!([{"index": index, "count": count}]);
        report
    };
    let mut no_shards = valid();
    no_shards["shards"] = json!([]);
    refused(&no_shards, &sharded(1, 2), &["a.json: shards: empty"]);
    refused(
        &sharded(0, 2),
        &sharded(7, 2),
        &["b.json: shards[0].index: shard 7 of 2"],
    );
    refused(
        &sharded(0, 0),
        &sharded(0, 2),
        &["a.json: shards[0].count: 0"],
    );
    let mut zero_interval = sharded(1, 2);
    zero_interval["timeline_interval_seconds"] = json!(0.0);
    refused(
        &sharded(0, 2),
        &zero_interval,
        &["b.json: timeline_interval_seconds: 0"],
    );
    let mut far_offset = sharded(1, 2);
    far_offset["timeline"][3]["offset_seconds"] = json!(1e15);
    refused(
        &sharded(0, 2),
        &far_offset,
        &["b.json: timeline[3].offset_seconds: 1000000000000000"],
    );
    let mut truncated = serde_json::to_string(&valid()).unwrap();
    truncated.truncate(truncated.len() / 2);
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut.json");
    std::fs::write(&cut, &truncated).unwrap();
    let output = synthex(&["compare", cut.to_str().unwrap(), cut.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("cut.json:1:"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn counts_near_2_pow_64_are_an_error_not_a_wrap() {
    // Each shard alone is consistent: 2^63 requests, one latency each, all in one bucket.
    let huge = |index: u32| {
        let mut report = valid();
        report["shards"] = json!([{"index": index, "count": 2}]);
        report["scenarios"] = json!([report["scenarios"][0].clone()]);
        let scenario = &mut report["scenarios"][0];
        scenario["requests"] = json!(1u64 << 63);
        scenario["failures"] = json!(0);
        scenario["cache_hits"] = json!(0);
        scenario["cache_misses"] = json!(0);
        scenario["latency"]["buckets"] = json!([[1000, 1u64 << 63]]);
        // Without its share of the timeline (as older reports): the kept scenario's share
        // no longer adds up to the all-scenario timeline, which is left as it was.
        scenario.as_object_mut().unwrap().remove("timeline");
        report
    };
    refused(&huge(0), &huge(1), &["requests add up to more than 2^64"]);
}

/// One way to damage a report.
#[derive(Debug, Clone)]
enum Damage {
    /// Replace the value at the `n`-th node (in document order) with this one.
    Replace(usize, Value),
    /// Replace the value of every key with this name (one the readers depend on).
    Key(&'static str, Value),
    /// Remove the `n`-th object key.
    Remove(usize),
    /// Cut the text at this fraction of its length.
    Truncate(f64),
}

fn hostile_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!(0)),
        Just(json!(-1)),
        Just(json!(u64::MAX)),
        Just(json!((1u64 << 63) + 1)),
        Just(json!(1e308)),
        Just(json!(-1e308)),
        Just(json!(0.0000001)),
        Just(json!(4_294_967_295u64)),
        Just(json!(null)),
        Just(json!("x")),
        Just(json!([])),
        Just(json!({})),
        Just(json!(true)),
        Just(json!([[u64::MAX, u64::MAX]])),
        Just(json!([{"index": 7, "count": 2}])),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(json!(0), Value::Number)),
    ]
}

/// Keys whose values merge and compare compute with.
const KEYS: [&str; 14] = [
    "shards",
    "index",
    "count",
    "timeline_interval_seconds",
    "offset_seconds",
    "requests",
    "failures",
    "occurrences",
    "buckets",
    "duration_seconds",
    "timeline",
    "users",
    "target_rate",
    "steps",
];

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        4 => (proptest::sample::select(&KEYS[..]), hostile_value())
            .prop_map(|(k, v)| Damage::Key(k, v)),
        4 => (0..4000usize, hostile_value()).prop_map(|(n, v)| Damage::Replace(n, v)),
        1 => (0..400usize).prop_map(Damage::Remove),
        1 => (0.0..1.0f64).prop_map(Damage::Truncate),
    ]
}

/// Visits every node depth-first; `visit` returns true once it has done its job.
fn walk(value: &mut Value, visit: &mut dyn FnMut(&mut Value) -> bool) -> bool {
    if visit(value) {
        return true;
    }
    match value {
        Value::Array(items) => items.iter_mut().any(|v| walk(v, visit)),
        Value::Object(map) => map.values_mut().any(|v| walk(v, visit)),
        _ => false,
    }
}

/// Replaces the value of every `key`, without descending into the values put in.
fn replace_key(value: &mut Value, key: &str, new: &Value) {
    match value {
        Value::Array(items) => items.iter_mut().for_each(|v| replace_key(v, key, new)),
        Value::Object(map) => {
            for (name, v) in map.iter_mut() {
                if name == key {
                    *v = new.clone();
                } else {
                    replace_key(v, key, new);
                }
            }
        }
        _ => {}
    }
}

fn apply(mut report: Value, damage: &[Damage]) -> String {
    for d in damage {
        match d {
            Damage::Replace(n, new) => {
                let mut seen = 0;
                walk(&mut report, &mut |v| {
                    seen += 1;
                    if seen == n + 1 {
                        *v = new.clone();
                        return true;
                    }
                    false
                });
            }
            Damage::Key(key, new) => replace_key(&mut report, key, new),
            Damage::Remove(n) => {
                let mut seen = 0;
                walk(&mut report, &mut |v| match v {
                    Value::Object(map) if seen + map.len() > *n => {
                        let key = map.keys().nth(n - seen).cloned();
                        key.is_some_and(|k| map.remove(&k).is_some())
                    }
                    Value::Object(map) => {
                        seen += map.len();
                        false
                    }
                    _ => false,
                });
            }
            Damage::Truncate(_) => {}
        }
    }
    let mut text = serde_json::to_string(&report).unwrap();
    if let Some(Damage::Truncate(at)) = damage.iter().find(|d| matches!(d, Damage::Truncate(_))) {
        let mut cut = (text.len() as f64 * at) as usize;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    text
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn damaged_reports_end_in_a_report_or_a_located_error(
        damage in proptest::collection::vec(damage(), 1..4),
        second_shard in any::<bool>(),
    ) {
        let text = apply(valid(), &damage);
        let path = Path::new("damaged.json");
        match report_json::parse(&text, path) {
            Err(e) => prop_assert!(e.to_string().starts_with("damaged.json"), "{}", e),
            Ok(damaged) => {
                let mut other = testing::report();
                if second_shard {
                    other.shards = vec![model::Shard { index: 1, count: 2 }];
                }
                // Merge either way round: Ok or an error that says why.
                for pair in [[damaged.clone(), other.clone()], [other.clone(), damaged.clone()]] {
                    if let Err(e) = merge::merge(&pair) {
                        prop_assert!(!e.to_string().is_empty());
                    }
                }
                for (old, new) in [(&damaged, &other), (&other, &damaged)] {
                    let comparison = compare(old, new, &Tolerances::default());
                    let mut out = Vec::new();
                    render_text(&comparison, &mut out).unwrap();
                    render_markdown(&comparison, &mut out).unwrap();
                }
            }
        }
    }
}
