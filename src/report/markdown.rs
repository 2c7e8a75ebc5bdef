//! The Markdown summary (`summary.md`) for a CI comment: the verdict, the summary table,
//! thresholds with pass/fail, grades, resource usage, findings, the breaking point and, when a baseline
//! was given, its regressions.

use std::io::{self, Write};

use super::compare::{self, Comparison};
use super::findings;
use super::grade::Grades;
use super::model::Report;
use super::query_table;
use super::table::{self, HEADERS, Verdict};

/// Writes the Markdown summary of `report` (with the baseline `comparison`, if any) to `out`.
pub fn render(
    report: &Report,
    grades: &Grades,
    comparison: Option<&Comparison>,
    out: &mut impl Write,
) -> io::Result<()> {
    let verdict = Verdict::of(report, comparison.is_some_and(Comparison::has_regressions));
    let mark = match verdict {
        Verdict::Passed => "✅",
        Verdict::Interrupted => "⚠️",
        Verdict::Failed(_) | Verdict::Regressed => "❌",
    };
    writeln!(out, "## synthex load test: {mark} {verdict}\n")?;
    if let Some(note) = table::interrupted_note(report) {
        writeln!(out, "> ⚠️ **{}**\n", escape(&note))?;
    }
    writeln!(out, "{}\n", escape(&table::headline(report)))?;

    let mut rows = vec![HEADERS.map(String::from).to_vec()];
    rows.extend(table::rows(report).iter().map(table::Row::cells));
    write_table(out, &rows, "lrrrrrrrrrrr")?;
    if let Some(warmup) = table::warmup_sentence(report) {
        writeln!(out, "{}\n", escape(&warmup))?;
    }

    if !report.thresholds.is_empty() {
        writeln!(out, "### Thresholds\n")?;
        for t in &report.thresholds {
            let mark = if t.passed { "✅" } else { "❌" };
            writeln!(
                out,
                "- {mark} `{}`: {}",
                t.expression.replace('`', "'"),
                escape(&t.detail)
            )?;
        }
        writeln!(out)?;
    }

    writeln!(out, "### Grades: overall score {}/100\n", grades.score)?;
    let mut rows = vec![vec!["Signal".into(), "Value".into(), "Grade".into()]];
    rows.extend(grades.signals.iter().map(|g| {
        let name = g.signal.name().to_string();
        vec![name, g.signal.show(g.value), g.grade.to_string()]
    }));
    write_table(out, &rows, "lrl")?;

    let usage = table::usage_cells(report);
    if usage.len() > 1 {
        writeln!(out, "### Resource usage\n")?;
        write_table(out, &usage, "lrrrrrr")?;
    }
    let queries = query_table::cells(report);
    if queries.len() > 1 {
        writeln!(out, "### Prometheus queries\n")?;
        write_table(out, &queries, "llrrrrl")?;
    }
    writeln!(out, "### Findings\n")?;
    if report.findings.is_empty() {
        writeln!(out, "{}\n", escape(&findings::healthy_line(report)))?;
    }
    for f in &report.findings {
        writeln!(out, "- **{}**", escape(&f.summary))?;
        for line in &f.evidence {
            writeln!(out, "  - {}", escape(line))?;
        }
        writeln!(out, "  - next: {}", escape(&f.next))?;
    }
    if !report.findings.is_empty() {
        writeln!(out)?;
    }
    if let Some(bp) = &report.breaking_point {
        writeln!(out, "### Breaking point\n")?;
        writeln!(out, "{}\n", escape(&table::breaking_point_sentence(bp)))?;
    }
    if let Some(comparison) = comparison {
        compare::render_markdown(comparison, out)?;
    }
    Ok(())
}

/// Writes a Markdown table: the first row is the header, `spec` gives `l`/`r` per column.
fn write_table(out: &mut impl Write, rows: &[Vec<String>], spec: &str) -> io::Result<()> {
    let Some((header, body)) = rows.split_first() else {
        return Ok(());
    };
    let line = |cells: &[String]| {
        let cells: Vec<String> = cells.iter().map(|c| escape(c)).collect();
        format!("| {} |", cells.join(" | "))
    };
    writeln!(out, "{}", line(header))?;
    let rule: Vec<&str> = (0..header.len())
        .map(|i| match spec.as_bytes().get(i) {
            Some(b'r') => "---:",
            _ => ":---",
        })
        .collect();
    writeln!(out, "|{}|", rule.join("|"))?;
    for row in body {
        writeln!(out, "{}", line(row))?;
    }
    writeln!(out)
}

/// Text safe inside a Markdown table cell: no column breaks, no HTML.
fn escape(text: &str) -> String {
    text.replace('|', "\\|")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::compare::Tolerances;
    use crate::report::model::ThresholdResult;
    use crate::report::testing;

    fn rendered(report: &Report, comparison: Option<&Comparison>) -> String {
        crate::report::rendered_with(report, |r, g, out| render(r, g, comparison, out))
    }

    #[test]
    fn a_passing_run_has_the_table_and_grades() {
        let text = rendered(&testing::report(), None);
        assert!(
            text.starts_with("## synthex load test: ✅ passed\n"),
            "{text}"
        );
        assert!(text.contains("| Name | Requests | Failures | Failure % | RPS | Min | Mean | p50 | p95 | p99 | Max | P99/P95 |\n|:---|---:|"), "{text}");
        assert!(
            text.contains("| Total | 600 | 33 | 5.5% | 60.0 |"),
            "{text}"
        );
        assert!(text.contains("### Grades: overall score 75/100"), "{text}");
        assert!(text.contains("| error ratio | 5.5% | poor |"), "{text}");
        assert!(
            !text.contains("Thresholds") && !text.contains("Baseline"),
            "{text}"
        );
    }

    #[test]
    fn failed_thresholds_and_regressions_set_the_verdict() {
        let mut report = testing::report();
        report.interrupted = true;
        report.thresholds.push(ThresholdResult {
            expression: "p95 < 10ms".into(),
            measured: Some(0.06),
            passed: false,
            detail: "p95 60ms is 50ms over 10ms".into(),
        });
        let text = rendered(&report, None);
        assert!(
            text.starts_with("## synthex load test: ❌ 1 threshold(s) failed"),
            "{text}"
        );
        assert!(
            text.contains("- ❌ `p95 < 10ms`: p95 60ms is 50ms over 10ms"),
            "{text}"
        );
        assert!(text.contains("> ⚠️ **INTERRUPTED"), "{text}");

        let mut slower = testing::report();
        for s in &mut slower.scenarios {
            s.failures = s.requests / 4;
        }
        let comparison = compare::compare(&testing::report(), &slower, &Tolerances::default());
        let text = rendered(&slower, Some(&comparison));
        assert!(
            text.starts_with("## synthex load test: ❌ regressed"),
            "{text}"
        );
        assert!(
            text.contains("| ❌ regression | Total | error ratio |"),
            "{text}"
        );
    }

    #[test]
    fn names_cannot_break_the_table() {
        let mut report = testing::report();
        report.scenarios[0].scenario = "a|b<script>".into();
        let text = rendered(&report, None);
        assert!(text.contains("| api/a\\|b&lt;script&gt; |"), "{text}");
    }
}
