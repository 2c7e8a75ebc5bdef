//! Reads the YAML config file and turns it into the validated domain model ([`crate::scenario`]).
//!
//! Loading runs in three steps, each owning one class of error:
//! 1. `file`: serde structs mirroring the YAML. Unknown keys are refused, and every value is
//!    parsed into its typed kind *while* the YAML is read (`scalar`, `kinds`, `text`,
//!    `collections`), so the message names the file, line and column of the value.
//! 2. `validate`: rules across fields and list items, reported with the field path.
//! 3. `build`: defaults, `${VAR}` expansion and secret files ([`mod@env`], `secrets`), and the
//!    domain types.
//!
//! [`describe()`] renders what `check-config` prints. No message, and no `describe` output,
//! ever contains a secret's value.

mod build;
mod collections;
mod data;
pub mod describe;
pub mod env;
mod file;
pub mod kinds;
mod load;
pub mod scalar;
mod secrets;
mod text;
pub mod units;
mod validate;

use std::fmt;
use std::path::{Path, PathBuf};

pub use describe::describe;
pub use env::EnvLookup;
pub use secrets::{REDACTED, redact};

use crate::scenario::Config;

/// Why a config was refused. `Display` is the complete message for the user: it starts with
/// the file (and the line and column when the YAML locates the problem), then the field path,
/// what was found and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read: missing, unreadable, a directory, or not UTF-8.
    #[error("{}: cannot read the config file: {reason}", path.display())]
    Read {
        /// The file as given.
        path: PathBuf,
        /// What the operating system said, lowercased.
        reason: String,
    },
    /// The file holds only whitespace and comments.
    #[error(
        "{}: the config file is empty: expected a mapping with at least a `targets:` list",
        path.display()
    )]
    Empty {
        /// The file as given.
        path: PathBuf,
    },
    /// Invalid YAML, an unknown or missing key, or a value that does not fit its key.
    #[error("{}: {message}", Located(path, *location))]
    Parse {
        /// The file as given.
        path: PathBuf,
        /// Line and column (1-based) of the offending value, when known.
        location: Option<(usize, usize)>,
        /// Field path and problem, e.g. `targets[0].rate: invalid rate "2/x": …`.
        message: String,
    },
    /// A rule across fields or list items, or a failed environment lookup or file read.
    #[error("{}: {field}: {message}", path.display())]
    Invalid {
        /// The file as given.
        path: PathBuf,
        /// Path of the offending field, e.g. `targets[1].scenarios[0].name`.
        field: String,
        /// The problem: what was found and what was expected.
        message: String,
    },
}

/// `path:line:column`, or just `path` without a location.
struct Located<'a>(&'a Path, Option<(usize, usize)>);

impl fmt::Display for Located<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.1 {
            Some((line, column)) => write!(f, "{}:{line}:{column}", self.0.display()),
            None => write!(f, "{}", self.0.display()),
        }
    }
}

/// A problem at a field path, before the file name is attached.
#[derive(Debug)]
pub(crate) struct FieldError {
    field: String,
    message: String,
}

impl FieldError {
    fn new(field: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }

    fn in_file(self, path: &Path) -> ConfigError {
        ConfigError::Invalid {
            path: path.to_path_buf(),
            field: self.field,
            message: self.message,
        }
    }
}

/// Reads and validates the config file at `path`, taking `${VAR}` values from the process
/// environment.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    load_str(&read_text(path)?, path)
}

/// The text of the file at `path`, or why it cannot be read (missing, unreadable, not UTF-8).
pub(crate) fn read_text(path: &Path) -> Result<String, ConfigError> {
    let read_error = |reason: String| ConfigError::Read {
        path: path.to_path_buf(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| read_error(io_message(&e)))?;
    String::from_utf8(bytes).map_err(|_| read_error("the file is not valid UTF-8 text".to_string()))
}

/// Validates config `text` as if read from `source`, which names the file in messages, becomes
/// [`Config::source`] and anchors relative file paths. `${VAR}` values come from the process
/// environment.
pub fn load_str(text: &str, source: &Path) -> Result<Config, ConfigError> {
    load_str_with_env(text, source, &env::process_env)
}

/// [`load_str`] with `${VAR}` values taken from `env` instead of the process environment, so
/// tests and embedders never have to modify the environment (`std::env::set_var` is unsound
/// in a multi-threaded process).
pub fn load_str_with_env(
    text: &str,
    source: &Path,
    env: EnvLookup<'_>,
) -> Result<Config, ConfigError> {
    if text
        .lines()
        .all(|line| line.trim().is_empty() || line.trim_start().starts_with('#'))
    {
        return Err(ConfigError::Empty {
            path: source.to_path_buf(),
        });
    }
    // A first pass that accepts any YAML, so a syntax error is reported as such even when it
    // truncates a mapping that would otherwise be reported first as missing a field.
    serde_yaml::from_str::<serde::de::IgnoredAny>(text).map_err(|e| {
        match second_document(text, &e) {
            Some(line) => ConfigError::Parse {
                path: source.to_path_buf(),
                location: Some((line, 1)),
                message: "invalid YAML: a second document starts here: expected one mapping \
                          (is a key indented too far, or its parent key missing?)"
                    .to_string(),
            },
            None => parse_error(source, &e, "invalid YAML: "),
        }
    })?;
    let file: file::ConfigFile =
        serde_yaml::from_str(text).map_err(|e| parse_error(source, &e, ""))?;
    validate::check(&file).map_err(|e| e.in_file(source))?;
    let ctx = build::Context {
        dir: source.parent().map(Path::to_path_buf).unwrap_or_default(),
        env,
    };
    build::config(file, source, &ctx).map_err(|e| e.in_file(source))
}

/// Moves serde_yaml's trailing " at line L column C" to the front as `file:L:C:`.
pub(crate) fn parse_error(source: &Path, error: &serde_yaml::Error, prefix: &str) -> ConfigError {
    let location = error.location().map(|at| (at.line(), at.column()));
    let mut message = error.to_string();
    if let Some((line, column)) = location {
        message = message.replacen(&format!(" at line {line} column {column}"), "", 1);
    }
    ConfigError::Parse {
        path: source.to_path_buf(),
        location,
        message: format!("{prefix}{message}"),
    }
}

/// When `error` is serde_yaml's unlocated "more than one document", the line where the second
/// document starts: the shortest prefix of whole lines that already holds two documents.
fn second_document(text: &str, error: &serde_yaml::Error) -> Option<usize> {
    const SEVERAL: &str = "more than one document";
    if error.location().is_some() || !error.to_string().contains(SEVERAL) {
        return None;
    }
    let lines: Vec<&str> = text.lines().collect();
    let several = |count: usize| {
        serde_yaml::from_str::<serde::de::IgnoredAny>(&lines[..count].join("\n"))
            .is_err_and(|e| e.to_string().contains(SEVERAL))
    };
    let (mut one, mut two) = (0, lines.len());
    while two - one > 1 {
        let middle = (one + two) / 2;
        if several(middle) {
            two = middle;
        } else {
            one = middle;
        }
    }
    several(two).then_some(two)
}

/// An I/O error as a lowercase phrase without the OS error number
/// ("no such file or directory").
pub(crate) fn io_message(error: &std::io::Error) -> String {
    let text = error.to_string();
    let text = match text.find(" (os error") {
        Some(at) => &text[..at],
        None => &text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}
