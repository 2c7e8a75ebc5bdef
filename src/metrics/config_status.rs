//! The outcome of config loads, as Prometheus reports its own: the gauges
//! `synthex_config_last_reload_successful` (0/1) and
//! `synthex_config_last_reload_success_timestamp_seconds`, plus what the status page shows
//! (when the running config was loaded, the last failed reload's error).

use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use prometheus::{Gauge, IntGauge, Registry};

use super::state::lock;

/// A reload that was refused: when, and the message (the one `check-config` prints).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReloadFailure {
    /// When the reload was attempted (wall clock).
    pub at: SystemTime,
    /// Why the new config was refused.
    pub message: String,
}

/// What the status page shows of the config's history.
#[derive(Debug, Clone)]
pub struct ConfigHistory {
    /// When the running config was loaded (start-up or the last successful reload).
    pub loaded_at: SystemTime,
    /// The last reload that failed, if the last attempt failed; cleared by a success.
    pub last_error: Option<ReloadFailure>,
}

/// The reload gauges and the history behind the status page.
pub(super) struct ConfigStatus {
    successful: IntGauge,
    success_timestamp: Gauge,
    history: Mutex<ConfigHistory>,
}

impl ConfigStatus {
    /// Registers the gauges, set as after a successful load now (the start-up load).
    pub(super) fn register(registry: &Registry) -> prometheus::Result<ConfigStatus> {
        let successful = IntGauge::new(
            "synthex_config_last_reload_successful",
            "Whether the last configuration load or reload succeeded (1) or was refused (0).",
        )?;
        let success_timestamp = Gauge::new(
            "synthex_config_last_reload_success_timestamp_seconds",
            "Unix time of the last successful configuration load or reload.",
        )?;
        registry.register(Box::new(successful.clone()))?;
        registry.register(Box::new(success_timestamp.clone()))?;
        let status = ConfigStatus {
            successful,
            success_timestamp,
            history: Mutex::new(ConfigHistory {
                loaded_at: SystemTime::now(),
                last_error: None,
            }),
        };
        status.succeeded(SystemTime::now());
        Ok(status)
    }

    pub(super) fn succeeded(&self, at: SystemTime) {
        self.successful.set(1);
        self.success_timestamp.set(
            at.duration_since(UNIX_EPOCH)
                .map_or(0.0, |since| since.as_secs_f64()),
        );
        *lock(&self.history) = ConfigHistory {
            loaded_at: at,
            last_error: None,
        };
    }

    pub(super) fn failed(&self, at: SystemTime, message: &str) {
        self.successful.set(0);
        lock(&self.history).last_error = Some(ReloadFailure {
            at,
            message: message.to_string(),
        });
    }

    pub(super) fn history(&self) -> ConfigHistory {
        lock(&self.history).clone()
    }
}
