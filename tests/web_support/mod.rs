//! Certificates, keys and web config files the secured-endpoint tests make for themselves: a CA,
//! a server certificate it signs for 127.0.0.1/localhost, client certificates it signs (and one
//! it does not), written as PEM files into a temporary directory.
#![allow(dead_code)] // each test binary uses its own subset

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use synthex::connection_limit::ConnectionLimit;
use synthex::exporter::{AppState, serve};
use synthex::http_server::Listener;
use synthex::metrics::Metrics;
use synthex::web::WebLayer;
use tokio_util::sync::CancellationToken;

use rcgen::{CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, SanType};

/// exporter-toolkit's own test user: `alice` with password `alice123` (bcrypt cost 12), from
/// its web/testdata/web_config_users.good.yml and handler_test.go, an independent source.
pub const ALICE_HASH: &str = "$2y$12$1DpfPeqF9HzHJt.EWswy1exHluGfbhnn3yXhR7Xes6m3WJqFg0Wby";
pub const ALICE_PASSWORD: &str = "alice123";

/// A certificate and its key, in PEM.
pub struct Pem {
    pub cert: String,
    pub key: String,
}

/// A CA that signs server and client certificates.
pub struct Ca {
    pub pem: Pem,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap();
        let pem = Pem {
            cert: cert.pem(),
            key: key.serialize_pem(),
        };
        Ca {
            pem,
            issuer: Issuer::new(params, key),
        }
    }

    /// A server certificate for 127.0.0.1 and localhost.
    pub fn server(&self) -> Pem {
        self.server_for(&["localhost", "127.0.0.1"])
    }

    /// A server certificate for `names`.
    pub fn server_for(&self, names: &[&str]) -> Pem {
        self.sign(
            names.iter().map(|n| n.to_string()).collect(),
            ExtendedKeyUsagePurpose::ServerAuth,
        )
    }

    /// A client certificate carrying the DNS name `name`.
    pub fn client(&self, name: &str) -> Pem {
        self.sign(vec![name.into()], ExtendedKeyUsagePurpose::ClientAuth)
    }

    fn sign(&self, names: Vec<String>, usage: ExtendedKeyUsagePurpose) -> Pem {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(names).unwrap();
        params.extended_key_usages = vec![usage];
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Pem {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }
}

/// A self-signed client certificate (no CA vouches for it).
pub fn self_signed_client(name: &str) -> Pem {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec![name.to_string()]).unwrap();
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.subject_alt_names = vec![SanType::DnsName(name.try_into().unwrap())];
    let cert = params.self_signed(&key).unwrap();
    Pem {
        cert: cert.pem(),
        key: key.serialize_pem(),
    }
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// The DER of the first certificate in `pem`.
pub fn der(pem: &str) -> Vec<u8> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    CertificateDer::from_pem_slice(pem.as_bytes())
        .unwrap()
        .to_vec()
}

/// An exporter serving on 127.0.0.1 in this process, stopped when dropped.
pub struct Exporter {
    pub port: u16,
    pub metrics: Arc<Metrics>,
    shutdown: CancellationToken,
}

impl Drop for Exporter {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Starts an exporter (one target's metrics, ready) with the web layer `web` and at most `cap`
/// connections.
pub async fn start_exporter(web: WebLayer, cap: usize) -> Exporter {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = tcp.local_addr().unwrap().port();
    let config = synthex::config::load_str(
        "targets:\n  - name: api\n    base_url: http://127.0.0.1:9\n    rate: 1/s\n    scenarios:\n      - {name: home, weight: 1, request: {path: /}}\n",
        Path::new("test.yml"),
    )
    .unwrap();
    let metrics = Arc::new(Metrics::new(&config).unwrap());
    let state = Arc::new(AppState::new(
        Arc::clone(&metrics),
        Arc::new(AtomicBool::new(true)),
    ));
    let shutdown = CancellationToken::new();
    let listener = Listener::new(tcp, web, ConnectionLimit::new(cap));
    tokio::spawn(serve(listener, state, shutdown.clone()));
    Exporter {
        port,
        metrics,
        shutdown,
    }
}
