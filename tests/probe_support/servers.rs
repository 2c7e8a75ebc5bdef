//! Real servers on 127.0.0.1:0 for the probe tests: a recording hyper server (HTTP or HTTPS with
//! an rcgen certificate) and raw TCP servers that misbehave on purpose.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// Path and query.
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// SNI the client sent (HTTPS only).
    pub sni: Option<String>,
    /// When the request head arrived, by the server's own clocks.
    pub at: std::time::Instant,
    pub wall: SystemTime,
}

/// What a server received: requests and accepted connections.
#[derive(Debug, Clone, Default)]
pub struct Log {
    requests: Arc<Mutex<Vec<Seen>>>,
    connections: Arc<AtomicUsize>,
}

impl Log {
    pub fn requests(&self) -> Vec<Seen> {
        self.requests.lock().unwrap().clone()
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    fn accepted(&self) {
        self.connections.fetch_add(1, Ordering::SeqCst);
    }
}

type Handler = Arc<dyn Fn(&Seen) -> Response<Full<Bytes>> + Send + Sync>;

/// A running recording server.
pub struct Server {
    pub addr: SocketAddr,
    pub log: Log,
}

impl Server {
    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

/// A response with `status`, `headers` and `body`.
pub fn reply(
    status: u16,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut response = Response::builder().status(status);
    for (name, value) in headers {
        response = response.header(*name, *value);
    }
    response.body(Full::new(body.into())).unwrap()
}

/// A plain-HTTP/1.1 server answering every request with `handler`.
pub async fn http(
    handler: impl Fn(&Seen) -> Response<Full<Bytes>> + Send + Sync + 'static,
) -> Server {
    let handler: Handler = Arc::new(handler);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let log = Log::default();
    let server_log = log.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            server_log.accepted();
            tokio::spawn(serve(stream, None, handler.clone(), server_log.clone()));
        }
    });
    Server { addr, log }
}

/// An HTTPS/1.1 server presenting `cert`, answering every request with `handler`.
pub async fn https(
    cert: &TestCert,
    handler: impl Fn(&Seen) -> Response<Full<Bytes>> + Send + Sync + 'static,
) -> Server {
    let handler: Handler = Arc::new(handler);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der.clone()],
            PrivateKeyDer::Pkcs8(cert.key_der.clone().into()),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let log = Log::default();
    let server_log = log.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            server_log.accepted();
            let (acceptor, handler, log) = (acceptor.clone(), handler.clone(), server_log.clone());
            tokio::spawn(async move {
                // A client that rejects the certificate aborts the handshake: nothing to serve.
                if let Ok(tls) = acceptor.accept(stream).await {
                    let sni = tls.get_ref().1.server_name().map(str::to_string);
                    serve(tls, sni, handler, log).await;
                }
            });
        }
    });
    Server { addr, log }
}

async fn serve<I>(io: I, sni: Option<String>, handler: Handler, log: Log)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |request: Request<Incoming>| {
        let (handler, log, sni) = (handler.clone(), log.clone(), sni.clone());
        let (at, wall) = (std::time::Instant::now(), SystemTime::now());
        async move {
            let (parts, body) = request.into_parts();
            let body = body
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let seen = Seen {
                method: parts.method.to_string(),
                path: parts
                    .uri
                    .path_and_query()
                    .map(|p| p.to_string())
                    .unwrap_or_default(),
                headers: parts.headers,
                body,
                sni,
                at,
                wall,
            };
            let response = handler(&seen);
            log.requests.lock().unwrap().push(seen);
            Ok::<_, Infallible>(response)
        }
    });
    let _ = http1::Builder::new()
        .serve_connection(TokioIo::new(io), service)
        .await;
}

/// A raw TCP server running `behaviour` on every accepted connection.
pub async fn raw<F, Fut>(behaviour: F) -> Server
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let log = Log::default();
    let server_log = log.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            server_log.accepted();
            tokio::spawn(behaviour(stream));
        }
    });
    Server { addr, log }
}

/// Reads from `stream` until the end of a request head (or EOF).
pub async fn read_request_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// A self-signed certificate and its key.
pub struct TestCert {
    pub der: CertificateDer<'static>,
    pub pem: String,
    pub key_der: Vec<u8>,
    pub not_after: SystemTime,
}

/// A self-signed certificate for `names` (DNS names or IP addresses) that expires at
/// `not_after` (RFC 3339, whole seconds, UTC).
pub fn test_cert(names: &[&str], not_after: &str) -> TestCert {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap();
    let expiry = humantime::parse_rfc3339(not_after).unwrap();
    let secs = expiry
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(1970, 1, 1) + std::time::Duration::from_secs(secs);
    let cert = params.self_signed(&key).unwrap();
    TestCert {
        der: cert.der().clone(),
        pem: cert.pem(),
        key_der: key.serialize_der(),
        not_after: expiry,
    }
}

/// A server that reads the request, writes `prefix` (a response head, maybe some body) and
/// then stalls for 30 s; with an empty prefix, a server that never answers.
pub async fn stalling(prefix: &'static str) -> Server {
    raw(move |mut stream| async move {
        read_request_head(&mut stream).await;
        let _ = stream.write_all(prefix.as_bytes()).await;
        tokio::time::sleep(std::time::Duration::from_secs(30)).await;
    })
    .await
}

/// A server that promises 1000 body bytes, sends 100 and resets the connection.
pub async fn reset_mid_body() -> Server {
    raw(|mut stream| async move {
        read_request_head(&mut stream).await;
        let head = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n";
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(&[b'x'; 100]).await.unwrap();
        stream.flush().await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        stream.set_zero_linger().unwrap();
        drop(stream); // RST
    })
    .await
}

/// A server that answers with something that is not HTTP.
pub async fn garbage() -> Server {
    raw(|mut stream| async move {
        read_request_head(&mut stream).await;
        let _ = stream
            .write_all(b"SSH-2.0-OpenSSH_9.6\r\nnot http at all\r\n\r\n")
            .await;
    })
    .await
}
