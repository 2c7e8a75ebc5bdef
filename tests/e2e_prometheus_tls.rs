//! End to end against a real Prometheus (Debian package `prometheus`): synthex serves its
//! metrics with `--web.config.file` (TLS with a certificate the test made, basic auth with
//! exporter-toolkit's test user), and Prometheus scrapes it like a secured node_exporter. The
//! job with the right password is `up == 1` and sees synthex's series; the same scrape with a
//! wrong password, or without TLS, is `up == 0`; every refusal is counted by synthex.

mod common;
mod web_support;

use std::time::{Duration, Instant};

use common::{Proc, free_port, http_get, require_tool, synthex_bin, urlencode};
use web_support::{ALICE_HASH, ALICE_PASSWORD, Ca, write};

/// Runs an instant query and returns the single value of its result vector.
fn query_value(prometheus: &str, promql: &str) -> Option<f64> {
    let url = format!("{prometheus}/api/v1/query?query={}", urlencode(promql));
    let (status, body) = http_get(&url).ok()?;
    assert_eq!(status, 200, "query {promql}: {body}");
    let json: serde_json::Value = serde_json::from_str(&body).ok()?;
    json.pointer("/data/result/0/value/1")?
        .as_str()?
        .parse()
        .ok()
}

fn scrape_job(name: &str, scheme: &str, password_file: &str, port: u16) -> String {
    format!(
        "  - job_name: {name}\n    scheme: {scheme}\n    tls_config: {{ca_file: ca.pem, server_name: localhost}}\n    basic_auth: {{username: alice, password_file: {password_file}}}\n    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n"
    )
}

#[test]
fn prometheus_scrapes_over_tls_with_basic_auth_and_is_down_with_a_wrong_password() {
    let prometheus_bin = require_tool("prometheus", "prometheus");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = Ca::new("e2e CA");
    let server = ca.server();
    write(d, "ca.pem", &ca.pem.cert);
    write(d, "server.pem", &server.cert);
    write(d, "server.key", &server.key);
    write(d, "password", ALICE_PASSWORD);
    write(d, "wrong", "alice1234");
    let web = write(
        d,
        "web.yml",
        &format!(
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\nbasic_auth_users:\n  alice: {ALICE_HASH}\n"
        ),
    );
    let config = write(
        d,
        "synthex.yml",
        "targets:\n  - name: api\n    base_url: http://127.0.0.1:9\n    rate: 1/s\n    scenarios:\n      - {name: home, weight: 1, request: {path: /}}\n",
    );
    let (synthex_port, prom_port) = (free_port(), free_port());
    let _synthex = Proc::spawn(
        "synthex",
        synthex_bin(),
        &[
            "run",
            &format!("--config.file={}", config.display()),
            &format!("--web.listen-address=127.0.0.1:{synthex_port}"),
            &format!("--web.config.file={}", web.display()),
        ],
        &d.join("synthex.log"),
    );
    let prom_config = write(
        d,
        "prometheus.yml",
        &format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n{}{}{}",
            scrape_job("secured", "https", "password", synthex_port),
            scrape_job("wrong_password", "https", "wrong", synthex_port),
            scrape_job("plain_http", "http", "password", synthex_port),
        ),
    );
    let _prometheus = Proc::spawn(
        "prometheus",
        &prometheus_bin,
        &[
            &format!("--config.file={}", prom_config.display()),
            &format!("--storage.tsdb.path={}", d.join("tsdb").display()),
            &format!("--web.listen-address=127.0.0.1:{prom_port}"),
        ],
        &d.join("prometheus.log"),
    );
    let prometheus = format!("http://127.0.0.1:{prom_port}");
    let up = |job: &str| query_value(&prometheus, &format!("up{{job=\"{job}\"}}"));
    let deadline = Instant::now() + Duration::from_secs(60);
    let ups = loop {
        let ups = [up("secured"), up("wrong_password"), up("plain_http")];
        // Three scrapes of each job after the first one that worked.
        let scrapes =
            query_value(&prometheus, "count_over_time(up{job=\"secured\"}[1m])").unwrap_or(0.0);
        if ups == [Some(1.0), Some(0.0), Some(0.0)] && scrapes >= 3.0 {
            break ups;
        }
        assert!(
            Instant::now() < deadline,
            "up of [secured, wrong_password, plain_http] = {ups:?} after 60 s\nsynthex: {}\nprometheus: {}",
            std::fs::read_to_string(d.join("synthex.log")).unwrap_or_default(),
            std::fs::read_to_string(d.join("prometheus.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(ups, [Some(1.0), Some(0.0), Some(0.0)]);
    // The secured job sees synthex's own counts of what it refused: one 401 per wrong-password
    // scrape (never more than Prometheus made; the count it sees lags by up to a scrape) and a
    // failed handshake per plain-HTTP scrape.
    let counted = |metric: &str| {
        query_value(&prometheus, &format!("{metric}{{job=\"secured\"}}")).unwrap_or(0.0)
    };
    let scraped = |job: &str| {
        query_value(
            &prometheus,
            &format!("count_over_time(up{{job=\"{job}\"}}[1m])"),
        )
        .unwrap_or(0.0)
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let unauthorized = counted("synthex_exporter_requests_unauthorized_total");
        let handshakes = counted("synthex_exporter_tls_handshake_failures_total");
        let (wrong, plain) = (scraped("wrong_password"), scraped("plain_http"));
        assert!(
            unauthorized <= wrong && handshakes <= plain,
            "{unauthorized} 401s for {wrong} wrong-password scrapes, {handshakes} failed handshakes for {plain} plain-HTTP scrapes"
        );
        if unauthorized >= 2.0 && handshakes >= 2.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "refusals not counted: {unauthorized} 401s, {handshakes} failed handshakes"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}
