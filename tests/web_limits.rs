//! The exporter's fixed limits at their edges, on a real server over 127.0.0.1: the request
//! head size (8 KiB, then 431), the header-read timeout (10 s, also the idle keep-alive
//! timeout), the TLS handshake timeout (10 s), and the connection cap (evicting a connection
//! that never sent a request, refusing when every connection is serving). Timeouts run on
//! tokio's paused clock, so "not before 10 s, at 10 s" is exact, not a wall-clock guess.

mod web_support;

use std::time::Duration;

use synthex::http_server::{HEADER_READ_TIMEOUT, MAX_HEADER_BYTES, TLS_HANDSHAKE_TIMEOUT};
use synthex::web::WebLayer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use web_support::{Ca, start_exporter, write};

/// Sends `request` on a new connection and returns the status code of the answer.
async fn status_of(port: u16, request: &[u8]) -> u16 {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    String::from_utf8_lossy(&answer)
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// A request head of exactly `size` bytes.
fn head_of(size: usize) -> Vec<u8> {
    let start = "GET /-/healthy HTTP/1.1\r\nConnection: close\r\nX-Pad: ";
    let end = "\r\n\r\n";
    let pad = size - start.len() - end.len();
    format!("{start}{}{end}", "a".repeat(pad)).into_bytes()
}

#[tokio::test]
async fn a_request_head_of_8_kib_is_served_and_one_byte_more_gets_431() {
    let exporter = start_exporter(WebLayer::plain(), 16).await;
    let port = exporter.port;
    assert_eq!(MAX_HEADER_BYTES, 8192);
    assert_eq!(status_of(port, &head_of(MAX_HEADER_BYTES)).await, 200);
    assert_eq!(status_of(port, &head_of(MAX_HEADER_BYTES + 1)).await, 431);
}

/// Whether the server closes `stream` within `limit` (paused clock).
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    let mut buffer = [0; 4096];
    loop {
        match tokio::time::timeout(limit, stream.read(&mut buffer)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

#[tokio::test(start_paused = true)]
async fn half_a_request_head_is_dropped_at_10_s_and_not_before() {
    let exporter = start_exporter(WebLayer::plain(), 16).await;
    let port = exporter.port;
    assert_eq!(HEADER_READ_TIMEOUT, Duration::from_secs(10));
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    stream.write_all(b"GET /metr").await.unwrap();
    assert!(!closed_within(&mut stream, Duration::from_millis(9_900)).await);
    assert!(closed_within(&mut stream, Duration::from_millis(200)).await);
}

#[tokio::test(start_paused = true)]
async fn an_idle_kept_alive_connection_is_closed_at_10_s_and_not_before() {
    let exporter = start_exporter(WebLayer::plain(), 16).await;
    let port = exporter.port;
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    stream
        .write_all(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut answer = [0; 256];
    let read = stream.read(&mut answer).await.unwrap();
    assert!(answer[..read].starts_with(b"HTTP/1.1 200"));
    assert!(!closed_within(&mut stream, Duration::from_millis(9_900)).await);
    assert!(closed_within(&mut stream, Duration::from_millis(200)).await);
}

#[tokio::test(start_paused = true)]
async fn a_tls_handshake_not_finished_in_10_s_is_dropped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("test CA");
    let server = ca.server();
    write(dir.path(), "server.pem", &server.cert);
    write(dir.path(), "server.key", &server.key);
    let web = WebLayer::load(&write(
        dir.path(),
        "web.yml",
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n",
    ))
    .unwrap();
    let exporter = start_exporter(web, 16).await;
    let (port, metrics) = (exporter.port, &exporter.metrics);
    assert_eq!(TLS_HANDSHAKE_TIMEOUT, Duration::from_secs(10));
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    assert!(!closed_within(&mut stream, Duration::from_millis(9_900)).await);
    assert!(closed_within(&mut stream, Duration::from_millis(200)).await);
    let text = String::from_utf8(metrics.encode().unwrap()).unwrap();
    assert!(
        text.contains("synthex_exporter_tls_handshake_failures_total 1"),
        "{text}"
    );
}

#[tokio::test]
async fn at_the_cap_a_silent_connection_is_evicted_and_a_busy_port_refuses() {
    let exporter = start_exporter(WebLayer::plain(), 2).await;
    let (port, metrics) = (exporter.port, &exporter.metrics);
    let sample = |name: &str| {
        let text = String::from_utf8(metrics.encode().unwrap()).unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} "))?.parse::<f64>().ok())
            .unwrap()
    };
    // Two silent connections fill the cap; a third (a real request) evicts the oldest.
    let mut first = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let _second = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(sample("synthex_exporter_connections"), 2.0);
    let mut served = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    served
        .write_all(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut answer = [0; 256];
    let read = served.read(&mut answer).await.unwrap();
    assert!(answer[..read].starts_with(b"HTTP/1.1 200"));
    let mut byte = [0; 1];
    assert_eq!(
        first.read(&mut byte).await.unwrap_or(0),
        0,
        "the oldest was closed"
    );
    assert_eq!(sample("synthex_exporter_connections_evicted_total"), 1.0);
    // Now both slots serve requests (one kept alive, one more): a newcomer is refused.
    let mut other = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    other
        .write_all(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let read = other.read(&mut answer).await.unwrap();
    assert!(
        answer[..read].starts_with(b"HTTP/1.1 200"),
        "the second silent one made room"
    );
    assert_eq!(sample("synthex_exporter_connections_evicted_total"), 2.0);
    let mut refused = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let _ = refused
        .write_all(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    assert_eq!(
        refused.read(&mut answer).await.unwrap_or(0),
        0,
        "refused at the cap"
    );
    assert_eq!(sample("synthex_exporter_connections_refused_total"), 1.0);
}
