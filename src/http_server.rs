//! The small HTTP/1.1 server both built-in services run on: the exporter and the demo target.
//!
//! One accept loop with the protections a long-running daemon needs: a header-read timeout so
//! idle or slow clients cannot pile up connections, accept errors (e.g. out of file descriptors)
//! logged and retried after a pause instead of ending the server, and a graceful shutdown that
//! stops accepting and lets requests in progress finish within a bound.

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// A client that has not sent its request head by then is dropped.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest wait for requests in progress at shutdown.
const DRAIN_LIMIT: Duration = Duration::from_secs(5);

/// Pause after a failed `accept` so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// A complete response body, as every built-in endpoint produces.
pub type Body = Full<Bytes>;

/// Serves `handler` on `listener` until `shutdown` is cancelled, then drains open requests (at
/// most 5 s) and returns. `name` prefixes the log lines so the two servers can be told apart.
pub async fn serve<H, F>(
    name: &'static str,
    listener: TcpListener,
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
        .header_read_timeout(HEADER_READ_TIMEOUT);
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            Err(error) => {
                tracing::warn!(%error, "{name}: accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let handler = handler.clone();
        let service = service_fn(move |request| {
            let response = handler(request);
            async move { Ok::<_, Infallible>(response.await) }
        });
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "{name}: connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_LIMIT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(limit = ?DRAIN_LIMIT, "{name}: gave up waiting for open connections at shutdown");
    }
    Ok(())
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
