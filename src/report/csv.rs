//! Locust-compatible CSV: `{prefix}_stats.csv`, `{prefix}_stats_history.csv` and
//! `{prefix}_failures.csv` with exactly the header lines of Locust's `--csv` output (checked
//! against a real Locust 2.47 run in `tests/fixtures/locust/`), so tooling built around Locust
//! keeps working.
//!
//! Column semantics follow Locust's `stats.py`: `Type` is the HTTP method (empty on the
//! `Aggregated` row), times are milliseconds, percentiles and medians are integers rounded the
//! way Locust buckets response times (1 ms under 100 ms, 10 ms under 1 s, 100 ms under 10 s,
//! then 1 s), other numbers are written like Python's `repr(float)`, the history's rates with six
//! decimals, fields are quoted only when needed, and lines end in CRLF as Python's `csv` writes
//! them. In the history, `Requests/s` and `Failures/s` are the interval's, the percentiles and
//! totals are cumulative (Locust's Aggregated history row), and `Total Average Content Size` is
//! the run's (intervals do not record body sizes). Failures have no first/last-seen time in the
//! report, so those columns are empty, as Locust leaves them when unknown.

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use super::ReportError;
use super::format;
use super::model::{LatencyHistogram, Report};
use super::table;

/// Header line of `_stats.csv`.
pub const STATS_HEADER: &str = "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%";

/// Header line of `_stats_history.csv`.
pub const HISTORY_HEADER: &str = "Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%,Total Request Count,Total Failure Count,Total Median Response Time,Total Average Response Time,Total Min Response Time,Total Max Response Time,Total Average Content Size";

/// Header line of `_failures.csv`.
pub const FAILURES_HEADER: &str = "Method,Name,Error,Occurrences,First Seen,Last Seen";

/// Locust's default percentile columns.
const PERCENTILES: [f64; 11] = [
    0.5, 0.66, 0.75, 0.8, 0.9, 0.95, 0.98, 0.99, 0.999, 0.9999, 1.0,
];

/// Writes the three CSV files into `dir`, returning their paths.
pub fn write(report: &Report, dir: &Path, prefix: &str) -> Result<Vec<PathBuf>, ReportError> {
    type Writer = fn(&Report, &mut BufWriter<File>) -> io::Result<()>;
    let files: [(&str, Writer); 3] = [
        ("stats", stats),
        ("stats_history", history),
        ("failures", failures),
    ];
    let mut paths = Vec::new();
    for (suffix, writer) in files {
        let path = dir.join(format!("{prefix}_{suffix}.csv"));
        super::write_file(&path, |out| writer(report, out))?;
        paths.push(path);
    }
    Ok(paths)
}

/// Writes `_stats.csv`: one row per scenario, then the Aggregated row.
pub fn stats(report: &Report, out: &mut impl Write) -> io::Result<()> {
    line(out, STATS_HEADER.split(',').map(Cow::from))?;
    let secs = report.duration_seconds;
    for s in &report.scenarios {
        let name = table::label(report, s);
        let counts = Counts::new(s.requests, s.failures, s.body_bytes);
        stats_row(out, &s.method, &name, counts, &s.latency, secs)?;
    }
    let (requests, failures, latency) = report.total();
    let body: u64 = report.scenarios.iter().map(|s| s.body_bytes).sum();
    stats_row(
        out,
        "",
        "Aggregated",
        Counts::new(requests, failures, body),
        &latency,
        secs,
    )
}

#[derive(Clone, Copy)]
struct Counts {
    requests: u64,
    failures: u64,
    body_bytes: u64,
}

impl Counts {
    fn new(requests: u64, failures: u64, body_bytes: u64) -> Counts {
        Counts {
            requests,
            failures,
            body_bytes,
        }
    }

    fn average_content_size(&self) -> String {
        format::ratio(self.body_bytes as f64, self.requests as f64).map_or("0".into(), py_float)
    }
}

fn stats_row(
    out: &mut impl Write,
    method: &str,
    name: &str,
    counts: Counts,
    latency: &LatencyHistogram,
    secs: f64,
) -> io::Result<()> {
    let per_second = |n: u64| py_float(format::ratio(n as f64, secs).unwrap_or(0.0));
    let mut fields: Vec<String> = vec![
        method.into(),
        name.into(),
        counts.requests.to_string(),
        counts.failures.to_string(),
    ];
    fields.extend(response_times(latency));
    fields.push(counts.average_content_size());
    fields.push(per_second(counts.requests));
    fields.push(per_second(counts.failures));
    fields.extend(percentiles(latency));
    line(out, fields.into_iter().map(Cow::from))
}

/// Median, average, min and max response time, as Locust writes them (zeros when empty).
fn response_times(latency: &LatencyHistogram) -> [String; 4] {
    let ms = |d: Option<std::time::Duration>| d.map(|d| d.as_secs_f64() * 1e3);
    let (Some(min), Some(max), Some(mean), Some(p50)) = (
        ms(latency.min()),
        ms(latency.max()),
        ms(latency.mean()),
        ms(latency.quantile(0.5)),
    ) else {
        return ["0".into(), "0.0".into(), "0".into(), "0".into()];
    };
    // Locust clamps its bucketed median into [min, max], then writes the exact bound.
    let bucket = locust_bucket(p50) as f64;
    let median = if bucket > max {
        py_float(max)
    } else if bucket < min {
        py_float(min)
    } else {
        format!("{bucket}")
    };
    [median, py_float(mean), py_float(min), py_float(max)]
}

/// The percentile columns: integers in ms, `N/A` without requests.
fn percentiles(latency: &LatencyHistogram) -> Vec<String> {
    PERCENTILES
        .iter()
        .map(|q| {
            latency.quantile(*q).map_or("N/A".into(), |d| {
                locust_bucket(d.as_secs_f64() * 1e3).to_string()
            })
        })
        .collect()
}

/// Writes `_stats_history.csv`: one Aggregated row per timeline interval.
pub fn history(report: &Report, out: &mut impl Write) -> io::Result<()> {
    line(out, HISTORY_HEADER.split(',').map(Cow::from))?;
    let step = report.timeline_interval_seconds;
    let (run_requests, _, _) = report.total();
    let run_body: u64 = report.scenarios.iter().map(|s| s.body_bytes).sum();
    let mut total = LatencyHistogram::new();
    let (mut requests, mut failures) = (0, 0);
    for interval in &report.timeline {
        total.merge(&interval.latency);
        requests += interval.requests;
        failures += interval.failures;
        let rate = |n: u64| format!("{:.6}", format::ratio(n as f64, step).unwrap_or(0.0));
        let end = report.started_at + interval.offset_seconds + step;
        let mut fields: Vec<String> = vec![
            format!("{}", end.floor()),
            interval.users.to_string(),
            String::new(),
            "Aggregated".into(),
            rate(interval.requests),
            rate(interval.failures),
        ];
        fields.extend(percentiles(&total));
        fields.push(requests.to_string());
        fields.push(failures.to_string());
        fields.extend(response_times(&total));
        let size = Counts::new(run_requests, 0, run_body).average_content_size();
        fields.push(if requests == 0 { "0".into() } else { size });
        line(out, fields.into_iter().map(Cow::from))?;
    }
    Ok(())
}

/// Writes `_failures.csv`: one row per failure group.
pub fn failures(report: &Report, out: &mut impl Write) -> io::Result<()> {
    line(out, FAILURES_HEADER.split(',').map(Cow::from))?;
    let with_target = table::several_targets(report);
    for f in &report.failures {
        let error = if f.message.is_empty() {
            &f.reason
        } else {
            &f.message
        };
        line(
            out,
            [
                Cow::from(f.method.as_str()),
                table::scenario_label(with_target, &f.target, &f.name()).into(),
                error.as_str().into(),
                f.occurrences.to_string().into(),
                timestamp(f.first_seen).into(),
                timestamp(f.last_seen).into(),
            ]
            .into_iter(),
        )?;
    }
    Ok(())
}

/// A Unix time as Locust writes `First Seen` / `Last Seen` (`2026-11-22T19:33:12Z`); empty
/// when unknown (a report of an older synthex).
fn timestamp(seconds: Option<f64>) -> String {
    seconds
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .and_then(|d| UNIX_EPOCH.checked_add(d))
        .map_or(String::new(), |t| {
            humantime::format_rfc3339_seconds(t).to_string()
        })
}

/// Locust's response-time bucket for a time in ms.
fn locust_bucket(ms: f64) -> u64 {
    let step = match ms {
        t if t < 100.0 => 1.0,
        t if t < 1_000.0 => 10.0,
        t if t < 10_000.0 => 100.0,
        _ => 1_000.0,
    };
    ((ms / step).round() * step) as u64
}

/// A float as Python's `repr` writes it (`579.0`, `6.9958`).
fn py_float(value: f64) -> String {
    format!("{value:?}")
}

/// One CSV line, quoting like Python's `csv.QUOTE_MINIMAL`, ended by CRLF.
fn line<'a>(out: &mut impl Write, fields: impl Iterator<Item = Cow<'a, str>>) -> io::Result<()> {
    let mut text = String::new();
    for (i, field) in fields.enumerate() {
        if i > 0 {
            text.push(',');
        }
        if field.contains([',', '"', '\r', '\n']) {
            text.push('"');
            text.push_str(&field.replace('"', "\"\""));
            text.push('"');
        } else {
            text.push_str(&field);
        }
    }
    text.push_str("\r\n");
    out.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testing;

    fn lines(writer: fn(&Report, &mut Vec<u8>) -> io::Result<()>, report: &Report) -> Vec<String> {
        let mut out = Vec::new();
        writer(report, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.ends_with("\r\n"));
        text.split_terminator("\r\n").map(String::from).collect()
    }

    #[test]
    fn stats_rows_follow_locust_columns() {
        let report = testing::report();
        let lines = lines(stats, &report);
        assert_eq!(lines[0], STATS_HEADER);
        assert_eq!(lines.len(), 1 + 3 + 1);
        let columns = STATS_HEADER.split(',').count();
        for l in &lines {
            assert_eq!(l.split(',').count(), columns, "{l}");
        }
        let aggregated: Vec<&str> = lines[4].split(',').collect();
        assert_eq!(aggregated[..4], ["", "Aggregated", "600", "33"]);
        assert_eq!(aggregated[9], "60.0", "Requests/s");
        assert_eq!(aggregated[10], py_float(33.0 / 10.0), "Failures/s");
        let home: Vec<&str> = lines[3].split(',').collect();
        assert_eq!(home[..2], ["GET", "web/home"]);
        // Percentiles are integers, ascending, the 100% one at the max.
        let p: Vec<u64> = home[11..].iter().map(|v| v.parse().unwrap()).collect();
        assert!(p.windows(2).all(|w| w[0] <= w[1]), "{p:?}");
        assert!((22..=23).contains(&p[10]), "{p:?}");
    }

    #[test]
    fn an_empty_scenario_writes_na_percentiles() {
        let mut report = testing::report();
        report.scenarios[0].requests = 0;
        report.scenarios[0].failures = 0;
        report.scenarios[0].body_bytes = 0;
        report.scenarios[0].latency = LatencyHistogram::new();
        let lines = lines(stats, &report);
        assert!(
            lines[1].ends_with(",0,0.0,0,0,0,0.0,0.0,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A"),
            "{}",
            lines[1]
        );
    }

    #[test]
    fn history_has_one_aggregated_row_per_interval_with_cumulative_totals() {
        let report = testing::report();
        let lines = lines(history, &report);
        assert_eq!(lines[0], HISTORY_HEADER);
        assert_eq!(lines.len(), 1 + report.timeline.len());
        let first: Vec<&str> = lines[1].split(',').collect();
        assert_eq!(
            first[..6],
            ["1700000001", "10", "", "Aggregated", "60.000000", first[5]]
        );
        let last: Vec<&str> = lines[10].split(',').collect();
        assert_eq!(last[0], "1700000010");
        assert_eq!(last[17..19], ["600", "33"]);
    }

    #[test]
    fn failures_are_quoted_when_they_hold_commas() {
        let report = testing::report();
        let lines = lines(failures, &report);
        assert_eq!(lines[0], FAILURES_HEADER);
        assert!(
            lines
                .contains(&"GET,api/order_status,\"expected status 200, got 503\",6,,".to_string()),
            "{lines:?}"
        );
    }

    #[test]
    fn numbers_are_formatted_like_locust() {
        assert_eq!(locust_bucket(7.4), 7);
        assert_eq!(locust_bucket(147.0), 150);
        assert_eq!(locust_bucket(3432.0), 3400);
        assert_eq!(locust_bucket(58760.0), 59000);
        assert_eq!(py_float(579.0), "579.0");
        assert_eq!(py_float(6.995800320737544), "6.995800320737544");
        let mut out = Vec::new();
        line(&mut out, ["a\"b", "c"].into_iter().map(Cow::from)).unwrap();
        assert_eq!(out, b"\"a\"\"b\",c\r\n");
    }
}
