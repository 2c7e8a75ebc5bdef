//! The small HTTP/1.1 server both built-in services run on: the exporter and the demo target.
//!
//! One accept loop with the protections a long-running daemon beside production needs, applied
//! here, under every route, so a route added later has them too:
//! - a cap on open connections below the descriptor limit ([`crate::connection_limit`]);
//! - a header-read timeout (it also closes keep-alive connections idle that long), a TLS
//!   handshake timeout, and a cap on the size of a request head;
//! - the web config ([`crate::web`]): TLS, basic auth, rate limit, extra response headers;
//! - accept errors (e.g. out of file descriptors) logged and retried after a pause instead of
//!   ending the server, and a graceful shutdown that stops accepting and lets requests in
//!   progress finish within a bound.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::rt::{Read, Write};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::connection_limit::{ConnectionLimit, ServerStats};
use crate::web::WebLayer;

/// A client that has not sent its request head by then (or stays idle that long between
/// keep-alive requests) is dropped.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A client that has not completed its TLS handshake by then is dropped.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest request head (request line and headers) accepted; larger gets 431. Also hyper's
/// read buffer size, the one per-connection allocation that grows with what a client sends.
pub const MAX_HEADER_BYTES: usize = 8192;

/// Most header lines in a request head.
const MAX_HEADERS: usize = 64;

/// Longest wait for requests in progress at shutdown.
const DRAIN_LIMIT: Duration = Duration::from_secs(5);

/// Pause after a failed `accept` so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// A complete response body, as every built-in endpoint produces.
pub type Body = Full<Bytes>;

/// A bound port with what the server applies to its connections.
pub struct Listener {
    tcp: TcpListener,
    web: Arc<WebLayer>,
    limit: Arc<ConnectionLimit>,
}

impl Listener {
    /// `tcp` served with the web config `web` and at most `limit` connections.
    pub fn new(tcp: TcpListener, web: WebLayer, limit: ConnectionLimit) -> Listener {
        Listener {
            tcp,
            web: Arc::new(web),
            limit: Arc::new(limit),
        }
    }

    /// `tcp` served in plain HTTP without a connection cap: the demo target, which load
    /// tests drive with as many connections as they have users.
    pub fn plain(tcp: TcpListener) -> Listener {
        Listener::new(tcp, WebLayer::plain(), ConnectionLimit::new(usize::MAX))
    }

    /// The address bound.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.tcp.local_addr()
    }

    /// `https` under TLS, else `http`.
    pub fn scheme(&self) -> &'static str {
        self.web.scheme()
    }

    /// The connection counts, for the exporter's registry.
    pub fn stats(&self) -> &ServerStats {
        self.limit.stats()
    }
}

impl From<TcpListener> for Listener {
    /// The exporter's defaults: plain HTTP, capped below the descriptor limit.
    fn from(tcp: TcpListener) -> Listener {
        Listener::new(tcp, WebLayer::plain(), ConnectionLimit::for_process())
    }
}

/// Serves `handler` on `listener` until `shutdown` is cancelled, then drains open requests (at
/// most 5 s) and returns. `name` prefixes the log lines so the two servers can be told apart.
pub async fn serve<H, F>(
    name: &'static str,
    listener: Listener,
    shutdown: CancellationToken,
    handler: H,
) -> std::io::Result<()>
where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_HEADER_BYTES)
        .max_header_size(MAX_HEADER_BYTES)
        .max_headers(MAX_HEADERS);
    let Listener { tcp, web, limit } = listener;
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = tcp.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            Err(error) => {
                tracing::warn!(%error, "{name}: accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let Some(slot) = limit.admit() else {
            tracing::debug!(
                limit = limit.max(),
                "{name}: connection refused at the limit"
            );
            continue;
        };
        let connection = Connection {
            name,
            builder: builder.clone(),
            web: Arc::clone(&web),
            stats: limit.stats().clone(),
            served: slot.served_flag(),
            watcher: graceful.watcher(),
        };
        let handler = handler.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = slot.evicted() => {}
                () = connection.run(stream, handler) => {}
            }
        });
    }
    drop(tcp);
    if tokio::time::timeout(DRAIN_LIMIT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(limit = ?DRAIN_LIMIT, "{name}: gave up waiting for open connections at shutdown");
    }
    Ok(())
}

/// One accepted connection and what it needs to be served.
struct Connection {
    name: &'static str,
    builder: http1::Builder,
    web: Arc<WebLayer>,
    stats: ServerStats,
    served: Arc<AtomicBool>,
    watcher: Watcher,
}

impl Connection {
    async fn run<H, F>(self, stream: TcpStream, handler: H)
    where
        H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
        F: Future<Output = Response<Body>> + Send + 'static,
    {
        let Some(tls) = &self.web.tls else {
            return self.serve_io(TokioIo::new(stream), handler).await;
        };
        let acceptor = tls.acceptor();
        match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
            Ok(Ok(stream)) => self.serve_io(TokioIo::new(stream), handler).await,
            Ok(Err(error)) => {
                self.stats.tls_handshake_failures.inc();
                tracing::debug!(%error, "{}: TLS handshake failed", self.name);
            }
            Err(_) => {
                self.stats.tls_handshake_failures.inc();
                tracing::debug!("{}: TLS handshake timed out", self.name);
            }
        }
    }

    async fn serve_io<I, H, F>(self, io: I, handler: H)
    where
        I: Read + Write + Unpin + Send + 'static,
        H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
        F: Future<Output = Response<Body>> + Send + 'static,
    {
        let Connection {
            name,
            builder,
            web,
            stats,
            served,
            watcher,
        } = self;
        let service = service_fn(move |request: Request<Incoming>| {
            served.store(true, Ordering::Relaxed);
            let (web, stats, handler) = (Arc::clone(&web), stats.clone(), handler.clone());
            async move {
                let mut response = match refusal(&web, &stats, &request).await {
                    Some(refused) => refused,
                    None => handler(request).await,
                };
                for (header, value) in &web.headers {
                    response.headers_mut().insert(header.clone(), value.clone());
                }
                Ok::<_, Infallible>(response)
            }
        });
        if let Err(error) = watcher.watch(builder.serve_connection(io, service)).await {
            tracing::debug!(%error, "{name}: connection ended with an error");
        }
    }
}

/// The 429 or 401 answer when the web config's rate limit or basic auth refuses `request`.
async fn refusal(
    web: &WebLayer,
    stats: &ServerStats,
    request: &Request<Incoming>,
) -> Option<Response<Body>> {
    if let Some(limit) = &web.rate_limit
        && !limit.allow()
    {
        stats.rate_limited.inc();
        return Some(text(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests\n"));
    }
    let auth = web.auth.as_ref()?;
    let header = request
        .headers()
        .get(AUTHORIZATION)
        .map(HeaderValue::as_bytes);
    if auth.check(header).await {
        return None;
    }
    stats.unauthorized.inc();
    let mut response = text(StatusCode::UNAUTHORIZED, "Unauthorized\n");
    response
        .headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
    Some(response)
}

/// A plain-text response.
pub fn text(status: StatusCode, message: &str) -> Response<Body> {
    body(
        status,
        "text/plain; charset=utf-8",
        Bytes::copy_from_slice(message.as_bytes()),
    )
}

/// A response with `content` of type `content_type`.
pub fn body(status: StatusCode, content_type: &'static str, content: Bytes) -> Response<Body> {
    let mut response = Response::new(Full::new(content));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
