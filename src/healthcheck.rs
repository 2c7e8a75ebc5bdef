//! `synthex healthcheck --url=URL`: one GET, exit 0 on a 200 answer and 1 otherwise.
//!
//! The container image is distroless (no shell, curl or wget), so a Docker/compose healthcheck
//! can only run synthex itself. HTTP/1.0 over a raw socket on purpose: it checks an endpoint of
//! this very process or of the demo target and needs nothing else. When that endpoint is
//! secured with `--web.config.file`, the check speaks TLS (trusting `--tls.ca-file`, presenting
//! `--tls.cert-file`/`--tls.key-file` under mutual TLS) and sends basic-auth credentials.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use url::Url;

use crate::config::io_message;
use crate::probe::tls::{CertExpiry, ClientIdentity, client_config};
use crate::scenario::TlsSettings;

/// Why a check failed.
#[derive(Debug, PartialEq, Eq)]
pub enum Failure {
    /// The URL or a credential file is unusable: a usage error.
    BadUrl(String),
    /// The endpoint did not answer 200.
    Unhealthy(String),
}

/// How to reach a secured endpoint; the default reaches a plain one.
#[derive(Debug, Default, Clone, clap::Args)]
pub struct Access {
    /// CA certificate(s) trusted for an https:// URL, on top of the system's.
    #[arg(long = "tls.ca-file", value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Client certificate presented to a server that requires one (mutual TLS).
    #[arg(long = "tls.cert-file", value_name = "FILE", requires = "key_file")]
    pub cert_file: Option<PathBuf>,
    /// Key of --tls.cert-file.
    #[arg(long = "tls.key-file", value_name = "FILE", requires = "cert_file")]
    pub key_file: Option<PathBuf>,
    /// Name the server certificate must carry, instead of the URL's host.
    #[arg(long = "tls.server-name", value_name = "NAME")]
    pub server_name: Option<String>,
    /// Accept any server certificate (the connection is still encrypted).
    #[arg(long = "tls.insecure-skip-verify")]
    pub insecure_skip_verify: bool,
    /// Basic-auth user name.
    #[arg(
        long = "basic-auth.username",
        value_name = "USER",
        requires = "password_file"
    )]
    pub username: Option<String>,
    /// File holding the basic-auth password (a trailing newline is ignored).
    #[arg(
        long = "basic-auth.password-file",
        value_name = "FILE",
        requires = "username"
    )]
    pub password_file: Option<PathBuf>,
}

/// How much of the answer is read: enough for any status line.
const STATUS_LINE_MAX: usize = 64;

/// GETs `url` within `timeout` with `access`: `Ok` on status 200, else what went wrong.
pub async fn check(url: &str, timeout: Duration, access: &Access) -> Result<(), Failure> {
    let bad = |why: String| Failure::BadUrl(format!("--url {url:?}: {why}"));
    let parsed = Url::parse(url).map_err(|e| bad(e.to_string()))?;
    let tls = match parsed.scheme() {
        "http" => None,
        "https" => Some(connector(access)?),
        _ => return Err(bad("only http:// and https:// URLs are checked".into())),
    };
    let host = parsed
        .host_str()
        .ok_or_else(|| bad("no host".into()))?
        .to_string();
    let port = parsed.port_or_known_default().unwrap_or(80);
    let target = &parsed[url::Position::BeforePath..url::Position::AfterQuery];
    let authorization = basic_auth(access)?;
    let request = format!(
        "GET {target} HTTP/1.0\r\nHost: {host}:{port}\r\nUser-Agent: synthex-healthcheck\r\n{authorization}\r\n"
    );
    let bare_host = host.trim_matches(['[', ']']).to_string();
    let server_name = access.server_name.clone().unwrap_or(bare_host.clone());
    let exchange = async {
        let stream = TcpStream::connect((bare_host.as_str(), port)).await?;
        match tls {
            None => status_line(stream, &request).await,
            Some(connector) => {
                let name = ServerName::try_from(server_name)
                    .map_err(|e| std::io::Error::other(format!("server name: {e}")))?;
                let stream = connector.connect(name, stream).await?;
                status_line(stream, &request).await
            }
        }
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

/// Sends `request` and reads the status line: it may arrive in pieces, so read until its end
/// (or 64 bytes, or EOF).
async fn status_line(
    mut stream: impl AsyncRead + AsyncWrite + Unpin,
    request: &str,
) -> std::io::Result<String> {
    stream.write_all(request.as_bytes()).await?;
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
    Ok(String::from_utf8_lossy(&head).into_owned())
}

/// The TLS client for an https:// URL, with the probes' verification (system roots plus
/// `--tls.ca-file`, `--tls.server-name`, `--tls.insecure-skip-verify`).
fn connector(access: &Access) -> Result<TlsConnector, Failure> {
    let settings = TlsSettings {
        ca_file: access.ca_file.clone(),
        insecure_skip_verify: access.insecure_skip_verify,
        server_name: access.server_name.clone(),
    };
    let identity = match (&access.cert_file, &access.key_file) {
        (Some(cert), Some(key)) => Some(identity(cert, key)?),
        _ => None,
    };
    let mut config = client_config(&settings, Arc::new(CertExpiry::default()), identity)
        .map_err(|e| Failure::BadUrl(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsConnector::from(Arc::new(config)))
}

fn identity(cert: &PathBuf, key: &PathBuf) -> Result<ClientIdentity, Failure> {
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| Failure::BadUrl(format!("--tls.cert-file {}: {e}", cert.display())))?;
    if certs.is_empty() {
        return Err(Failure::BadUrl(format!(
            "--tls.cert-file {}: no PEM certificate in it",
            cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| Failure::BadUrl(format!("--tls.key-file {}: {e}", key.display())))?;
    Ok((certs, key))
}

/// The `Authorization` header line, or nothing without credentials.
fn basic_auth(access: &Access) -> Result<String, Failure> {
    let (Some(user), Some(file)) = (&access.username, &access.password_file) else {
        return Ok(String::new());
    };
    let password = std::fs::read_to_string(file).map_err(|e| {
        Failure::BadUrl(format!(
            "--basic-auth.password-file {}: {}",
            file.display(),
            io_message(&e)
        ))
    })?;
    let password = password.strip_suffix('\n').unwrap_or(&password);
    let password = password.strip_suffix('\r').unwrap_or(password);
    let token = STANDARD.encode(format!("{user}:{password}"));
    Ok(format!("Authorization: Basic {token}\r\n"))
}
