//! A virtual user's own connection (`Probe::connection`) against real servers on 127.0.0.1:
//! for every fault of tests/probe.rs it yields the same outcome as `Probe::run`, it sends the
//! same request, keeps one connection across requests and opens another after an error or
//! when the server closes it; the open model's overlapping requests share idle connections
//! (`Probe::run_on`).

mod probe_support;

use std::time::Duration;

use probe_support::servers::{self, read_request_head, reply};
use probe_support::{
    against, both, global, impatient, kept, message, posting, reason, refused_port, same, scenario,
    target,
};
use synthex::outcome::{FailureReason, Outcome};
use synthex::probe::{IdleConnections, Probe};
use synthex::scenario::Target;
use synthex::template::{Iteration, Template};
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

#[tokio::test]
async fn success_is_judged_and_classified_as_by_the_probe() {
    let body = r#"{"id": 7, "status": "pending"}"#;
    let server = servers::http(move |_| reply(200, &[("x-cache", "HIT")], body)).await;
    let mut s = scenario("/");
    s.expect.json = vec![("/id".into(), 7.into())];
    let (shared, direct) = both(&kept(&format!("http://{}", server.addr)), &s).await;
    assert!(direct.is_success(), "{:?}", direct.failure);
    same(&shared, &direct);
    assert_eq!(direct.body_bytes, shared.body_bytes);
    // A failed expectation too, on the same connection.
    s.expect.json = vec![("/status".into(), "shipped".into())];
    let (shared, direct) = both(&kept(&format!("http://{}", server.addr)), &s).await;
    assert_eq!(reason(&direct), Some(FailureReason::Assertion));
    same(&shared, &direct);
}

#[tokio::test]
async fn the_server_sees_the_same_request() {
    let server = servers::http(|_| reply(201, &[], "")).await;
    let (mut t, s) = posting(&format!("http://{}/api/", server.addr), "/orders/5?q=a b");
    t.keep_alive = true;
    let (shared, direct) = both(&t, &s).await;
    same(&shared, &direct);
    let seen = server.log.requests();
    let (by_probe, direct) = (&seen[0], &seen[1]);
    assert_eq!(direct.method, "POST");
    assert_eq!(direct.path, "/api/orders/5?q=a%20b");
    assert_eq!(direct.body.as_ref(), br#"{"n": 100}"#);
    assert_eq!(direct.path, by_probe.path);
    assert_eq!(direct.body, by_probe.body);
    // Every request carries a trace of its own; everything else is the same.
    let without_trace = |headers: &http::HeaderMap| {
        let mut headers = headers.clone();
        headers.remove("traceparent");
        headers
    };
    assert_eq!(
        without_trace(&direct.headers),
        without_trace(&by_probe.headers)
    );
    assert_eq!(direct.headers["x-team"], "from-scenario");
    assert_eq!(direct.headers["host"], server.addr.to_string().as_str());
}

#[tokio::test]
async fn one_connection_carries_every_request_of_a_user() {
    let server = servers::http(|_| reply(200, &[], "ok")).await;
    // `localhost` goes through the resolver: the first request reports dns and connect.
    let probe = Probe::new(
        &kept(&format!("http://localhost:{}", server.port())),
        &global(),
    );
    let probe = probe.unwrap();
    let mut connection = probe.connection().unwrap();
    let mut outcomes = Vec::new();
    for _ in 0..5 {
        outcomes.push(
            connection
                .run(&scenario("/"), Instant::now(), &Iteration::default())
                .await,
        );
    }
    assert!(outcomes.iter().all(Outcome::is_success));
    assert_eq!(server.log.connections(), 1);
    let names = |o: &Outcome| o.phases.iter().map(|(name, _)| name).collect::<Vec<_>>();
    assert_eq!(
        names(&outcomes[0]),
        ["dns", "connect", "first_byte", "transfer"]
    );
    for o in &outcomes[1..] {
        assert_eq!(names(o), ["first_byte", "transfer"]);
        let sum: Duration = o.phases.iter().map(|(_, d)| d).sum();
        assert!(o.latency >= sum);
    }
}

/// The open model's overlapping requests borrow idle connections: never more connections than
/// requests ever in flight at once, each reused by the next request, and none for a target
/// that must not keep them.
#[tokio::test]
async fn overlapping_requests_share_idle_connections() {
    let server = servers::http(|_| reply(200, &[], "ok")).await;
    let probe = Probe::new(&kept(&format!("http://{}", server.addr)), &global()).unwrap();
    let idle = IdleConnections::default();
    let s = scenario("/");
    let iteration = Iteration::default();
    let one = || probe.run_on(&idle, &s, Instant::now(), &iteration);
    for round in 1..=5 {
        let (a, b, c, d) = tokio::join!(one(), one(), one(), one());
        assert!([a, b, c, d].iter().all(Outcome::is_success));
        let opened = server.log.connections();
        assert!(
            opened <= 4,
            "round {round}: {opened} connections for 4 at once"
        );
    }
    let before = server.log.connections();
    for _ in 0..10 {
        assert!(one().await.is_success());
    }
    assert_eq!(
        server.log.connections(),
        before,
        "one at a time reuses an idle one"
    );
    assert_eq!(server.log.requests().len(), 30);

    let fresh = Probe::new(&target(&format!("http://{}", server.addr)), &global()).unwrap();
    for _ in 0..3 {
        assert!(
            fresh
                .run_on(&idle, &s, Instant::now(), &Iteration::default())
                .await
                .is_success()
        );
    }
    assert_eq!(server.log.connections(), before + 3, "keep_alive: false");
}

#[tokio::test]
async fn a_connection_the_server_closes_is_reopened() {
    let server = servers::http(|_| reply(200, &[("connection", "close")], "bye")).await;
    let probe = Probe::new(&kept(&format!("http://{}", server.addr)), &global()).unwrap();
    let mut connection = probe.connection().unwrap();
    for _ in 0..3 {
        let o = connection
            .run(&scenario("/"), Instant::now(), &Iteration::default())
            .await;
        assert!(o.is_success(), "{:?}", o.failure);
        // An IP literal: connect, but no dns.
        assert!(o.phases.connect.is_some() && o.phases.dns.is_none());
    }
    assert_eq!(server.log.connections(), 3);
}

/// A server that closes a kept-alive connection once it has been idle for a while (as nginx's
/// `keepalive_timeout` does), without saying so in the response: the next request borrows that
/// connection, notices the close and opens another instead of failing. The daemon's
/// `keep_alive: true` targets at a low rate hit this on every request.
#[tokio::test]
async fn an_idle_connection_the_server_closed_is_replaced_without_a_failure() {
    let server = servers::raw(|mut stream| async move {
        read_request_head(&mut stream).await;
        let _ = stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            .await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        // Dropped: the server closes the idle connection.
    })
    .await;
    let probe = Probe::new(&kept(&format!("http://{}", server.addr)), &global()).unwrap();
    let idle = IdleConnections::default();
    for n in 1..=3 {
        let o = probe
            .run_on(&idle, &scenario("/"), Instant::now(), &Iteration::default())
            .await;
        assert!(o.is_success(), "request {n}: {:?}", o.failure);
        assert_eq!(server.log.connections(), n);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test]
async fn refused_port_is_connect() {
    let t = kept(&format!("http://127.0.0.1:{}", refused_port()));
    let (shared, direct) = both(&t, &scenario("/")).await;
    assert_eq!(reason(&direct), Some(FailureReason::Connect));
    assert!(message(&direct).contains("refused"), "{}", message(&direct));
    same(&shared, &direct);
}

#[tokio::test]
async fn unresolvable_host_is_dns() {
    let (shared, direct) = both(&kept("http://nonexistent.invalid/"), &scenario("/")).await;
    assert_eq!(reason(&direct), Some(FailureReason::Dns));
    same(&shared, &direct);
}

#[tokio::test]
async fn a_stalled_server_is_a_timeout_in_the_stage_it_stalled() {
    let stalls = [
        ("", "before the response head arrived", None),
        (
            "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nxy",
            "while reading the body",
            Some(200),
        ),
    ];
    for (prefix, during, status) in stalls {
        let server = servers::stalling(prefix).await;
        let t = impatient(&server);
        let (shared, direct) = both(&t, &scenario("/")).await;
        assert_eq!(message(&direct), format!("timed out after 200ms {during}"));
        assert_eq!(direct.status, status);
        assert!(direct.latency >= t.timeout);
        same(&shared, &direct);
    }
}

#[tokio::test]
async fn a_timed_out_connection_is_replaced() {
    let server = servers::stalling("").await;
    let probe = Probe::new(&impatient(&server), &global()).unwrap();
    let mut connection = probe.connection().unwrap();
    for _ in 0..2 {
        let o = connection
            .run(&scenario("/"), Instant::now(), &Iteration::default())
            .await;
        assert_eq!(reason(&o), Some(FailureReason::Timeout));
    }
    assert_eq!(server.log.connections(), 2);
}

#[tokio::test]
async fn reset_mid_body_is_body() {
    let server = servers::reset_mid_body().await;
    let (shared, direct) = against(&server).await;
    assert_eq!(reason(&direct), Some(FailureReason::Body));
    assert_eq!(direct.body_bytes, 100);
    same(&shared, &direct);
}

#[tokio::test]
async fn oversized_bodies_are_body() {
    let declared = servers::http(|_| reply(200, &[], vec![b'z'; 2 * 1024 * 1024])).await;
    let t = kept(&format!("http://{}", declared.addr));
    let (shared, direct) = both(&t, &scenario("/")).await;
    assert_eq!(message(&direct), "body exceeds max_body_bytes 1048576");
    assert_eq!(direct.body_bytes, 0);
    same(&shared, &direct);

    let chunked = servers::raw(|mut stream| async move {
        read_request_head(&mut stream).await;
        let head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        let _ = stream.write_all(head.as_bytes()).await;
        let chunk = format!("10000\r\n{}\r\n", "y".repeat(0x10000));
        while stream.write_all(chunk.as_bytes()).await.is_ok() {}
    })
    .await;
    let t = kept(&format!("http://{}", chunked.addr));
    let (shared, direct) = both(&t, &scenario("/")).await;
    assert_eq!(message(&direct), "body exceeds max_body_bytes 1048576");
    assert!(direct.body_bytes > 1024 * 1024 && direct.body_bytes <= 1024 * 1024 + 0x10000);
    same(&shared, &direct);
}

#[tokio::test]
async fn garbage_response_is_other() {
    let server = servers::garbage().await;
    let (shared, direct) = against(&server).await;
    assert_eq!(reason(&direct), Some(FailureReason::Other));
    same(&shared, &direct);
}

#[tokio::test]
async fn unparsable_rendered_url_is_other_without_connecting() {
    let server = servers::http(|_| reply(200, &[], "")).await;
    let mut s = scenario("/");
    s.request.path = Template::literal(":not-a-port");
    let (shared, direct) = both(&kept(&format!("http://{}/", server.addr)), &s).await;
    assert_eq!(reason(&direct), Some(FailureReason::Other));
    same(&shared, &direct);
    assert_eq!(server.log.connections(), 0);
}

#[test]
fn only_plain_http_keep_alive_targets_without_proxy_get_a_connection() {
    let global = global();
    let has = |t: &Target| Probe::new(t, &global).unwrap().connection().is_some();
    assert!(has(&kept("http://127.0.0.1:8080")));
    assert!(!has(&target("http://127.0.0.1:8080")), "keep_alive: false");
    assert!(!has(&kept("https://127.0.0.1:8443")));
    let mut proxied = kept("http://127.0.0.1:8080");
    proxied.proxy = Some("http://127.0.0.1:3128".parse().unwrap());
    assert!(!has(&proxied));
}

#[tokio::test]
async fn each_request_goes_to_its_own_rendered_path() {
    let server = servers::http(|_| reply(200, &[], "")).await;
    let probe = Probe::new(&kept(&format!("http://{}/base", server.addr)), &global()).unwrap();
    let mut connection = probe.connection().unwrap();
    let paths = ["/a", "/a", "/b?x=1", "/n/{{ int 7..7 }}", "/a"];
    for path in paths {
        let o = connection
            .run(&scenario(path), Instant::now(), &Iteration::default())
            .await;
        assert!(o.is_success(), "{:?}", o.failure);
    }
    let seen: Vec<_> = server.log.requests().into_iter().map(|s| s.path).collect();
    assert_eq!(
        seen,
        ["/base/a", "/base/a", "/base/b?x=1", "/base/n/7", "/base/a"]
    );
}
