//! Headless Chromium (Debian `chromium`) for the tests of synthex's HTML pages: a page is
//! opened as a user would, its scripts run, and the test gets the DOM afterwards, every
//! console message and a screenshot kept in `target/test-screenshots/` for a person to look at.
//!
//! The chart script (assets/synthex-charts.js) leaves what it drew on each chart element
//! (`data-series`, `data-points`, `data-x-range`, `data-y-range`, `data-y-ticks`) and counts
//! script errors on `<html data-sx-errors>`; [`charts`] reads those back.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use regex::Regex;

/// Chromium gets this long per run before the test gives up.
const LIMIT: Duration = Duration::from_secs(90);

/// Page width of the screenshots, CSS pixels.
pub const WIDTH: u32 = 1280;

/// A page after Chromium ran its scripts.
pub struct Rendered {
    /// The serialised DOM.
    pub dom: String,
    /// Every console message the page produced (errors, warnings and logs alike).
    pub console: Vec<String>,
    /// The screenshot kept for people.
    pub screenshot: PathBuf,
}

/// What the chart script drew into one chart element.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartState {
    /// The element id.
    pub id: String,
    /// Series drawn (0: the chart said "no data").
    pub series: usize,
    /// Non-null points over all series.
    pub points: usize,
    /// The x scale's range.
    pub x_range: Option<(f64, f64)>,
    /// The y scale's range.
    pub y_range: Option<(f64, f64)>,
    /// The y axis ticks.
    pub y_ticks: Vec<f64>,
}

/// Where screenshots go: `target/test-screenshots/`.
pub fn screenshot_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Opens `url` in headless Chromium: once for the DOM and the console, once for a screenshot
/// `height` CSS pixels tall saved as `target/test-screenshots/{name}.png`.
pub fn render(url: &str, name: &str, height: u32) -> Rendered {
    let chromium = super::require_tool("chromium", "chromium");
    let work = tempfile::tempdir().unwrap();
    let (dom, log) = run(
        &chromium,
        work.path(),
        &["--dump-dom", "--window-size=1280,900"],
        url,
    );
    let console = log
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_string)
        .collect();
    let screenshot = screenshot_dir().join(format!("{name}.png"));
    let _ = std::fs::remove_file(&screenshot);
    run(
        &chromium,
        work.path(),
        &[
            &format!("--screenshot={}", screenshot.display()),
            &format!("--window-size={WIDTH},{height}"),
            "--hide-scrollbars",
        ],
        url,
    );
    assert!(
        std::fs::metadata(&screenshot).is_ok_and(|m| m.len() > 10_000),
        "no screenshot at {}",
        screenshot.display()
    );
    assert!(
        dom.contains("</html>"),
        "no DOM printed; chromium's log:\n{log}"
    );
    Rendered {
        dom,
        console,
        screenshot,
    }
}

/// One Chromium run with `args` on `url`; its stdout and stderr (with console messages).
fn run(chromium: &str, work: &Path, args: &[&str], url: &str) -> (String, String) {
    let out_path = work.join("stdout");
    let log_path = work.join("chromium.log");
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            // Scripts run to completion (charts drawn) before the DOM or the picture is taken.
            "--virtual-time-budget=5000",
            &format!("--user-data-dir={}", work.join("profile").display()),
        ])
        .args(args)
        .arg(url)
        .stdin(Stdio::null())
        // Files, not pipes: a large DOM must never block Chromium while we wait for it.
        .stdout(File::create(&out_path).unwrap())
        .stderr(File::create(&log_path).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {chromium}: {e}"));
    let deadline = Instant::now() + LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            panic!("chromium did not finish within {LIMIT:?}; its log:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = std::fs::read_to_string(&out_path).unwrap();
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    assert!(
        status.success(),
        "chromium failed ({status}); its log:\n{log}"
    );
    (out, log)
}

fn pair(text: &str) -> Option<(f64, f64)> {
    let (a, b) = text.split_once(',')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// Every chart element of the DOM with what the chart script drew into it, in page order.
pub fn charts(dom: &str) -> Vec<ChartState> {
    let element = Regex::new(r#"<div class="sx-chart" id="([^"]+)"([^>]*)>"#).unwrap();
    let attribute = |attrs: &str, name: &str| -> Option<String> {
        Regex::new(&format!(r#"\b{name}="([^"]*)""#))
            .unwrap()
            .captures(attrs)
            .map(|c| c[1].to_string())
    };
    element
        .captures_iter(dom)
        .map(|c| {
            let attrs = &c[2];
            let number = |name| {
                attribute(attrs, name)
                    .unwrap_or_else(|| panic!("chart {} was not drawn: no {name}", &c[1]))
                    .parse()
                    .unwrap()
            };
            ChartState {
                id: c[1].to_string(),
                series: number("data-series"),
                points: number("data-points"),
                x_range: attribute(attrs, "data-x-range").and_then(|r| pair(&r)),
                y_range: attribute(attrs, "data-y-range").and_then(|r| pair(&r)),
                y_ticks: attribute(attrs, "data-y-ticks")
                    .map(|t| t.split(',').filter_map(|v| v.parse().ok()).collect())
                    .unwrap_or_default(),
            }
        })
        .collect()
}

/// The page ran without a console message or a script error, and drew `expected` charts.
pub fn assert_clean(page: &Rendered, expected: usize) {
    assert!(
        page.console.is_empty(),
        "console messages:\n{}",
        page.console.join("\n")
    );
    let html = page.dom.lines().find(|l| l.contains("<html")).unwrap_or("");
    assert!(
        html.contains(&format!("data-sx-charts=\"{expected}\""))
            && html.contains("data-sx-errors=\"0\""),
        "expected {expected} charts drawn and no script error: {html}"
    );
}

/// `ticks` are 0 and equal 1-2-5 × 10ⁿ steps (in `unit`s: 1 for plain numbers, 1024ⁿ for
/// bytes).
pub fn assert_round_ticks(id: &str, ticks: &[f64], unit: f64) {
    assert!(ticks.len() >= 2, "{id}: ticks {ticks:?}");
    assert_eq!(ticks[0], 0.0, "{id}: ticks start at 0: {ticks:?}");
    let step = (ticks[1] - ticks[0]) / unit;
    let magnitude = 10f64.powf(step.log10().floor());
    let mantissa = step / magnitude;
    assert!(
        [1.0, 2.0, 5.0].iter().any(|m| (mantissa - m).abs() < 1e-6),
        "{id}: step {step} is not 1-2-5: {ticks:?}"
    );
    for (i, tick) in ticks.iter().enumerate() {
        let expected = i as f64 * step * unit;
        assert!(
            (tick - expected).abs() <= expected.abs() * 1e-9 + 1e-12,
            "{id}: tick {i} is {tick}, expected {expected}: {ticks:?}"
        );
    }
}
