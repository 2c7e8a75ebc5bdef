//! Log set-up in the two formats Prometheus exporters offer: logfmt (the default, one
//! `key=value` line per event, as the Go exporters print) and JSON (one object per line, for log
//! shippers). Levels follow `--log.level`; `RUST_LOG` refines per module when set.
//!
//! Both formats carry the same keys, each once: `ts`, `level`, `msg` (as go-kit's logger names
//! them), `module` (the Rust module that logged, what `RUST_LOG` filters on), then the event's
//! fields. `target` is always the synthex target, as in the metrics' `target` label, so a log
//! line and a series join on it. Every value, from synthex or from a library, goes through
//! [`redact`] on its way out: no URL password or API key reaches a log at any level.

use std::fmt;
use std::str::FromStr;

use serde_json::Value;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::config::redact;

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
    /// Also the libraries' own tracing (connections, TLS), for debugging a target.
    Trace,
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
            LogLevel::Trace => "trace",
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
        .unwrap_or_else(|| match level {
            LogLevel::Trace => EnvFilter::new("trace"),
            _ => EnvFilter::new(format!("{},hyper=warn,reqwest=warn", level.as_str())),
        });
    let result = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .event_format(Line(format))
        .try_init();
    // A second init (tests, the demo starting the daemon) keeps the first subscriber.
    drop(result);
}

/// Formats one event as a logfmt or JSON line with the keys described in the module docs.
struct Line(LogFormat);

impl<S, N> FormatEvent<S, N> for Line
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
        let ts = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
        let level = match *meta.level() {
            Level::TRACE => "trace",
            Level::DEBUG => "debug",
            Level::INFO => "info",
            Level::WARN => "warn",
            Level::ERROR => "error",
        };
        let mut fields = Fields::default();
        fields.push("ts", Value::from(ts));
        fields.push("level", Value::from(level));
        event.record(&mut fields);
        fields.push("module", Value::from(meta.target()));
        writeln!(writer, "{}", fields.render(self.0))
    }
}

/// An event's keys and values in order: `ts`, `level`, `msg`, the fields, `module` last as
/// the least read. A key seen twice keeps its first value, so no line ever repeats a key.
#[derive(Default)]
struct Fields(Vec<(&'static str, Value)>);

impl Fields {
    fn push(&mut self, name: &'static str, value: Value) {
        let key = if name == "message" { "msg" } else { name };
        if self.0.iter().any(|(seen, _)| *seen == key) {
            return;
        }
        let value = match value {
            Value::String(text) => Value::String(redact(&text).into_owned()),
            other => other,
        };
        // `msg` right after `level`, where readers of logfmt look for it.
        let at = if key == "msg" {
            self.0.len().min(2)
        } else {
            self.0.len()
        };
        self.0.insert(at, (key, value));
    }

    fn render(&self, format: LogFormat) -> String {
        match format {
            LogFormat::Json => {
                let entries: Vec<String> = self
                    .0
                    .iter()
                    .map(|(key, value)| format!("{}:{value}", Value::from(*key)))
                    .collect();
                format!("{{{}}}", entries.join(","))
            }
            LogFormat::Logfmt => {
                let entries: Vec<String> = self
                    .0
                    .iter()
                    .map(|(key, value)| match value {
                        Value::String(text) => format!("{key}={}", quote(text)),
                        other => format!("{key}={other}"),
                    })
                    .collect();
                entries.join(" ")
            }
        }
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field.name(), Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field.name(), Value::from(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field.name(), Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field.name(), Value::from(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        // NaN and infinities are not JSON numbers: they go as text.
        let value = serde_json::Number::from_f64(value)
            .map_or_else(|| Value::from(value.to_string()), Value::Number);
        self.push(field.name(), value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.push(field.name(), Value::from(format!("{value:?}")));
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
    use super::*;

    #[test]
    fn logfmt_quotes_only_when_needed() {
        assert_eq!(quote("api"), "api");
        assert_eq!(quote("two words"), "\"two words\"");
        assert_eq!(quote("a=b"), "\"a=b\"");
        assert_eq!(quote("say \"hi\""), "\"say \\\"hi\\\"\"");
        assert_eq!(quote(""), "\"\"");
        assert_eq!(quote("line\nbreak"), "\"line\\nbreak\"");
    }

    #[test]
    fn each_key_appears_once_with_msg_after_level() {
        let mut fields = Fields::default();
        fields.push("ts", Value::from("t"));
        fields.push("level", Value::from("warn"));
        fields.push("target", Value::from("api"));
        fields.push("message", Value::from("poll failed"));
        fields.push("url", Value::from("http://u:pw@h/?token=t"));
        fields.push("module", Value::from("synthex::stats_poller"));
        fields.push("target", Value::from("shadow"));
        assert_eq!(
            fields.render(LogFormat::Logfmt),
            "ts=t level=warn msg=\"poll failed\" target=api \
             url=\"http://u:<redacted>@h/?token=<redacted>\" module=synthex::stats_poller"
        );
        let json: serde_json::Map<String, Value> =
            serde_json::from_str(&fields.render(LogFormat::Json)).unwrap();
        assert_eq!(json.len(), 6);
        assert_eq!(json["target"], "api");
        assert_eq!(json["module"], "synthex::stats_poller");
    }
}
