//! Process signals: SIGINT (Ctrl-C) and SIGTERM (what Kubernetes and `docker stop` send) end the
//! daemon; SIGHUP never does (see [`hangups`]). The daemon takes the shutdown as a plain future,
//! so tests end it with a oneshot instead of a signal.

use tokio::signal::unix::{Signal, SignalKind};

/// Resolves when SIGINT or SIGTERM arrives, and logs which one.
///
/// If a handler cannot be installed (which only happens when the process is out of resources), the
/// future waits on the other signal alone rather than ending the daemon at once.
pub async fn signal() {
    let mut term = tokio::signal::unix::signal(SignalKind::terminate()).ok();
    let mut int = tokio::signal::unix::signal(SignalKind::interrupt()).ok();
    let which = tokio::select! {
        Some(()) = recv(&mut term) => "SIGTERM",
        Some(()) = recv(&mut int) => "SIGINT",
    };
    tracing::info!(
        signal = which,
        "shutdown requested: stopping the schedule and draining in-flight requests"
    );
}

async fn recv(stream: &mut Option<Signal>) -> Option<()> {
    match stream {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

/// Takes over SIGHUP, whose default action ends the process (exit 129): a systemd `ExecReload`
/// or a config-reloader sidecar sends it, and must never take monitoring down. Called first
/// thing by the long-running commands; tokio keeps the handler for the rest of the process, so
/// the signal is ignored even when nobody reads the returned stream. `None` only when the
/// process is out of resources.
pub fn hangups() -> Option<Signal> {
    match tokio::signal::unix::signal(SignalKind::hangup()) {
        Ok(signal) => Some(signal),
        Err(error) => {
            tracing::warn!(%error, "cannot install a SIGHUP handler: SIGHUP would end the process");
            None
        }
    }
}
