//! `synthex healthcheck --url=URL`: one GET, exit 0 on a 200 answer and 1 otherwise.
//!
//! The container image is distroless (no shell, curl or wget), so a Docker/compose healthcheck
//! can only run synthex itself. Plain HTTP over a raw socket on purpose: it checks an endpoint of
//! this very process or of the demo target, on loopback, and needs nothing else.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use url::Url;

/// Why a check failed.
#[derive(Debug, PartialEq, Eq)]
pub enum Failure {
    /// The URL itself is unusable: a usage error.
    BadUrl(String),
    /// The endpoint did not answer 200.
    Unhealthy(String),
}

/// How much of the answer is read: enough for any status line.
const STATUS_LINE_MAX: usize = 64;

/// GETs `url` within `timeout`: `Ok` on status 200, else what went wrong.
pub async fn check(url: &str, timeout: Duration) -> Result<(), Failure> {
    let bad = |why: String| Failure::BadUrl(format!("--url {url:?}: {why}"));
    let parsed = Url::parse(url).map_err(|e| bad(e.to_string()))?;
    if parsed.scheme() != "http" {
        return Err(bad("only http:// URLs are checked".into()));
    }
    let host = parsed
        .host_str()
        .ok_or_else(|| bad("no host".into()))?
        .to_string();
    let port = parsed.port_or_known_default().unwrap_or(80);
    let target = &parsed[url::Position::BeforePath..url::Position::AfterQuery];
    let exchange = async {
        let mut stream = TcpStream::connect((host.trim_matches(['[', ']']), port)).await?;
        let request = format!(
            "GET {target} HTTP/1.0\r\nHost: {host}:{port}\r\nUser-Agent: synthex-healthcheck\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await?;
        // The status line may arrive in pieces: read until its end (or 64 bytes, or EOF).
        let mut head = Vec::with_capacity(STATUS_LINE_MAX);
        while !head.contains(&b'\n') && head.len() < STATUS_LINE_MAX {
            let mut chunk = [0; STATUS_LINE_MAX];
            let room = STATUS_LINE_MAX - head.len();
            let read = stream.read(&mut chunk[..room]).await?;
            if read == 0 {
                break;
            }
            head.extend_from_slice(&chunk[..read]);
        }
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&head).into_owned())
    };
    let unhealthy = |why: String| Failure::Unhealthy(format!("{url}: {why}"));
    let head = tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| {
            unhealthy(format!(
                "no answer within {}",
                humantime::format_duration(timeout)
            ))
        })?
        .map_err(|e| unhealthy(e.to_string()))?;
    match head.split(' ').nth(1) {
        Some("200") => Ok(()),
        Some(status) => Err(unhealthy(format!("status {status}, expected 200"))),
        None => Err(unhealthy("not an HTTP answer".into())),
    }
}
