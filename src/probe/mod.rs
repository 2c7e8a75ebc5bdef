//! The probe: sends one synthetic request of a scenario with reqwest and turns whatever happens
//! into an [`Outcome`].
//!
//! One [`Probe`] per target owns that target's HTTP client (TLS roots, proxy, pool policy) and
//! the shared state that outlives a request (last seen certificate expiry). [`Probe::run`]
//! renders the request, sends it, reads the body up to `global.max_body_bytes`, times the
//! phases, checks the expectations and classifies failures. It never fails: a failed request
//! is an `Outcome` with a `Failure`, because for a canary a failure is the data.
//!
//! Submodules: `client` builds the reqwest client, `tls` the rustls configuration and
//! expiry-recording verifier, `timing` the DNS/connect hooks, `classify` maps errors to failure
//! reasons, `expect` checks responses and `cache` detects cache hits.

mod cache;
mod classify;
mod client;
mod expect;
mod timing;
mod tls;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue};
use reqwest::Url;
use thiserror::Error;
use tokio::time::Instant;

use self::classify::Stage;
use self::client::Endpoint;
use self::timing::ConnectionSlot;
use self::tls::CertExpiry;
use crate::outcome::{CacheResult, Failure, FailureReason, Outcome};
use crate::scenario::{CacheRule, Global, Scenario, Target};

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
        })
    }

    /// Sends one request of `scenario` that was due at `scheduled`. Latency runs from
    /// `scheduled`, so a late start shows in it. Never panics and never fails: problems are
    /// in the returned `Outcome`.
    pub async fn run(&self, scenario: &Scenario, scheduled: Instant) -> Outcome {
        let slot = ConnectionSlot::default();
        let send_start = Instant::now();
        let exchange = match self.request(scenario) {
            Ok(request) => {
                let sent = timing::scope(slot.clone(), self.client.execute(request)).await;
                match sent {
                    Ok(response) => self.receive(response).await,
                    Err(error) => {
                        Exchange::failed(classify::failure(error, Stage::Head, self.timeout))
                    }
                }
            }
            Err(failure) => Exchange::failed(failure),
        };
        let finished = Instant::now();
        let latency = finished.saturating_duration_since(scheduled);
        let phases = slot.phases(send_start, exchange.head_at, exchange.body_end);
        let failure = match exchange.status {
            // A wrong status says more than anything found after it, even a broken body.
            Some(status) => expect::check_status(&scenario.expect, status)
                .or(exchange.failure)
                .or_else(|| {
                    expect::check_response(
                        &scenario.expect,
                        &exchange.headers,
                        &exchange.body,
                        latency,
                    )
                }),
            None => exchange.failure,
        };
        let cache = match exchange.status {
            Some(_) => cache::classify(&self.cache, &exchange.headers),
            None => CacheResult::Unknown,
        };
        Outcome {
            latency,
            status: exchange.status,
            failure,
            cache,
            phases,
            body_bytes: exchange.body_bytes,
            cert_expiry: self.cert_expiry.get(),
            finished_at: SystemTime::now(),
        }
    }

    /// GETs `url` with this target's client and base headers (credentials, marker, TLS
    /// settings, proxy), reading at most `max_body_bytes`: for side requests such as the
    /// target's stats endpoint, which must reach the service exactly as the probes do.
    pub async fn fetch(&self, url: Url) -> Result<(u16, Vec<u8>), Failure> {
        let mut request = reqwest::Request::new(http::Method::GET, url);
        *request.headers_mut() = self.endpoint.headers.clone();
        let response = self
            .client
            .execute(request)
            .await
            .map_err(|error| classify::failure(error, Stage::Head, self.timeout))?;
        let status = response.status().as_u16();
        match self.read_body(response).await {
            (body, _, None) => Ok((status, body)),
            (_, _, Some(failure)) => Err(failure),
        }
    }

    /// Renders the scenario's templates into a request. Synchronous on purpose: the thread-local
    /// RNG must not live across an await.
    fn request(&self, scenario: &Scenario) -> Result<reqwest::Request, Failure> {
        let mut rng = rand::rng();
        let template = &scenario.request;
        let url = self
            .endpoint
            .url(&template.path.render(&mut rng))
            .map_err(other)?;
        let mut request = reqwest::Request::new(template.method.clone(), url);
        *request.headers_mut() = self.endpoint.headers.clone();
        for (name, value) in &template.headers {
            let rendered = value.render(&mut rng);
            let value = HeaderValue::from_str(&rendered).map_err(|_| {
                other(format!(
                    "header {name}: rendered value {} is not a valid header value",
                    expect::excerpt(&rendered)
                ))
            })?;
            // Scenario headers replace target headers of the same name.
            request.headers_mut().insert(name.clone(), value);
        }
        if let Some(body) = &template.body {
            *request.body_mut() = Some(Bytes::from(body.render(&mut rng)).into());
        }
        Ok(request)
    }

    /// Reads the response head and body (up to the cap).
    async fn receive(&self, response: reqwest::Response) -> Exchange {
        let head_at = Instant::now();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let (body, body_bytes, failure) = self.read_body(response).await;
        Exchange {
            status: Some(status),
            headers,
            body,
            body_bytes,
            head_at: Some(head_at),
            body_end: Some(Instant::now()),
            failure,
        }
    }

    /// Streams the body, stopping (and dropping the connection) as soon as it passes
    /// `max_body_bytes`, so a runaway response cannot exhaust memory or bandwidth.
    async fn read_body(&self, mut response: reqwest::Response) -> (Vec<u8>, u64, Option<Failure>) {
        let cap = self.max_body_bytes;
        let over_cap = || Failure {
            reason: FailureReason::Body,
            message: format!("body exceeds max_body_bytes {cap}"),
        };
        if response.content_length().is_some_and(|length| length > cap) {
            return (Vec::new(), 0, Some(over_cap()));
        }
        let mut body = Vec::new();
        let mut read: u64 = 0;
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    read = read.saturating_add(chunk.len() as u64);
                    if read > cap {
                        return (body, read, Some(over_cap()));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => return (body, read, None),
                Err(error) => {
                    let failure = classify::failure(error, Stage::Body, self.timeout);
                    return (body, read, Some(failure));
                }
            }
        }
    }
}

/// A failure of reason `other` with `message`.
fn other(message: String) -> Failure {
    Failure {
        reason: FailureReason::Other,
        message,
    }
}
