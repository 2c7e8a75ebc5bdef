//! The probe against real HTTP servers on 127.0.0.1: success with phase timings, each failure
//! reason from a real fault, expectations, templates and headers. TLS and proxies are in
//! probe_tls_proxy.rs.

mod probe_support;

use std::time::Duration;

use probe_support::servers::{self, read_request_head, reply};
use probe_support::{global, message, posting, reason, refused_port, run, scenario, target};
use regex::Regex;
use synthex::outcome::{CacheResult, FailureReason};
use synthex::probe::Probe;
use synthex::scenario::{Call, HeaderExpectation, StatusMatch};
use synthex::template::{Iteration, Template};
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

#[tokio::test]
async fn fresh_connections_report_every_phase() {
    let server = servers::http(|_| reply(200, &[], "hello")).await;
    // `localhost` goes through the resolver; an IP literal would skip it.
    let t = target(&format!("http://localhost:{}", server.port()));
    let probe = Probe::new(&t, &global()).unwrap();
    for _ in 0..2 {
        let o = probe
            .run(&scenario("/"), Instant::now(), &Iteration::default())
            .await;
        assert!(o.is_success(), "{:?}", o.failure);
        assert_eq!((o.status, o.body_bytes), (Some(200), 5));
        let p = o.phases;
        let names: Vec<_> = p.iter().map(|(name, _)| name).collect();
        assert_eq!(names, ["dns", "connect", "first_byte", "transfer"], "{p:?}");
        let sum: Duration = p.iter().map(|(_, d)| d).sum();
        assert!(o.latency >= sum, "latency {:?} < phases {sum:?}", o.latency);
        assert_eq!(o.cert_expiry, None);
    }
    // keep_alive: false opens one connection per request.
    assert_eq!(server.log.connections(), 2);
}

#[tokio::test]
async fn pooled_connection_skips_dns_and_connect() {
    let server = servers::http(|_| reply(200, &[], "ok")).await;
    let mut t = target(&format!("http://localhost:{}", server.port()));
    t.keep_alive = true;
    // Shared and spawned as the scheduler does it (this also proves the future is Send).
    let probe = std::sync::Arc::new(Probe::new(&t, &global()).unwrap());
    let mut outcomes = Vec::new();
    for _ in 0..2 {
        let probe = probe.clone();
        let task = tokio::spawn(async move {
            probe
                .run(&scenario("/"), Instant::now(), &Iteration::default())
                .await
        });
        outcomes.push(task.await.unwrap());
    }
    let (first, second) = (&outcomes[0], &outcomes[1]);
    assert!(first.phases.dns.is_some() && first.phases.connect.is_some());
    assert_eq!((second.phases.dns, second.phases.connect), (None, None));
    assert!(second.phases.first_byte.is_some() && second.phases.transfer.is_some());
    assert!(second.is_success());
    assert_eq!(server.log.connections(), 1);
}

#[tokio::test]
async fn ip_literal_has_connect_but_no_dns_phase() {
    let server = servers::http(|_| reply(204, &[], "")).await;
    let o = run(&target(&format!("http://{}", server.addr)), &scenario("/")).await;
    assert!(o.is_success(), "{:?}", o.failure);
    assert_eq!(o.phases.dns, None);
    assert!(o.phases.connect.is_some());
}

#[tokio::test]
async fn refused_port_is_connect() {
    let o = run(
        &target(&format!("http://127.0.0.1:{}", refused_port())),
        &scenario("/"),
    )
    .await;
    assert_eq!(reason(&o), Some(FailureReason::Connect), "{}", message(&o));
    assert!(message(&o).contains("refused"), "{}", message(&o));
    assert_eq!(
        (o.status, o.cache, o.phases.first_byte),
        (None, CacheResult::Unknown, None)
    );
    assert_eq!(o.code_label(), "0");
}

#[tokio::test]
async fn unresolvable_host_is_dns() {
    let o = run(&target("http://nonexistent.invalid/"), &scenario("/")).await;
    assert_eq!(reason(&o), Some(FailureReason::Dns), "{}", message(&o));
    assert!(
        message(&o).contains("nonexistent.invalid"),
        "{}",
        message(&o)
    );
}

#[tokio::test]
async fn hanging_server_is_timeout() {
    let server = servers::stalling("").await;
    let mut t = target(&format!("http://{}", server.addr));
    t.timeout = Duration::from_millis(200);
    let o = run(&t, &scenario("/")).await;
    assert_eq!(reason(&o), Some(FailureReason::Timeout), "{}", message(&o));
    assert_eq!(
        message(&o),
        "timed out after 200ms before the response head arrived"
    );
    assert!(o.latency >= t.timeout);
}

#[tokio::test]
async fn unaccepted_status_is_http_status_and_redirects_are_not_followed() {
    let server = servers::http(|seen| match seen.path.as_str() {
        "/moved" => reply(301, &[("location", "/elsewhere")], ""),
        _ => reply(503, &[], "down"),
    })
    .await;
    let t = target(&format!("http://{}", server.addr));
    let o = run(&t, &scenario("/")).await;
    assert_eq!(reason(&o), Some(FailureReason::HttpStatus));
    assert_eq!(message(&o), "expected status 2xx, got 503");
    assert_eq!(o.code_label(), "503");

    let moved = run(&t, &scenario("/moved")).await;
    assert_eq!(moved.status, Some(301));
    let mut accept_301 = scenario("/moved");
    accept_301.expect.status = vec![StatusMatch::Code(301), StatusMatch::Class(2)];
    assert!(run(&t, &accept_301).await.is_success());
    let paths: Vec<_> = server.log.requests().into_iter().map(|s| s.path).collect();
    assert_eq!(
        paths,
        ["/", "/moved", "/moved"],
        "the redirect was followed"
    );
}

/// A server answering every request with a small JSON body, `text/html` and a cache hit.
async fn order_server() -> servers::Server {
    let body = r#"{"id": 7, "status": "pending", "total": 5.0}"#;
    let headers = [("content-type", "text/html"), ("x-cache", "HIT")];
    servers::http(move |_| reply(200, &headers, body)).await
}

fn header_check(name: &'static str, pattern: Option<&str>) -> Vec<HeaderExpectation> {
    vec![HeaderExpectation {
        name: http::HeaderName::from_static(name),
        matches: pattern.map(|p| Regex::new(p).unwrap()),
    }]
}

#[tokio::test]
async fn each_assertion_kind_fails_with_a_clear_message() {
    let server = order_server().await;
    let t = target(&format!("http://{}", server.addr));
    let json = |pointer: &str, value| vec![(pointer.to_string(), value)];
    type Edit = Box<dyn Fn(&mut Call)>;
    let cases: Vec<(Edit, &str)> = vec![
        (
            Box::new(|s| s.expect.body_contains = vec!["shipped".into()]),
            r#"body does not contain "shipped""#,
        ),
        (
            Box::new(|s| s.expect.body_regex = vec![Regex::new(r#""id":\s*\d{3}"#).unwrap()]),
            r#"body does not match "\"id\":\\s*\\d{3}""#,
        ),
        (
            Box::new(move |s| s.expect.json = json("/status", "shipped".into())),
            r#"json /status: expected "shipped", found "pending""#,
        ),
        (
            Box::new(move |s| s.expect.json = json("/missing", 1.into())),
            "json /missing: expected 1, found nothing at that pointer",
        ),
        (
            Box::new(|s| s.expect.headers = header_check("x-trace", None)),
            "header x-trace missing",
        ),
        (
            Box::new(|s| {
                s.expect.headers = header_check("content-type", Some("^application/json"))
            }),
            r#"header content-type: expected to match "^application/json", found "text/html""#,
        ),
    ];
    for (edit, expected) in cases {
        let mut s = scenario("/");
        edit(&mut s);
        let o = run(&t, &s).await;
        assert_eq!(reason(&o), Some(FailureReason::Assertion), "{expected}");
        assert_eq!(message(&o), expected);
        assert_eq!(o.cache, CacheResult::Hit, "classified even on failure");
    }
}

#[tokio::test]
async fn met_expectations_succeed_and_latency_counts_from_the_schedule() {
    let server = order_server().await;
    let t = target(&format!("http://{}", server.addr));
    // Everything met (numbers compare by value: 5 matches 5.0).
    let mut s = scenario("/");
    s.expect.body_contains = vec!["pending".into()];
    s.expect.json = vec![("/id".into(), 7.into()), ("/total".into(), 5.into())];
    s.expect.headers = header_check("content-type", Some("^text/"));
    s.expect.max_latency = Some(Duration::from_secs(60));
    assert!(run(&t, &s).await.is_success());

    // A slot due 2 s ago misses a 1 s limit, however fast the server is.
    s.expect.max_latency = Some(Duration::from_secs(1));
    let probe = Probe::new(&t, &global()).unwrap();
    let late = probe
        .run(
            &s,
            Instant::now() - Duration::from_secs(2),
            &Iteration::default(),
        )
        .await;
    assert_eq!(reason(&late), Some(FailureReason::Assertion));
    let text = message(&late);
    assert!(text.starts_with("latency 2s"), "{text}");
    assert!(text.ends_with("exceeds max_latency 1s"), "{text}");
    assert!(late.latency >= Duration::from_secs(2));
}

#[tokio::test]
async fn reset_mid_body_is_body() {
    let server = servers::reset_mid_body().await;
    let o = run(&target(&format!("http://{}", server.addr)), &scenario("/")).await;
    assert_eq!(reason(&o), Some(FailureReason::Body), "{}", message(&o));
    assert_eq!(o.status, Some(200));
    assert_eq!(o.body_bytes, 100);
    assert!(o.phases.first_byte.is_some());
}

#[tokio::test]
async fn oversized_body_is_body_and_reading_stops_near_the_cap() {
    const TOTAL: usize = 64 * 1024 * 1024;
    let written = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let server_written = written.clone();
    let server = servers::raw(move |mut stream| {
        let written = server_written.clone();
        async move {
            read_request_head(&mut stream).await;
            // Chunked, so the client cannot refuse it up front from Content-Length.
            let head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
            stream.write_all(head.as_bytes()).await.unwrap();
            let chunk = format!("10000\r\n{}\r\n", "y".repeat(0x10000));
            while written.load(std::sync::atomic::Ordering::SeqCst) < TOTAL {
                if stream.write_all(chunk.as_bytes()).await.is_err() {
                    return;
                }
                written.fetch_add(0x10000, std::sync::atomic::Ordering::SeqCst);
            }
        }
    })
    .await;
    let o = run(&target(&format!("http://{}", server.addr)), &scenario("/")).await;
    assert_eq!(reason(&o), Some(FailureReason::Body));
    assert_eq!(message(&o), "body exceeds max_body_bytes 1048576");
    assert!(
        o.body_bytes > 1024 * 1024 && o.body_bytes <= 1024 * 1024 + 0x10000,
        "{}",
        o.body_bytes
    );
    // Give the server a moment to hit the closed socket, then check it was cut off.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sent = written.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        sent < TOTAL / 2,
        "server wrote {sent} bytes: the client kept reading"
    );
}

#[tokio::test]
async fn declared_oversized_body_is_refused_without_reading() {
    let server = servers::http(|_| reply(200, &[], vec![b'z'; 2 * 1024 * 1024])).await;
    let o = run(&target(&format!("http://{}", server.addr)), &scenario("/")).await;
    assert_eq!(reason(&o), Some(FailureReason::Body));
    assert_eq!(o.body_bytes, 0);
}

#[tokio::test]
async fn garbage_response_is_other() {
    let server = servers::garbage().await;
    let o = run(&target(&format!("http://{}", server.addr)), &scenario("/")).await;
    assert_eq!(reason(&o), Some(FailureReason::Other), "{}", message(&o));
    assert_eq!(o.status, None);
}

#[tokio::test]
async fn unparsable_rendered_url_is_other() {
    let server = servers::http(|_| reply(200, &[], "")).await;
    let mut s = scenario("/");
    s.request.path = Template::literal(":not-a-port");
    let o = run(&target(&format!("http://{}/", server.addr)), &s).await;
    assert_eq!(reason(&o), Some(FailureReason::Other));
    assert!(message(&o).starts_with("rendered URL"), "{}", message(&o));
    assert_eq!(server.log.connections(), 0);
}

#[tokio::test]
async fn templates_headers_and_body_reach_the_server() {
    let server = servers::http(|_| reply(201, &[], "")).await;
    let (t, mut s) = posting(
        &format!("http://{}/api/", server.addr),
        "/orders/{{ int 1..9 }}?q={{ choice [a, b] }}",
    );
    s.request.headers.push((
        "x-request-id".parse().unwrap(),
        Template::parse("{{ uuid }}").unwrap(),
    ));
    let o = run(&t, &s).await;
    assert!(o.is_success(), "{:?}", o.failure);
    let seen = &server.log.requests()[0];
    assert_eq!(seen.method, "POST");
    assert!(
        Regex::new(r"^/api/orders/[1-9]\?q=[ab]$")
            .unwrap()
            .is_match(&seen.path),
        "{}",
        seen.path
    );
    assert_eq!(seen.body.as_ref(), br#"{"n": 100}"#);
    let header = |name: &str| {
        seen.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    };
    assert_eq!(
        header("user-agent").unwrap(),
        format!("synthex/{}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(header("x-synthetic").as_deref(), Some("1"));
    assert_eq!(header("authorization").as_deref(), Some("Bearer s3cret"));
    assert_eq!(header("x-team").as_deref(), Some("from-scenario"));
    assert_eq!(header("x-request-id").unwrap().len(), 36);
}

/// A keep-alive server that answers every request `200 ok` and keeps each request head exactly
/// as it came off the wire.
async fn recording_server() -> (
    servers::Server,
    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) {
    let heads = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = heads.clone();
    let server = servers::raw(move |mut stream| {
        let kept = kept.clone();
        async move {
            loop {
                let head = read_request_head(&mut stream).await;
                if head.is_empty() {
                    return;
                }
                kept.lock().unwrap().push(head);
                let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                if stream.write_all(reply).await.is_err() {
                    return;
                }
            }
        }
    })
    .await;
    (server, heads)
}

/// The request heads as the server read them, byte for byte, on each request path (one-shot
/// direct connection, a virtual user's keep-alive connection, reqwest's pool), for a scenario
/// whose headers are all fixed and one whose path and header have placeholders: pins what
/// goes on the wire, so rendering may be made cheaper without changing a byte of it (only the
/// `traceparent` value differs per request; it is checked for form and replaced by `TP`).
#[tokio::test]
async fn request_heads_on_the_wire_are_exactly_the_rendered_request() {
    let (server, heads) = recording_server().await;
    let base = format!("http://{}", server.addr);
    let fixed_headers = |s: &mut Call| {
        s.request.headers = vec![
            (
                "x-team".parse().unwrap(),
                Template::literal("from-scenario"),
            ),
            ("x-fixed".parse().unwrap(), Template::literal("same")),
        ];
    };
    let mut fixed = scenario("/fixed?q=1");
    fixed_headers(&mut fixed);
    let mut templated = scenario("/items/{{ counter }}");
    fixed_headers(&mut templated);
    templated.request.headers.push((
        "x-attempt".parse().unwrap(),
        Template::parse("n{{ counter }}").unwrap(),
    ));
    let iteration = Iteration {
        counter: 7,
        ..Iteration::default()
    };
    for keep_alive in [false, true] {
        let mut t = target(&base);
        t.keep_alive = keep_alive;
        t.headers
            .insert("authorization", "Bearer s3cret".parse().unwrap());
        t.headers.insert("x-team", "from-target".parse().unwrap());
        let probe = Probe::new(&t, &global()).unwrap();
        for call in [&fixed, &templated] {
            // `Probe::run`: a one-shot direct connection, or reqwest's pool with keep-alive.
            let o = probe.run(call, Instant::now(), &iteration).await;
            assert!(o.is_success(), "{:?}", o.failure);
            if keep_alive {
                let mut user = probe.connection().unwrap();
                let o = user.run(call, Instant::now(), &iteration).await;
                assert!(o.is_success(), "{:?}", o.failure);
            }
        }
    }
    let traceparent = Regex::new(r"traceparent: 00-[0-9a-f]{32}-[0-9a-f]{16}-01\r\n").unwrap();
    let heads: Vec<String> = heads
        .lock()
        .unwrap()
        .iter()
        .map(|head| {
            assert_eq!(traceparent.find_iter(head).count(), 1, "{head}");
            traceparent
                .replace(head, "traceparent: TP\r\n")
                .into_owned()
        })
        .collect();
    let ua = format!("synthex/{}", env!("CARGO_PKG_VERSION"));
    let host = server.addr;
    let fixed_head = format!(
        "GET /fixed?q=1 HTTP/1.1\r\nuser-agent: {ua}\r\naccept: */*\r\nx-synthetic: 1\r\n\
         authorization: Bearer s3cret\r\nx-team: from-scenario\r\nx-fixed: same\r\n\
         traceparent: TP\r\nhost: {host}\r\n\r\n"
    );
    let templated_head = format!(
        "GET /items/7 HTTP/1.1\r\nuser-agent: {ua}\r\naccept: */*\r\nx-synthetic: 1\r\n\
         authorization: Bearer s3cret\r\nx-team: from-scenario\r\nx-fixed: same\r\n\
         x-attempt: n7\r\ntraceparent: TP\r\nhost: {host}\r\n\r\n"
    );
    // In order: one-shot fixed, one-shot templated; then with keep-alive, reqwest fixed, the
    // user's connection fixed, reqwest templated, the user's connection templated.
    let (f, t) = (fixed_head, templated_head);
    assert_eq!(heads, [&f, &t, &f, &f, &t, &t].map(String::clone));
}

/// `{{ now }}` is the time the request goes out: one reading per send, shared by the path and
/// the headers, taken after the send began and before the server received the request (the
/// server's own clock), on the direct path and through reqwest.
#[tokio::test]
async fn now_is_read_once_per_send_between_its_start_and_the_server_receiving_it() {
    let server = servers::http(|_| reply(200, &[], "ok")).await;
    let mut s = scenario("/at/{{ now unix_ms }}");
    s.request.headers = vec![(
        "x-sent-ms".parse().unwrap(),
        Template::parse("{{ now unix_ms }}").unwrap(),
    )];
    for keep_alive in [false, true] {
        let mut t = target(&format!("http://{}", server.addr));
        t.keep_alive = keep_alive;
        let probe = Probe::new(&t, &global()).unwrap();
        let before = std::time::SystemTime::now();
        let o = probe.run(&s, Instant::now(), &Iteration::default()).await;
        assert!(o.is_success(), "{:?}", o.failure);
        let seen = server.log.requests().pop().unwrap();
        let path_ms: u128 = seen.path.strip_prefix("/at/").unwrap().parse().unwrap();
        let header_ms: u128 = seen.headers["x-sent-ms"].to_str().unwrap().parse().unwrap();
        assert_eq!(path_ms, header_ms, "one reading per send");
        let ms =
            |t: std::time::SystemTime| t.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis();
        assert!(
            ms(before) <= path_ms && path_ms <= ms(seen.wall),
            "{} <= {path_ms} <= {}",
            ms(before),
            ms(seen.wall)
        );
    }
}
