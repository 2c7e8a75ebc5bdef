//! The offline report commands: `synthex compare OLD.json NEW.json` and
//! `synthex report merge A.json B.json … --out DIR` (`synthex report trend` is in
//! [`super::trend::command`]).

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::findings::{self, FindingRules};
use super::grade::GradeScale;
use super::model::Report;
use super::threshold::{self, Threshold};
use super::{compare, csv, json, merge, summary, write_all};
use crate::exit;

/// Flags of `synthex compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The baseline: a report.json (of an earlier run, or a --save-baseline file), a --out
    /// directory, or a Locust *_stats.csv (or a directory of Locust CSVs).
    pub old: PathBuf,
    /// The run to judge against it, in any of the same forms.
    pub new: PathBuf,
    /// Take the tolerances from this config's load.baseline_tolerances instead of the defaults.
    #[arg(long = "config.file", value_name = "FILE")]
    pub config_file: Option<PathBuf>,
    /// Output: text, markdown (a CI comment) or github-issue (the JSON body of GitHub's
    /// "create an issue" request).
    #[arg(long, value_enum, default_value = "text")]
    pub format: CompareFormat,
    /// Same as --format=markdown.
    #[arg(long, conflicts_with = "format")]
    pub markdown: bool,
    /// github-issue: base URL the run's --out directory is published under; the issue links
    /// report.html, summary.md, report.json and the stats CSV there.
    #[arg(
        long = "artifacts-url",
        value_name = "URL",
        env = "SYNTHEX_ARTIFACTS_URL"
    )]
    pub artifacts_url: Option<String>,
    /// github-issue: a label for the issue; repeatable (default: performance, regression).
    #[arg(long = "label", value_name = "NAME")]
    pub labels: Vec<String>,
    /// Write the comparison to FILE instead of stdout. With github-issue, FILE is written only
    /// when a regression was found (and removed otherwise), so a later step files the issue
    /// when FILE exists.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Also write the comparison as one offline HTML page to FILE: both plans side by side,
    /// the changes with regressions highlighted, each scenario's percentile curves and
    /// throughput of both runs overlaid.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Exit 0 on a regression too (a pipeline step without a shell that must not fail: the
    /// --output file tells).
    #[arg(long = "exit-zero")]
    pub exit_zero: bool,
}

/// What `synthex compare` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CompareFormat {
    /// Plain text for a terminal.
    Text,
    /// A Markdown section for a CI comment.
    Markdown,
    /// The JSON payload of a GitHub issue: title, body (Markdown), labels.
    GithubIssue,
}

/// `synthex report …` subcommands.
#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Merge shard reports exactly (histograms, counts, timelines, resources) and write every
    /// report format from the merge.
    Merge(MergeArgs),
    /// Read every report in the folders given (synthex and Locust), show p95, error ratio and
    /// requests/s per scenario over the runs, and exit 3 on a steady degradation.
    Trend(super::trend::command::TrendArgs),
}

/// Flags of `synthex report merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The shard reports (report.json of each shard).
    #[arg(required = true, num_args = 1..)]
    pub reports: Vec<PathBuf>,
    /// Directory for the merged report.json, CSVs, summary.md and report.html.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Thresholds and grade boundaries from this config's load: section.
    #[arg(long = "config.file", value_name = "FILE")]
    pub config_file: Option<PathBuf>,
    /// A threshold to check on the merged run; repeatable.
    #[arg(long = "threshold", value_name = "EXPR")]
    pub thresholds: Vec<String>,
    /// As Locust's flag: the stats history CSV gets a row per scenario (flow steps as
    /// flow/step) in every interval, with percentiles over the last 10 seconds.
    #[arg(long = "csv-full-history")]
    pub csv_full_history: bool,
}

/// Runs `synthex compare`: exit 3 when the new report regressed.
pub fn compare_reports(args: &CompareArgs) -> u8 {
    let loaded = (|| -> Result<_, String> {
        let tolerances = match &args.config_file {
            Some(path) => {
                crate::config::load(path)
                    .map_err(|e| e.to_string())?
                    .load
                    .baseline_tolerances
            }
            None => compare::Tolerances::default(),
        };
        let old = super::read_run(&args.old).map_err(|e| e.to_string())?;
        let new = super::read_run(&args.new).map_err(|e| e.to_string())?;
        Ok((old, new, tolerances))
    })();
    let (old, new, tolerances) = match loaded {
        Ok(loaded) => loaded,
        Err(message) => return fail(exit::USAGE, &message),
    };
    let comparison = compare::compare(&old, &new, &tolerances);
    let format = if args.markdown {
        CompareFormat::Markdown
    } else {
        args.format
    };
    let mut text = Vec::new();
    let rendered = match format {
        CompareFormat::Text => compare::render_text(&comparison, &mut text),
        CompareFormat::Markdown => compare::render_markdown(&comparison, &mut text),
        CompareFormat::GithubIssue => {
            let links = compare::issue::Links::new(args.artifacts_url.clone(), |name| {
                std::env::var(name).ok()
            });
            compare::issue::payload(&comparison, &new, &links, &args.labels).and_then(|issue| {
                serde_json::to_writer_pretty(&mut text, &issue)?;
                writeln!(text)
            })
        }
    };
    let regressed = comparison.has_regressions();
    let written = rendered.and_then(|()| match &args.output {
        None => std::io::stdout().lock().write_all(&text),
        Some(path) if format == CompareFormat::GithubIssue && !regressed => {
            match std::fs::remove_file(path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            }
        }
        Some(path) => std::fs::write(path, &text),
    });
    if let Err(e) = written {
        return output_failed(args.output.as_deref(), &e);
    }
    if let Some(path) = &args.html {
        let page = super::write_file(path, |out| {
            compare::html::render(&old, &new, &comparison, out)
        });
        if let Err(e) = page {
            return fail(exit::RUNTIME, &e.to_string());
        }
    }
    if regressed && !args.exit_zero {
        exit::THRESHOLDS
    } else {
        exit::OK
    }
}

/// Runs `synthex report merge`: exit 3 when a threshold fails on the merged run.
pub fn merge_reports(args: &MergeArgs) -> u8 {
    let (thresholds, scale, rules) = match checks(args) {
        Ok(checks) => checks,
        Err(message) => return fail(exit::USAGE, &message),
    };
    let mut shards = Vec::with_capacity(args.reports.len());
    for path in &args.reports {
        match json::read(path) {
            Ok(report) => shards.push(report),
            Err(e) => return fail(exit::USAGE, &e.to_string()),
        }
    }
    let mut merged: Report = match merge::merge(&shards) {
        Ok(merged) => merged,
        Err(e) => return fail(exit::USAGE, &format!("cannot merge: {e}")),
    };
    if let Some(missing) = missing_shards(&merged) {
        eprintln!("synthex: warning: {missing}; the merged numbers cover only the shards given");
    }
    merged.thresholds = super::profile_runs::evaluate(&thresholds, &merged);
    if let Some(abort) = &merged.aborted {
        threshold::mark_abort(&mut merged.thresholds, abort);
    }
    merged.findings = findings::find(&merged, &rules);
    let grades = super::conclude(&mut merged, &scale);
    if let Err(e) = summary::render(&merged, &grades, &mut std::io::stdout().lock()) {
        return fail(exit::RUNTIME, &format!("stdout: {e}"));
    }
    let history = csv::History::of_flag(args.csv_full_history);
    match write_all(&merged, &grades, None, &args.out, "synthex", history) {
        Ok(paths) => {
            for path in paths {
                eprintln!("synthex: wrote {}", path.display());
            }
        }
        Err(e) => return fail(exit::RUNTIME, &e.to_string()),
    }
    // A shard stopped by an `abort_on_fail` threshold failed the run, judged here or not.
    if merged.thresholds.iter().any(|t| !t.passed) || merged.aborted.is_some() {
        exit::THRESHOLDS
    } else {
        exit::OK
    }
}

/// Which shards of the run are not in `merged`, as a sentence; `None` when all are.
fn missing_shards(merged: &Report) -> Option<String> {
    let count = merged.shards.iter().map(|s| s.count).max()?;
    let missing: Vec<String> = (0..count)
        .filter(|i| !merged.shards.iter().any(|s| s.index == *i))
        .map(|i| i.to_string())
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "{} of {count} shards merged, missing shard {}",
            count as usize - missing.len(),
            missing.join(", ")
        )
    })
}

/// Thresholds (config's then the flags'), grade boundaries and finding rules of a merge.
fn checks(args: &MergeArgs) -> Result<(Vec<Threshold>, GradeScale, FindingRules), String> {
    let (mut thresholds, scale, rules) = match &args.config_file {
        Some(path) => {
            let config = crate::config::load(path).map_err(|e| e.to_string())?;
            (
                config.load.thresholds,
                config.load.grades,
                config.load.findings,
            )
        }
        None => (Vec::new(), GradeScale::default(), FindingRules::default()),
    };
    thresholds.extend(threshold::parse_all(&args.thresholds).map_err(|e| e.to_string())?);
    Ok((thresholds, scale, rules))
}

/// The error of an output that could not be written (to `path`, or stdout): exit 1.
pub(crate) fn output_failed(path: Option<&std::path::Path>, e: &std::io::Error) -> u8 {
    let place = path.map_or("stdout".to_string(), |p| p.display().to_string());
    fail(exit::RUNTIME, &format!("{place}: {e}"))
}

/// Prints `message` as the error (redacted) and returns `code`.
pub(crate) fn fail(code: u8, message: &str) -> u8 {
    eprintln!("synthex: error: {}", crate::config::redact(message));
    code
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::Shard;
    use std::time::Duration;

    #[test]
    fn a_merge_of_part_of_the_shards_names_the_missing_ones() {
        let mut report = Report::for_step(Vec::new(), Duration::from_secs(1));
        report.shards = vec![Shard { index: 0, count: 3 }, Shard { index: 2, count: 3 }];
        assert_eq!(
            missing_shards(&report).as_deref(),
            Some("2 of 3 shards merged, missing shard 1")
        );
        report.shards.push(Shard { index: 1, count: 3 });
        assert_eq!(missing_shards(&report), None);
    }
}
