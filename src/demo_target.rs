//! The built-in demo service (`synthex demo-target`): a small real HTTP server whose endpoints
//! make every synthex metric meaningful, for the quick start, the tests and the monitoring stack.
//!
//! Endpoints (all `GET` unless noted):
//! - `/health`: 200 `ok`;
//! - `/delay/{ms}`: answers after `ms` milliseconds (at most 60 000, to within tens of
//!   microseconds), a fixed latency to check synthex's numbers against;
//! - `/flaky?error_ratio=R`: 500 with probability `R` (default 0.05), else 200;
//! - `/status/{code}`: answers with that status code;
//! - `/orders/{id}`: a small JSON order (`{"id": …, "status": "shipped"}`) after 2–8 ms, an API
//!   call with a bit of natural spread;
//! - `/cache/{key}`: a cached resource: the first request for a key in 30 s is a miss, the
//!   following ones hits, announced in `X-Cache: HIT|MISS` and `Age`;
//! - `/stats`: the service's own JSON statistics (requests, errors, cache hits and hit ratio, …)
//!   for synthex's stats poller;
//! - `/login`, `/me`, `/cart/items`, `/checkout`: a small session API (log in for a token and
//!   a cookie, use either), so the demo config can show a multi-step flow
//!   ([`crate::demo_session`]);
//! - `/fault`: the failure mode. `GET` shows it; `PUT` or `POST /fault?error_ratio=R&delay_ms=N`
//!   makes every other endpoint (except `/stats`) fail with 503 at ratio `R` and answer `N` ms
//!   later; `DELETE /fault` heals it. Tests and demos use this to make alerts fire and resolve.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use rand::RngExt;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::demo_session::{self, Sessions};
use crate::http_server::{self, Body, Listener, body, text};

/// How long a `/cache/{key}` entry stays fresh.
const CACHE_TTL: Duration = Duration::from_secs(30);

/// Entries kept at most; beyond it the cache is emptied, so random keys cannot grow memory.
const CACHE_CAPACITY: usize = 10_000;

/// Longest delay `/delay/{ms}` and `/fault?delay_ms=` accept.
const MAX_DELAY_MS: u64 = 60_000;

/// The demo service's state: counters for `/stats`, the cache and the failure mode.
#[derive(Debug)]
pub struct DemoTarget {
    started: Instant,
    requests: AtomicU64,
    errors: AtomicU64,
    in_flight: AtomicU64,
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
    cache: Mutex<HashMap<String, Instant>>,
    fault: Mutex<Fault>,
    sessions: Sessions,
}

/// The failure mode set through `/fault`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Fault {
    /// Share of requests answered 503 (0–1).
    pub error_ratio: f64,
    /// Extra latency added to every request.
    pub delay: Duration,
}

impl Fault {
    fn to_json(self) -> serde_json::Value {
        serde_json::json!({
            "error_ratio": self.error_ratio,
            "delay_ms": u64::try_from(self.delay.as_millis()).unwrap_or(u64::MAX),
        })
    }
}

impl Default for DemoTarget {
    fn default() -> Self {
        DemoTarget::new()
    }
}

impl DemoTarget {
    /// A healthy service with an empty cache.
    pub fn new() -> DemoTarget {
        DemoTarget {
            started: Instant::now(),
            requests: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            cache_hits: AtomicU64::new(0),
            cache_misses: AtomicU64::new(0),
            cache: Mutex::new(HashMap::new()),
            fault: Mutex::new(Fault::default()),
            sessions: Sessions::default(),
        }
    }

    /// The failure mode now in force.
    pub fn fault(&self) -> Fault {
        *self.fault.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets the failure mode (`Fault::default()` heals the service).
    pub fn set_fault(&self, fault: Fault) {
        *self.fault.lock().unwrap_or_else(|p| p.into_inner()) = fault;
    }

    /// Answers one request, counting it for `/stats`.
    pub async fn handle(&self, request: &Request<Incoming>) -> Response<Body> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        let response = self.route(request).await;
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        if response.status().is_server_error() {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        response
    }

    async fn route(&self, request: &Request<Incoming>) -> Response<Body> {
        let path = request.uri().path();
        let query = request.uri().query().unwrap_or("");
        if path == "/fault" {
            return self.fault_endpoint(request.method(), query);
        }
        let session = demo_session::is_route(path);
        if !session && request.method() != Method::GET && request.method() != Method::HEAD {
            return text(StatusCode::METHOD_NOT_ALLOWED, "use GET\n");
        }
        if path == "/stats" {
            return self.stats();
        }
        if let Some(failed) = self.apply_fault().await {
            return failed;
        }
        if session {
            let (method, headers) = (request.method(), request.headers());
            return self.sessions.handle(method, path, query, headers);
        }
        let mut segments = path.trim_start_matches('/').splitn(2, '/');
        match (segments.next().unwrap_or(""), segments.next()) {
            ("health", None) => text(StatusCode::OK, "ok\n"),
            ("delay", Some(ms)) => match parse_ms(ms) {
                Some(ms) => {
                    precise_sleep(Duration::from_millis(ms)).await;
                    json(StatusCode::OK, format!("{{\"delay_ms\":{ms}}}"))
                }
                None => bad_request("/delay/{ms}: ms must be an integer from 0 to 60000"),
            },
            ("flaky", None) => match query_f64(query, "error_ratio").unwrap_or(Ok(0.05)) {
                Ok(ratio) if (0.0..=1.0).contains(&ratio) => {
                    if rand::rng().random::<f64>() < ratio {
                        text(StatusCode::INTERNAL_SERVER_ERROR, "injected error\n")
                    } else {
                        json(StatusCode::OK, "{\"ok\":true}".to_string())
                    }
                }
                _ => bad_request("/flaky: error_ratio must be a number from 0 to 1"),
            },
            ("status", Some(code)) => match code.parse::<u16>().ok().and_then(status_code) {
                Some(status) => text(status, &format!("status {}\n", status.as_u16())),
                None => bad_request("/status/{code}: code must be from 200 to 599"),
            },
            ("orders", Some(id)) if !id.is_empty() && !id.contains('/') => {
                let ms = rand::rng().random_range(2..=8);
                tokio::time::sleep(Duration::from_millis(ms)).await;
                let id = serde_json::Value::String(id.to_string());
                json(
                    StatusCode::OK,
                    format!("{{\"id\":{id},\"status\":\"shipped\",\"items\":3}}"),
                )
            }
            ("cache", Some(key)) if !key.is_empty() => self.cached(key),
            _ => text(StatusCode::NOT_FOUND, "not found\n"),
        }
    }

    /// Applies the failure mode: waits its delay, then fails the request at its error ratio.
    async fn apply_fault(&self) -> Option<Response<Body>> {
        let fault = self.fault();
        if !fault.delay.is_zero() {
            tokio::time::sleep(fault.delay).await;
        }
        (fault.error_ratio > 0.0 && rand::rng().random::<f64>() < fault.error_ratio)
            .then(|| text(StatusCode::SERVICE_UNAVAILABLE, "injected fault\n"))
    }

    fn fault_endpoint(&self, method: &Method, query: &str) -> Response<Body> {
        match *method {
            Method::GET | Method::HEAD => {}
            Method::DELETE => self.set_fault(Fault::default()),
            Method::PUT | Method::POST => match parse_fault(query) {
                Ok(fault) => {
                    tracing::info!(
                        error_ratio = fault.error_ratio,
                        delay_ms = u64::try_from(fault.delay.as_millis()).unwrap_or(u64::MAX),
                        "demo target: fault set"
                    );
                    self.set_fault(fault)
                }
                Err(message) => return bad_request(&message),
            },
            _ => return text(StatusCode::METHOD_NOT_ALLOWED, "use GET, PUT or DELETE\n"),
        }
        json(StatusCode::OK, self.fault().to_json().to_string())
    }

    /// A miss stores the key; a hit within the TTL reports the entry's age.
    fn cached(&self, key: &str) -> Response<Body> {
        let now = Instant::now();
        let age = {
            let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            match cache.get(key) {
                Some(stored) if now.duration_since(*stored) < CACHE_TTL => {
                    Some(now.duration_since(*stored))
                }
                _ => {
                    if cache.len() >= CACHE_CAPACITY {
                        cache.clear();
                    }
                    cache.insert(key.to_string(), now);
                    None
                }
            }
        };
        let counter = if age.is_some() {
            &self.cache_hits
        } else {
            &self.cache_misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let mut response = json(StatusCode::OK, "{\"resource\":\"cached\"}".to_string());
        let headers = response.headers_mut();
        headers.insert(
            "x-cache",
            HeaderValue::from_static(if age.is_some() { "HIT" } else { "MISS" }),
        );
        headers.insert("age", HeaderValue::from(age.map_or(0, |a| a.as_secs())));
        response
    }

    fn stats(&self) -> Response<Body> {
        let hits = self.cache_hits.load(Ordering::Relaxed);
        let misses = self.cache_misses.load(Ordering::Relaxed);
        let lookups = hits + misses;
        let hit_ratio = if lookups == 0 {
            0.0
        } else {
            hits as f64 / lookups as f64
        };
        let entries = self.cache.lock().unwrap_or_else(|p| p.into_inner()).len();
        let fault = self.fault();
        let stats = serde_json::json!({
            "uptime_seconds": self.started.elapsed().as_secs_f64(),
            "requests_total": self.requests.load(Ordering::Relaxed),
            "errors_total": self.errors.load(Ordering::Relaxed),
            "in_flight": self.in_flight.load(Ordering::Relaxed),
            "logins_total": self.sessions.logins(),
            "healthy": fault == Fault::default(),
            "cache": {"hits": hits, "misses": misses, "hit_ratio": hit_ratio, "entries": entries},
            "fault": fault.to_json(),
        });
        json(StatusCode::OK, stats.to_string())
    }
}

/// Sleeps `delay` to within a few tens of microseconds. tokio's timer has a 1 ms resolution, so
/// a plain `sleep(50 ms)` ends anywhere from 50 to 52 ms depending on where in the millisecond it
/// started: a "fixed" delay that is not fixed, which would show up as client latency spread.
/// The timer covers all but the last 2 ms, a blocking-pool thread's `thread::sleep` the rest.
async fn precise_sleep(delay: Duration) {
    let deadline = std::time::Instant::now() + delay;
    if let Some(coarse) = delay.checked_sub(PRECISE_TAIL) {
        tokio::time::sleep(coarse).await;
    }
    let rest = deadline.saturating_duration_since(std::time::Instant::now());
    if !rest.is_zero()
        && tokio::task::spawn_blocking(move || std::thread::sleep(rest))
            .await
            .is_err()
    {
        // The blocking pool is shutting down: finish on the (coarser) timer.
        tokio::time::sleep(rest).await;
    }
}

/// The end of a `/delay` that [`precise_sleep`] waits on a thread instead of the timer.
const PRECISE_TAIL: Duration = Duration::from_millis(2);

/// Serves the demo target over plain HTTP on `listener` until `shutdown` is cancelled.
pub async fn serve(
    listener: TcpListener,
    target: Arc<DemoTarget>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    serve_on(Listener::plain(listener), target, shutdown).await
}

/// Serves the demo target on `listener` (HTTPS under its web layer) until `shutdown` is
/// cancelled.
pub async fn serve_on(
    listener: Listener,
    target: Arc<DemoTarget>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    http_server::serve("demo target", listener, shutdown, move |request| {
        let target = Arc::clone(&target);
        async move { target.handle(&request).await }
    })
    .await
}

/// Parses `error_ratio=R&delay_ms=N` (both optional, unknown keys refused).
fn parse_fault(query: &str) -> Result<Fault, String> {
    let mut fault = Fault::default();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "error_ratio" => match value.parse::<f64>() {
                Ok(ratio) if (0.0..=1.0).contains(&ratio) => fault.error_ratio = ratio,
                _ => {
                    return Err(format!(
                        "error_ratio {value:?}: expected a number from 0 to 1"
                    ));
                }
            },
            "delay_ms" => match parse_ms(value) {
                Some(ms) => fault.delay = Duration::from_millis(ms),
                None => {
                    return Err(format!(
                        "delay_ms {value:?}: expected an integer from 0 to {MAX_DELAY_MS}"
                    ));
                }
            },
            other => {
                return Err(format!(
                    "unknown parameter {other:?}: use error_ratio, delay_ms"
                ));
            }
        }
    }
    Ok(fault)
}

fn parse_ms(text: &str) -> Option<u64> {
    text.parse().ok().filter(|ms| *ms <= MAX_DELAY_MS)
}

/// The value of `key` in a query string: `None` when absent, `Some(Err)` when not a number.
fn query_f64(query: &str, key: &str) -> Option<Result<f64, ()>> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.parse().map_err(|_| ()))
}

fn status_code(code: u16) -> Option<StatusCode> {
    (200..=599)
        .contains(&code)
        .then(|| StatusCode::from_u16(code).ok())
        .flatten()
}

fn json(status: StatusCode, content: String) -> Response<Body> {
    body(status, "application/json", Bytes::from(content))
}

fn bad_request(message: &str) -> Response<Body> {
    text(StatusCode::BAD_REQUEST, &format!("{message}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_query_parses_and_refuses_bad_values() {
        assert_eq!(
            parse_fault("error_ratio=0.5&delay_ms=200"),
            Ok(Fault {
                error_ratio: 0.5,
                delay: Duration::from_millis(200)
            })
        );
        assert_eq!(parse_fault(""), Ok(Fault::default()));
        assert!(parse_fault("error_ratio=2").is_err());
        assert!(parse_fault("delay_ms=-1").is_err());
        assert!(parse_fault("delay_ms=60001").is_err());
        assert!(
            parse_fault("speed=1")
                .unwrap_err()
                .contains("unknown parameter")
        );
    }

    #[test]
    fn query_values_are_found_by_key() {
        assert_eq!(
            query_f64("a=1&error_ratio=0.25", "error_ratio"),
            Some(Ok(0.25))
        );
        assert_eq!(query_f64("a=1", "error_ratio"), None);
        assert_eq!(query_f64("error_ratio=x", "error_ratio"), Some(Err(())));
    }

    #[test]
    fn only_real_status_codes_are_served() {
        assert_eq!(status_code(503), Some(StatusCode::SERVICE_UNAVAILABLE));
        assert_eq!(status_code(199), None);
        assert_eq!(status_code(600), None);
    }
}
