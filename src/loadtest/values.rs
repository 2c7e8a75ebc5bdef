//! The values of a load test and their ranges, read with the one grammar of values
//! ([`crate::config::units`]). Each is a config [`Kind`], so the profile file reads it as a YAML
//! scalar (a bad value is refused at its line and column) and `synthex load` uses the same
//! parser as a clap value parser (a bad flag is refused with its name, exit status 2).

use std::time::Duration;

use crate::config::kinds::duration_in;
use crate::config::scalar::Kind;
use crate::config::units::{self, out_of_range, quote};
use crate::report::model::{LoadModel, Shard};

/// The most virtual users a run, a stage or `--users` may ask for.
pub const MAX_USERS: u32 = 10_000;
/// The longest stage and the longest `--duration`: a day.
pub const MAX_STAGE: Duration = Duration::from_secs(24 * 3600);
/// The longest think time: an hour.
pub const MAX_THINK: Duration = Duration::from_secs(3600);
/// The most users started per second.
pub const MAX_SPAWN_RATE: f64 = 10_000.0;
/// The highest arrival rate of a load test (`--rate`, a stage's `rate`), per second: far above
/// what one machine sends, far below where timer arithmetic degrades.
pub const MAX_LOAD_RATE: f64 = 100_000.0;
/// The most shards a run may be split into.
pub const MAX_SHARDS: u32 = 1000;

/// A stage's `duration`: 0 (a jump) to 24h.
pub struct StageDurationKind;
impl Kind for StageDurationKind {
    type Value = Duration;
    const EXPECTING: &'static str = "a duration such as 30s or 2m";
    fn parse(text: &str) -> Result<Duration, String> {
        duration_in("duration", text, |d| d <= MAX_STAGE, "at most 24h")
    }
}

/// `--profile-pause`: the pause between the profiles of a run of several, 0 to 1h.
pub struct ProfilePauseKind;
impl Kind for ProfilePauseKind {
    type Value = Duration;
    const EXPECTING: &'static str = "a duration such as 10s";
    fn parse(text: &str) -> Result<Duration, String> {
        duration_in("pause", text, |d| d <= MAX_THINK, "0s to 1h")
    }
}

/// `--duration`: more than 0, at most 24h.
pub struct RunDurationKind;
impl Kind for RunDurationKind {
    type Value = Duration;
    const EXPECTING: &'static str = "a duration such as 30s or 2m";
    fn parse(text: &str) -> Result<Duration, String> {
        let fits = |d: Duration| !d.is_zero() && d <= MAX_STAGE;
        duration_in("duration", text, fits, "more than 0 and at most 24h")
    }
}

/// Parses a whole number of `what` in `min..=max` (digits only: no sign, fraction or exponent).
fn whole(what: &str, text: &str, min: u64, max: u64) -> Result<u64, String> {
    let trimmed = text.trim();
    let digits = !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit());
    match trimmed.parse::<u64>() {
        Ok(n) if digits && (min..=max).contains(&n) => Ok(n),
        _ => Err(format!(
            "invalid {what} {}: expected a whole number from {min} to {max}",
            quote(text)
        )),
    }
}

/// Parses a whole number of users in `min..=MAX_USERS`.
fn users(text: &str, min: u32) -> Result<u32, String> {
    // At most MAX_USERS, so it fits.
    whole("users", text, u64::from(min), u64::from(MAX_USERS)).map(|n| n as u32)
}

/// A stage's `users`: 0 to 10000.
pub struct StageUsersKind;
impl Kind for StageUsersKind {
    type Value = u32;
    const EXPECTING: &'static str = "a number of users such as 50";
    fn parse(text: &str) -> Result<u32, String> {
        users(text, 0)
    }
}

/// `--users`: 1 to 10000.
pub struct PeakUsersKind;
impl Kind for PeakUsersKind {
    type Value = u32;
    const EXPECTING: &'static str = "a number of users such as 50";
    fn parse(text: &str) -> Result<u32, String> {
        users(text, 1)
    }
}

/// The most iterations per virtual user (`--iterations`).
pub const MAX_ITERATIONS: u64 = 1_000_000_000;

/// `--iterations`: iterations per virtual user, 1 to 10^9.
pub struct IterationsKind;
impl Kind for IterationsKind {
    type Value = u64;
    const EXPECTING: &'static str = "a number of iterations such as 100";
    fn parse(text: &str) -> Result<u64, String> {
        whole("iterations", text, 1, MAX_ITERATIONS)
    }
}

/// A stage's `rate`: 0 (no arrivals), or 1/h to 100000/s.
pub struct StageRateKind;
impl Kind for StageRateKind {
    type Value = f64;
    const EXPECTING: &'static str = "a rate such as 200/s";
    fn parse(text: &str) -> Result<f64, String> {
        let rate = units::parse_rate(text)?;
        if rate == 0.0 {
            return Ok(0.0);
        }
        units::rate_in("rate", text, rate, MAX_LOAD_RATE).map_err(|e| format!("{e} (or 0)"))
    }
}

/// `--rate`: 1/h to 100000/s.
pub struct PeakRateKind;
impl Kind for PeakRateKind {
    type Value = f64;
    const EXPECTING: &'static str = "a rate such as 200/s";
    fn parse(text: &str) -> Result<f64, String> {
        units::rate_in("rate", text, units::parse_rate(text)?, MAX_LOAD_RATE)
    }
}

/// `spawn_rate` and `--spawn-rate`: users started per second, more than 0 and at most 10000.
pub struct SpawnRateKind;
impl Kind for SpawnRateKind {
    type Value = f64;
    const EXPECTING: &'static str = "users per second such as 10";
    fn parse(text: &str) -> Result<f64, String> {
        let rate = units::parse_number(text).ok_or_else(|| {
            format!(
                "invalid spawn rate {}: expected users per second such as 10 or 0.5",
                quote(text)
            )
        })?;
        if rate > 0.0 && rate <= MAX_SPAWN_RATE {
            Ok(rate)
        } else {
            Err(out_of_range(
                "spawn rate",
                text,
                "more than 0 and at most 10000 users per second",
            ))
        }
    }
}

/// What a virtual user does between two requests (closed model).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ThinkTime {
    /// The same pause after every request.
    Constant(Duration),
    /// A pause drawn uniformly from `min..=max`.
    Uniform(Duration, Duration),
    /// Each user starts an iteration every `1 / per_second` seconds (Locust's
    /// `constant_throughput`): the pause shrinks by the time the request took.
    Pace(Duration),
}

impl Default for ThinkTime {
    fn default() -> Self {
        ThinkTime::Constant(Duration::ZERO)
    }
}

/// `think_time` and `--think-time`: `1s`, a range `500ms..2s`, or a pace per user `2/s`;
/// pauses 0 to 1h, paces 1/h to 1000/s.
pub struct ThinkTimeKind;
impl Kind for ThinkTimeKind {
    type Value = ThinkTime;
    const EXPECTING: &'static str = "a think time such as 1s, 500ms..2s or 2/s";
    fn parse(text: &str) -> Result<ThinkTime, String> {
        let trimmed = text.trim();
        let pause =
            |part: &str| duration_in("think time", part.trim(), |d| d <= MAX_THINK, "at most 1h");
        if let Some((low, high)) = trimmed.split_once("..") {
            let (low, high) = (pause(low)?, pause(high)?);
            if low > high {
                return Err(format!(
                    "think time {}: the range must go from low to high",
                    quote(text)
                ));
            }
            return Ok(ThinkTime::Uniform(low, high));
        }
        if trimmed.contains('/') {
            let per_second = units::parse_rate(trimmed)?;
            let per_second = units::rate_in("pace", text, per_second, units::MAX_RATE_PER_SECOND)?;
            return Ok(ThinkTime::Pace(Duration::from_secs_f64(1.0 / per_second)));
        }
        pause(trimmed).map(ThinkTime::Constant).map_err(|e| {
            format!("{e}; or a range such as 500ms..2s, or a pace such as 2/s per user")
        })
    }
}

/// A profile's `model`: `closed` or `open`.
pub struct ModelKind;
impl Kind for ModelKind {
    type Value = LoadModel;
    const EXPECTING: &'static str = "closed or open";
    fn parse(text: &str) -> Result<LoadModel, String> {
        match text.trim() {
            "closed" => Ok(LoadModel::Closed),
            "open" => Ok(LoadModel::Open),
            _ => Err(format!("model {}: expected closed or open", quote(text))),
        }
    }
}

/// `--shard I/N`: `0 <= I < N <= 1000`.
pub struct ShardKind;
impl Kind for ShardKind {
    type Value = Shard;
    const EXPECTING: &'static str = "a shard such as 0/4";
    fn parse(text: &str) -> Result<Shard, String> {
        let bad = || {
            format!(
                "shard {}: expected I/N with 0 <= I < N <= {MAX_SHARDS}, e.g. 0/4 (I is 0-based, as JOB_COMPLETION_INDEX)",
                quote(text)
            )
        };
        let (index, count) = text.split_once('/').ok_or_else(bad)?;
        let number = |part: &str| {
            let part = part.trim();
            let whole = !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
            part.parse::<u32>().ok().filter(|_| whole).ok_or_else(bad)
        };
        let (index, count) = (number(index)?, number(count)?);
        if count == 0 || index >= count || count > MAX_SHARDS {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn think_time_forms_parse_and_bad_ones_say_what_is_expected() {
        let parse = ThinkTimeKind::parse;
        assert_eq!(parse("1s"), Ok(ThinkTime::Constant(secs(1.0))));
        assert_eq!(
            parse("500ms..2s"),
            Ok(ThinkTime::Uniform(secs(0.5), secs(2.0)))
        );
        assert_eq!(parse("2/s"), Ok(ThinkTime::Pace(secs(0.5))));
        assert!(parse("2s..1s").unwrap_err().contains("low to high"));
        assert!(parse("0/s").unwrap_err().contains("at least 1/h"));
        assert!(parse("soon").unwrap_err().contains("500ms..2s"));
        assert!(parse("1h 1s").unwrap_err().contains("at most 1h"));
        assert_eq!(parse("1h"), Ok(ThinkTime::Constant(MAX_THINK)));
    }

    #[test]
    fn ranges_hold_at_their_edges() {
        assert_eq!(StageDurationKind::parse("0s"), Ok(Duration::ZERO));
        assert_eq!(StageDurationKind::parse("24h"), Ok(MAX_STAGE));
        assert!(StageDurationKind::parse("24h 1ns").is_err());
        assert!(RunDurationKind::parse("0s").is_err());
        assert_eq!(ProfilePauseKind::parse("0s"), Ok(Duration::ZERO));
        assert_eq!(ProfilePauseKind::parse("1h"), Ok(MAX_THINK));
        assert!(ProfilePauseKind::parse("1h 1ms").is_err());
        assert_eq!(IterationsKind::parse("1"), Ok(1));
        assert_eq!(IterationsKind::parse("1000000000"), Ok(MAX_ITERATIONS));
        for bad in ["0", "1000000001", "-1", "+3", "1.5", "1e3", "ten", ""] {
            assert_eq!(
                IterationsKind::parse(bad),
                Err(format!(
                    "invalid iterations {}: expected a whole number from 1 to 1000000000",
                    quote(bad)
                )),
                "{bad}"
            );
        }
        assert_eq!(StageUsersKind::parse("0"), Ok(0));
        assert_eq!(StageUsersKind::parse("10000"), Ok(10_000));
        assert!(StageUsersKind::parse("10001").is_err());
        assert!(StageUsersKind::parse("1.5").is_err());
        assert!(PeakUsersKind::parse("0").is_err());
        assert_eq!(StageRateKind::parse("0/s"), Ok(0.0));
        assert!(StageRateKind::parse("1/1000000h").is_err());
        assert_eq!(PeakRateKind::parse("100000/s"), Ok(100_000.0));
        assert_eq!(
            PeakRateKind::parse("100001"),
            Err(
                "rate \"100001\" is out of range: expected at least 1/h and at most 100000/s"
                    .into()
            )
        );
        assert!(PeakRateKind::parse("0.5/h").is_err());
        assert_eq!(SpawnRateKind::parse("10000"), Ok(10_000.0));
        assert!(SpawnRateKind::parse("0").is_err());
        assert!(SpawnRateKind::parse("10000.5").is_err());
        assert_eq!(ShardKind::parse("3/4"), Ok(Shard { index: 3, count: 4 }));
        assert_eq!(
            ShardKind::parse("999/1000"),
            Ok(Shard {
                index: 999,
                count: 1000
            })
        );
        for bad in ["4/4", "1/0", "a/2", "2", "+1/2", "0/1001", "7/2"] {
            assert!(
                ShardKind::parse(bad).unwrap_err().contains("0-based"),
                "{bad}"
            );
        }
    }
}
