//! The exporter over real TCP on 127.0.0.1: content types, health and readiness, the status page
//! (names, escaping, failures), 404/405/HEAD, and graceful shutdown ending `serve`.

#[path = "metrics/support.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use regex::Regex;
use reqwest::{Client, StatusCode};
use synthex::exporter::{AppState, serve};
use synthex::metrics::Metrics;
use synthex::outcome::{CacheResult, FailureReason, Outcome};
use synthex::scenario::Config;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use support::{config as config_of, failed, ok, scenario, target};

fn config() -> Config {
    let mut config = config_of(vec![target(
        "shop-api",
        2.0,
        vec![scenario("order_status", 1), scenario("product_info", 1)],
    )]);
    config.source = "exporter-test.yml".into();
    config
}

/// A 12 ms cache hit, successful or failed.
fn outcome(status: u16, failure: Option<(FailureReason, &str)>) -> Outcome {
    let base = match failure {
        Some((reason, message)) => failed(Some(status), reason, message),
        None => ok(Duration::from_millis(12)),
    };
    Outcome {
        latency: Duration::from_millis(12),
        cache: CacheResult::Hit,
        ..base
    }
}

struct Server {
    base: String,
    state: Arc<AppState>,
    shutdown: CancellationToken,
    task: JoinHandle<std::io::Result<()>>,
    client: Client,
}

async fn start() -> Server {
    // reqwest is built without a bundled crypto provider; plain HTTP still needs one installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let state = Arc::new(AppState::new(
        Arc::new(Metrics::new(&config()).unwrap()),
        Arc::new(AtomicBool::new(false)),
    ));
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(serve(listener, state.clone(), shutdown.clone()));
    let client = Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    Server {
        base,
        state,
        shutdown,
        task,
        client,
    }
}

impl Server {
    async fn get(&self, path: &str) -> (StatusCode, String, String) {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        (status, content_type, response.text().await.unwrap())
    }

    async fn stop(self) {
        self.shutdown.cancel();
        let result = tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("serve() must return after cancellation");
        result.unwrap().unwrap();
    }
}

#[tokio::test]
async fn metrics_endpoint_sends_the_prometheus_content_type() {
    let server = start().await;
    server.state.metrics.record(0, 0, &outcome(200, None));
    let (status, content_type, body) = server.get("/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    assert!(body.contains("synthex_build_info{"), "{body}");
    assert!(body.contains(
        r#"synthex_requests_total{code="200",scenario="order_status",target="shop-api"} 1"#
    ));
    server.stop().await;
}

#[tokio::test]
async fn health_and_readiness() {
    let server = start().await;
    assert_eq!(
        server.get("/-/healthy").await,
        (
            StatusCode::OK,
            "text/plain; charset=utf-8".into(),
            "Healthy".into()
        )
    );
    let (status, _, body) = server.get("/-/ready").await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "Not ready")
    );
    server.state.ready.store(true, Ordering::Relaxed);
    let (status, _, body) = server.get("/-/ready").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "Ready"));
    server.stop().await;
}

#[tokio::test]
async fn status_page_shows_targets_scenarios_and_escaped_failures() {
    let server = start().await;
    let metrics = &server.state.metrics;
    metrics.record(0, 0, &outcome(200, None));
    let nasty = r#"body did not contain "<script>alert('x')</script>" & more"#;
    metrics.record(0, 1, &outcome(200, Some((FailureReason::Assertion, nasty))));
    let (status, content_type, page) = server.get("/").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "text/html; charset=utf-8");
    for expected in [
        "shop-api",
        "order_status",
        "product_info",
        "exporter-test.yml",
        "http://127.0.0.1:8080", // origin only: no user info, path or query
        "<meta http-equiv=\"refresh\" content=\"5\">",
        "<a href=\"/metrics\">",
        "assertion",
        "body did not contain &quot;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&quot; &amp; more",
        "1/s",     // each scenario's share of 2/s
        "12.0 ms", // window p50 of the single 12 ms sample
        "50.00%",  // window error ratio of the target: 1 of 2 failed
        "100.00%", // window cache hit ratio
    ] {
        assert!(
            page.contains(expected),
            "status page lacks {expected:?}:\n{page}"
        );
    }
    assert!(!page.contains("<script>alert"), "unescaped markup:\n{page}");
    assert!(
        !page.contains("secret") && !page.contains("token"),
        "credentials leaked"
    );
    // The failure's time is UTC RFC 3339 to the second.
    let time = Regex::new(r"<td>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ</td>").unwrap();
    assert!(time.is_match(&page), "no failure time:\n{page}");
    // The charts' library and data are inline: nothing is fetched from anywhere.
    assert!(
        !page.contains("<script src") && !page.contains("src=\"http") && !page.contains("@import"),
        "external assets"
    );
    assert!(
        page.contains("class=\"sx-charts\""),
        "the history charts' data"
    );
    server.stop().await;
}

#[tokio::test]
async fn unknown_paths_and_methods_are_refused_and_head_works() {
    let server = start().await;
    let (status, _, _) = server.get("/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let response = server
        .client
        .post(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()["allow"], "GET, HEAD");

    let response = server
        .client
        .head(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert!(response.bytes().await.unwrap().is_empty());
    server.stop().await;
}

#[tokio::test]
async fn cancellation_ends_serve_even_with_an_idle_keep_alive_connection() {
    let server = start().await;
    // Leaves a pooled, idle keep-alive connection open in the client.
    let (status, _, _) = server.get("/-/healthy").await;
    assert_eq!(status, StatusCode::OK);
    let base = server.base.clone();
    let client = server.client.clone();
    server.stop().await;
    // The listener is gone: a new connection is refused.
    let fresh = Client::builder().no_proxy().build().unwrap();
    assert!(fresh.get(format!("{base}/-/healthy")).send().await.is_err());
    drop(client);
}
