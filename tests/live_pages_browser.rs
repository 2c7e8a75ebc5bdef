//! The daemon's status page and the live page of a load test, opened in headless Chromium as a
//! person would: the charts draw (the status page's last hour per target, the live page's
//! requests/s, response times and users), the live one updates while the test runs against a
//! real local server, and neither logs a console message. Screenshots of both are kept in
//! `target/test-screenshots/`.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::browser::{self, ChartState};
use common::counting_target::CountingTarget;
use common::{Proc, free_port, http_get, http_request, synthex_bin, wait_http_ok};

fn chart<'a>(charts: &'a [ChartState], id: &str) -> &'a ChartState {
    charts
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("no chart {id} in {charts:?}"))
}

/// The text of the element with `id` in a dumped DOM.
fn text_of<'a>(dom: &'a str, id: &str) -> &'a str {
    let start = dom
        .find(&format!("id=\"{id}\">"))
        .unwrap_or_else(|| panic!("no #{id}"))
        + id.len()
        + 6;
    &dom[start..start + dom[start..].find('<').unwrap()]
}

#[test]
fn the_status_page_charts_every_targets_last_hour_with_its_objectives() {
    let dir = tempfile::tempdir().unwrap();
    let target = CountingTarget::start(Duration::ZERO);
    let port = target.addr.port();
    let config = dir.path().join("synthex.yml");
    std::fs::write(
        &config,
        format!(
            "targets:
  - name: api
    base_url: http://127.0.0.1:{port}
    rate: 10/s
    objectives: {{p95: 20ms, error_ratio: 1%}}
    scenarios:
      - {{name: fast, request: {{path: /fast}}}}
      - {{name: slow, request: {{path: /delay/30}}}}
  - name: flaky
    base_url: http://127.0.0.1:{port}
    rate: 10/s
    backoff: off
    scenarios:
      - {{name: ok, request: {{path: /ok}}}}
      - {{name: broken, request: {{path: /status/500}}}}
"
        ),
    )
    .unwrap();
    let web = free_port();
    let log = dir.path().join("synthex.log");
    let mut daemon = Proc::spawn(
        "synthex",
        synthex_bin(),
        &[
            "run",
            &format!("--config.file={}", config.display()),
            &format!("--web.listen-address=127.0.0.1:{web}"),
        ],
        &log,
    );
    let base = format!("http://127.0.0.1:{web}");
    wait_http_ok(&format!("{base}/-/ready"), Duration::from_secs(30));
    common::wait_until(
        || {
            ["/fast", "/delay/30", "/ok", "/status/500"]
                .iter()
                .all(|p| target.answered_of(p) >= 5)
        },
        &mut daemon,
        &log,
    );
    let page = browser::render(&format!("{base}/"), "status-page", 1600);
    browser::assert_clean(&page, 4);
    let charts = browser::charts(&page.dom);
    let ids: Vec<&str> = charts.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "target-0-p95",
            "target-0-errors",
            "target-1-p95",
            "target-1-errors"
        ]
    );
    for chart in &charts {
        // One line per scenario, each with at least the minute in progress.
        assert_eq!(chart.series, 2, "{chart:?}");
        assert!(chart.points >= 2, "{chart:?}");
        // The last hour and the minute in progress, on the wall clock.
        let (from, to) = chart.x_range.unwrap();
        assert_eq!(to - from, 3660.0, "{chart:?}");
        assert_eq!(to % 60.0, 0.0, "{chart:?}");
        browser::assert_round_ticks(&chart.id, &chart.y_ticks, 1.0);
    }
    // The slow scenario's p95 (the target held it 30 ms) is on the axis, and so is the 20 ms
    // objective line; ratios never run past 100 %, and the broken scenario reaches it.
    let p95 = chart(&charts, "target-0-p95");
    assert!(p95.y_range.unwrap().1 >= 0.030, "{p95:?}");
    let errors = chart(&charts, "target-0-errors");
    let top = errors.y_range.unwrap().1;
    assert!((0.01..=1.0).contains(&top), "{errors:?}");
    assert_eq!(chart(&charts, "target-1-errors").y_range.unwrap().1, 1.0);
    assert!(
        page.dom.contains("objective"),
        "the objective lines are labelled"
    );
}

#[test]
fn the_live_page_updates_every_second_while_the_test_runs() {
    let dir = tempfile::tempdir().unwrap();
    let target = CountingTarget::start(Duration::ZERO);
    let port = target.addr.port();
    let config = dir.path().join("load.yml");
    std::fs::write(
        &config,
        format!(
            "targets:\n  - name: shop\n    base_url: http://127.0.0.1:{port}\n    rate: 1/s\n    \
             scenarios:\n      - {{name: home, weight: 3, request: {{path: /delay/5}}}}\n      \
             - {{name: broken, weight: 1, request: {{path: /delay/20/status/500}}}}\n"
        ),
    )
    .unwrap();
    let web = free_port();
    let base = format!("http://127.0.0.1:{web}");
    let log = dir.path().join("load.log");
    let out = dir.path().join("out");
    let mut run = Proc::spawn(
        "synthex load",
        synthex_bin(),
        &[
            "load",
            &format!("--config.file={}", config.display()),
            "--quiet",
            "--users=3",
            "--think-time=50ms",
            "--duration=120s",
            &format!("--web.listen-address=127.0.0.1:{web}"),
            "--web.enable-lifecycle",
            &format!("--out={}", out.display()),
        ],
        &log,
    );
    let two_points = || {
        http_get(&format!("{base}/api/v1/load"))
            .ok()
            .and_then(|(_, body)| serde_json::from_str::<serde_json::Value>(&body).ok())
            .is_some_and(|doc| doc["points"].as_array().is_some_and(|p| p.len() >= 2))
    };
    common::wait_until(two_points, &mut run, &log);

    let first = browser::render(&format!("{base}/"), "live-load-page", 1400);
    browser::assert_clean(&first, 3);
    let polls: u32 = first
        .dom
        .split("data-live-polls=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(polls >= 2, "the page polled {polls} times");
    let charts = browser::charts(&first.dom);
    let series: Vec<(&str, usize)> = charts.iter().map(|c| (c.id.as_str(), c.series)).collect();
    assert_eq!(
        series,
        [("chart-rps", 2), ("chart-latency", 3), ("chart-level", 1)]
    );
    for chart in &charts {
        assert!(chart.points >= 2, "{chart:?}");
        // Elapsed time from 0 s to the planned 120 s.
        assert_eq!(chart.x_range, Some((0.0, 120.0)), "{chart:?}");
        browser::assert_round_ticks(&chart.id, &chart.y_ticks, 1.0);
    }
    assert_eq!(
        chart(&charts, "chart-level").y_range.unwrap().1,
        3.0,
        "3 users, on a round tick"
    );
    assert!(first.dom.contains("<td>broken</td>"), "the scenario table");
    assert!(first.dom.contains("expected status"), "the failures table");
    assert!(first.dom.contains("<button id=\"stop\""), "the Stop button");
    let requests_then: u64 = text_of(&first.dom, "requests").parse().unwrap();
    assert!(requests_then > 0);

    // Seconds later the same page shows more: the numbers and the charts moved on.
    let waited = Instant::now();
    while Instant::now() - waited < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(200));
    }
    let second = browser::render(&format!("{base}/"), "live-load-page-later", 1400);
    browser::assert_clean(&second, 3);
    let requests_now: u64 = text_of(&second.dom, "requests").parse().unwrap();
    assert!(
        requests_now > requests_then,
        "{requests_then} → {requests_now}"
    );
    let later = browser::charts(&second.dom);
    assert!(
        chart(&later, "chart-rps").points > chart(&charts, "chart-rps").points,
        "{charts:?} → {later:?}"
    );
    // Against the target's own books: the page never shows a request it did not receive.
    assert!(requests_now <= target.count() as u64);

    let (status, body) = http_request("POST", &format!("{base}/-/stop"), "").unwrap();
    assert_eq!(status, 200, "{body}");
    let exit = run.wait_exit(Duration::from_secs(30)).unwrap();
    assert_eq!(exit.code(), Some(130));
    assert!(Path::new(&out).join("report.html").exists());
}
