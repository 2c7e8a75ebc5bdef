//! The exporter's HTTP server (hyper 1, HTTP/1.1). Endpoints, as Prometheus exporters serve them:
//! - `GET /metrics`: every metric in the format the scraper's `Accept` header prefers
//!   ([`Format::negotiate`]): the protobuf exposition (with the native duration histogram),
//!   OpenMetrics (with exemplars), or else the text format 0.0.4, each with the exact
//!   Content-Type Prometheus 3 requires (`text/plain; version=0.0.4; charset=utf-8`);
//! - `GET /`: the status page ([`crate::status_page`]);
//! - `GET /api/v1/history`: the status page's last hour per target and scenario, as JSON
//!   ([`crate::status_api`]);
//! - `GET /badge/TARGET.svg?metric=status|p95|uptime`: a badge of one target ([`crate::badge`]);
//! - `GET /-/healthy`: 200 `Healthy` while the process serves at all (liveness);
//! - `GET /-/ready`: 200 `Ready` once the daemon says so (config loaded, first results), else
//!   503 `Not ready` (readiness).
//!
//! - `POST /-/reload` (or `PUT`, as Prometheus accepts): re-read the config file; 200 when the
//!   new config runs, 500 with the reason when it was refused (the old one keeps running). A
//!   lifecycle endpoint: only with `--web.enable-lifecycle`, else 403
//!   `Lifecycle API is not enabled.`, Prometheus's answer.
//!
//! - `POST /-/targets/NAME/pause` and `POST /-/targets/NAME/resume` (or `PUT`): stop a target's
//!   synthetic traffic during an incident and start it again (target names are URL-safe by
//!   construction); 200 naming the new state, 404 for a target that does not run. Lifecycle
//!   endpoints too. A browser's form post (it accepts `text/html`) is sent back to `/` with 303.
//!
//! During a load test (`synthex load --web.listen-address`), `/` is the live page of the test
//! instead ([`crate::loadtest::live_page`]), `GET /api/v1/load` its data, and `POST /-/stop` (a
//! lifecycle endpoint, like reload) ends the test as its Stop button does.
//!
//! `HEAD` works wherever `GET` does; any other method gets 405 with an `Allow` header, any other
//! path 404. Shutdown stops accepting, lets requests in progress finish, then returns.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use http::header::{ACCEPT, ALLOW, CACHE_CONTROL, LOCATION};
use http::uri::Uri;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use tokio_util::sync::CancellationToken;

use crate::badge::{self, BadgeMetric};
use crate::guard::Guards;
use crate::http_server::{self, Body, Listener, body, text};
use crate::loadtest::live::LiveTest;
use crate::loadtest::live_page;
use crate::metrics::{Format, Metrics};
use crate::reload::{Reloader, Trigger};
use crate::{status_api, status_page};

/// What the handlers read.
pub struct AppState {
    /// The metrics to encode and the status data to show.
    pub metrics: Arc<Metrics>,
    /// Set by the daemon once the config is loaded and every target has a result.
    pub ready: Arc<AtomicBool>,
    /// `--web.enable-lifecycle`: whether the lifecycle endpoints act or answer 403.
    pub enable_lifecycle: bool,
    /// Where `POST /-/reload` sends its request; `None` where nothing can be reloaded (a load
    /// test), and then the path does not exist.
    pub reloader: Option<Reloader>,
    /// What `POST /-/targets/NAME/pause|resume` acts on; `None` where no target can be paused
    /// (a load test), and then those paths do not exist.
    pub guards: Option<Guards>,
    /// The running load test, whose live page `/` then shows; `None` in the daemon.
    pub live: Option<Arc<LiveTest>>,
}

impl AppState {
    /// The state of an exporter with the lifecycle endpoints off and nothing to reload (a load
    /// test's exporter); the daemon sets both.
    pub fn new(metrics: Arc<Metrics>, ready: Arc<AtomicBool>) -> AppState {
        AppState {
            metrics,
            ready,
            enable_lifecycle: false,
            reloader: None,
            guards: None,
            live: None,
        }
    }

    /// The state of a load test's exporter: `/` shows `live`, and `POST /-/stop` ends it when
    /// `enable_lifecycle`.
    pub fn for_load_test(
        metrics: Arc<Metrics>,
        live: Arc<LiveTest>,
        enable_lifecycle: bool,
    ) -> AppState {
        AppState {
            enable_lifecycle,
            live: Some(live),
            ..AppState::new(metrics, Arc::new(AtomicBool::new(true)))
        }
    }
}

/// Serves HTTP on `listener` until `shutdown` is cancelled, then drains open requests (at
/// most 5 s) and returns. Accept errors are logged and retried, never fatal: the
/// exporter must outlive a transient file-descriptor shortage. The server's connection
/// counts join the metrics.
pub async fn serve(
    listener: impl Into<Listener> + Send,
    state: Arc<AppState>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let listener = listener.into();
    if let Err(error) = listener.stats().register(state.metrics.registry()) {
        tracing::warn!(%error, "exporter: its connection counts are not exported");
    }
    http_server::serve("exporter", listener, shutdown, move |request| {
        let answer = handle(&request, &state);
        async move {
            match answer {
                Answer::Now(response) => response,
                Answer::Metrics(metrics, format) => encode_off_thread(metrics, format).await,
                Answer::Reload(reloader) => match reloader.reload(Trigger::Http).await {
                    Ok(()) => text(StatusCode::OK, ""),
                    Err(message) => {
                        text(StatusCode::INTERNAL_SERVER_ERROR, &format!("{message}\n"))
                    }
                },
            }
        }
    })
    .await
}

/// A response ready at once, `/metrics` of these metrics (encoded on a blocking thread), or
/// the outcome of a reload.
enum Answer {
    Now(Response<Body>),
    Metrics(Arc<Metrics>, Format),
    Reload(Reloader),
}

/// Encodes `/metrics` on the blocking pool. Its cost grows with the config (about 1 ms for 100
/// scenarios) and the daemon probes from a single-threaded runtime, where an inline encode
/// would hold up every response arriving meanwhile and add that to its latency.
async fn encode_off_thread(metrics: Arc<Metrics>, format: Format) -> Response<Body> {
    match tokio::task::spawn_blocking(move || metrics_response(&metrics, format)).await {
        Ok(response) => response,
        Err(error) => {
            tracing::error!(%error, "exporter: the metrics encoder did not finish");
            text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "encoding metrics did not finish\n",
            )
        }
    }
}

/// The endpoints, for routing and the 405 answer.
enum Endpoint<'a> {
    Metrics,
    Status,
    History,
    /// A target's badge (the name without `.svg`).
    Badge(&'a str),
    /// The load test's live data.
    Load,
    Healthy,
    Ready,
}

/// The gate every lifecycle endpoint passes first: 405 (with `Allow`) unless POST or PUT, then
/// 403 unless `--web.enable-lifecycle`, in Prometheus's order and words.
fn lifecycle_gate(request: &Request<Incoming>, state: &AppState) -> Option<Response<Body>> {
    if request.method() != Method::POST && request.method() != Method::PUT {
        return Some(method_not_allowed(
            "Only POST or PUT requests allowed\n",
            "POST, PUT",
        ));
    }
    if !state.enable_lifecycle {
        return Some(text(StatusCode::FORBIDDEN, "Lifecycle API is not enabled."));
    }
    None
}

/// 405 with the `Allow` header naming the methods that would work.
fn method_not_allowed(message: &str, allow: &'static str) -> Response<Body> {
    let mut response = text(StatusCode::METHOD_NOT_ALLOWED, message);
    response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    response
}

fn handle(request: &Request<Incoming>, state: &AppState) -> Answer {
    if request.uri().path() == "/-/reload"
        && let Some(reloader) = &state.reloader
    {
        return match lifecycle_gate(request, state) {
            Some(refused) => Answer::Now(refused),
            None => Answer::Reload(reloader.clone()),
        };
    }
    if let Some(guards) = &state.guards
        && let Some(rest) = request.uri().path().strip_prefix("/-/targets/")
    {
        return Answer::Now(
            lifecycle_gate(request, state)
                .unwrap_or_else(|| pause_or_resume(request, guards, rest)),
        );
    }
    if request.uri().path() == "/-/stop"
        && let Some(live) = &state.live
    {
        return Answer::Now(lifecycle_gate(request, state).unwrap_or_else(|| {
            live.stop();
            text(
                StatusCode::OK,
                "Stopping the load test: the requests in flight end now and the reports are \
                 written.\n",
            )
        }));
    }
    let path = request.uri().path();
    let badge = path
        .strip_prefix("/badge/")
        .and_then(|rest| rest.strip_suffix(".svg"));
    let endpoint = match (path, badge) {
        (_, Some(name)) => Endpoint::Badge(name),
        ("/metrics", _) => Endpoint::Metrics,
        ("/", _) => Endpoint::Status,
        ("/api/v1/history", _) => Endpoint::History,
        ("/api/v1/load", _) if state.live.is_some() => Endpoint::Load,
        ("/-/healthy", _) => Endpoint::Healthy,
        ("/-/ready", _) => Endpoint::Ready,
        _ => {
            return Answer::Now(text(
                StatusCode::NOT_FOUND,
                "Not found: try /metrics or /\n",
            ));
        }
    };
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return Answer::Now(method_not_allowed(
            "Method not allowed: use GET or HEAD\n",
            "GET, HEAD",
        ));
    }
    let response = match endpoint {
        Endpoint::Metrics => {
            let accept = request.headers().get(ACCEPT).and_then(|v| v.to_str().ok());
            return Answer::Metrics(Arc::clone(&state.metrics), Format::negotiate(accept));
        }
        Endpoint::Status => {
            let page = match &state.live {
                Some(live) => live_page::render(live),
                None => status_page::render(
                    &state.metrics.status(),
                    state.ready.load(Ordering::Relaxed),
                    state.enable_lifecycle && state.guards.is_some(),
                ),
            };
            fresh(body(
                StatusCode::OK,
                "text/html; charset=utf-8",
                page.into(),
            ))
        }
        Endpoint::History => fresh(body(
            StatusCode::OK,
            "application/json",
            status_api::history_json(&state.metrics.status()).into(),
        )),
        Endpoint::Load => match (&state.live, since(request.uri())) {
            (Some(live), Ok(since)) => fresh(body(
                StatusCode::OK,
                "application/json",
                live.json(since).into(),
            )),
            (_, Err(message)) => text(StatusCode::BAD_REQUEST, &message),
            (None, _) => text(StatusCode::NOT_FOUND, "no load test runs here\n"),
        },
        Endpoint::Badge(name) => badge_response(state, name, request.uri()),
        Endpoint::Healthy => text(StatusCode::OK, "Healthy"),
        Endpoint::Ready if state.ready.load(Ordering::Relaxed) => text(StatusCode::OK, "Ready"),
        Endpoint::Ready => text(StatusCode::SERVICE_UNAVAILABLE, "Not ready"),
    };
    Answer::Now(response)
}

/// `/-/targets/{rest}` once past the lifecycle gate: `rest` is `NAME/pause` or `NAME/resume`.
fn pause_or_resume(request: &Request<Incoming>, guards: &Guards, rest: &str) -> Response<Body> {
    let Some((name, action)) = rest.rsplit_once('/') else {
        return text(
            StatusCode::NOT_FOUND,
            "Not found: use /-/targets/NAME/pause or /-/targets/NAME/resume\n",
        );
    };
    let Some(guard) = guards.get(name) else {
        return text(
            StatusCode::NOT_FOUND,
            &format!("Not found: no target named {name:?} runs\n"),
        );
    };
    let (changed, state) = match action {
        "pause" => (guard.pause(), "paused"),
        "resume" => (guard.resume(), "running"),
        _ => {
            return text(
                StatusCode::NOT_FOUND,
                "Not found: the action is pause or resume\n",
            );
        }
    };
    let accepts_html = request
        .headers()
        .get(ACCEPT)
        .and_then(|accept| accept.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    if accepts_html {
        let mut response = text(StatusCode::SEE_OTHER, "");
        response
            .headers_mut()
            .insert(LOCATION, HeaderValue::from_static("/"));
        return response;
    }
    let already = if changed { "" } else { " (already)" };
    text(StatusCode::OK, &format!("target {name} {state}{already}\n"))
}

/// `response` marked never to be cached: it shows the state of the moment.
fn fresh(mut response: Response<Body>) -> Response<Body> {
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The value of query parameter `name`, as sent (the values synthex reads need no decoding).
fn query_param<'a>(uri: &'a Uri, name: &str) -> Option<&'a str> {
    uri.query()?
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// `?since=N` of `/api/v1/load`: the first timeline interval the client does not have yet.
fn since(uri: &Uri) -> Result<usize, String> {
    query_param(uri, "since").map_or(Ok(0), |value| {
        value
            .parse()
            .map_err(|_| format!("since={value:?}: expected a whole number of intervals\n"))
    })
}

/// The SVG badge of target `name`, 404 for an unknown target, 400 for an unknown metric.
fn badge_response(state: &AppState, name: &str, uri: &Uri) -> Response<Body> {
    let metric = match BadgeMetric::parse(query_param(uri, "metric")) {
        Ok(metric) => metric,
        Err(message) => return text(StatusCode::BAD_REQUEST, &format!("{message}\n")),
    };
    match badge::badge(&state.metrics.status(), name, metric) {
        Some(badge) => fresh(body(
            StatusCode::OK,
            "image/svg+xml",
            badge::render(&badge).into(),
        )),
        None => text(
            StatusCode::NOT_FOUND,
            &format!(
                "no target named {:?} in the running configuration\n",
                name.chars().take(100).collect::<String>()
            ),
        ),
    }
}

fn metrics_response(metrics: &Metrics, format: Format) -> Response<Body> {
    match metrics.encode_as(format) {
        Ok(encoded) => body(StatusCode::OK, format.content_type(), encoded.into()),
        Err(error) => {
            tracing::error!(%error, "exporter: encoding metrics failed");
            text(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("encoding metrics failed: {error}\n"),
            )
        }
    }
}
