//! Load-test reports: the [`model::Report`] a run produces and everything made from it.
//!
//! `model` holds the versioned, serialisable report with exact latency histograms; the other
//! submodules render it (summary table, JSON, Locust-compatible CSV, Markdown, HTML), grade it,
//! check thresholds, compare it with a baseline and merge shard reports.
//!
//! - [`threshold`]: k6-style thresholds, parsed before the run and evaluated after it.
//! - [`grade`]: excellent / good / acceptable / poor per signal and an overall score.
//! - [`summary`]: the stdout summary table.
//! - [`json`]: the JSON report, written and read back.
//! - [`table`]: the rows and resource usage every human-facing renderer shows.
//! - [`format`]: number formatting and duration parsing shared by all of them.

use std::io;
use std::path::{Path, PathBuf};

pub mod chart;
pub mod compare;
pub mod csv;
pub mod format;
pub mod grade;
pub mod html;
pub mod json;
pub mod markdown;
pub mod merge;
pub mod model;
pub mod summary;
pub mod table;
pub mod threshold;

#[cfg(test)]
mod testing;

/// A report file could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Reading or writing the file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: io::Error,
    },
    /// The file is not valid JSON or not shaped like a report.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// serde_json's description.
        message: String,
    },
    /// The report was written with a schema this version cannot read.
    #[error(
        "{}: {}",
        path.display(),
        match found {
            Some(v) => format!(
                "report schema_version {v} is not supported (this synthex reads version {}); \
                 re-run the test or use the synthex version that wrote it",
                model::SCHEMA_VERSION
            ),
            None => "no schema_version: not a synthex load-test report".to_string(),
        }
    )]
    SchemaVersion {
        /// The file.
        path: PathBuf,
        /// The version it declares, if any.
        found: Option<u32>,
    },
}

impl ReportError {
    fn io(path: &Path, source: io::Error) -> ReportError {
        ReportError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
