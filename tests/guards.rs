//! The guards end to end: the real `synthex run` against a real HTTP server on 127.0.0.1 that
//! keeps its own timestamps of every request it receives. Every figure checked here comes from
//! the server's record, never from synthex's view of itself:
//! - backoff slows a failing target, the first success restores its rate, and the configured
//!   rate is a hard ceiling throughout (with the widest jitter);
//! - `Retry-After` (seconds, an HTTP date, and a value above `retry_after_cap`) holds the target
//!   exactly as long as asked or allowed;
//! - a config over the total budget is refused before anything is sent.

mod common;
mod probe_support;

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use common::{Proc, free_port, http_get, synthex_bin, wait_http_ok};
use probe_support::servers::{self, Seen, Server, reply};

/// A real synthex daemon on its own port, with its config in a temporary directory.
struct Daemon {
    _proc: Proc,
    web: String,
    _dir: tempfile::TempDir,
    started: Instant,
}

impl Daemon {
    fn start(config: &str) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("synthex.yml");
        std::fs::write(&file, config).unwrap();
        let port = free_port();
        let started = Instant::now();
        let proc = Proc::spawn(
            "synthex",
            synthex_bin(),
            &[
                "run",
                &format!("--config.file={}", file.display()),
                &format!("--web.listen-address=127.0.0.1:{port}"),
            ],
            &dir.path().join("synthex.log"),
        );
        let web = format!("http://127.0.0.1:{port}");
        wait_http_ok(&format!("{web}/-/healthy"), Duration::from_secs(10));
        Daemon {
            _proc: proc,
            web,
            _dir: dir,
            started,
        }
    }

    fn metrics(&self) -> String {
        let (status, text) = http_get(&format!("{}/metrics", self.web)).unwrap();
        assert_eq!(status, 200);
        text
    }
}

/// The value of the sample `name{labels}` (labels as written, in exposition order).
fn sample(text: &str, name: &str, labels: &str) -> f64 {
    let prefix = format!("{name}{{{labels}}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix)?.parse().ok())
        .unwrap_or_else(|| panic!("no sample {prefix}in\n{text}"))
}

/// Sum of the samples of `name` with `label` among their labels.
fn total(text: &str, name: &str, label: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) && l.contains(label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A recording server answering with `handler`, on a runtime of its own that outlives the
/// call (the test itself is synchronous: it sleeps and scrapes like an operator).
fn server(
    runtime: &tokio::runtime::Runtime,
    handler: impl Fn(&Seen) -> http::Response<http_body_util::Full<bytes::Bytes>>
    + Send
    + Sync
    + 'static,
) -> Server {
    runtime.block_on(servers::http(handler))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

/// Seconds since `t0` of each request the server received.
fn arrivals(server: &Server, t0: Instant) -> Vec<f64> {
    let seen = server.log.requests();
    seen.iter()
        .map(|s| s.at.saturating_duration_since(t0).as_secs_f64())
        .collect()
}

/// The largest number of requests within any window of `width` seconds.
fn busiest_window(at: &[f64], width: f64) -> usize {
    (0..at.len())
        .map(|i| at[i..].iter().take_while(|t| **t < at[i] + width).count())
        .max()
        .unwrap_or(0)
}

fn count_in(at: &[f64], from: f64, to: f64) -> usize {
    at.iter().filter(|t| (from..to).contains(*t)).count()
}

/// 5/s with the widest jitter. The target fails (500) from 10 s to 25 s after the first
/// request synthex sends, and answers 200 otherwise; the run lasts 45 s from that request.
#[test]
fn backoff_slows_a_failing_target_and_the_rate_is_a_hard_ceiling() {
    let runtime = runtime();
    let first: Arc<OnceLock<Instant>> = Arc::default();
    let since_first = Arc::clone(&first);
    let target = server(&runtime, move |seen| {
        let t0 = *since_first.get_or_init(|| seen.at);
        let t = seen.at.saturating_duration_since(t0);
        let failing = (Duration::from_secs(10)..Duration::from_secs(25)).contains(&t);
        reply(if failing { 500 } else { 200 }, &[], "")
    });
    let daemon = Daemon::start(&format!(
        r#"
global: {{jitter: 50%}}
targets:
  - name: api
    base_url: http://127.0.0.1:{port}
    rate: 5/s
    timeout: 1s
    backoff: {{after_failures: 2, floor: 1/s}}
    scenarios: [{{name: s, request: {{path: /}}}}]
"#,
        port = target.port()
    ));
    let t0 = loop {
        if let Some(t0) = first.get() {
            break *t0;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let sleep_until = |t: f64| {
        let at = t0 + Duration::from_secs_f64(t);
        std::thread::sleep(at.saturating_duration_since(Instant::now()));
    };
    // Deep in the failing phase the rate is down to the floor.
    sleep_until(23.0);
    let failing = daemon.metrics();
    assert_eq!(
        sample(
            &failing,
            "synthex_effective_requests_per_second",
            r#"target="api""#
        ),
        1.0
    );
    sleep_until(45.0);
    let text = daemon.metrics();
    let run = daemon.started.elapsed().as_secs_f64();
    let at = arrivals(&target, t0);

    // The ceiling, by the server's clock: no second ever holds more than ceil(5) + 1
    // requests (the widest jitter may pull the next slot into the same second), and the
    // whole run no more than 5 per second of it, plus one.
    let busiest = busiest_window(&at, 1.0);
    assert!(busiest <= 6, "{busiest} requests within one second");
    assert!(
        at.len() as f64 <= 5.0 * run + 1.0,
        "{} requests in {run:.1} s",
        at.len()
    );
    // Healthy at the full rate; failing: 2 requests, then halving per failure down to 1/s
    // (about 16 in 15 s instead of 75); recovered: the full rate again.
    let healthy = count_in(&at, 0.0, 10.0);
    assert!(
        (48..=51).contains(&healthy),
        "{healthy} requests in the first 10 s"
    );
    let slowed = count_in(&at, 10.0, 25.0);
    assert!(
        (12..=20).contains(&slowed),
        "{slowed} requests in 15 failing seconds"
    );
    let recovered = count_in(&at, 27.0, 45.0);
    assert!(
        (86..=91).contains(&recovered),
        "{recovered} requests in 18 s after recovery"
    );
    assert_eq!(
        sample(
            &text,
            "synthex_effective_requests_per_second",
            r#"target="api""#
        ),
        5.0
    );
    // What synthex counts agrees with the server: every request it sent arrived, and the
    // slots it dropped make up the rest of the schedule.
    let finished = total(&text, "synthex_requests_total", r#"target="api""#);
    let received = at.len() as f64;
    assert!(
        (received - finished).abs() <= 1.0,
        "synthex counted {finished}, the server received {received}"
    );
    let backoff = sample(
        &text,
        "synthex_requests_skipped_total",
        r#"reason="backoff",target="api""#,
    );
    // 75 slots in the failing 15 s, less those sent; a few more until the first request after
    // the recovery, which comes on the stride (at most a second later).
    let expected = 75.0 - slowed as f64;
    assert!(
        (expected - 2.0..=expected + 6.0).contains(&backoff),
        "{backoff} slots skipped for backoff, {expected} expected"
    );
    eprintln!(
        "backoff run: {} requests in {run:.1} s; busiest second {busiest}; healthy {healthy}, \
         failing {slowed}, recovered {recovered}; skipped for backoff {backoff}",
        at.len()
    );
    // 45 s at 5/s from the first request: every slot was either sent or skipped.
    let slots = received + backoff;
    assert!(
        (222.0..=228.0).contains(&slots),
        "{received} sent + {backoff} skipped"
    );
}

/// 10/s, `retry_after_cap: 3s`. The server answers its 5th request 429 `Retry-After: 2`, its
/// 15th 503 with an HTTP date 3 s ahead, its 25th 429 `Retry-After: 3600`, and 200 otherwise.
#[test]
fn retry_after_holds_the_target_as_long_as_asked_and_allowed() {
    let runtime = runtime();
    let served = Arc::new(AtomicUsize::new(0));
    let dates: Arc<OnceLock<SystemTime>> = Arc::default();
    let (count, date) = (Arc::clone(&served), Arc::clone(&dates));
    let target = server(&runtime, move |seen| {
        match count.fetch_add(1, Ordering::SeqCst) + 1 {
            5 => reply(429, &[("retry-after", "2")], ""),
            15 => {
                // Whole seconds, as HTTP dates are: 2 to 3 s from now.
                let text = httpdate::fmt_http_date(seen.wall + Duration::from_secs(3));
                date.get_or_init(|| httpdate::parse_http_date(&text).unwrap());
                reply(503, &[("retry-after", &text)], "")
            }
            25 => reply(429, &[("retry-after", "3600")], ""),
            _ => reply(200, &[], ""),
        }
    });
    let daemon = Daemon::start(&format!(
        r#"
targets:
  - name: api
    base_url: http://127.0.0.1:{port}
    rate: 10/s
    retry_after_cap: 3s
    scenarios: [{{name: s, request: {{path: /}}}}]
"#,
        port = target.port()
    ));
    while served.load(Ordering::SeqCst) < 30 {
        std::thread::sleep(Duration::from_millis(50));
    }
    let text = daemon.metrics();
    let seen = target.log.requests();
    let gap = |n: usize| (seen[n].at - seen[n - 1].at).as_secs_f64();
    // The hold starts when synthex reads the answer, after the server sent it; it ends on the
    // next slot of the schedule (0.1 s apart), on a machine that may be busy.
    let late = 0.1 + 0.4;
    let asked = gap(5);
    assert!(
        (2.0..2.0 + late).contains(&asked),
        "held {asked} s for Retry-After: 2"
    );
    let until = *dates.get().unwrap();
    let resumed = seen[15].wall;
    assert!(resumed >= until, "sent again before the date it was given");
    let after_date = resumed.duration_since(until).unwrap().as_secs_f64();
    assert!(
        after_date < late,
        "sent again {after_date} s after the date"
    );
    let capped = gap(25);
    assert!(
        (3.0..3.0 + late).contains(&capped),
        "held {capped} s for 3600 capped at 3 s"
    );
    // Every other gap is the schedule's.
    for n in (1..30).filter(|n| ![5, 15, 25].contains(n)) {
        assert!(gap(n) < 0.2 + late, "gap {n}: {} s", gap(n));
    }
    // The slots skipped while held, by the server's gaps: each hold of g seconds dropped about
    // 10 g - 1 slots.
    let held: f64 = [5, 15, 25].iter().map(|n| gap(*n) * 10.0 - 1.0).sum();
    let skipped = sample(
        &text,
        "synthex_requests_skipped_total",
        r#"reason="retry_after",target="api""#,
    );
    eprintln!(
        "retry-after holds: {asked:.3} s, date +{after_date:.3} s, capped {capped:.3} s; {skipped} slots skipped"
    );
    assert!(
        (skipped - held).abs() <= 3.0,
        "{skipped} skipped, {held:.1} held"
    );
    // Three single failures never trip the backoff (after 5 consecutive ones by default).
    let backoff = sample(
        &text,
        "synthex_requests_skipped_total",
        r#"reason="backoff",target="api""#,
    );
    assert_eq!(backoff, 0.0);
}

/// Three targets at 20/s: 60/s, more than the default budget of 50/s. `run` and
/// `check-config` refuse it with exit status 2, naming the sum and the limit, and nothing is
/// ever sent; raising the limit in the file lets it run.
#[test]
fn a_config_over_the_total_budget_is_refused_before_anything_is_sent() {
    let runtime = runtime();
    let target = server(&runtime, |_| reply(200, &[], ""));
    let dir = tempfile::tempdir().unwrap();
    let targets: String = ["a", "b", "c"]
        .iter()
        .map(|name| {
            format!(
                "  - {{name: {name}, base_url: http://127.0.0.1:{}, rate: 20/s, scenarios: \
                 [{{name: s, request: {{path: /}}}}]}}\n",
                target.port()
            )
        })
        .collect();
    let over = dir.path().join("over.yml");
    std::fs::write(&over, format!("targets:\n{targets}")).unwrap();
    let message = format!(
        "{}: targets: the target rates add up to 60/s, more than the default limit of 50/s: \
         lower the rates, or raise the limit explicitly with global.max_total_rate (at most \
         100000/s)",
        over.display()
    );
    for args in [
        vec!["check-config".to_string(), over.display().to_string()],
        vec![
            "run".to_string(),
            format!("--config.file={}", over.display()),
            format!("--web.listen-address=127.0.0.1:{}", free_port()),
        ],
    ] {
        let out = Command::new(synthex_bin()).args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(&message), "{args:?}: {stderr}");
    }
    assert_eq!(target.log.requests().len(), 0);
    let raised = dir.path().join("raised.yml");
    std::fs::write(
        &raised,
        format!("global: {{max_total_rate: 60/s}}\ntargets:\n{targets}"),
    )
    .unwrap();
    let out = Command::new(synthex_bin())
        .args(["check-config", &raised.display().to_string()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let described = String::from_utf8_lossy(&out.stdout);
    assert!(
        described.contains("max total rate    60/s (the targets send up to 60/s)"),
        "{described}"
    );
}
