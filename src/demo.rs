//! `synthex demo`: the demo target and the daemon in one process, on the built-in
//! `config/demo.yml`, so the README's first command shows live metrics on a fresh machine.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config;
use crate::daemon;
use crate::demo_target::{self, DemoTarget};
use crate::http_server::Listener;
use crate::scenario::Config;

/// The demo config, compiled in so the demo runs from any directory.
pub const DEMO_CONFIG: &str = include_str!("../config/demo.yml");

/// Loads the demo config: `path` when given, else the built-in copy.
pub fn load_config(path: Option<&Path>) -> Result<Config, config::ConfigError> {
    match path {
        Some(path) => config::load(path),
        None => config::load_str(DEMO_CONFIG, Path::new("config/demo.yml")),
    }
}

/// Starts the demo target on the address of the config's first target, then runs the daemon
/// on `listener` until `shutdown` resolves.
pub async fn run(
    config: Config,
    listener: Listener,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let addr = demo_address(&config)?;
    let target_listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the demo target to {addr} (is another demo running?)"))?;
    let stop = CancellationToken::new();
    let target = tokio::spawn(demo_target::serve(
        target_listener,
        Arc::new(DemoTarget::new()),
        stop.clone(),
    ));
    tracing::info!(%addr, "demo target listening");
    let result = daemon::run(config, listener, daemon::Options::default(), shutdown).await;
    stop.cancel();
    let _ = target.await;
    result.map_err(anyhow::Error::from)
}

/// The socket address the demo target serves: host and port of the first target's base URL.
fn demo_address(config: &Config) -> Result<SocketAddr> {
    let Some(first) = config.targets.first() else {
        bail!("the demo config has no targets");
    };
    let url = &first.base_url;
    let port = url.port_or_known_default().unwrap_or(80);
    match url.host_str() {
        Some("localhost") => Ok(SocketAddr::from(([127, 0, 0, 1], port))),
        Some(host) => format!(
            "{}:{port}",
            host.trim_start_matches('[').trim_end_matches(']')
        )
        .parse()
        .or_else(|_| {
            format!(
                "[{}]:{port}",
                host.trim_start_matches('[').trim_end_matches(']')
            )
            .parse()
        })
        .with_context(|| {
            format!(
                "demo target {:?}: base_url host {host:?} must be an IP address or localhost",
                first.name
            )
        }),
        None => bail!("demo target {:?}: base_url has no host", first.name),
    }
}
