//! `traceparent` on synthetic requests, checked at a real HTTP server: every request carries a
//! fresh, sampled W3C header over both request paths (the direct one-shot connection and
//! reqwest's pool), `trace_context: off` sends none, a configured `traceparent` is sent
//! unchanged; the trace id the server received is the one the metrics keep as the bucket's
//! exemplar (OpenMetrics) and the status page shows for the last failure of each reason.

#[path = "metrics/support.rs"]
mod metrics_support;
mod probe_support;

use std::collections::HashSet;

use probe_support::servers::{self, reply};
use probe_support::{global, scenario, target};
use regex::Regex;
use synthex::metrics::{Format, Metrics};
use synthex::outcome::{FailureReason, Outcome};
use synthex::probe::Probe;
use synthex::scenario::{Call, Target};
use synthex::template::Iteration;
use tokio::time::Instant;

async fn send(target: &Target, trace_context: bool, scenario: &Call, n: usize) -> Vec<Outcome> {
    let mut global = global();
    global.trace_context = trace_context;
    let probe = Probe::new(target, &global).unwrap();
    let mut outcomes = Vec::new();
    for _ in 0..n {
        outcomes.push(
            probe
                .run(scenario, Instant::now(), &Iteration::default())
                .await,
        );
    }
    outcomes
}

/// The trace ids of the `traceparent` headers the server saw, checked against the W3C format.
fn received(server: &servers::Server) -> Vec<Option<String>> {
    let format = Regex::new(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-01$").unwrap();
    server
        .log
        .requests()
        .iter()
        .map(|seen| {
            let value = seen
                .headers
                .get("traceparent")?
                .to_str()
                .unwrap()
                .to_string();
            let caps = format
                .captures(&value)
                .unwrap_or_else(|| panic!("malformed traceparent {value:?}"));
            assert_ne!(&caps[1], "0".repeat(32));
            assert_ne!(&caps[2], "0".repeat(16));
            Some(caps[1].to_string())
        })
        .collect()
}

#[tokio::test]
async fn every_request_carries_a_fresh_sampled_traceparent_on_both_paths() {
    for keep_alive in [false, true] {
        let server = servers::http(|_| reply(200, &[], "ok")).await;
        let mut t = target(&format!("http://{}", server.addr));
        t.keep_alive = keep_alive;
        let outcomes = send(&t, true, &scenario("/"), 20).await;
        let ids = received(&server);
        assert_eq!(ids.len(), 20);
        let distinct: HashSet<_> = ids.iter().collect();
        assert_eq!(distinct.len(), 20, "keep_alive {keep_alive}: ids repeat");
        let kept: Vec<Option<String>> = outcomes
            .iter()
            .map(|o| o.trace_id.map(|id| id.to_string()))
            .collect();
        assert_eq!(kept, ids, "keep_alive {keep_alive}: outcome ids = sent ids");
    }
}

#[tokio::test]
async fn trace_context_off_sends_none_and_a_configured_header_goes_unchanged() {
    let server = servers::http(|_| reply(200, &[], "ok")).await;
    let t = target(&format!("http://{}", server.addr));
    let outcomes = send(&t, false, &scenario("/"), 3).await;
    assert_eq!(received(&server), [None, None, None]);
    assert!(outcomes.iter().all(|o| o.trace_id.is_none()));

    let server = servers::http(|_| reply(200, &[], "ok")).await;
    let mut t = target(&format!("http://{}", server.addr));
    let fixed = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    t.headers.insert("traceparent", fixed.parse().unwrap());
    let outcomes = send(&t, true, &scenario("/"), 2).await;
    let ids = received(&server);
    assert_eq!(
        ids,
        vec![Some("4bf92f3577b34da6a3ce929d0e0e4736".to_string()); 2]
    );
    assert_eq!(
        outcomes[0].trace_id.map(|id| id.to_string()).as_deref(),
        Some("4bf92f3577b34da6a3ce929d0e0e4736")
    );
}

#[tokio::test]
async fn the_received_trace_id_is_the_exemplar_and_the_last_failure_of_its_reason() {
    let server = servers::http(|_| reply(503, &[], "down")).await;
    let t = target(&format!("http://{}", server.addr));
    let s = scenario("/");
    let outcome = send(&t, true, &s, 1).await.remove(0);
    assert_eq!(
        outcome.failure.as_ref().map(|f| f.reason),
        Some(FailureReason::HttpStatus)
    );
    let sent = received(&server).remove(0).expect("a traceparent");

    let mut model_target =
        metrics_support::target("api", 1.0, vec![metrics_support::scenario("s", 1)]);
    model_target.base_url = t.base_url.clone();
    let metrics = Metrics::new(&metrics_support::config(vec![model_target])).unwrap();
    metrics.record(0, 0, &outcome);

    let status = metrics.status();
    let by_reason = &status.targets[0].last_failure_by_reason;
    assert_eq!(by_reason.len(), 1);
    assert_eq!(by_reason[0].reason, FailureReason::HttpStatus);
    assert_eq!(
        by_reason[0].trace_id.map(|id| id.to_string()),
        Some(sent.clone())
    );
    let page = synthex::status_page::render(&status, true, false);
    assert!(
        page.contains(&format!("<code>{sent}</code>")),
        "status page shows the trace id"
    );

    let openmetrics = String::from_utf8(metrics.encode_as(Format::OpenMetrics).unwrap()).unwrap();
    let latency = outcome.latency.as_secs_f64();
    let exemplar_line = openmetrics
        .lines()
        .find(|l| l.contains("# {trace_id="))
        .expect("an exemplar");
    assert!(
        exemplar_line.starts_with("synthex_request_duration_seconds_bucket{"),
        "{exemplar_line}"
    );
    assert!(
        exemplar_line.contains(&format!("# {{trace_id=\"{sent}\"}} {latency} ")),
        "{exemplar_line}"
    );
    assert!(openmetrics.ends_with("# EOF\n"));
    let text = String::from_utf8(metrics.encode_as(Format::Text).unwrap()).unwrap();
    assert!(
        !text.contains("trace_id"),
        "no exemplars in the text format 0.0.4"
    );
}

/// 10,000 requests from 8 virtual users on their keep-alive connections (the load test's path),
/// spread over four runtime threads, each thread drawing ids from its own generator: every
/// `traceparent` the server received is a valid sampled W3C header (checked by `received`),
/// and no trace id or parent id repeats, within a thread or across threads.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_thousand_requests_from_several_threads_carry_distinct_valid_traceparents() {
    const USERS: usize = 8;
    const EACH: usize = 1250;
    let server = servers::http(|_| reply(200, &[], "ok")).await;
    let mut t = target(&format!("http://{}", server.addr));
    t.keep_alive = true;
    let probe = std::sync::Arc::new(Probe::new(&t, &global()).unwrap());
    let users: Vec<_> = (0..USERS)
        .map(|_| {
            let probe = probe.clone();
            tokio::spawn(async move {
                let mut connection = probe.connection().unwrap();
                let call = scenario("/");
                let mut kept = Vec::with_capacity(EACH);
                for _ in 0..EACH {
                    let o = connection
                        .run(&call, Instant::now(), &Iteration::default())
                        .await;
                    assert!(o.is_success(), "{:?}", o.failure);
                    kept.push(o.trace_id.expect("a trace id").to_string());
                }
                kept
            })
        })
        .collect();
    let mut kept = HashSet::new();
    for user in users {
        kept.extend(user.await.unwrap());
    }
    let ids: Vec<String> = received(&server).into_iter().map(Option::unwrap).collect();
    assert_eq!(ids.len(), USERS * EACH);
    let distinct: HashSet<&String> = ids.iter().collect();
    assert_eq!(distinct.len(), USERS * EACH, "trace ids repeat");
    assert_eq!(
        kept,
        ids.into_iter().collect(),
        "outcome ids = received ids"
    );
    let parents: HashSet<String> = server
        .log
        .requests()
        .iter()
        .map(|seen| seen.headers["traceparent"].to_str().unwrap()[36..52].to_string())
        .collect();
    assert_eq!(parents.len(), USERS * EACH, "parent ids repeat");
}
