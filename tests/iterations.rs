//! `synthex load --iterations=N` end to end (the real binary against real servers): each
//! virtual user runs exactly N iterations and stops, the run ends when the last user is done
//! (or at `--duration`, which is then an upper bound, and the report says which), and
//! `--iterations` is refused where "N per user" has no meaning. The counts are the servers'
//! own: a counting target's per-path books (each user's `{{ counter }}` in the path) and a
//! recording server's log of each user's session cookie.

mod common;

#[allow(dead_code)] // only the plain-HTTP recording server is used here
#[path = "probe_support/servers.rs"]
mod servers;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::counting_target::CountingTarget;
use common::load::{load, load_off_runtime, load_to, report_json as report, text};
use servers::{Seen, reply};

/// A config with one scenario (`scenario`: YAML list items) against `base`.
fn config(dir: &Path, base: &str, scenario: &str) -> PathBuf {
    common::load::api_config(dir, "iterations.yml", base, scenario, "")
}

/// Each user's iteration number in the path: `/n/1`, `/n/2`, …
const COUNTED: &str = "      - name: counted\n        request: {path: \"/n/{{ counter }}\"}\n";

/// A fresh counting target, a directory for the run and the [`COUNTED`] config against it.
fn counted_run() -> (CountingTarget, tempfile::TempDir, PathBuf) {
    let target = CountingTarget::start(Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &format!("http://{}", target.addr), COUNTED);
    (target, dir, config)
}

/// Runs `users` × `n` against a fresh counting target and checks, by the target's own books,
/// that every user ran exactly `n` iterations: iteration k of every user arrived `users`
/// times, and no iteration `n + 1` ever did.
fn exactly_n_per_user(users: u32, n: u64) {
    let (target, dir, config) = counted_run();
    let out = dir.path().join("out");
    let output = load_to(
        &config,
        &out,
        &[&format!("--users={users}"), &format!("--iterations={n}")],
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(target.count() as u64, u64::from(users) * n);
    for k in 1..=n {
        assert_eq!(
            target.count_of(&format!("/n/{k}")),
            u64::from(users),
            "iteration {k}"
        );
    }
    assert_eq!(target.count_of(&format!("/n/{}", n + 1)), 0);

    let json = report(&out);
    assert_eq!(json["plan"]["iterations"], n);
    assert_eq!(json["iterations"]["users"], users);
    assert_eq!(json["iterations"]["users_done"], users);
    assert_eq!(json["iterations"]["ended_by"], "iterations");
    assert_eq!(json["interrupted"], false);
    assert_eq!(json["scenarios"][0]["requests"], u64::from(users) * n);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(&format!(
            "{n} iteration(s) per user, all {users} users done"
        )),
        "{stdout}"
    );
    // Far shorter than the bound of a run without --duration (24h): the users' work ended it.
    let seconds = json["duration_seconds"].as_f64().unwrap();
    assert!(seconds < 120.0, "{seconds}");
}

#[test]
fn seven_users_run_thirteen_iterations_each_then_the_run_ends() {
    exactly_n_per_user(7, 13);
}

#[test]
fn one_iteration_each_and_many_iterations_for_few_users() {
    exactly_n_per_user(5, 1);
    exactly_n_per_user(2, 1500);
}

#[test]
fn the_duration_bounds_a_run_whose_iterations_take_longer() {
    let (target, dir, config) = counted_run();
    let out = dir.path().join("out");
    // 2 users at 10 iterations a second each for 2 s: about 40 of the 2000 asked for.
    let output = load_to(
        &config,
        &out,
        &[
            "--users=2",
            "--iterations=1000",
            "--think-time=10/s",
            "--duration=2s",
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let json = report(&out);
    assert_eq!(json["iterations"]["ended_by"], "duration");
    assert_eq!(json["iterations"]["users_done"], 0);
    assert_eq!(json["plan"]["iterations"], 1000);
    let served = target.count() as u64;
    assert_eq!(json["scenarios"][0]["requests"], served);
    assert!((20..=60).contains(&served), "{served} requests");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("1000 iteration(s) per user, ended by the duration with 0 of 2 users done"),
        "{stdout}"
    );
}

#[test]
fn iterations_are_refused_where_they_have_no_meaning() {
    let (target, _dir, config) = counted_run();
    for (args, said) in [
        (
            &["--users=2", "--iterations=0"][..],
            "invalid iterations \"0\": expected a whole number from 1 to 1000000000",
        ),
        (
            &["--users=2", "--iterations=1000000001"],
            "from 1 to 1000000000",
        ),
        (
            &["--users=2", "--iterations=ten"],
            "invalid iterations \"ten\"",
        ),
        (
            &["--users=2", "--iterations=2.5"],
            "invalid iterations \"2.5\"",
        ),
        (&["--users=2", "--iterations=-3"], "--iterations"),
        (
            &["--rate=10/s", "--duration=5s", "--iterations=3"],
            "--iterations counts each virtual user's iterations: it needs --users N",
        ),
        (
            &["--profile=smoke", "--iterations=3"],
            "in a staged profile users come and go",
        ),
        (
            &["--find-breaking-point", "--iterations=3"],
            "in a staged profile users come and go",
        ),
        (&["--iterations=3"], "--iterations needs --users N"),
    ] {
        let output = load(&config, args);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", text(&output));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(said), "{args:?}: {stderr}");
    }
    assert_eq!(target.count(), 0, "a refused run sends nothing");
}

/// A shop whose `POST /login` gives each caller a session cookie of its own (`sid=uN`);
/// `/item/K` answers 200.
async fn shop() -> servers::Server {
    let logins = Arc::new(AtomicU64::new(0));
    servers::http(move |seen: &Seen| {
        if seen.method == "POST" && seen.path == "/login" {
            let n = logins.fetch_add(1, Ordering::SeqCst) + 1;
            reply(200, &[("set-cookie", &format!("sid=u{n}; Path=/"))], "in")
        } else {
            reply(200, &[], "ok")
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_iteration_of_a_flow_is_one_run_and_on_start_is_not_counted() {
    let server = shop().await;
    let dir = tempfile::tempdir().unwrap();
    let flow = "      - name: shopping\n        on_start:\n          - {name: login, request: {method: POST, path: /login}}\n        steps:\n          - {name: item, request: {path: \"/item/{{ counter }}\"}}\n          - {name: cart, request: {method: PUT, path: /cart}}\n";
    let config = config(dir.path(), &format!("http://{}", server.addr), flow);
    let out = dir.path().join("out");
    let output = load_off_runtime(&config, &out, &["--users=3", "--iterations=4"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));

    // Per user (its own session cookie): one login, then 4 runs of item + cart.
    let mut per_user: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for seen in server.log.requests() {
        let sid = seen
            .headers
            .get("cookie")
            .and_then(|c| c.to_str().ok())
            .and_then(|c| c.strip_prefix("sid="))
            .map_or_else(|| "none".to_string(), str::to_string);
        per_user
            .entry(sid)
            .or_default()
            .push(format!("{} {}", seen.method, seen.path));
    }
    assert_eq!(per_user["none"], vec!["POST /login"; 3], "{per_user:?}");
    let expected: Vec<String> = (1..=4)
        .flat_map(|k| [format!("GET /item/{k}"), "PUT /cart".to_string()])
        .collect();
    for user in ["u1", "u2", "u3"] {
        assert_eq!(per_user[user], expected, "{user}: {per_user:?}");
    }
    assert_eq!(per_user.len(), 4, "{per_user:?}");
    let json = report(&out);
    assert_eq!(json["flows"][0]["runs"], 12);
    assert_eq!(json["iterations"]["ended_by"], "iterations");
}
