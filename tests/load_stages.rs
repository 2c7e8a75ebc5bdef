//! Load levels side by side: a two-level profile run against the real demo target, whose own
//! counters (requests, cache hits and misses, read from its `/stats`) are the reference for the
//! per-stage rows of every report format, the stats-endpoint fields per stage, the scenario
//! share and the score band.

mod common;

use common::http_get;
use common::load::{Target, load, text};
use synthex::report::json;
use synthex::report::model::LoadModel;

/// The demo target's own counters.
fn server_stats(target: &Target) -> serde_json::Value {
    let (_, body) = http_get(&format!("{}/stats", target.base)).unwrap();
    serde_json::from_str(&body).unwrap()
}

#[test]
fn each_stage_is_a_row_checked_against_the_targets_own_counts() {
    let target = Target::start();
    let config = target.config(
        "stages.yml",
        "      - {name: page, weight: 3, request: {path: \"/cache/k{{ int 1..5 }}\"}}\n      - {name: health, weight: 1, request: {path: /health}}\n",
        "    stats:\n      url: /stats\n      interval: 1s\n      fields:\n        requests_total: /requests_total\n        cache_misses: /cache/misses\n",
    );
    let profile = target.dir.path().join("levels.yml");
    std::fs::write(
        &profile,
        "model: closed\nthink_time: 10/s\nstages:\n  - {duration: 0s, users: 2}\n  - {duration: 3s, users: 2}\n  - {duration: 0s, users: 6}\n  - {duration: 3s, users: 6}\n",
    )
    .unwrap();
    let before = server_stats(&target);
    let out = target.dir.path().join("out");
    let output = load(
        &config,
        &[
            &format!("--profile={}", profile.display()),
            &format!("--out={}", out.display()),
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let after = server_stats(&target);
    let report = json::read(&out.join("report.json")).unwrap();
    let stages = &report.stages;
    assert_eq!(stages.len(), 2, "the jumps have no row: {stages:?}");
    assert_eq!(stages[0].model, LoadModel::Closed);
    assert_eq!(
        (stages[0].load(), stages[1].load()),
        ("2 users".to_string(), "6 users".to_string())
    );

    // Every request is in exactly one stage, and the target saw each of them (plus the polls of
    // its stats endpoint, which synthex recorded one sample per poll of).
    let (requests, _, _) = report.total();
    let in_stages: u64 = stages.iter().map(|s| s.requests).sum();
    assert_eq!(in_stages, requests);
    let polls = report
        .target_stats
        .iter()
        .find(|s| s.field == "requests_total")
        .map_or(0, |s| s.samples.len() as u64);
    assert!(polls >= 4, "{polls} polls of /stats in 6 s at 1/s");
    let served =
        after["requests_total"].as_u64().unwrap() - before["requests_total"].as_u64().unwrap();
    // `served` also counts this test's own read of /stats after the run; a poll cut short when
    // the run stopped reached the target without being recorded.
    let others = served - 1 - requests;
    assert!(
        (polls..=polls + 1).contains(&others),
        "the target served {served}: {requests} requests, {polls} recorded polls"
    );

    // Cache: the target missed once per key (5 keys, all fetched in the first stage); every
    // later lookup hit. The first stage's ratio is its hits over its lookups, the second's 1.
    let misses =
        after["cache"]["misses"].as_u64().unwrap() - before["cache"]["misses"].as_u64().unwrap();
    assert_eq!(misses, 5, "{after}");
    let page = report
        .scenarios
        .iter()
        .find(|s| s.scenario == "page")
        .unwrap();
    assert_eq!(page.cache_misses, misses);
    assert_eq!(
        page.cache_hits,
        after["cache"]["hits"].as_u64().unwrap() - before["cache"]["hits"].as_u64().unwrap()
    );
    assert_eq!(stages[1].cache_hit_ratio, Some(1.0));
    let first = stages[0].cache_hit_ratio.unwrap();
    assert!(first < 1.0 && first > 0.5, "{first}");

    // Three times the users at the same pace: markedly more throughput (plan-bound, with the
    // margin a busy 2-core machine keeps).
    let ratio = stages[1].rps / stages[0].rps;
    assert!(
        (1.8..=4.0).contains(&ratio),
        "RPS {} → {}",
        stages[0].rps,
        stages[1].rps
    );
    assert!(
        stages
            .iter()
            .all(|s| s.p95_seconds.is_some() && s.stdev_seconds.is_some())
    );
    assert!(
        stages
            .iter()
            .all(|s| s.resources.iter().any(|r| r.source == "host"))
    );
    // The stats endpoint's counter, averaged per stage, grows from one stage to the next.
    let key = "demo/requests_total";
    assert!(stages[1].stats[key] > stages[0].stats[key], "{stages:?}");
    assert!(stages[0].stats.contains_key("demo/cache_misses"));

    // Score with its band, and the scenario shares, in every format.
    let score = report
        .score
        .as_ref()
        .expect("the JSON report has the score");
    let band = score.band.to_string();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let markdown = std::fs::read_to_string(out.join("summary.md")).unwrap();
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        stdout.contains("\nStages\n") && stdout.contains("6 users"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("Score {}/100 ({band})", score.value)),
        "{stdout}"
    );
    assert!(
        markdown.contains("### Stages") && markdown.contains("| stage 2 | 6 users |"),
        "{markdown}"
    );
    assert!(markdown.contains(&format!("### Score: {}/100 ({band})", score.value)));
    assert!(markdown.contains("Stats endpoint per stage"), "{markdown}");
    assert!(html.contains("<h2>Stages</h2>") && html.contains(&format!("({band})")));
    let share = |name: &str| {
        let s = report
            .scenarios
            .iter()
            .find(|s| s.scenario == name)
            .unwrap();
        s.requests as f64 / requests as f64
    };
    // Weights 3 : 1.
    assert!((share("page") - 0.75).abs() < 0.1, "{}", share("page"));
    assert!(stdout.contains("Share"), "{stdout}");
}
