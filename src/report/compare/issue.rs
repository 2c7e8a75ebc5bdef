//! `synthex compare --format=github-issue`: the comparison as the JSON body of GitHub's REST
//! "create an issue" request (`POST /repos/{owner}/{repo}/issues`), so that a nightly job files
//! the regression with `gh api repos/OWNER/REPO/issues --input payload.json` (docs/ci.md).
//!
//! The body is the Markdown comparison (regression table, plan warnings) under a line saying
//! what ran, then links to the run's artifacts: under `--artifacts-url` when given (report.html,
//! summary.md, report.json, the stats CSV), and the GitHub Actions run page when the workflow's
//! `GITHUB_SERVER_URL`, `GITHUB_REPOSITORY` and `GITHUB_RUN_ID` are set.

use std::io::{self, Write};

use serde::Serialize;

use super::{Comparison, render_markdown};
use crate::report::model::Report;
use crate::report::table;

/// Labels the issue gets when `--label` is not given.
pub const DEFAULT_LABELS: [&str; 2] = ["performance", "regression"];

/// The report files `synthex load --out DIR` writes that the issue links to.
const ARTIFACTS: [&str; 4] = [
    "report.html",
    "summary.md",
    "report.json",
    "synthex_stats.csv",
];

/// Where the issue's links point.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Links {
    /// Base URL the `--out` directory was published under (`--artifacts-url`).
    pub artifacts: Option<String>,
    /// The CI run's page, e.g. `https://github.com/org/repo/actions/runs/123`.
    pub run: Option<String>,
}

impl Links {
    /// `artifacts` from the flag, the run page from the GitHub Actions environment
    /// (`GITHUB_SERVER_URL`, `GITHUB_REPOSITORY`, `GITHUB_RUN_ID`), read through `env`.
    pub fn new(artifacts: Option<String>, env: impl Fn(&str) -> Option<String>) -> Links {
        let var = |name: &str| env(name).filter(|v| !v.is_empty());
        let run = match (
            var("GITHUB_SERVER_URL"),
            var("GITHUB_REPOSITORY"),
            var("GITHUB_RUN_ID"),
        ) {
            (Some(server), Some(repository), Some(id)) => Some(format!(
                "{}/{repository}/actions/runs/{id}",
                server.trim_end_matches('/')
            )),
            _ => None,
        };
        Links {
            artifacts: artifacts.map(|a| a.trim_end_matches('/').to_string()),
            run,
        }
    }
}

/// The request body of GitHub's "create an issue".
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IssuePayload {
    /// One line naming the regression.
    pub title: String,
    /// Markdown: what ran, the comparison, the links.
    pub body: String,
    /// Label names.
    pub labels: Vec<String>,
}

/// Builds the issue for `comparison` of `current` against its baseline.
pub fn payload(
    comparison: &Comparison,
    current: &Report,
    links: &Links,
    labels: &[String],
) -> io::Result<IssuePayload> {
    let regressions: Vec<_> = comparison.regressions().collect();
    let title = match regressions.first() {
        Some(first) => format!(
            "Load test regression: {} {} {} ({} signal(s) worse than the baseline)",
            first.scenario,
            first.metric.name(),
            first.describe(),
            regressions.len()
        ),
        None => "Load test: no regression against the baseline".to_string(),
    };
    let mut body = Vec::new();
    writeln!(body, "**Run:** {}\n", table::headline(current))?;
    render_markdown(comparison, &mut body)?;
    if links.artifacts.is_some() || links.run.is_some() {
        writeln!(body, "### Artifacts\n")?;
        if let Some(base) = &links.artifacts {
            for file in ARTIFACTS {
                writeln!(body, "- [{file}]({base}/{file})")?;
            }
        }
        if let Some(run) = &links.run {
            writeln!(
                body,
                "- [CI run]({run}) (its uploaded artifacts are listed on that page)"
            )?;
        }
    }
    let labels = if labels.is_empty() {
        DEFAULT_LABELS.map(String::from).to_vec()
    } else {
        labels.to_vec()
    };
    Ok(IssuePayload {
        title,
        body: String::from_utf8_lossy(&body).into_owned(),
        labels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_run_link_needs_all_three_github_variables() {
        let env = |set: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                set.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let all: &[(&str, &str)] = &[
            ("GITHUB_SERVER_URL", "https://github.com/"),
            ("GITHUB_REPOSITORY", "org/shop"),
            ("GITHUB_RUN_ID", "42"),
        ];
        let links = Links::new(Some("https://ci.example/r/7/".into()), env(all));
        assert_eq!(
            links.run.as_deref(),
            Some("https://github.com/org/shop/actions/runs/42")
        );
        assert_eq!(links.artifacts.as_deref(), Some("https://ci.example/r/7"));
        assert_eq!(Links::new(None, env(&all[..2])), Links::default());
        const EMPTY_ID: &[(&str, &str)] = &[
            ("GITHUB_SERVER_URL", "https://github.com"),
            ("GITHUB_REPOSITORY", "org/shop"),
            ("GITHUB_RUN_ID", ""),
        ];
        assert_eq!(Links::new(None, env(EMPTY_ID)).run, None);
    }
}
