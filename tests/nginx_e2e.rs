//! `synthex load` end to end against a real nginx (Debian's `/usr/sbin/nginx`, started here on
//! 127.0.0.1 with its own prefix and config in a temp dir), whose access log is the truth: a
//! flow's token and cookie carried by each user's later step, unique data rows sent once, a
//! staged profile's requests per stage, the thresholds' verdict and exit status, and the Locust
//! CSV's request counts (with `--csv-full-history`).
//!
//! nginx logs each request as one JSON line (`escape=json`) with `$msec` (when it finished),
//! `$request`, `$http_authorization`, `$http_cookie`, `$request_body` and `$status`. nginx fills
//! `$request_body` only for proxied requests, so the front server (TCP) proxies every request to
//! a second server of the same nginx on a Unix socket, which answers with `return`; the front
//! logs, with the answer's `Set-Cookie` beside the request. Each run sends a few hundred
//! requests over 2 to 4 seconds.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::load::{load, text};
use common::{Proc, free_port, wait_http_ok};
use synthex::report::json;
use synthex::report::model::Report;

const NGINX: &str = "/usr/sbin/nginx";

/// A running nginx, killed on drop.
struct Nginx {
    _proc: Proc,
    /// `http://127.0.0.1:PORT`.
    base: String,
    /// Its prefix: config, logs, and the test's configs and reports.
    dir: tempfile::TempDir,
}

/// The backend's answers: `/login` a fresh session (token in the JSON body, a different
/// cookie value from the same `$request_id`), `/me` 200 only with a well-formed bearer token
/// and session cookie, `/ok` 200, `/bad` 503.
const BACKEND: &str = r#"
        location = /login {
            default_type application/json;
            add_header Set-Cookie "sid=c$request_id; Path=/" always;
            return 200 '{"token":"t$request_id"}';
        }
        location = /me {
            if ($http_authorization !~ "^Bearer t[0-9a-f]{32}$") { return 401 "no token"; }
            if ($cookie_sid !~ "^c[0-9a-f]{32}$") { return 401 "no session"; }
            return 200 '{"ok":true}';
        }
        location = /ok { return 200 "ok"; }
        location = /bad { return 503 "down"; }
"#;

impl Nginx {
    fn start() -> Nginx {
        assert!(
            Path::new(NGINX).exists(),
            "{NGINX} is required for this test: install Debian package `nginx` (scripts/test.sh does)"
        );
        let dir = tempfile::tempdir().unwrap();
        // A free port can be taken between the check and nginx's bind: try a few.
        for _ in 0..5 {
            let port = free_port();
            let d = dir.path().display();
            let conf = format!(
                r#"daemon off;
master_process off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 256; }}
http {{
    # Everything under the temp dir, so that it runs as any user (not /var/log/nginx, /var/lib/nginx).
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    log_format truth escape=json '{{"msec":"$msec","request":"$request","authorization":"$http_authorization","cookie":"$http_cookie","body":"$request_body","status":$status,"set_cookie":"$upstream_http_set_cookie"}}';
    server {{
        listen 127.0.0.1:{port};
        access_log {d}/access.log truth;
        location = /ready {{ access_log off; return 200 "ready"; }}
        location / {{ proxy_pass http://unix:{d}/backend.sock; }}
    }}
    server {{
        listen unix:{d}/backend.sock;
{BACKEND}
    }}
}}
"#
            );
            let conf_path = dir.path().join("nginx.conf");
            std::fs::write(&conf_path, conf).unwrap();
            let mut command = Command::new(NGINX);
            command
                .arg("-p")
                .arg(dir.path())
                .arg("-c")
                .arg(&conf_path)
                .arg("-e")
                .arg(dir.path().join("error.log"));
            let log = dir.path().join("nginx.out");
            let mut proc = Proc::spawn_command("nginx", command, &log);
            std::thread::sleep(Duration::from_millis(200));
            if !proc.is_running() {
                let why = std::fs::read_to_string(&log).unwrap_or_default();
                assert!(why.contains("Address already in use"), "nginx: {why}");
                let _ = std::fs::remove_file(dir.path().join("backend.sock"));
                continue;
            }
            let base = format!("http://127.0.0.1:{port}");
            wait_http_ok(&format!("{base}/ready"), Duration::from_secs(10));
            return Nginx {
                _proc: proc,
                base,
                dir,
            };
        }
        panic!("no free port for nginx after 5 tries");
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes a config named `name` with `scenarios` (YAML list items) against this nginx.
    fn config(&self, name: &str, scenarios: &str, extra: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(
            &path,
            format!(
                "targets:\n  - name: nginx\n    base_url: {}\n    rate: 1/s\n    timeout: 5s\n    backoff: off\n    scenarios:\n{scenarios}{extra}",
                self.base
            ),
        )
        .unwrap();
        path
    }

    /// Runs `synthex load` on `config` with `args` and `--out` in the temp dir: the run and
    /// its report.
    fn load(&self, config: &Path, args: &[&str]) -> (Output, Report) {
        let out = self.path("out");
        let mut args = args.to_vec();
        let out_flag = format!("--out={}", out.display());
        args.push(&out_flag);
        let run = load(config, &args);
        let report =
            json::read(&out.join("report.json")).unwrap_or_else(|e| panic!("{e}\n{}", text(&run)));
        (run, report)
    }

    /// Every request nginx logged.
    fn log(&self) -> Vec<Logged> {
        let text = std::fs::read_to_string(self.path("access.log")).unwrap_or_default();
        text.lines()
            .map(|l| {
                let v: serde_json::Value =
                    serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
                let s = |k: &str| v[k].as_str().unwrap().to_string();
                let (method, rest) = s("request").split_once(' ').map_or_else(
                    || panic!("request line: {l}"),
                    |(m, r)| (m.to_string(), r.to_string()),
                );
                let target = rest
                    .rsplit_once(' ')
                    .map_or(rest.clone(), |(t, _)| t.into());
                Logged {
                    at: s("msec").parse().unwrap(),
                    method,
                    path: target.split('?').next().unwrap().to_string(),
                    query: target.split_once('?').map(|(_, q)| q.to_string()),
                    authorization: s("authorization"),
                    cookie: s("cookie"),
                    body: s("body"),
                    status: v["status"].as_u64().unwrap(),
                    set_cookie: s("set_cookie"),
                }
            })
            .collect()
    }
}

/// One line of the access log.
#[derive(Debug)]
struct Logged {
    /// `$msec`: Unix seconds (ms precision) when nginx finished the request.
    at: f64,
    method: String,
    path: String,
    query: Option<String>,
    authorization: String,
    cookie: String,
    body: String,
    status: u64,
    /// The `Set-Cookie` the backend answered.
    set_cookie: String,
}

/// Locust CSV rows (header dropped) as fields.
fn csv_rows(path: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap();
    text.split_terminator("\r\n")
        .skip(1)
        .map(|l| l.split(',').map(String::from).collect())
        .collect()
}

/// Log lines by `METHOD path`.
fn counts(log: &[Logged]) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for l in log {
        *counts
            .entry(format!("{} {}", l.method, l.path))
            .or_default() += 1;
    }
    counts
}

#[test]
fn a_flow_carries_each_users_token_and_cookie_and_the_csvs_count_what_nginx_logged() {
    let nginx = Nginx::start();
    let rows = 5000;
    let users: String = (1..=rows).map(|i| format!("user-{i:05}\n")).collect();
    std::fs::write(nginx.path("users.csv"), format!("user\n{users}")).unwrap();
    let config = nginx.config(
        "flow.yml",
        r#"      - name: session
        data: {file: users.csv, mode: unique}
        steps:
          - name: login
            request: {method: POST, path: /login, headers: {Content-Type: application/json}, body: '{"user":"{{ row.user }}"}'}
            expect: {status: [200]}
            extract: {token: {json: /token}}
          - name: me
            request: {path: "/me?user={{ row.user }}", headers: {Authorization: "Bearer {{ var token }}"}}
            expect: {status: [200]}
"#,
        "load:\n  thresholds: [\"error_rate < 1%\", \"session: p99 < 2s\"]\n",
    );
    let (run, report) = nginx.load(
        &config,
        &[
            "--users=4",
            "--duration=2s",
            "--think-time=20ms",
            "--csv-full-history",
        ],
    );
    let out = nginx.path("out");
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    let log = nginx.log();
    let logins: Vec<&Logged> = log.iter().filter(|l| l.path == "/login").collect();
    let mes: Vec<&Logged> = log.iter().filter(|l| l.path == "/me").collect();
    assert!(logins.len() >= 20, "{} logins", logins.len());
    assert!(log.iter().all(|l| l.status == 200), "{log:?}");

    // Unique rows: each user appears in exactly one login, all of them rows of the file.
    let mut session_of: BTreeMap<String, (f64, String)> = BTreeMap::new();
    for login in &logins {
        let body: serde_json::Value = serde_json::from_str(&login.body).unwrap();
        let user = body["user"].as_str().unwrap().to_string();
        let number: u32 = user.strip_prefix("user-").unwrap().parse().unwrap();
        assert!((1..=rows).contains(&number), "{user}");
        let id = login
            .set_cookie
            .strip_prefix("sid=c")
            .and_then(|c| c.strip_suffix("; Path=/"))
            .unwrap_or_else(|| panic!("login answer: {login:?}"))
            .to_string();
        let before = session_of.insert(user.clone(), (login.at, id));
        assert!(before.is_none(), "row {user} sent twice");
    }
    // Rows are taken in file order: the logins used the first rows, but for the few a user
    // had taken when the run ended.
    let highest = session_of.keys().last().unwrap();
    let highest: usize = highest.strip_prefix("user-").unwrap().parse().unwrap();
    assert!(
        highest - session_of.len() <= 4,
        "{highest} {}",
        session_of.len()
    );

    // Each `me` carries the token and the cookie its own login answered.
    for me in &mes {
        let user = me.query.as_deref().unwrap().strip_prefix("user=").unwrap();
        let (at, id) = session_of
            .get(user)
            .unwrap_or_else(|| panic!("me without a login: {me:?}"));
        assert_eq!(me.authorization, format!("Bearer t{id}"), "{me:?}");
        assert!(
            me.cookie.split("; ").any(|c| c == format!("sid=c{id}")),
            "{me:?}"
        );
        assert!(me.at >= *at, "me before its login: {me:?}");
    }
    assert!(mes.len() + 4 >= logins.len() && mes.len() <= logins.len());
    eprintln!(
        "nginx logged {} logins (rows 1..{highest} of {rows}), {} /me",
        logins.len(),
        mes.len()
    );

    // The Locust CSVs count what nginx logged.
    let counted = counts(&log);
    let expected = BTreeMap::from([
        ("session/login".to_string(), counted["POST /login"]),
        ("session/me".to_string(), counted["GET /me"]),
        ("Aggregated".to_string(), log.len() as u64),
    ]);
    let stats: BTreeMap<String, u64> = csv_rows(&out.join("synthex_stats.csv"))
        .into_iter()
        .map(|r| (r[1].clone(), r[2].parse().unwrap()))
        .collect();
    assert_eq!(stats, expected);
    // The full history: each row's requests per interval add up to the log's count, and its
    // last Total Request Count is it.
    let step = report.timeline_interval_seconds;
    let lengths: Vec<f64> = report.timeline.iter().map(|i| i.length(step)).collect();
    let history = csv_rows(&out.join("synthex_stats_history.csv"));
    for (name, count) in &expected {
        let rows: Vec<&Vec<String>> = history.iter().filter(|r| &r[3] == name).collect();
        let first = lengths.len() - rows.len();
        let sum: f64 = rows
            .iter()
            .zip(&lengths[first..])
            .map(|(r, length)| r[4].parse::<f64>().unwrap() * length)
            .sum();
        assert_eq!(sum.round() as u64, *count, "{name}");
        assert_eq!(rows.last().unwrap()[17], count.to_string(), "{name}");
    }
    // The thresholds held, measured on what nginx saw: no errors.
    let verdicts: Vec<(String, bool)> = report
        .thresholds
        .iter()
        .map(|t| (t.expression.clone(), t.passed))
        .collect();
    assert_eq!(
        verdicts,
        [
            ("error_rate < 1%".to_string(), true),
            ("session: p99 < 2s".to_string(), true)
        ]
    );
    assert_eq!(report.thresholds[0].measured, Some(0.0));
}

#[test]
fn a_failed_threshold_exits_3_with_the_error_ratio_nginx_logged() {
    let nginx = Nginx::start();
    let config = nginx.config(
        "mix.yml",
        "      - name: ok\n        weight: 3\n        request: {path: /ok}\n      - name: bad\n        weight: 1\n        request: {path: /bad}\n",
        "load:\n  thresholds: [\"error_rate < 10%\", \"ok: error_rate < 1%\", \"bad: error_rate > 99%\"]\n",
    );
    let (run, report) = nginx.load(&config, &["--rate=100/s", "--duration=2s"]);
    assert_eq!(run.status.code(), Some(3), "{}", text(&run));
    let log = nginx.log();
    let failed = log.iter().filter(|l| l.status == 503).count();
    assert!(log.iter().all(|l| match l.path.as_str() {
        "/ok" => l.status == 200,
        "/bad" => l.status == 503,
        _ => false,
    }));
    let ratio = failed as f64 / log.len() as f64;
    eprintln!("nginx logged {failed} 503 of {} requests", log.len());
    assert!((0.1..0.5).contains(&ratio), "{failed} of {}", log.len());
    let verdicts: Vec<(&str, Option<f64>, bool)> = report
        .thresholds
        .iter()
        .map(|t| (t.expression.as_str(), t.measured, t.passed))
        .collect();
    assert_eq!(
        verdicts,
        [
            ("error_rate < 10%", Some(ratio), false),
            ("ok: error_rate < 1%", Some(0.0), true),
            ("bad: error_rate > 99%", Some(1.0), true),
        ]
    );
    let summary = String::from_utf8_lossy(&run.stdout);
    assert!(summary.contains("error_rate < 10%"), "{summary}");
}

#[test]
fn a_staged_profile_counts_per_stage_what_nginx_logged_in_that_stage() {
    let nginx = Nginx::start();
    let config = nginx.config(
        "staged.yml",
        "      - name: ok\n        request: {path: /ok}\n",
        "",
    );
    let profile = nginx.path("steps.yml");
    std::fs::write(
        &profile,
        "model: open\nstages:\n  - {duration: 0s, rate: 30/s}\n  - {duration: 2s, rate: 30/s}\n  - {duration: 0s, rate: 90/s}\n  - {duration: 2s, rate: 90/s}\n",
    )
    .unwrap();
    let (run, report) = nginx.load(&config, &[&format!("--profile={}", profile.display())]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    let log = nginx.log();
    assert_eq!(report.stages.len(), 2, "{:?}", report.stages);
    let total: u64 = report.stages.iter().map(|s| s.requests).sum();
    assert_eq!(total, log.len() as u64);
    for (stage, planned) in report.stages.iter().zip([30.0 * 2.0, 90.0 * 2.0]) {
        let start = report.started_at + stage.start_seconds;
        let end = report.started_at + stage.end_seconds;
        let last = stage.end_seconds >= report.duration_seconds;
        let logged = log
            .iter()
            .filter(|l| l.at >= start && (l.at < end || last))
            .count() as u64;
        eprintln!(
            "{}: report {} requests, nginx {logged}, planned {planned}",
            stage.name, stage.requests
        );
        // nginx stamps a request when it answers, synthex when the answer arrives: a request
        // right at a stage's edge can fall on either side.
        assert!(
            stage.requests.abs_diff(logged) <= 2,
            "{}: report {} log {logged}",
            stage.name,
            stage.requests
        );
        assert!(
            (logged as f64 - planned).abs() <= planned * 0.1 + 3.0,
            "{}: {logged} requests, {planned} planned",
            stage.name
        );
    }
    let seen: BTreeSet<&str> = log.iter().map(|l| l.path.as_str()).collect();
    assert_eq!(seen, BTreeSet::from(["/ok"]));
}
