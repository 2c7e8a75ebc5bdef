//! Phase timing of one request: how long name resolution and connection set-up took.
//!
//! reqwest has no timing API, so two hooks report into a per-request slot:
//! - [`TimedResolver`], the client's DNS resolver, times `tokio::net::lookup_host`;
//! - [`ConnectTimingLayer`], a tower layer around reqwest's connector, times the whole
//!   connection set-up (DNS + TCP + TLS; connect = that minus DNS).
//!
//! The slot is a `tokio::task_local!` that [`scope`] sets around the request's send future.
//! This works because hyper-util's client drives a *new* connection's connector future inside
//! the request future that asked for it. A pooled connection runs no connector at all, so
//! `dns` and `connect` stay empty, which is what a reused connection should report. A connect
//! that hyper-util moves to a background task (another request's connection became idle first)
//! finishes outside the scope and is not attributed to this request.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use tokio::time::Instant;

use crate::outcome::Phases;

tokio::task_local! {
    /// Connection timings of the request whose send future is being polled.
    static CONNECTION: ConnectionSlot;
}

/// What the resolver and connector hooks (or the direct connection) saw while one request was
/// in flight.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct ConnectionTimes {
    /// Duration of the last name resolution.
    pub(crate) dns: Option<Duration>,
    /// When the connector started setting up a connection for this request.
    pub(crate) started: Option<Instant>,
    /// When that connection was ready (TCP connected, TLS handshake done); `None` if set-up
    /// failed or has not finished.
    pub(crate) ready: Option<Instant>,
}

impl ConnectionTimes {
    /// Turns the recorded instants into phases. `send_start` is when the request was handed
    /// over, `head_at` when the response head arrived, `body_end` when body reading stopped.
    pub(crate) fn phases(
        self,
        send_start: Instant,
        head_at: Option<Instant>,
        body_end: Option<Instant>,
    ) -> Phases {
        let (dns, connect, ready) = match (self.started, self.ready) {
            // A connection was set up for this request: dns + connect led up to `ready`.
            (Some(started), Some(ready)) => {
                let total = ready.saturating_duration_since(started);
                let connect = total.saturating_sub(self.dns.unwrap_or_default());
                (self.dns, Some(connect), ready)
            }
            // Set-up failed or timed out: report the lookup if it finished, nothing more.
            (Some(_), None) if head_at.is_none() => (self.dns, None, send_start),
            // A pooled connection carried the request (a connect this request started may
            // still finish in the background, for the pool).
            _ => (None, None, send_start),
        };
        Phases {
            dns,
            connect,
            first_byte: head_at.map(|head| head.saturating_duration_since(ready)),
            transfer: head_at
                .zip(body_end)
                .map(|(head, end)| end.saturating_duration_since(head)),
        }
    }
}

/// Shared handle to one request's connection timings; cheap to clone.
#[derive(Debug, Default, Clone)]
pub(crate) struct ConnectionSlot(Arc<Mutex<ConnectionTimes>>);

impl ConnectionSlot {
    fn lock(&self) -> MutexGuard<'_, ConnectionTimes> {
        // A poisoned lock only means a panic elsewhere mid-update; the timings are still usable.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// What the hooks recorded so far.
    pub(crate) fn times(&self) -> ConnectionTimes {
        *self.lock()
    }
}

/// Runs `future` (the request's send future) with `slot` as the place the hooks report to.
pub(crate) async fn scope<F: Future>(slot: ConnectionSlot, future: F) -> F::Output {
    CONNECTION.scope(slot, future).await
}

/// Applies `update` to the current request's slot; outside any request it does nothing.
fn record(update: impl FnOnce(&mut ConnectionTimes)) {
    let _outside_request = CONNECTION.try_with(|slot| update(&mut slot.lock()));
}

/// DNS resolver that times each lookup. It also maps a configured `tls.server_name` back to
/// the URL's real host, so the request can carry that name (SNI) while connecting to the host.
#[derive(Debug, Clone, Default)]
pub(crate) struct TimedResolver {
    /// `(name in the request URL, host actually looked up)`.
    alias: Option<(String, String)>,
}

impl TimedResolver {
    /// A resolver that looks up `real_host` whenever asked for `alias`.
    pub(crate) fn with_alias(alias: String, real_host: String) -> TimedResolver {
        TimedResolver {
            alias: Some((alias, real_host)),
        }
    }

    fn host_for(&self, name: &str) -> String {
        match &self.alias {
            Some((alias, real)) if alias.eq_ignore_ascii_case(name) => real.clone(),
            _ => name.to_string(),
        }
    }
}

impl Resolve for TimedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = self.host_for(name.as_str());
        Box::pin(async move {
            let (took, result) = lookup(&host, 0).await;
            record(|times| times.dns = Some(took));
            Ok(Box::new(result?.into_iter()) as Addrs)
        })
    }
}

/// Resolves `host` to its addresses with `port`, and says how long the lookup took.
pub(crate) async fn lookup(
    host: &str,
    port: u16,
) -> (Duration, Result<Vec<SocketAddr>, ResolveError>) {
    let started = Instant::now();
    let result = tokio::net::lookup_host((host, port)).await;
    let took = started.elapsed();
    let failed = |source| ResolveError {
        host: host.to_string(),
        source,
    };
    let result = match result {
        Ok(addrs) => {
            let addrs: Vec<SocketAddr> = addrs.collect();
            if addrs.is_empty() {
                Err(failed(io::Error::new(
                    io::ErrorKind::NotFound,
                    "no addresses",
                )))
            } else {
                Ok(addrs)
            }
        }
        Err(source) => Err(failed(source)),
    };
    (took, result)
}

/// A failed lookup, naming the host (reqwest wraps it so that `is_dns()` holds).
#[derive(Debug)]
pub(crate) struct ResolveError {
    host: String,
    source: io::Error,
}

impl fmt::Display for ResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot resolve {}", self.host)
    }
}

impl StdError for ResolveError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&self.source)
    }
}

/// Tower layer around reqwest's connector that times connection set-up.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ConnectTimingLayer;

impl<S> tower::Layer<S> for ConnectTimingLayer {
    type Service = ConnectTiming<S>;

    fn layer(&self, inner: S) -> ConnectTiming<S> {
        ConnectTiming { inner }
    }
}

/// The connector wrapped by [`ConnectTimingLayer`].
#[derive(Debug, Clone)]
pub(crate) struct ConnectTiming<S> {
    inner: S,
}

impl<S, R> tower::Service<R> for ConnectTiming<S>
where
    S: tower::Service<R>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        let connecting = self.inner.call(request);
        Box::pin(async move {
            // Taken at the first poll, which happens inside the request that needs the connection.
            let started = Instant::now();
            record(|times| {
                *times = ConnectionTimes {
                    started: Some(started),
                    ..ConnectionTimes::default()
                }
            });
            let result = connecting.await;
            if result.is_ok() {
                let ready = Instant::now();
                record(|times| times.ready = Some(ready));
            }
            result
        })
    }
}
