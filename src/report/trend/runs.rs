//! The runs of a trend: every report found in the folders given, read and put in the order the
//! runs started.
//!
//! A folder is searched with its subfolders (symbolic links to folders are not followed, so a
//! `latest` link does not count a run twice):
//! - a folder holding `report.json` is one synthex run (the Locust-compatible CSVs synthex writes
//!   beside it are the same run, not another one);
//! - in any other folder, each `*_stats.csv` is one Locust run (with its `_stats_history.csv`
//!   and `_failures.csv` siblings, see [`locust_input`](super::super::locust_input)).
//!
//! A file given instead of a folder is one run (a `report.json`, a `--save-baseline` file or a
//! Locust `*_stats.csv`). A folder with no run in it is an error, as is a report that cannot be
//! read: the error names the file and why, and no trend is drawn from part of the history.
//!
//! When a run started ([`StartSource`]): a synthex report records it; a Locust run gives it in
//! its `_stats_history.csv`; without that file, a timestamp in the stats file's name or its
//! folder's name (`20261202T014507Z`, as `--out='{timestamp}_…'` writes it, or RFC 3339
//! `2026-12-02T01:45:07Z`) is taken; failing both, the stats file's modification time (Locust
//! writes the file last at the end of the run) less the run's length.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::Serialize;

use super::super::model::Report;
use super::super::{ReportError, json, locust_input};

/// Suffix of a Locust stats file.
const STATS_SUFFIX: &str = "_stats.csv";

/// One run of the trend.
#[derive(Debug, Clone)]
pub struct Run {
    /// Where it was found and when it started.
    pub info: RunInfo,
    /// Its report.
    pub report: Report,
}

/// Which tool wrote a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tool {
    /// A synthex `report.json`.
    Synthex,
    /// Locust's `--csv` files.
    Locust,
}

/// Where a run's start time came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StartSource {
    /// The synthex report's `started_at`.
    Report,
    /// The first row of Locust's `_stats_history.csv`.
    LocustHistory,
    /// A timestamp in the stats file's or its folder's name.
    Name,
    /// The stats file's modification time less the run's length.
    FileTime,
}

/// A run as the trend lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunInfo {
    /// The report file (`…/report.json` or `…_stats.csv`).
    pub path: String,
    /// How tables name the run: its folder's name (`FOLDER/NAME_stats.csv` for a Locust run, as
    /// a folder may hold several).
    pub name: String,
    /// synthex or Locust.
    pub tool: Tool,
    /// Start, Unix seconds.
    pub started_at: f64,
    /// Where the start came from.
    pub start_source: StartSource,
    /// The profile as the report names it (`locust` for a Locust run).
    pub profile: String,
    /// Length of the run, seconds.
    pub duration_seconds: f64,
}

/// A report file found in a folder.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Found {
    Synthex(PathBuf),
    Locust(PathBuf),
}

/// Reads every run in `paths` (folders or report files), oldest first; runs found twice (a
/// folder and its subfolder both given) are read once.
pub fn collect(paths: &[PathBuf]) -> Result<Vec<Run>, ReportError> {
    let mut found = Vec::new();
    for path in paths {
        let metadata = std::fs::metadata(path).map_err(|e| ReportError::io(path, e))?;
        if metadata.is_dir() {
            let before = found.len();
            search(path, &mut found)?;
            if found.len() == before {
                return Err(ReportError::io(
                    path,
                    std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        "no report.json and no Locust *_stats.csv in this folder or below it",
                    ),
                ));
            }
        } else if locust_input::is_locust(path) {
            found.push(Found::Locust(path.clone()));
        } else {
            found.push(Found::Synthex(path.clone()));
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    found.retain(|f| {
        let path = match f {
            Found::Synthex(p) | Found::Locust(p) => p,
        };
        seen.insert(std::fs::canonicalize(path).unwrap_or_else(|_| path.clone()))
    });
    let mut runs = found.iter().map(read).collect::<Result<Vec<_>, _>>()?;
    runs.sort_by(|a, b| {
        a.info
            .started_at
            .total_cmp(&b.info.started_at)
            .then_with(|| a.info.path.cmp(&b.info.path))
    });
    Ok(runs)
}

/// Adds the runs in `dir` and below it to `found`, in name order.
fn search(dir: &Path, found: &mut Vec<Found>) -> Result<(), ReportError> {
    let mut entries: Vec<(PathBuf, std::fs::FileType)> = std::fs::read_dir(dir)
        .map_err(|e| ReportError::io(dir, e))?
        .map(|entry| {
            let entry = entry.map_err(|e| ReportError::io(dir, e))?;
            let kind = entry
                .file_type()
                .map_err(|e| ReportError::io(&entry.path(), e))?;
            Ok((entry.path(), kind))
        })
        .collect::<Result<_, ReportError>>()?;
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let report = dir.join("report.json");
    if report.is_file() {
        found.push(Found::Synthex(report));
    } else {
        found.extend(
            entries
                .iter()
                .filter(|(path, kind)| !kind.is_dir() && is_stats_file(path))
                .map(|(path, _)| Found::Locust(path.clone())),
        );
    }
    for (path, _) in entries.iter().filter(|(_, kind)| kind.is_dir()) {
        search(path, found)?;
    }
    Ok(())
}

fn is_stats_file(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(STATS_SUFFIX))
}

/// Reads one found report and works out when its run started.
fn read(found: &Found) -> Result<Run, ReportError> {
    let (path, tool, report) = match found {
        Found::Synthex(path) => (path, Tool::Synthex, json::read(path)?),
        Found::Locust(path) => (path, Tool::Locust, locust_input::read(path)?),
    };
    let (started_at, start_source) = match tool {
        Tool::Synthex => (report.started_at, StartSource::Report),
        Tool::Locust if report.started_at > 0.0 => (report.started_at, StartSource::LocustHistory),
        Tool::Locust => locust_start(path, report.duration_seconds)?,
    };
    let base = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    let folder = path.parent().and_then(base);
    let name = match (tool, folder) {
        (Tool::Synthex, Some(folder)) => folder,
        (Tool::Locust, Some(folder)) => format!("{folder}/{}", base(path).unwrap_or_default()),
        (_, None) => path.display().to_string(),
    };
    Ok(Run {
        info: RunInfo {
            path: path.display().to_string(),
            name,
            tool,
            started_at,
            start_source,
            profile: report.plan.profile.clone(),
            duration_seconds: report.duration_seconds,
        },
        report,
    })
}

/// The start of a Locust run without a history file: a timestamp in the file's or its folder's
/// name, else the file's modification time less the run's length.
fn locust_start(path: &Path, length: f64) -> Result<(f64, StartSource), ReportError> {
    let names = [path.file_name(), path.parent().and_then(Path::file_name)];
    if let Some(at) = names
        .iter()
        .flatten()
        .find_map(|n| timestamp_in(&n.to_string_lossy()))
    {
        return Ok((at, StartSource::Name));
    }
    let modified = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .map_err(|e| ReportError::io(path, e))?;
    let written = modified
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    Ok((written - length, StartSource::FileTime))
}

/// The first timestamp in `name`: `20261202T014507Z` or `2026-12-02T01:45:07Z`, as Unix seconds.
pub fn timestamp_in(name: &str) -> Option<f64> {
    let chars: Vec<(usize, char)> = name.char_indices().collect();
    chars.iter().enumerate().find_map(|(i, &(start, _))| {
        let rest = &name[start..];
        let rfc3339 = rest
            .get(..20)
            .and_then(|s| humantime::parse_rfc3339(s).ok());
        let basic = rest.get(..16).and_then(|s| {
            let b = s.as_bytes();
            let shape = b.iter().enumerate().all(|(j, c)| match j {
                8 => *c == b'T',
                15 => *c == b'Z',
                _ => c.is_ascii_digit(),
            });
            let boundary = i == 0 || !chars[i - 1].1.is_ascii_digit();
            (shape && boundary)
                .then(|| {
                    humantime::parse_rfc3339(&format!(
                        "{}-{}-{}T{}:{}:{}Z",
                        &s[0..4],
                        &s[4..6],
                        &s[6..8],
                        &s[9..11],
                        &s[11..13],
                        &s[13..15]
                    ))
                    .ok()
                })
                .flatten()
        });
        rfc3339
            .or(basic)
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_secs_f64())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_read_from_names_in_both_forms() {
        assert_eq!(
            timestamp_in("20261202T014507Z_light"),
            Some(1_796_175_907.0)
        );
        assert_eq!(
            timestamp_in("nightly-2026-12-02T01:45:07Z"),
            Some(1_796_175_907.0)
        );
        assert_eq!(timestamp_in("run_20261202T014507Z"), Some(1_796_175_907.0));
        // Not a date: a month 13, a digit run longer than the form, no zone.
        assert_eq!(timestamp_in("20261302T014507Z"), None);
        assert_eq!(timestamp_in("120261202T014507Z"), None);
        assert_eq!(timestamp_in("20261202T014507"), None);
        assert_eq!(timestamp_in("locust_stats.csv"), None);
    }
}
