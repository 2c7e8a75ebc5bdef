//! Multi-step flows end to end against a real server that records what it received: the
//! load test's virtual users (real binary) and the daemon (in process) run the steps in order,
//! send back the cookies the server set, run `on_start` once per virtual user, end a run at its
//! first failed step and count the later steps as not run; every step is its own row (report,
//! Locust CSV `flow/step`) and series (`step` label). The numbers are checked against the
//! server's own log.

mod common;

#[allow(dead_code)] // only the plain-HTTP recording server is used here
#[path = "probe_support/servers.rs"]
mod servers;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::metric_sum;
use servers::{Seen, Server, reply};
use synthex::report::json;

/// A flow that logs in once per session and then reads `/me`, the start of several tests' flows.
const LOGIN_THEN_ME: &str = "      - name: session
        on_start:
          - {name: login, request: {method: POST, path: /login}}
        steps:
          - {name: me, request: {path: /me}}
";

/// The session API the tests talk to: `POST /login` answers a fresh session id as a JSON
/// token, a header and a cookie; `/me` and `/cart` want the session cookie; `/broken` is a 500.
async fn session_server() -> Server {
    let logins = Arc::new(AtomicU64::new(0));
    servers::http(move |seen: &Seen| {
        let path = seen.path.split('?').next().unwrap_or_default();
        match (seen.method.as_str(), path) {
            ("POST", "/login") => {
                let n = logins.fetch_add(1, Ordering::SeqCst) + 1;
                let cookie = format!("sid=s{n}; Path=/; HttpOnly");
                reply(
                    200,
                    &[
                        ("content-type", "application/json"),
                        ("set-cookie", &cookie),
                        ("set-cookie", "theme=dark; Path=/ui"),
                        ("x-session", &format!("h{n}")),
                    ],
                    format!(r#"{{"token": "t{n}", "user": {{"id": {n}}}}}"#),
                )
            }
            (_, "/me" | "/cart") => match cookie(seen, "sid") {
                Some(_) => reply(200, &[], r#"{"ok": true}"#),
                None => reply(401, &[], "log in first"),
            },
            (_, "/broken") => reply(500, &[], "down"),
            _ => reply(404, &[], "not found"),
        }
    })
    .await
}

/// The value of cookie `name` in a request's `Cookie` header.
fn cookie(seen: &Seen, name: &str) -> Option<String> {
    let header = seen.headers.get("cookie")?.to_str().ok()?;
    header.split("; ").find_map(|pair| {
        let (n, v) = pair.split_once('=')?;
        (n == name).then(|| v.to_string())
    })
}

/// Requests the server received, by `METHOD path` (query dropped).
fn by_path(server: &Server) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for seen in server.log.requests() {
        let path = seen.path.split('?').next().unwrap_or_default().to_string();
        *counts.entry(format!("{} {path}", seen.method)).or_default() += 1;
    }
    counts
}

/// The budget of the test configs: 20 runs/s of a flow of up to 5 steps.
const BUDGET: &str = "global: {max_total_rate: 100/s}\n";

fn config(dir: &Path, server: &Server, scenario: &str) -> std::path::PathBuf {
    let path = dir.join("flows.yml");
    std::fs::write(
        &path,
        format!(
            "{BUDGET}targets:\n  - name: shop\n    base_url: http://{}\n    rate: 20/s\n    backoff: off\n    scenarios:\n{scenario}",
            server.addr
        ),
    )
    .unwrap();
    path
}

/// `synthex load --quiet --out=OUT` with `args`, run to its end off the test's runtime.
async fn load(config: &Path, out: &Path, args: &[&str]) -> std::process::Output {
    common::load::load_off_runtime(config, out, args).await
}

const SESSION: &str = r#"      - name: session
        on_start:
          - {name: login, request: {method: POST, path: /login}, extract: {token: {json: /token}}}
        steps:
          - {name: me, request: {path: /me}}
          - {name: cart, request: {method: PUT, path: /cart}}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn virtual_users_log_in_once_and_send_their_cookie_with_every_step() {
    let server = session_server().await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let config = config(dir.path(), &server, SESSION);
    let output = load(&config, &out, &["--users=3", "--duration=2s"]).await;
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let seen = server.log.requests();
    let counts = by_path(&server);
    // on_start ran once per virtual user, by the server's own count.
    assert_eq!(counts["POST /login"], 3, "{counts:?}");
    // Every later request carried the session cookie of a login (and never the `/ui` one).
    let sessions: Vec<String> = (1..=3).map(|n| format!("s{n}")).collect();
    for s in seen.iter().filter(|s| s.path != "/login") {
        let sid = cookie(s, "sid").unwrap_or_else(|| panic!("no session cookie: {s:?}"));
        assert!(sessions.contains(&sid), "{sid}");
        assert!(
            cookie(s, "theme").is_none(),
            "a /ui cookie sent to {}",
            s.path
        );
    }
    // Three users, three sessions, each used.
    let used: std::collections::BTreeSet<String> =
        seen.iter().filter_map(|s| cookie(s, "sid")).collect();
    assert_eq!(used.len(), 3, "{used:?}");
    // Within a session, the steps go in order: me, then cart, every run.
    for sid in &used {
        let paths: Vec<&str> = seen
            .iter()
            .filter(|s| cookie(s, "sid").as_deref() == Some(sid.as_str()))
            .map(|s| s.path.as_str())
            .collect();
        for pair in paths.chunks(2) {
            assert_eq!(pair[0], "/me", "{sid}: {paths:?}");
            if let Some(second) = pair.get(1) {
                assert_eq!(*second, "/cart", "{sid}: {paths:?}");
            }
        }
    }

    // Every step is its own row, counted as the server counted it.
    let report = json::read(&out.join("report.json")).unwrap();
    let rows: BTreeMap<String, (u64, u64, u64)> = report
        .scenarios
        .iter()
        .map(|s| (s.name(), (s.requests, s.failures, s.not_run)))
        .collect();
    assert_eq!(rows["session/login"], (3, 0, 0), "{rows:?}");
    assert_eq!(rows["session/me"].0, counts["GET /me"], "{rows:?}");
    assert_eq!(rows["session/cart"].0, counts["PUT /cart"], "{rows:?}");
    assert_eq!((rows["session/me"].1, rows["session/cart"].1), (0, 0));
    // A run is one pass over the steps; runs cut by the end of the test are not counted.
    let flow = &report.flows[0];
    assert_eq!((flow.scenario.as_str(), flow.failures), ("session", 0));
    assert_eq!(flow.runs, counts["PUT /cart"], "{flow:?}");
    assert_eq!(flow.duration.count(), flow.runs);

    // Locust's Name column is flow/step, sorted by name as Locust sorts its entries.
    let csv = std::fs::read_to_string(out.join("synthex_stats.csv")).unwrap();
    let names: Vec<&str> = csv
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').nth(1))
        .collect();
    assert_eq!(
        names,
        ["session/cart", "session/login", "session/me", "Aggregated"]
    );
    // The terminal summary has a row per step and the flow's table.
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("session/me") && stdout.contains("Flows (whole runs)"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_step_ends_the_run_and_the_later_steps_count_as_not_run() {
    let server = session_server().await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let scenario = r#"      - name: order
        steps:
          - {name: login, request: {method: POST, path: /login}}
          - {name: pay, request: {path: /broken}, expect: {status: [200]}}
          - {name: receipt, request: {path: /me}}
          - {name: logout, request: {path: /me}}
"#;
    let config = config(dir.path(), &server, scenario);
    let output = load(&config, &out, &["--users=2", "--duration=1s"]).await;
    // Failed requests fail no threshold here: the run itself passes.
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let counts = by_path(&server);
    assert!(
        !counts.contains_key("GET /me"),
        "a step after the failure ran: {counts:?}"
    );
    let report = json::read(&out.join("report.json")).unwrap();
    let row = |step: &str| {
        report
            .scenarios
            .iter()
            .find(|s| s.step.as_deref() == Some(step))
            .unwrap()
    };
    let runs = counts["GET /broken"];
    assert!(runs > 0);
    assert_eq!(row("login").requests, counts["POST /login"]);
    assert_eq!((row("pay").requests, row("pay").failures), (runs, runs));
    // Not run: neither requests nor failures.
    for step in ["receipt", "logout"] {
        assert_eq!(
            (row(step).requests, row(step).failures, row(step).not_run),
            (0, 0, runs),
            "{step}"
        );
    }
    let flow = &report.flows[0];
    assert_eq!((flow.runs, flow.failures), (runs, runs));
    // The failure is listed under its step, with its reason.
    let failure = &report.failures[0];
    assert_eq!(
        (
            failure.name().as_str(),
            failure.reason.as_str(),
            failure.occurrences
        ),
        ("order/pay", "http_status", runs)
    );
    let csv = std::fs::read_to_string(out.join("synthex_failures.csv")).unwrap();
    assert!(csv.contains("GET,order/pay,"), "{csv}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_runs_each_flow_in_a_fresh_session_with_a_series_per_step() {
    let server = session_server().await;
    let dir = tempfile::tempdir().unwrap();
    let scenario = format!(
        "{LOGIN_THEN_ME}{}",
        r#"      - name: broken
        steps:
          - {name: login, request: {method: POST, path: /login}}
          - {name: pay, request: {path: /broken}}
          - {name: receipt, request: {path: /me}}
"#
    );
    let config = synthex::config::load(&config(dir.path(), &server, &scenario)).unwrap();
    let daemon = common::InProcessDaemon::start(config).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = server.log.requests().len();
    let url = daemon.metrics.clone();
    let page = tokio::task::spawn_blocking(move || common::http_get(&url).unwrap().1)
        .await
        .unwrap();
    let seen = server.log.requests();
    daemon.stop().await;
    let sum = |name: &str, labels: &[&str]| metric_sum(&page, name, labels) as u64;
    let count = |method: &str, path: &str| {
        seen.iter()
            .filter(|s| s.method == method && s.path == path)
            .count() as u64
    };
    // Runs in flight while the page was written were seen by the server but not yet recorded:
    // at most max_in_flight (4 at 20/s) runs, a request each (two for a login and its step).
    let within = |server: u64, metric: u64, what: &str| {
        assert!(
            (metric..=metric + 8).contains(&server),
            "{what}: the server saw {server}, the metrics say {metric} ({before} requests before)"
        )
    };

    // Each run of `session` logged in anew (on_start per run) and used that run's cookie.
    let runs = sum("synthex_flow_runs_total", &["scenario=\"session\""]);
    let broken_runs = sum("synthex_flow_runs_total", &["scenario=\"broken\""]);
    assert!(runs >= 3 && broken_runs >= 3, "{runs} {broken_runs}");
    within(count("POST", "/login"), runs + broken_runs, "logins");
    within(count("GET", "/me"), runs, "session runs");
    let me: Vec<&Seen> = seen.iter().filter(|s| s.path == "/me").collect();
    let cookies: std::collections::BTreeSet<String> =
        me.iter().map(|s| cookie(s, "sid").unwrap()).collect();
    assert_eq!(
        cookies.len(),
        me.len(),
        "a session reused across runs: {cookies:?}"
    );

    // One series per step, and the flow's own families.
    let step = |scenario: &str, step: &str| {
        [
            format!("scenario=\"{scenario}\""),
            format!("step=\"{step}\""),
        ]
    };
    let [a, b] = step("session", "me");
    let me_ok = sum("synthex_requests_total", &[&a, &b, "code=\"200\""]);
    assert!(
        (runs..=runs + 4).contains(&me_ok),
        "{me_ok} /me for {runs} runs"
    );
    let [a, b] = step("broken", "pay");
    let pay_failed = sum(
        "synthex_request_failures_total",
        &[&a, &b, "reason=\"http_status\""],
    );
    within(count("GET", "/broken"), pay_failed, "failed payments");
    let [a, b] = step("broken", "receipt");
    let not_run = sum("synthex_flow_steps_not_run_total", &[&a, &b]);
    assert!(
        (broken_runs..=broken_runs + 4).contains(&not_run),
        "{not_run} not run"
    );
    assert!(
        (broken_runs..=broken_runs + 4).contains(&pay_failed),
        "{pay_failed}"
    );
    assert_eq!(sum("synthex_requests_total", &[&a, &b]), 0);
    assert_eq!(
        sum(
            "synthex_flow_runs_total",
            &["scenario=\"broken\"", "result=\"failure\""]
        ),
        broken_runs
    );
    assert_eq!(
        sum(
            "synthex_flow_duration_seconds_count",
            &["scenario=\"session\""]
        ),
        runs
    );
    // Single-request families keep their labels: no step label outside flows.
    assert!(
        page.lines()
            .filter(|l| l.starts_with("synthex_requests_total{"))
            .all(|l| l.contains("step=\"")),
        "every scenario here is a flow"
    );
}

#[test]
fn bad_flows_are_refused_with_the_field_path() {
    let check = |scenario: &str| {
        let text = format!(
            "targets:\n  - name: shop\n    base_url: http://127.0.0.1:1\n    rate: 1/s\n    scenarios:\n      - {{name: ok, request: {{path: /}}}}\n{scenario}"
        );
        synthex::config::load_str(&text, Path::new("flows.yml"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    let cases = [
        (
            "      - {name: s, steps: [{name: a, request: {path: /}}], request: {path: /}}\n",
            "flows.yml: targets[0].scenarios[1]: both `request` and `steps` are set",
        ),
        (
            "      - {name: s}\n",
            "flows.yml: targets[0].scenarios[1]: expected `request` (a single request) or `steps` (a flow), found neither",
        ),
        (
            "      - {name: s, steps: []}\n",
            "flows.yml: targets[0].scenarios[1].steps: at least one step is required",
        ),
        (
            "      - {name: s, steps: [{name: a, request: {path: /}}], expect: {status: [200]}}\n",
            "flows.yml: targets[0].scenarios[1].expect: a flow's expectations belong to its steps",
        ),
        (
            "      - {name: s, request: {path: /}, on_start: [{name: a, request: {path: /}}]}\n",
            "flows.yml: targets[0].scenarios[1].on_start: `on_start` belongs to a flow",
        ),
        (
            "      - {name: s, on_start: [{name: a, request: {path: /}}], steps: [{name: b, request: {path: /}}, {name: a, request: {path: /}}]}\n",
            "flows.yml: targets[0].scenarios[1].steps[1].name: duplicate step name \"a\": already used by targets[0].scenarios[1].on_start[0]",
        ),
        (
            "      - {name: s, steps: [{name: a, request: {path: /}, extract: {t: {json: /t, header: X-T}}}]}\n",
            "flows.yml: targets[0].scenarios[1].steps[0].extract.t: expected exactly one of `json`",
        ),
        (
            "      - {name: s, steps: [{name: a, request: {path: /}, extract: {t: {}}}]}\n",
            "flows.yml: targets[0].scenarios[1].steps[0].extract.t: expected exactly one of `json`",
        ),
        (
            "      - {name: s, steps: [{name: a, request: {path: /}, extract: {token: {regex: 'id=\\d+'}}}]}\n",
            "flows.yml:7:82: targets[0].scenarios[1].steps[0].extract.token.regex: regex \"id=\\d+\" has no capture group",
        ),
        (
            "      - {name: s, steps: [{name: a, request: {path: /}, extract: {1x: {json: /t}}}]}\n",
            "targets[0].scenarios[1].steps[0].extract: invalid variable name \"1x\"",
        ),
        (
            "      - {name: s, steps: [{name: a, request: {path: /}, extract: {t: {json: t}}}]}\n",
            "targets[0].scenarios[1].steps[0].extract.t.json: invalid JSON pointer \"t\"",
        ),
        (
            "      - {name: s, steps: [{name: a, reqest: {path: /}}]}\n",
            "targets[0].scenarios[1].steps[0]: unknown field `reqest`, expected one of `name`, `request`, `expect`, `extract`",
        ),
    ];
    for (scenario, expected) in cases {
        let error = check(scenario);
        assert!(
            error.contains(expected),
            "{scenario}\n  got: {error}\n  want: {expected}"
        );
    }
    // The edge that is accepted: a regex with exactly one group, a flow of one step.
    assert_eq!(
        check(
            "      - {name: s, steps: [{name: a, request: {path: /}, extract: {t: {regex: 'id=(\\d+)'}}}]}\n"
        ),
        ""
    );
}

#[test]
fn the_example_flow_runs_against_the_demo_target_without_a_failure() {
    let target = common::load::Target::start();
    let (report, stats) = target.run_example("flows.example.yaml");
    // The demo target's own count: one login per virtual user.
    assert_eq!(stats["logins_total"], 2);
    let names: Vec<String> = report.scenarios.iter().map(|s| s.name()).collect();
    assert_eq!(
        names,
        [
            "checkout/login",
            "checkout/me",
            "checkout/add_to_cart",
            "checkout/check_out",
            "browse"
        ]
    );
    assert!(report.flows[0].runs > 0);
}

/// `global.max_total_rate` counts requests: a run of a three-step flow is three of them. A flow
/// at 20 runs/s is refused under the default 50/s budget, and once the budget is raised to
/// 60/s the server's own count shows it is what the daemon sends (more than the run rate, never
/// more than the budget).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_total_rate_budget_counts_every_request_of_a_flow_run() {
    let server = session_server().await;
    let dir = tempfile::tempdir().unwrap();
    let scenario = format!(
        "{LOGIN_THEN_ME}{}",
        "          - {name: cart, request: {method: PUT, path: /cart}}\n"
    );
    let path = config(dir.path(), &server, &scenario);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace(BUDGET, "")).unwrap();
    let refused = synthex::config::load(&path).unwrap_err().to_string();
    assert!(
        refused.contains(
            "targets: the target rates add up to 60/s of requests (each step of a flow run counted), more than the default limit of 50/s"
        ),
        "{refused}"
    );
    std::fs::write(&path, text.replace("100/s", "60/s")).unwrap();
    let config = synthex::config::load(&path).unwrap();
    let daemon = common::InProcessDaemon::start(config).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    daemon.stop().await;
    let seen = server.log.requests();
    let (first, last) = (seen[0].at, seen[seen.len() - 1].at);
    let span = (last - first).as_secs_f64();
    let n = seen.len() as f64;
    assert!(span > 1.5, "{span} s");
    // At most the budget (and the runs in flight at either end); well above 20 runs/s.
    assert!(n <= 60.0 * span + 6.0, "{n} requests in {span} s");
    assert!(n >= 30.0 * span, "{n} requests in {span} s");
}

/// A flow whose `me` step the server delays by 300 ms (`/delay/300/…` on the counting
/// target), between two steps it answers at once.
const DELAYED_STEP: &str = "      - name: session
        steps:
          - {name: login, request: {method: POST, path: /login}}
          - {name: me, request: {path: /delay/300/me}}
          - {name: cart, request: {path: /cart}}
";

/// Thresholds name a flow step as the report's rows do (`flow/step`, `target/flow/step`), each
/// judged on that step's requests only: the step the server delays fails `p99 < 250ms` with at
/// least the server's delay, the step before it passes, and the counts are the server's own.
#[test]
fn a_threshold_on_a_flow_step_judges_that_step_only() {
    use common::counting_target::CountingTarget;
    use common::load::{api_config, load, load_to, text};

    let target = CountingTarget::start(Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    let thresholds = [
        "session/me: p99 < 250ms",
        "session/login: p99 < 250ms",
        "api/session/me: p99 > 290ms",
        "session/me: requests > 0",
        "session: requests > 0",
    ];
    let listed: String = thresholds
        .iter()
        .map(|t| format!("    - \"{t}\"\n"))
        .collect();
    let config = api_config(
        dir.path(),
        "steps.yml",
        &format!("http://{}", target.addr),
        DELAYED_STEP,
        &format!("load:\n  thresholds:\n{listed}"),
    );
    let out = dir.path().join("out");
    let output = load_to(&config, &out, &["--users=2", "--duration=3s"]);
    assert_eq!(output.status.code(), Some(3), "{}", text(&output));
    let report = json::read(&out.join("report.json")).unwrap();
    let verdict: BTreeMap<&str, (bool, f64, &str)> = report
        .thresholds
        .iter()
        .map(|t| {
            let measured = t.measured.unwrap_or(f64::NAN);
            (
                t.expression.as_str(),
                (t.passed, measured, t.detail.as_str()),
            )
        })
        .collect();
    let (passed, p99, detail) = verdict["session/me: p99 < 250ms"];
    assert!(!passed && p99 >= 0.3, "{detail}");
    assert!(detail.starts_with("session/me: p99 "), "{detail}");
    let (passed, p99, detail) = verdict["session/login: p99 < 250ms"];
    assert!(passed && p99 < 0.25, "{detail}");
    let (passed, p99, detail) = verdict["api/session/me: p99 > 290ms"];
    assert!(passed && p99 >= 0.3, "{detail}");
    let me = target.count_of("/delay/300/me");
    assert!(me >= 4, "{me} requests of the delayed step");
    assert_eq!(verdict["session/me: requests > 0"].1, me as f64);
    assert_eq!(verdict["session: requests > 0"].1, target.count() as f64);

    // A name that is no row is refused before anything is sent, with the names there are.
    let before = target.count();
    let output = load(
        &config,
        &[
            "--users=1",
            "--duration=1s",
            "--threshold=session/mee: p99 < 2s",
        ],
    );
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "--threshold: threshold \"session/mee: p99 < 2s\": session/mee names no scenario or flow step of the config (expected scenario, flow/step, target/scenario or target/flow/step; the names are session, session/login, session/me, session/cart)"
        ),
        "{stderr}"
    );
    assert_eq!(target.count(), before, "a refused run sends nothing");
}
