//! Renders a [`Comparison`] as plain text (stdout, `synthex compare`) and as a Markdown section
//! (the CI comment).

use std::io::{self, Write};

use super::{Change, Comparison, Verdict};
use crate::report::format;

/// Writes the comparison as plain text (stdout, `synthex compare`).
pub fn render_text(comparison: &Comparison, out: &mut impl Write) -> io::Result<()> {
    let regressions: Vec<&Change> = comparison.regressions().collect();
    let improvements: Vec<&Change> = comparison.improvements().collect();
    writeln!(
        out,
        "Baseline comparison: {} regression(s), {} improvement(s) (tolerances: {})",
        regressions.len(),
        improvements.len(),
        comparison.tolerances_text()
    )?;
    for difference in &comparison.plan_differences {
        writeln!(out, "warning: the plans differ: {difference}")?;
    }
    for (title, mark, list) in [
        ("Regressions", "✗", &regressions),
        ("Improvements", "✓", &improvements),
    ] {
        if !list.is_empty() {
            writeln!(out, "{title}")?;
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|c| {
                    vec![
                        format!("{mark} {}", c.scenario),
                        c.metric.name().into(),
                        c.describe(),
                    ]
                })
                .collect();
            for line in format::align(&rows, "ll") {
                writeln!(out, "  {line}")?;
            }
        }
    }
    if regressions.is_empty() {
        writeln!(out, "No regressions.")?;
    }
    for (title, list) in missing(comparison) {
        writeln!(out, "{title}: {}", list.join(", "))?;
    }
    Ok(())
}

/// Writes the comparison as a Markdown section (CI comments).
pub fn render_markdown(comparison: &Comparison, out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "### Baseline comparison\n")?;
    writeln!(out, "Tolerances: {}.\n", comparison.tolerances_text())?;
    if !comparison.plan_differences.is_empty() {
        writeln!(
            out,
            "> [!WARNING]\n> The two runs had different plans; a change may come from the plan, not the service:"
        )?;
        for difference in &comparison.plan_differences {
            writeln!(out, "> - {}", difference.replace('|', "\\|"))?;
        }
        writeln!(out)?;
    }
    let listed: Vec<&Change> = comparison
        .regressions()
        .chain(comparison.improvements())
        .collect();
    if comparison.regressions().next().is_none() {
        writeln!(out, "**No regressions.**\n")?;
    }
    if !listed.is_empty() {
        writeln!(out, "| | Scenario | Signal | Baseline → current |")?;
        writeln!(out, "|---|---|---|---|")?;
        for c in listed {
            let verdict = if c.verdict == Verdict::Regression {
                "❌ regression"
            } else {
                "✅ improvement"
            };
            let scenario = c.scenario.replace('|', "\\|");
            writeln!(
                out,
                "| {verdict} | {scenario} | {} | {} |",
                c.metric.name(),
                c.describe()
            )?;
        }
        writeln!(out)?;
    }
    for (title, list) in missing(comparison) {
        writeln!(out, "{title}: {}\n", list.join(", ").replace('|', "\\|"))?;
    }
    Ok(())
}

fn missing(comparison: &Comparison) -> impl Iterator<Item = (&'static str, &Vec<String>)> {
    [
        ("Only in the baseline", &comparison.only_in_baseline),
        ("Only in the current run", &comparison.only_in_current),
    ]
    .into_iter()
    .filter(|(_, list)| !list.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::compare::{Tolerances, compare};
    use crate::report::testing;

    #[test]
    fn an_unchanged_run_says_no_regressions() {
        let report = testing::report();
        let comparison = compare(&report, &report, &Tolerances::default());
        let mut text = Vec::new();
        render_text(&comparison, &mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(
            text.starts_with("Baseline comparison: 0 regression(s), 0 improvement(s)"),
            "{text}"
        );
        assert!(text.contains("No regressions."), "{text}");
        let mut markdown = Vec::new();
        render_markdown(&comparison, &mut markdown).unwrap();
        let markdown = String::from_utf8(markdown).unwrap();
        assert!(
            markdown.starts_with("### Baseline comparison\n"),
            "{markdown}"
        );
        assert!(markdown.contains("**No regressions.**") && !markdown.contains("| Scenario |"));
    }
}
