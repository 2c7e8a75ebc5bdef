//! The load test's hot path must not change what goes on the wire: a raw server on 127.0.0.1
//! records each request head byte for byte, and the direct connection (a virtual user's) must
//! send the same header lines, in the same order, as reqwest does with the probe's header map —
//! the target's headers, a scenario header replacing one of them in place, a multi-valued one,
//! a generated `traceparent` last, or a configured one sent as it is.

mod probe_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use http::HeaderValue;
use probe_support::servers::{self, Server};
use probe_support::{global, kept, scenario};
use synthex::outcome::{CacheResult, Outcome};
use synthex::probe::Probe;
use synthex::scenario::{Call, Target};
use synthex::template::{Iteration, Template};
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

/// A raw server that answers every request `ok` on a kept-alive connection, and the request
/// heads it read, exactly as they arrived.
async fn recording() -> (Server, Arc<Mutex<Vec<String>>>) {
    let heads = Arc::new(Mutex::new(Vec::new()));
    let seen = heads.clone();
    let server = servers::raw(move |mut stream| {
        let seen = seen.clone();
        async move {
            loop {
                let head = servers::read_request_head(&mut stream).await;
                if head.is_empty() {
                    return;
                }
                seen.lock().unwrap().push(head);
                let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                if stream.write_all(answer).await.is_err() {
                    return;
                }
            }
        }
    })
    .await;
    (server, heads)
}

/// A keep-alive target on `server` whose headers override the default `Accept`, carry
/// credentials, and have two values of one name, and a scenario that replaces one of the
/// target's headers and adds one of its own.
fn with_headers(server: &Server) -> (Target, Call) {
    let mut t = kept(&format!("http://{}", server.addr));
    t.headers
        .insert("authorization", "Bearer s3cret".parse().unwrap());
    t.headers.insert("accept", "text/html".parse().unwrap());
    t.headers.insert("x-team", "from-target".parse().unwrap());
    t.headers.append("x-multi", "1".parse().unwrap());
    t.headers.append("x-multi", "2".parse().unwrap());
    let mut s = scenario("/items?page=2");
    s.request.headers = vec![
        (
            "x-team".parse().unwrap(),
            Template::literal("from-scenario"),
        ),
        ("x-new".parse().unwrap(), Template::literal("n")),
    ];
    (t, s)
}

/// `n` requests of `call` to `target`, over one direct connection or through reqwest.
async fn send(target: &Target, call: &Call, direct: bool, n: usize) -> Vec<Outcome> {
    let probe = Probe::new(target, &global()).unwrap();
    let mut connection = probe.connection().unwrap();
    let mut outcomes = Vec::new();
    for _ in 0..n {
        let (now, iteration) = (Instant::now(), Iteration::default());
        outcomes.push(match direct {
            true => connection.run(call, now, &iteration).await,
            false => probe.run(call, now, &iteration).await,
        });
    }
    assert!(outcomes.iter().all(Outcome::is_success), "{outcomes:?}");
    outcomes
}

/// The header lines of a head, `host` made `host: HOST` (each server has its own port).
fn lines(head: &str) -> Vec<String> {
    head.split("\r\n")
        .filter(|l| !l.is_empty())
        .map(|l| match l.starts_with("host:") {
            true => "host: HOST".to_string(),
            false => l.to_string(),
        })
        .collect()
}

/// The trace id of the one `traceparent` line of `head`.
fn trace_id(head: &str) -> String {
    let values: Vec<&str> = head
        .split("\r\n")
        .filter_map(|l| l.strip_prefix("traceparent: "))
        .collect();
    assert_eq!(values.len(), 1, "{head}");
    values[0][3..35].to_string()
}

#[tokio::test]
async fn header_lines_are_sent_in_the_maps_order_on_both_paths() {
    let mut heads = Vec::new();
    for direct in [true, false] {
        let (server, seen) = recording().await;
        let (target, call) = with_headers(&server);
        let outcomes = send(&target, &call, direct, 3).await;
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 3, "the server got every request");
        assert_eq!(server.log.connections(), 1, "one kept-alive connection");
        for (head, outcome) in seen.iter().zip(&outcomes) {
            let sent = outcome.trace_id.map(|id| id.to_string());
            assert_eq!(Some(trace_id(head)), sent, "the outcome keeps the id sent");
        }
        heads.push(seen);
    }
    let without_trace = |head: &String| -> Vec<String> {
        let mut lines = lines(head);
        lines.retain(|l| !l.starts_with("traceparent:"));
        lines
    };
    let direct: Vec<_> = heads[0].iter().map(without_trace).collect();
    let pooled: Vec<_> = heads[1].iter().map(without_trace).collect();
    assert_eq!(direct, pooled, "the same lines in the same order");
    let names: Vec<String> = lines(&heads[0][0])
        .iter()
        .skip(1)
        .map(|l| l.split(':').next().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        names,
        [
            "user-agent",
            "x-synthetic",
            "authorization",
            "accept",
            "x-team",
            "x-multi",
            "x-multi",
            "x-new",
            "traceparent",
            "host"
        ]
    );
    let direct = &heads[0][0];
    for line in [
        "GET /items?page=2 HTTP/1.1\r\n",
        "\r\naccept: text/html\r\n",
        "\r\nx-team: from-scenario\r\n",
        "\r\nx-multi: 1\r\nx-multi: 2\r\n",
    ] {
        assert!(direct.contains(line), "{line:?} in {direct}");
    }
}

#[tokio::test]
async fn a_configured_traceparent_is_sent_as_it_is_on_the_direct_connection() {
    let fixed = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    for from_scenario in [false, true] {
        let (server, seen) = recording().await;
        let (mut target, mut call) = with_headers(&server);
        match from_scenario {
            true => call
                .request
                .headers
                .push(("traceparent".parse().unwrap(), Template::literal(fixed))),
            false => {
                target
                    .headers
                    .insert("traceparent", HeaderValue::from_static(fixed));
            }
        }
        let outcomes = send(&target, &call, true, 2).await;
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 2);
        for (head, outcome) in seen.iter().zip(&outcomes) {
            assert!(
                head.contains(&format!("\r\ntraceparent: {fixed}\r\n")),
                "{head}"
            );
            assert_eq!(trace_id(head), "4bf92f3577b34da6a3ce929d0e0e4736");
            assert_eq!(
                outcome.trace_id.map(|id| id.to_string()).as_deref(),
                Some("4bf92f3577b34da6a3ce929d0e0e4736")
            );
        }
    }
}

/// The response lines a raw server answers each path with: the cache rule's names in an order
/// other than the rule's, twice, after standard ones, or none of them.
const CACHE_ANSWERS: [(&str, &str, CacheResult); 5] = [
    (
        "/reversed",
        "CF-Cache-Status: HIT\r\nX-Cache: MISS\r\n",
        CacheResult::Miss,
    ),
    (
        "/twice",
        "X-Cache-Status: HIT\r\nX-Cache-Status: MISS\r\n",
        CacheResult::Hit,
    ),
    (
        "/late",
        "Server: raw\r\nETag: \"1\"\r\ncf-cache-status: hit\r\n",
        CacheResult::Hit,
    ),
    (
        "/middle",
        "CF-Cache-Status: HIT\r\nX-Cache-Status: MISS\r\n",
        CacheResult::Miss,
    ),
    ("/none", "Server: raw\r\nAge: 30\r\n", CacheResult::Unknown),
];

#[tokio::test]
async fn the_cache_rule_reads_its_headers_in_the_rules_order_on_both_paths() {
    let served = Arc::new(AtomicUsize::new(0));
    let counter = served.clone();
    let server = servers::raw(move |mut stream| {
        let counter = counter.clone();
        async move {
            loop {
                let head = servers::read_request_head(&mut stream).await;
                let Some(path) = head.split(' ').nth(1) else {
                    return;
                };
                let (_, lines, _) = CACHE_ANSWERS.iter().find(|a| a.0 == path).unwrap();
                let answer = format!("HTTP/1.1 200 OK\r\n{lines}Content-Length: 2\r\n\r\nok");
                counter.fetch_add(1, Ordering::SeqCst);
                if stream.write_all(answer.as_bytes()).await.is_err() {
                    return;
                }
            }
        }
    })
    .await;
    let target = kept(&format!("http://{}", server.addr));
    for direct in [true, false] {
        for (path, lines, expected) in CACHE_ANSWERS {
            let outcome = &send(&target, &scenario(path), direct, 1).await[0];
            assert_eq!(outcome.cache, expected, "{path} {lines:?} direct={direct}");
        }
    }
    assert_eq!(served.load(Ordering::SeqCst), 2 * CACHE_ANSWERS.len());
}
