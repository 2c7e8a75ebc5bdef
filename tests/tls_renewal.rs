//! TLS against a server that renews its certificate: with `keep_alive: false` every request does
//! a full handshake (the server's own record of each handshake, not synthex's phases, says so),
//! and `synthex_tls_cert_expiry_timestamp_seconds` follows the renewed certificate within a few
//! requests, with fresh and with pooled connections.

mod common;
mod probe_support;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use probe_support::servers::{TestCert, test_cert};
use rustls::HandshakeKind;
use rustls::pki_types::PrivateKeyDer;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use synthex::config;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The certificate the server presents; swapped by [`RenewingServer::renew`].
#[derive(Debug)]
struct Current(Mutex<Arc<CertifiedKey>>);

impl ResolvesServerCert for Current {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0.lock().unwrap()))
    }
}

fn certified(cert: &TestCert) -> Arc<CertifiedKey> {
    let key = PrivateKeyDer::Pkcs8(cert.key_der.clone().into());
    let signing = rustls::crypto::ring::sign::any_supported_type(&key).unwrap();
    Arc::new(CertifiedKey::new(vec![cert.der.clone()], signing))
}

/// An HTTPS/1.1 server that offers session resumption (stateful cache and tickets) and counts,
/// from rustls's own view of each connection, full and resumed handshakes, and the requests.
struct RenewingServer {
    addr: std::net::SocketAddr,
    current: Arc<Current>,
    full: Arc<AtomicU64>,
    resumed: Arc<AtomicU64>,
    requests: Arc<AtomicU64>,
    /// Cancelled at a renewal: the connections made before it close, as a restarted server's do.
    generation: Arc<Mutex<CancellationToken>>,
}

impl RenewingServer {
    async fn start(cert: &TestCert) -> RenewingServer {
        let current = Arc::new(Current(Mutex::new(certified(cert))));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_cert_resolver(current.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        config.ticketer = rustls::crypto::ring::Ticketer::new().unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = RenewingServer {
            addr: listener.local_addr().unwrap(),
            current,
            full: Arc::default(),
            resumed: Arc::default(),
            requests: Arc::default(),
            generation: Arc::default(),
        };
        let (full, resumed, requests, generation) = (
            server.full.clone(),
            server.resumed.clone(),
            server.requests.clone(),
            server.generation.clone(),
        );
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (acceptor, full, resumed, requests) = (
                    acceptor.clone(),
                    full.clone(),
                    resumed.clone(),
                    requests.clone(),
                );
                let closed = generation.lock().unwrap().clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    match tls.get_ref().1.handshake_kind() {
                        Some(HandshakeKind::Resumed) => resumed.fetch_add(1, Ordering::SeqCst),
                        _ => full.fetch_add(1, Ordering::SeqCst),
                    };
                    let service = service_fn(move |_: Request<hyper::body::Incoming>| {
                        requests.fetch_add(1, Ordering::SeqCst);
                        async {
                            Ok::<_, std::convert::Infallible>(Response::new(Full::new(
                                Bytes::from_static(b"ok\n"),
                            )))
                        }
                    });
                    let connection =
                        http1::Builder::new().serve_connection(TokioIo::new(tls), service);
                    tokio::select! {
                        _ = connection => {}
                        () = closed.cancelled() => {}
                    }
                });
            }
        });
        server
    }

    /// Presents `cert` from now on and closes the connections made before.
    fn renew(&self, cert: &TestCert) {
        *self.current.0.lock().unwrap() = certified(cert);
        let old = std::mem::take(&mut *self.generation.lock().unwrap());
        old.cancel();
    }
}

/// `synthex_tls_cert_expiry_timestamp_seconds` of target `tls`, if exported yet.
async fn expiry_gauge(metrics: &str) -> Option<f64> {
    let url = metrics.to_string();
    let page = tokio::task::spawn_blocking(move || common::http_get(&url))
        .await
        .unwrap()
        .ok()?
        .1;
    page.lines()
        .find(|l| l.starts_with("synthex_tls_cert_expiry_timestamp_seconds{"))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

fn seconds(cert: &TestCert) -> f64 {
    cert.not_after.duration_since(UNIX_EPOCH).unwrap().as_secs() as f64
}

/// Polls the gauge until it reads `want`, for at most 10 s.
async fn wait_for_expiry(metrics: &str, want: f64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = expiry_gauge(metrics).await;
        if got == Some(want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "expiry gauge {got:?}, expected {want}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn follows_a_renewed_certificate(keep_alive: bool) {
    let first = test_cert(&["127.0.0.1"], "2031-03-01T00:00:00Z");
    let renewed = test_cert(&["127.0.0.1"], "2033-06-15T12:30:00Z");
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, format!("{}{}", first.pem, renewed.pem)).unwrap();
    let server = RenewingServer::start(&first).await;
    let text = format!(
        r#"
targets:
  - name: tls
    base_url: https://{}
    rate: 10/s
    timeout: 2s
    keep_alive: {keep_alive}
    tls: {{ca_file: {}}}
    scenarios:
      - {{name: health, request: {{path: /health}}, expect: {{status: [200]}}}}
"#,
        server.addr,
        ca_file.display()
    );
    let config = config::load_str(&text, Path::new("tls.yml")).unwrap();
    let daemon = common::InProcessDaemon::start(config).await;
    let metrics = daemon.metrics.clone();

    wait_for_expiry(&metrics, seconds(&first)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The server offers resumption; synthex never takes it.
    assert_eq!(
        server.resumed.load(Ordering::SeqCst),
        0,
        "resumed handshakes"
    );
    let before = server.requests.load(Ordering::SeqCst);
    server.renew(&renewed);
    wait_for_expiry(&metrics, seconds(&renewed)).await;
    let after = server.requests.load(Ordering::SeqCst) - before;
    assert!(
        after <= 5,
        "the gauge took {after} requests to follow the renewal"
    );

    daemon.stop().await;
    let (full, resumed, requests) = (
        server.full.load(Ordering::SeqCst),
        server.resumed.load(Ordering::SeqCst),
        server.requests.load(Ordering::SeqCst),
    );
    assert_eq!(resumed, 0, "{resumed} resumed handshakes, {full} full");
    if keep_alive {
        // One connection before the renewal, one after (a request the close cut off may add one).
        assert!(
            (2..=4).contains(&full),
            "{full} handshakes for {requests} requests"
        );
    } else {
        // A connection, and a full handshake, for every request.
        assert_eq!(
            full, requests,
            "{full} full handshakes for {requests} requests"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fresh_connections_do_a_full_handshake_every_time_and_follow_a_renewal() {
    follows_a_renewed_certificate(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pooled_connections_follow_a_renewal_at_the_next_connection() {
    follows_a_renewed_certificate(true).await;
}
