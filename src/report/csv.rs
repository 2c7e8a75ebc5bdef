//! Locust-compatible CSV: `{prefix}_stats.csv`, `{prefix}_stats_history.csv` and
//! `{prefix}_failures.csv` with exactly the header lines of Locust's `--csv` output (checked
//! against a real Locust 2.47 run in `tests/fixtures/locust/`), so tooling built around Locust
//! keeps working.
//!
//! Column semantics follow Locust's `stats.py`: `Type` is the HTTP method (empty on the
//! `Aggregated` row), rows are sorted by name then method as Locust sorts its entries (not in
//! config order), times are milliseconds, percentiles and medians are integers rounded the
//! way Locust buckets response times (1 ms under 100 ms, 10 ms under 1 s, 100 ms under 10 s,
//! then 1 s), other numbers are written like Python's `repr(float)`, the history's rates with six
//! decimals, fields are quoted only when needed, and lines end in CRLF as Python's `csv` writes
//! them. In the history, `Requests/s` and `Failures/s` are the interval's, the percentiles and
//! totals are cumulative (Locust's Aggregated history row), and `Total Average Content Size` is
//! the run's (intervals do not record body sizes). Failures have no first/last-seen time in the
//! report, so those columns are empty, as Locust leaves them when unknown.
//!
//! With [`History::Full`] (Locust's `--csv-full-history`) every interval of the history has a
//! row per scenario (a flow's steps as `flow/step`) before the Aggregated row, sorted by name
//! then method as Locust sorts its entries, each listed from the interval of its first request
//! on; every row's percentiles are then over the last 10 seconds (Locust's "current" response
//! times, `CURRENT_RESPONSE_TIME_PERCENTILE_WINDOW`), 0 when that window had no request, while
//! the `Total` columns stay cumulative per row. Checked against a real Locust 2.47
//! `--csv-full-history` run in `tests/fixtures/locust/full-history/`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use super::ReportError;
use super::format;
use super::model::{LatencyHistogram, Report, ScenarioStats};
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

/// Length of the window of the full history's percentiles, seconds: Locust's
/// `CURRENT_RESPONSE_TIME_PERCENTILE_WINDOW`.
const CURRENT_WINDOW_SECONDS: f64 = 10.0;

/// Which rows `_stats_history.csv` holds, as Locust's `--csv-full-history` chooses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum History {
    /// One Aggregated row per interval, percentiles since the start (Locust's default).
    #[default]
    Aggregated,
    /// A row per scenario and the Aggregated row per interval, percentiles over the last 10
    /// seconds (`--csv-full-history`).
    Full,
}

impl History {
    /// The history `--csv-full-history` asks for (given or not).
    pub fn of_flag(full: bool) -> History {
        if full {
            History::Full
        } else {
            History::Aggregated
        }
    }
}

/// Writes the three CSV files into `dir`, returning their paths.
pub fn write(
    report: &Report,
    dir: &Path,
    prefix: &str,
    kind: History,
) -> Result<Vec<PathBuf>, ReportError> {
    let mut paths = Vec::new();
    for suffix in ["stats", "stats_history", "failures"] {
        let path = dir.join(format!("{prefix}_{suffix}.csv"));
        super::write_file(&path, |out| match suffix {
            "stats" => stats(report, out),
            "stats_history" => history(report, kind, out),
            _ => failures(report, out),
        })?;
        paths.push(path);
    }
    Ok(paths)
}

/// Writes `_stats.csv`: one row per scenario in Locust's order (see [`locust_order`]), then
/// the Aggregated row.
pub fn stats(report: &Report, out: &mut impl Write) -> io::Result<()> {
    line(out, STATS_HEADER.split(',').map(Cow::from))?;
    let secs = report.duration_seconds;
    for (name, s) in locust_order(report) {
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

/// Writes `_stats_history.csv`: per timeline interval, the Aggregated row, preceded with
/// [`History::Full`] by a row per scenario.
pub fn history(report: &Report, kind: History, out: &mut impl Write) -> io::Result<()> {
    line(out, HISTORY_HEADER.split(',').map(Cow::from))?;
    let step = report.timeline_interval_seconds;
    let empty = LatencyHistogram::new();
    let (run_requests, _, _) = report.total();
    let run_body: u64 = report.scenarios.iter().map(|s| s.body_bytes).sum();
    let aggregated = HistoryRow::new("", "Aggregated".into(), run_requests, run_body);
    let mut rows: Vec<(HistoryRow, Option<&ScenarioStats>)> = match kind {
        History::Aggregated => Vec::new(),
        History::Full => scenario_rows(report),
    };
    rows.push((aggregated, None));
    let window = match kind {
        History::Aggregated => None,
        History::Full => Some((CURRENT_WINDOW_SECONDS / step).round().max(1.0) as usize),
    };
    for (i, interval) in report.timeline.iter().enumerate() {
        let length = interval.length(step);
        let end = report.started_at + interval.offset_seconds + length;
        let rate = |n: u64| format!("{:.6}", format::ratio(n as f64, length).unwrap_or(0.0));
        for (row, scenario) in &mut rows {
            let share = |at| share(report, *scenario, at);
            let (requests, failures, latency) = share(i).unwrap_or((0, 0, &empty));
            row.add(requests, failures, latency);
            let current = window.map(|w| {
                let leaving = i.checked_sub(w).and_then(share);
                row.slide(latency, leaving.map(|(_, _, l)| l))
            });
            if scenario.is_some() && row.requests == 0 {
                continue; // Locust lists an entry from its first request on
            }
            let mut fields: Vec<String> = vec![
                format!("{}", end.floor()),
                interval.users.to_string(),
                row.method.to_string(),
                row.name.clone(),
                rate(requests),
                rate(failures),
            ];
            fields.extend(match current {
                Some(current) => current,
                None => percentiles(&row.total),
            });
            fields.push(row.requests.to_string());
            fields.push(row.failures.to_string());
            fields.extend(response_times(&row.total));
            let size = Counts::new(row.run_requests, 0, row.run_body).average_content_size();
            fields.push(if row.requests == 0 { "0".into() } else { size });
            line(out, fields.into_iter().map(Cow::from))?;
        }
    }
    Ok(())
}

/// A row's requests, failures and latencies in interval `at`: the interval itself for the
/// Aggregated row (`scenario` None), else the scenario's entry, absent when it had no request.
fn share<'a>(
    report: &'a Report,
    scenario: Option<&'a ScenarioStats>,
    at: usize,
) -> Option<(u64, u64, &'a LatencyHistogram)> {
    match scenario {
        None => report
            .timeline
            .get(at)
            .map(|t| (t.requests, t.failures, &t.latency)),
        Some(s) => s
            .timeline
            .get(at)
            .map(|t| (t.requests, t.failures, &t.latency)),
    }
}

/// The scenario rows with their CSV names, sorted by name then method: Locust keys its entries
/// by `(name, method)` and writes them sorted (`sort_stats` in its `stats.py`), whatever order
/// the locustfile declares them in.
fn locust_order(report: &Report) -> Vec<(String, &ScenarioStats)> {
    let mut rows: Vec<_> = report
        .scenarios
        .iter()
        .map(|s| (table::label(report, s), s))
        .collect();
    rows.sort_by(|(a, x), (b, y)| (a, &x.method).cmp(&(b, &y.method)));
    rows
}

/// The full history's scenario rows, in Locust's order.
fn scenario_rows(report: &Report) -> Vec<(HistoryRow<'_>, Option<&ScenarioStats>)> {
    locust_order(report)
        .into_iter()
        .map(|(name, s)| {
            let row = HistoryRow::new(&s.method, name, s.requests, s.body_bytes);
            (row, Some(s))
        })
        .collect()
}

/// One row of the history as it runs: cumulative totals and the current window.
struct HistoryRow<'a> {
    method: &'a str,
    name: String,
    /// The run's requests and body bytes, for the average content size.
    run_requests: u64,
    run_body: u64,
    requests: u64,
    failures: u64,
    total: LatencyHistogram,
    current: Window,
}

impl<'a> HistoryRow<'a> {
    fn new(method: &'a str, name: String, run_requests: u64, run_body: u64) -> HistoryRow<'a> {
        HistoryRow {
            method,
            name,
            run_requests,
            run_body,
            requests: 0,
            failures: 0,
            total: LatencyHistogram::new(),
            current: Window::default(),
        }
    }

    /// Counts one more interval into the totals.
    fn add(&mut self, requests: u64, failures: u64, latency: &LatencyHistogram) {
        self.requests += requests;
        self.failures += failures;
        self.total.merge(latency);
    }

    /// Moves the current window on by one interval (`entering`; `leaving` drops out) and
    /// returns its percentile columns: `N/A` before the row's first request, 0 for a window
    /// without requests, as Locust writes them.
    fn slide(
        &mut self,
        entering: &LatencyHistogram,
        leaving: Option<&LatencyHistogram>,
    ) -> Vec<String> {
        self.current.add(entering);
        if let Some(leaving) = leaving {
            self.current.remove(leaving);
        }
        if self.requests == 0 {
            return percentiles(&self.total);
        }
        PERCENTILES
            .iter()
            .map(|q| {
                let micros = self.current.quantile(*q).unwrap_or(0);
                locust_bucket(micros as f64 / 1e3).to_string()
            })
            .collect()
    }
}

/// The latencies of the last few intervals as bucket counts (histogram bucket value in µs →
/// count), so that a window moves on by adding one interval and removing one instead of
/// merging all of its histograms again for every row of every interval.
#[derive(Default)]
struct Window {
    counts: BTreeMap<u64, u64>,
    total: u64,
}

impl Window {
    fn add(&mut self, latency: &LatencyHistogram) {
        for (value, count) in latency.buckets() {
            *self.counts.entry(value).or_default() += count;
            self.total += count;
        }
    }

    fn remove(&mut self, latency: &LatencyHistogram) {
        for (value, count) in latency.buckets() {
            if let Some(held) = self.counts.get_mut(&value) {
                let gone = count.min(*held);
                *held -= gone;
                self.total -= gone;
                if *held == 0 {
                    self.counts.remove(&value);
                }
            }
        }
    }

    /// The value at quantile `q` by HDR's rule (the first bucket whose cumulative count
    /// reaches `ceil(q × total)`, at least 1), as [`LatencyHistogram::quantile`] computes it;
    /// `None` when empty.
    fn quantile(&self, q: f64) -> Option<u64> {
        let target = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        self.counts.iter().find_map(|(value, count)| {
            seen += count;
            (seen >= target).then_some(*value)
        })
    }
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
    use crate::report::model::ScenarioInterval;
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
    fn stats_rows_are_sorted_by_name_then_method_like_locusts() {
        let mut report = flow_report();
        // A second row of the same name under another method, declared before the first.
        let mut head = report.scenarios[1].clone();
        head.method = "HEAD".into();
        report.scenarios.insert(0, head);
        let names: Vec<String> = lines(stats, &report)[1..]
            .iter()
            .map(|l| fields(l)[..2].join(" "))
            .collect();
        assert_eq!(
            names,
            [
                "GET api/search",
                "HEAD api/search",
                "GET api/zeta",
                "POST web/session/login",
                " Aggregated"
            ]
        );
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

    fn aggregated_history(report: &Report, out: &mut Vec<u8>) -> io::Result<()> {
        history(report, History::Aggregated, out)
    }

    fn full_history(report: &Report, out: &mut Vec<u8>) -> io::Result<()> {
        history(report, History::Full, out)
    }

    #[test]
    fn history_has_one_aggregated_row_per_interval_with_cumulative_totals() {
        let report = testing::report();
        let lines = lines(aggregated_history, &report);
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

    /// The test report with a flow step among its rows and names out of Locust's order, its
    /// intervals 2 s long so that the 10-second window of the full history slides (5 intervals).
    fn flow_report() -> Report {
        let mut report = testing::report();
        report.scenarios[0].scenario = "zeta".into();
        report.scenarios[2].scenario = "session".into();
        report.scenarios[2].step = Some("login".into());
        report.scenarios[2].method = "POST".into();
        // The step's first request comes in the third interval.
        let step = &mut report.scenarios[2];
        for early in &mut step.timeline[..2] {
            step.requests -= early.requests;
            step.failures -= early.failures;
            *early = ScenarioInterval::default();
        }
        report.timeline_interval_seconds = 2.0;
        for (i, interval) in report.timeline.iter_mut().enumerate() {
            interval.offset_seconds = 2.0 * i as f64;
        }
        report
    }

    fn fields(line: &str) -> Vec<&str> {
        line.split(',').collect()
    }

    #[test]
    fn full_history_lists_every_row_sorted_by_name_from_its_first_request() {
        let report = flow_report();
        let lines = lines(full_history, &report);
        assert_eq!(lines[0], HISTORY_HEADER);
        let names = |at: usize| -> Vec<String> {
            let timestamp = format!("{}", 1_700_000_000 + 2 * (at + 1));
            lines[1..]
                .iter()
                .map(|l| fields(l))
                .filter(|f| f[0] == timestamp)
                .map(|f| format!("{} {}", f[2], f[3]))
                .collect()
        };
        assert_eq!(names(0), ["GET api/search", "GET api/zeta", " Aggregated"]);
        assert_eq!(
            names(2),
            [
                "GET api/search",
                "GET api/zeta",
                "POST web/session/login",
                " Aggregated"
            ]
        );
        assert_eq!(lines.len(), 1 + 2 * 3 + 8 * 4);
        let columns = HISTORY_HEADER.split(',').count();
        assert!(lines.iter().all(|l| l.split(',').count() == columns));
    }

    #[test]
    fn full_history_rows_add_up_to_each_scenario_and_window_its_percentiles() {
        let report = flow_report();
        let lines = lines(full_history, &report);
        for s in &report.scenarios {
            let name = table::label(&report, s);
            let rows: Vec<Vec<&str>> = lines[1..]
                .iter()
                .map(|l| fields(l))
                .filter(|f| f[3] == name)
                .collect();
            // Requests/s over the 2-second intervals add up to the scenario's requests.
            let sum: f64 = rows
                .iter()
                .map(|f| f[4].parse::<f64>().unwrap() * 2.0)
                .sum();
            assert_eq!(sum.round() as u64, s.requests, "{name}");
            let last = rows.last().unwrap();
            assert_eq!(
                last[17..19],
                [s.requests.to_string(), s.failures.to_string()]
            );
            // Each row's percentiles are those of the last 5 intervals merged by HDR.
            let first = report.timeline.len() - rows.len();
            for (k, row) in rows.iter().enumerate() {
                let at = first + k;
                let mut window = LatencyHistogram::new();
                for t in s
                    .timeline
                    .iter()
                    .take(at + 1)
                    .skip((at + 1).saturating_sub(5))
                {
                    window.merge(&t.latency);
                }
                let expected: Vec<String> = if window.count() == 0 {
                    vec!["0".to_string(); PERCENTILES.len()]
                } else {
                    percentiles(&window)
                };
                assert_eq!(row[6..17], expected, "{name} interval {at}");
            }
        }
        // The Aggregated row's percentiles are windowed too, its totals cumulative.
        let aggregated: Vec<&str> = fields(lines.last().unwrap());
        let mut window = LatencyHistogram::new();
        for t in &report.timeline[5..] {
            window.merge(&t.latency);
        }
        assert_eq!(aggregated[6..17], percentiles(&window));
        assert_eq!(aggregated[17..19], ["600", "33"]);
    }

    #[test]
    fn the_window_quantile_follows_hdr_at_every_edge() {
        let mut histogram = LatencyHistogram::new();
        for (micros, count) in [(1u64, 1u64), (250, 3), (99_999, 5), (1_000_001, 1)] {
            histogram.record_n_at(Duration::from_micros(micros), count);
        }
        let mut window = Window::default();
        window.add(&histogram);
        for q in [0.0001, 0.1, 0.1001, 0.4, 0.41, 0.9, 0.9001, 0.999, 1.0] {
            let hdr = histogram.quantile(q).map(|d| d.as_micros() as u64);
            assert_eq!(window.quantile(q), hdr, "q {q}");
        }
        window.remove(&histogram);
        assert_eq!((window.quantile(0.5), window.total), (None, 0));
        assert!(window.counts.is_empty());
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
