//! The demo target over real TCP: every endpoint the demo config, the end-to-end tests and the
//! monitoring stack rely on answers as documented, `/stats` counts what happened, and the
//! `/fault` control endpoint breaks and heals the service.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Client, Method, StatusCode};
use synthex::demo_target::{self, DemoTarget};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

struct Target {
    base: String,
    client: Client,
    stop: CancellationToken,
}

impl Target {
    async fn start() -> Target {
        // reqwest is built without a bundled crypto provider; plain HTTP still needs one.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let stop = CancellationToken::new();
        tokio::spawn(demo_target::serve(
            listener,
            Arc::new(DemoTarget::new()),
            stop.clone(),
        ));
        let client = Client::builder().no_proxy().build().unwrap();
        Target { base, client, stop }
    }

    async fn call(&self, method: Method, path: &str) -> reqwest::Response {
        self.client
            .request(method, format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.call(Method::GET, path).await
    }

    async fn stats(&self) -> serde_json::Value {
        json(self.get("/stats").await).await
    }
}

async fn json(response: reqwest::Response) -> serde_json::Value {
    serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
}

impl Drop for Target {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

#[tokio::test]
async fn fixed_endpoints_answer_as_documented() {
    let t = Target::start().await;
    let health = t.get("/health").await;
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(health.text().await.unwrap(), "ok\n");

    let order = t.get("/orders/42").await;
    assert_eq!(order.status(), StatusCode::OK);
    assert_eq!(
        order.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    let order = json(order).await;
    assert_eq!(order["id"], "42");
    assert_eq!(order["status"], "shipped");

    assert_eq!(t.get("/status/418").await.status().as_u16(), 418);
    assert_eq!(t.get("/status/99").await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(t.get("/nowhere").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        t.call(Method::POST, "/health").await.status(),
        StatusCode::METHOD_NOT_ALLOWED
    );
}

#[tokio::test]
async fn delay_holds_the_answer_back_at_least_as_long_as_asked() {
    let t = Target::start().await;
    let started = Instant::now();
    let response = t.get("/delay/120").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(120));
    assert_eq!(
        t.get("/delay/60001").await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(t.get("/delay/abc").await.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn flaky_fails_at_the_requested_ratio() {
    let t = Target::start().await;
    for _ in 0..5 {
        assert_eq!(
            t.get("/flaky?error_ratio=1").await.status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(t.get("/flaky?error_ratio=0").await.status(), StatusCode::OK);
    }
    assert_eq!(
        t.get("/flaky?error_ratio=1.5").await.status(),
        StatusCode::BAD_REQUEST
    );
    // The default ratio is 5 %: 400 requests hold 20 errors on average, 0 or 60+ is
    // vanishingly unlikely (more than 4 standard deviations).
    let mut errors = 0;
    for _ in 0..400 {
        if t.get("/flaky").await.status() != StatusCode::OK {
            errors += 1;
        }
    }
    assert!((1..60).contains(&errors), "{errors} errors in 400");
}

#[tokio::test]
async fn cache_misses_once_per_key_then_hits_and_stats_count_it() {
    let t = Target::start().await;
    let first = t.get("/cache/a").await;
    assert_eq!(first.headers()["x-cache"], "MISS");
    assert_eq!(first.headers()["age"], "0");
    for _ in 0..3 {
        assert_eq!(t.get("/cache/a").await.headers()["x-cache"], "HIT");
    }
    assert_eq!(t.get("/cache/b").await.headers()["x-cache"], "MISS");
    let stats = t.stats().await;
    assert_eq!(stats["cache"]["hits"], 3);
    assert_eq!(stats["cache"]["misses"], 2);
    assert_eq!(stats["cache"]["hit_ratio"], 0.6);
    assert_eq!(stats["cache"]["entries"], 2);
    // Five cache requests and this /stats request.
    assert_eq!(stats["requests_total"], 6);
    assert_eq!(stats["healthy"], true);
}

#[tokio::test]
async fn fault_breaks_every_endpoint_but_stats_and_heals_on_delete() {
    let t = Target::start().await;
    let set = t
        .call(Method::PUT, "/fault?error_ratio=1&delay_ms=100")
        .await;
    assert_eq!(set.status(), StatusCode::OK);
    let shown = json(t.get("/fault").await).await;
    assert_eq!(
        shown,
        serde_json::json!({"error_ratio": 1.0, "delay_ms": 100})
    );

    let started = Instant::now();
    assert_eq!(
        t.get("/health").await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert!(started.elapsed() >= Duration::from_millis(100));
    assert_eq!(
        t.get("/orders/1").await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    let stats = t.stats().await;
    assert_eq!(stats["healthy"], false);
    assert_eq!(stats["errors_total"], 2);
    assert_eq!(stats["fault"]["delay_ms"], 100);

    let refused = t.call(Method::PUT, "/fault?error_ratio=7").await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert!(refused.text().await.unwrap().contains("error_ratio"));

    assert_eq!(
        t.call(Method::DELETE, "/fault").await.status(),
        StatusCode::OK
    );
    assert_eq!(t.get("/health").await.status(), StatusCode::OK);
    assert_eq!(t.stats().await["healthy"], true);
}
