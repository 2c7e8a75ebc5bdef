//! The report files a load test writes with `--out DIR`, from a report built programmatically:
//! JSON that reads back equal, CSV that starts with Locust's own header lines (fixture from a
//! real Locust run), Markdown with the summary table, HTML with its SVG charts; and `synthex
//! report merge`'s path: shard files read back and merged exactly.

use std::fs;
use std::path::Path;
use std::time::Duration;

use synthex::report::compare::{Tolerances, compare};
use synthex::report::grade::{GradeScale, grade};
use synthex::report::model::Shard;
use synthex::report::{charts, csv, findings, json, merge, query_table, write_all};

/// The model under the name `testing.rs` expects (it is shared with the unit tests).
mod model {
    pub use synthex::report::model::*;
}
#[path = "../src/report/testing.rs"]
mod testing;

fn first_line(bytes: &[u8]) -> &[u8] {
    let end = bytes
        .windows(2)
        .position(|w| w == b"\r\n")
        .expect("a CRLF line")
        + 2;
    &bytes[..end]
}

#[test]
fn every_format_is_written_and_checks_out() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let report = testing::report();
    let grades = grade(&report, &GradeScale::default());
    let comparison = compare(&report, &report, &Tolerances::default());
    let paths = write_all(
        &report,
        &grades,
        Some(&comparison),
        &out,
        "synthex",
        csv::History::Aggregated,
    )
    .unwrap();
    let names: Vec<String> = paths
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "report.json",
            "synthex_stats.csv",
            "synthex_stats_history.csv",
            "synthex_failures.csv",
            "summary.md",
            "report.html"
        ]
    );

    let back = json::read(&out.join("report.json")).unwrap();
    assert!(back == report, "report.json does not read back equal");

    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/locust");
    for kind in ["stats", "stats_history", "failures"] {
        let ours = fs::read(out.join(format!("synthex_{kind}.csv"))).unwrap();
        let locust = fs::read(fixtures.join(format!("locust_{kind}.csv"))).unwrap();
        assert_eq!(
            String::from_utf8_lossy(first_line(&ours)),
            String::from_utf8_lossy(first_line(&locust)),
            "{kind} header"
        );
        assert!(
            ours.ends_with(b"\r\n") && ours.len() > first_line(&ours).len(),
            "{kind} rows"
        );
    }

    let markdown = fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(
        markdown.contains("| Name | Requests | Failures | Failure % | RPS |"),
        "{markdown}"
    );
    assert!(markdown.contains("| Total | 600 | 33 |"), "{markdown}");
    assert!(markdown.contains("**No regressions.**"), "{markdown}");

    let page = fs::read_to_string(out.join("report.html")).unwrap();
    for chart in charts::all(&report) {
        let element = format!("<div class=\"sx-chart\" id=\"{}\"></div>", chart.id());
        assert!(page.contains(&element), "{}", chart.id());
    }
}

/// The shape Locust gives `_stats_history.csv` with `--csv-full-history` (stats.py,
/// `_stats_history_data_rows`): Locust's header; per timestamp, one row per entry sorted by
/// (name, method) with its method as Type, then the Aggregated row with an empty Type; every row
/// of a timestamp with the same user count; an entry listed from its first request on, every
/// timestamp after; `N/A` percentiles only before any request. Returns the rows per timestamp.
fn full_history_shape(text: &str) -> Vec<Vec<Vec<String>>> {
    let lines: Vec<&str> = text.split_terminator("\r\n").collect();
    assert_eq!(lines[0], csv::HISTORY_HEADER);
    let mut groups: Vec<Vec<Vec<String>>> = Vec::new();
    for l in &lines[1..] {
        let row: Vec<String> = l.split(',').map(String::from).collect();
        assert_eq!(row.len(), 24, "{l}");
        match groups.last_mut() {
            Some(group) if group[0][0] == row[0] => group.push(row),
            _ => groups.push(vec![row]),
        }
    }
    let mut listed: Vec<(String, String)> = Vec::new();
    for group in &groups {
        let (aggregated, entries) = group.split_last().unwrap();
        assert_eq!(aggregated[2..4], ["", "Aggregated"], "{group:?}");
        let keys: Vec<(String, String)> = entries
            .iter()
            .map(|r| (r[3].clone(), r[2].clone()))
            .collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "sorted: {keys:?}");
        assert!(keys.iter().all(|(_, method)| !method.is_empty()));
        assert!(
            listed.iter().all(|k| keys.contains(k)),
            "{listed:?} {keys:?}"
        );
        listed = keys;
        assert!(group.iter().all(|r| r[1] == group[0][1]), "{group:?}");
        for r in group {
            let na = r[6..17].iter().all(|p| p == "N/A");
            assert_eq!(na, r[17] == "0", "{r:?}");
        }
    }
    groups
}

#[test]
fn full_history_has_the_shape_of_locusts() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/locust/full-history/locust_stats_history.csv");
    let locust = full_history_shape(&fs::read_to_string(fixture).unwrap());
    // Locust's run had its flow-like name `session/login` under two methods.
    let last: Vec<&str> = locust
        .last()
        .unwrap()
        .iter()
        .map(|r| r[3].as_str())
        .collect();
    assert_eq!(
        last,
        [
            "/",
            "missing",
            "session/login",
            "session/login",
            "Aggregated"
        ]
    );

    let mut report = testing::report();
    report.scenarios[1].scenario = "session".into();
    report.scenarios[1].step = Some("login".into());
    let dir = tempfile::tempdir().unwrap();
    let grades = grade(&report, &GradeScale::default());
    write_all(&report, &grades, None, dir.path(), "x", csv::History::Full).unwrap();
    let ours = fs::read_to_string(dir.path().join("x_stats_history.csv")).unwrap();
    let ours = full_history_shape(&ours);
    assert_eq!(ours.len(), report.timeline.len());
    let last: Vec<&str> = ours.last().unwrap().iter().map(|r| r[3].as_str()).collect();
    assert_eq!(
        last,
        [
            "api/order_status",
            "api/session/login",
            "web/home",
            "Aggregated"
        ]
    );
}

#[test]
fn shard_files_merge_into_the_report_of_the_union() {
    let dir = tempfile::tempdir().unwrap();
    let all = testing::samples();
    let mut paths = Vec::new();
    for index in 0..2u32 {
        // Even and odd blocks of three samples, so both shards list the scenarios in one order.
        let part: Vec<testing::Sample> = all
            .iter()
            .enumerate()
            .filter(|(i, _)| (i / 3) % 2 == index as usize)
            .map(|(_, s)| *s)
            .collect();
        let shard = Shard { index, count: 2 };
        let report = testing::build(&part, vec![shard], 5, vec![testing::host_series(index)]);
        let path = dir.path().join(format!("shard-{index}.json"));
        json::write(&report, &path).unwrap();
        paths.push(path);
    }
    let reports: Vec<_> = paths.iter().map(|p| json::read(p).unwrap()).collect();
    let merged = merge::merge(&reports).unwrap();
    let union = testing::build(
        &all,
        vec![Shard { index: 0, count: 2 }, Shard { index: 1, count: 2 }],
        10,
        vec![testing::host_series(0), testing::host_series(1)],
    );
    // assert! rather than assert_eq!: the Debug form of a report runs to megabytes.
    assert!(
        merged == union,
        "the merge differs from the report of the union"
    );
}

/// The test report re-planned as two profiles with a pause between them (light: a 0 → 4 users
/// ramp over 3 s, then 4 users for 2 s; a 1 s pause; medium: 20 users for 4 s), the medium
/// profile twelve times slower and the host busier in it, with a stats field and a Prometheus
/// query sampled every second: every part the stage cut feeds.
fn staged_report() -> model::Report {
    use model::{QuerySample, QuerySeries, StageSummary, StatSeries};
    let mut report = testing::report();
    report.plan.stages = [
        (3.0, 4.0, Some("light")),
        (2.0, 4.0, Some("light")),
        (1.0, 0.0, None),
        (0.0, 20.0, Some("medium")),
        (4.0, 20.0, Some("medium")),
    ]
    .into_iter()
    .map(|(duration_seconds, target, profile)| StageSummary {
        duration_seconds,
        target,
        profile: profile.map(str::to_string),
    })
    .collect();
    for (i, interval) in report.timeline.iter_mut().enumerate() {
        interval.cache_hits = i as u64;
        interval.cache_misses = 2;
        if i >= 6 {
            interval.latency.record_n_at(Duration::from_millis(240), 40);
        }
    }
    for sample in &mut report.resources[0].samples[6..] {
        sample.cpu_ratio = 0.96;
    }
    report.target_stats = vec![StatSeries {
        target: "api".into(),
        field: "cache.hits".into(),
        samples: (0..10).map(|i| (i as f64 + 0.5, (i * i) as f64)).collect(),
    }];
    report.prometheus = vec![QuerySeries {
        name: "queue".into(),
        query: "sum(queue_depth)".into(),
        samples: (0..10)
            .map(|i| QuerySample {
                offset_seconds: i as f64,
                value: (i != 7).then_some(f64::from(i) * 1.5),
                problem: (i == 7).then(|| "no data".to_string()),
            })
            .collect(),
    }];
    report
}

/// What the cut of a run into stages feeds — the JSON `stages[]`, the findings (knee,
/// saturation) and the Prometheus table per stage — pinned to a file written by the code before
/// `Stage` was built on `Span`, so a change of that cut shows as a diff here.
#[test]
fn stage_outputs_match_the_pinned_file() {
    let mut report = staged_report();
    synthex::report::conclude(&mut report, &GradeScale::default());
    let findings = findings::find(&report, &findings::FindingRules::default());
    let actual = serde_json::json!({
        "stages": report.stages,
        "findings": findings,
        "prometheus_table": query_table::cells(&report),
    });
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/report/stages.json");
    if std::env::var_os("SYNTHEX_WRITE_PINNED").is_some() {
        fs::write(&path, serde_json::to_string_pretty(&actual).unwrap() + "\n").unwrap();
    }
    let pinned: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(
        actual,
        pinned,
        "{}",
        serde_json::to_string_pretty(&actual).unwrap()
    );
}

/// The `(name, method)` of each entry row of a `_stats.csv`, checking that the Aggregated row
/// comes last.
fn stats_entry_keys(text: &str) -> Vec<(String, String)> {
    let lines: Vec<&str> = text.split_terminator("\r\n").collect();
    assert_eq!(lines[0], csv::STATS_HEADER);
    let (aggregated, entries) = lines[1..].split_last().unwrap();
    assert!(aggregated.starts_with(",Aggregated,"), "{aggregated}");
    entries
        .iter()
        .map(|l| {
            let row: Vec<&str> = l.split(',').collect();
            (row[1].to_string(), row[0].to_string())
        })
        .collect()
}

/// Locust writes `_stats.csv` entries sorted by name, then method (its fixture shows it, its
/// `stats.py` sorts the `(name, method)` keys); synthex writes its rows in that order too, not
/// in the order the config declares the scenarios.
#[test]
fn stats_rows_are_in_locusts_order() {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/locust/locust_stats.csv");
    let locust = stats_entry_keys(&fs::read_to_string(fixture).unwrap());
    assert_eq!(locust.len(), 2);
    assert!(locust.windows(2).all(|w| w[0] < w[1]), "{locust:?}");

    let mut report = testing::report();
    // Declared: api/zeta, api/search (GET), api/search (HEAD), web/home.
    report.scenarios[0].scenario = "zeta".into();
    let mut head = report.scenarios[1].clone();
    head.method = "HEAD".into();
    report.scenarios.insert(2, head);
    let dir = tempfile::tempdir().unwrap();
    let grades = grade(&report, &GradeScale::default());
    write_all(
        &report,
        &grades,
        None,
        dir.path(),
        "x",
        csv::History::Aggregated,
    )
    .unwrap();
    let ours = stats_entry_keys(&fs::read_to_string(dir.path().join("x_stats.csv")).unwrap());
    let key = |name: &str, method: &str| (name.to_string(), method.to_string());
    assert_eq!(
        ours,
        [
            key("api/search", "GET"),
            key("api/search", "HEAD"),
            key("api/zeta", "GET"),
            key("web/home", "GET")
        ]
    );
    assert!(ours.windows(2).all(|w| w[0] < w[1]), "{ours:?}");
}
