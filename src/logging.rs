//! Log set-up in the two formats Prometheus exporters offer: logfmt (the default, one
//! `key=value` line per event, as the Go exporters print) and JSON (one object per line, for log
//! shippers). Levels follow `--log.level`; `RUST_LOG` refines per module when set.

use std::fmt::{self, Write as _};
use std::str::FromStr;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// `--log.format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// `ts=… level=info msg="…" key=value`
    Logfmt,
    /// One JSON object per line.
    Json,
}

/// `--log.level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogLevel {
    /// Every request, every poll.
    Debug,
    /// Start, stop, and each change of a scenario's failure class.
    Info,
    /// Failures and degraded operation only.
    Warn,
    /// Errors only.
    Error,
}

impl LogLevel {
    fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

/// Installs the global subscriber, writing to stderr. Call once, at start-up.
pub fn init(level: LogLevel, format: LogFormat) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|spec| EnvFilter::from_str(&spec).ok())
        .unwrap_or_else(|| EnvFilter::new(format!("{},hyper=warn,reqwest=warn", level.as_str())));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false);
    let result = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Logfmt => builder.event_format(Logfmt).try_init(),
    };
    // A second init (tests, the demo starting the daemon) keeps the first subscriber.
    drop(result);
}

/// Formats events as logfmt: `ts=2026-11-22T09:00:00.123Z level=info target=synthex::daemon msg="…" k=v`.
struct Logfmt;

impl<S, N> FormatEvent<S, N> for Logfmt
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let ts = humantime::format_rfc3339_millis(std::time::SystemTime::now());
        let level = match *meta.level() {
            Level::TRACE => "trace",
            Level::DEBUG => "debug",
            Level::INFO => "info",
            Level::WARN => "warn",
            Level::ERROR => "error",
        };
        write!(writer, "ts={ts} level={level} target={}", meta.target())?;
        let mut fields = LogfmtFields::default();
        event.record(&mut fields);
        writeln!(writer, "{}", fields.0)
    }
}

#[derive(Default)]
struct LogfmtFields(String);

impl Visit for LogfmtFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field.name(), value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.push(field.name(), &format!("{value:?}"));
    }
}

impl LogfmtFields {
    fn push(&mut self, name: &str, value: &str) {
        let key = if name == "message" { "msg" } else { name };
        let _ = write!(self.0, " {key}={}", quote(value));
    }
}

/// Quotes a logfmt value when it holds spaces, quotes, `=` or control characters.
fn quote(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && c != '"' && c != '=');
    if plain {
        value.to_string()
    } else {
        format!("{value:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::quote;

    #[test]
    fn logfmt_quotes_only_when_needed() {
        assert_eq!(quote("api"), "api");
        assert_eq!(quote("two words"), "\"two words\"");
        assert_eq!(quote("a=b"), "\"a=b\"");
        assert_eq!(quote("say \"hi\""), "\"say \\\"hi\\\"\"");
        assert_eq!(quote(""), "\"\"");
        assert_eq!(quote("line\nbreak"), "\"line\\nbreak\"");
    }
}
