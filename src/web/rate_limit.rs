//! `rate_limit`: exporter-toolkit's token bucket over all requests of the port (Go's
//! `rate.NewLimiter(rate.Every(interval), burst)`): a request that finds no token gets 429.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::FieldProblem;
use super::file::RateLimitFile;
use crate::config::units::parse_duration;

/// A token bucket holding up to `burst` tokens, one added every `interval`.
pub struct RateLimit {
    burst: f64,
    interval: Duration,
    bucket: Mutex<(f64, Instant)>,
}

impl RateLimit {
    /// The limiter `file` asks for, or `None` when its interval is zero or unset (as
    /// exporter-toolkit: no limit then).
    pub(super) fn new(file: RateLimitFile) -> Result<Option<RateLimit>, FieldProblem> {
        let interval = match file.interval.as_deref() {
            None => return Ok(None),
            Some(text) => parse_duration(text)
                .map_err(|problem| ("rate_limit.interval".to_string(), problem))?,
        };
        if interval.is_zero() {
            return Ok(None);
        }
        let burst = match file.burst {
            Some(burst @ 1..=1_000_000) => burst,
            other => {
                return Err((
                    "rate_limit.burst".to_string(),
                    format!(
                        "{other:?}: expected 1 to 1000000 requests (0 would refuse every request)"
                    ),
                ));
            }
        };
        let burst = burst as f64;
        Ok(Some(RateLimit {
            burst,
            interval,
            bucket: Mutex::new((burst, Instant::now())),
        }))
    }

    /// Takes a token if there is one: `false` means answer 429.
    pub fn allow(&self) -> bool {
        let Ok(mut bucket) = self.bucket.lock() else {
            return true;
        };
        let now = Instant::now();
        let (tokens, last) = *bucket;
        let refilled = now.duration_since(last).as_secs_f64() / self.interval.as_secs_f64();
        let tokens = (tokens + refilled).min(self.burst);
        if tokens >= 1.0 {
            *bucket = (tokens - 1.0, now);
            true
        } else {
            *bucket = (tokens, now);
            false
        }
    }
}
