//! Where a load test's results go (`--out DIR`, `--save-baseline FILE`): checked before the
//! first request, written after the last, and rescued when writing still fails at the end.
//!
//! A heavy profile runs for minutes; a typo in a path must not cost that run. [`check`] creates
//! every location and proves it writable before the test starts. The disk can still change
//! under a run (a directory removed, a volume full), so [`write`] falls back to a fresh
//! directory under the system temp dir and says where: a finished run is never lost.

use std::fs::OpenOptions;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::report::compare::Comparison;
use crate::report::grade::Grades;
use crate::report::model::Report;
use crate::report::{self, csv, json};

/// Name of the empty file written and removed to prove a directory writable.
const PROBE_FILE: &str = ".synthex-write-check";

/// The output locations of one run.
pub struct Outputs<'a> {
    /// `--out`: the report directory.
    pub dir: Option<&'a Path>,
    /// `--save-baseline`: the baseline file.
    pub baseline: Option<&'a Path>,
    /// `--csv-full-history`: which rows the CSV history holds.
    pub history: csv::History,
}

/// What [`write`] did: the files written, and what failed and was rescued (if anything).
pub struct Written {
    /// Every file written, where it was written.
    pub files: Vec<PathBuf>,
    /// One line per location that failed, saying where its files went instead.
    pub rescued: Vec<String>,
    /// The directory rescued files went to, once one was needed.
    fallback: Option<PathBuf>,
}

impl Outputs<'_> {
    /// Creates the report directory and the baseline's directory and proves both writable,
    /// so a bad path fails now, not after the test. The error names the flag, the path and why.
    pub fn check(&self) -> Result<(), String> {
        if let Some(dir) = self.dir {
            writable_dir(dir).map_err(|e| format!("--out {}: {e}", dir.display()))?;
        }
        if let Some(file) = self.baseline {
            writable_file(file).map_err(|e| format!("--save-baseline {}: {e}", file.display()))?;
        }
        Ok(())
    }

    /// Writes the reports (file names prefixed with `prefix`) and the baseline. A location that
    /// fails is replaced by a new directory under the system temp dir, named in `rescued`.
    pub fn write(
        &self,
        report: &Report,
        grades: &Grades,
        comparison: Option<&Comparison>,
        prefix: &str,
    ) -> Written {
        let mut written = Written {
            files: Vec::new(),
            rescued: Vec::new(),
            fallback: None,
        };
        let reports = |dir: &Path| {
            report::write_all(report, grades, comparison, dir, prefix, self.history)
                .map_err(|e| e.to_string())
        };
        if let Some(dir) = self.dir {
            match reports(dir) {
                Ok(files) => written.files.extend(files),
                Err(e) => written.rescue(format!("cannot write the reports: {e}"), &reports),
            }
        }
        if let Some(file) = self.baseline {
            let name = file
                .file_name()
                .map_or("baseline.json".into(), PathBuf::from);
            let baseline = |dir: &Path| {
                let path = dir.join(&name);
                json::write(report, &path).map_err(|e| e.to_string())?;
                Ok(vec![path])
            };
            match json::write(report, file) {
                Ok(()) => written.files.push(file.to_path_buf()),
                Err(e) => written.rescue(format!("cannot save the baseline: {e}"), &baseline),
            }
        }
        written
    }
}

impl Written {
    /// After `what` failed, saves with `save` into the fallback directory (made on first use).
    fn rescue(&mut self, what: String, save: &dyn Fn(&Path) -> Result<Vec<PathBuf>, String>) {
        let place = match &self.fallback {
            Some(dir) => Ok(dir.clone()),
            None => fallback_dir(),
        };
        match place.and_then(|dir| save(&dir).map(|files| (dir, files))) {
            Ok((dir, files)) => {
                self.rescued
                    .push(format!("{what}; written to {} instead", dir.display()));
                self.files.extend(files);
                self.fallback = Some(dir);
            }
            Err(e) => self
                .rescued
                .push(format!("{what}; the fallback failed too: {e}")),
        }
    }
}

/// Creates `dir` if needed and writes (then removes) a file in it.
fn writable_dir(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create the directory: {e}"))?;
    let probe = dir.join(PROBE_FILE);
    std::fs::write(&probe, b"").map_err(|e| format!("cannot write in the directory: {e}"))?;
    std::fs::remove_file(&probe).map_err(|e| format!("cannot remove {}: {e}", probe.display()))
}

/// Creates the parent directory of `file` if needed and opens `file` for writing without
/// truncating it (a file made only for the check is removed again).
fn writable_file(file: &Path) -> Result<(), String> {
    if file.is_dir() {
        return Err("is a directory: expected a file name".to_string());
    }
    if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create the directory {}: {e}", parent.display()))?;
    }
    let existed = file.exists();
    OpenOptions::new()
        .append(true)
        .create(true)
        .open(file)
        .map_err(|e| format!("cannot write the file: {e}"))?;
    if !existed {
        std::fs::remove_file(file).map_err(|e| format!("cannot remove the check file: {e}"))?;
    }
    Ok(())
}

/// A new directory for rescued results: `$TMPDIR/synthex-load-SECONDS-PID`.
fn fallback_dir() -> Result<PathBuf, String> {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let dir = std::env::temp_dir().join(format!("synthex-load-{seconds}-{}", std::process::id()));
    std::fs::create_dir_all(&dir)
        .map(|()| dir.clone())
        .map_err(|e: io::Error| format!("cannot create {}: {e}", dir.display()))
}
