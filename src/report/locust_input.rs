//! Locust's `--csv` output read as a synthex [`Report`], so that a team moving from Locust keeps
//! its history: `synthex compare` (and `report trend`) take a Locust `*_stats.csv`, or a
//! directory holding one, on either side.
//!
//! What Locust writes and what it becomes:
//! - `_stats.csv`: one row per request name (`Type` = method, `Name` = scenario), then the
//!   `Aggregated` row. Locust keeps no histogram in it, only its percentile columns; each row's
//!   latency becomes a histogram rebuilt from them (see [`from_percentiles`]) whose every
//!   reported percentile (50% … 100%, or whatever columns `PERCENTILES_TO_REPORT` gave) reads
//!   back exactly as Locust wrote it, with Locust's min and max. The `Total` of a comparison
//!   merges these rows, so its percentiles are an estimate, not Locust's Aggregated ones.
//!   The run's length is Locust's own: `Request Count / Requests/s` of the Aggregated row.
//! - `_stats_history.csv` (optional, same prefix): the peak `User Count` and the time span of
//!   its `Aggregated` rows are the run's plan (users, length) and start. It gives no timeline:
//!   Locust's history percentiles are cumulative, so no interval's latency can be told.
//! - `_failures.csv` (optional): the failure groups.
//!
//! Scenarios get an empty target name (no synthex target is unnamed): comparisons match them
//! by Locust's `Name` against synthex's scenario labels (`scenario` or `target/scenario`).
//! Every malformed file is refused with `file:line:column` and what was expected.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::ReportError;
use super::model::{
    FailureGroup, LatencyHistogram, LoadModel, Report, ScenarioStats, Shard, StageSummary,
};
use super::validate;

/// The profile name a Locust run gets in its report (Locust's CSVs do not name a plan).
pub const PROFILE: &str = "locust";

/// Suffix of the file `--csv PREFIX` makes for the totals.
const STATS_SUFFIX: &str = "_stats.csv";

/// Whether `path` names Locust CSVs rather than a synthex JSON report: a `.csv` file, or a
/// directory without a `report.json`.
pub fn is_locust(path: &Path) -> bool {
    if path.is_dir() {
        !path.join("report.json").is_file()
    } else {
        path.extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
    }
}

/// Reads a Locust `*_stats.csv` (with its `_stats_history.csv` and `_failures.csv` siblings
/// when present), or the one `*_stats.csv` in a directory.
pub fn read(path: &Path) -> Result<Report, ReportError> {
    let stats_path = if path.is_dir() {
        stats_in(path)?
    } else {
        path.to_path_buf()
    };
    let prefix = stats_path
        .to_str()
        .and_then(|p| p.strip_suffix(STATS_SUFFIX))
        .map(str::to_string);
    let Some(prefix) = prefix else {
        return Err(invalid(
            &stats_path,
            1,
            1,
            "a Locust stats file is named PREFIX_stats.csv (as `locust --csv PREFIX` writes it)",
        ));
    };
    let stats = Table::load(&stats_path)?;
    let mut report = from_stats(&stats)?;
    let history_path = PathBuf::from(format!("{prefix}_stats_history.csv"));
    if history_path.is_file() {
        add_history(&mut report, &Table::load(&history_path)?)?;
    }
    let failures_path = PathBuf::from(format!("{prefix}_failures.csv"));
    if failures_path.is_file() {
        report.failures = failures(&Table::load(&failures_path)?)?;
    }
    report.config = stats_path.display().to_string();
    validate::check(&report).map_err(|e| ReportError::Invalid {
        path: stats_path.clone(),
        field: e.field,
        message: e.message,
    })?;
    Ok(report)
}

/// The single `*_stats.csv` of a directory.
fn stats_in(dir: &Path) -> Result<PathBuf, ReportError> {
    let entries = std::fs::read_dir(dir).map_err(|e| ReportError::io(dir, e))?;
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(STATS_SUFFIX))
        })
        .collect();
    found.sort();
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(ReportError::Io {
            path: dir.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no report.json and no Locust *_stats.csv in this directory",
            ),
        }),
        _ => Err(ReportError::Io {
            path: dir.to_path_buf(),
            source: std::io::Error::other(format!(
                "several Locust stats files ({}); name the one to use",
                found
                    .iter()
                    .filter_map(|p| p.file_name()?.to_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }),
    }
}

/// The report of a `_stats.csv`: scenarios, totals, run length.
fn from_stats(table: &Table) -> Result<Report, ReportError> {
    let columns = StatsColumns::find(table)?;
    let mut scenarios = Vec::new();
    let mut aggregated = None;
    for row in &table.rows {
        let requests: u64 = row.number(columns.requests)?;
        let failures: u64 = row.number(columns.failures)?;
        if failures > requests {
            return Err(row.error(columns.failures, "more failures than requests"));
        }
        let name = row.text(columns.name);
        if name == "Aggregated" && row.text(columns.method).is_empty() {
            aggregated = Some((row, requests, failures));
            continue;
        }
        let latency = columns.latency(row, requests)?;
        let size: f64 = row.number(columns.content_size)?;
        scenarios.push(ScenarioStats {
            target: String::new(),
            // A synthex flow's `flow/step` stays one name: it matches the step's row by name.
            scenario: name.to_string(),
            step: None,
            method: row.text(columns.method).to_string(),
            requests,
            not_run: 0,
            failures,
            body_bytes: (size * requests as f64).round() as u64,
            cache_hits: 0,
            cache_misses: 0,
            latency,
            // Locust's stats file has totals only.
            timeline: Vec::new(),
        });
    }
    let Some((row, requests, failures)) = aggregated else {
        return Err(invalid(
            &table.path,
            table.rows.len() + 1,
            1,
            "no Aggregated row (Locust writes it last, with an empty Type)",
        ));
    };
    let (sum_requests, sum_failures) = scenarios.iter().fold((0u64, 0u64), |(r, f), s| {
        (r.saturating_add(s.requests), f.saturating_add(s.failures))
    });
    if (sum_requests, sum_failures) != (requests, failures) {
        return Err(row.error(
            columns.requests,
            &format!(
                "the Aggregated row counts {requests} requests and {failures} failures, the rows above add up to {sum_requests} and {sum_failures}"
            ),
        ));
    }
    let rps: f64 = row.number(columns.rps)?;
    let duration_seconds = if requests > 0 && rps > 0.0 {
        requests as f64 / rps
    } else {
        0.0
    };
    let mut report = Report::of_scenarios(PROFILE, LoadModel::Closed, scenarios, duration_seconds);
    report.shards = vec![Shard { index: 0, count: 1 }];
    Ok(report)
}

/// Where each `_stats.csv` column is; percentile columns are all those named `N%`.
struct StatsColumns {
    method: usize,
    name: usize,
    requests: usize,
    failures: usize,
    min: usize,
    max: usize,
    content_size: usize,
    rps: usize,
    /// `(quantile 0–1, column)`, ascending.
    percentiles: Vec<(f64, usize)>,
}

impl StatsColumns {
    fn find(table: &Table) -> Result<StatsColumns, ReportError> {
        let mut percentiles = Vec::new();
        for (i, name) in table.header.iter().enumerate() {
            if let Some(number) = name.strip_suffix('%')
                && let Ok(percent) = number.parse::<f64>()
                && (0.0..=100.0).contains(&percent)
            {
                percentiles.push((percent / 100.0, i));
            }
        }
        percentiles.sort_by(|a, b| a.0.total_cmp(&b.0));
        if percentiles.is_empty() {
            return Err(invalid(
                &table.path,
                1,
                1,
                "no percentile columns (50%, 95%, …) in the header: not a Locust _stats.csv",
            ));
        }
        Ok(StatsColumns {
            method: table.column("Type")?,
            name: table.column("Name")?,
            requests: table.column("Request Count")?,
            failures: table.column("Failure Count")?,
            min: table.column("Min Response Time")?,
            max: table.column("Max Response Time")?,
            content_size: table.column("Average Content Size")?,
            rps: table.column("Requests/s")?,
            percentiles,
        })
    }

    /// The row's latency histogram, rebuilt from its percentile columns, min and max.
    fn latency(&self, row: &Row, requests: u64) -> Result<LatencyHistogram, ReportError> {
        if requests == 0 {
            return Ok(LatencyHistogram::new());
        }
        let ms = |column: usize| -> Result<f64, ReportError> {
            let value: f64 = row.number(column)?;
            if !(0.0..=super::model::MAX_LATENCY.as_secs_f64() * 1e3).contains(&value) {
                return Err(row.error(column, "a response time between 0 and one day, in ms"));
            }
            Ok(value)
        };
        let mut points = Vec::with_capacity(self.percentiles.len() + 1);
        let mut previous = 0.0;
        for &(quantile, column) in &self.percentiles {
            let value = ms(column)?;
            if value < previous {
                return Err(row.error(column, "percentiles must not decrease from left to right"));
            }
            previous = value;
            points.push((quantile, value));
        }
        let max = ms(self.max)?.max(previous);
        points.push((1.0, max));
        Ok(from_percentiles(requests, ms(self.min)?, &points))
    }
}

/// A histogram of `count` latencies whose quantile `q` reads back as the value given for it
/// (to the histogram's 0.1% precision), for every `(q, milliseconds)` in `points` (ascending),
/// with one sample at `min_ms` when the lowest quantile leaves room for it.
///
/// HDR histograms answer quantile `q` with the value where the running count first reaches
/// `ceil(q × count)`, so each point gets the samples between the previous point's count and
/// its own.
pub fn from_percentiles(count: u64, min_ms: f64, points: &[(f64, f64)]) -> LatencyHistogram {
    let mut histogram = LatencyHistogram::new();
    let at = |q: f64| ((q * count as f64).ceil() as u64).clamp(1, count);
    let duration = |ms: f64| Duration::from_secs_f64(ms.max(0.0) / 1e3);
    let mut recorded = 0;
    for (i, &(q, ms)) in points.iter().enumerate() {
        let upto = if i + 1 == points.len() { count } else { at(q) };
        let mut n = upto.saturating_sub(recorded);
        if recorded == 0 && n >= 2 && min_ms < ms {
            histogram.record_n_at(duration(min_ms), 1);
            n -= 1;
            recorded += 1;
        }
        histogram.record_n_at(duration(ms), n);
        recorded += n;
    }
    histogram
}

/// Adds what a `_stats_history.csv`'s Aggregated rows tell about the plan: when the run
/// started, how long it ran and its peak users. Its rows do not become the timeline: their
/// percentiles are cumulative, so no interval's latency can be told from them.
fn add_history(report: &mut Report, table: &Table) -> Result<(), ReportError> {
    let timestamp = table.column("Timestamp")?;
    let users = table.column("User Count")?;
    let name = table.column("Name")?;
    let (mut first, mut last, mut peak) = (None::<f64>, 0.0_f64, 0u64);
    for row in table.rows.iter().filter(|r| r.text(name) == "Aggregated") {
        let at: f64 = row.number(timestamp)?;
        if !(0.0..=253_402_300_799.0).contains(&at) {
            return Err(row.error(timestamp, "a Unix time in seconds"));
        }
        if first.is_some() && at < last {
            return Err(row.error(timestamp, "timestamps must not go back in time"));
        }
        first.get_or_insert(at);
        last = at;
        peak = peak.max(row.number(users)?);
    }
    let Some(first) = first else {
        return Ok(());
    };
    // Locust writes a row per second from the start (its first row, 0 users) to the end.
    report.started_at = first;
    report.plan.stages = vec![StageSummary {
        duration_seconds: last - first,
        target: peak as f64,
        profile: None,
    }];
    if report.duration_seconds == 0.0 {
        report.duration_seconds = last - first;
    }
    Ok(())
}

/// The failure groups of a `_failures.csv`.
fn failures(table: &Table) -> Result<Vec<FailureGroup>, ReportError> {
    let method = table.column("Method")?;
    let name = table.column("Name")?;
    let error = table.column("Error")?;
    let occurrences = table.column("Occurrences")?;
    let mut groups = Vec::new();
    for row in &table.rows {
        groups.push(FailureGroup {
            target: String::new(),
            scenario: row.text(name).to_string(),
            step: None,
            method: row.text(method).to_string(),
            reason: "locust".to_string(),
            message: row.text(error).to_string(),
            occurrences: row.number(occurrences)?,
            first_seen: None,
            last_seen: None,
        });
    }
    groups.sort_by_key(|g| std::cmp::Reverse(g.occurrences));
    Ok(groups)
}

/// A CSV file as Python's `csv` module writes it: a header, then rows of the same width.
struct Table {
    path: PathBuf,
    header: Vec<String>,
    rows: Vec<Row>,
}

/// One data row, with where each field starts for error messages.
struct Row {
    path: PathBuf,
    line: usize,
    fields: Vec<(String, usize)>,
}

impl Table {
    fn load(path: &Path) -> Result<Table, ReportError> {
        let text = std::fs::read_to_string(path).map_err(|e| ReportError::io(path, e))?;
        let mut records = parse_csv(&text)
            .map_err(|(line, column, message)| invalid(path, line, column, message))?;
        if records.is_empty() {
            return Err(invalid(
                path,
                1,
                1,
                "empty file: expected Locust's header line",
            ));
        }
        let (_, header) = records.remove(0);
        let header: Vec<String> = header.into_iter().map(|(f, _)| f).collect();
        let mut rows = Vec::with_capacity(records.len());
        for (line, fields) in records {
            if fields.len() != header.len() {
                return Err(invalid(
                    path,
                    line,
                    1,
                    &format!("{} fields, the header has {}", fields.len(), header.len()),
                ));
            }
            rows.push(Row {
                path: path.to_path_buf(),
                line,
                fields,
            });
        }
        Ok(Table {
            path: path.to_path_buf(),
            header,
            rows,
        })
    }

    fn column(&self, name: &str) -> Result<usize, ReportError> {
        self.header.iter().position(|h| h == name).ok_or_else(|| {
            invalid(
                &self.path,
                1,
                1,
                &format!("no {name:?} column: not the Locust CSV expected here"),
            )
        })
    }
}

impl Row {
    fn text(&self, column: usize) -> &str {
        &self.fields[column].0
    }

    fn number<T: std::str::FromStr>(&self, column: usize) -> Result<T, ReportError> {
        let text = self.text(column);
        text.parse::<T>()
            .map_err(|_| self.error(column, &format!("{text:?} is not a number")))
    }

    fn error(&self, column: usize, message: &str) -> ReportError {
        invalid(&self.path, self.line, self.fields[column].1, message)
    }
}

fn invalid(path: &Path, line: usize, column: usize, message: &str) -> ReportError {
    ReportError::Csv {
        path: path.to_path_buf(),
        line,
        column,
        message: message.to_string(),
    }
}

/// A parsed record: its 1-based line and its fields with their 1-based columns.
type Record = (usize, Vec<(String, usize)>);

/// Splits CSV text (RFC 4180: quoted fields with doubled quotes, CRLF or LF line ends) into
/// records; a blank line is skipped. Errors carry `(line, column, message)`.
fn parse_csv(text: &str) -> Result<Vec<Record>, (usize, usize, &'static str)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut records = Vec::new();
    let mut chars = text.chars().peekable();
    let (mut line, mut column) = (1usize, 1usize);
    while chars.peek().is_some() {
        let record_line = line;
        let mut fields = Vec::new();
        loop {
            let start = column;
            let mut field = String::new();
            if chars.peek() == Some(&'"') {
                chars.next();
                column += 1;
                loop {
                    match chars.next() {
                        None => return Err((record_line, start, "unterminated quoted field")),
                        Some('"') if chars.peek() == Some(&'"') => {
                            chars.next();
                            column += 2;
                            field.push('"');
                        }
                        Some('"') => {
                            column += 1;
                            break;
                        }
                        Some('\n') => {
                            line += 1;
                            column = 1;
                            field.push('\n');
                        }
                        Some(c) => {
                            column += 1;
                            field.push(c);
                        }
                    }
                }
                if !matches!(chars.peek(), None | Some(',' | '\r' | '\n')) {
                    return Err((line, column, "text after a closing quote"));
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if matches!(c, ',' | '\r' | '\n') {
                        break;
                    }
                    if c == '"' {
                        return Err((line, column, "a quote inside an unquoted field"));
                    }
                    field.push(c);
                    column += 1;
                    chars.next();
                }
            }
            fields.push((field, start));
            match chars.next() {
                Some(',') => column += 1,
                Some('\r') => {
                    if chars.peek() == Some(&'\n') {
                        chars.next();
                    }
                    break;
                }
                _ => break,
            }
        }
        let blank = fields.len() == 1 && fields[0].0.is_empty();
        if !blank {
            records.push((record_line, fields));
        }
        line += 1;
        column = 1;
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_fields_with_commas_quotes_and_newlines_parse() {
        let text = "a,b\r\n\"x, y\",\"say \"\"hi\"\"\nthere\"\r\n\r\nlast,\r\n";
        let records = parse_csv(text).unwrap();
        assert_eq!(records.len(), 3);
        assert_eq!(records[1].1[0], ("x, y".to_string(), 1));
        assert_eq!(records[1].1[1], ("say \"hi\"\nthere".to_string(), 8));
        assert_eq!(records[2].0, 5);
        assert_eq!(records[2].1, [("last".to_string(), 1), (String::new(), 6)]);
        assert_eq!(
            parse_csv("a,\"b\n").unwrap_err(),
            (1, 3, "unterminated quoted field")
        );
        assert_eq!(parse_csv("a,b\"c\n").unwrap_err().1, 4);
    }

    #[test]
    fn every_percentile_reads_back_as_written() {
        // The `/` row of tests/fixtures/locust: 53 requests.
        let points: Vec<(f64, f64)> = [
            (0.5, 7.0),
            (0.66, 7.0),
            (0.75, 8.0),
            (0.8, 8.0),
            (0.9, 9.0),
            (0.95, 12.0),
            (0.98, 31.0),
            (0.99, 33.0),
            (0.999, 33.0),
            (0.9999, 33.0),
            (1.0, 33.0),
        ]
        .to_vec();
        for count in [1u64, 2, 7, 53, 1000, 123_457] {
            let h = from_percentiles(count, 2.5, &points);
            assert_eq!(h.count(), count);
            for &(q, ms) in &points {
                let got = h.quantile(q).unwrap().as_secs_f64() * 1e3;
                // A lower quantile's value can answer when `count` is too small to tell them
                // apart; never a value from outside the columns.
                let ceiling = (q * count as f64).ceil() as u64;
                let expected = points
                    .iter()
                    .find(|&&(p, _)| ((p * count as f64).ceil() as u64).max(1) >= ceiling.max(1))
                    .unwrap()
                    .1;
                assert!(
                    (got - expected).abs() <= expected * 0.001 + 0.001 && got <= ms * 1.001,
                    "count {count}, q {q}: {got} ms, expected {expected}"
                );
            }
        }
        let h = from_percentiles(53, 2.5, &points);
        assert!((h.min().unwrap().as_secs_f64() * 1e3 - 2.5).abs() < 0.01);
    }
}
