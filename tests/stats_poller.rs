//! The stats poller against the real demo target over TCP: configured JSON fields become
//! `synthex_target_stat{target,field}` gauges; a missing field, a non-2xx answer or a body that
//! is not JSON counts in `synthex_stats_poll_failures_total` and removes the stale gauges.

use std::path::Path;
use std::sync::Arc;

use prometheus::Registry;
use prometheus::proto::MetricFamily;
use synthex::config;
use synthex::demo_target::{self, DemoTarget};
use synthex::probe::Probe;
use synthex::scenario::StatsEndpoint;
use synthex::stats_poller::StatsPoller;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// A config with one target whose stats endpoint is `url` with `fields`.
fn endpoint(port: u16, url: &str, fields: &str) -> (Probe, StatsEndpoint) {
    let text = format!(
        "targets:\n  - name: demo\n    base_url: http://127.0.0.1:{port}\n    rate: 1/s\n    stats: {{url: {url}, fields: {{{fields}}}}}\n    scenarios: [{{name: health, request: {{path: /health}}}}]\n"
    );
    let config = config::load_str(&text, Path::new("test.yml")).unwrap();
    let target = &config.targets[0];
    let probe = Probe::new(target, &config.global).unwrap();
    (probe, target.stats.clone().unwrap())
}

async fn demo_target() -> (u16, CancellationToken) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let stop = CancellationToken::new();
    tokio::spawn(demo_target::serve(
        listener,
        Arc::new(DemoTarget::new()),
        stop.clone(),
    ));
    (port, stop)
}

fn family<'a>(families: &'a [MetricFamily], name: &str) -> Option<&'a MetricFamily> {
    families.iter().find(|f| f.name() == name)
}

/// `field` label → value of `synthex_target_stat`.
fn stats(registry: &Registry) -> Vec<(String, f64)> {
    let families = registry.gather();
    let Some(family) = family(&families, "synthex_target_stat") else {
        return Vec::new();
    };
    family
        .get_metric()
        .iter()
        .map(|m| {
            let field = m
                .get_label()
                .iter()
                .find(|l| l.name() == "field")
                .unwrap()
                .value()
                .to_string();
            (field, m.get_gauge().get_value())
        })
        .collect()
}

fn failures(registry: &Registry) -> f64 {
    let families = registry.gather();
    family(&families, "synthex_stats_poll_failures_total")
        .map(|f| f.get_metric()[0].get_counter().get_value())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn fields_become_gauges_and_failures_are_counted() {
    let (port, stop) = demo_target().await;
    let registry = Registry::new();
    let poller = StatsPoller::new(&registry).unwrap();

    let (probe, good) = endpoint(
        port,
        "/stats",
        "requests: /requests_total, hit_ratio: /cache/hit_ratio, healthy: /healthy",
    );
    poller.poll_once("demo", &good, &probe).await.unwrap();
    // The first poll is the demo target's first request.
    assert_eq!(
        stats(&registry),
        vec![
            ("healthy".to_string(), 1.0),
            ("hit_ratio".to_string(), 0.0),
            ("requests".to_string(), 1.0),
        ]
    );
    poller.poll_once("demo", &good, &probe).await.unwrap();
    assert!(stats(&registry).contains(&("requests".to_string(), 2.0)));
    assert_eq!(failures(&registry), 0.0);

    // A field the document lacks: counted, and its gauge is not left at a stale value.
    let (probe, partial) = endpoint(port, "/stats", "requests: /requests_total, gone: /nope");
    let error = poller
        .poll_once("demo", &partial, &probe)
        .await
        .unwrap_err();
    assert_eq!(error, "field gone: /nope is not in the document");
    assert_eq!(failures(&registry), 1.0);
    assert!(!stats(&registry).iter().any(|(f, _)| f == "gone"));

    // Not 2xx, then not JSON: both counted, and every field of the endpoint is removed.
    let (probe, missing) = endpoint(port, "/status/404", "requests: /requests_total");
    let error = poller
        .poll_once("demo", &missing, &probe)
        .await
        .unwrap_err();
    assert_eq!(error, "status 404, expected 2xx");
    assert!(!stats(&registry).iter().any(|(f, _)| f == "requests"));
    let (probe, text) = endpoint(port, "/health", "requests: /requests_total");
    let error = poller.poll_once("demo", &text, &probe).await.unwrap_err();
    assert!(error.starts_with("the body is not JSON"), "{error}");
    assert_eq!(failures(&registry), 3.0);
    stop.cancel();
}

#[tokio::test]
async fn an_unreachable_endpoint_is_a_counted_failure_with_its_reason() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let registry = Registry::new();
    let poller = StatsPoller::new(&registry).unwrap();
    let (probe, endpoint) = endpoint(port, "/stats", "requests: /requests_total");
    let error = poller
        .poll_once("demo", &endpoint, &probe)
        .await
        .unwrap_err();
    assert!(error.starts_with("connect:"), "{error}");
    assert_eq!(failures(&registry), 1.0);
}
