//! Test support for tests/probe.rs: domain-model builders (config::load is not available to the
//! probe's tests) and real servers on 127.0.0.1:0 that record what they received.

#![allow(dead_code)]

pub mod servers;

use std::collections::BTreeMap;
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use regex::Regex;
use reqwest::Url;
use synthex::outcome::{FailureReason, Outcome};
use synthex::probe::Probe;
use synthex::scenario::{
    CacheRule, Call, DEFAULT_MAX_TOTAL_RATE, DEFAULT_NATIVE_HISTOGRAM, Expectations, Global,
    GuardSettings, Objectives, Rate, RequestTemplate, StatusMatch, Target, TlsSettings,
};
use synthex::template::{Iteration, Template};
use tokio::time::Instant;

/// One request of `call` on a fresh probe of `target`, due now.
pub async fn run(target: &Target, call: &Call) -> Outcome {
    let probe = Probe::new(target, &global()).unwrap();
    probe.run(call, Instant::now(), &Iteration::default()).await
}

/// The failure reason, `None` on success.
pub fn reason(outcome: &Outcome) -> Option<FailureReason> {
    outcome.failure.as_ref().map(|f| f.reason)
}

/// The failure message, empty on success.
pub fn message(outcome: &Outcome) -> &str {
    outcome.failure.as_ref().map_or("", |f| f.message.as_str())
}

/// Global settings with the documented defaults.
pub fn global() -> Global {
    Global {
        labels: BTreeMap::new(),
        quantiles: vec![0.5, 0.9, 0.95, 0.99],
        quantile_window: Duration::from_secs(300),
        buckets: vec![0.005, 0.01, 0.1, 1.0],
        max_body_bytes: 1024 * 1024,
        marker_header: Some((
            HeaderName::from_static("x-synthetic"),
            HeaderValue::from_static("1"),
        )),
        jitter: 0.1,
        shutdown_grace: Duration::from_secs(10),
        max_total_rate: DEFAULT_MAX_TOTAL_RATE,
        trace_context: true,
        native_histogram: Some(DEFAULT_NATIVE_HISTOGRAM),
    }
}

/// A target at `base_url` with the documented defaults and a 5 s timeout.
pub fn target(base_url: &str) -> Target {
    Target {
        name: "api".to_string(),
        base_url: Url::parse(base_url).unwrap(),
        rate: Rate { per_second: 1.0 },
        timeout: Duration::from_secs(5),
        max_in_flight: 4,
        keep_alive: false,
        guard: GuardSettings::default(),
        follow_redirects: 0,
        headers: HeaderMap::new(),
        proxy: None,
        tls: TlsSettings::default(),
        cache: CacheRule {
            headers: ["x-cache", "x-cache-status", "cf-cache-status"]
                .into_iter()
                .map(HeaderName::from_static)
                .collect(),
            hit: Regex::new(r"(?i)\bhit\b").unwrap(),
            age_is_hit: false,
        },
        stats: None,
        objectives: Objectives::default(),
        scenarios: Vec::new(),
    }
}

/// A GET request of `path` (a template) expecting any 2xx.
pub fn scenario(path: &str) -> Call {
    Call {
        request: RequestTemplate {
            method: Method::GET,
            path: Template::parse(path).unwrap(),
            headers: Vec::new(),
            body: None,
        },
        expect: Expectations {
            status: vec![StatusMatch::Class(2)],
            body_contains: Vec::new(),
            body_regex: Vec::new(),
            json: Vec::new(),
            headers: Vec::new(),
            max_latency: None,
        },
    }
}

/// A target at `base_url` with credentials and an `x-team` header, and a POST scenario of
/// `path` whose body is `{"n": 100}` and whose own `x-team` header overrides the target's.
pub fn posting(base_url: &str, path: &str) -> (Target, Call) {
    let mut t = target(base_url);
    t.headers
        .insert("authorization", "Bearer s3cret".parse().unwrap());
    t.headers.insert("x-team", "from-target".parse().unwrap());
    let mut s = scenario(path);
    s.request.method = Method::POST;
    s.request.headers = vec![(
        "x-team".parse().unwrap(),
        Template::literal("from-scenario"),
    )];
    s.request.body = Some(Template::parse(r#"{"n": {{ int 100..100 }}}"#).unwrap());
    (t, s)
}

/// A free port on 127.0.0.1 with nothing listening: bound, then released.
pub fn refused_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// `target` with keep-alive on, as load tests run it: its requests may go over a direct
/// connection (`Probe::connection`), and `Probe::run` sends them through reqwest's pool.
pub fn kept(base_url: &str) -> Target {
    let mut t = target(base_url);
    t.keep_alive = true;
    t
}

/// A keep-alive target on `server` with a 200 ms timeout.
pub fn impatient(server: &servers::Server) -> Target {
    let mut t = kept(&format!("http://{}", server.addr));
    t.timeout = Duration::from_millis(200);
    t
}

/// One request of `scenario` with `Probe::run` (reqwest, hyper's client), then one on a new
/// direct connection (synthex's own HTTP/1.1 exchange).
pub async fn both(target: &Target, scenario: &Call) -> (Outcome, Outcome) {
    let probe = Probe::new(target, &global()).unwrap();
    let shared = probe
        .run(scenario, Instant::now(), &Iteration::default())
        .await;
    let mut connection = probe.connection().expect("a plain-HTTP keep-alive target");
    let direct = connection
        .run(scenario, Instant::now(), &Iteration::default())
        .await;
    (shared, direct)
}

/// [`both`] for a GET of `/` on `server`.
pub async fn against(server: &servers::Server) -> (Outcome, Outcome) {
    both(&kept(&format!("http://{}", server.addr)), &scenario("/")).await
}

/// Asserts that the two outcomes agree on everything but timings.
pub fn same(shared: &Outcome, direct: &Outcome) {
    assert_eq!(direct.failure, shared.failure);
    assert_eq!(direct.status, shared.status);
    assert_eq!(direct.cache, shared.cache);
    assert_eq!(direct.cert_expiry, shared.cert_expiry);
    let names = |o: &Outcome| o.phases.iter().map(|(name, _)| name).collect::<Vec<_>>();
    assert_eq!(names(direct), names(shared));
}
