//! The daemon in-process against hostile and healthy targets on 127.0.0.1: a target that answers
//! garbage, never answers, resets mid-body or sends a huge body must fail with the right reasons
//! while the daemon keeps serving `/metrics` and keeps the other target's schedule.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use synthex::demo_target::{self, DemoTarget};
use synthex::{config, daemon};

/// A server that misbehaves according to the request path.
async fn hostile_server(listener: TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        tokio::spawn(misbehave(stream));
    }
}

async fn misbehave(mut stream: TcpStream) {
    let mut buf = vec![0u8; 4096];
    let mut head = Vec::new();
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
    match path.as_str() {
        "/garbage" => {
            let _ = stream.write_all(b"this is not http at all\r\n\r\n").await;
        }
        "/hang" => tokio::time::sleep(Duration::from_secs(30)).await,
        "/reset" => {
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\npartial")
                .await;
            let _ = stream.set_zero_linger();
        }
        _ => {
            // A body far beyond the cap, streamed until the client stops reading.
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 104857600\r\n\r\n")
                .await;
            let chunk = vec![b'x'; 64 * 1024];
            for _ in 0..1600 {
                if stream.write_all(&chunk).await.is_err() {
                    return;
                }
            }
        }
    }
}

fn config_text(good: u16, bad: u16) -> String {
    format!(
        r#"
global: {{max_body_bytes: 64KiB, shutdown_grace: 2s}}
targets:
  - name: good
    base_url: http://127.0.0.1:{good}
    rate: 20/s
    scenarios:
      - {{name: health, request: {{path: /health}}}}
  - name: bad
    base_url: http://127.0.0.1:{bad}
    rate: 20/s
    timeout: 500ms
    max_in_flight: 2
    # Every request fails here: backoff would slow it down to a few requests, not enough for
    # each scenario to show its reason (tests/guards.rs tests the backoff).
    backoff: off
    scenarios:
      - {{name: garbage, request: {{path: /garbage}}}}
      - {{name: hang, request: {{path: /hang}}}}
      - {{name: reset, request: {{path: /reset}}}}
      - {{name: huge, request: {{path: /huge}}}}
"#
    )
}

/// Sum of the samples of `name` whose labels contain every one of `labels`.
fn sum(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .filter(|l| labels.iter().all(|want| l.contains(want)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_target_fails_with_the_right_reasons_while_the_rest_keeps_going() {
    let good_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let good_port = good_listener.local_addr().unwrap().port();
    let stop_target = CancellationToken::new();
    tokio::spawn(demo_target::serve(
        good_listener,
        Arc::new(DemoTarget::new()),
        stop_target.clone(),
    ));
    let bad_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let bad_port = bad_listener.local_addr().unwrap().port();
    tokio::spawn(hostile_server(bad_listener));

    let config =
        config::load_str(&config_text(good_port, bad_port), Path::new("test.yml")).unwrap();
    let web = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let web_addr = web.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let daemon = tokio::spawn(daemon::run(
        config,
        web,
        daemon::Options::default(),
        async {
            let _ = stop_rx.await;
        },
    ));

    // reqwest is built without a bundled crypto provider; plain HTTP still needs one installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let metrics_url = format!("http://{web_addr}/metrics");
    let started = Instant::now();
    // /metrics answers throughout, however the bad target behaves.
    let mut text = String::new();
    while started.elapsed() < Duration::from_secs(8) {
        let response = client
            .get(&metrics_url)
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        text = response.text().await.unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();

    let good = sum(&text, "synthex_requests_total", &["target=\"good\""]);
    let expected = 20.0 * elapsed;
    assert!(
        good >= expected * 0.85 && good <= expected * 1.05,
        "good target: {good} requests in {elapsed:.1}s"
    );
    assert_eq!(
        sum(
            &text,
            "synthex_request_failures_total",
            &["target=\"good\""]
        ),
        0.0
    );

    for (scenario, reason) in [
        ("garbage", "other"),
        ("hang", "timeout"),
        ("reset", "body"),
        ("huge", "body"),
    ] {
        let s = format!("scenario=\"{scenario}\"");
        let failed = sum(
            &text,
            "synthex_request_failures_total",
            &[&s, &format!("reason=\"{reason}\"")],
        );
        let all = sum(&text, "synthex_request_failures_total", &[&s]);
        assert!(
            failed > 0.0,
            "{scenario} never failed with reason {reason}:\n{text}"
        );
        assert_eq!(failed, all, "{scenario} failed with other reasons too");
    }
    // A hanging target fills the in-flight cap: slots are skipped and counted, never queued.
    assert!(
        sum(
            &text,
            "synthex_requests_skipped_total",
            &["target=\"bad\"", "reason=\"in_flight_cap\""]
        ) > 0.0
    );
    assert!(sum(&text, "synthex_in_flight_requests", &["target=\"bad\""]) <= 2.0);
    assert_eq!(sum(&text, "synthex_target_up", &["target=\"good\""]), 1.0);
    assert_eq!(sum(&text, "synthex_target_up", &["target=\"bad\""]), 0.0);

    // Shutdown drains within the grace period and returns Ok.
    stop_tx.send(()).unwrap();
    let finished = tokio::time::timeout(Duration::from_secs(10), daemon).await;
    finished
        .expect("daemon stops within the grace period")
        .unwrap()
        .unwrap();
    stop_target.cancel();
}
