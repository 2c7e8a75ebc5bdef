//! The direct connection's own HTTP/1.1 exchange (src/probe/http1.rs) against raw servers on
//! 127.0.0.1 that write exact bytes: body framings (chunked with extensions and trailers, until
//! close, none after HEAD/204/304), 1xx interim responses, keep-alive rules from either side,
//! a response written byte by byte, heads up to and past hyper's limit, malformed bodies and
//! heads. The reference is what the server wrote and read, and hyper's client (`Probe::run`
//! through reqwest) on the same bytes: same outcome, same failure message, same request bytes.

mod probe_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::Method;
use probe_support::servers::{self, Server};
use probe_support::{both, global, kept, message, reason, same, scenario};
use synthex::outcome::{FailureReason, Outcome};
use synthex::probe::Probe;
use synthex::scenario::{Call, StatusMatch, Target};
use synthex::template::Iteration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// What a raw server does once it has written its answer to a request.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Then {
    /// Reads the next request on the same connection.
    Serve,
    /// Closes the connection.
    Close,
    /// Holds the connection open without reading, for longer than any test's timeout.
    Hold,
}

/// How a raw server writes its answer.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pace {
    /// In one write.
    Whole,
    /// One byte per write and TCP segment, a millisecond apart.
    ByteByByte,
}

/// One request as a raw server read it: its connection's number (from 1), head and body.
#[derive(Debug, Clone)]
struct Read {
    connection: usize,
    head: String,
    body: Vec<u8>,
}

/// A raw server that answers each request with `answer(head)`, written at `pace`, then does
/// `then`; and the requests it read.
async fn raw_server(
    answer: impl Fn(&str) -> Vec<u8> + Send + Sync + 'static,
    pace: Pace,
    then: Then,
) -> (Server, Arc<Mutex<Vec<Read>>>) {
    let answer = Arc::new(answer);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (log, opened) = (seen.clone(), Arc::new(Mutex::new(0)));
    let server = servers::raw(move |mut stream| {
        let (answer, log, opened) = (answer.clone(), log.clone(), opened.clone());
        async move {
            let connection = {
                let mut opened = opened.lock().unwrap();
                *opened += 1;
                *opened
            };
            stream.set_nodelay(true).unwrap();
            while let Some((head, body)) = read_request(&mut stream).await {
                let response = answer(&head);
                log.lock().unwrap().push(Read {
                    connection,
                    head,
                    body,
                });
                if write(&mut stream, &response, pace).await.is_err() {
                    return;
                }
                match then {
                    Then::Serve => {}
                    Then::Close => return,
                    Then::Hold => {
                        tokio::time::sleep(Duration::from_secs(5)).await;
                        return;
                    }
                }
            }
        }
    })
    .await;
    (server, seen)
}

/// [`raw_server`] answering every request with `response`, in one write.
async fn answering(response: &str, then: Then) -> Server {
    let response = response.as_bytes().to_vec();
    raw_server(move |_| response.clone(), Pace::Whole, then)
        .await
        .0
}

/// The next request on `stream`: its head, and its body as `Content-Length` says; `None` at
/// the end of the stream.
async fn read_request(stream: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    let end = loop {
        if let Some(at) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
        }
    };
    let head = String::from_utf8_lossy(&bytes[..end]).into_owned();
    let length = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = bytes[end..].to_vec();
    while body.len() < length {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => body.extend_from_slice(&buf[..n]),
        }
    }
    Some((head, body))
}

async fn write(stream: &mut TcpStream, bytes: &[u8], pace: Pace) -> std::io::Result<()> {
    match pace {
        Pace::Whole => stream.write_all(bytes).await,
        Pace::ByteByByte => {
            for byte in bytes {
                stream.write_all(&[*byte]).await?;
                stream.flush().await?;
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            Ok(())
        }
    }
}

/// The keep-alive target of `server`, with `timeout`.
fn target_of(server: &Server, timeout: Duration) -> Target {
    let mut t = kept(&format!("http://{}", server.addr));
    t.timeout = timeout;
    t
}

/// `n` requests of `call` one after another on one direct connection to `target`.
async fn in_a_row(target: &Target, call: &Call, n: usize) -> Vec<Outcome> {
    let probe = Probe::new(target, &global()).unwrap();
    let mut connection = probe.connection().unwrap();
    let mut outcomes = Vec::new();
    for _ in 0..n {
        outcomes.push(
            connection
                .run(call, Instant::now(), &Iteration::default())
                .await,
        );
    }
    outcomes
}

/// A GET of `/` that expects `text` in the body.
fn expecting(text: &str) -> Call {
    let mut call = scenario("/");
    call.expect.body_contains = vec![text.to_string()];
    call
}

fn assert_success(outcomes: &[Outcome], body_bytes: u64) {
    for (n, o) in outcomes.iter().enumerate() {
        assert!(o.is_success(), "request {}: {:?}", n + 1, o.failure);
        assert_eq!(o.body_bytes, body_bytes, "request {}", n + 1);
    }
}

#[tokio::test]
async fn chunked_bodies_with_extensions_and_trailers_are_read_and_the_connection_kept() {
    let response = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: x-checksum\r\n\r\n\
        5;name=value\r\nhello\r\n6;a;b=\"c d\" \r\n world\r\nA\r\n, chunked!\r\n\
        0;last\r\nx-checksum: 1a2b\r\nx-other: y\r\n\r\n";
    let server = answering(response, Then::Serve).await;
    let call = expecting("hello world, chunked!");
    let outcomes = in_a_row(&target_of(&server, Duration::from_secs(5)), &call, 3).await;
    assert_success(&outcomes, 21);
    assert_eq!(
        server.log.connections(),
        1,
        "kept after a whole chunked body"
    );
    let (shared, direct) = both(&target_of(&server, Duration::from_secs(5)), &call).await;
    same(&shared, &direct);
    assert_eq!(direct.body_bytes, shared.body_bytes);
}

#[tokio::test]
async fn a_body_without_length_is_read_until_the_server_closes() {
    let body = "x".repeat(3000) + "end";
    let response = format!("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n{body}");
    let server = answering(&response, Then::Close).await;
    let outcomes = in_a_row(
        &target_of(&server, Duration::from_secs(5)),
        &expecting("xend"),
        2,
    )
    .await;
    assert_success(&outcomes, 3003);
    assert_eq!(
        server.log.connections(),
        2,
        "a body delimited by the close ends the connection"
    );
    let (shared, direct) = both(
        &target_of(&server, Duration::from_secs(5)),
        &expecting("xend"),
    )
    .await;
    same(&shared, &direct);
}

#[tokio::test]
async fn interim_responses_before_the_final_one_are_skipped() {
    let response = "HTTP/1.1 100 Continue\r\n\r\n\
        HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n\
        HTTP/1.1 200 OK\r\nContent-Length: 5\r\nx-final: yes\r\n\r\nfinal";
    let server = answering(response, Then::Serve).await;
    let call = expecting("final");
    let outcomes = in_a_row(&target_of(&server, Duration::from_secs(5)), &call, 2).await;
    assert_success(&outcomes, 5);
    assert!(outcomes.iter().all(|o| o.status == Some(200)));
    assert_eq!(server.log.connections(), 1);
    let (shared, direct) = both(&target_of(&server, Duration::from_secs(5)), &call).await;
    same(&shared, &direct);
}

/// HEAD, 204 and 304 responses have no body whatever their `Content-Length` says: reading one
/// would wait for bytes that never come (the server sends nothing more until the next request)
/// or take the next response's bytes for it.
#[tokio::test]
async fn head_204_and_304_responses_have_no_body() {
    let (server, seen) = raw_server(
        |head| {
            let answer = match head.split(' ').take(2).collect::<Vec<_>>()[..] {
                ["HEAD", _] => "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n",
                [_, "/204"] => "HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n",
                [_, "/304"] => {
                    "HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\nETag: \"v1\"\r\n\r\n"
                }
                _ => "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            };
            answer.as_bytes().to_vec()
        },
        Pace::Whole,
        Then::Serve,
    )
    .await;
    let probe = Probe::new(&target_of(&server, Duration::from_millis(500)), &global()).unwrap();
    let mut connection = probe.connection().unwrap();
    let mut head = scenario("/");
    head.request.method = Method::HEAD;
    let mut no_content = scenario("/204");
    no_content.expect.status = vec![StatusMatch::Code(204)];
    let mut not_modified = scenario("/304");
    not_modified.expect.status = vec![StatusMatch::Code(304)];
    let get = expecting("ok");
    let expected = [
        (&head, 200, 0),
        (&no_content, 204, 0),
        (&not_modified, 304, 0),
        (&get, 200, 2),
        (&head, 200, 0),
        (&get, 200, 2),
    ];
    for (n, (call, status, body_bytes)) in expected.into_iter().enumerate() {
        let o = connection
            .run(call, Instant::now(), &Iteration::default())
            .await;
        assert!(o.is_success(), "request {}: {:?}", n + 1, o.failure);
        assert_eq!(
            (o.status, o.body_bytes),
            (Some(status), body_bytes),
            "request {}",
            n + 1
        );
    }
    assert_eq!(server.log.connections(), 1);
    assert_eq!(seen.lock().unwrap().len(), 6);
}

/// `Connection: close` from the server, or an HTTP/1.0 answer without keep-alive, ends the
/// connection even when the server leaves the socket open: a request sent on it again would
/// never be answered (a 500 ms timeout here).
#[tokio::test]
async fn a_server_that_says_close_gets_a_new_connection_even_if_it_leaves_the_socket_open() {
    let closing = [
        "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
        "HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 2\r\n\r\nok",
        "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
    ];
    for response in closing {
        let server = answering(response, Then::Hold).await;
        let outcomes = in_a_row(
            &target_of(&server, Duration::from_millis(500)),
            &expecting("ok"),
            3,
        )
        .await;
        assert_success(&outcomes, 2);
        assert_eq!(server.log.connections(), 3, "{response:?}");
    }
}

/// An HTTP/1.0 server that keeps the connection alive gets the next request on it, as HTTP/1.0
/// with `Connection: keep-alive` (what hyper sends), byte for byte what hyper's client sent.
#[tokio::test]
async fn an_http10_keep_alive_server_keeps_the_connection_and_gets_http10_requests() {
    let response = "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok";
    let answer = move |_: &str| response.as_bytes().to_vec();
    let (direct_server, direct_seen) = raw_server(answer, Pace::Whole, Then::Serve).await;
    let outcomes = in_a_row(
        &target_of(&direct_server, Duration::from_secs(5)),
        &expecting("ok"),
        3,
    )
    .await;
    assert_success(&outcomes, 2);
    assert_eq!(direct_server.log.connections(), 1);
    let direct = direct_seen.lock().unwrap().clone();
    assert!(
        direct[0].head.starts_with("GET / HTTP/1.1\r\n"),
        "{}",
        direct[0].head
    );
    for later in &direct[1..] {
        assert!(
            later.head.starts_with("GET / HTTP/1.0\r\n"),
            "{}",
            later.head
        );
        assert!(
            later.head.contains("\r\nconnection: keep-alive\r\n"),
            "{}",
            later.head
        );
    }

    let (pooled_server, pooled_seen) = raw_server(answer, Pace::Whole, Then::Serve).await;
    let probe = Probe::new(
        &target_of(&pooled_server, Duration::from_secs(5)),
        &global(),
    )
    .unwrap();
    for _ in 0..3 {
        let o = probe
            .run(&expecting("ok"), Instant::now(), &Iteration::default())
            .await;
        assert!(o.is_success(), "{:?}", o.failure);
    }
    let pooled = pooled_seen.lock().unwrap().clone();
    assert_eq!(lines(&direct), lines(&pooled));
}

/// The request bytes of a GET (no body: no `Content-Length`) and of a POST with a body, on a
/// direct connection and through hyper's client: the same request line, header lines (in any
/// order; `traceparent` differs per request) and body.
#[tokio::test]
async fn the_request_on_the_wire_is_what_hypers_client_sends() {
    let answer = |_: &str| b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec();
    let (direct_server, direct_seen) = raw_server(answer, Pace::Whole, Then::Serve).await;
    let (pooled_server, pooled_seen) = raw_server(answer, Pace::Whole, Then::Serve).await;
    let (mut post_target, post) =
        probe_support::posting("http://127.0.0.1/api/", "/orders/5?q=a b");
    post_target.keep_alive = true;
    let calls = [scenario("/items?page=2"), post];
    for (server, direct) in [(&direct_server, true), (&pooled_server, false)] {
        let mut t = post_target.clone();
        t.base_url = format!("http://{}/api/", server.addr).parse().unwrap();
        let probe = Probe::new(&t, &global()).unwrap();
        let mut connection = probe.connection().unwrap();
        for call in &calls {
            let o = if direct {
                connection
                    .run(call, Instant::now(), &Iteration::default())
                    .await
            } else {
                probe.run(call, Instant::now(), &Iteration::default()).await
            };
            assert!(o.is_success(), "{:?}", o.failure);
        }
    }
    let direct = direct_seen.lock().unwrap().clone();
    let pooled = pooled_seen.lock().unwrap().clone();
    assert_eq!(lines(&direct), lines(&pooled));
    let host = format!("\r\nhost: {}\r\n", direct_server.addr);
    assert!(
        direct.iter().all(|read| read.head.contains(&host)),
        "{direct:?}"
    );
    assert!(
        !direct[0]
            .head
            .to_ascii_lowercase()
            .contains("content-length"),
        "{}",
        direct[0].head
    );
    assert!(
        direct[1].head.contains("\r\ncontent-length: 10\r\n"),
        "{}",
        direct[1].head
    );
    assert_eq!(direct[1].body, br#"{"n": 100}"#);
}

/// Each request's connection, request line, sorted header lines and body; `traceparent`
/// (one per request) is left out and `host` (each server has its own port) made `host: HOST`.
fn lines(reads: &[Read]) -> Vec<(usize, String, Vec<String>, Vec<u8>)> {
    reads
        .iter()
        .map(|read| {
            let mut lines = read.head.split("\r\n").filter(|l| !l.is_empty());
            let request_line = lines.next().unwrap_or_default().to_string();
            let mut headers: Vec<String> = lines
                .filter(|l| !l.starts_with("traceparent:"))
                .map(|l| match l.starts_with("host:") {
                    true => "host: HOST".to_string(),
                    false => l.to_string(),
                })
                .collect();
            headers.sort();
            (read.connection, request_line, headers, read.body.clone())
        })
        .collect()
}

#[tokio::test]
async fn a_response_written_byte_by_byte_is_read_whole() {
    let responses = [
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 15\r\n\r\none byte a time",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\none\r\nc\r\n byte a time\r\n0\r\nx-t: 1\r\n\r\n",
    ];
    for response in responses {
        let bytes = response.as_bytes().to_vec();
        let (server, seen) =
            raw_server(move |_| bytes.clone(), Pace::ByteByByte, Then::Serve).await;
        let outcomes = in_a_row(
            &target_of(&server, Duration::from_secs(5)),
            &expecting("one byte a time"),
            2,
        )
        .await;
        assert_success(&outcomes, 15);
        assert_eq!(server.log.connections(), 1, "{response:?}");
        assert_eq!(seen.lock().unwrap().len(), 2);
    }
}

/// A response head may have up to 417,792 bytes (hyper's read buffer limit); the direct
/// connection's buffer starts at 8 KiB and grows to exactly that limit. hyper checks its limit
/// only after a read into whatever room its buffer has grown to, so it takes a head up to about
/// twice as large, depending on how the bytes arrive: at the limit and far past it both agree;
/// one byte past it only the direct connection's answer is certain.
#[tokio::test]
async fn a_head_larger_than_the_read_buffer_is_read_up_to_hypers_limit() {
    const LIMIT: usize = 8192 + 4096 * 100;
    let head_of = |total: usize| {
        let start = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nx-big: ";
        let filler = "a".repeat(total - start.len() - 4);
        format!("{start}{filler}\r\n\r\nok")
    };
    let sizes = [
        (20_000, true),
        (LIMIT, true),
        (LIMIT + 1, false),
        (2 * 1024 * 1024, false),
    ];
    for (total, fits) in sizes {
        let server = answering(&head_of(total), Then::Serve).await;
        let t = target_of(&server, Duration::from_secs(5));
        let (shared, direct) = both(&t, &expecting("ok")).await;
        if total != LIMIT + 1 {
            same(&shared, &direct);
        }
        if fits {
            assert!(direct.is_success(), "{total}: {:?}", direct.failure);
            let outcomes = in_a_row(&t, &expecting("ok"), 2).await;
            assert_success(&outcomes, 2);
        } else {
            assert_eq!(reason(&direct), Some(FailureReason::Other));
            assert_eq!(message(&direct), "message head is too large");
        }
    }
}

/// A malformed chunked body fails as `body`, with hyper's words for what is wrong.
#[tokio::test]
async fn malformed_chunked_bodies_fail_as_body_with_hypers_message() {
    let cases = [
        ("zz\r\n", "Invalid chunk size line: missing size digit"),
        (
            "5x\r\nhello\r\n0\r\n\r\n",
            "Invalid chunk size line: Invalid Size",
        ),
        (
            "5 x\r\nhello\r\n0\r\n\r\n",
            "Invalid chunk size linear white space",
        ),
        ("10000000000000000\r\n", "invalid chunk size: overflow"),
        (
            "5;ext\nhello\r\n0\r\n\r\n",
            "invalid chunk extension contains newline",
        ),
        ("5\rhello\r\n0\r\n\r\n", "Invalid chunk size LF"),
        ("5\r\nhelloXY0\r\n\r\n", "Invalid chunk body CR"),
        ("5\r\nhello\rX0\r\n\r\n", "Invalid chunk body LF"),
        ("0\r\n\rX", "Invalid chunk end LF"),
        ("0\r\nx-t: 1\rX", "Invalid trailer end LF"),
        ("0\r\nbad trailer\r\n\r\n", "invalid header name"),
        ("5\r\nhel", "end of file before message length reached"),
        ("5\r\nhello\r\n", "unexpected EOF during chunk size line"),
    ];
    for (body, expected) in cases {
        let response = format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{body}");
        let server = answering(&response, Then::Close).await;
        let (shared, direct) =
            both(&target_of(&server, Duration::from_secs(5)), &scenario("/")).await;
        same(&shared, &direct);
        assert_eq!(reason(&direct), Some(FailureReason::Body), "{body:?}");
        assert_eq!(
            message(&direct),
            format!("error reading a body from connection: {expected}"),
            "{body:?}"
        );
        assert_eq!(direct.status, Some(200));
    }
}

/// A response that is not one, or ends before it is whole, fails as through hyper's client.
#[tokio::test]
async fn malformed_or_cut_heads_fail_with_hypers_reason_and_message() {
    let cases = [
        (
            "HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n",
            FailureReason::Other,
            "invalid content-length parsed",
        ),
        (
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
            FailureReason::Other,
            "invalid content-length parsed",
        ),
        (
            "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            FailureReason::Other,
            "unexpected transfer-encoding parsed",
        ),
        (
            "HTTP/1.1 2000 OK\r\n\r\n",
            FailureReason::Other,
            "invalid HTTP status-code parsed",
        ),
        (
            "HTTP/1.1 200 OK\r\nbad header\r\n\r\n",
            FailureReason::Other,
            "invalid HTTP header parsed",
        ),
        (
            "HTTP/2 200 OK\r\n\r\n",
            FailureReason::Other,
            "invalid HTTP version parsed",
        ),
        (
            "HTTP/1.1 200 OK\r\nContent-Len",
            FailureReason::Connect,
            "connection closed before message completed",
        ),
        (
            "",
            FailureReason::Connect,
            "connection closed before message completed",
        ),
        (
            "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
            FailureReason::Body,
            "error reading a body from connection: end of file before message length reached",
        ),
    ];
    for (response, expected_reason, expected) in cases {
        let server = answering(response, Then::Close).await;
        let (shared, direct) =
            both(&target_of(&server, Duration::from_secs(5)), &scenario("/")).await;
        same(&shared, &direct);
        assert_eq!(reason(&direct), Some(expected_reason), "{response:?}");
        assert_eq!(message(&direct), expected, "{response:?}");
    }
}

/// Bytes after a response's end that nobody asked for make the connection unusable: the next
/// request goes on a new one, and is not answered by those bytes.
#[tokio::test]
async fn bytes_after_the_response_end_the_connection() {
    let response = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 500 Stray\r\nContent-Length: 0\r\n\r\n";
    let server = answering(response, Then::Serve).await;
    let outcomes = in_a_row(
        &target_of(&server, Duration::from_secs(5)),
        &expecting("ok"),
        3,
    )
    .await;
    assert_success(&outcomes, 2);
    assert_eq!(server.log.connections(), 3);
}
