//! `synthex report trend DIR...`: flags, output and exit status (0 no degradation, 3 a
//! degradation, 2 bad input: a folder without runs, a report that cannot be read; 1 the output
//! could not be written).

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use super::degradation::Rule;
use super::{build, page, render, runs};
use crate::config::kinds::ProportionKind;
use crate::config::scalar::Kind;
use crate::exit;
use crate::report::command::{fail, output_failed};

/// Flags of `synthex report trend`.
#[derive(Debug, Args)]
pub struct TrendArgs {
    /// Folders of load-test reports, searched with their subfolders (a folder with report.json
    /// is a synthex run, each *_stats.csv elsewhere a Locust run), or report files.
    #[arg(required = true, num_args = 1.., value_name = "DIR")]
    pub dirs: Vec<PathBuf>,
    /// Output: text (a terminal table), markdown, json or html (one offline page with charts).
    #[arg(long, value_enum, default_value = "text")]
    pub format: TrendFormat,
    /// Write the trend to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// N: a signal degrades when each of the newest N runs is worse than the run before it
    /// (or each worse than the first run) by more than the threshold; 1 to 1000.
    #[arg(
        long = "degradation-runs",
        value_name = "N",
        default_value = "3",
        value_parser = clap::value_parser!(u16).range(1..=1000)
    )]
    pub degradation_runs: u16,
    /// X: how much worse counts, relative to the run compared with (10% or 0.1; 0 to 1000%).
    #[arg(
        long = "degradation-threshold",
        value_name = "X",
        default_value = "10%",
        value_parser = ProportionKind::parse
    )]
    pub degradation_threshold: f64,
}

/// What `synthex report trend` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TrendFormat {
    /// Plain text tables for a terminal.
    Text,
    /// Markdown (a CI comment, a wiki page).
    Markdown,
    /// The trend as JSON, for tools.
    Json,
    /// One offline HTML page with the tables and a chart per scenario and signal.
    Html,
}

/// Runs `synthex report trend`: exit 3 when a signal degraded.
pub fn trend_reports(args: &TrendArgs) -> u8 {
    let runs = match runs::collect(&args.dirs) {
        Ok(runs) => runs,
        Err(e) => return fail(exit::USAGE, &e.to_string()),
    };
    let rule = Rule {
        runs: usize::from(args.degradation_runs),
        threshold: args.degradation_threshold,
    };
    let trend = build(&runs, rule);
    let mut text = Vec::new();
    let rendered = match args.format {
        TrendFormat::Text => render::text(&trend, &mut text),
        TrendFormat::Markdown => render::markdown(&trend, &mut text),
        TrendFormat::Json => render::json(&trend, &mut text),
        TrendFormat::Html => page::render(&trend, &mut text),
    };
    let written = rendered.and_then(|()| match &args.out {
        Some(path) => std::fs::write(path, &text),
        None => std::io::stdout().lock().write_all(&text),
    });
    if let Err(e) = written {
        return output_failed(args.out.as_deref(), &e);
    }
    if trend.degradations.is_empty() {
        exit::OK
    } else {
        exit::THRESHOLDS
    }
}
