//! Test data files end to end: the real binary (and the daemon in process) against a real
//! HTTP server on 127.0.0.1 that records the path, headers and body of every request. The
//! server's record is the truth: which rows were sent, how often, in which order, and whether
//! a flow's later step carried the token the server gave that same user.

mod common;

#[allow(dead_code)] // only the plain-HTTP recording server is used here
#[path = "probe_support/servers.rs"]
mod servers;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::synthex_bin;
use servers::{Seen, Server, reply};
use synthex::report::json;

/// A server answering 200 to everything (its log is what the tests read).
async fn recording_server() -> Server {
    servers::http(|_: &Seen| reply(200, &[], "ok")).await
}

/// The session API of the flow tests: `POST /login` with `{"user": U}` answers a fresh token
/// for U (`{"token": …}`); `GET /users/U` answers 200 only with `Authorization: Bearer T`
/// where T was issued to U, 403 with another user's token, 401 without one.
async fn token_server() -> Server {
    let issued: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    servers::http(move |seen: &Seen| {
        let path = seen.path.split('?').next().unwrap_or_default();
        if seen.method == "POST" && path == "/login" {
            let body: serde_json::Value = match serde_json::from_slice(&seen.body) {
                Ok(body) => body,
                Err(_) => return reply(400, &[], "bad body"),
            };
            let Some(user) = body["user"].as_str() else {
                return reply(400, &[], "no user");
            };
            let mut issued = issued.lock().unwrap();
            // The token names its user, so that the test can check the pairing from the log
            // alone: two logins handled at once may be logged in either order.
            let token = format!("tok{}-{user}", issued.len() + 1);
            issued.insert(token.clone(), user.to_string());
            return reply(
                200,
                &[("content-type", "application/json")],
                format!(r#"{{"token": "{token}"}}"#),
            );
        }
        if let Some(user) = path.strip_prefix("/users/") {
            let token = seen
                .headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "));
            return match token.map(|t| issued.lock().unwrap().get(t).cloned()) {
                None => reply(401, &[], "no token"),
                Some(Some(owner)) if owner == user => reply(200, &[], "me"),
                Some(_) => reply(403, &[], "not your token"),
            };
        }
        reply(404, &[], "not found")
    })
    .await
}

/// Writes `users.csv` with `n` rows (`id`, `user`, `email`) into `dir`.
fn users_csv(dir: &Path, n: usize) -> PathBuf {
    let mut csv = String::from("id,user,email\n");
    for i in 1..=n {
        csv.push_str(&format!("{i},user{i},u{i}@example.test\n"));
    }
    let path = dir.join("users.csv");
    std::fs::write(&path, csv).unwrap();
    path
}

/// A config with one target (the server) and `scenarios` (YAML, indented for the list).
fn config(dir: &Path, server: &Server, extra: &str, scenarios: &str) -> PathBuf {
    let path = dir.join("data.yml");
    std::fs::write(
        &path,
        format!(
            "{extra}targets:\n  - name: api\n    base_url: http://{}\n    rate: 20/s\n    backoff: off\n    scenarios:\n{scenarios}",
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

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Every row's fields in the path, a header and the body, plus the user's own counter.
const ITEMS: &str = r#"      - name: items
        data: {file: users.csv, mode: unique}
        request:
          method: POST
          path: "/items/{{ row.id }}"
          headers: {X-User: "{{ row.user }}"}
          body: '{"email": "{{ row.email }}", "n": {{ counter }}}'
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unique_data_sends_each_row_once_across_users_then_the_test_ends_normally() {
    let server = recording_server().await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    users_csv(dir.path(), 300);
    let config = config(dir.path(), &server, "", ITEMS);
    let output = load(&config, &out, &["--users=4", "--duration=60s"]).await;
    let (text, log) = (stdout(&output), stderr(&output));
    assert_eq!(output.status.code(), Some(0), "{log}");

    // The server got each of the 300 rows exactly once, its fields where the templates put them.
    let seen = server.log.requests();
    assert_eq!(seen.len(), 300, "{} requests", seen.len());
    let mut ids = BTreeSet::new();
    let mut counters: BTreeMap<u64, u64> = BTreeMap::new();
    for s in &seen {
        let id: u64 = s.path.strip_prefix("/items/").unwrap().parse().unwrap();
        assert!(ids.insert(id), "row {id} sent twice");
        assert_eq!(s.method, "POST");
        assert_eq!(s.headers["x-user"], format!("user{id}").as_str());
        let body: serde_json::Value = serde_json::from_slice(&s.body).unwrap();
        assert_eq!(body["email"], format!("u{id}@example.test"), "{body}");
        *counters.entry(body["n"].as_u64().unwrap()).or_default() += 1;
    }
    assert_eq!(ids, (1..=300).collect::<BTreeSet<u64>>());
    // `{{ counter }}` is each virtual user's own: every user sent 1, 2, 3, …, so each value
    // comes from at most 4 users, and from no more users than the value before it.
    assert_eq!(counters[&1], 4, "{counters:?}");
    let counts: Vec<u64> = counters.values().copied().collect();
    assert!(counts.windows(2).all(|w| w[0] >= w[1]), "{counters:?}");
    assert!(
        counters.keys().copied().eq(1..=counters.len() as u64),
        "{counters:?}"
    );

    // An end, not an interruption: long before the planned 60 s, no Ctrl-C wording.
    let report = json::read(&out.join("report.json")).unwrap();
    assert!(!report.interrupted);
    assert!(
        report.duration_seconds < 50.0,
        "{}",
        report.duration_seconds
    );
    let exhausted = report.data_exhausted.as_ref().expect("data_exhausted");
    assert_eq!(
        (
            exhausted.scenario.as_str(),
            exhausted.rows,
            exhausted.on_exhausted.as_str()
        ),
        ("items", 300, "stop")
    );
    assert_eq!(report.scenarios[0].requests, 300);
    let data = &report.data[0];
    assert_eq!((data.file_rows, data.warmup_rows, data.rows), (300, 0, 300));
    assert_eq!(data.mode, "unique");
    for words in ["Ctrl-C", "INTERRUPTED", "interrupt"] {
        assert!(
            !log.contains(words) && !text.contains(words),
            "{log}\n{text}"
        );
    }
    assert!(log.contains("test data ran out"), "{log}");
    assert!(
        text.contains("ENDED (on_exhausted: stop): the test data ran out: all 300 rows of")
            && text.contains("synthex load test: passed"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_exhausted_fail_fails_the_run_with_data_exhausted_in_every_report() {
    let server = recording_server().await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    users_csv(dir.path(), 40);
    let scenario = ITEMS.replace("mode: unique}", "mode: unique, on_exhausted: fail}");
    let config = config(dir.path(), &server, "", &scenario);
    let output = load(
        &config,
        &out,
        &["--users=2", "--duration=60s", "--threshold=error_rate < 1%"],
    )
    .await;
    let (text, log) = (stdout(&output), stderr(&output));
    assert_eq!(output.status.code(), Some(3), "{log}\n{text}");
    assert_eq!(server.log.requests().len(), 40);

    let report = json::read(&out.join("report.json")).unwrap();
    assert!(!report.interrupted);
    assert!(
        report.thresholds.iter().all(|t| t.passed),
        "fails on the data alone"
    );
    let raw: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(raw["data_exhausted"]["on_exhausted"], "fail", "{raw}");
    assert_eq!(raw["data_exhausted"]["rows"], 40);
    let verdict = "FAILED: the test data ran out (data_exhausted)";
    assert!(
        text.contains(&format!("synthex load test: {verdict}")),
        "{text}"
    );
    assert!(
        text.contains(
            "FAILED (data_exhausted, on_exhausted: fail): the test data ran out: all 40 rows"
        ),
        "{text}"
    );
    let markdown = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(
        markdown.contains(&format!("## synthex load test: ❌ {verdict}")),
        "{markdown}"
    );
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains(&format!("<h1>synthex load test: {verdict}</h1>")));
    for words in ["Ctrl-C", "INTERRUPTED"] {
        assert!(
            !log.contains(words) && !text.contains(words),
            "{log}\n{text}"
        );
    }
}

/// With `stop`, a failed threshold still fails the run: the data's end is not a verdict.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_exhausted_stop_leaves_the_verdict_to_the_thresholds() {
    let server = recording_server().await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    users_csv(dir.path(), 20);
    let config = config(dir.path(), &server, "", ITEMS);
    let output = load(
        &config,
        &out,
        &["--users=1", "--duration=60s", "--threshold=requests > 21"],
    )
    .await;
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let report = json::read(&out.join("report.json")).unwrap();
    assert_eq!(report.data_exhausted.unwrap().on_exhausted, "stop");
    assert_eq!(server.log.requests().len(), 20);
    assert!(stdout(&output).contains("1 threshold(s) failed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_data_goes_in_file_order_and_random_data_covers_the_file() {
    let server = recording_server().await;
    let dir = tempfile::tempdir().unwrap();
    users_csv(dir.path(), 7);
    let scenario = r#"      - name: items
        data: {file: users.csv}
        request: {path: "/items/{{ row.id }}"}
"#;
    let config_path = config(dir.path(), &server, "", scenario);
    // One user: its requests reach the server in the order it sends them.
    let output = load(
        &config_path,
        &dir.path().join("seq"),
        &["--users=1", "--duration=1s"],
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let ids: Vec<String> = server
        .log
        .requests()
        .iter()
        .map(|s| s.path.trim_start_matches("/items/").to_string())
        .collect();
    assert!(ids.len() > 14, "{} requests", ids.len());
    let expected: Vec<String> = (0..ids.len()).map(|i| (i % 7 + 1).to_string()).collect();
    assert_eq!(ids, expected);
    let report = json::read(&dir.path().join("seq/report.json")).unwrap();
    assert!(report.data_exhausted.is_none());
    assert_eq!(report.data[0].rows, ids.len() as u64);

    let random = recording_server().await;
    let scenario = scenario.replace("users.csv}", "users.csv, mode: random}");
    let config_path = config(dir.path(), &random, "", &scenario);
    let output = load(
        &config_path,
        &dir.path().join("rnd"),
        &["--users=2", "--duration=1s"],
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let seen = random.log.requests();
    let mut counts: BTreeMap<u64, u64> = BTreeMap::new();
    for s in &seen {
        *counts
            .entry(s.path.trim_start_matches("/items/").parse().unwrap())
            .or_default() += 1;
    }
    assert!(seen.len() >= 200, "{} requests", seen.len());
    assert_eq!(
        counts.keys().copied().collect::<Vec<_>>(),
        (1..=7).collect::<Vec<_>>()
    );
    // Not file order: a shuffled draw repeats a row right away now and then.
    let repeats = seen.windows(2).filter(|w| w[0].path == w[1].path).count();
    assert!(
        repeats > 0,
        "no row drawn twice in a row in {} draws",
        seen.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_takes_sequential_rows_in_turn() {
    let server = recording_server().await;
    let dir = tempfile::tempdir().unwrap();
    users_csv(dir.path(), 5);
    let scenario = r#"      - name: items
        data: {file: users.csv, mode: sequential}
        request: {path: "/items/{{ row.id }}", headers: {X-User: "{{ row.user }}"}}
"#;
    let config = synthex::config::load(&config(dir.path(), &server, "", scenario)).unwrap();
    let daemon = common::InProcessDaemon::start(config).await;
    tokio::time::sleep(Duration::from_millis(1600)).await;
    daemon.stop().await;
    let seen = server.log.requests();
    assert!(seen.len() >= 12, "{} requests", seen.len());
    // The n-th request took row n mod 5, whichever slot sent it: counts per row after n
    // requests differ by at most one, the first rows ahead.
    let mut counts = [0u64; 5];
    for s in &seen {
        let id: usize = s.path.trim_start_matches("/items/").parse().unwrap();
        assert_eq!(s.headers["x-user"], format!("user{id}").as_str());
        counts[id - 1] += 1;
    }
    let n = seen.len() as u64;
    let expected: Vec<u64> = (0..5).map(|i| n / 5 + u64::from(i < n % 5)).collect();
    assert_eq!(counts.to_vec(), expected);
}

/// A flow whose login takes the row's user and whose next step sends the token the server
/// issued: the server answers 403 to any token of another user.
const SESSION: &str = r#"      - name: session
        data: {file: users.csv, mode: MODE}
        steps:
          - name: login
            request: {method: POST, path: /login, body: '{"user": "{{ row.user }}"}'}
            expect: {status: [200]}
            extract: {token: {json: /token}}
          - name: me
            request: {path: "/users/{{ row.user }}", headers: {Authorization: "Bearer {{ var token }}"}}
            expect: {status: [200]}
"#;

/// Checks the server's log of a flow run: every `/users/U` carried a token the server issued to
/// U (its tokens name their user; the server itself answers 403 to another user's); returns the
/// logins per user.
fn check_pairs(seen: &[Seen]) -> BTreeMap<String, u64> {
    let mut logins: BTreeMap<String, u64> = BTreeMap::new();
    for s in seen {
        if s.path == "/login" {
            let body: serde_json::Value = serde_json::from_slice(&s.body).unwrap();
            let user = body["user"].as_str().unwrap().to_string();
            *logins.entry(user).or_default() += 1;
        } else {
            let user = s.path.strip_prefix("/users/").unwrap();
            let token = s.headers["authorization"]
                .to_str()
                .unwrap()
                .strip_prefix("Bearer ")
                .unwrap();
            let owner = token.split_once('-').map(|(_, owner)| owner);
            assert_eq!(owner, Some(user), "{s:?}");
        }
    }
    logins
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flow_logs_each_user_in_with_its_row_and_sends_that_users_token() {
    let server = token_server().await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    users_csv(dir.path(), 60);
    let path = config(dir.path(), &server, "", &SESSION.replace("MODE", "unique"));
    let output = load(&path, &out, &["--users=3", "--duration=60s"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let seen = server.log.requests();
    let logins = check_pairs(&seen);
    // Every row logged in once, and each login's run went on to its second step.
    assert_eq!(logins.len(), 60, "{logins:?}");
    assert!(logins.values().all(|&n| n == 1), "{logins:?}");
    assert_eq!(seen.len(), 120);
    let report = json::read(&out.join("report.json")).unwrap();
    let rows: BTreeMap<String, (u64, u64)> = report
        .scenarios
        .iter()
        .map(|s| (s.name(), (s.requests, s.failures)))
        .collect();
    assert_eq!(rows["session/login"], (60, 0));
    assert_eq!(rows["session/me"], (60, 0), "{rows:?}");
    assert_eq!(report.flows[0].runs, 60);
    assert_eq!(report.data_exhausted.unwrap().rows, 60);

    // The same flow in the daemon, with rows in turn (the daemon refuses unique data).
    let daemon_server = token_server().await;
    let config_path = config(
        dir.path(),
        &daemon_server,
        "",
        &SESSION.replace("MODE", "sequential"),
    );
    let config = synthex::config::load(&config_path).unwrap();
    let daemon = common::InProcessDaemon::start(config).await;
    tokio::time::sleep(Duration::from_millis(1600)).await;
    daemon.stop().await;
    let seen = daemon_server.log.requests();
    let logins = check_pairs(&seen);
    let total: u64 = logins.values().sum();
    assert!(total >= 10, "{total} logins");
    // Rows in turn: user1, user2, … as many times each, give or take one.
    let first: Vec<&String> = logins.keys().collect();
    assert!(first.contains(&&"user1".to_string()), "{logins:?}");
    let me_ok = seen
        .iter()
        .filter(|s| s.path.starts_with("/users/"))
        .count() as u64;
    assert!(me_ok + 4 >= total && me_ok <= total, "{me_ok} of {total}");
}

#[test]
fn the_example_passes_check_config_and_runs_against_the_demo_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let check = std::process::Command::new(synthex_bin())
        .arg("check-config")
        .arg(root.join("data.example.yaml"))
        .output()
        .unwrap();
    let text = stdout(&check);
    assert_eq!(check.status.code(), Some(0), "{}", stderr(&check));
    // The data settings, with the rows counted in the files themselves.
    let rows = |name: &str| {
        std::fs::read_to_string(root.join("data").join(name))
            .unwrap()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .count()
    };
    let users = format!(
        "data/users.csv (sequential, {} rows)",
        rows("users.csv") - 1
    );
    let orders = format!("data/orders.jsonl (random, {} rows)", rows("orders.jsonl"));
    assert!(text.contains(&users) && text.contains(&orders), "{text}");
    assert!(text.contains("(75% of flow runs, 0.75/s)"), "{text}");
    assert!(text.contains("(25% of requests, 0.25/s)"), "{text}");

    let target = common::load::Target::start();
    std::fs::create_dir_all(target.dir.path().join("data")).unwrap();
    for name in ["users.csv", "orders.jsonl"] {
        std::fs::copy(
            root.join("data").join(name),
            target.dir.path().join("data").join(name),
        )
        .unwrap();
    }
    let (report, stats) = target.run_example("data.example.yaml");
    // The demo target's own count of logins: one per run of the flow that the report counts.
    let login = report
        .scenarios
        .iter()
        .find(|s| s.name() == "session/login")
        .unwrap();
    assert_eq!(stats["logins_total"], login.requests);
    let session = report
        .data
        .iter()
        .find(|d| d.scenario == "session")
        .unwrap();
    assert_eq!(session.rows, login.requests);
}

/// The warm-up takes rows from the same `unique` data: the server still sees each row once, and
/// the report says how many the warm-up took (checked against the server's clock: the requests
/// it received before the measured run started).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_warm_up_takes_unique_rows_that_the_run_does_not_send_again() {
    let server = recording_server().await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    users_csv(dir.path(), 60);
    let extra = "load:\n  warmup: 1s\n  warmup_rate: 20/s\n";
    let config = config(dir.path(), &server, extra, ITEMS);
    let output = load(&config, &out, &["--users=2", "--duration=60s"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let seen = server.log.requests();
    let ids: BTreeSet<&str> = seen.iter().map(|s| s.path.as_str()).collect();
    assert_eq!((seen.len(), ids.len()), (60, 60));
    let report = json::read(&out.join("report.json")).unwrap();
    let started = std::time::UNIX_EPOCH + Duration::from_secs_f64(report.started_at);
    let before_run = seen.iter().filter(|s| s.wall < started).count() as u64;
    let data = &report.data[0];
    assert_eq!(data.warmup_rows, before_run, "{data:?}");
    assert!((15..=25).contains(&data.warmup_rows), "{data:?}");
    assert_eq!(data.warmup_rows + data.rows, 60);
    assert_eq!(report.scenarios[0].requests, data.rows);
    assert!(
        stdout(&output).contains(&format!(
            "users.csv (unique, 60 rows): {} in the warm-up, {} in the run",
            data.warmup_rows, data.rows
        )),
        "{}",
        stdout(&output)
    );
}

/// `{{ var X }}` must be set by the `extract:` of an earlier step (or `on_start`): a variable
/// extracted only later, or under another name, is refused with exit status 2 and the field path
/// of the template; one taken in `on_start` is known to every step.
#[test]
fn check_config_refuses_a_variable_no_earlier_step_extracts() {
    let dir = tempfile::tempdir().unwrap();
    users_csv(dir.path(), 3);
    let check = |steps: &str| {
        let path = dir.path().join("vars.yml");
        std::fs::write(
            &path,
            format!(
                "targets:\n  - name: api\n    base_url: http://127.0.0.1:1\n    rate: 1/s\n    scenarios:\n      - name: session\n        data: {{file: users.csv}}\n{steps}"
            ),
        )
        .unwrap();
        let output = std::process::Command::new(synthex_bin())
            .arg("check-config")
            .arg(&path)
            .output()
            .unwrap();
        (output.status.code(), stderr(&output))
    };
    let login = r#"{name: login, request: {method: POST, path: "/login?u={{ row.user }}"}, extract: {token: {json: /token}}}"#;
    let me =
        r#"{name: me, request: {path: /me, headers: {Authorization: "Bearer {{ var token }}"}}}"#;
    let (code, error) = check(&format!(
        "        steps:\n          - {me}\n          - {login}\n"
    ));
    assert_eq!(code, Some(2), "{error}");
    assert!(
        error.contains("targets[0].scenarios[0].steps[0].request.headers.authorization: {{ var token }} is never set before this request")
            && error.contains("(set by then: none)"),
        "{error}"
    );
    let other = me.replace("var token", "var session");
    let (code, error) = check(&format!(
        "        steps:\n          - {login}\n          - {other}\n"
    ));
    assert_eq!(code, Some(2), "{error}");
    assert!(
        error.contains("targets[0].scenarios[0].steps[1].request.headers.authorization: {{ var session }} is never set before this request")
            && error.contains("(set by then: token)"),
        "{error}"
    );
    let (code, error) = check(&format!(
        "        on_start:\n          - {login}\n        steps:\n          - {me}\n"
    ));
    assert_eq!(code, Some(0), "{error}");
}

/// Two shards of a distributed run over one `unique` file send each row once between them, and
/// their merged report adds up their rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shards_of_a_distributed_run_split_unique_rows() {
    let server = recording_server().await;
    let dir = tempfile::tempdir().unwrap();
    users_csv(dir.path(), 51);
    let config = config(dir.path(), &server, "", ITEMS);
    let (a, b) = (dir.path().join("shard0"), dir.path().join("shard1"));
    let (first, second) = tokio::join!(
        load(&config, &a, &["--users=2", "--duration=60s", "--shard=0/2"]),
        load(&config, &b, &["--users=2", "--duration=60s", "--shard=1/2"]),
    );
    for output in [&first, &second] {
        assert_eq!(output.status.code(), Some(0), "{}", stderr(output));
    }
    let seen = server.log.requests();
    let ids: BTreeSet<&str> = seen.iter().map(|s| s.path.as_str()).collect();
    assert_eq!((seen.len(), ids.len()), (51, 51));
    let reports: Vec<_> = [&a, &b]
        .iter()
        .map(|dir| json::read(&dir.join("report.json")).unwrap())
        .collect();
    let rows: Vec<u64> = reports.iter().map(|r| r.data[0].rows).collect();
    assert_eq!(rows, [26, 25]);
    let merged = synthex::report::merge::merge(&reports).unwrap();
    assert_eq!(
        (merged.data[0].rows, merged.data_exhausted.unwrap().rows),
        (51, 51)
    );
}
