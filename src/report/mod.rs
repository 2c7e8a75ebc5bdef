//! Load-test reports: the [`model::Report`] a run produces and everything made from it.
//!
//! `model` holds the versioned, serialisable report with exact latency histograms; the other
//! submodules render it (summary table, JSON, Locust-compatible CSV, Markdown, HTML), grade it,
//! check thresholds, compare it with a baseline and merge shard reports.
//!
//! - [`threshold`]: k6-style thresholds, parsed before the run and evaluated after it.
//! - [`findings`]: what the run shows (errors, tail, knee, saturation, resources at a limit),
//!   each with its figures; [`stage_table`] cuts the run into its plan's stages for them.
//! - [`profile_runs`]: each profile of a run of several as a report of its own.
//! - [`query_table`]: the `load.prometheus` queries, min / avg / max per stage.
//! - [`grade`]: excellent / good / acceptable / poor per signal and an overall score.
//! - [`summary`]: the stdout summary table.
//! - [`json`]: the JSON report, written and read back.
//! - [`locust_input`]: Locust's own CSVs read as a report, for comparisons with a Locust run.
//! - [`csv`]: Locust-compatible `_stats.csv`, `_stats_history.csv`, `_failures.csv`.
//! - [`markdown`]: the Markdown summary for a CI comment.
//! - [`html`]: the self-contained HTML report.
//! - [`charts`]: the report's charts (drawn by [`crate::chart`]).
//! - [`validate`]: the rules a report read from a file must meet.
//! - [`merge`]: exact merge of shard reports.
//! - [`packed`]: a histogram's buckets packed, for the intervals a load test keeps.
//! - [`compare`]: baseline comparison with tolerances.
//! - [`table`]: the rows and resource usage every human-facing renderer shows.
//! - [`trend`]: `synthex report trend`, many runs side by side with steady degradations.
//! - [`command`]: `synthex compare` and `synthex report merge`.
//! - [`format`]: number formatting and duration parsing shared by all of them.
//!
//! [`write_all`] writes every file format into one directory.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use compare::Comparison;
use grade::Grades;
use model::Report;

pub mod charts;
pub mod command;
pub mod compare;
pub mod csv;
pub mod findings;
pub mod format;
pub mod grade;
pub mod html;
pub mod json;
pub mod locust_input;
pub mod markdown;
pub mod merge;
pub mod model;
pub mod packed;
pub mod profile_runs;
pub mod query_table;
pub mod stage_table;
pub mod summary;
pub mod table;
pub mod threshold;
pub mod trend;
pub mod validate;

#[cfg(test)]
pub(crate) mod testing;

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
    /// A CSV input (Locust's) is malformed.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Csv {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column where the offending field starts.
        column: usize,
        /// What is wrong and what was expected.
        message: String,
    },
    /// The report breaks a rule every report synthex writes meets (see [`validate`]).
    #[error("{}: {field}: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Path of the offending field, e.g. `shards[0].index`.
        field: String,
        /// What is wrong and what was expected.
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

/// Writes every report file into `dir` (created if missing) and returns their paths:
/// `report.json`, `{prefix}_stats.csv`, `{prefix}_stats_history.csv`, `{prefix}_failures.csv`,
/// in a run of several profiles `{prefix}_{profile}_stats.csv` for each,
/// `summary.md` (with the baseline `comparison`, if any) and `report.html`; `history` chooses
/// the rows of the CSV history (Locust's `--csv-full-history`).
pub fn write_all(
    report: &Report,
    grades: &Grades,
    comparison: Option<&Comparison>,
    dir: &Path,
    prefix: &str,
    history: csv::History,
) -> Result<Vec<PathBuf>, ReportError> {
    std::fs::create_dir_all(dir).map_err(|e| ReportError::io(dir, e))?;
    let json_path = dir.join("report.json");
    json::write(report, &json_path)?;
    let mut paths = vec![json_path];
    paths.extend(csv::write(report, dir, prefix, history)?);
    paths.extend(profile_runs::write_stats(report, dir, prefix)?);
    let markdown_path = dir.join("summary.md");
    write_file(&markdown_path, |out| {
        markdown::render(report, grades, comparison, out)
    })?;
    paths.push(markdown_path);
    let html_path = dir.join("report.html");
    write_file(&html_path, |out| html::render(report, grades, out))?;
    paths.push(html_path);
    Ok(paths)
}

/// Derives what a finished (or merged) run's report carries beside its data, the stage rows and
/// the score, and returns the grades the renderers show. Thresholds are evaluated before.
pub fn conclude(report: &mut Report, scale: &grade::GradeScale) -> Grades {
    report.stages = stage_table::rows(report);
    let grades = grade::grade(report, scale);
    report.score = Some(grades.score.clone());
    grades
}

/// Reads a run to compare: a synthex `report.json` (or an `--out` directory holding one), or
/// Locust's CSVs (a `*_stats.csv`, or a directory of them; see [`locust_input`]).
pub fn read_run(path: &Path) -> Result<Report, ReportError> {
    if locust_input::is_locust(path) {
        locust_input::read(path)
    } else if path.is_dir() {
        json::read(&path.join("report.json"))
    } else {
        json::read(path)
    }
}

/// Creates `path` and lets `render` fill it through a buffer.
fn write_file(
    path: &Path,
    render: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>,
) -> Result<(), ReportError> {
    File::create(path)
        .and_then(|file| {
            let mut out = BufWriter::new(file);
            render(&mut out)?;
            out.flush()
        })
        .map_err(|e| ReportError::io(path, e))
}

/// `report`, graded on the default scale, rendered by `render` into a string: what the
/// renderers' unit tests look at.
#[cfg(test)]
pub(crate) fn rendered_with(
    report: &Report,
    render: impl FnOnce(&Report, &Grades, &mut Vec<u8>) -> io::Result<()>,
) -> String {
    let mut out = Vec::new();
    let grades = grade::grade(report, &grade::GradeScale::default());
    render(report, &grades, &mut out).expect("rendering into memory cannot fail");
    String::from_utf8(out).expect("renderers write UTF-8")
}

impl ReportError {
    fn io(path: &Path, source: io::Error) -> ReportError {
        ReportError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
