//! `synthex demo`: the demo target (over HTTP, and over HTTPS with a certificate generated at
//! start) and the daemon in one process, on the built-in `config/demo.yml`, so the README's first
//! command shows live metrics, every dashboard panel included, on a fresh machine.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config;
use crate::connection_limit::ConnectionLimit;
use crate::daemon;
use crate::demo_target::{self, DemoTarget};
use crate::demo_tls::DemoCertificate;
use crate::http_server::Listener;
use crate::scenario::{Config, Target};

/// The demo config, compiled in so the demo runs from any directory.
pub const DEMO_CONFIG: &str = include_str!("../config/demo.yml");

/// Loads the demo config: `path` when given, else the built-in copy.
pub fn load_config(path: Option<&Path>) -> Result<Config, config::ConfigError> {
    match path {
        Some(path) => config::load(path),
        None => config::load_str(DEMO_CONFIG, Path::new("config/demo.yml")),
    }
}

/// Starts the demo target on the address of the config's first plain-HTTP target, and over
/// HTTPS on the address of its first `https://` target (if any) with a certificate generated
/// now; then runs the daemon on `listener` until `shutdown` resolves.
pub async fn run(
    mut config: Config,
    listener: Listener,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let service = Arc::new(DemoTarget::new());
    let stop = CancellationToken::new();
    let mut servers = vec![];
    let plain = demo_address(&config, "http")?
        .context("the demo config has no http:// target for the demo target to serve")?;
    let tcp = bind(plain).await?;
    servers.push(tokio::spawn(demo_target::serve(
        tcp,
        Arc::clone(&service),
        stop.clone(),
    )));
    tracing::info!(addr = %plain, "demo target listening");
    // Removed when the demo ends; kept as long as the probes may read the certificate.
    let mut certificate_dir = None;
    if let Some(secure) = demo_address(&config, "https")? {
        let dir = TempDir::new()?;
        let certificate = DemoCertificate::generate(&secure.ip().to_string(), &dir.0)?;
        trust(&mut config, secure, &certificate.ca_file);
        let tls = Listener::new(
            bind(secure).await?,
            certificate.web_layer()?,
            ConnectionLimit::new(usize::MAX),
        );
        servers.push(tokio::spawn(demo_target::serve_on(
            tls,
            Arc::clone(&service),
            stop.clone(),
        )));
        tracing::info!(
            addr = %secure,
            ca_file = %certificate.ca_file.display(),
            "demo target listening over HTTPS with a certificate generated now"
        );
        certificate_dir = Some(dir);
    }
    let result = daemon::run(config, listener, daemon::Options::default(), shutdown).await;
    stop.cancel();
    for server in servers {
        let _ = server.await;
    }
    drop(certificate_dir);
    result.map_err(anyhow::Error::from)
}

async fn bind(addr: SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the demo target to {addr} (is another demo running?)"))
}

/// Makes the `https://` targets served at `addr` trust the generated certificate, unless their
/// config already says what to trust.
fn trust(config: &mut Config, addr: SocketAddr, ca_file: &Path) {
    for target in &mut config.targets {
        let served = target_address(target).ok().flatten() == Some(addr);
        if target.base_url.scheme() == "https"
            && served
            && target.tls.ca_file.is_none()
            && !target.tls.insecure_skip_verify
        {
            target.tls.ca_file = Some(ca_file.to_path_buf());
        }
    }
}

/// A private directory for the generated certificate, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<TempDir> {
        let path = std::env::temp_dir().join(format!("synthex-demo-{}", std::process::id()));
        std::fs::create_dir_all(&path)
            .with_context(|| format!("creating {} for the demo certificate", path.display()))?;
        Ok(TempDir(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The socket address the demo target serves for `scheme`: host and port of the first target
/// with that scheme, `None` when there is none.
fn demo_address(config: &Config, scheme: &str) -> Result<Option<SocketAddr>> {
    match config
        .targets
        .iter()
        .find(|t| t.base_url.scheme() == scheme)
    {
        Some(target) => target_address(target),
        None => Ok(None),
    }
}

/// Host and port of `target`'s base URL as a socket address (`localhost` is 127.0.0.1).
fn target_address(target: &Target) -> Result<Option<SocketAddr>> {
    let url = &target.base_url;
    let Some(port) = url.port_or_known_default() else {
        return Ok(None);
    };
    match url.host_str() {
        Some("localhost") => Ok(Some(SocketAddr::from(([127, 0, 0, 1], port)))),
        Some(host) => {
            let bare = host.trim_start_matches('[').trim_end_matches(']');
            bare.parse::<IpAddr>()
                .map(|ip| Some(SocketAddr::new(ip, port)))
                .with_context(|| {
                    format!(
                        "demo target {:?}: base_url host {host:?} must be an IP address or localhost",
                        target.name
                    )
                })
        }
        None => bail!("demo target {:?}: base_url has no host", target.name),
    }
}
