//! What asks the daemon to re-read `--config.file`: SIGHUP, `POST /-/reload` (with
//! `--web.enable-lifecycle`) and, with `--config.auto-reload-interval`, a change of the file's
//! content. Each sends a [`Request`] to the daemon, which applies reloads one at a time and
//! answers with the outcome (the HTTP endpoint turns it into 200 or 500).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use tokio::signal::unix::Signal;
use tokio::sync::{mpsc, oneshot};
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::definition::checksum;

/// What asked for a reload, named in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// SIGHUP.
    Signal,
    /// `POST /-/reload`.
    Http,
    /// The config file's content changed (`--config.auto-reload-interval`).
    FileChange,
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Trigger::Signal => "SIGHUP",
            Trigger::Http => "/-/reload",
            Trigger::FileChange => "file change",
        })
    }
}

/// One reload to perform; the daemon answers on `reply` with `Err(message)` when the new
/// config was refused (the message `check-config` prints for it).
pub struct Request {
    /// What asked.
    pub trigger: Trigger,
    /// Where the outcome goes.
    pub reply: oneshot::Sender<Result<(), String>>,
}

/// Sends reload requests to the daemon; cheap to clone.
#[derive(Clone)]
pub struct Reloader(mpsc::Sender<Request>);

/// A reloader and the receiving end the daemon reads.
pub fn channel() -> (Reloader, mpsc::Receiver<Request>) {
    let (tx, rx) = mpsc::channel(8);
    (Reloader(tx), rx)
}

impl Reloader {
    /// Asks for a reload and waits for its outcome.
    pub async fn reload(&self, trigger: Trigger) -> Result<(), String> {
        let (reply, outcome) = oneshot::channel();
        let stopped = || "the daemon is shutting down".to_string();
        self.0
            .send(Request { trigger, reply })
            .await
            .map_err(|_| stopped())?;
        outcome.await.unwrap_or_else(|_| Err(stopped()))
    }
}

/// Turns every SIGHUP into a reload until `stop` is cancelled.
pub async fn on_hangup(mut hangups: Signal, reloader: Reloader, stop: CancellationToken) {
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            received = hangups.recv() => if received.is_none() { return },
        }
        tracing::info!("SIGHUP received: reloading the configuration");
        // The daemon logs the outcome.
        let _ = reloader.reload(Trigger::Signal).await;
    }
}

/// Every `interval`, reads `path` and asks for a reload when its content differs from the last
/// content seen (a failed reload is not retried until the file changes again, as Prometheus
/// does). The file is small and read with a plain blocking read, once per interval.
pub async fn watch_file(
    path: PathBuf,
    interval: Duration,
    reloader: Reloader,
    stop: CancellationToken,
) {
    let read = |path: &PathBuf| std::fs::read(path).map(|bytes| checksum(&bytes));
    let mut last = read(&path).ok();
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        match read(&path) {
            Ok(sum) if Some(sum) != last => {
                last = Some(sum);
                tracing::info!(config = %path.display(), "config file changed: reloading");
                let _ = reloader.reload(Trigger::FileChange).await;
            }
            Ok(_) => {}
            Err(error) => {
                tracing::debug!(config = %path.display(), %error, "config file unreadable; checking again later");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers every request with `Ok` and counts them.
    async fn next_trigger(rx: &mut mpsc::Receiver<Request>, within: Duration) -> Option<Trigger> {
        let request = tokio::time::timeout(within, rx.recv()).await.ok()??;
        let trigger = request.trigger;
        let _ = request.reply.send(Ok(()));
        Some(trigger)
    }

    /// A watcher of a new file holding `a: 1`, checking every `interval`; the directory must
    /// outlive the test.
    fn watching(
        interval: Duration,
    ) -> (
        tempfile::TempDir,
        PathBuf,
        mpsc::Receiver<Request>,
        CancellationToken,
        tokio::task::JoinHandle<()>,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("synthex.yml");
        std::fs::write(&path, "a: 1\n").unwrap();
        let (reloader, rx) = channel();
        let stop = CancellationToken::new();
        let task = tokio::spawn(watch_file(path.clone(), interval, reloader, stop.clone()));
        (dir, path, rx, stop, task)
    }

    #[tokio::test(start_paused = true)]
    async fn the_watcher_reloads_once_per_content_change_and_not_for_a_touch() {
        let (dir, path, mut rx, stop, task) = watching(Duration::from_secs(10));
        // Unchanged content: no reload over many intervals.
        assert_eq!(next_trigger(&mut rx, Duration::from_secs(60)).await, None);
        // The same bytes written again (a touch) are no change.
        std::fs::write(&path, "a: 1\n").unwrap();
        assert_eq!(next_trigger(&mut rx, Duration::from_secs(30)).await, None);
        std::fs::write(&path, "a: 2\n").unwrap();
        let asked = tokio::time::Instant::now();
        assert_eq!(
            next_trigger(&mut rx, Duration::from_secs(11)).await,
            Some(Trigger::FileChange)
        );
        // Within one interval of the change, not before the next tick.
        assert!(asked.elapsed() <= Duration::from_secs(10));
        // Exactly one reload per change.
        assert_eq!(next_trigger(&mut rx, Duration::from_secs(60)).await, None);
        stop.cancel();
        task.await.unwrap();
        drop(dir);
    }

    #[tokio::test(start_paused = true)]
    async fn an_unreadable_file_is_skipped_and_its_return_is_a_change() {
        let (dir, path, mut rx, stop, task) = watching(Duration::from_secs(5));
        std::fs::remove_file(&path).unwrap();
        assert_eq!(next_trigger(&mut rx, Duration::from_secs(30)).await, None);
        std::fs::write(&path, "a: 3\n").unwrap();
        assert_eq!(
            next_trigger(&mut rx, Duration::from_secs(6)).await,
            Some(Trigger::FileChange)
        );
        stop.cancel();
        task.await.unwrap();
        drop(dir);
    }

    #[tokio::test]
    async fn a_reload_after_the_daemon_stopped_says_so() {
        let (reloader, rx) = channel();
        drop(rx);
        assert_eq!(
            reloader.reload(Trigger::Http).await,
            Err("the daemon is shutting down".to_string())
        );
    }
}
