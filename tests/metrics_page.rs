//! `promtool check metrics` on real `/metrics` pages that together hold every family synthex can
//! export, so a lint problem in any family fails CI: the daemon (an HTTP target with a stats
//! endpoint, cache and objectives, an HTTPS target with an rcgen certificate, a watched process)
//! and `synthex load` with `--web.listen-address` in the open and the closed model. The families
//! expected are the metric names in `src/` (every string literal `"synthex_…"`), so a family added
//! without coverage here fails this test. This is the only test that runs `promtool check metrics`.

mod common;
mod probe_support;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    Proc, free_port, http_get, require_tool, start_demo_target, synthex_bin, wait_http_ok,
};
use probe_support::servers::{self, reply, test_cert};
use regex::Regex;

/// Names in the source that are never exported: an internal gauge created without a registry.
const NOT_EXPORTED: &[&str] = &["synthex_detached_in_flight"];

/// Every `"synthex_…"` string literal in `src/`, minus [`NOT_EXPORTED`].
fn families_in_source() -> BTreeSet<String> {
    let literal = Regex::new(r#""(synthex_[a-z0-9_]+)""#).unwrap();
    let mut names = BTreeSet::new();
    let mut dirs = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                names.extend(literal.captures_iter(&text).map(|c| c[1].to_string()));
            }
        }
    }
    for name in NOT_EXPORTED {
        assert!(
            names.remove(*name),
            "{name} is no longer in src/: drop it from NOT_EXPORTED"
        );
    }
    names
}

/// The families a page declares (`# TYPE name type`).
fn families_on(page: &str) -> BTreeSet<String> {
    page.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .map(String::from)
        .collect()
}

/// Runs `promtool check metrics` on `page`; panics with its findings.
fn lint(what: &str, page: &str) {
    let promtool = require_tool("promtool", "prometheus");
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(page.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "promtool check metrics on the {what} page:\n{}{}\n---\n{page}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Scrapes `url` until the page declares every family of `wanted` or `limit` passes; returns the
/// last page.
fn scrape_until(url: &str, wanted: &BTreeSet<String>, limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    loop {
        let page = http_get(url).map(|(_, page)| page).unwrap_or_default();
        if wanted.is_subset(&families_on(&page)) || Instant::now() > deadline {
            return page;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The daemon's config: config/demo.yml's target (stats, cache, objectives, failing scenarios)
/// on `demo_port`, an HTTPS target trusting `ca_file`, and `pid_file` watched.
fn config(dir: &Path, demo_port: u16, tls_port: u16, ca_file: &Path, pid_file: &Path) -> String {
    let demo =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/demo.yml"))
            .unwrap()
            .replace("127.0.0.1:8089", &format!("127.0.0.1:{demo_port}"));
    // The demo's own HTTPS target is served by `synthex demo` only: this test brings its own.
    let (targets, _) = demo.split_once("\n  - name: demo-tls").unwrap();
    let text = format!(
        "{targets}
  - name: tls
    base_url: https://localhost:{tls_port}
    rate: 5/s
    # One request at a time to a slow path: most slots are skipped at the in-flight cap.
    max_in_flight: 1
    tls: {{ca_file: {ca}}}
    scenarios:
      - {{name: root, weight: 1, request: {{path: /}}}}
resources:
  interval: 1s
  processes:
    - {{name: watched, pid_file: {pid}}}
",
        ca = ca_file.display(),
        pid = pid_file.display()
    );
    let path = dir.join("synthex.yml");
    std::fs::write(&path, &text).unwrap();
    path.display().to_string()
}

/// Runs `synthex load` with `model` (`--users=…` or `--rate=…`) and `--web.listen-address`, and
/// returns its `/metrics` page once the load family `family` shows.
fn load_page(config: &str, model: &[&str], family: &str, dir: &Path) -> String {
    let port = free_port();
    let _load = Proc::spawn(
        "synthex load",
        synthex_bin(),
        &[
            &["load"],
            model,
            &[
                &format!("--config.file={config}"),
                "--duration=8s",
                &format!("--web.listen-address=127.0.0.1:{port}"),
                &format!("--out={}", dir.join(family).display()),
            ],
        ]
        .concat(),
        &dir.join(format!("{family}.log")),
    );
    let url = format!("http://127.0.0.1:{port}/metrics");
    let wanted = BTreeSet::from([family.to_string(), "synthex_requests_total".to_string()]);
    let page = scrape_until(&url, &wanted, Duration::from_secs(20));
    assert!(
        families_on(&page).contains(family),
        "synthex load {model:?} never exported {family}"
    );
    page
}

#[test]
fn every_family_synthex_exports_passes_promtool_check_metrics() {
    let expected = families_in_source();
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let cert = test_cert(&["localhost"], "2031-01-01T00:00:00Z");
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &cert.pem).unwrap();
    let tls = runtime.block_on(servers::https(&cert, |_| reply(200, &[], "ok")));
    let demo_port = free_port();
    let _demo = start_demo_target(demo_port, dir.path());
    let mut watched = Command::new("sleep").arg("60").spawn().unwrap();
    let pid_file = dir.path().join("watched.pid");
    std::fs::write(&pid_file, watched.id().to_string()).unwrap();
    let config = config(dir.path(), demo_port, tls.port(), &ca_file, &pid_file);

    let port = free_port();
    let _daemon = Proc::spawn(
        "synthex",
        synthex_bin(),
        &[
            "run",
            &format!("--config.file={config}"),
            &format!("--web.listen-address=127.0.0.1:{port}"),
        ],
        &dir.path().join("synthex.log"),
    );
    let url = format!("http://127.0.0.1:{port}/metrics");
    wait_http_ok(&url, Duration::from_secs(15));
    let daemon_families: BTreeSet<String> = expected
        .iter()
        .filter(|f| !f.starts_with("synthex_load_"))
        .cloned()
        .collect();
    let daemon = scrape_until(&url, &daemon_families, Duration::from_secs(20));
    drop(_daemon);

    // `--tags=read` leaves scenarios out: their series are idle, with NaN quantiles, which the
    // exposition format allows and promtool must accept.
    let open = load_page(
        &config,
        &["--rate=10/s", "--tags=read"],
        "synthex_load_scheduled_requests_per_second",
        dir.path(),
    );
    let closed = load_page(
        &config,
        &["--users=2"],
        "synthex_load_virtual_users",
        dir.path(),
    );
    assert!(open.contains("} NaN\n"), "no idle series on the open page");
    let _ = watched.kill();
    let _ = watched.wait();

    for (what, page) in [
        ("daemon", &daemon),
        ("load --rate", &open),
        ("load --users", &closed),
    ] {
        lint(what, page);
    }
    let exported: BTreeSet<String> = [&daemon, &open, &closed]
        .iter()
        .flat_map(|page| families_on(page))
        .collect();
    let missing: Vec<&String> = expected.difference(&exported).collect();
    assert!(
        missing.is_empty(),
        "families in src/ that no page exported (cover them here): {missing:?}"
    );
    // The families promtool is most likely to object to are really there, with values.
    let expiry = cert
        .not_after
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for pattern in [
        r#"(?m)^synthex_watched_processes\{process="watched",env="demo"\} 1$"#.to_string(),
        format!(
            r#"(?m)^synthex_tls_cert_expiry_timestamp_seconds\{{target="tls",env="demo"\}} {expiry}$"#
        ),
        r#"(?m)^synthex_target_stat\{field="requests_total",target="demo",env="demo"\} [1-9]"#
            .to_string(),
    ] {
        let found = Regex::new(&pattern).unwrap().is_match(&daemon);
        let family = &pattern[5..pattern.find('\\').unwrap()];
        let lines: Vec<&str> = daemon.lines().filter(|l| l.starts_with(family)).collect();
        assert!(found, "daemon page lacks {pattern}: {lines:#?}");
    }
}
