//! The JSON report: [`write`] saves a [`Report`] as pretty-printed JSON and [`read`] loads one
//! back for `synthex compare`, `synthex report merge` and `--baseline`.
//!
//! A saved report is input like any other file: [`read`] checks `schema_version` before
//! anything else, so a report from an incompatible synthex is refused with that said rather than
//! with a confusing field error, then checks the rules of [`validate`]; every error names the
//! file (and line and column for JSON syntax and shape errors, the field path for the rules).

use std::path::Path;

use serde::Deserialize;

use super::model::{Report, SCHEMA_VERSION};
use super::{ReportError, validate};

/// Writes `report` to `path` as pretty-printed JSON.
pub fn write(report: &Report, path: &Path) -> Result<(), ReportError> {
    let mut json =
        serde_json::to_vec_pretty(report).map_err(|e| ReportError::io(path, e.into()))?;
    json.push(b'\n');
    std::fs::write(path, json).map_err(|e| ReportError::io(path, e))
}

/// Reads a JSON report written by [`write`].
pub fn read(path: &Path) -> Result<Report, ReportError> {
    let text = std::fs::read_to_string(path).map_err(|e| ReportError::io(path, e))?;
    parse(&text, path)
}

/// Only the version, read first so that an unknown schema is refused by its version.
#[derive(Deserialize)]
struct Version {
    schema_version: Option<u32>,
}

/// Parses a report's JSON text; `path` is only used in error messages.
pub fn parse(text: &str, path: &Path) -> Result<Report, ReportError> {
    let syntax = |e: serde_json::Error| {
        // serde_json appends " at line L column C"; the error shows them as path:L:C instead.
        let text = e.to_string();
        let message = text
            .rsplit_once(" at line ")
            .map_or(text.as_str(), |(m, _)| m);
        ReportError::Json {
            path: path.to_path_buf(),
            line: e.line(),
            column: e.column(),
            message: message.to_string(),
        }
    };
    match serde_json::from_str::<Version>(text).map_err(syntax)? {
        Version {
            schema_version: Some(SCHEMA_VERSION),
        } => {
            let report: Report = serde_json::from_str(text).map_err(syntax)?;
            validate::check(&report).map_err(|e| ReportError::Invalid {
                path: path.to_path_buf(),
                field: e.field,
                message: e.message,
            })?;
            Ok(report)
        }
        Version { schema_version } => Err(ReportError::SchemaVersion {
            path: path.to_path_buf(),
            found: schema_version,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testing;

    fn error(text: &str) -> String {
        parse(text, Path::new("old.json")).unwrap_err().to_string()
    }

    #[test]
    fn a_report_survives_a_round_trip_through_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.json");
        let report = testing::report();
        write(&report, &path).unwrap();
        assert_eq!(read(&path).unwrap(), report);
    }

    #[test]
    fn an_unknown_schema_version_is_refused_by_name() {
        let message = error(r#"{"schema_version": 2, "something": "new"}"#);
        assert_eq!(
            message,
            format!(
                "old.json: report schema_version 2 is not supported (this synthex reads version {SCHEMA_VERSION}); \
                 re-run the test or use the synthex version that wrote it"
            )
        );
        assert!(
            error(r#"{"hello": 1}"#).contains("no schema_version"),
            "{}",
            error("{}")
        );
    }

    #[test]
    fn syntax_and_shape_errors_name_the_file_line_and_column() {
        let message = error("{\n  \"schema_version\": 1,\n  oops\n}");
        assert!(message.starts_with("old.json:3:3: "), "{message}");
        let message = error("{\n\"schema_version\": 1,\n\"config\": 5\n}");
        assert!(message.starts_with("old.json:3:"), "{message}");
        assert!(message.contains("invalid type"), "{message}");
        assert!(!message.contains("at line"), "{message}");
        let missing = read(Path::new("/nonexistent/report.json"))
            .unwrap_err()
            .to_string();
        assert!(
            missing.starts_with("/nonexistent/report.json: "),
            "{missing}"
        );
    }
}
