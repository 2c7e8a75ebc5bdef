//! The probe: sends one synthetic request of a scenario with reqwest and turns whatever happens
//! into an [`Outcome`].
//!
//! One [`Probe`] per target owns that target's HTTP client (TLS roots, proxy, pool policy) and
//! the shared state that outlives a request (last seen certificate expiry). [`Probe::run`]
//! renders the request, sends it, reads the body up to `global.max_body_bytes`, times the
//! phases, checks the expectations and classifies failures. It never fails: a failed request
//! is an `Outcome` with a `Failure`, because for a canary a failure is the data.
//!
//! A load test's virtual user can instead own a [`Connection`] (plain HTTP only), which sends
//! the same requests and judges them the same way without reqwest's per-request machinery. A
//! plain-HTTP request with `keep_alive: false` (the canary's default) goes over a one-shot
//! `Connection` too: with no pool to manage, reqwest only adds work; HTTPS, proxies and pooled
//! targets use reqwest.
//!
//! Submodules: `client` builds the reqwest client, `connection` the direct connection (whose
//! HTTP/1.1 exchange is `http1`'s), `headers` a request's header lines, `tls` the rustls
//! configuration and expiry-recording verifier, `timing` the DNS/connect hooks, `classify` maps
//! errors to failure reasons, `expect` checks responses, `cache` detects cache hits, `redirect`
//! decides which redirects are followed and `retry_after` reads how long a 429 or 503 asks
//! clients to wait.

mod cache;
mod classify;
pub(crate) mod client;
mod connection;
mod expect;
mod headers;
mod http1;
mod redirect;
mod retry_after;
mod timing;
pub(crate) mod tls;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};
use http_body_util::BodyExt;
use hyper::body::Body;
use reqwest::Url;
use thiserror::Error;
use tokio::time::Instant;

pub use self::connection::{Connection, IdleConnections};

use self::classify::Stage;
use self::client::Endpoint;
use self::connection::Route;
use self::headers::RequestHeaders;
use self::timing::{ConnectionSlot, ConnectionTimes};
use self::tls::CertExpiry;
use crate::flow::Session;
use crate::outcome::{CacheResult, Failure, FailureReason, Outcome};
use crate::scenario::{CacheRule, Call, Global, Target};
use crate::template::{Iteration, RenderError};
use crate::trace_context::TraceId;

/// Why a target's probe could not be built: a configuration problem, reported at start-up.
#[derive(Debug, Error)]
#[error("target {target:?}: {kind}")]
pub struct ProbeError {
    /// The target whose settings are at fault.
    pub target: String,
    /// What is wrong.
    pub kind: ProbeErrorKind,
}

/// The kinds of [`ProbeError`], so callers can tell a bad CA file from a bad proxy.
#[derive(Debug, Error)]
pub enum ProbeErrorKind {
    /// `tls.ca_file` cannot be read or holds no usable certificate.
    #[error("tls.ca_file {}: {detail}", path.display())]
    CaFile {
        /// The configured file.
        path: PathBuf,
        /// What went wrong, e.g. `no PEM CERTIFICATE block found`.
        detail: String,
    },
    /// `tls.server_name` is neither a DNS name nor an IP address.
    #[error("tls.server_name {0:?} is not a valid DNS name or IP address")]
    ServerName(String),
    /// rustls refused the TLS settings.
    #[error("tls settings: {0}")]
    Tls(String),
    /// `proxy` is not a usable proxy URL.
    #[error("proxy: {0}")]
    Proxy(String),
    /// reqwest could not build the client.
    #[error("cannot build the HTTP client: {0}")]
    Client(reqwest::Error),
}

/// Sends the requests of one target. Built once per target; share it with `Arc`.
#[derive(Debug)]
pub struct Probe {
    client: reqwest::Client,
    endpoint: Endpoint,
    cache: CacheRule,
    max_body_bytes: u64,
    timeout: Duration,
    cert_expiry: Arc<CertExpiry>,
    /// Set when requests may go over a direct connection (see [`Connection`]).
    route: Option<Route>,
    /// The target's `keep_alive`: pooled connections, or one per request.
    keep_alive: bool,
    /// `follow_redirects` is above 0: only reqwest follows redirects.
    follows_redirects: bool,
    /// `global.trace_context`: every request carries a `traceparent` header.
    trace_context: bool,
}

/// What came back from the wire, before expectations are checked.
#[derive(Debug, Default)]
struct Exchange {
    status: Option<u16>,
    headers: HeaderMap,
    body: Vec<u8>,
    body_bytes: u64,
    head_at: Option<Instant>,
    body_end: Option<Instant>,
    /// A transport or body failure (not an expectation miss).
    failure: Option<Failure>,
}

impl Exchange {
    fn failed(failure: Failure) -> Exchange {
        Exchange {
            failure: Some(failure),
            ..Exchange::default()
        }
    }
}

impl Probe {
    /// Builds the client for `target`: reads `tls.ca_file`, sets up the proxy, pool and
    /// timeouts. Errors are configuration problems, worth refusing to start over.
    pub fn new(target: &Target, global: &Global) -> Result<Probe, ProbeError> {
        let cert_expiry = Arc::new(CertExpiry::default());
        let (client, endpoint) =
            client::build(target, global, cert_expiry.clone()).map_err(|kind| ProbeError {
                target: target.name.clone(),
                kind,
            })?;
        Ok(Probe {
            client,
            endpoint,
            cache: target.cache.clone(),
            max_body_bytes: global.max_body_bytes,
            timeout: target.timeout,
            cert_expiry,
            route: Route::of(target),
            keep_alive: target.keep_alive,
            follows_redirects: target.follow_redirects > 0,
            trace_context: global.trace_context,
        })
    }

    /// Sends one request of `call` that was due at `scheduled`, its templates rendered with
    /// `iteration`'s row, variables and counter. Latency runs from `scheduled`, so a late start
    /// shows in it. Never panics and never fails: problems are in the returned `Outcome`.
    pub async fn run(&self, call: &Call, scheduled: Instant, iteration: &Iteration) -> Outcome {
        self.exchange_for(call, scheduled, iteration, None)
            .await
            .outcome
    }

    /// Sends one request of a flow step within `session` (its variables fill the templates,
    /// its cookies go in a `Cookie` header) and returns the response too, for the flow to take
    /// cookies and variables from.
    pub async fn send(&self, call: &Call, session: &Session, scheduled: Instant) -> Reply {
        self.exchange_for(call, scheduled, session.iteration(), Some(session))
            .await
    }

    async fn exchange_for(
        &self,
        call: &Call,
        scheduled: Instant,
        iteration: &Iteration,
        session: Option<&Session>,
    ) -> Reply {
        if !self.keep_alive
            && let Some(mut once) = self.direct()
        {
            return once.exchange_for(call, scheduled, iteration, session).await;
        }
        let slot = ConnectionSlot::default();
        let send_start = Instant::now();
        let url = |path: String| self.endpoint.url(&path).map_err(other);
        let (mut trace_id, mut path) = (None, None);
        let exchange = match self.render(call, iteration, session, url) {
            Ok(mut rendered) => {
                trace_id = rendered.trace_id;
                path = rendered.path.take();
                let request = rendered.into_reqwest();
                let sent = timing::scope(slot.clone(), self.client.execute(request)).await;
                match sent {
                    Ok(response) => {
                        let failed = |e| classify::failure(e, Stage::Body, self.timeout);
                        self.receive(response.into(), failed).await
                    }
                    Err(error) => {
                        Exchange::failed(classify::failure(error, Stage::Head, self.timeout))
                    }
                }
            }
            Err(failure) => Exchange::failed(failure),
        };
        let sent = Sent {
            scheduled,
            start: send_start,
            trace_id,
            path,
        };
        self.conclude(call, sent, slot.times(), exchange)
    }

    /// Turns what came back into the request's `Outcome`: latency from its scheduled start to
    /// now, phases, the expectations of `scenario` and the cache classification.
    fn conclude(
        &self,
        call: &Call,
        sent: Sent,
        times: ConnectionTimes,
        exchange: Exchange,
    ) -> Reply {
        let finished = Instant::now();
        let latency = finished.saturating_duration_since(sent.scheduled);
        let phases = times.phases(sent.start, exchange.head_at, exchange.body_end);
        let failure = match exchange.status {
            // A wrong status says more than anything found after it, even a broken body.
            Some(status) => expect::check_status(&call.expect, status)
                .or(exchange.failure)
                .or_else(|| {
                    expect::check_response(&call.expect, &exchange.headers, &exchange.body, latency)
                }),
            None => exchange.failure,
        };
        // The message goes to logs, the status page and reports: a URL in it (a rendered path
        // with `?api_key=`, an error quoting the request) must not carry its secret there.
        let failure = failure.map(|Failure { reason, message }| Failure {
            reason,
            message: crate::config::redact(&message).into_owned(),
        });
        let cache = match exchange.status {
            Some(_) => cache::classify(&self.cache, &exchange.headers),
            None => CacheResult::Unknown,
        };
        // One wall-clock read per request: the load test's hot path counts every one.
        let finished_at = SystemTime::now();
        let retry_after = exchange
            .status
            .and_then(|status| retry_after::requested_wait(status, &exchange.headers, finished_at));
        let outcome = Outcome {
            latency,
            status: exchange.status,
            retry_after,
            failure,
            cache,
            phases,
            body_bytes: exchange.body_bytes,
            cert_expiry: self.cert_expiry.get(),
            finished_at,
            trace_id: sent.trace_id,
        };
        Reply {
            outcome,
            headers: exchange.headers,
            body: exchange.body,
            path: sent.path,
        }
    }

    /// GETs `url` with this target's client and base headers (credentials, marker, TLS
    /// settings, proxy), reading at most `max_body_bytes`: for side requests such as the
    /// target's stats endpoint, which must reach the service exactly as the probes do.
    pub async fn fetch(&self, url: Url) -> Result<(u16, Vec<u8>), Failure> {
        let mut request = reqwest::Request::new(http::Method::GET, url);
        *request.headers_mut() = self.endpoint.headers.map().clone();
        let response = self
            .client
            .execute(request)
            .await
            .map_err(|error| classify::failure(error, Stage::Head, self.timeout))?;
        let status = response.status().as_u16();
        let failed = |e| classify::failure(e, Stage::Body, self.timeout);
        match self.read_body(reqwest::Body::from(response), failed).await {
            (body, _, None) => Ok((status, body)),
            (_, _, Some(failure)) => Err(failure),
        }
    }

    /// Renders the scenario's templates into a request, making its URL of the rendered path
    /// with `url`. Synchronous on purpose: the thread-local RNG must not live across an await.
    /// A template the iteration cannot fill (an unset variable, an unreadable row) fails the
    /// request before anything is sent.
    fn render<U>(
        &self,
        call: &Call,
        iteration: &Iteration,
        session: Option<&Session>,
        url: impl FnOnce(String) -> Result<U, Failure>,
    ) -> Result<Rendered<'_, U>, Failure> {
        let mut rng = rand::rng();
        let mut ctx = iteration.send_context(&mut rng);
        let template = &call.request;
        let unfilled = |what: &str, e: RenderError| other(format!("{what}: {e}"));
        let path = template
            .path
            .render(&mut ctx)
            .map_err(|e| unfilled("path", e))?;
        let mut headers = RequestHeaders::new(&self.endpoint.headers);
        if let Some(cookies) =
            session.and_then(|s| s.cookie_header(&path, self.endpoint.is_https()))
        {
            headers.insert(http::header::COOKIE, cookies);
        }
        let kept_path = session.map(|_| path.clone());
        let url = url(path)?;
        for (name, value) in &template.headers {
            let rendered = value
                .render(&mut ctx)
                .map_err(|e| unfilled(&format!("header {name}"), e))?;
            let value = HeaderValue::from_str(&rendered).map_err(|_| {
                other(format!(
                    "header {name}: rendered value {} is not a valid header value",
                    expect::excerpt(&rendered)
                ))
            })?;
            // Scenario headers replace target headers of the same name.
            headers.insert(name.clone(), value);
        }
        let trace_id = self.trace_context.then(|| headers.trace()).flatten();
        let body = match &template.body {
            Some(body) => Some(Bytes::from(
                body.render(&mut ctx).map_err(|e| unfilled("body", e))?,
            )),
            None => None,
        };
        Ok(Rendered {
            method: template.method.clone(),
            url,
            path: kept_path,
            headers,
            trace_id,
            body,
        })
    }

    /// Reads the response head and body (up to the cap); `failed` classifies a body error.
    async fn receive<B: Body<Data = Bytes>>(
        &self,
        response: http::Response<B>,
        failed: impl FnOnce(B::Error) -> Failure,
    ) -> Exchange {
        let head_at = Instant::now();
        let (head, body) = response.into_parts();
        let (body, body_bytes, failure) = self.read_body(body, failed).await;
        Exchange {
            status: Some(head.status.as_u16()),
            headers: head.headers,
            body,
            body_bytes,
            head_at: Some(head_at),
            body_end: Some(Instant::now()),
            failure,
        }
    }

    /// Streams the body, stopping (and dropping the connection) as soon as it passes
    /// `max_body_bytes`, so a runaway response cannot exhaust memory or bandwidth.
    async fn read_body<B: Body<Data = Bytes>>(
        &self,
        body: B,
        failed: impl FnOnce(B::Error) -> Failure,
    ) -> (Vec<u8>, u64, Option<Failure>) {
        let cap = self.max_body_bytes;
        let over_cap = || Failure {
            reason: FailureReason::Body,
            message: format!("body exceeds max_body_bytes {cap}"),
        };
        if body.size_hint().exact().is_some_and(|length| length > cap) {
            return (Vec::new(), 0, Some(over_cap()));
        }
        let mut body = std::pin::pin!(body);
        let mut read = Vec::new();
        let mut read_bytes: u64 = 0;
        loop {
            match body.frame().await {
                Some(Ok(frame)) => {
                    // Trailers and unknown frames carry no body bytes.
                    let Ok(chunk) = frame.into_data() else {
                        continue;
                    };
                    read_bytes = read_bytes.saturating_add(chunk.len() as u64);
                    if read_bytes > cap {
                        return (read, read_bytes, Some(over_cap()));
                    }
                    read.extend_from_slice(&chunk);
                }
                None => return (read, read_bytes, None),
                Some(Err(error)) => return (read, read_bytes, Some(failed(error))),
            }
        }
    }
}

/// What one request of a flow step produced: its outcome, and the response's headers and body
/// (up to `max_body_bytes`) for cookies and extraction.
#[derive(Debug)]
pub struct Reply {
    /// The request's outcome, as [`Probe::run`] returns it.
    pub outcome: Outcome,
    /// Response headers (empty when no response arrived).
    pub headers: HeaderMap,
    /// Response body as read.
    pub body: Vec<u8>,
    /// The rendered request path, kept for a flow's session (a cookie's default path).
    pub path: Option<String>,
}

/// A rendered request, before it is handed to reqwest (with a `Url`) or the direct
/// connection (with the request target it needs).
struct Rendered<'p, U> {
    method: Method,
    url: U,
    /// The rendered path, for a flow's session ([`Reply::path`]).
    path: Option<String>,
    headers: RequestHeaders<'p>,
    body: Option<Bytes>,
    /// The trace id of its `traceparent` header, if it carries a valid one.
    trace_id: Option<TraceId>,
}

/// When a request was due and sent, and the trace it carries: what [`Probe::conclude`] needs
/// besides the exchange.
struct Sent {
    scheduled: Instant,
    start: Instant,
    trace_id: Option<TraceId>,
    /// The rendered path, for a flow's session ([`Reply::path`]).
    path: Option<String>,
}

impl Rendered<'_, Url> {
    fn into_reqwest(self) -> reqwest::Request {
        let mut request = reqwest::Request::new(self.method, self.url);
        *request.headers_mut() = self.headers.to_map();
        *request.body_mut() = self.body.map(Into::into);
        request
    }
}

/// A failure of reason `other` with `message`.
fn other(message: String) -> Failure {
    Failure {
        reason: FailureReason::Other,
        message,
    }
}
