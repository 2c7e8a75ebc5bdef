//! The Markdown summary (`summary.md`) for a CI comment: the verdict, the summary table,
//! thresholds with pass/fail, grades, resource usage, findings, the breaking point and, when a baseline
//! was given, its regressions.

use std::io::{self, Write};

use super::compare::{self, Comparison};
use super::findings;
use super::grade::Grades;
use super::model::{Report, ThresholdResult};
use super::profile_runs;
use super::query_table;
use super::stage_table;
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
        Verdict::Failed(_) | Verdict::Regressed | Verdict::DataExhausted => "❌",
    };
    writeln!(out, "## synthex load test: {mark} {verdict}\n")?;
    if let Some(note) = table::end_note(report) {
        writeln!(out, "> ⚠️ **{}**\n", escape(&note))?;
    }
    writeln!(out, "{}\n", escape(&table::headline(report)))?;

    let mut rows = vec![HEADERS.map(String::from).to_vec()];
    rows.extend(table::rows(report).iter().map(table::Row::cells));
    write_table(out, &rows, table::ALIGN)?;
    if let Some(warmup) = table::warmup_sentence(report) {
        writeln!(out, "{}\n", escape(&warmup))?;
    }
    for line in table::data_sentences(report) {
        writeln!(out, "{}\n", escape(&line))?;
    }

    if !report.thresholds.is_empty() {
        writeln!(out, "### Thresholds\n")?;
        threshold_list(out, &report.thresholds, ThresholdResult::label)?;
    }

    for section in profile_runs::sections(report) {
        writeln!(out, "### Profile {}\n", escape(&section.title))?;
        write_table(out, &section.cells, table::ALIGN)?;
        if !section.thresholds.is_empty() {
            threshold_list(out, &section.thresholds, |t| t.expression.clone())?;
        }
    }

    if report.stages.len() > 1 {
        writeln!(out, "### Stages\n")?;
        let cells = stage_table::cells(&report.stages);
        let spec = "ll".to_string() + &"r".repeat(cells[0].len().saturating_sub(2));
        write_table(out, &cells, &spec)?;
        let stats = stage_table::stats_cells(&report.stages);
        if !stats.is_empty() {
            writeln!(out, "Stats endpoint per stage (mean of the polls):\n")?;
            write_table(
                out,
                &stats,
                &"r".repeat(stats[0].len()).replacen('r', "l", 1),
            )?;
        }
    }

    writeln!(out, "### Score: {}\n", grades.score)?;
    write_table(out, &grades.score.cells(), "lrrrr")?;
    writeln!(out, "### Grades\n")?;
    let mut rows = vec![vec!["Signal".into(), "Value".into(), "Grade".into()]];
    rows.extend(grades.signals.iter().map(|g| {
        let name = g.signal.name().to_string();
        vec![name, g.signal.show(g.value), g.grade.to_string()]
    }));
    write_table(out, &rows, "lrl")?;

    let flows = table::flow_cells(report);
    if flows.len() > 1 {
        writeln!(out, "### Flows (whole runs)\n")?;
        write_table(out, &flows, "lrrrrrrrl")?;
    }
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
    failures(out, report)?;
    if let Some(bp) = &report.breaking_point {
        writeln!(out, "### Breaking point\n")?;
        writeln!(out, "{}\n", escape(&table::breaking_point_sentence(bp)))?;
    }
    if let Some(comparison) = comparison {
        compare::render_markdown(comparison, out)?;
    }
    Ok(())
}

/// Threshold verdicts as a list, each named by `name`, then a blank line.
fn threshold_list(
    out: &mut impl Write,
    results: &[ThresholdResult],
    name: fn(&ThresholdResult) -> String,
) -> io::Result<()> {
    for t in results {
        let mark = if t.passed { "✅" } else { "❌" };
        let name = name(t).replace('`', "'");
        writeln!(out, "- {mark} `{name}`: {}", escape(&t.detail))?;
    }
    writeln!(out)
}

/// Writes a Markdown table: the first row is the header, `spec` gives `l`/`r` per column.
pub(crate) fn write_table(
    out: &mut impl Write,
    rows: &[Vec<String>],
    spec: &str,
) -> io::Result<()> {
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

/// Text that reads the same rendered (GitHub, any CommonMark renderer) and raw (a terminal):
/// only what a renderer would take as markup is backslash-escaped (`a|b`, `*`, `` ` ``, `[`,
/// `<tag`, `&name;`, `_` at a word's edge), no HTML entity anywhere, so `p95 < 50ms` stays as
/// written; a newline becomes a space, so a message cannot end a table row or a list item.
pub(crate) fn escape(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    for (i, &c) in chars.iter().enumerate() {
        let next = chars.get(i + 1).copied();
        let word = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
        let markup = match c {
            '\\' | '`' | '*' | '[' | ']' | '|' => true,
            '_' => !(word(i.checked_sub(1).map(|j| chars[j])) && word(next)),
            '<' => next.is_some_and(|n| n.is_ascii_alphabetic() || matches!(n, '/' | '!' | '?')),
            '&' => next.is_some_and(|n| n.is_ascii_alphanumeric() || n == '#'),
            _ => false,
        };
        if markup {
            out.push('\\');
        }
        out.push(if c == '\n' || c == '\r' { ' ' } else { c });
    }
    out
}

/// Failure groups shown in the summary; the rest are counted in a line (the full list is in
/// the HTML report and `_failures.csv`), so a CI comment stays readable.
const FAILURE_ROWS: usize = 20;

/// The failures table: scenario, reason, message and count, most frequent first.
fn failures(out: &mut impl Write, report: &Report) -> io::Result<()> {
    if report.failures.is_empty() {
        return Ok(());
    }
    writeln!(out, "### Failures\n")?;
    let with_target = table::several_targets(report);
    let mut rows = vec![
        ["Scenario", "Reason", "Message", "Count"]
            .map(String::from)
            .to_vec(),
    ];
    rows.extend(report.failures.iter().take(FAILURE_ROWS).map(|f| {
        vec![
            table::scenario_label(with_target, &f.target, &f.scenario),
            f.reason.clone(),
            f.message.clone(),
            f.occurrences.to_string(),
        ]
    }));
    write_table(out, &rows, "lllr")?;
    let rest = &report.failures[report.failures.len().min(FAILURE_ROWS)..];
    if !rest.is_empty() {
        let count: u64 = rest.iter().map(|f| f.occurrences).sum();
        writeln!(
            out,
            "…and {} more failure groups ({count} failures): see `report.html` or `_failures.csv`.\n",
            rest.len()
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::compare::Tolerances;
    use crate::report::model::{FailureGroup, ThresholdResult};
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
        assert!(text.contains("| Name | Requests | Failures | Failure % | RPS | Min | Mean | p50 | p95 | p99 | Max | P99/P95 | Stdev | Share |\n|:---|---:|"), "{text}");
        assert!(
            text.contains("| Total | 600 | 33 | 5.5% | 60.0 |"),
            "{text}"
        );
        assert!(text.contains("### Score: 69/100 (acceptable)"), "{text}");
        assert!(
            text.contains("| error ratio | 5.5% | 1% | 18.2 | 37.5% |"),
            "{text}"
        );
        assert!(
            text.contains("| api/search | 200 | 11 | 5.5% | 20.0 |"),
            "{text}"
        );
        assert!(text.contains("| 33.33% |"), "share: {text}");
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
            profile: None,
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
        assert!(text.contains("| api/a\\|b\\<script> |"), "{text}");
    }

    /// The text of each paragraph, heading, list item and table cell as a CommonMark renderer
    /// (pulldown-cmark, with GitHub's tables) shows it; raw HTML in the output fails the test.
    fn shown(markdown: &str) -> Vec<String> {
        use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
        let mut open: Vec<String> = Vec::new();
        let mut shown = Vec::new();
        for event in Parser::new_ext(markdown, Options::ENABLE_TABLES) {
            match event {
                Event::Start(Tag::Paragraph | Tag::Heading { .. } | Tag::Item | Tag::TableCell) => {
                    open.push(String::new())
                }
                Event::End(
                    TagEnd::Paragraph | TagEnd::Heading(_) | TagEnd::Item | TagEnd::TableCell,
                ) => {
                    let text = open.pop().unwrap();
                    if let Some(parent) = open.last_mut() {
                        parent.push_str(&text);
                    }
                    shown.push(text);
                }
                Event::Text(t) | Event::Code(t) => open.last_mut().unwrap().push_str(&t),
                Event::SoftBreak => open.last_mut().unwrap().push(' '),
                Event::Html(h) | Event::InlineHtml(h) => panic!("raw HTML {h:?} in {markdown}"),
                _ => {}
            }
        }
        shown
    }

    #[test]
    fn a_commonmark_renderer_shows_the_text_as_written() {
        use crate::report::threshold::{self, Threshold};
        let mut report = testing::report();
        let name = "get_*user*_[1] <b>&amp;";
        report.scenarios[0].scenario = name.into();
        report.failures[0].message = "expected <200>, got 503 | retry".into();
        let thresholds: Vec<Threshold> = ["error_rate < 50%", "p95 < 1ms"]
            .iter()
            .map(|t| t.parse().unwrap())
            .collect();
        report.thresholds = threshold::evaluate(&thresholds, &report);
        let markdown = rendered(&report, None);
        for entity in ["&lt;", "&gt;", "&amp;lt;"] {
            assert!(!markdown.contains(entity), "{entity} in {markdown}");
        }
        let shown = shown(&markdown);
        let has = |text: &str| shown.iter().any(|s| s == text);
        assert!(
            has("✅ error_rate < 50%: error_rate 5.5% < 50%"),
            "{shown:#?}"
        );
        assert!(has(&format!("api/{name}")), "{shown:#?}");
        // The failures table: its header and the most frequent group, cell by cell.
        let header = shown.iter().position(|s| s == "Scenario").unwrap();
        assert_eq!(
            shown[header..header + 4],
            ["Scenario", "Reason", "Message", "Count"]
        );
        let group = &report.failures[0];
        let row = shown
            .iter()
            .position(|s| s == "expected <200>, got 503 | retry")
            .unwrap();
        assert_eq!(shown[row - 1], group.reason);
        assert_eq!(shown[row + 1], group.occurrences.to_string());
        assert!(has("Failures"), "{shown:#?}");
    }

    #[test]
    fn the_failures_table_is_bounded() {
        let mut report = testing::report();
        let group = report.failures[0].clone();
        report.failures = (0..25u64)
            .map(|i| FailureGroup {
                message: format!("error {i}"),
                occurrences: 100 - i,
                ..group.clone()
            })
            .collect();
        let text = rendered(&report, None);
        assert!(text.contains("| error 19 |"), "{text}");
        assert!(!text.contains("| error 20 |"), "{text}");
        // 80 + 79 + 78 + 77 + 76 failures in the 5 groups left out.
        assert!(
            text.contains("…and 5 more failure groups (390 failures)"),
            "{text}"
        );
    }
}
