//! The end-of-run summary printed on stdout: the table teams paste into their reports (per
//! scenario and total), resource usage during the run, grades with the overall score,
//! thresholds, failures, findings and the breaking point, with a loud INTERRUPTED when the run was cut.

use std::io::{self, Write};

use super::findings;
use super::format;
use super::grade::Grades;
use super::model::{Report, ThresholdResult};
use super::profile_runs;
use super::query_table;
use super::stage_table;
use super::table::{self, HEADERS, Verdict};

/// How many failure groups the summary lists (the reports keep them all).
const FAILURES_SHOWN: usize = 10;

/// Writes the summary of `report` to `out`.
pub fn render(report: &Report, grades: &Grades, out: &mut impl Write) -> io::Result<()> {
    let note = table::end_note(report);
    if let Some(note) = &note {
        writeln!(out, "*** {note} ***\n")?;
    }
    // The comparison (when there is one) is printed after the summary, with its own verdict.
    writeln!(
        out,
        "synthex load test: {}\n{}\n",
        Verdict::of(report, false),
        table::headline(report)
    )?;
    let mut rows = vec![HEADERS.map(String::from).to_vec()];
    rows.extend(table::rows(report).iter().map(table::Row::cells));
    write_lines(out, &format::align(&rows, table::ALIGN))?;
    if let Some(warmup) = table::warmup_sentence(report) {
        writeln!(out, "\n{warmup}")?;
    }
    for line in table::data_sentences(report) {
        writeln!(out, "{line}")?;
    }

    let flows = table::flow_cells(report);
    if flows.len() > 1 {
        writeln!(out, "\nFlows (whole runs)")?;
        write_lines(out, &format::align(&flows, "lrrrrrrrl"))?;
    }

    let usage = table::usage_cells(report);
    if usage.len() > 1 {
        writeln!(out, "\nResource usage")?;
        write_lines(out, &format::align(&usage, "lrrrrrr"))?;
    }

    let queries = query_table::cells(report);
    if queries.len() > 1 {
        writeln!(out, "\nPrometheus queries")?;
        write_lines(out, &format::align(&queries, "llrrrrl"))?;
    }

    let stage_rows = &report.stages;
    if stage_rows.len() > 1 {
        writeln!(out, "\nStages")?;
        let cells = stage_table::cells(stage_rows);
        let spec = "ll".to_string() + &"r".repeat(cells[0].len().saturating_sub(2));
        write_lines(out, &format::align(&cells, &spec))?;
        let stats = stage_table::stats_cells(stage_rows);
        if !stats.is_empty() {
            writeln!(out, "\nStats endpoint per stage (mean of the polls)")?;
            write_lines(
                out,
                &format::align(&stats, &"r".repeat(stats[0].len()).replacen('r', "l", 1)),
            )?;
        }
    }

    for section in profile_runs::sections(report) {
        writeln!(out, "\nProfile {}", section.title)?;
        write_lines(out, &format::align(&section.cells, table::ALIGN))?;
        threshold_lines(out, &section.thresholds, |t| t.expression.clone())?;
    }

    writeln!(out, "\nScore {}", grades.score)?;
    write_lines(out, &format::align(&grades.score.cells(), "lrrrr"))?;
    writeln!(out, "\nGrades")?;
    let grade_rows: Vec<Vec<String>> = grades
        .signals
        .iter()
        .map(|g| {
            let name = g.signal.name().to_string();
            vec![name, g.signal.show(g.value), g.grade.to_string()]
        })
        .collect();
    write_lines(out, &format::align(&grade_rows, "lrl"))?;

    if !report.thresholds.is_empty() {
        let passed = report.thresholds.iter().filter(|t| t.passed).count();
        writeln!(
            out,
            "\nThresholds ({passed} of {} passed)",
            report.thresholds.len()
        )?;
        threshold_lines(out, &report.thresholds, ThresholdResult::label)?;
    }

    if !report.failures.is_empty() {
        writeln!(out, "\nFailures")?;
        let with_target = table::several_targets(report);
        let mut rows = vec![
            ["Count", "Scenario", "Reason", "Message"]
                .map(String::from)
                .to_vec(),
        ];
        rows.extend(report.failures.iter().take(FAILURES_SHOWN).map(|f| {
            let name = table::scenario_label(with_target, &f.target, &f.name());
            vec![
                f.occurrences.to_string(),
                name,
                f.reason.clone(),
                f.message.clone(),
            ]
        }));
        write_lines(out, &format::align(&rows, "rl"))?;
        if report.failures.len() > FAILURES_SHOWN {
            let more = report.failures.len() - FAILURES_SHOWN;
            writeln!(out, "  … and {more} more kinds (see the reports)")?;
        }
    }

    if report.findings.is_empty() {
        writeln!(out, "\n{}", findings::healthy_line(report))?;
    } else {
        writeln!(out, "\nFindings")?;
        for f in &report.findings {
            writeln!(out, "  ! {}", f.summary)?;
            for line in &f.evidence {
                writeln!(out, "      {line}")?;
            }
            writeln!(out, "      next: {}", f.next)?;
        }
    }

    if let Some(bp) = &report.breaking_point {
        writeln!(
            out,
            "\nBreaking point: {}",
            table::breaking_point_sentence(bp)
        )?;
    }
    if let Some(note) = &note {
        writeln!(out, "\n*** {note} ***")?;
    }
    Ok(())
}

/// Threshold verdicts, one line each, named by `name`.
fn threshold_lines(
    out: &mut impl Write,
    results: &[ThresholdResult],
    name: fn(&ThresholdResult) -> String,
) -> io::Result<()> {
    for t in results {
        writeln!(
            out,
            "  {} {}  ({})",
            table::mark(t.passed),
            name(t),
            t.detail
        )?;
    }
    Ok(())
}

fn write_lines(out: &mut impl Write, lines: &[String]) -> io::Result<()> {
    for line in lines {
        writeln!(out, "  {line}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::ThresholdResult;
    use crate::report::testing;

    fn rendered(report: &Report) -> String {
        crate::report::rendered_with(report, render)
    }

    #[test]
    fn the_table_has_every_scenario_a_total_and_aligned_columns() {
        let text = rendered(&testing::report());
        let lines: Vec<&str> = text.lines().collect();
        let header = lines
            .iter()
            .position(|l| l.trim_start().starts_with("Name"))
            .unwrap();
        let table = &lines[header..header + 5];
        for name in [
            "Name",
            "api/order_status",
            "api/search",
            "web/home",
            "Total",
        ] {
            assert!(
                table.iter().any(|l| l.trim_start().starts_with(name)),
                "{name}: {text}"
            );
        }
        // Right-aligned columns: every row ends at the same column.
        let width = table[0].chars().count();
        assert!(table.iter().all(|l| l.chars().count() == width), "{text}");
        assert!(table[4].contains(" 600 "), "total requests: {}", table[4]);
        assert!(text.contains("Resource usage"), "{text}");
        assert!(text.contains("Score 69/100 (acceptable)"), "{text}");
        // One score line and one grades table: no leftover heading repeating the score.
        assert_eq!(text.matches("69/100").count(), 1, "{text}");
        assert_eq!(text.lines().filter(|l| l.starts_with("Grades")).count(), 1);
        assert!(text.contains("expected status 200, got 503"), "{text}");
        assert!(!text.contains("INTERRUPTED"));
        assert!(!text.contains("Thresholds"));
    }

    #[test]
    fn thresholds_show_pass_and_fail_with_detail() {
        let mut report = testing::report();
        report.thresholds = vec![
            ThresholdResult {
                expression: "p95 < 50ms".into(),
                measured: Some(0.0621),
                passed: false,
                detail: "p95 62.1ms is 12.1ms over 50ms".into(),
                profile: None,
            },
            ThresholdResult {
                expression: "rps > 10".into(),
                measured: Some(60.0),
                passed: true,
                detail: "rps 60 > 10".into(),
                profile: None,
            },
        ];
        let text = rendered(&report);
        assert!(text.contains("Thresholds (1 of 2 passed)"), "{text}");
        assert!(
            text.contains("✗ p95 < 50ms  (p95 62.1ms is 12.1ms over 50ms)"),
            "{text}"
        );
        assert!(text.contains("✓ rps > 10  (rps 60 > 10)"), "{text}");
    }

    #[test]
    fn an_interrupted_run_says_so_first_and_last() {
        let mut report = testing::report();
        report.interrupted = true;
        report.duration_seconds = 4.2;
        let text = rendered(&report);
        let note = "*** INTERRUPTED: stopped after 4.2s of 10s planned; the numbers cover only what ran ***";
        assert!(text.starts_with(note), "{text}");
        assert!(text.trim_end().ends_with(note), "{text}");
    }
}
